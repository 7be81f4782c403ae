"""A run whose events would not fit in memory is refused early with what it would need and
how to get there, instead of being killed; errors cross from worker processes."""

from __future__ import annotations

import pickle
from concurrent.futures import ProcessPoolExecutor

import pytest

from taskletsim import ConfigError, compare, run
from taskletsim.core.recorder import MemoryBudget, TraceRecorder
from taskletsim.metrics import InvariantError
from taskletsim.runner import single

from .helpers import taskletsim_cli


def _events(**kw: object) -> int:
    return len(run("xen-8socket-passthrough", duration_ms=20, **kw).trace)  # type: ignore[arg-type]


def test_a_run_over_its_limit_is_refused_naming_what_it_needs_and_the_ways_out() -> None:
    need_mb = _events() * single.BYTES_PER_EVENT / 2**20
    with pytest.raises(ConfigError) as caught:
        run("xen-8socket-passthrough", duration_ms=20, max_memory_mb=need_mb / 2)
    message = str(caught.value)
    assert caught.value.field == "run size"
    for words in (
        "events in 20 ms simulated",
        "MiB",
        "a shorter run",
        "fewer CPUs",
        "metrics-only",
    ):
        assert words in message, message


def test_the_estimate_is_close_enough_that_a_run_within_it_runs() -> None:
    need_mb = _events() * single.BYTES_PER_EVENT / 2**20
    result = run("xen-8socket-passthrough", duration_ms=20, max_memory_mb=need_mb * 1.3)
    assert not result.truncated


def test_metrics_only_fits_where_the_trace_does_not() -> None:
    need_mb = _events() * single.BYTES_PER_EVENT / 2**20
    limit = need_mb / 2  # 32 bytes an event: too few with the trace, enough without
    with pytest.raises(ConfigError, match="metrics-only"):
        run("xen-8socket-passthrough", duration_ms=20, max_memory_mb=limit)
    lean = run("xen-8socket-passthrough", duration_ms=20, max_memory_mb=limit, metrics_only=True)
    assert lean.measured().events > 0


def test_metrics_only_is_projected_at_its_flat_growth() -> None:
    """A metrics-only run's memory grows only by new distinct values (~1 byte an event):
    4 bytes an event is room enough (it once projected 16, the samples it kept)."""
    limit = _events() * 4 / 2**20
    lean = run("xen-8socket-passthrough", duration_ms=20, max_memory_mb=limit, metrics_only=True)
    assert lean.measured().events > 0
    with pytest.raises(ConfigError, match="metrics-only"):
        run("xen-8socket-passthrough", duration_ms=20, max_memory_mb=limit)


