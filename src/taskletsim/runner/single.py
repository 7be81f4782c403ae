"""Run a scenario once: build the model, run the event loop, hand back the trace."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping

import numpy as np

from ..core.config import (
    ConfigError,
    check_duration_ms,
    check_max_memory_mb,
    check_max_wall_s,
    check_seed,
    check_warmup_ms,
)
from ..core.events import EventKind
from ..core.recorder import MemoryBudget, TraceRecorder
from ..core.sim import Simulation
from ..core.trace import Trace, TraceDigest
from ..designs import get_design
from ..metrics.invariants import check_trace
from ..metrics.online import OnlineMetrics
from ..scenarios import get_scenario, resolve_scenario_params
from .result import RunResult
from .spec import RunSpec, as_spec

AFTER_RUN: list[Callable[[Trace], None]] = []
"""Called with every complete trace :func:`run` produces, after the invariant checks
(observers of your own)."""


MEMORY_SHARE = 0.8
"""The share of the machine's available memory a run may use by default."""

BYTES_PER_EVENT = 64
"""Peak bytes a run holds per event with its trace (23 in the columns, the rest while
it is checked and measured); an estimate measured on the seed's host."""

BYTES_PER_EVENT_METRICS_ONLY = 1
"""What a metrics-only run's memory grows by per event: the new distinct latencies and
interval lengths its counts take in (about 0.5 per further event on the seed's host
between 90 and 270 ms, falling as values recur); its peak is otherwise the host's."""


