"""The result of one run: a leaf module (imports nothing of the model or the metrics)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..core.trace import Trace

if TYPE_CHECKING:
    from ..metrics.measure import Measurements
    from .spec import RunSpec


@dataclass(frozen=True)
class RunResult:
    """What one run produced: its configuration, its trace and a few facts.

    ``info`` holds scenario-specific facts known only to the model at the end
    (e.g. ``offered_load``, ``saturated``, ``backlog`` for ``lock-open``).
    Everything measured comes from ``trace`` through :mod:`taskletsim.metrics`;
    reports measure from ``warmup_ns`` on (the warm-up is discarded).
    """

    spec: RunSpec
    """The run as it was asked for (:func:`~taskletsim.runner.single.run`)."""
    scenario: str
    """The scenario's name (the rest of these fields are resolved: the design's name,
    every parameter's value, the duration and warm-up in ns)."""
    design: str | None
    seed: int
    params: dict[str, Any]
    duration_ns: int
    trace: Trace
    wall_s: float
    info: dict[str, Any]
    warmup_ns: int = 0
    measurements: Measurements | None = None
    """Gathered while it ran (a metrics-only run, whose trace is empty), else ``None``."""
    trace_digest: str | None = None
    """A metrics-only run's digest of the trace it did not keep."""
    requested_duration_ns: int | None = None
    """The duration asked for, when ``max_wall_s`` stopped the run before it
    (``duration_ns`` is then the simulated time it reached)."""

    @property
    def truncated(self) -> bool:
        """Whether ``max_wall_s`` ended the run before its duration."""
        return self.requested_duration_ns is not None

    def measured(self) -> Measurements:
        """The measurements over ``[warmup_ns, duration_ns)``: gathered during a
        metrics-only run, else computed from the trace (once)."""
        if self.measurements is None:
            from ..metrics.measure import measure

            object.__setattr__(
                self, "measurements", measure(self.trace, self.warmup_ns, self.duration_ns)
            )
        assert self.measurements is not None
        return self.measurements

    @property
    def digest(self) -> str:
        """The trace's digest (:meth:`~taskletsim.core.trace.Trace.digest`), which covers
        the scenario, design, seed and every parameter too (they are in its metadata)."""
        if self.trace_digest is not None:
            return self.trace_digest
        return self.trace.digest()
