"""The result of one run: a leaf module (imports nothing of the model or the metrics)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core.trace import Trace


@dataclass(frozen=True)
class RunResult:
    """What one run produced: its configuration, its trace and a few facts.

    ``info`` holds scenario-specific facts known only to the model at the end
    (e.g. ``offered_load``, ``saturated``, ``backlog`` for ``lock-open``).
    Everything measured comes from ``trace`` through :mod:`taskletsim.metrics`;
    reports measure from ``warmup_ns`` on (the warm-up is discarded).
    """

    scenario: str
    design: str | None
    seed: int
    params: dict[str, Any]
    duration_ns: int
    trace: Trace
    wall_s: float
    info: dict[str, Any]
    warmup_ns: int = 0

    @property
    def digest(self) -> str:
        """The trace's digest (:meth:`~taskletsim.core.trace.Trace.digest`), which covers
        the scenario, design, seed and every parameter too (they are in its metadata)."""
        return self.trace.digest()
