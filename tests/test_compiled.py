"""The optional compiled build: which modules it compiles, and how an install says so."""

from __future__ import annotations

import importlib.machinery
import os

import pytest

import taskletsim as ts

COMPILED = {
    "taskletsim.hv.cpu",
    "taskletsim.hv.devices",
    "taskletsim.hv.guests",
    "taskletsim.hv.hvm",
    "taskletsim.hv.machine",
    "taskletsim.hv.sched_credit",
    "taskletsim.hv.schedule",
    "taskletsim.hv.vocabulary",
    "taskletsim.kernel.cpu",
    "taskletsim.kernel.host",
    "taskletsim.kernel.irq",
    "taskletsim.kernel.softirq",
    "taskletsim.kernel.timers",
    "taskletsim.platform.arrivals",
    "taskletsim.platform.locks",
}
"""What pyproject.toml's mypyc hook compiles (docs/performance.md says the same)."""


def test_compiled_modules_reads_where_each_module_loads_from(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    extensions = importlib.machinery.EXTENSION_SUFFIXES
    monkeypatch.setattr(importlib.machinery, "EXTENSION_SUFFIXES", [".py", *extensions])
    every = ts.compiled_modules()  # every module, whichever build: subpackages are walked
    assert set(every) > COMPILED
    assert "taskletsim.core.sim" in every and every == sorted(every)
    monkeypatch.setattr(importlib.machinery, "EXTENSION_SUFFIXES", [".no-such-suffix"])
    assert ts.compiled_modules() == []


@pytest.mark.skipif(
    not os.environ.get("TASKLETSIM_EXPECT_COMPILED"),
    reason="the plain Python install (.ci/run checks the compiled build)",
)
def test_the_compiled_build_compiles_the_hot_modules_and_no_extension_point() -> None:
    """The model, locks and arrivals compiled; the seam, the costs (a dataclass users
    take apart), the designs and the scenarios (classes users extend) stay Python."""
    assert set(ts.compiled_modules()) == COMPILED
