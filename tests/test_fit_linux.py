"""Fitting a bare-metal Linux host's trace: a built-in scenario's run fitted as that
scenario's own parameters (and the loop closed on it), a host file's run fitted as devices
and tasks (their parameters recovered), the Linux host file, and the refusals."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import numpy as np
import pytest
import tomli_w

import taskletsim as ts
from taskletsim.core.config import ConfigError, parse_cost
from taskletsim.core.sim import Simulation
from taskletsim.fit.host import fit_host
from taskletsim.fit.linux import cost_of, kernel_hz_of
from taskletsim.fitted_host import host_document
from taskletsim.platform.costs import CostDraw
from taskletsim.runner.stats import Estimate
from taskletsim.scenarios.host.toml import dump_scenario, load_scenario
from taskletsim.validation import as_recorded, validate

from .helpers import differing

DATA = Path(__file__).parent / "data" / "ftrace"

LINUX_LOOPS = [
    ("linux-dma", "linux", 100),
    ("linux-dma", "linux-bh-wq", 100),
    ("linux-dma", "linux-threaded", 100),
    ("linux-nic-affinity", "linux", 100),
    ("linux-nic-affinity", "linux-bh-wq", 100),
    ("linux-nic-affinity", "linux-threaded", 100),
]


@functools.cache
def scenario_run(scenario: str, design: str, fit_ms: int) -> ts.Trace:
    """The run a loop fits (shared by the tests that fit it)."""
    return ts.run(scenario, design=design, seed=1, duration_ms=fit_ms).trace


@functools.cache
def first_figures(scenario: str, design: str) -> dict[str, Estimate]:
    """The figures of the scenario itself, 5 seeds x 10 ms."""
    return ts.compare(ts.RunSpec(scenario, duration_ms=10), [design], range(1, 6)).estimates[design]


def fitted_file(trace: ts.Trace, design: str, path: Path) -> Path:
    path.write_text(tomli_w.dumps(host_document(trace, fit_host(trace), design, "fitted")))
    return path


@pytest.mark.parametrize("scenario, design, fit_ms", LINUX_LOOPS)
def test_a_linux_scenarios_fitted_parameters_give_its_figures_again(
    tmp_path: Path, scenario: str, design: str, fit_ms: int
) -> None:
    """simulate -> fit -> simulate: every figure of ``compare`` the same within the CI of
    the difference (5 seeds x 10 ms each), the fitted parameters the run's (the DMA
    transfer time and the packet rate within 2%)."""
    trace = scenario_run(scenario, design, fit_ms)
    fitted = fit_host(trace)
    assert fitted["scenario"] == scenario
    for key, pair in fitted["fit"].items():
        if key in ("xfer_ns", "pps_per_queue"):
            assert abs(pair["fitted"] / pair["run"] - 1) < 0.02, key
        else:
            assert pair["fitted"] == pair["run"], key
    host = fitted_file(trace, design, tmp_path / "fitted.toml")
    again = ts.compare(ts.RunSpec(str(host), duration_ms=10), [design], range(1, 6))
    a, b = first_figures(scenario, design), again.estimates[design]
    assert set(a) == set(b)
    assert not differing(a, b)


def test_the_loop_tells_a_wrong_transfer_time(tmp_path: Path) -> None:
    """The same check finds a fitted host whose transfer time is 5% off."""
    trace = scenario_run("linux-dma", "linux", 100)
    doc = host_document(trace, fit_host(trace), "linux", "fitted")
    doc["params"]["xfer_ns"] *= 1.05
    host = tmp_path / "wrong.toml"
    host.write_text(tomli_w.dumps(doc))
    again = ts.compare(ts.RunSpec(str(host), duration_ms=10), ["linux"], range(1, 6))
    names = [d[0] for d in differing(first_figures("linux-dma", "linux"), again.estimates["linux"])]
    assert "arrived_irq_per_s" in names


HOST_FILE = """
schema = 1
design = "linux"
duration_ms = 2000
[host]
kind = "linux"
sockets = 1
cores_per_socket = 2
[[devices]]
name = "nvme0q1"
cpu = 1
rate_per_s = 20000.0
handler_ns = "lognormal:2100:0.4"
bh_ns = "exp:5000"
[[tasks]]
name = "worker"
cpus = [0, 1]
workload = "sleeper"
run_us = 50.0
block_us = 150.0
woken_by = "task"
[[tasks]]
name = "ticker"
cpus = [1]
workload = "sleeper"
run_us = 20.0
block_us = 80.0
[[tasks]]
name = "hog"
cpus = [0]
"""


@pytest.fixture(scope="module")
def host_file_run(tmp_path_factory: pytest.TempPathFactory) -> ts.Trace:
    path = tmp_path_factory.mktemp("linux") / "mine.toml"
    path.write_text(HOST_FILE)
    return ts.run(str(path), seed=1).trace


def test_a_linux_host_files_run_is_fitted_as_its_devices_and_tasks(
    host_file_run: ts.Trace,
) -> None:
    """The devices' rate and handler and bottom-half means, the tasks' bursts and sleeps
    within 2% of the file's (2 s); the vector's CPU, the families, what wakes each task."""
    fitted = fit_host(host_file_run)
    assert fitted["host"] == {
        "kind": "linux", "sockets": 1, "cores_per_socket": 2, "threads_per_core": 1,
    }  # fmt: skip
    (device,) = fitted["devices"]
    assert device["name"] == "nvme0q1" and device["cpu"] == 1
    assert device["process"] == "poisson"
    assert device["rate_per_s"] == pytest.approx(20_000, rel=0.02)
    family, mean, cv = device["handler_ns"].split(":")
    assert family == "lognormal" and float(mean) == pytest.approx(2100, rel=0.02)
    assert float(cv) == pytest.approx(0.4, rel=0.05)
    family, mean = device["bh_ns"].split(":")
    assert family == "exp" and float(mean) == pytest.approx(5000, rel=0.02)
    assert fitted["fit"]["nvme0q1"]["bottom_half"]["from"] == "tasklet nvme0q1:bh"
    tasks = {t["name"]: t for t in fitted["tasks"]}
    assert set(tasks) == {"worker", "ticker", "hog"}  # not ksoftirqd
    assert tasks["hog"] == {"name": "hog", "cpus": [0], "workload": "busy"}
    assert tasks["worker"]["woken_by"] == "task" and tasks["ticker"]["woken_by"] == "timer"
    assert tasks["ticker"]["cpus"] == [1]
    for name, run_us, block_us in (("worker", 50, 150), ("ticker", 20, 80)):
        assert tasks[name]["run_us"] == pytest.approx(run_us, rel=0.02), name
        assert tasks[name]["block_us"] == pytest.approx(block_us, rel=0.02), name


def test_a_fitted_linux_host_file_gives_the_runs_figures_again(
    tmp_path: Path, host_file_run: ts.Trace
) -> None:
    """The fitted file (open loops, as the file was) gives every ``compare`` figure again
    within the CI of the difference (5 seeds x 200 ms)."""
    path = tmp_path / "mine.toml"
    path.write_text(HOST_FILE)
    host = fitted_file(host_file_run, "linux", tmp_path / "fitted.toml")
    first = ts.compare(ts.RunSpec(str(path), duration_ms=200), ["linux"], range(1, 6))
    again = ts.compare(ts.RunSpec(str(host), duration_ms=200), ["linux"], range(1, 6))
    a, b = first.estimates["linux"], again.estimates["linux"]
    assert set(a) == set(b)
    assert not differing(a, b)


def test_interrupts_no_family_describes_are_replayed(tmp_path: Path) -> None:
    """Triplets 1 us apart every ms: every family rejected, the times replayed, and the
    fitted host raises them at the same times."""
    times = [t * 1000.0 + k for t in range(100) for k in range(3)]
    path = tmp_path / "triplets.toml"
    path.write_text(
        "schema = 1\nduration_ms = 100\n[host]\nkind = 'linux'\nsockets = 1\n"
        "cores_per_socket = 2\n[[devices]]\nname = 'd'\ncpu = 0\nprocess = 'replay'\n"
        f"times_us = {times}\nhandler_ns = 100\n"
    )
    trace = ts.run(str(path)).trace
    fitted = fit_host(trace)
    (device,) = fitted["devices"]
    assert fitted["fit"]["d"]["replayed"] and device["process"] == "replay"
    assert device["times_us"] == times
    again = ts.run(str(fitted_file(trace, "linux", tmp_path / "fitted.toml"))).trace
    raised = again.rows(ts.EventKind.IRQ_RAISE)
    device_rows = raised[again.subject[raised] == again.names.ident("irq", "d")]
    assert (again.time_ns[device_rows] / 1000).tolist() == times


@pytest.mark.parametrize(
    "change, where, allowed",
    [
        ("kind = 'linux'", "kind = 'bsd'", "linux (or no kind: a Xen host)"),
        ("handler_ns = 'lognormal:2100:0.4'\n", "", "devices[0].handler_ns"),
        ("handler_ns = 'lognormal:2100:0.4'", "handler_ns = 'gamma:3'", "exp:MEAN"),
        ("rate_per_s = 20000.0", "process = 'onoff'\nrate_per_s = 1.0", "devices[0].on_us"),
        ("rate_per_s = 20000.0", "process = 'replay'", "devices[0].times_us"),
        ("cpu = 1", "cpu = 2", "a pCPU number, 0 to 1"),
        ("name = 'hog'", "name = 'ticker'", "a name no other one has"),
        ("woken_by = 'task'", "woken_by = 'ipi'", "one of timer, task"),
        ("[[tasks]]\nname = 'hog'\ncpus = [0]\n", "[params]\nsockets = 2\n", "params.sockets"),
    ],
)
def test_a_bad_linux_host_file_names_the_key(
    tmp_path: Path, change: str, where: str, allowed: str
) -> None:
    assert_refused(tmp_path, HOST_FILE, change, where, allowed)


def assert_refused(tmp_path: Path, good: str, change: str, where: str, allowed: str) -> None:
    """``good`` with ``change`` made ``where`` (single quotes) is refused: ``allowed``."""
    text = good.replace('"', "'")
    assert change in text
    path = tmp_path / "bad.toml"
    path.write_text(text.replace(change, where, 1))
    with pytest.raises(ConfigError, match=re.escape(allowed)):
        load_scenario(path)


def test_a_linux_host_file_runs_linux_designs_only(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(HOST_FILE)
    for design in ("linux-bh-wq", "linux-threaded"):
        assert ts.run(str(path), design=design, duration_ms=5).trace.meta.design == design
    with pytest.raises(ConfigError, match="runs on scenario mine's linux host"):
        ts.run(str(path), design="xen-4.4-global", duration_ms=5)


def test_validate_sets_a_linux_run_beside_its_fitted_host(host_file_run: ts.Trace) -> None:
    """The figures a Linux trace gives, per device and softirq and from the accounting;
    the fitted host's device rate within its CI, its handler's mean within 1% (the fit
    counts the design's ``test_and_set_bit`` before ``TASKLET_SCHEDULE`` as the
    handler's, and the model then adds it again)."""
    v = validate(host_file_run, seeds=3)
    rows = {r.metric: r for r in v.rows}
    for name in (
        "irq.nvme0q1.per_s", "irq.nvme0q1.mean_ns", "softirq.TASKLET.per_s",
        "cpu.hardirq_pct", "cpu.softirq_pct", "task.steal_pct",
    ):  # fmt: skip
        assert name in rows, name
    assert not rows["irq.nvme0q1.per_s"].outside
    handler = rows["irq.nvme0q1.mean_ns"]
    assert handler.simulated.mean == pytest.approx(handler.measured, rel=0.01)
    assert v.host["host"]["kind"] == "linux"  # type: ignore[index]


def test_validate_on_the_kept_capture_and_what_it_records(tmp_path: Path) -> None:
    """The 10 ms capture with the scheduler: its device's 36 interrupts fit no family
    (Poisson's KS p 0.0002) and are replayed; its tasks fitted, not the kernel's threads;
    the model measured as the capture was (no latency or lock figure: it has neither
    IRQ_RAISE nor LOCK_RELEASE)."""
    capture = ts.import_ftrace(DATA / "capture-sched-perf-script.txt")
    fitted = fit_host(capture)
    (device,) = fitted["devices"]
    assert device["process"] == "replay" and len(device["times_us"]) == 36
    assert fitted["fit"][device["name"]]["bottom_half"]["from"] == "softirq BLOCK"
    assert {t["name"] for t in fitted["tasks"]} >= {"python3-10249", "perf-10259"}
    assert not any(t["name"].startswith(("ksoftirqd", "kworker")) for t in fitted["tasks"])
    v = validate(capture, seeds=2)
    rows = {r.metric for r in v.rows}
    assert {"cpu.hardirq_pct", "task.steal_pct", "ksoftirqd_wakeups_per_s"} <= rows
    assert not any(r.startswith("latency.") or r.startswith("lock.") for r in rows)


def test_show_spells_a_linux_host_file_out_and_it_runs_the_same(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(HOST_FILE)
    shown = tmp_path / "shown.toml"
    shown.write_text(dump_scenario(load_scenario(path)))
    assert 'kind = "linux"' in shown.read_text() and "scenario =" not in shown.read_text()
    first = ts.run(str(path), seed=2, duration_ms=5).trace
    assert ts.run(str(shown), seed=2, duration_ms=5).trace.digest() == first.digest()


def test_the_hand_written_scheduler_lines_give_their_tasks() -> None:
    """reader-200 runs 4 us, sleeps 6 us (woken by a task, not in a timer interrupt) on
    CPU 1; perf-100 never sleeps: a busy task on CPU 0; no device interrupts enough."""
    fitted = fit_host(ts.import_ftrace(DATA / "hand-sched-perf-script.txt"))
    assert fitted["devices"] == []
    assert fitted["tasks"] == [
        {"name": "reader-200", "cpus": [1], "workload": "sleeper", "run_us": 4.0,
         "block_us": 6.001, "woken_by": "task"},
        {"name": "perf-100", "cpus": [0], "workload": "busy"},
    ]  # fmt: skip


SENDER = """
schema = 1
design = "linux"
duration_ms = 2000
[host]
kind = "linux"
sockets = 1
cores_per_socket = 2
[[tasks]]
name = "sender"
cpus = [0, 1]
workload = "sleeper"
run_us = 20.0
block_us = 80.0
woken_by = "task"
raises = {NET_RX = 1.5}
[[softirqs]]
name = "NET_RX"
run_ns = "lognormal:1900:0.6"
"""


def test_a_softirq_raised_by_a_task_runs_at_its_bh_enable(tmp_path: Path) -> None:
    """Hand-worked, a constant action: where the first burst ends, the raise and the
    softirq's entry at once (BH enabled again: ``do_softirq`` in the task's context), 40
    ns of dispatch and 1,900 of the action, its exit; ``do_softirq`` restores the IRQ
    flags (``irq_save_restore_ns``, 10) and the task blocks."""
    path = tmp_path / "one.toml"
    path.write_text(SENDER.replace("lognormal:1900:0.6", "1900").replace("1.5", "1.0"))
    trace = ts.run(str(path), duration_ms=1, params={"hz": 100}).trace
    kinds = {ts.EventKind.SOFTIRQ_RAISE, ts.EventKind.SOFTIRQ_ENTRY, ts.EventKind.SOFTIRQ_EXIT}
    rows = [r for r in range(len(trace)) if trace.kind[r] in kinds]
    assert len(rows) >= 3
    raised, entered, left = (int(trace.time_ns[r]) for r in rows[:3])
    assert entered == raised and left == raised + 40 + 1900
    assert [ts.EventKind(int(trace.kind[r])).name for r in rows[:3]] == [
        "SOFTIRQ_RAISE", "SOFTIRQ_ENTRY", "SOFTIRQ_EXIT",
    ]  # fmt: skip
    sender = trace.names.ident("vcpu", "sender")
    after = [
        r for r in range(rows[2], len(trace))
        if trace.kind[r] == ts.EventKind.RUNSTATE_CHANGE and trace.subject[r] == sender
    ]  # fmt: skip
    assert trace.time_ns[after[0]] == left + 10 and trace.arg[after[0]] == 2  # it sleeps


def test_a_tasks_softirqs_are_fitted_back(tmp_path: Path) -> None:
    """2 s: 1.5 raises per burst (carried whole, the rest owed: exact), the softirq's run
    within 2% of 1,900 ns (the host's 40 ns dispatch taken off), run in the task's
    context (no ksoftirqd); the fitted file's figures the same within the difference's CI."""
    path = tmp_path / "sender.toml"
    path.write_text(SENDER)
    trace = ts.run(str(path), seed=1).trace
    fitted = fit_host(trace)
    (task,) = fitted["tasks"]
    assert task["raises"] == {"NET_RX": 1.5}
    (softirq,) = fitted["softirqs"]
    family, mean, _cv = softirq["run_ns"].split(":")
    assert softirq["name"] == "NET_RX" and family == "lognormal"
    assert float(mean) == pytest.approx(1900, rel=0.02)
    times = ts.metrics.cpu_times(trace)
    assert times.softirq_in_ksoftirqd_ns == 0 and times.task_softirq_ns["sender"] > 0
    host = fitted_file(trace, "linux", tmp_path / "fitted.toml")
    first = ts.compare(ts.RunSpec(str(path), duration_ms=200), ["linux"], range(1, 6))
    again = ts.compare(ts.RunSpec(str(host), duration_ms=200), ["linux"], range(1, 6))
    assert not differing(first.estimates["linux"], again.estimates["linux"])


@pytest.mark.parametrize(
    "change, where, allowed",
    [
        (
            "[[softirqs]]\nname = 'NET_RX'\nrun_ns = 'lognormal:1900:0.6'\n",
            "",
            "tasks[0].raises.NET_RX: 'NET_RX' is not allowed; expected a softirq with a",
        ),
        ("name = 'NET_RX'", "name = 'FOO'", "expected a Linux softirq: HI, TIMER"),
        ("raises = {NET_RX = 1.5}", "raises = {NET_RX = -1}", "tasks[0].raises.NET_RX"),
    ],
)
def test_a_bad_softirq_names_the_key(tmp_path: Path, change: str, where: str, allowed: str) -> None:
    assert_refused(tmp_path, SENDER, change, where, allowed)


def test_a_softirq_the_design_runs_is_refused_at_build(tmp_path: Path) -> None:
    path = tmp_path / "tasklet.toml"
    path.write_text(SENDER.replace('"NET_RX"', '"TASKLET"').replace("NET_RX =", "TASKLET ="))
    with pytest.raises(ConfigError, match="softirq: 'TASKLET_SOFTIRQ' is not allowed"):
        ts.run(str(path), duration_ms=1)


def test_durations_no_family_describes_are_kept_as_they_are() -> None:
    """Two kinds of run (1 us and 5 us, 1:1): exponential and lognormal both rejected,
    so the cost is the measured distribution (100 quantiles, mid-percentile; its draws
    give the same quantiles back); a lognormal sample stays a lognormal."""
    rng = np.random.default_rng(3)
    two = np.concatenate([rng.normal(1000, 50, 5000), rng.normal(5000, 200, 5000)])
    cost = cost_of(two)
    assert isinstance(cost, str) and cost.startswith("empirical:")
    points = [float(x) for x in cost.split(":")[1:]]
    assert len(points) == 100 and points[0] == pytest.approx(np.quantile(two, 0.005), rel=1e-5)
    assert points[-1] == pytest.approx(np.quantile(two, 0.995), rel=1e-5)
    draw = CostDraw(Simulation(1), "d", parse_cost("d", cost))
    drawn = np.array([draw() for _ in range(20_000)], dtype=float)
    for q in (0.1, 0.25, 0.75, 0.9):  # (not in the gap between the two kinds)
        assert np.quantile(drawn, q) == pytest.approx(np.quantile(two, q), rel=0.03)
    one = rng.lognormal(np.log(2000), 0.4, 5000)
    assert str(cost_of(one)).startswith("lognormal:")


def test_the_model_is_measured_as_a_capture_sees_it() -> None:
    """A capture's sources are devices and the local timer: the simulated IPIs' entries
    and exits go (their time stays the interrupted task's), nothing else does; a trace
    whose kinds are all seen is left as it is."""
    trace = ts.run("linux-dma", duration_ms=2, params={"channels": 2, "hogs": 2}).trace
    ipis = [s for s, i in enumerate(trace.meta.irq) if i.kind == "ipi"]
    irq_rows = np.isin(trace.kind, [int(ts.EventKind.IRQ_ENTRY), int(ts.EventKind.IRQ_EXIT)])
    assert (irq_rows & np.isin(trace.subject, ipis)).sum() > 0
    seen = as_recorded(trace, {"device", "timer"})
    dropped = irq_rows & np.isin(trace.subject, ipis)
    assert len(seen) == len(trace) - int(
        (np.isin(trace.kind, [int(k) for k in (ts.EventKind.IRQ_RAISE, ts.EventKind.IRQ_ENTRY,
                                               ts.EventKind.IRQ_EXIT, ts.EventKind.IRQ_COALESCE)])
         & np.isin(trace.subject, ipis)).sum()
    )  # fmt: skip
    assert (
        dropped.sum() > 0
        and not (
            np.isin(seen.kind, [int(ts.EventKind.IRQ_ENTRY)]) & np.isin(seen.subject, ipis)
        ).any()
    )
    assert as_recorded(trace, {"device", "timer", "ipi"}) is trace


RCU_LIKE = """
schema = 1
design = "linux"
duration_ms = 1000
[params]
hz = 250
[host]
kind = "linux"
sockets = 1
cores_per_socket = 2
[[tasks]]
name = "hog"
cpus = [0]
[[tasks]]
name = "worker"
cpus = [1]
workload = "sleeper"
run_us = 200.0
block_us = 100.0
woken_by = "task"
[[softirqs]]
name = "RCU"
run_ns = 3000
per_timer_irq = 0.5
reraise = 0.6
"""


def test_softirqs_raised_by_the_timer_and_by_their_own_runs(tmp_path: Path) -> None:
    """Each local timer interrupt raises RCU half the time, each of its runs raises it
    again 0.6 times (whole raises, the rest carried per CPU): its runs are the timer's
    raises over 1 - 0.6, and the fit reads back 0.5 and 0.6 (within 2%) and the HZ is
    not read from a simulation (it carries its own)."""
    path = tmp_path / "rcu.toml"
    path.write_text(RCU_LIKE)
    trace = ts.run(str(path), seed=1).trace
    timers = [k for k, i in enumerate(trace.meta.irq) if i.kind == "timer"]
    entries = trace.rows(ts.EventKind.IRQ_ENTRY)
    ticks = int(np.isin(trace.subject[entries], timers).sum())
    runs = trace.rows(ts.EventKind.SOFTIRQ_ENTRY)
    rcu = int((trace.subject[runs] == trace.meta.softirqs.index("RCU_SOFTIRQ")).sum())
    assert ticks > 300 and rcu == pytest.approx(0.5 * ticks / (1 - 0.6), rel=0.02)
    (softirq,) = fit_host(trace)["softirqs"]
    assert softirq["name"] == "RCU" and softirq["run_ns"] == 3000
    assert softirq["per_timer_irq"] == pytest.approx(0.5, rel=0.02)
    assert softirq["reraise"] == pytest.approx(0.6, rel=0.02)
    assert "params" not in fit_host(trace)  # a simulation's HZ is its own parameter
    bad = tmp_path / "never.toml"
    bad.write_text(RCU_LIKE.replace("reraise = 0.6", "reraise = 1.0"))
    with pytest.raises(ConfigError, match=re.escape("reraise: 1.0 is not allowed; expected a")):
        load_scenario(bad)


def test_a_captures_hz_is_the_tick_period_most_timer_gaps_have() -> None:
    """The kept 10 ms: three of five gaps between a CPU's timer interrupts are 4 ms (HZ
    250; the others hrtimers between ticks); the hand-written lines have one timer
    interrupt: no HZ."""
    kept = ts.import_ftrace(DATA / "capture-sched-perf-script.txt")
    assert kernel_hz_of(kept) == 250 and fit_host(kept)["params"] == {"hz": 250}
    assert kernel_hz_of(ts.import_ftrace(DATA / "hand-perf-script.txt")) is None
