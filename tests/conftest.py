"""Fixtures and settings for the tests (shared functions are in ``helpers.py``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import settings

import taskletsim as ts

from .helpers import taskletsim_cli

# Hypothesis: "ci" by default (at least 200 examples a property), "long" for a longer hunt
# (pytest --hypothesis-profile=long). Failing examples go to .hypothesis/ (not in git).
settings.register_profile("ci", max_examples=200, deadline=None)
settings.register_profile("long", max_examples=2000, deadline=None)
settings.load_profile("ci")


@pytest.fixture
def small_topology() -> ts.Topology:
    """2 sockets x 2 cores x 2 threads with the default (perfbook) costs."""
    return ts.Topology(sockets=2, cores_per_socket=2, threads_per_core=2)


@pytest.fixture(scope="session")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    """``compare --json --html`` of small-2socket: the page and the JSON document."""
    folder = tmp_path_factory.mktemp("report")
    page = folder / "report.html"
    out = taskletsim_cli(
        "compare", "small-2socket", "--seeds", "2", "--duration-ms", "8", "--json",
        "--html", str(page), "--set", "irq_rate_per_s=60000",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return page, json.loads(out.stdout)
