"""One simulation run: the SimPy environment, the trace recorder, the RNG streams.

Time is whole nanoseconds. All randomness comes from numpy Generators derived
from the run's seed, one per named source: the stream of source ``name`` is
seeded by ``SeedSequence(seed, spawn_key=(crc32(name),))``, so adding or
removing a source never shifts the numbers another source draws.
"""

from __future__ import annotations

import time
import zlib
from array import array
from collections.abc import Callable, Generator, Iterator
from functools import partial
from heapq import heappop, heappush
from itertools import chain
from typing import Any, Protocol, cast

import numpy as np
import simpy
from simpy.events import NORMAL, URGENT, Event

from .config import ConfigError
from .recorder import TraceRecorder

Callback = Callable[[Any], None]


FAR_NS = 2**62
"""Where integer draws are clipped (a gap of 146 years, past the end of any run), so that
extreme parameters never overflow 64-bit time."""


DrawStream = Callable[[], Any]
"""A stream of draws: each call returns the next number."""


def draw_stream(
    draw: Callable[[int], np.ndarray], *, integer: bool = True, chunk: int = 256
) -> DrawStream:
    """Draws from a Generator in chunks, handed out one at a time.

    ``draw(n)`` must return ``n`` numbers; they are rounded to whole ns
    (``integer=True``) or kept as floats. Drawing in chunks is what keeps one
    random number per event cheap; the chunks start small, so that a host with
    thousands of sources starts quickly, and double up to ``chunk`` (256: at most 2 KB
    a stream, for the hundreds of streams of a host; a refill costs a few ns a number).
    The numbers do not depend on the chunk sizes (numpy's generators draw each value
    in turn). The stream is ``next`` on a chain of the chunks (typed arrays, 8 bytes a
    number): taking a number runs no Python code, refilling runs one generator step.
    """

    def chunks() -> Iterator[array[Any]]:
        size = min(16, chunk)
        while True:
            yield _typed(draw(size), integer)  # the suspended generator holds no draw
            size = min(size * 2, chunk)

    return partial(next, chain.from_iterable(chunks()))


def _typed(values: np.ndarray, integer: bool) -> array[Any]:
    """A chunk of draws as a typed array: ns (``q``), clipped at :data:`FAR_NS`, or floats."""
    if integer:
        return array("q", np.rint(np.minimum(values, FAR_NS)).astype(np.int64).tobytes())
    return array("d", np.asarray(values, dtype=np.float64).tobytes())


class Clock(Protocol):
    """The SimPy environment seen as a clock of whole ns (``env._now`` is always an int here)."""

    _now: int


class _Call(Event):
    """A triggered event with the given callbacks: SimPy's cheapest event."""

    def __init__(
        self, env: simpy.Environment, callbacks: list[Callback], value: Any = None
    ) -> None:
        self.env = env
        self.callbacks = callbacks
        self._value = value
        self._ok = True


TIMED = "timed"
""":attr:`Process.target` of a process sleeping on an int it yielded."""


