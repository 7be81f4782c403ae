"""The lock models, on hand-worked event sequences and random ones."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import taskletsim as ts
from taskletsim.core.events import EventKind as K
from taskletsim.core.sim import Simulation
from taskletsim.hv.seam import Cpu, Proc
from taskletsim.platform.locks import Waiter

# 2 sockets x 2 cores: CPUs 0, 1 on socket 0; CPUs 2, 3 on socket 1.
TOPO = ts.Topology(sockets=2, cores_per_socket=2)


def drive(
    lock_kind: str | type[ts.SpinLock],
    requests: list[tuple[int, int, int, bool]],
    topology: ts.Topology = TOPO,
    seed: int = 0,
    prepare: Callable[[ts.SpinLock], None] | None = None,
    **options: float,
) -> ts.Trace:
    """Run ``(time, cpu, hold, irqs_off)`` requests against one lock (a kind, or a lock
    class) to completion (``prepare`` gets the lock first)."""
    sim = Simulation(seed)
    sim.trace.meta.cpu_socket = topology.socket_list
    if isinstance(lock_kind, str):
        lock = ts.make_lock(lock_kind, sim, "lock", topology, **options)
    else:
        lock = lock_kind(sim, "lock", topology, **options)
    if prepare is not None:
        prepare(lock)
    for at, cpu, hold, irqs_off in requests:

        def request(_e: object, cpu: int = cpu, hold: int = hold, off: bool = irqs_off) -> None:
            lock.acquire(cpu, lambda: sim.call_later(hold, lambda _e: lock.release(cpu)), off)

        sim.call_later(at, request)
    sim.env.run()
    return sim.trace.finish()


def rows(trace: ts.Trace) -> list[tuple[int, int, str, int]]:
    return [
        (int(t), int(c), K(k).name, int(a))
        for t, c, k, a in zip(trace.time_ns, trace.cpu, trace.kind, trace.arg, strict=True)
    ]


@pytest.mark.parametrize("kind", ["mcs", "ticket", "ttas"])
def test_hand_worked_two_waiters_across_sockets(kind: str) -> None:
    """CPU0 takes the lock; CPU2 (other socket) then CPU1 (same socket) queue.

    t=0: CPU0 acquires a free lock; the line was last on CPU0 itself: 7 ns.
    t=10: CPU2 contends, spinning with IRQs off (arg 1).
    t=20: CPU1 contends, spinning with IRQs on (arg 0).
    t=100: CPU0 releases. MCS and ticket are FIFO: CPU2 is next; the handoff
    is one other-socket transfer, 443 ns (ticket: one other waiter, CPU2 is
    first to re-read with probability 1/2, else 102 ns more for CPU1's read).
    TTAS draws the winner: with numa_bias huge the local spinner CPU1 wins,
    after 102 ns plus half the transfer to the loser CPU2 (443/2 -> 222).
    """
    requests = [(0, 0, 93, True), (10, 2, 50, True), (20, 1, 10, False)]
    if kind == "ttas":
        trace = drive(kind, requests, numa_bias=1e12)
        assert rows(trace) == [
            (7, 0, "LOCK_ACQUIRE", -1),
            (10, 2, "LOCK_CONTEND", 1),
            (20, 1, "LOCK_CONTEND", 0),
            (100, 0, "LOCK_RELEASE", 0),
            (100 + 102 + 222, 1, "LOCK_ACQUIRE", 20),
            (434, 1, "LOCK_RELEASE", 0),
            (434 + 443, 2, "LOCK_ACQUIRE", 10),
            (927, 2, "LOCK_RELEASE", 0),
        ]
        return
    trace = drive(kind, requests)
    got = rows(trace)
    first_handoff = got[4][0] - 100
    assert first_handoff in ((443,) if kind == "mcs" else (443, 443 + 102))
    t1 = 100 + first_handoff
    assert got == [
        (7, 0, "LOCK_ACQUIRE", -1),
        (10, 2, "LOCK_CONTEND", 1),
        (20, 1, "LOCK_CONTEND", 0),
        (100, 0, "LOCK_RELEASE", 0),
        (t1, 2, "LOCK_ACQUIRE", 10),
        (t1 + 50, 2, "LOCK_RELEASE", 0),
        (t1 + 50 + 443, 1, "LOCK_ACQUIRE", 20),
        (t1 + 60 + 443, 1, "LOCK_RELEASE", 0),
    ]
    stats = ts.lock_stats(trace, end_ns=10_000)["lock"]
    assert (stats.acquisitions, stats.contentions, stats.bounces, stats.con_bounces) == (3, 2, 2, 2)
    assert stats.wait.total == (t1 - 10) + (t1 + 493 - 20)
    assert (stats.hold.min, stats.hold.max, stats.hold.total) == (10, 93, 153)


def test_ticket_handoff_position_is_uniform_over_the_waiters() -> None:
    """Three waiters, uniform cost c: the handoffs cost c, 2c or 3c, each about 1/3 of the time."""
    topology = ts.Topology(1, 4, costs=ts.TransferCosts.uniform(100))
    counts: Counter[int] = Counter()
    for seed in range(300):
        trace = drive(
            "ticket",
            [(0, 0, 1000, True), (1, 1, 1, True), (2, 2, 1, True), (3, 3, 1, True)],
            topology,
            seed=seed,
        )
        acquire = trace.time_ns[trace.kind == K.LOCK_ACQUIRE]
        counts[int(acquire[1] - (acquire[0] + 1000))] += 1
    assert set(counts) == {100, 200, 300}
    for cost in (100, 200, 300):
        assert 70 <= counts[cost] <= 130, counts


def test_ttas_unbiased_winner_is_uniform_and_bias_favours_the_local_socket() -> None:
    """One local (CPU1) and three remote spinners (CPUs 2, 3 and 2 again) behind CPU0."""
    topology = ts.Topology(2, 2)

    def winners(bias: float) -> Counter[int]:
        won: Counter[int] = Counter()
        for seed in range(400):
            trace = drive(
                "ttas",
                [
                    (0, 0, 1000, True),
                    (1, 1, 1, True),
                    (2, 2, 1, True),
                    (3, 3, 1, True),
                    (4, 2, 1, True),
                ],
                topology,
                seed=seed,
                numa_bias=bias,
            )
            won[int(trace.cpu[trace.kind == K.LOCK_ACQUIRE][1])] += 1
        return won

    fair = winners(1.0)
    assert 70 <= fair[1] <= 130  # 1 in 4
    biased = winners(9.0)  # local weight 9 vs remote 3: 3/4
    assert 260 <= biased[1] <= 340


def test_free_transfers_price_no_waiter() -> None:
    """With every line transfer free (``transfer_ns=0``) a ticket lock draws no position
    for its next owner and TTAS adds no spinner traffic: what they would price is 0.
    The ticket lock then gives the same trace as MCS (both FIFO, every handoff free)."""
    free = ts.Topology(2, 2, costs=ts.TransferCosts.uniform(0))
    requests = [(0, 0, 500, True), (1, 1, 7, True), (2, 2, 9, False), (3, 3, 11, True)]

    def boom(*_args: object) -> float:
        raise AssertionError("priced a waiter with free transfers")

    # subclasses, not patched instances: a compiled build's locks take no new methods
    class UnpricedTicket(ts.TicketLock):
        def _socket_spread_cost(self, releaser: int) -> int:
            return int(boom())

    class UnpricedTtas(ts.TTASLock):
        def _socket_spread_cost(self, releaser: int) -> int:
            return int(boom())

    def no_position(lock: ts.SpinLock) -> None:
        if lock.kind == "ticket":
            lock._u = boom  # type: ignore[attr-defined]  # the next owner's position

    traces = {
        kind: rows(drive(cls, requests, free, prepare=no_position))
        for kind, cls in (("ticket", UnpricedTicket), ("ttas", UnpricedTtas))
    }
    traces["mcs"] = rows(drive("mcs", requests, free))
    assert traces["ticket"] == traces["mcs"]
    # granted at once, each dated from when it began to wait (-1: uncontended)
    acquired = [(r[0], r[1], r[3]) for r in traces["mcs"] if r[2] == "LOCK_ACQUIRE"]
    assert acquired == [(0, 0, -1), (500, 1, 1), (507, 2, 2), (516, 3, 3)]
    assert sum(r[2] == "LOCK_ACQUIRE" for r in traces["ttas"]) == 4


def test_release_by_a_non_holder_is_an_error() -> None:
    sim = Simulation(0)
    lock = ts.make_lock("mcs", sim, "lock", TOPO)
    lock.acquire(0, lambda: None)
    sim.env.run()
    with pytest.raises(RuntimeError, match="held by 0"):
        lock.release(1)


def test_acquire_event_for_processes() -> None:
    sim = Simulation(0)
    lock = ts.make_lock("ticket", sim, "lock", TOPO)
    log: list[tuple[str, int]] = []

    def user(cpu: int, hold: int):  # type: ignore[no-untyped-def]
        yield lock.acquire_event(cpu)
        log.append(("got", cpu))
        yield sim.env.timeout(hold)
        lock.release(cpu)

    sim.env.process(user(0, 100))
    sim.env.process(user(3, 100))
    sim.env.run()
    assert log == [("got", 0), ("got", 3)]


requests_strategy = st.lists(
    st.tuples(
        st.integers(0, 5_000),  # arrival ns
        st.integers(0, 3),  # cpu
        st.integers(0, 800),  # hold ns
        st.booleans(),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(requests=requests_strategy, kind=st.sampled_from(["mcs", "ticket", "ttas"]))
def test_random_request_sequences_keep_the_invariants(
    requests: list[tuple[int, int, int, bool]], kind: str
) -> None:
    trace = drive(kind, requests, numa_bias=3.0)
    acquire = trace.kind == K.LOCK_ACQUIRE
    # Every request is granted exactly once, and released.
    assert acquire.sum() == len(requests)
    assert (trace.kind == K.LOCK_RELEASE).sum() == len(requests)
    assert (trace.kind == K.LOCK_CONTEND).sum() == (trace.arg[acquire] >= 0).sum()
    # Time never goes back, and nobody acquires before contending.
    assert np.all(np.diff(trace.time_ns) >= 0)
    assert np.all(trace.arg[acquire] <= trace.time_ns[acquire])
    # One holder at a time: the metrics reject anything else.
    stats = ts.lock_stats(trace, end_ns=10**9)["lock"]
    assert stats.acquisitions == len(requests)
    assert stats.hold.total == sum(hold for _, _, hold, _ in requests)
    if kind != "ttas":
        since = trace.arg[acquire]
        contended = since[since >= 0]
        assert np.all(np.diff(contended) >= 0), "FIFO locks serve waiters in order"


@pytest.mark.parametrize("sockets", [2, 4, 12])
def test_ttas_scan_and_fenwick_tree_pick_the_same_winners(
    sockets: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Few sockets scan their counts, many use a Fenwick tree: forcing either gives the same
    trace, NUMA bias and remote sockets included."""
    from taskletsim.platform.locks import TTASLock

    params = {"lock": "ttas", "cpus": 4 * sockets, "sockets": sockets, "numa_bias": 3.0}
    digests = []
    for fenwick_from in (0, 1000):
        monkeypatch.setattr(TTASLock, "FENWICK_FROM", fenwick_from)
        result = ts.run("lock-closed", seed=5, duration_ms=2, params=params)
        assert _contentions(result) > 100
        digests.append(result.digest)
    assert digests[0] == digests[1]


class ReferenceTtas(ts.TTASLock):
    """TTAS's pick as documented, nothing inlined or short-cut: the spinners counted
    from the lists themselves, the remote winner's socket found by the general scan
    (prefix and cumulative counts), the winner taken by ``_take``."""

    def _pick_next(self, releaser: int) -> tuple[Waiter, int]:
        counts = [len(spinners) for spinners in self._spinners]
        home = self._socket_of[releaser]
        here = counts[home]
        local = here * self.numa_bias
        remote = sum(counts) - here
        x = self._u() * (local + remote)
        if x < local or not remote:
            socket = home
        else:
            x = min(x - local, remote - 1)
            if x >= sum(counts[:home]):
                x += here
            for socket, count in enumerate(counts):  # noqa: B007
                if x < count:
                    break
                x -= count
        waiter = self._take(socket, int(self._u() * len(self._spinners[socket])))
        cost = self._cost[releaser][waiter[0]]
        if self.nwait > 1 and self.spinner_share and self._priced:
            cost += round(self.spinner_share * self._socket_spread_cost(releaser))
        return waiter, cost


@pytest.mark.parametrize("free", [False, True])
@pytest.mark.parametrize("sockets", [2, 3])
@pytest.mark.parametrize("bias", [1.0, 3.0])
def test_ttas_pick_is_the_documented_one(sockets: int, bias: float, free: bool) -> None:
    """The pick TTAS runs (inlined, two sockets short-cut: counted by the lists' lengths
    when no transfer is priced) gives the trace of the pick written as documented, on
    random requests from every socket with many spinners, transfers priced or free."""
    topology = ts.Topology(sockets, 3, costs=ts.TransferCosts.uniform(0) if free else None)
    rng = np.random.default_rng(sockets)
    cpus = rng.integers(0, 3 * sockets, 400)
    at = np.cumsum(rng.integers(0, 150, 400))
    requests = [(int(t), int(c), 200, bool(c % 2)) for t, c in zip(at, cpus, strict=True)]
    ours, reference = (
        drive(kind, requests, topology, numa_bias=bias) for kind in ("ttas", ReferenceTtas)
    )
    assert _contentions_of(ours) > 300
    assert rows(ours) == rows(reference)


def _contentions_of(trace: ts.Trace) -> int:
    return int(np.count_nonzero(trace.kind == K.LOCK_CONTEND))


def _contentions(result: ts.RunResult) -> int:
    return ts.lock_stats(result.trace)["lock"].contentions


@pytest.mark.parametrize("free", [False, True])
@pytest.mark.parametrize("kind", ["mcs", "ticket", "ttas"])
def test_a_withdrawn_waiter_is_skipped_until_it_resumes(kind: str, free: bool) -> None:
    """CPU0 holds the lock; CPUs 1, 2, 3 wait. CPU2 leaves its spin loop to take an
    interrupt (``withdraw``): the next two releases go to CPUs 1 and 3, whatever the
    kind's order; back (``resume``), CPU2 gets the lock last, its ``LOCK_ACQUIRE``
    still dated from when it began to wait. With free transfers too (TTAS over two
    sockets then counts its spinners from its lists and ``nwait``)."""
    topology = ts.Topology(2, 2, costs=ts.TransferCosts.uniform(0)) if free else TOPO
    sim = Simulation(0)
    sim.trace.meta.cpu_socket = topology.socket_list
    lock = ts.make_lock(kind, sim, "lock", topology)
    order: list[int] = []
    for cpu in range(4):
        lock.acquire(cpu, lambda cpu=cpu: order.append(cpu))
    sim.env.run()  # the handoff to CPU0 (a line transfer)
    assert order == [0] and lock.nwait == 3
    waiter = lock.withdraw(2)
    assert waiter[0] == 2 and lock.nwait == 2
    lock.release(0)
    sim.env.run()
    lock.release(order[-1])
    sim.env.run()
    assert sorted(order) == [0, 1, 3]
    lock.resume(waiter)
    assert lock.nwait == 1
    lock.release(order[-1])
    sim.env.run()
    assert order[-1] == 2 and lock.nwait == 0
    trace = sim.trace.finish()
    acquired = trace.rows(K.LOCK_ACQUIRE)
    assert trace.cpu[acquired][-1] == 2 and trace.arg[acquired][-1] == 0  # waited since t=0


@pytest.mark.parametrize("kind", ["mcs", "ticket", "ttas"])
@pytest.mark.parametrize("sockets", [2, 16])
def test_a_lock_leaves_room_in_cpythons_shared_attribute_layout(kind: str, sockets: int) -> None:
    """CPython 3.11 keeps up to 29 of an instance's attributes in its class's shared
    layout; one more slows every method call on the lock (SpinLock's docstring): the
    built-in kinds hold at most 27, leaving a subclass two. A compiled lock has no
    instance dict (mypyc's native layout): nothing to check there."""
    lock = ts.make_lock(kind, Simulation(0), "lock", ts.Topology(sockets, 2))
    if not hasattr(lock, "__dict__"):
        pytest.skip("a compiled lock keeps its attributes in a native layout")
    assert len(vars(lock)) <= 27


# -- a lock kind says what it is ------------------------------------------------------


class QuietTTASLock(ts.TTASLock):
    """A TTAS lock whose waiters keep interrupts off while they spin."""

    kind = "ttas-quiet"
    spins_irqs_enabled = False


class TTASVariantLock(ts.TTASLock):
    """A TTAS variant that says nothing of itself: it is what TTAS is."""

    kind = "ttas-variant"


class LifoMCSLock(ts.MCSLock):
    """A queued lock that serves its newest waiter first (a bug its kind's FIFO catches)."""

    kind = "mcs-lifo"

    def _pick_next(self, releaser: int) -> tuple[Waiter, int]:
        waiter = self._queue.pop()
        return waiter, self._cost[releaser][waiter[0]]


@pytest.fixture
def registered_kinds() -> object:
    kinds = (QuietTTASLock, TTASVariantLock, LifoMCSLock)
    for cls in kinds:
        ts.LOCK_KINDS.register(cls)
    yield kinds
    for cls in kinds:
        ts.LOCK_KINDS.unregister(cls.kind)


def _spin_lock_irq_contend(kind: str) -> int:
    """CPU 0 holds the lock (taken with spin_lock_irq) for 5 us; CPU 2 asks for it 1 us
    in, from its idle loop with interrupts on: the arg of CPU 2's LOCK_CONTEND (1: it
    spins with interrupts disabled)."""
    from .helpers import tiny

    m = tiny(lock=kind)
    lock = m.make_lock("the_lock")

    def holder(cpu: Cpu) -> Proc:
        yield from cpu.spin_lock_irq(lock)
        yield from cpu.work(5000)
        yield from cpu.spin_unlock_irq(lock)

    def waiter(cpu: Cpu) -> Proc:
        yield from cpu.spin_lock_irq(lock)
        yield from cpu.spin_unlock_irq(lock)

    m.sim.call_later(0, lambda _e: m.cpus[0].call_on_cpu(holder))
    m.sim.call_later(1000, lambda _e: m.cpus[2].call_on_cpu(waiter))
    m.sim.run(100_000)
    trace = m.sim.trace.finish()
    contends = trace.rows(K.LOCK_CONTEND)
    ours = contends[trace.subject[contends] == lock.id]
    assert len(ours) == 1 and int(trace.cpu[ours[0]]) == 2
    return int(trace.arg[ours[0]])


def test_a_registered_lock_kind_spins_as_it_says(registered_kinds: object) -> None:
    """Whether a waiter re-enables interrupts is the kind's ``spins_irqs_enabled``, not its
    name: a TTAS variant spins with them on as TTAS does, one that says otherwise and the
    FIFO kinds with them off."""
    assert _spin_lock_irq_contend("ttas") == 0
    assert _spin_lock_irq_contend("ttas-variant") == 0
    assert _spin_lock_irq_contend("ttas-quiet") == 1
    assert _spin_lock_irq_contend("ticket") == 1


def test_a_registered_fifo_kind_is_held_to_fifo(registered_kinds: object) -> None:
    """A kind that grants in arrival order (here inherited from MCS) is checked by the
    ``lock-fifo`` invariant whatever its name; an unfair kind is not."""
    params = {"lock": "mcs-lifo", "rate_per_s": 9e5, "spinners": "unbounded"}
    with pytest.raises(ts.InvariantError) as caught:
        ts.run("lock-open", seed=1, duration_ms=2, params=params)
    assert caught.value.invariant == "lock-fifo"
    result = ts.run("lock-open", seed=1, duration_ms=2, params={**params, "lock": "ttas-variant"})
    assert result.trace.meta.fifo_locks == []
    assert ts.run("lock-open", duration_ms=1, params={"lock": "ticket"}).trace.meta.fifo_locks == [
        "lock"
    ]


def test_list_says_what_each_lock_kind_is(registered_kinds: object) -> None:
    from taskletsim.cli import _list

    listed = _list()
    assert "ttas-quiet: A TTAS lock whose waiters keep interrupts off while they spin" in listed
    assert "(grants in no set order; spins with interrupts disabled)" in listed
    assert "mcs-lifo: A queued lock that serves its newest waiter first" in listed
    line = next(x for x in listed.splitlines() if x.strip().startswith("ttas-variant:"))
    assert line.endswith("(grants in no set order; spins with interrupts enabled)")
    line = next(x for x in listed.splitlines() if x.strip().startswith("mcs-lifo:"))
    assert line.endswith("(FIFO grants; spins with interrupts disabled)")
