"""Run a scenario once: build the model, run the event loop, hand back the trace."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping

from ..core.config import (
    ConfigError,
    check_duration_ms,
    check_seed,
    check_warmup_ms,
    resolve_params,
)
from ..core.sim import Simulation
from ..core.trace import EventKind, Trace, TraceRecorder
from ..designs import get_design
from ..scenarios import get_scenario, scenario_params
from .result import RunResult

AFTER_RUN: list[Callable[[Trace], None]] = []
"""Called with every complete trace :func:`run` produces (observers, e.g. the
invariant checks the test suite installs: ``taskletsim.metrics.check_trace``)."""


def run(
    scenario: str,
    *,
    design: str | None = None,
    seed: int = 0,
    duration_ms: float | None = None,
    params: Mapping[str, object] | None = None,
    kinds: Iterable[EventKind] | None = None,
    warmup_ms: float = 0.0,
) -> RunResult:
    """Simulate ``scenario`` for ``duration_ms`` with ``seed``.

    ``params`` override the scenario's defaults (strings are parsed as on the
    command line). ``kinds`` limits which event kinds are recorded.
    ``warmup_ms`` is the start of the measurement window. Raises
    :class:`~taskletsim.config.ConfigError` on any bad value.
    """
    spec = get_scenario(scenario)
    seed = check_seed(seed)
    duration = check_duration_ms(spec.default_duration_ms if duration_ms is None else duration_ms)
    duration_ns = round(duration * 1e6)
    if duration_ns < 1:
        raise ConfigError("duration_ms", duration_ms, "at least 1 ns (1e-6 ms)")
    warmup = check_warmup_ms(warmup_ms)
    warmup_ns = round(warmup * 1e6)
    if warmup_ns >= duration_ns:
        raise ConfigError("warmup_ms", warmup_ms, f"less than the duration ({duration:g} ms)")
    if design is not None and not spec.takes_design:
        raise ConfigError("design", design, f"no design: scenario {scenario} has no tasklet design")
    if spec.takes_design:
        design = design or spec.default_design
        get_design(str(design))
    resolved = resolve_params(scenario_params(spec), params, owner=f"scenario {scenario}")

    recorder = TraceRecorder(kinds)
    recorder.meta.update(
        scenario=scenario,
        design=design,
        seed=seed,
        params=resolved,
        duration_ns=duration_ns,
        warmup_ns=warmup_ns,
    )
    sim = Simulation(seed, recorder)
    started = time.perf_counter()
    info = spec.build(sim, resolved, design)
    sim.run(duration_ns)
    wall = time.perf_counter() - started
    trace = recorder.finish()
    if kinds is None:
        for check in AFTER_RUN:
            check(trace)
    return RunResult(
        scenario=scenario,
        design=design,
        seed=seed,
        params=resolved,
        duration_ns=duration_ns,
        trace=trace,
        wall_s=wall,
        info=info(),
        warmup_ns=warmup_ns,
    )