def test_the_default_limit_is_a_share_of_the_memory_available(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(single, "available_memory", lambda: 4 * 2**20)
    with pytest.raises(ConfigError, match=r"within 3 MiB \(4 MiB available\)"):
        run("xen-8socket-passthrough", duration_ms=20)
    monkeypatch.setattr(single, "available_memory", lambda: None)  # unknown: no check
    assert len(run("xen-8socket-passthrough", duration_ms=2).trace) > 0


def test_it_is_refused_as_soon_as_its_rate_shows() -> None:
    """The projection takes the rate after the first simulated millisecond."""
    budget = MemoryBudget(limit_bytes=1000 * 64, bytes_per_event=64)
    budget.check(900, 1_000_000, 10_000_000, since=(900, 1_000_000))  # only what is in
    with pytest.raises(ConfigError, match=r"~1\.01e\+03 events in 10 ms"):
        budget.check(912, 2_000_000, 10_000_000, since=(900, 1_000_000))  # 912 + 12 x 8
    budget.check(911, 2_000_000, 10_000_000, since=(900, 1_000_000))  # 911 + 11 x 8 = 999


def test_the_recorder_projects_from_the_first_millisecond_whatever_its_flush_step() -> None:
    """A burst through the first simulated millisecond (four flushes of 10,000 events),
    then 10 events a flush: the rate after 1 ms projects ~44,000 events by 100 ms, which
    fit; the rate since the first flush (the burst included) would project ~3 million."""
    recorder = TraceRecorder()
    recorder.meta.duration_ns = 100_000_000
    recorder.budget = MemoryBudget(limit_bytes=50_000 * 64, bytes_per_event=64)
    now = 0
    for events in (10_000, 10_000, 10_000, 10_000, 10, 10, 10):
        for _ in range(events):
            recorder.append((now, 0, 0, 0, 0))
        now += 250_000
        recorder.flush(now)
    assert len(recorder) == 40_030


@pytest.mark.parametrize("value", [0, -5, "lots", float("nan")])
def test_max_memory_mb_must_be_a_positive_number(value: object) -> None:
    with pytest.raises(ConfigError, match="max_memory_mb"):
        run("small-2socket", duration_ms=1, max_memory_mb=value)  # type: ignore[arg-type]


def test_the_cli_refuses_a_run_the_machine_cannot_hold_in_one_line() -> None:
    out = taskletsim_cli("run", "xen-8socket-passthrough", "--duration-ms", "100000000")
    assert out.returncode == 2 and out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "run size" in lines[0] and "--metrics-only" in lines[0]


def test_errors_cross_from_worker_processes_whole() -> None:
    error = ConfigError("run size", "~9 GiB", "less")
    back = pickle.loads(pickle.dumps(error))
    assert (back.field, back.value, back.allowed, str(back)) == (
        "run size",
        "~9 GiB",
        "less",
        str(error),
    )
    broken = pickle.loads(pickle.dumps(InvariantError("lock-fifo", "at 5 ns")))
    assert broken.invariant == "lock-fifo" and str(broken) == "lock-fifo: at 5 ns"
    with ProcessPoolExecutor(2) as pool, pytest.raises(ConfigError, match="run size"):
        compare(
            "xen-8socket-passthrough",
            ["rfc-percpu"],
            [1, 2],
            duration_ms=20,
            max_memory_mb=0.5,
            executor=pool,
        )


def test_each_worker_gets_its_share(monkeypatch: pytest.MonkeyPatch) -> None:
    from taskletsim.runner import pool

    monkeypatch.setattr(pool, "available_memory", lambda: 10 * 2**30)
    assert pool.worker_memory_mb(2) == pytest.approx(10 * 1024 * 0.8 / 2)
    assert pool.worker_memory_mb(1) == pytest.approx(10 * 1024 * 0.8)
    monkeypatch.setattr(pool, "available_memory", lambda: None)
    assert pool.worker_memory_mb(2) is None


def test_a_sweep_output_in_a_missing_folder_fails_before_any_run() -> None:
    out = taskletsim_cli(
        "sweep", "lock-open", "--grid", "lock=ttas", "-o", "/no/such/folder/rows.parquet"
    )
    assert (
        out.returncode == 2
        and "--output" in out.stderr
        and "a path where a file can be written" in out.stderr
    )


@pytest.mark.parametrize("duration_ms", [25, 100])
def test_the_columns_end_within_one_percent_of_the_events(
    duration_ms: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The trace columns grow in place, in small steps and at most 1/8 ahead of the rate
    since the first millisecond: at the end of a seed-host run (a start-up burst, then a
    steady rate) they hold under 1% more rows than the events (peak memory is theirs)."""
    from taskletsim.core.recorder import TraceRecorder

    seen: list[tuple[int, int]] = []
    finish = TraceRecorder.finish

    def spy(self: TraceRecorder) -> object:
        self.flush()
        seen.append((len(self._columns[0]), self._rows))
        return finish(self)

    monkeypatch.setattr(TraceRecorder, "finish", spy)
    run(
        "xen-8socket-passthrough", design="rfc-percpu", seed=1, duration_ms=duration_ms, check=False
    )
    capacity, rows = seen[0]
    assert rows <= capacity <= rows * 1.01


def test_a_stream_between_refills_holds_its_chunk_and_no_numpy_draw() -> None:
    """A host has hundreds of streams: between refills each keeps only its typed chunk
    (8 bytes a number); the numpy array a chunk was drawn into must not stay alive in
    the suspended generator (it doubled every stream's numbers)."""
    import gc

    import numpy as np

    from taskletsim.core.sim import draw_stream

    rng = np.random.default_rng(3)
    stream = draw_stream(lambda n: rng.exponential(100.0, n))
    for _ in range(100):
        stream()
    (chain,) = stream.args  # type: ignore[attr-defined]  # partial(next, chain)
    generators = [r for r in gc.get_referents(chain) if hasattr(r, "gi_frame")]
    assert generators and generators[0].gi_frame is not None
    held = list(generators[0].gi_frame.f_locals.values())
    assert not [v for v in held if isinstance(v, np.ndarray)]


def test_the_hosts_many_small_objects_carry_no_instance_dict() -> None:
    """vCPUs, pCPUs, interrupt sources and timers come by the hundred (a vCPU's 37
    attributes made a 1.6 KB dict): they keep their attributes in slots."""
    from taskletsim.kernel.timers import Timer

    from .helpers import tiny

    m = tiny()
    cpu = m.cpus[0]
    timer = Timer(m, "test:timer", 0, lambda cpu, source: iter(()), "timer")
    for o in (cpu, cpu.idle_vcpu, cpu.ipi, timer, timer.source):
        assert not hasattr(o, "__dict__"), type(o).__name__


def test_the_seed_hosts_staging_holds_about_750_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """A staged row holds ~60 bytes as Python ints, 23 in the columns: the recorder
    flushes every 50 us simulated, ~750 rows of the seed's host (~15 events a simulated
    us), at most ~1,100 in a busy stretch."""
    staged: list[int] = []
    flush = TraceRecorder.flush

    def spy(self: TraceRecorder, now_ns: int | None = None, min_rows: int = 0) -> None:
        staged.append(len(self._buf) // 5)
        flush(self, now_ns, min_rows)

    monkeypatch.setattr(TraceRecorder, "flush", spy)
    run("xen-8socket-passthrough", design="rfc-percpu", seed=1, duration_ms=3, check=False)
    settled = staged[20:]
    assert len(staged) >= 60 and 500 < sum(settled) / len(settled) < 1000
    assert max(settled) < 1500
