"""The engine's own primitives: int sleeps, redirecting a parked process, call_later entries."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from simpy.events import Event

from taskletsim.core.sim import Simulation


def test_an_int_sleep_takes_the_place_a_timeout_would() -> None:
    """A process yielding ``ns`` and one yielding ``sim.sleep(ns)`` wake in the order they
    went to sleep, interleaved with call_later callbacks by scheduling order."""
    sim = Simulation(0)
    log: list[tuple[int, str]] = []

    def sleeper(name: str, as_int: bool) -> Generator[Event | int, Any, None]:
        for _ in range(3):
            yield 100 if as_int else sim.sleep(100)
            log.append((sim.now, name))

    sim.process(sleeper("int", True))
    sim.process(sleeper("event", False))
    sim.call_later(100, lambda _e: log.append((sim.now, "later")))
    sim.run(1000)
    assert log == [
        (100, "later"),  # scheduled at 0 before the processes took their first step
        (100, "int"),
        (100, "event"),
        (200, "int"),
        (200, "event"),
        (300, "int"),
        (300, "event"),
    ]


@pytest.mark.parametrize("way", ["later", "caller"])
def test_later_queues_as_call_later_with_the_delay_drawn_at_each_call(way: str) -> None:
    """``sim.later(draw, cb)()`` is ``call_later(draw(), cb)``: the delay is drawn when it
    is called, and ties at one time go by scheduling order, as call_later's do.
    ``sim.caller(cb)(delay)`` is ``call_later(delay, cb)`` the same way."""

    def loop(how: str) -> list[tuple[int, str]]:
        sim = Simulation(0)
        log: list[tuple[int, str]] = []
        delays = iter([30, 0, 20, 10, 30, 0, 1000])

        def tick(_e: object) -> None:
            log.append((sim.now, "tick"))
            sim.call_later(10, lambda _e: log.append((sim.now, "other")))
            if how == "later":
                again()
            elif how == "caller":
                after(next(delays))
            else:
                sim.call_later(next(delays), tick)

        again = sim.later(lambda: next(delays), tick)
        after = sim.caller(tick)
        sim.call_later(0, tick)
        sim.run(1000)
        return log

    assert loop("call_later") == [
        (0, "tick"),
        (10, "other"),  # queued by the tick at 0, before its next tick (at 30)
        (30, "tick"),
        (30, "tick"),  # a delay of 0: the same time, after the tick that drew it
        (40, "other"),
        (40, "other"),
        (50, "tick"),
        (60, "other"),  # queued by the tick at 50 before it rescheduled itself
        (60, "tick"),
        (70, "other"),
        (90, "tick"),
        (90, "tick"),
        (100, "other"),
        (100, "other"),
    ]
    assert loop(way) == loop("call_later")


def test_redirect_resumes_a_sleeping_process_once_with_the_value() -> None:
    sim = Simulation(0)
    log: list[tuple[int, Any]] = []

    def sleeper() -> Generator[Event | int, Any, None]:
        value = yield 100
        log.append((sim.now, value))
        value = yield 150
        log.append((sim.now, value))

    proc = sim.process(sleeper())
    sim.call_later(10, lambda _e: proc.redirect("irq"))
    sim.run(1000)
    # the first sleep's wake-up, stale since the redirect, comes at 100 while the process
    # sleeps again: it does nothing
    assert log == [(10, "irq"), (160, None)]


def test_a_second_redirect_cancels_the_first() -> None:
    """Two redirects before the process runs: it resumes once, with the second value; the
    first redirect's entry and the sleep's stay queued, cancelled in place."""
    sim = Simulation(0)
    log: list[tuple[int, Any]] = []

    def sleeper() -> Generator[Event | int, Any, None]:
        value = yield 100
        log.append((sim.now, value))
        value = yield 500
        log.append((sim.now, value))

    proc = sim.process(sleeper())

    def twice(_e: object) -> None:
        proc.redirect("first")
        proc.redirect("second")

    sim.call_later(10, twice)
    sim.run(1000)
    assert log == [(10, "second"), (510, None)]


def test_redirect_of_a_process_waiting_on_an_event() -> None:
    sim = Simulation(0)
    log: list[tuple[int, Any]] = []
    never = Event(sim.env)

    def waiter() -> Generator[Event | int, Any, None]:
        value = yield never
        log.append((sim.now, value))

    proc = sim.process(waiter())
    sim.call_later(7, lambda _e: proc.redirect("kick"))
    sim.call_later(20, lambda _e: never.succeed("late"))
    sim.run(1000)
    assert log == [(7, "kick")]


def test_simpys_own_loop_runs_call_later_entries_and_int_sleeps() -> None:
    sim = Simulation(0)
    log: list[int] = []

    def sleeper() -> Generator[Event | int, Any, None]:
        yield 5
        log.append(sim.now)

    sim.process(sleeper())
    sim.call_later(3, lambda _e: log.append(sim.now))
    sim.env.run()
    assert log == [3, 5]


@pytest.mark.parametrize("bad", [1.5, "10", None])
def test_yielding_anything_else_is_a_type_error(bad: object) -> None:
    sim = Simulation(0)

    def broken() -> Generator[Any, Any, None]:
        yield bad

    sim.process(broken())
    with pytest.raises(TypeError, match="an event or an int"):
        sim.run(100)


# -- a process whose wake-up is the next queue entry goes on at once ------------------


def _entries_used(sim: Simulation) -> int:
    """How many queue entries the run has scheduled so far (the scheduling counter)."""
    return next(sim._eid)


def test_a_sleep_nothing_precedes_runs_on_without_a_queue_entry() -> None:
    sim = Simulation(0)
    log: list[int] = []

    def sleeper() -> Generator[Event | int, Any, None]:
        for _ in range(5):
            yield 10
            log.append(sim.now)

    sim.process(sleeper())
    before = _entries_used(sim)
    sim.run(1000)
    assert log == [10, 20, 30, 40, 50]
    assert _entries_used(sim) == before + 1  # only the peek above: no wake-up was queued


def test_an_entry_due_at_the_wake_up_time_runs_first() -> None:
    """Equal times keep SimPy's order: an entry scheduled before the sleep comes first."""
    sim = Simulation(0)
    log: list[tuple[int, str]] = []

    def sleeper() -> Generator[Event | int, Any, None]:
        yield 5
        log.append((sim.now, "sleeper at 5"))
        yield 10  # wakes at 15, when the callback below is due
        log.append((sim.now, "sleeper at 15"))

    sim.call_later(15, lambda _e: log.append((sim.now, "later at 15")))
    sim.process(sleeper())
    sim.run(1000)
    assert log == [(5, "sleeper at 5"), (15, "later at 15"), (15, "sleeper at 15")]


