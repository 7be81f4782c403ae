"""Shared helpers for the tests."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from hypothesis import settings

import taskletsim as ts
from taskletsim.metrics import LockStats

# Hypothesis: "ci" by default (at least 200 examples a property), "long" for a longer hunt
# (pytest --hypothesis-profile=long). Failing examples go to .hypothesis/ (not in git).
settings.register_profile("ci", max_examples=200, deadline=None)
settings.register_profile("long", max_examples=2000, deadline=None)
settings.load_profile("ci")

WARMUP_NS = 10_000_000  # 10 ms discarded at the start of queueing checks


def lock_run(
    scenario: str, duration_ms: float, seed: int = 1, **params: Any
) -> tuple[ts.RunResult, LockStats]:
    """Run a lock scenario and return its result and the stats of its one lock."""
    result = ts.run(scenario, seed=seed, duration_ms=duration_ms, params=params)
    return result, ts.lock_stats(result.trace, start_ns=WARMUP_NS)["lock"]


@pytest.fixture
def small_topology() -> ts.Topology:
    """2 sockets x 2 cores x 2 threads with the default (perfbook) costs."""
    return ts.Topology(sockets=2, cores_per_socket=2, threads_per_core=2)


def taskletsim_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m taskletsim ARGS`` in a fresh process, capturing its output."""
    return subprocess.run(
        [sys.executable, "-m", "taskletsim", *args], capture_output=True, text=True, check=False
    )
