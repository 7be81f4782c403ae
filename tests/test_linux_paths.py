"""The bare-metal Linux host and its three designs, on hand-worked event sequences.

Every host here is :func:`linux_tiny`: 2 sockets x 2 cores (CPUs 0, 1 on
socket 0; 2, 3 on socket 1), queued (MCS) spinlocks, line transfers of 7 ns
(same CPU) and 102 ns (same socket), and the round costs of ``HAND``: IRQ
entry 100, exit 50, softirq dispatch 10, list work 20, IPI send 50 and
flight 500, wake-up 100, ``__schedule`` 100 + context switch 1000, IRQ thread
100. A tasklet's first bit operation fetches the line from its own CPU (7).

The times in each docstring are worked out from those costs, following
kernel/softirq.c, kernel/workqueue.c and kernel/irq/manage.c (v6.9).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import taskletsim as ts
from taskletsim.core.config import ConfigError
from taskletsim.core.events import COALESCE_DEVICE
from taskletsim.core.events import EventKind as K
from taskletsim.core.sim import Simulation
from taskletsim.designs.linux_bh_wq import LinuxBhWorkqueue
from taskletsim.kernel.seam import DESIGNS
from taskletsim.linux.costs import LinuxCosts
from taskletsim.linux.cpu import MAX_SOFTIRQ_RESTART
from taskletsim.linux.machine import LinuxHost
from taskletsim.linux.nic import NicCosts, RxQueue
from taskletsim.metrics import check_trace, cpu_times, measure
from taskletsim.output.tables import format_run
from taskletsim.platform.arrivals import Replay
from taskletsim.testing import DesignCheckError, check_design

from .helpers import events, taskletsim_cli

DATA = Path(__file__).parent / "data" / "ftrace"

HAND = LinuxCosts(
    irq_entry_ns=100,
    irq_exit_ns=50,
    softirq_dispatch_ns=10,
    irq_save_restore_ns=0,
    ipi_send_ns=50,
    ipi_latency_ns=500,
    timer_fn_ns=60,
    tasklet_list_ns=20,
    tick_ns=100,
    wakeup_ns=100,
    schedule_ns=100,
    context_switch_ns=1000,
    irq_thread_ns=100,
)
BLOCKED, RUNNABLE, RUNNING = 2, 1, 0


def linux_tiny(design: str) -> LinuxHost:
    """2 sockets x 2 cores, MCS locks, the ``HAND`` costs."""
    sim = Simulation(0)
    sim.trace.meta.duration_ns = 20_000
    return LinuxHost(sim, ts.Topology(2, 2), design=design, costs=HAND)


def device(host: LinuxHost, name: str, cpu: int, at: int, t: ts.Tasklet) -> None:
    """A device on ``cpu`` interrupting once at ``at``; its handler defers ``t``."""

    def handler(c: Any, seq: int) -> Any:
        yield from host.design.tasklet_schedule(c, t, src.id)

    src = host.add_device(name, cpu, handler)
    src.start(Replay((at,)))


def working(ns: int) -> Callable[[Any], Any]:
    def func(cpu: Any) -> Any:
        yield from cpu.work(ns)

    return func


def self_rescheduling_host() -> LinuxHost:
    """A tasklet that schedules itself again 11 times, from one interrupt at 1000 on idle
    CPU 0; run to 20 us."""
    host = linux_tiny("linux")
    runs = [0]

    def again(cpu: Any) -> Any:
        yield from cpu.work(100)
        if runs[0] < 11:
            runs[0] += 1
            yield from host.design.tasklet_schedule(cpu, t, -1)

    t = host.design.tasklet_init("loop", again)
    device(host, "dev0", 0, 1000, t)
    host.sim.run(20_000)
    return host


def two_interrupts_host(design: str) -> LinuxHost:
    """A tasklet of 5000 ns deferred by an interrupt on CPU 0 at 1000 and one on CPU 1 at
    2000; run to 20 us."""
    host = linux_tiny(design)
    t = host.design.tasklet_init("long", working(5000))
    device(host, "dev0", 0, 1000, t)
    device(host, "dev1", 1, 2000, t)
    host.sim.run(20_000)
    return host


def rows(host: LinuxHost, kinds: tuple[K, ...]) -> list[tuple[int, int, str, str, int | str]]:
    return [e for e in events(host) if e[2] in {k.name for k in kinds}]


def test_do_softirq_hands_over_to_ksoftirqd_after_its_restarts() -> None:
    """A tasklet that schedules itself again 11 times, from one interrupt on idle CPU 0.

    1000 IRQ entry; 1100 the handler's ``tasklet_schedule``: SCHED set (7) at
    1107, appended (20) and TASKLET_SOFTIRQ raised at 1127 (in hard IRQ: no
    ksoftirqd wake-up); exit 50: 1177. ``irq_exit`` runs ``__do_softirq``:
    each pass is dispatch 10, the list detached 20, trylock 7, the function
    100, its own ``tasklet_schedule`` 7 + 20: 164 ns, the k-th starting at
    1177 + 164 k. After the 10th pass (``MAX_SOFTIRQ_RESTART``) the softirq is
    still pending at 2817: ``wakeup_softirqd`` makes ``ksoftirqd/0`` runnable;
    the CPU idles, so it is picked at once: ``__schedule`` 1100 ns, running
    at 3917. Its ``__do_softirq`` runs the 11th pass (3917) and the 12th
    (4081, no reschedule: 137 ns), and it sleeps at 4218.
    """
    host = self_rescheduling_host()
    entries = [e[0] for e in rows(host, (K.SOFTIRQ_ENTRY,))]
    assert MAX_SOFTIRQ_RESTART == 10
    assert entries == [1177 + 164 * k for k in range(10)] + [3917, 4081]
    ksoftirqd = [e for e in rows(host, (K.RUNSTATE_CHANGE,)) if e[3] == "ksoftirqd/0"]
    assert ksoftirqd == [
        (0, 0, "RUNSTATE_CHANGE", "ksoftirqd/0", BLOCKED),
        (2817, 0, "RUNSTATE_CHANGE", "ksoftirqd/0", RUNNABLE),
        (3917, 0, "RUNSTATE_CHANGE", "ksoftirqd/0", RUNNING),
        (4218, 0, "RUNSTATE_CHANGE", "ksoftirqd/0", BLOCKED),
    ]
    assert events(host)[4:9] == [
        (1000, 0, "IRQ_RAISE", "dev0", 0),
        (1000, 0, "IRQ_ENTRY", "dev0", 0),
        (1107, 0, "TASKLET_SCHEDULE", "loop", "dev0"),
        (1127, 0, "SOFTIRQ_RAISE", "TASKLET_SOFTIRQ", 0),
        (1177, 0, "IRQ_EXIT", "dev0", 0),
    ]
    check_trace(host.sim.trace.finish())


def test_tasklet_scheduled_while_it_runs_on_another_cpu() -> None:
    """``tasklet_schedule`` on CPU 1 while the tasklet runs on CPU 0 (5000 ns of work).

    CPU 0: IRQ at 1000, scheduled at 1107, ``tasklet_action`` claims it
    (RUN) at 1214 and runs it to 6214. CPU 1: IRQ at 2000; SCHED was
    cleared by CPU 0's claim, so its ``test_and_set_bit`` (the line from
    CPU 0: 102) sets it at 2202 and queues the tasklet on CPU 1's list;
    exit at 2272. Every ``tasklet_action`` pass there finds RUN held: the
    trylock fails, the tasklet goes back on the list and the softirq is
    raised again (dispatch 10 + detach 20 + trylock 7 + re-append 20 = 57
    ns). After 10 passes (2842) ``ksoftirqd/1`` takes over (running at
    3942) and goes on passing until RUN clears at 6214; its next pass (6245)
    claims the tasklet at 6259 and runs it on CPU 1 to 11259. The tasklet
    never runs on two CPUs at once, and runs once more after the schedule.
    """
    host = two_interrupts_host("linux")
    assert rows(host, (K.TASKLET_SCHEDULE, K.TASKLET_ENTRY, K.TASKLET_EXIT)) == [
        (1107, 0, "TASKLET_SCHEDULE", "long", "dev0"),
        (1214, 0, "TASKLET_ENTRY", "long", -1),
        (2202, 1, "TASKLET_SCHEDULE", "long", "dev1"),
        (6214, 0, "TASKLET_EXIT", "long", -1),
        (6259, 1, "TASKLET_ENTRY", "long", -1),
        (11259, 1, "TASKLET_EXIT", "long", -1),
    ]
    cpu1 = [e[0] for e in rows(host, (K.SOFTIRQ_ENTRY,)) if e[1] == 1]
    assert cpu1[:11] == [2272 + 57 * k for k in range(10)] + [3942]
    ksoftirqd = [e[::4] for e in rows(host, (K.RUNSTATE_CHANGE,)) if e[3] == "ksoftirqd/1"]
    assert ksoftirqd == [(0, BLOCKED), (2842, RUNNABLE), (3942, RUNNING), (11259, BLOCKED)]
    check_trace(host.sim.trace.finish())


def test_queue_work_of_an_item_still_running_on_another_cpus_bh_pool() -> None:
    """``queue_work`` on CPU 1 of a work item CPU 0's BH worker is running (5000 ns).

    CPU 0: IRQ at 1000; PENDING set at 1107, ``cpu0:pool->lock`` taken (7) at
    1114, inserted and TASKLET_SOFTIRQ raised at 1134; ``bh_worker`` takes the
    lock at 1201 and ``process_one_work`` claims the item at 1208 (PENDING
    cleared), then drops the lock and runs it. CPU 1: IRQ at 2000, PENDING
    set again at 2202 (line from CPU 0). The item was last on pool 0 and
    runs there (``find_worker_executing_work``): CPU 1 takes **pool 0's**
    lock (2304: line from CPU 0), queues it there and, pool 0 being
    another CPU's, kicks it by an irq_work IPI (flight 500 after the send):
    CPU 0 takes it at 2824, raising TASKLET_SOFTIRQ inside its running BH
    worker. When the item returns (6358) the worker, within its budget,
    runs it again on CPU 0 (6562 to 11562). It never runs on CPU 1.
    """
    host = two_interrupts_host("linux-bh-wq")
    assert rows(host, (K.TASKLET_SCHEDULE, K.TASKLET_ENTRY, K.TASKLET_EXIT)) == [
        (1107, 0, "TASKLET_SCHEDULE", "long", "dev0"),
        (1208, 0, "TASKLET_ENTRY", "long", -1),
        (2202, 1, "TASKLET_SCHEDULE", "long", "dev1"),
        (6358, 0, "TASKLET_EXIT", "long", -1),
        (6562, 0, "TASKLET_ENTRY", "long", -1),
        (11562, 0, "TASKLET_EXIT", "long", -1),
    ]
    locks = [e[:2] for e in rows(host, (K.LOCK_ACQUIRE,)) if e[3] == "cpu0:pool->lock"]
    assert (2304, 1) in locks
    assert not any(e[3] == "cpu1:pool->lock" for e in rows(host, (K.LOCK_ACQUIRE,)))
    ipi = [e[:3] for e in events(host) if e[3] == "ipi:cpu0"]
    assert ipi == [(2824, 0, "IRQ_RAISE"), (2824, 0, "IRQ_ENTRY"), (2974, 0, "IRQ_EXIT")]
    check_trace(host.sim.trace.finish())


def test_threaded_irq_wakes_its_fifo_thread_once_per_runthread() -> None:
    """``request_threaded_irq``: the handler's ``__irq_wake_thread`` at 1107 sets
    RUNTHREAD and wakes ``irq/long`` (100): runnable at 1207; CPU 0 idles, so after
    the IRQ exit (1257) ``__schedule`` (1100) runs it at 2357. CPU 1's interrupt
    sets RUNTHREAD again at 2202 before the thread cleared it: no second wake-up,
    one run (2459 after the thread's 100 and the bit's line from CPU 1, to 7559),
    then the thread sleeps."""
    host = two_interrupts_host("linux-threaded")
    assert rows(host, (K.TASKLET_SCHEDULE, K.TASKLET_ENTRY, K.TASKLET_EXIT)) == [
        (1107, 0, "TASKLET_SCHEDULE", "long", "dev0"),
        (2202, 1, "TASKLET_SCHEDULE", "long", "dev1"),
        (2459, 0, "TASKLET_ENTRY", "long", -1),
        (7559, 0, "TASKLET_EXIT", "long", -1),
    ]
    thread = [e[::4] for e in rows(host, (K.RUNSTATE_CHANGE,)) if e[3] == "irq/long"]
    assert thread == [(0, BLOCKED), (1207, RUNNABLE), (2357, RUNNING), (7559, BLOCKED)]
    check_trace(host.sim.trace.finish())


@pytest.mark.parametrize(
    "slice_ns, tick_after",
    [(None, 1_000_000), (3_000_000, 4_000_000), (None, None)],
    ids=["linux-scaled", "3ms", "4-cpus"],
)
def test_a_woken_fair_task_waits_for_the_current_ones_slice(
    slice_ns: int | None, tick_after: int | None
) -> None:
    """EEVDF's run-to-parity: a task woken on a CPU whose hog has run less than its
    slice waits for the tick after the slice is used (checked each 1 ms tick). The slice
    is Linux's for the host unless given: 0.75 ms on 1 CPU, so the hog picked at 1100
    keeps the CPU to 751,100 and the 1 ms tick hands it over; given 3 ms, the 4 ms tick.
    On 4 CPUs (2.25 ms) the tick at 3 ms."""
    sim = Simulation(0)
    cpus = 4 if tick_after is None else 1
    host = LinuxHost(
        sim, ts.Topology(1, cpus), design="linux", costs=replace(HAND, base_slice_ns=slice_ns)
    )
    expected = {1: 750_000, 4: 2_250_000}[cpus] if slice_ns is None else slice_ns
    assert host.cpus[0].base_slice == expected
    host.add_busy_task("hog", (0,))
    sleeper = host.add_task("waker", "sleeper", (0,), lambda cpu: _sleep_once(cpu))

    def wake(_e: object) -> None:
        host.cpus[0].try_to_wake_up(sleeper)

    sim.call_later(500_000, wake)
    sim.run(5_000_000)
    waker = [e[::4] for e in events(host) if e[2] == "RUNSTATE_CHANGE" and e[3] == "waker"]
    assert waker[:2] == [(0, BLOCKED), (500_000, RUNNABLE)]
    # the first tick after the slice's end asks for a reschedule: the tick's 100 in the
    # handler, its exit, then schedule + switch 1100 before the waker runs
    tick = 3_000_000 if tick_after is None else tick_after
    running = waker[2][0]
    assert tick < running < tick + 100 + 160 + 1100 + 100


def _sleep_once(cpu: Any) -> Any:
    yield from cpu.work(10)
    return "blocked"


@pytest.mark.parametrize("design", ["linux", "linux-bh-wq", "linux-threaded"])
def test_linux_dma_runs_every_linux_design_and_keeps_the_invariants(design: str) -> None:
    r = ts.run("linux-dma", design=design, seed=1, duration_ms=5, params={"channels": 4})
    assert r.trace.meta.design == design
    kinds = set(r.trace.kind.tolist())
    assert {int(K.TASKLET_ENTRY), int(K.TASKLET_EXIT), int(K.LOCK_ACQUIRE)} <= kinds


def test_designs_run_only_on_their_hosts() -> None:
    with pytest.raises(ConfigError, match="linux host"):
        ts.run("linux-dma", design="xen-4.4-global", duration_ms=1)
    with pytest.raises(ConfigError, match="xen host"):
        ts.run("small-2socket", design="linux-bh-wq", duration_ms=1)
    assert ts.scenario_designs(ts.get_scenario("linux-dma")) == [
        "linux",
        "linux-bh-wq",
        "linux-threaded",
    ]
    assert "linux-bh-wq" not in ts.scenario_designs(ts.get_scenario("small-2socket"))


def test_cpu_times_of_the_ksoftirqd_hand_over() -> None:
    """The first sequence's accounting (window 0-20 us): one hard IRQ (1000-1177);
    ten softirq passes at interrupt exit (10 x 164 ns, CPU idle: no task pays), two
    in ``ksoftirqd/0`` (164 + 137 = 301 ns, its own time); one hand-over."""
    host = self_rescheduling_host()
    c = cpu_times(host.sim.trace.finish())
    assert c.window_ns == 20_000
    assert c.hardirq_ns == (177, 0, 0, 0)
    assert c.softirq_ns == (1640 + 301, 0, 0, 0)
    assert c.softirq_in_ksoftirqd_ns == 301
    assert c.task_softirq_ns == {"ksoftirqd/0": 301} and c.task_irq_ns == {}
    assert c.ksoftirqd_wakeups == 1
    assert c.softirq_pct == pytest.approx(100 * 1941 / 80_000)


def test_cpu_times_charge_a_running_task_with_what_interrupts_it() -> None:
    """A hog runs on CPU 1 from 1100 (``__schedule`` 1100 ns). A device interrupts it at
    5000: hard IRQ to 5177 (entry 100, ``tasklet_schedule`` 27, exit 50), then the
    tasklet's softirq at interrupt exit to 5314 (10 + 20 + 7 + 100): both taken from
    the hog, as ``CONFIG_IRQ_TIME_ACCOUNTING`` takes them from its runtime."""
    host = linux_tiny("linux")
    host.add_busy_task("hog", (1,))
    t = host.design.tasklet_init("short", working(100))
    device(host, "dev1", 1, 5000, t)
    host.sim.run(20_000)
    trace = host.sim.trace.finish()
    c = cpu_times(trace)
    assert c.hardirq_ns == (0, 177, 0, 0) and c.softirq_ns == (0, 137, 0, 0)
    assert c.task_irq_ns == {"hog": 177} and c.task_softirq_ns == {"hog": 137}
    assert c.ksoftirqd_wakeups == 0
    half = cpu_times(trace, 5100, 5200)  # clipped to the window
    assert half.hardirq_ns == (0, 77, 0, 0) and half.softirq_ns == (0, 23, 0, 0)


@pytest.mark.parametrize("design", ["linux", "linux-bh-wq", "linux-threaded"])
def test_linux_host_online_equals_trace_based(design: str) -> None:
    kw: dict[str, Any] = {
        "design": design,
        "seed": 2,
        "duration_ms": 4,
        "warmup_ms": 1,
        "params": {"channels": 8, "hogs": 8},
    }
    full = ts.run("linux-dma", **kw)
    lean = ts.run("linux-dma", metrics_only=True, **kw)
    by_trace = measure(full.trace, full.warmup_ns, full.duration_ns)
    online = lean.measured()
    assert by_trace.cpu is not None and sum(by_trace.cpu.hardirq_ns) > 0
    assert online.same_as(by_trace)
    assert not replace(online, cpu=replace(by_trace.cpu, ksoftirqd_wakeups=-1)).same_as(by_trace)
    assert measure(ts.run("small-2socket", duration_ms=1).trace).cpu is None


def test_an_rx_queue_holds_packets_while_masked_and_polls_them_in_one_batch() -> None:
    """One RX queue on CPU 0, its reader on CPU 1; packets at 1000 and 1500.

    1000 the MSI: entry (100), the handler (300) masks the queue at 1400 and
    schedules ``rx_poll`` (1407, raised 1427); exit 1477. The packet at 1500 finds
    the queue masked: held in the ring (``IRQ_COALESCE``, device level), no MSI.
    ``rx_poll`` is claimed at 1514 and takes both packets (2 x 600: 2714), queues
    them on the socket under its lock (2721-2821), wakes the reader (100: runnable
    at 2921; the reschedule IPI reaches CPU 1 at 3421, taken 3421-3571; switch
    1100: running at 4671). The reader takes the socket's queue (the lock's line
    from CPU 0: 4773-4873) and works 2 x 1500 to 7873, then sleeps.
    """
    host = linux_tiny("linux")
    queue = RxQueue(host, "rx0", 0, NicCosts(), (1,))
    queue.start(Replay((1000, 1500)))
    host.sim.run(20_000)
    shown = [e for e in events(host) if not e[3].startswith("ksoftirqd")]
    assert [e for e in shown if e[2] in ("IRQ_RAISE", "IRQ_COALESCE") and e[3] == "rx0:msix"] == [
        (1000, 0, "IRQ_RAISE", "rx0:msix", 0),
        (1500, 0, "IRQ_COALESCE", "rx0:msix", COALESCE_DEVICE),
    ]
    assert [e[0] for e in shown if e[3] == "rx0:rx_poll"] == [1407, 1514, 2921]
    assert [e[::4] for e in shown if e[3] == "rx0:reader"] == [
        (0, BLOCKED),
        (2921, RUNNABLE),
        (4671, RUNNING),
        (7873, BLOCKED),
    ]
    locks = [e[:2] for e in shown if e[2] == "LOCK_ACQUIRE"]
    assert locks == [(2721, 0), (4773, 1)]
    assert not queue.masked and queue.ring == 0 and queue.backlog == 0


def test_concentrating_the_queues_interrupts_defers_to_ksoftirqd() -> None:
    """All 16 queues' vectors on CPU 0 (800k packets/s): its softirqs exceed
    ``__do_softirq``'s budget, ``ksoftirqd/0`` runs a share of them, and the bottom
    half starts ten times later than with the vectors spread."""
    out = {}
    for affinity in ("spread", "concentrated"):
        r = ts.run(
            "linux-nic-affinity",
            design="linux",
            seed=1,
            duration_ms=10,
            warmup_ms=2,
            params={"irq_affinity": affinity},
        )
        m = r.measured()
        assert m.cpu is not None
        tasklet = m.latency_by_kind()["device"]["tasklet"]
        out[affinity] = (tasklet.p50_ns, m.cpu.ksoftirqd_softirq_pct)
    assert out["concentrated"][0] > 10 * out["spread"][0]
    assert out["concentrated"][1] > 5.0


class _SilentBhWorkqueue(LinuxBhWorkqueue):
    """``linux-bh-wq`` that never says where a work item is claimed (no TASKLET_ENTRY)."""

    name = "linux-bh-wq-silent"

    def process_one_work(self, cpu: Any, pool: Any, work: ts.Tasklet) -> Any:
        pool.current = work
        work.state &= ~1
        yield from cpu.spin_unlock_irq(pool.lock)
        yield from work.func(cpu)
        self._trace.tasklet_exit(cpu.id, work.id)
        yield from cpu.spin_lock_irq(pool.lock)
        pool.current = None


def test_check_design_runs_the_linux_hosts_steps_and_catches_a_missing_claim() -> None:
    for design in ("linux", "linux-bh-wq", "linux-threaded"):
        check_design(design)
    with pytest.raises(DesignCheckError, match=r"linux host: one device interrupt.*TASKLET_ENTRY"):
        check_design(_SilentBhWorkqueue)  # type: ignore[arg-type]
    DESIGNS.unregister("linux-bh-wq-silent")


def test_a_linux_runs_report_accounts_cpu_time_instead_of_xenlockprof() -> None:
    linux = format_run(ts.run("linux-dma", duration_ms=2, params={"channels": 2}))
    assert "cpu time (/proc/stat, CONFIG_IRQ_TIME_ACCOUNTING):" in linux
    assert "xenlockprof" not in linux and "hv % of run" not in linux
    assert "task runstates (runnable: run-queue delay):" in linux
    xen = format_run(ts.run("small-2socket", duration_ms=2))
    assert "xenlockprof:" in xen and "cpu time" not in xen and "hv % of run" in xen


@st.composite
def linux_runs(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A small Linux host of either scenario, its load and costs drawn."""
    scenario = draw(st.sampled_from(["linux-dma", "linux-nic-affinity"]))
    params: dict[str, Any] = {
        "sockets": draw(st.integers(1, 2)),
        "cores_per_socket": draw(st.integers(1, 4)),
        "lock": draw(st.sampled_from(["ttas", "ticket", "mcs"])),
        "hz": draw(st.sampled_from([100, 250, 1000])),
        "base_slice_ns": draw(st.integers(100_000, 3_000_000)),
        "context_switch_ns": draw(st.integers(0, 3000)),
        "wakeup_ns": draw(st.integers(0, 2000)),
    }
    cpus = params["sockets"] * params["cores_per_socket"]
    params["hogs"] = draw(st.integers(0, cpus))
    if scenario == "linux-dma":
        params["channels"] = draw(st.integers(1, 2 * cpus))
        params["threads_per_chan"] = draw(st.integers(1, 3))
        params["irq_affinity"] = draw(st.sampled_from(["spread", "single"]))
        params["xfer_ns"] = draw(st.floats(500, 50_000))
    else:
        params["queues"] = draw(st.integers(1, 2 * cpus))
        params["irq_affinity"] = draw(st.sampled_from(["spread", "concentrated"]))
        params["pps_per_queue"] = draw(st.floats(1000, 400_000))
        params["budget"] = draw(st.integers(1, 64))
    return scenario, params


