"""Arrival processes: when an interrupt source fires.

Arrival processes decide when a source fires: periodic with jitter, Poisson, bursty on/off,
a replay of given times, and interrupt moderation (an ITR: at most one
interrupt per interval, what arrives in between is coalesced into one at the
end of the interval, as ixgbe's ``EITR`` does). All are callbacks, not
processes; their randomness comes from the source's own named stream.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ..core.config import ConfigError
from ..core.sim import Simulation

Fire = Callable[[], None]


class Arrivals(Protocol):
    """When a source fires: ``start`` schedules ``fire()`` calls on the simulation."""

    def start(self, sim: Simulation, fire: Fire, stream: str) -> None: ...


@dataclass(frozen=True)
class Periodic:
    """Every ``period_ns``, each arrival displaced uniformly by up to +-``jitter_ns``."""

    period_ns: int
    jitter_ns: int = 0
    phase_ns: int = 0

    def start(self, sim: Simulation, fire: Fire, stream: str) -> None:
        if self.period_ns <= 0:
            raise ConfigError("period_ns", self.period_ns, "a positive number of ns")
        if not 0 <= self.jitter_ns < self.period_ns / 2:
            raise ConfigError("jitter_ns", self.jitter_ns, "0 <= jitter < period / 2")
        rng = sim.rng(stream)
        jitter = self.jitter_ns
        draw = sim.uniform(stream) if jitter else None
        first = self.phase_ns if self.phase_ns else int(rng.integers(0, self.period_ns))
        state = {"tick": 0}

        def at(tick: int) -> int:
            offset = round((draw() * 2 - 1) * jitter) if draw else 0
            return first + tick * self.period_ns + offset

        def arrive(_event: object) -> None:
            fire()
            state["tick"] += 1
            sim.call_later(max(at(state["tick"]) - sim.clock.now, 0), arrive)

        sim.call_later(max(at(0), 0), arrive)


@dataclass(frozen=True)
class Poisson:
    """A Poisson stream of ``rate_per_s`` interrupts per second."""

    rate_per_s: float

    def start(self, sim: Simulation, fire: Fire, stream: str) -> None:
        if not self.rate_per_s > 0:
            raise ConfigError("rate_per_s", self.rate_per_s, "a rate > 0")
        gap = sim.exponential(stream, 1e9 / self.rate_per_s)

        def arrive(_event: object) -> None:
            fire()
            again()

        again = sim.later(gap, arrive)
        again()


@dataclass(frozen=True)
class OnOff:
    """Bursty: Poisson at ``rate_per_s`` during on-periods, silent during off-periods.

    On and off durations are exponential with means ``on_ns`` and ``off_ns``.
    """

    rate_per_s: float
    on_ns: float
    off_ns: float

    def start(self, sim: Simulation, fire: Fire, stream: str) -> None:
        for field, value in (
            ("rate_per_s", self.rate_per_s),
            ("on_ns", self.on_ns),
            ("off_ns", self.off_ns),
        ):
            if not value > 0:
                raise ConfigError(field, value, "a number > 0")
        gap = sim.exponential(stream, 1e9 / self.rate_per_s)
        on = sim.exponential(stream + ":on", self.on_ns)
        off = sim.exponential(stream + ":off", self.off_ns)
        state = {"until": 0}

        def arrive(_event: object) -> None:
            now = sim.clock.now
            if now >= state["until"]:
                quiet = off()
                state["until"] = now + quiet + on()
                sim.call_later(quiet, arrive)
                return
            fire()
            sim.call_later(gap(), arrive)

        state["until"] = on()
        sim.call_later(gap(), arrive)


@dataclass(frozen=True)
class Replay:
    """Fire at the given absolute times (ns), e.g. from a recorded trace."""

    times_ns: tuple[int, ...]

    def start(self, sim: Simulation, fire: Fire, stream: str) -> None:
        times = sorted(self.times_ns)
        if times and times[0] < 0:
            raise ConfigError("times_ns", times[0], "times >= 0")
        for t in times:
            sim.call_later(t - sim.clock.now, lambda _e: fire())


@dataclass(frozen=True)
class Moderated:
    """Interrupt moderation (ITR): at most one interrupt per ``interval_ns``.

    An arrival within the interval after the last interrupt is held back and
    fires when the interval ends; more arrivals meanwhile coalesce into it.
    """

    inner: Arrivals
    interval_ns: int

    def start(self, sim: Simulation, fire: Fire, stream: str) -> None:
        if self.interval_ns <= 0:
            raise ConfigError("interval_ns", self.interval_ns, "a positive number of ns")
        state = {"last": -self.interval_ns, "held": False}

        def release(_event: object) -> None:
            state["held"] = False
            state["last"] = sim.clock.now
            fire()

        def arrival() -> None:
            now = sim.clock.now
            if state["held"]:
                return
            if now - state["last"] >= self.interval_ns:
                state["last"] = now
                fire()
            else:
                state["held"] = True
                sim.call_later(state["last"] + self.interval_ns - now, release)

        self.inner.start(sim, arrival, stream)