class Process:
    """A generator driven by what it yields: SimPy's ``Process`` without what the model
    does not use (failed events, interrupts by exception, being waited on).

    The generator yields an event to wait for it, or an int ``ns`` to sleep that
    long: the wake-up takes its place in the queue exactly as a timeout of ``ns``
    would, without an event object (a ``(callback, value)`` entry that
    :meth:`Simulation.run` calls). ``target`` is the event waited for, or
    :data:`TIMED`; :meth:`redirect` resumes a parked process at once with a value
    (how :class:`taskletsim.hv.cpu.PCpu` takes an interrupt), whatever it waits for.

    A sleep whose wake-up would be the very next queue entry (nothing due before
    it or at its time, and before :attr:`Simulation.horizon`) is not queued: the
    clock moves to the wake-up time and the generator goes on in the same call.
    Nothing else could have run in between, so the run is the same, event for
    event: this is how a CPU carries its own time through private work while no
    other CPU can observe it. A sleep of 0 is always queued, so that a loop that
    takes no time still passes through the run loop, where a wall-clock deadline
    can stop it.
    """

    __slots__ = (
        "_eid",
        "_env",
        "_live",
        "_queue",
        "_send",
        "_sim",
        "_sleep",
        "_wake",
        "gen",
        "resume",
        "target",
    )

    def __init__(self, sim: Simulation, gen: Generator[Event | int, Any, Any]) -> None:
        self.gen = gen
        self._send = gen.send  # held: CPython 3.11 builds a new bound method at each load
        self.resume: Callback = self._resume
        self._wake = self._woken
        self._sim = sim
        self._env, self._queue, self._eid = sim.env, sim._queue, sim._eid
        self._sleep = (self._wake, None)
        """The queue entry of a sleep; a new one after each :meth:`redirect`."""
        self._live: tuple[Any, ...] | None = None
        """The entry whose wake-up is the process's own (others in the queue are stale)."""
        start = _Call(sim.env, [self.resume])
        heappush(sim._queue, (sim.env._now, URGENT, next(sim._eid), start))
        self.target: Event | str | None = start

    def _resume(self, event: Event) -> None:
        self._live = entry = (self._wake, event._value)
        self._woken(entry)

    def _woken(self, entry: tuple[Any, ...]) -> None:
        """Run the generator from a wake-up ``(callback, value)`` until it parks; nothing
        if the entry is stale (the process was redirected meanwhile)."""
        if entry is not self._live:
            return
        value = entry[1]
        send = self._send
        env, queue, sim = self._env, self._queue, self._sim
        while True:
            try:
                target = send(value)
            except StopIteration:
                self.target = None
                return
            if target.__class__ is int:
                wake = env._now + target
                if target > 0 and wake < sim.horizon and (not queue or queue[0][0] > wake):
                    env._now = wake  # the wake-up would be the next entry: go on now
                    value = None
                    continue
                self._live = entry = self._sleep
                heappush(queue, (wake, NORMAL, next(self._eid), entry))
                self.target = TIMED
                return
            if not isinstance(target, Event):
                raise TypeError(f"a process yields an event or an int (ns), not {target!r}")
            if target.callbacks is not None:
                target.callbacks.append(self.resume)
                self.target = target
                return
            value = target._value  # already processed: go on at once, as SimPy does

    def redirect(self, value: Any) -> None:
        """Resume the parked process now (after what is already due now) with ``value``
        instead of what it waits for; nothing if it is not parked."""
        target = self.target
        if target is None:
            return
        if target is not TIMED:
            assert isinstance(target, Event)
            if target.callbacks is None:  # fired: the process resumes anyway
                return
            target.callbacks.remove(self.resume)
        self._sleep = (self._wake, None)  # the queued sleep's entry, if any, is stale now
        self._live = entry = (self._wake, value)
        heappush(self._queue, (self._env._now, NORMAL, next(self._eid), entry))
        self.target = TIMED


def _fire(event: Any, sim: Simulation) -> None:
    """Process one queue entry: call a :meth:`Simulation.call_later` (or wake-up, or
    :meth:`Simulation.call_at`) entry's callback, or an event's callbacks. An event with
    several callbacks runs them with ``sim``'s :attr:`~Simulation.horizon` closed, so
    that none of them moves the clock before the next one runs."""
    if event.__class__ is tuple:
        event[0](event)
        return
    callbacks: list[Callback] = event.callbacks
    event.callbacks = None
    if len(callbacks) == 1:
        callbacks[0](event)
        return
    horizon, sim.horizon = sim.horizon, -1
    for callback in callbacks:
        callback(event)
    sim.horizon = horizon


class Environment(simpy.Environment):
    """SimPy's environment whose queue also holds tuples (:meth:`Simulation.call_later`,
    :meth:`Simulation.call_at` and a sleeping process's wake-up) whose first item is
    called with the tuple, not processed as an event. Its ``step`` (and so ``run``)
    handles both, for code that drives ``sim.env`` with SimPy's own loop."""

    def step(self) -> None:
        queue: list[Any] = self._queue
        if queue and queue[0][3].__class__ is tuple:
            self._now, _, _, entry = heappop(queue)
            entry[0](entry)
            return
        super().step()