@pytest.mark.parametrize("design", ["linux", "linux-bh-wq", "linux-threaded"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=linux_runs(), seed=st.integers(0, 2**32))
def test_random_linux_hosts_keep_the_invariants(
    design: str, case: tuple[str, dict[str, Any]], seed: int
) -> None:
    """Every invariant of a trace (tasks' runstates adding up to the window among them),
    every deferred work run after it was scheduled, and the accounting within the CPU
    time there was, on any small host, load and costs."""
    scenario, params = case
    r = ts.run(scenario, design=design, seed=seed, duration_ms=3, params=params)  # checks
    m = r.measured()
    assert m.cpu is not None
    assert all(
        0 <= h + s <= m.cpu.window_ns
        for h, s in zip(m.cpu.hardirq_ns, m.cpu.softirq_ns, strict=True)
    )
    for name, t in m.vcpus.items():
        taken = m.cpu.task_irq_ns.get(name, 0) + m.cpu.task_softirq_ns.get(name, 0)
        assert taken <= t.running_ns, name


def test_interrupt_moderation_holds_the_msi_to_the_end_of_its_interval() -> None:
    """ITR 5 us on one RX queue: the packet at 1000 raises the MSI; its batch is polled
    and the queue unmasked by 2921. The packet at 4000 comes 3 us after that MSI: its
    MSI waits for the interval's end, 6000. The packet at 4500 finds one pending: held.
    With ITR 1 us, the packet at 1200 (the handler has not masked the queue yet) waits
    for 2000, but the bottom half, claimed at 1514, takes it first: held then."""
    host = linux_tiny("linux")
    queue = RxQueue(host, "rx0", 0, NicCosts(), (1,), itr_ns=5000)
    queue.start(Replay((1000, 4000, 4500)))
    host.sim.run(20_000)
    msix = [e[:3] for e in events(host) if e[3] == "rx0:msix" and e[2] != "IRQ_EXIT"]
    assert msix == [
        (1000, 0, "IRQ_RAISE"),
        (1000, 0, "IRQ_ENTRY"),
        (4500, 0, "IRQ_COALESCE"),
        (6000, 0, "IRQ_RAISE"),
        (6000, 0, "IRQ_ENTRY"),
    ]
    host = linux_tiny("linux")
    queue = RxQueue(host, "rx0", 0, NicCosts(), (1,), itr_ns=1000)
    queue.start(Replay((1000, 1200, 1500)))
    host.sim.run(20_000)
    msix = [e[:3] for e in events(host) if e[3] == "rx0:msix" and e[2] != "IRQ_EXIT"]
    assert msix == [
        (1000, 0, "IRQ_RAISE"),
        (1000, 0, "IRQ_ENTRY"),
        (1500, 0, "IRQ_COALESCE"),
        (2000, 0, "IRQ_COALESCE"),
    ]
    arrived = ts.metrics.irq_counts(host.sim.trace.finish(), kinds=("device",))["rx0:msix"]
    assert arrived.arrived == 3


def test_bursty_packets_offer_their_duty_cycle_and_arrive_at_it() -> None:
    """Bursts of 100 us at 50k packets/s with 300 us between them, on 4 queues. ``OnOff``
    opens each burst with a packet and begins the gap at the first packet due after the
    burst (1/rate = 20 us later on average): per queue (5 + 1) packets every 420 us,
    57,143/s offered on the four; arrived within 5% over 200 ms."""
    r = ts.run(
        "linux-nic-affinity",
        design="linux",
        seed=3,
        duration_ms=200,
        params={"arrivals": "onoff", "queues": 4, "burst_on_us": 100, "burst_off_us": 300},
    )
    assert r.info["offered_irq_per_s"] == pytest.approx(4 * 6 / 420e-6)
    counts = ts.metrics.irq_counts(r.trace, kinds=("device",))
    arrived = sum(c.arrived for c in counts.values()) / 0.2
    assert arrived == pytest.approx(r.info["offered_irq_per_s"], rel=0.05)


def test_fit_writes_a_linux_scenarios_own_file_and_report_accounts_it(tmp_path: Path) -> None:
    saved = tmp_path / "linux.parquet"
    ts.run("linux-dma", duration_ms=2, params={"channels": 2}).trace.save(saved)
    out = tmp_path / "fitted.toml"
    done = taskletsim_cli("fit", str(saved), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "scenario linux-dma, fitted" in done.stdout and "channels: 2 | 2" in done.stdout
    assert 'scenario = "linux-dma"' in out.read_text()
    sched = tmp_path / "sched.parquet"
    ts.import_ftrace(DATA / "capture-sched-perf-script.txt").save(sched)
    report = taskletsim_cli("report", str(sched))
    assert report.returncode == 0, report.stderr
    assert "cpu time: hardirq 0.80%, softirq 2.57% (22.0% of it in ksoftirqd" in report.stdout
    assert report.stdout.splitlines()[1].startswith("task ")
    assert "not in this capture: runstates" not in report.stdout
    plain = tmp_path / "plain.parquet"
    ts.import_ftrace(DATA / "capture-perf-script.txt").save(plain)
    old = taskletsim_cli("report", str(plain))
    assert "not in this capture: runstates (needs RUNSTATE_CHANGE)" in old.stdout
