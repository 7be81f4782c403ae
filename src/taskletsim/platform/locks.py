"""Spinlock models: unfair TTAS (Xen 2014), ticket (Xen 4.6), queued/MCS (Linux).

All three share :class:`SpinLock`: a lock is *busy* from the moment it is
granted (the handoff starts) until it is released with nobody waiting. An
acquisition that finds it busy is *contended*: it emits ``LOCK_CONTEND`` and
waits. On release the subclass picks the next owner and the cost of the
handoff in ns; the new owner's ``LOCK_ACQUIRE`` comes that much later. An
uncontended acquisition pays one line transfer from the last holder's CPU.

Handoff costs (docs/locks.md; ``T(a, b)`` is the topology's transfer cost
from CPU ``a`` to ``b``):

- MCS (Linux ``kernel/locking/qspinlock.c``): each waiter spins on its own
  line; the releaser writes the next waiter's line: ``T(releaser, next)``.
- Ticket (Xen 4.6 ``xen/common/spinlock.c``): every waiter re-reads the
  ``head`` line after the release; the reads are served one after the other
  and the next ticket holder is, on average, half-way down (Boyd-Wickizer et
  al. 2012). The model draws its position ``j`` uniformly in ``1..w`` and
  charges ``T(releaser, next)`` plus ``j - 1`` reads at the mean cost from the
  releaser's socket to the other waiters' sockets.
- TTAS (Xen 2014 ``xen/common/spinlock.c``, ``xchgw`` to take, plain store to
  release): unfair. The winner is drawn from the spinners, a spinner on the
  releaser's socket weighted ``numa_bias`` times a remote one (1 = uniform,
  the unbiased limit; Radovic & Hagersten 2003, Dice et al. 2012). The
  losers' failed ``xchg`` steal the line meanwhile: the cost is
  ``T(releaser, winner)`` plus ``spinner_share`` times the transfers to the
  other spinners (assumption: 0.5, Boyd-Wickizer's "half of the waiters").

Per-waiter work is O(sockets): waiters are counted per socket, never scanned.
A lock records its events as the tracepoints ``lock_contend``, ``lock_acquire``
and ``lock_release`` of :class:`~taskletsim.core.recorder.Tracepoints` would,
with their rows appended here directly: they run at every acquisition, and a
call each would cost a lock-bound run ~8% more instructions.

Whether a waiter spins with interrupts disabled is a property of each
acquisition (``irqs_off``), recorded in its ``LOCK_CONTEND`` event; whether a
kind lets a spinner re-enable them, and whether it grants in arrival order,
are its class attributes :attr:`SpinLock.spins_irqs_enabled` and
:attr:`SpinLock.fifo_grants`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, ClassVar

from mypy_extensions import mypyc_attr
from simpy.events import Event

from ..core.config import ConfigError
from ..core.events import EventKind
from ..core.registry import Registry
from ..core.sim import Simulation
from .topology import Distance, Topology

# the kinds of the lock tracepoints this module inlines (see the module's docstring)
_CONTEND = int(EventKind.LOCK_CONTEND)
_ACQUIRE = int(EventKind.LOCK_ACQUIRE)
_RELEASE = int(EventKind.LOCK_RELEASE)

Granted = Callable[[], Any]
# A waiter: (cpu, callback on grant, time it started waiting or -1, spins with IRQs off)
Waiter = tuple[int, Granted, int, bool]


@mypyc_attr(allow_interpreted_subclasses=True)  # a lock kind subclasses it (compiled build)
class SpinLock:
    """Base class of the lock models.

    To add a lock kind, subclass it, set ``kind``, say what it is
    (:attr:`description`, :attr:`fifo_grants`, :attr:`spins_irqs_enabled`),
    and implement :meth:`_enqueue` (store a
    waiter; keep ``_nsock`` up to date if the cost model uses it) and
    :meth:`_pick_next` (remove the next owner, return it and the handoff cost in
    ns). ``nwait`` is kept by the base class. A subclass of a built-in kind
    inherits what that kind is.

    A lock's methods run at every acquisition. CPython 3.11 keeps up to 29 of an
    instance's attributes in its class's shared layout; from the 30th on, each
    method call on the instance and each attribute store take a slower path
    (``lock-open`` with TTAS: 10% fewer acquisitions per second with one attribute
    more than 29). The built-in kinds use at most 27; a subclass that needs more
    state keeps it in one object.
    """

    kind: ClassVar[str] = ""
    description: ClassVar[str] = ""
    """One line for ``taskletsim list``; a kind that does not set its own shows the first
    line of its docstring."""
    fifo_grants: ClassVar[bool] = False
    """Whether waiters are granted the lock in the order they began waiting: the
    ``lock-fifo`` invariant then holds every trace of it to that."""
    spins_irqs_enabled: ClassVar[bool] = False
    """Whether a waiter whose caller had interrupts enabled spins with them enabled,
    taking interrupts while it waits (Xen 2014's ``_spin_lock_irq``); else every
    waiter spins with them disabled."""
    option_names: ClassVar[tuple[str, ...]] = ()
    """Keyword options the constructor takes (see :func:`make_lock`)."""

    def __init__(self, sim: Simulation, name: str, topology: Topology) -> None:
        self.sim = sim
        self.name = name
        self.id = sim.trace.names.add("lock", name)
        fifo = sim.trace.meta.fifo_locks
        if self.fifo_grants and fifo is not None:
            fifo.append(name)
        self.topology = topology
        self._cost = topology.cost
        self._socket_of = topology.socket_list
        self._nsock = [0] * topology.sockets
        self._nsum = 0  # sum of _nsock
        costs = topology.costs
        same = costs.of(Distance.SAME_SOCKET)
        other, far = costs.of(Distance.OTHER_SOCKET), costs.of(Distance.FAR_SOCKET)
        self._spread_ns = (same, other, far)
        """A line transfer's cost to a CPU on the same, a neighbouring, a farther socket."""
        self._priced = bool(same or other or far)
        """Whether a line transfer between CPUs costs anything: with every one free (a
        textbook FIFO server, ``transfer_ns=0``) what only prices waiters (a ticket
        holder's position, the spinners' traffic) is neither drawn nor counted."""
        hops = topology.socket_hops
        self._near: list[list[int]] | None = None
        if any(h > 1 for row in hops for h in row) and far != other:
            self._near = [[t for t, h in enumerate(row) if h == 1] for row in hops]
        self._env = sim.clock
        self._emit = sim.trace.append
        self._hand_later = sim.caller(self._handoff_done)  # _handoff_done after a delay
        self.busy = False
        self.holder = -1
        self.last_cpu = -1
        self.nwait = 0
        self._pending: Waiter | None = None

    def acquire(self, cpu: int, granted: Granted, irqs_off: bool = True) -> None:
        """``spin_lock`` from ``cpu``: call ``granted()`` once the lock is held.

        ``irqs_off`` says whether the CPU spins with interrupts disabled
        (``spin_lock_irqsave`` inside an IRQ-off section) or enabled
        (``spin_lock_irq`` on Xen re-enables them while spinning). A busy lock
        makes the acquisition contended: ``LOCK_CONTEND`` now, when the CPU
        starts waiting on the lock (Linux ``lock:contention_begin``).
        """
        if not self.busy:
            self.busy = True
            last = self.last_cpu
            cost = self._cost[last][cpu] if last >= 0 else self._cost[cpu][cpu]
            if cost:
                self._pending = (cpu, granted, -1, irqs_off)
                self._hand_later(cost)
            else:  # _hand_over -> _grant, inlined: this runs at every acquisition
                self._emit((self._env.now, cpu, _ACQUIRE, self.id, -1))  # lock_acquire
                self.holder = cpu
                granted()
            return
        since = self._env.now
        self._emit((since, cpu, _CONTEND, self.id, 1 if irqs_off else 0))  # lock_contend
        self.nwait += 1
        self._enqueue((cpu, granted, since, irqs_off))

    def acquire_event(self, cpu: int, irqs_off: bool = True) -> Event:
        """Process-style :meth:`acquire`: an event that fires when the lock is held."""
        event = Event(self.sim.env)
        self.acquire(cpu, event.succeed, irqs_off)
        return event

    def release(self, cpu: int) -> None:
        """``spin_unlock`` from ``cpu``, which must hold the lock."""
        if cpu != self.holder:
            raise RuntimeError(f"{self.name}: CPU {cpu} releases a lock held by {self.holder}")
        emit, now = self._emit, self._env.now
        emit((now, cpu, _RELEASE, self.id, 0))  # lock_release
        self.holder = -1
        self.last_cpu = cpu
        if not self.nwait:
            self.busy = False
            return
        waiter, cost = self._pick_next(cpu)
        self.nwait -= 1
        if cost:
            self._pending = waiter
            self._hand_later(cost)
            return
        next_cpu = waiter[0]  # _hand_over -> _grant, inlined: this runs at every release
        emit((now, next_cpu, _ACQUIRE, self.id, waiter[2]))  # lock_acquire
        self.holder = next_cpu
        waiter[1]()

    def withdraw(self, cpu: int) -> Waiter:
        """Take ``cpu``'s waiter out of the queue.

        A CPU spinning with interrupts enabled leaves the spin loop to take
        an interrupt: while it runs the handler it is not spinning, so it
        cannot be handed the lock. :meth:`resume` puts it back.
        """
        waiter = self._remove(cpu)
        self.nwait -= 1
        return waiter

    def resume(self, waiter: Waiter) -> None:
        """Put a withdrawn waiter back; its contention was already counted."""
        if not self.busy:
            self.busy = True
            last = self.last_cpu if self.last_cpu >= 0 else waiter[0]
            self._hand_over(waiter, self._cost[last][waiter[0]])
            return
        self.nwait += 1
        self._enqueue(waiter)

    def is_handing_to(self, cpu: int) -> bool:
        """Whether the lock is being handed to ``cpu`` right now."""
        return self._pending is not None and self._pending[0] == cpu

    def _hand_over(self, waiter: Waiter, cost: int) -> None:
        """Hand the lock to ``waiter``: its ``LOCK_ACQUIRE`` after ``cost`` ns, at once (in
        this call) when the handoff costs nothing."""
        if cost:
            self._pending = waiter
            self._hand_later(cost)
        else:
            self._grant(waiter)

    def _handoff_done(self, _event: object) -> None:
        assert self._pending is not None
        waiter, self._pending = self._pending, None
        self._grant(waiter)

    def _grant(self, waiter: Waiter) -> None:
        """The handoff is complete: ``LOCK_ACQUIRE`` (arg: when the wait began, -1 if
        uncontended), the waiter holds the lock and goes on."""
        cpu, granted, since, _ = waiter
        self._emit((self._env.now, cpu, _ACQUIRE, self.id, since))  # lock_acquire
        self.holder = cpu
        granted()

    def _socket_spread_cost(self, releaser: int) -> int:
        """Sum of the transfer costs from the releaser's socket to every waiter counted in
        ``_nsock``: O(1), or O(one-hop neighbours) when the topology has far sockets."""
        socket = self._socket_of[releaser]
        nsock = self._nsock
        here = nsock[socket]
        rest = self._nsum - here
        same, other, far = self._spread_ns
        if self._near is None:
            return same * here + other * rest
        near = sum(nsock[t] for t in self._near[socket])
        return same * here + other * near + far * (rest - near)

    def _count(self, socket: int, delta: int) -> None:
        self._nsock[socket] += delta
        self._nsum += delta

    def _enqueue(self, waiter: Waiter) -> None:
        raise NotImplementedError

    def _pick_next(self, releaser: int) -> tuple[Waiter, int]:
        raise NotImplementedError

    def _remove(self, cpu: int) -> Waiter:
        """Remove and return ``cpu``'s waiter (rare: O(waiters) is fine)."""
        raise NotImplementedError


def _check_lock(obj: object) -> type[SpinLock]:
    if not (isinstance(obj, type) and issubclass(obj, SpinLock) and obj.kind):
        raise TypeError("a subclass of taskletsim.SpinLock with a kind")
    return obj


LOCK_KINDS: Registry[type[SpinLock]] = Registry(
    "lock", lambda cls: cls.kind, group="taskletsim.locks", check=_check_lock
)
"""The registry of lock kinds: ``LOCK_KINDS.register(MyLock)`` adds one."""


@mypyc_attr(allow_interpreted_subclasses=True)
class MCSLock(SpinLock):
    """Linux queued spinlock (MCS): FIFO, one line transfer per handoff."""

    kind = "mcs"
    description = "Linux queued spinlock (MCS): FIFO, one line transfer per handoff"
    fifo_grants = True

    def __init__(self, sim: Simulation, name: str, topology: Topology) -> None:
        super().__init__(sim, name, topology)
        self._queue: deque[Waiter] = deque()

    def _enqueue(self, waiter: Waiter) -> None:
        self._queue.append(waiter)

    def _pick_next(self, releaser: int) -> tuple[Waiter, int]:
        waiter = self._queue.popleft()
        return waiter, self._cost[releaser][waiter[0]]

    def _remove(self, cpu: int) -> Waiter:
        waiter = next(w for w in self._queue if w[0] == cpu)
        self._queue.remove(waiter)
        return waiter


@mypyc_attr(allow_interpreted_subclasses=True)
class TicketLock(SpinLock):
    """Xen 4.6 ticket lock: FIFO; the next owner reads the line after ~half the waiters."""

    kind = "ticket"
    description = "Xen 4.6 ticket lock: FIFO; the next owner reads the line after ~half the waiters"
    fifo_grants = True

    def __init__(self, sim: Simulation, name: str, topology: Topology) -> None:
        super().__init__(sim, name, topology)
        self._queue: deque[Waiter] = deque()
        self._u = sim.uniform(f"lock:{name}")

    def _enqueue(self, waiter: Waiter) -> None:
        self._queue.append(waiter)
        if self._priced:
            self._count(self._socket_of[waiter[0]], 1)

    def _pick_next(self, releaser: int) -> tuple[Waiter, int]:
        others = self.nwait - 1
        waiter = self._queue.popleft()
        cost = self._cost[releaser][waiter[0]]
        if not self._priced:
            return waiter, cost
        self._count(self._socket_of[waiter[0]], -1)
        if others:
            ahead = int(self._u() * (others + 1))
            if ahead:
                cost += round(ahead * self._socket_spread_cost(releaser) / others)
        return waiter, cost

    def _remove(self, cpu: int) -> Waiter:
        waiter = next(w for w in self._queue if w[0] == cpu)
        self._queue.remove(waiter)
        if self._priced:
            self._count(self._socket_of[cpu], -1)
        return waiter


@mypyc_attr(allow_interpreted_subclasses=True)
class TTASLock(SpinLock):
    """Xen 2014 test-and-test-and-set lock: unfair, NUMA-biased winner."""

    kind = "ttas"
    description = "Xen 2014 test-and-test-and-set lock: unfair, NUMA-biased winner"
    spins_irqs_enabled = True
    option_names = ("numa_bias", "spinner_share")

    def __init__(
        self,
        sim: Simulation,
        name: str,
        topology: Topology,
        numa_bias: float = 1.0,
        spinner_share: float = 0.5,
    ) -> None:
        super().__init__(sim, name, topology)
        if not numa_bias >= 1.0:
            raise ConfigError("numa_bias", numa_bias, "a number >= 1 (1 = unbiased)")
        if not 0.0 <= spinner_share <= 1.0:
            raise ConfigError("spinner_share", spinner_share, "a number from 0 to 1")
        self.numa_bias = numa_bias
        self.spinner_share = spinner_share
        self._spinners: list[list[Waiter]] = [[] for _ in range(topology.sockets)]
        # beyond a few sockets, a Fenwick tree of the per-socket counts keeps a pick O(log)
        self._fenwick = topology.sockets > self.FENWICK_FROM
        self._two = topology.sockets == 2
        self._counted = self._priced or not self._two
        """Whether ``_nsock`` is kept: the pick over more than two sockets reads it, and so
        does the spinners' traffic; over two sockets, the pick reads the lists' lengths."""
        self._tree = [0] * (topology.sockets + 1)
        self._u = sim.uniform(f"lock:{name}")

    FENWICK_FROM: ClassVar[int] = 8
    """With more sockets than this the counts go in a Fenwick tree; below, a scan of the
    per-socket counts is cheaper (the same picks either way)."""

    def _count(self, socket: int, delta: int) -> None:
        self._nsock[socket] += delta
        self._nsum += delta
        if self._fenwick:
            i, tree = socket + 1, self._tree
            n = len(tree)
            while i < n:
                tree[i] += delta
                i += i & -i

    def _prefix(self, socket: int) -> int:
        """Spinners on sockets ``0 .. socket - 1``."""
        if not self._fenwick:
            return sum(self._nsock[:socket])
        total, i, tree = 0, socket, self._tree
        while i > 0:
            total += tree[i]
            i -= i & -i
        return total

    def _find(self, x: float) -> int:
        """The first socket whose cumulative count exceeds ``x`` (Fenwick descent)."""
        if not self._fenwick:
            for socket, count in enumerate(self._nsock):
                if x < count:
                    return socket
                x -= count
            return len(self._nsock)
        pos, tree = 0, self._tree
        step = 1 << (len(tree) - 1).bit_length()
        while step:
            nxt = pos + step
            if nxt < len(tree) and tree[nxt] <= x:
                pos = nxt
                x -= tree[nxt]
            step >>= 1
        return pos

    def _enqueue(self, waiter: Waiter) -> None:
        socket = self._socket_of[waiter[0]]
        self._spinners[socket].append(waiter)
        if not self._counted:
            return
        if self._fenwick:
            self._count(socket, 1)
        else:  # _count(socket, 1), inlined: it runs per contention
            self._nsock[socket] += 1
            self._nsum += 1

    def _take(self, socket: int, k: int) -> Waiter:
        """Remove and return spinner ``k`` of ``socket`` (swap with the last)."""
        spinners = self._spinners[socket]
        waiter = spinners[k]
        last = spinners.pop()
        if k < len(spinners):
            spinners[k] = last
        if self._counted:
            self._count(socket, -1)
        return waiter

    def _pick_next(self, releaser: int) -> tuple[Waiter, int]:
        """One draw picks the winner's socket: a spinner on the releaser's weighs
        ``numa_bias``, the others 1, the remote ones taken in socket order (O(log
        sockets)); a second draw picks the winner among that socket's spinners.

        It runs at every contended release, so :meth:`_take` and :meth:`_count` are
        inlined, and with two sockets the remote one is the other (the same pick), the
        spinners counted by the lists' lengths and ``nwait``."""
        u = self._u
        home = self._socket_of[releaser]
        if self._two:
            spinners = self._spinners[home]
            here = len(spinners)
            remote = self.nwait - here
            socket = home
            if not remote:
                u()  # drawn all the same: the draws do not depend on where the spinners are
            else:
                local = here * self.numa_bias
                if u() * (local + remote) >= local:
                    socket = 1 - home
                    spinners = self._spinners[socket]
        else:
            nsock = self._nsock
            here = nsock[home]
            remote = self._nsum - here
            if not remote:
                u()
                socket = home
            else:
                local = here * self.numa_bias
                x = u() * (local + remote)
                if x < local:
                    socket = home
                else:
                    x = min(x - local, remote - 1)
                    if x >= self._prefix(home):
                        x += here
                    socket = self._find(x)
            spinners = self._spinners[socket]
        k = int(u() * len(spinners))
        waiter = spinners[k]
        last = spinners.pop()
        if k < len(spinners):  # not "waiter is not last": a compiled build copies tuples
            spinners[k] = last
        if self._counted:
            if self._fenwick:
                self._count(socket, -1)
            else:
                self._nsock[socket] -= 1
                self._nsum -= 1
        cost = self._cost[releaser][waiter[0]]
        if self._priced and self.spinner_share and self.nwait > 1:
            cost += round(self.spinner_share * self._socket_spread_cost(releaser))
        return waiter, cost

    def _remove(self, cpu: int) -> Waiter:
        socket = self._socket_of[cpu]
        k = next(i for i, w in enumerate(self._spinners[socket]) if w[0] == cpu)
        return self._take(socket, k)


for _cls in (TTASLock, TicketLock, MCSLock):
    LOCK_KINDS.register(_cls)


def make_lock(
    kind: str, sim: Simulation, name: str, topology: Topology, **options: Any
) -> SpinLock:
    """Build a lock of ``kind`` (``ttas``, ``ticket``, ``mcs``, or a registered kind).

    ``options`` go to the kind's constructor if it takes them (``numa_bias``,
    ``spinner_share`` for TTAS); a kind ignores the options it has no use for,
    so that one host can be built with any lock kind.
    """
    cls = LOCK_KINDS.resolve(kind)
    return cls(sim, name, topology, **{k: v for k, v in options.items() if k in cls.option_names})