class Simulation:
    """The shared context of one run, handed to every model component."""

    def __init__(self, seed: int, recorder: TraceRecorder | None = None) -> None:
        self.seed = seed
        self.env = Environment()
        self.clock = cast(Clock, self.env)
        self.trace = recorder if recorder is not None else TraceRecorder()
        self.emit = self.trace.append
        self._queue: list[Any] = self.env._queue  # events and call_later entries
        self._eid = self.env._eid
        self._sources: dict[int, str] = {}
        self.horizon = -1
        """While :meth:`run` runs, the end of the simulated stretch being processed: a process
        whose wake-up would be the next queue entry and comes before it goes on at once,
        its clock moved forward (:class:`Process`); -1 otherwise (never)."""

    @property
    def now(self) -> int:
        """Simulated time in ns."""
        return int(self.env.now)

    @staticmethod
    def stream_key(source: str) -> int:
        """The spawn key of source ``source``'s stream: CRC-32 of its name."""
        return zlib.crc32(source.encode())

    def rng(self, source: str) -> np.random.Generator:
        """The Generator of one named random source of this run. Two names whose
        :meth:`stream_key` collides would share draws, so the second is refused."""
        key = self.stream_key(source)
        other = self._sources.setdefault(key, source)
        if other != source:
            raise ConfigError(
                "random source",
                source,
                f"a name whose stream key (CRC-32) differs from that of {other!r}: "
                "rename the guest or device",
            )
        return np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(key,)))

    # A stream keeps only its source's bit generator and wraps it in a Generator for each
    # refill: a Generator keeps no state of its own (the same numbers), and ~200 bytes
    # less a stream add up over the hundreds of streams of a host.

    def exponential(self, source: str, mean_ns: float) -> DrawStream:
        """Exponential draws (rounded to ns) from the named source."""
        bits = self.rng(source).bit_generator
        return draw_stream(lambda n: np.random.Generator(bits).exponential(mean_ns, n))

    def uniform(self, source: str) -> DrawStream:
        """Uniform [0, 1) floats from the named source."""
        bits = self.rng(source).bit_generator
        return draw_stream(lambda n: np.random.Generator(bits).random(n), integer=False)

    def integers(self, source: str, high: int) -> DrawStream:
        """Uniform integers in [0, high) from the named source."""
        bits = self.rng(source).bit_generator
        return draw_stream(lambda n: np.random.Generator(bits).integers(0, high, n))

    def call_later(self, delay_ns: int, callback: Callback) -> None:
        """Call ``callback(entry)`` after ``delay_ns``: no process, no event object.

        It takes its place in SimPy's queue as a NORMAL event scheduled now
        would (same time, priority and order); the queue holds the 1-tuple
        ``(callback,)`` instead of an event, which :meth:`run` calls directly
        (``entry`` is that tuple: callbacks ignore it).
        """
        heappush(self._queue, (self.env._now + delay_ns, NORMAL, next(self._eid), (callback,)))

    def later(self, delay: Callable[[], int], callback: Callback) -> Callable[[], None]:
        """A callable that, each time it is called, queues ``callback`` after ``delay()``
        ns: ``call_later(delay(), callback)`` in one call, with one entry tuple for all.

        For the loops that draw their next delay where they run (an arrival stream's
        gap, a lock's hold time): the same draws, ids and order as ``call_later``.
        """
        queue, eid, env, entry = self._queue, self._eid, self.env, (callback,)

        def schedule() -> None:
            heappush(queue, (env._now + delay(), NORMAL, next(eid), entry))

        return schedule

    def caller(self, callback: Callback) -> Callable[[int], None]:
        """A callable that, each time it is called with a delay in ns, queues ``callback``
        after it: ``call_later(delay, callback)`` with one entry tuple for all, for a
        component that queues the same callback again and again (a lock's handoff)."""
        queue, eid, env, entry = self._queue, self._eid, self.env, (callback,)

        def schedule(delay_ns: int) -> None:
            heappush(queue, (env._now + delay_ns, NORMAL, next(eid), entry))

        return schedule

    def order(self) -> int:
        """A place in the queue among entries due at the same time: the one an entry
        scheduled now would take (SimPy's event id). See :meth:`call_at`."""
        return next(self._eid)

    def call_at(self, at_ns: int, order: int, callback: Callback) -> None:
        """Call ``callback(entry)`` at ``at_ns``, in the place ``order`` (from :meth:`order`,
        used once) gives it: as if it had been scheduled when ``order`` was taken, however
        much later it is queued. ``entry`` is ``(callback, order)``."""
        heappush(self._queue, (at_ns, NORMAL, order, (callback, order)))

    def sleep(self, delay_ns: int, value: Any = None) -> Event:
        """A timeout for a process to ``yield``: ``env.timeout`` without its checks."""
        env = self.env
        event = _Call(env, [], value)
        heappush(self._queue, (env._now + delay_ns, NORMAL, next(self._eid), event))
        return event

    FLUSH_NS = 50_000
    """How often (simulated ns) the recorder's staged events may go to its columns: every
    50 us keeps the staging list of the seed's host to ~750 rows (a staged row holds
    ~60 bytes, a column row 23). See :attr:`FLUSH_ROWS`."""

    FLUSH_ROWS = 512
    """The recorder flushes at a :attr:`FLUSH_NS` step once this many rows are staged: a
    flush costs a few us however few rows it moves, so a sparse run (``lock-open``, ~110
    rows in 50 us) flushes every few steps."""

    def process(self, gen: Generator[Event | int, Any, Any]) -> Process:
        """Start ``gen`` as a process (at the current time, before what is scheduled); it
        yields events to wait for them and ints to sleep (see :class:`Process`)."""
        return Process(self, gen)

    CHECK_EVERY = 8192
    """With a wall-clock deadline, how many events run between two looks at the clock."""

    def run(self, until_ns: int, deadline: float | None = None) -> int:
        """Process every event before ``until_ns``, in SimPy's order (time, priority,
        scheduling order), :attr:`FLUSH_NS` of simulated time at a time so that
        the recorder can flush in between. The loop is SimPy's ``Environment.step`` inlined.

        With ``deadline`` (a ``time.perf_counter()`` value), stop once it has
        passed, at the end of the simulated instant being processed. Returns the
        simulated time reached: every event before it was processed, none at or
        after it (``until_ns`` unless the deadline stopped the run).

        A queue entry is an event (its callbacks are called) or a tuple (its first
        item is called with it; see :class:`Environment`).
        """
        try:
            return self._run(until_ns, deadline)
        finally:
            self.horizon = -1

    def _run(self, until_ns: int, deadline: float | None) -> int:
        env = self.env
        queue = self._queue
        step = self.FLUSH_NS
        while env._now < until_ns:
            target = min((int(env._now) // step + 1) * step, until_ns)
            self.horizon = target
            if deadline is None:
                while queue and queue[0][0] < target:
                    env._now, _, _, event = heappop(queue)
                    if event.__class__ is tuple:  # _fire's common case, inlined
                        event[0](event)
                        continue
                    _fire(event, self)
            else:
                budget = self.CHECK_EVERY
                while queue and queue[0][0] < target:
                    env._now, _, _, event = heappop(queue)
                    _fire(event, self)
                    budget -= 1
                    if not budget:
                        budget = self.CHECK_EVERY
                        if time.perf_counter() > deadline:
                            return self._stop(target)
                if time.perf_counter() > deadline and target < until_ns:
                    env._now = target
                    self.trace.flush(target)
                    return target
            env._now = target
            self.trace.flush(target, self.FLUSH_ROWS)
        return until_ns

    def _stop(self, target: int) -> int:
        """Finish the instant being processed; the time reached is the next event's."""
        env, queue = self.env, self._queue
        now = env._now
        while queue and queue[0][0] == now:
            env._now, _, _, event = heappop(queue)
            _fire(event, self)
        reached = int(min(queue[0][0], target)) if queue else target
        env._now = reached
        self.trace.flush(reached)
        return reached
