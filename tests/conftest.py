"""Shared helpers for the tests."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

import taskletsim as ts
from taskletsim.metrics import LockStats

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
