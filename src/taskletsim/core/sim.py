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
from itertools import chain, repeat
from typing import Any, Protocol

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
    """The simulation's clock as the model reads it: ``now``, whole ns (an int)."""

    now: int


def _cancelled(_value: object) -> None:
    """What a cancelled queue entry calls: nothing."""


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
    would, without an event object (an entry ``[step, None]`` the run loop calls
    as ``step(None)``; see :class:`Simulation`). ``target`` is the event waited
    for, or :data:`TIMED`; :meth:`redirect` resumes a parked process at once
    with a value (how a CPU takes an interrupt), whatever it waits for, and
    cancels the wake-up it had queued.

    A sleep whose wake-up would be the very next queue entry (nothing due before
    it or at its time, and before :attr:`Simulation.horizon`) is not queued: the
    clock moves to the wake-up time and the generator goes on in the same call.
    Nothing else could have run in between, so the run is the same, event for
    event: this is how a CPU carries its own time through private work while no
    other CPU can observe it. A sleep of 0 is always queued, so that a loop that
    takes no time still passes through the run loop, where a wall-clock deadline
    can stop it.
    """

    __slots__ = ("_eid", "_env", "_queue", "_queued", "_send", "_sim", "_sleep", "gen", "target")

    def __init__(self, sim: Simulation, gen: Generator[Event | int, Any, Any]) -> None:
        self.gen = gen
        self._send = gen.send  # held: CPython 3.11 builds a new bound method at each load
        self._sim = sim
        self._env, self._queue, self._eid = sim.env, sim._queue, sim._eid
        self._sleep: list[Any] = [self.step, None]
        """The queue entry of a sleep, queued again at each sleep until a redirect cancels it."""
        self._queued: list[Any] | None = None
        """The entry whose call resumes the process (a sleep's, or a redirect's), if queued."""
        start = _Call(sim.env, [self.resume])
        heappush(sim._queue, (sim.env.now, URGENT, next(sim._eid), start))
        self.target: Event | str | None = start

    def resume(self, event: Event) -> None:
        """The event the process waited for was processed: go on with its value."""
        self.step(event._value)

    def step(self, value: Any) -> None:
        """Run the generator with ``value`` until it parks (on an event or a sleep) or ends."""
        send = self._send
        env, queue, sim = self._env, self._queue, self._sim
        while True:
            try:
                target = send(value)
            except StopIteration:
                self.target = None
                return
            if target.__class__ is int:
                wake = env.now + target
                if target > 0 and wake < sim.horizon and (not queue or queue[0][0] > wake):
                    env.now = wake  # the wake-up would be the next entry: go on now
                    value = None
                    continue
                self._queued = entry = self._sleep
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
        queued = self._queued
        if queued is not None:
            queued[0] = _cancelled  # its wake-up, still in the queue, now does nothing
            if queued is self._sleep:
                self._sleep = [self.step, None]
        self._queued = entry = [self.step, value]
        heappush(self._queue, (self._env.now, NORMAL, next(self._eid), entry))
        self.target = TIMED


def _dispatch(entry: Any, sim: Simulation) -> None:
    """Process one queue entry: an ``[callback, arg]`` entry (:meth:`Simulation.call_later`,
    :meth:`~Simulation.call_at`, a process's wake-up) calls ``callback(arg)``; an event
    calls its callbacks. An event with several callbacks runs them with ``sim``'s
    :attr:`~Simulation.horizon` closed, so that none of them moves the clock before the
    next one runs."""
    if entry.__class__ is list:
        entry[0](entry[1])
        return
    callbacks: list[Callback] = entry.callbacks
    entry.callbacks = None
    if len(callbacks) == 1:
        callbacks[0](entry)
        return
    horizon, sim.horizon = sim.horizon, -1
    for callback in callbacks:
        callback(entry)
    sim.horizon = horizon


class Environment(simpy.Environment):
    """SimPy's environment with the clock as a plain attribute, ``now`` (SimPy's own
    code reads and writes it as ``_now``), and a queue that also holds ``[callback,
    arg]`` entries, which its ``step`` (and so SimPy's ``run``) processes as
    :meth:`Simulation.run` does."""

    __slots__ = ("now",)  # a slot: read by the model at almost every step
    now: int  # SimPy's read-only property, here the clock itself

    @property
    def _now(self) -> int:
        return self.now

    @_now.setter
    def _now(self, value: int) -> None:
        self.now = value

    def step(self) -> None:
        queue: list[Any] = self._queue
        if queue and queue[0][3].__class__ is list:
            self.now, _, _, entry = heappop(queue)
            entry[0](entry[1])
            return
        super().step()


class Simulation:
    """The shared context of one run, handed to every model component."""

    def __init__(self, seed: int, recorder: TraceRecorder | None = None) -> None:
        self.seed = seed
        self.env = Environment()
        self.clock: Clock = self.env
        """The clock the model reads: ``clock.now``, ns."""
        self.trace = recorder if recorder is not None else TraceRecorder()
        self.trace.clock = self.env
        self._queue: list[Any] = self.env._queue  # events and call_later entries
        self._eid = self.env._eid
        self._sources: dict[int, str] = {}
        self.horizon = -1
        """While :meth:`run` runs, the end of the simulated stretch being processed: a process
        whose wake-up would be the next queue entry and comes before it goes on at once,
        its clock moved forward (:class:`Process`); -1 otherwise (never)."""

    @property
    def now(self) -> int:
        """Simulated time in ns (in the model's hot paths, read ``clock.now``)."""
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
        """Call ``callback(None)`` after ``delay_ns``: no process, no event object.

        It takes its place in SimPy's queue as a NORMAL event scheduled now
        would (same time, priority and order); the queue holds the entry
        ``[callback, None]`` instead of an event, which :meth:`run` calls directly.
        """
        heappush(self._queue, (self.env.now + delay_ns, NORMAL, next(self._eid), [callback, None]))

    def later(self, delay: Callable[[], int], callback: Callback) -> Callable[[], None]:
        """A callable that, each time it is called, queues ``callback`` after ``delay()``
        ns: ``call_later(delay(), callback)`` in one call, with one entry for all.

        For the loops that draw their next delay where they run (an arrival stream's
        gap, a lock's hold time): the same draws, ids and order as ``call_later``.
        """
        queue, eid, env, entry = self._queue, self._eid, self.env, [callback, None]

        def schedule() -> None:
            heappush(queue, (env.now + delay(), NORMAL, next(eid), entry))

        return schedule

    def caller(self, callback: Callback) -> Callable[[int], None]:
        """A callable that, each time it is called with a delay in ns, queues ``callback``
        after it: ``call_later(delay, callback)`` with one entry for all, for a
        component that queues the same callback again and again (a lock's handoff)."""
        queue, eid, env, entry = self._queue, self._eid, self.env, [callback, None]

        def schedule(delay_ns: int) -> None:
            heappush(queue, (env.now + delay_ns, NORMAL, next(eid), entry))

        return schedule

    def order(self) -> int:
        """A place in the queue among entries due at the same time: the one an entry
        scheduled now would take (SimPy's event id). See :meth:`call_at`."""
        return next(self._eid)

    def call_at(self, at_ns: int, order: int, callback: Callback) -> None:
        """Call ``callback(order)`` at ``at_ns``, in the place ``order`` (from :meth:`order`,
        used once) gives it: as if it had been scheduled when ``order`` was taken, however
        much later it is queued."""
        heappush(self._queue, (at_ns, NORMAL, order, [callback, order]))

    def sleep(self, delay_ns: int, value: Any = None) -> Event:
        """A timeout for a process to ``yield``: ``env.timeout`` without its checks."""
        env = self.env
        event = _Call(env, [], value)
        heappush(self._queue, (env.now + delay_ns, NORMAL, next(self._eid), event))
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
        """Process every queue entry due before ``until_ns``, in SimPy's order (time,
        priority, scheduling order), :attr:`FLUSH_NS` of simulated time at a time so
        that the recorder can flush in between.

        With ``deadline`` (a ``time.perf_counter()`` value), stop once it has
        passed, at the end of the simulated instant being processed. Returns the
        simulated time reached: every entry before it was processed, none at or
        after it (``until_ns`` unless the deadline stopped the run).
        """
        env = self.env
        check = self.CHECK_EVERY if deadline is not None else -1  # -1: never counts down to 0
        try:
            while env.now < until_ns:
                target = min((env.now // self.FLUSH_NS + 1) * self.FLUSH_NS, until_ns)
                self.horizon = target
                stopped = not self._process(target, check)
                if deadline is not None and (stopped or target < until_ns):
                    if time.perf_counter() > deadline:
                        if stopped:  # finish the instant being processed
                            self._process(env.now + 1, -1)
                            target = min(self._queue[0][0], target) if self._queue else target
                        env.now = target
                        self.trace.flush(target)
                        return target
                    if stopped:
                        continue
                env.now = target
                self.trace.flush(target, self.FLUSH_ROWS)
            return until_ns
        finally:
            self.horizon = -1

    def _process(self, before: int, budget: int) -> bool:
        """The run loop: process the queue's entries due before ``before``, SimPy's
        ``Environment.step`` inlined. False if it stopped because ``budget`` entries
        were processed first (a budget of -1 never runs out), True when none is left."""
        env, queue = self.env, self._queue
        # a for loop, not a while: CPython 3.11 specialises the instructions of a loop only
        # once it has jumped back unconditionally (a while's test jumps back conditionally)
        for _ in repeat(None) if budget < 0 else repeat(None, budget):
            if not queue or queue[0][0] >= before:
                return True
            env.now, _, _, entry = heappop(queue)
            if entry.__class__ is list:  # _dispatch's common case, inlined: most entries
                entry[0](entry[1])
            else:
                _dispatch(entry, self)
        return not queue or queue[0][0] >= before