def test_running_ahead_stops_at_the_end_of_the_run_and_at_each_flush() -> None:
    """A process never runs past ``until_ns``, nor past a flush (here every simulated
    millisecond): each chunk the recorder hands on holds only events before it."""
    sim = Simulation(0)
    sim.FLUSH_NS, sim.FLUSH_ROWS = 1_000_000, 1
    chunks: list[list[int]] = []
    sim.trace.set_sink(lambda cols: chunks.append(cols["time_ns"].tolist()))

    def emitter() -> Generator[Event | int, Any, None]:
        for _ in range(8):  # the eighth event would be at 2_100_000
            sim.trace.irq_raise(0, 0, 0)
            yield 300_000

    sim.process(emitter())
    assert sim.run(1_500_000) == 1_500_000
    assert sim.now == 1_500_000
    assert chunks == [[0, 300_000, 600_000, 900_000], [1_200_000]]
    assert sim.run(2_000_000) == 2_000_000
    assert chunks[-1] == [1_500_000, 1_800_000]


def test_callbacks_of_one_event_all_run_at_its_time() -> None:
    """A process resumed by an event that has further callbacks does not move the clock
    before they run."""
    sim = Simulation(0)
    log: list[tuple[int, str]] = []
    ready = Event(sim.env)

    def waiter() -> Generator[Event | int, Any, None]:
        yield ready
        log.append((sim.now, "process"))
        yield 50  # nothing else is queued: it would run ahead to 150
        log.append((sim.now, "process"))

    sim.process(waiter())
    sim.call_later(100, lambda _e: ready.succeed())
    sim.run(10)  # the process now waits on ready
    ready.callbacks.append(lambda _e: log.append((sim.now, "second callback")))
    sim.run(1000)
    assert log == [(100, "process"), (100, "second callback"), (150, "process")]


# -- property: running ahead changes nothing --------------------------------------------

_OPS = st.one_of(
    st.tuples(st.just("sleep"), st.integers(0, 40)),
    st.tuples(st.just("later"), st.integers(0, 40)),
    st.tuples(st.just("wait"), st.integers(0, 1)),
    st.tuples(st.just("fire"), st.integers(0, 1)),
)


def _program_log(programs: list[list[tuple[str, int]]], simpys_loop: bool) -> list[tuple[int, ...]]:
    """What a set of processes does, logged: (time, process, step). Run by
    :meth:`Simulation.run` (processes run ahead) or by SimPy's own loop (they never do)."""
    sim = Simulation(0)
    log: list[tuple[int, ...]] = []
    events = [Event(sim.env), Event(sim.env)]

    def proc(p: int, ops: list[tuple[str, int]]) -> Generator[Event | int, Any, None]:
        for i, (op, x) in enumerate(ops):
            log.append((sim.env.now, p, i))
            if op == "sleep":
                yield x
            elif op == "later":
                sim.call_later(x, lambda _e, p=p, i=i: log.append((sim.env.now, p, i, -1)))
            elif op == "wait":
                yield events[x]
            elif not events[x].triggered:
                events[x].succeed()
                events[x] = Event(sim.env)
        log.append((sim.env.now, p, -1))

    for p, ops in enumerate(programs):
        sim.process(proc(p, ops))
    if simpys_loop:
        sim.env.run(until=200)
    else:
        sim.run(200)
    return log


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_OPS, max_size=25), min_size=1, max_size=4))
@example([[("wait", 0), ("sleep", 3)], [("wait", 0)], [("fire", 0)]])  # two on one event
@example([[("sleep", 40)] * 6])  # past the end of the run
def test_running_ahead_gives_the_run_simpys_loop_gives(
    programs: list[list[tuple[str, int]]],
) -> None:
    assert _program_log(programs, simpys_loop=False) == _program_log(programs, simpys_loop=True)


def test_a_sleep_of_zero_is_always_queued() -> None:
    """A loop that takes no simulated time keeps going through the run loop (where
    ``max_wall_s`` can stop it) instead of running ahead for ever."""
    sim = Simulation(0)

    def spinner() -> Generator[Event | int, Any, None]:
        for _ in range(100):
            yield 0

    sim.process(spinner())
    before = _entries_used(sim)
    sim.run(1000)
    assert _entries_used(sim) == before + 1 + 100