def available_memory() -> int | None:
    """Bytes the machine has available (Linux ``MemAvailable``), or ``None`` if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def memory_budget(max_memory_mb: float | None, metrics_only: bool) -> MemoryBudget | None:
    """The budget a run is held to: ``max_memory_mb``, else :data:`MEMORY_SHARE` of
    :func:`available_memory` (``None``, no check, when that is unknown)."""
    per_event = BYTES_PER_EVENT_METRICS_ONLY if metrics_only else BYTES_PER_EVENT
    available = available_memory()
    if max_memory_mb is not None:
        limit = check_max_memory_mb(max_memory_mb) * 2**20
    elif available is not None:
        limit = available * MEMORY_SHARE
    else:
        return None
    shown = available if max_memory_mb is None else None
    return MemoryBudget(int(limit), per_event, shown, metrics_only)


def run(
    scenario: str | RunSpec,
    *,
    design: str | None = None,
    seed: int = 0,
    duration_ms: float | None = None,
    params: Mapping[str, object] | None = None,
    kinds: Iterable[EventKind] | None = None,
    warmup_ms: float | None = None,
    check: bool = True,
    metrics_only: bool = False,
    max_wall_s: float | None = None,
    max_memory_mb: float | None = None,
) -> RunResult:
    """Simulate ``scenario`` for ``duration_ms`` with ``seed``: the run a
    :class:`~taskletsim.runner.spec.RunSpec` of these values describes (or give the spec
    itself, ``run(spec)``).

    ``scenario`` is a registered name, ``package.module:Class`` or the path of a
    ``.toml`` scenario file; ``design`` a registered name or ``module:Class``.
    ``params`` override the scenario's defaults (strings are parsed as on the
    command line); a design's options are parameters of the scenario run with
    it. ``kinds`` limits which event kinds are recorded. ``warmup_ms`` is the
    start of the measurement window (default: the scenario's, else 0). Unless
    ``check`` is false, the complete trace is checked against the invariants
    every valid trace satisfies (:func:`taskletsim.metrics.check_trace`),
    raising :class:`~taskletsim.metrics.InvariantError` if one is broken.
    Raises :class:`~taskletsim.core.config.ConfigError` on any bad value.

    With ``metrics_only`` the measurements over ``[warmup_ms, duration_ms)`` are
    gathered while the run goes (:class:`~taskletsim.metrics.OnlineMetrics`) and
    the trace is dropped chunk by chunk: :meth:`RunResult.measured` gives the
    same numbers as a full run, the memory keeps only what exact percentiles
    need, and ``result.trace`` is empty (so there is no invariant check and no
    :data:`AFTER_RUN` call).

    ``max_wall_s`` bounds the wall time of the simulation: past it the run
    ends at the simulated time reached (every event before it processed),
    its metrics cover ``[warmup, reached)`` and ``result.truncated`` is true.

    A run whose events would not fit in memory is refused with a
    :class:`ConfigError` saying what it would need and how to get there, as
    soon as its event rate shows it (after its first simulated millisecond):
    the limit is ``max_memory_mb``, by default :data:`MEMORY_SHARE` of the
    memory the machine has available (see :func:`memory_budget`).
    """
    given = as_spec(
        scenario,
        design=design,
        seed=seed,
        duration_ms=duration_ms,
        params=params,
        warmup_ms=warmup_ms,
        check=check,
        metrics_only=metrics_only,
        max_wall_s=max_wall_s,
        max_memory_mb=max_memory_mb,
    )
    return run_spec(given, kinds)


def run_spec(given: RunSpec, kinds: Iterable[EventKind] | None = None) -> RunResult:
    """The run ``given`` describes (:func:`run`, with the values in one spec)."""
    spec = get_scenario(given.scenario)
    scenario = spec.name
    design, seed, duration_ms = given.design, given.seed, given.duration_ms
    warmup_ms, params, check = given.warmup_ms, given.params, given.check
    metrics_only, max_wall_s, max_memory_mb = (
        given.metrics_only,
        given.max_wall_s,
        given.max_memory_mb,
    )
    seed = check_seed(seed)
    duration = check_duration_ms(spec.default_duration_ms if duration_ms is None else duration_ms)
    duration_ns = round(duration * 1e6)
    if duration_ns < 1:
        raise ConfigError("duration_ms", duration_ms, "at least 1 ns (1e-6 ms)")
    if warmup_ms is None:
        warmup_ms = spec.default_warmup_ms or 0.0
    warmup = check_warmup_ms(warmup_ms)
    warmup_ns = round(warmup * 1e6)
    if warmup_ns >= duration_ns:
        raise ConfigError("warmup_ms", warmup_ms, f"less than the duration ({duration:g} ms)")
    if design is not None and not spec.takes_design:
        raise ConfigError("design", design, f"no design: scenario {scenario} has no tasklet design")
    if spec.takes_design:
        design = get_design(str(design or spec.default_design)).name
    resolved = resolve_scenario_params(spec, design, params)

    if metrics_only and kinds is not None:
        raise ConfigError(
            "kinds", "a subset", "every kind with metrics_only (it measures them all)"
        )
    online: OnlineMetrics | None = None
    digest = TraceDigest()
    if metrics_only:
        recorder = TraceRecorder(keep=False)
        online = OnlineMetrics(warmup_ns, duration_ns, recorder.meta)

        def sink(chunk: dict[str, np.ndarray]) -> None:
            digest.update(chunk)
            online.consume(chunk)

        recorder.set_sink(sink)
    else:
        recorder = TraceRecorder(kinds)
    meta = recorder.meta
    meta.scenario, meta.design, meta.seed = scenario, design, seed
    meta.params, meta.duration_ns, meta.warmup_ns = resolved, duration_ns, warmup_ns
    meta.model = dict(resolved)  # a host scenario records its full description instead
    wall_limit = None if max_wall_s is None else check_max_wall_s(max_wall_s)
    recorder.budget = memory_budget(max_memory_mb, metrics_only)
    sim = Simulation(seed, recorder)
    started = time.perf_counter()
    info = spec.build(sim, resolved, design)
    deadline = None if wall_limit is None else time.perf_counter() + wall_limit
    reached = sim.run(duration_ns, deadline)
    wall = time.perf_counter() - started
    requested = None
    if reached < duration_ns:
        requested, duration_ns = duration_ns, reached
        warmup_ns = min(warmup_ns, reached)
        meta.duration_ns, meta.warmup_ns = duration_ns, warmup_ns
    trace = recorder.finish()
    measurements = trace_digest = None
    if online is not None:
        measurements = online.finish(trace.names, trace.meta, bounds=(warmup_ns, duration_ns))
        trace_digest = digest.hexdigest(trace.names, trace.meta)
    elif kinds is None:
        if check:
            check_trace(trace)
        for observer in AFTER_RUN:
            observer(trace)
    return RunResult(
        spec=given,
        scenario=scenario,
        design=design,
        seed=seed,
        params=resolved,
        duration_ns=duration_ns,
        trace=trace,
        wall_s=wall,
        info=info(),
        warmup_ns=warmup_ns,
        measurements=measurements,
        trace_digest=trace_digest,
        requested_duration_ns=requested,
    )
