"""The engine's own primitives: int sleeps, redirecting a parked process, call_later entries."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest
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


def test_redirect_resumes_a_sleeping_process_once_with_the_value() -> None:
    sim = Simulation(0)
    log: list[tuple[int, Any]] = []

    def sleeper() -> Generator[Event | int, Any, None]:
        value = yield 100
        log.append((sim.now, value))
        value = yield 50
        log.append((sim.now, value))

    proc = sim.process(sleeper())
    sim.call_later(10, lambda _e: proc.redirect("irq"))
    sim.run(1000)
    assert log == [(10, "irq"), (60, None)]  # the stale wake-up at 100 did nothing


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
