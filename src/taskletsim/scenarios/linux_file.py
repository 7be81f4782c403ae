"""Linux host files: a bare-metal Linux host of your own, described as data.

A host file whose ``[host]`` has ``kind = "linux"`` describes CPUs, devices and
tasks (schema in docs/hosts.md; ``taskletsim fit`` writes one from a Linux
trace)::

    [host]
    kind = "linux"
    sockets = 1
    cores_per_socket = 2

    [[devices]]                 # an MSI-X vector and its driver's two halves
    name = "irq36:virtio1-req.0"
    cpu = 1                     # the vector's affinity
    process = "poisson"         # poisson | periodic | onoff (on_us, off_us) | replay
    rate_per_s = 2000.0         # replay: times_us = [...], each interrupt's time
    handler_ns = "lognormal:2100:0.4"   # a step cost: ns or a distribution
    bh_ns = "lognormal:9000:0.8"        # optional: the bottom half the design runs

    [[tasks]]
    name = "python3-10249"
    cpus = [0, 1]               # where it may run
    workload = "sleeper"        # busy | sleeper (run_us, block_us: mean burst, sleep)
    run_us = 900.0
    block_us = 300.0
    woken_by = "task"           # sleeper: timer (an hrtimer) | task (another CPU's work)
    raises = {NET_RX = 1.5}     # sleeper: softirqs it raises per burst, BH off (optional)

    [[softirqs]]                # a softirq tasks raise: each run of it takes run_ns
    name = "NET_RX"
    run_ns = "lognormal:1900:0.6"
    per_timer_irq = 0.0         # raised per local timer interrupt (the tick's SCHED, RCU)
    reraise = 0.0               # raised again per run of its own (RCU), below 1

``[params]`` sets any parameter of the Linux host (``taskletsim list``) or a
design option. Each device is a :class:`taskletsim.linux.irqdev.IrqDevice`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from ..core.config import ConfigError, Param, parse_cost
from ..core.sim import Simulation
from ..linux.irqdev import IrqDevice, SoftirqAction
from ..linux.machine import LINUX_SOFTIRQS
from ..platform.arrivals import Arrivals, OnOff, Periodic, Poisson, Replay
from .base import Scenario
from .host.spec import (
    PROCESSES,
    Where,
    _choice,
    _cpu,
    _cpus,
    _keys,
    _number,
    _table,
    host_size,
    toml_value,
)
from .host.toml import HOST_KINDS, TOP_KEYS, _check_builds, _options, _params, _top
from .linux_host import HOGS, LINUX_HOST_PARAMS, LinuxHostScenario

LINUX_HOST_KEYS = (*TOP_KEYS, "host", "params", "devices", "tasks", "softirqs")
"""The top-level keys of a Linux host file."""

WORKLOADS = ("busy", "sleeper")
"""Task workloads a Linux host file can name."""

WAKERS = ("timer", "task")
"""What wakes a sleeper: an hrtimer on its CPU, or another CPU's work."""

DEVICE_PROCESSES = (*PROCESSES, "replay")
"""A device's arrival processes: fitted ones, or its interrupts replayed at their times."""

TASK_CLASS = "task"
"""The class a host file's tasks have in the trace: a capture's for a user task
(:func:`taskletsim.capture.ftrace.task_class`), so that their figures meet."""


@dataclass(frozen=True)
class IrqDeviceSpec:
    """A device: its vector's ``cpu``, arrivals, handler and bottom-half costs."""

    name: str
    cpu: int
    process: str
    rate_per_s: float | None
    handler_ns: int | str
    bh_ns: int | str | None = None
    on_us: float | None = None
    off_us: float | None = None
    times_us: tuple[float, ...] | None = None

    KEYS: ClassVar[tuple[str, ...]] = (
        "name", "cpu", "process", "rate_per_s", "on_us", "off_us", "times_us", "handler_ns",
        "bh_ns",
    )  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.KEYS if getattr(self, k) is not None}
        if self.times_us is not None:
            out["times_us"] = list(self.times_us)
        return out

    def arrivals(self) -> Arrivals:
        """The arrival process the spec names."""
        if self.process == "replay":
            assert self.times_us is not None
            return Replay(tuple(round(t * 1000) for t in self.times_us))
        assert self.rate_per_s is not None
        if self.process == "periodic":
            return Periodic(max(round(1e9 / self.rate_per_s), 1))
        if self.process == "onoff":
            assert self.on_us is not None and self.off_us is not None
            return OnOff(self.rate_per_s, self.on_us * 1000, self.off_us * 1000)
        return Poisson(self.rate_per_s)

    @classmethod
    def from_dict(cls, data: object, ncpus: int, where: Where) -> IrqDeviceSpec:
        d = _table(data, where)
        _keys(d, cls.KEYS, where)
        process = _choice(d.get("process", "poisson"), DEVICE_PROCESSES, where / "process")
        replay = process == "replay"
        for key in ("name", "cpu", "times_us" if replay else "rate_per_s", "handler_ns"):
            if key not in d:
                raise (where / key).error(None, "a value (the key is required)")
        if not isinstance(d["name"], str) or not d["name"]:
            raise (where / "name").error(d["name"], "a non-empty string")
        if not replay and "times_us" in d:
            raise (where / "times_us").error("[...]", "no value unless process = replay")
        bursty = process == "onoff"
        for key in ("on_us", "off_us"):
            if bursty and key not in d:
                raise (where / key).error(None, "a number > 0 (process onoff needs it)")
            if not bursty and key in d:
                raise (where / key).error(d[key], "no value unless process = onoff")
        return cls(
            name=d["name"],
            cpu=_cpu(d["cpu"], ncpus, where / "cpu"),
            process=process,
            rate_per_s=_number(d["rate_per_s"], where / "rate_per_s")
            if "rate_per_s" in d
            else None,
            times_us=_times(d["times_us"], where / "times_us") if replay else None,
            handler_ns=_cost(d["handler_ns"], where / "handler_ns"),
            bh_ns=_cost(d["bh_ns"], where / "bh_ns") if "bh_ns" in d else None,
            on_us=_number(d["on_us"], where / "on_us") if bursty else None,
            off_us=_number(d["off_us"], where / "off_us") if bursty else None,
        )


@dataclass(frozen=True)
class TaskSpec:
    """A task: its ``cpus`` and its ``workload`` (a sleeper's mean burst and sleep)."""

    name: str
    cpus: tuple[int, ...]
    workload: str = "busy"
    run_us: float | None = None
    block_us: float | None = None
    woken_by: str | None = None
    raises: tuple[tuple[str, float], ...] = ()

    KEYS: ClassVar[tuple[str, ...]] = (
        "name", "cpus", "workload", "run_us", "block_us", "woken_by", "raises",
    )  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.KEYS if getattr(self, k) is not None}
        out["cpus"] = list(self.cpus)
        if self.raises:
            out["raises"] = {short_softirq(n): mean for n, mean in self.raises}
        else:
            del out["raises"]
        return out

    @classmethod
    def from_dict(cls, data: object, ncpus: int, where: Where) -> TaskSpec:
        d = _table(data, where)
        _keys(d, cls.KEYS, where)
        for key in ("name", "cpus"):
            if key not in d:
                raise (where / key).error(None, "a value (the key is required)")
        if not isinstance(d["name"], str) or not d["name"]:
            raise (where / "name").error(d["name"], "a non-empty string")
        workload = _choice(d.get("workload", "busy"), WORKLOADS, where / "workload")
        sleeper = workload == "sleeper"
        for key in ("run_us", "block_us", "woken_by", "raises"):
            if sleeper and key not in d and key in ("run_us", "block_us"):
                raise (where / key).error(None, "a number > 0 (a sleeper needs it)")
            if not sleeper and key in d:
                raise (where / key).error(d[key], "no value unless workload = sleeper")
        return cls(
            name=d["name"],
            cpus=_cpus(d["cpus"], ncpus, where / "cpus"),
            workload=workload,
            run_us=_number(d["run_us"], where / "run_us") if sleeper else None,
            block_us=_number(d["block_us"], where / "block_us") if sleeper else None,
            woken_by=_choice(d.get("woken_by", "timer"), WAKERS, where / "woken_by")
            if sleeper
            else None,
            raises=_raises(d.get("raises", {}), where / "raises"),
        )


@dataclass(frozen=True)
class SoftirqSpec:
    """A softirq the model has no mechanism of: each run takes ``run_ns``; raised by tasks
    (their ``raises``), by each local timer interrupt (``per_timer_irq`` on average) and
    by its own runs (``reraise`` on average, below 1)."""

    name: str
    run_ns: int | str
    per_timer_irq: float = 0.0
    reraise: float = 0.0

    KEYS: ClassVar[tuple[str, ...]] = ("name", "run_ns", "per_timer_irq", "reraise")

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": short_softirq(self.name), "run_ns": self.run_ns}
        for key in ("per_timer_irq", "reraise"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        return out

    @classmethod
    def from_dict(cls, data: object, where: Where) -> SoftirqSpec:
        d = _table(data, where)
        _keys(d, cls.KEYS, where)
        for key in ("name", "run_ns"):
            if key not in d:
                raise (where / key).error(None, "a value (the key is required)")
        reraise = _number(d.get("reraise", 0.0), where / "reraise", positive=False)
        if reraise >= 1:
            raise (where / "reraise").error(reraise, "a number >= 0 and < 1 (else it never ends)")
        return cls(
            _softirq(d["name"], where / "name"),
            _cost(d["run_ns"], where / "run_ns"),
            _number(d.get("per_timer_irq", 0.0), where / "per_timer_irq", positive=False),
            reraise,
        )


def short_softirq(name: str) -> str:
    """``NET_RX`` for ``NET_RX_SOFTIRQ`` (how tracepoints print it)."""
    return name.removesuffix("_SOFTIRQ")


def _softirq(value: object, where: Where) -> str:
    """A Linux softirq's name, with or without ``_SOFTIRQ``: the full one."""
    full = (
        f"{value}_SOFTIRQ" if isinstance(value, str) and not value.endswith("_SOFTIRQ") else value
    )
    if full not in LINUX_SOFTIRQS:
        raise where.error(
            value, "a Linux softirq: " + ", ".join(map(short_softirq, LINUX_SOFTIRQS))
        )
    return str(full)


def _raises(value: object, where: Where) -> tuple[tuple[str, float], ...]:
    d = _table(value, where)
    return tuple(
        (_softirq(k, where / k), _number(v, where / k, positive=False)) for k, v in d.items()
    )


def _times(value: object, where: Where) -> tuple[float, ...]:
    if not isinstance(value, list) or not value:
        raise where.error(value, "a list of times in us, not empty")
    return tuple(_number(t, where / i, positive=False) for i, t in enumerate(value))


def _cost(value: object, where: Where) -> int | str:
    try:
        return parse_cost(str(where), value)
    except ConfigError as error:
        raise where.error(value, error.allowed) from None


class LinuxHostFileScenario(LinuxHostScenario):
    """A Linux host read from a file (subclassed once per file by :func:`load_linux_host`)."""

    devices: ClassVar[tuple[IrqDeviceSpec, ...]] = ()
    tasks: ClassVar[tuple[TaskSpec, ...]] = ()
    softirqs: ClassVar[tuple[SoftirqSpec, ...]] = ()
    path: ClassVar[str] = ""

    def host_tables(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The file's tables with the run's parameters (``taskletsim show``)."""
        sizes = ("sockets", "cores_per_socket", "threads_per_core")
        return {
            "host": {"kind": "linux", **{k: params[k] for k in sizes}},
            "params": {k: toml_value(v) for k, v in params.items() if k not in sizes},
            "devices": [d.as_dict() for d in self.devices],
            "tasks": [t.as_dict() for t in self.tasks],
            **({"softirqs": [q.as_dict() for q in self.softirqs]} if self.softirqs else {}),
        }

    def build(
        self, sim: Simulation, params: dict[str, Any], design: str | None = None
    ) -> Callable[[], dict[str, Any]]:
        host = self.build_host(sim, params, design)
        for softirq in self.softirqs:
            SoftirqAction(
                host, softirq.name, softirq.run_ns, softirq.per_timer_irq, softirq.reraise
            )
        for device in self.devices:
            IrqDevice(host, device.name, device.cpu, device.handler_ns, device.bh_ns).start(
                device.arrivals()
            )
        for task in self.tasks:
            if task.workload == "busy":
                host.add_busy_task(task.name, task.cpus, TASK_CLASS)
            else:
                assert task.run_us is not None and task.block_us is not None
                host.add_sleeper_task(
                    task.name,
                    task.cpus,
                    sim.exponential(f"run:{task.name}", task.run_us * 1000),
                    sim.exponential(f"block:{task.name}", task.block_us * 1000),
                    TASK_CLASS,
                    task.woken_by or "timer",
                    task.raises,
                )
        self.add_hogs(host, params)
        return lambda: {}


def linux_host_params() -> tuple[Param, ...]:
    """The parameters a Linux host file's ``[params]`` may set (besides design options)."""
    return (*LINUX_HOST_PARAMS, HOGS)


def load_linux_host(data: Mapping[str, Any], where: Where, target: Path) -> Scenario:
    """The scenario of a Linux host file (``[host] kind = "linux"``), its ``[params]`` as
    the parameters' defaults."""
    top = _top(data, where, LINUX_HOST_KEYS, Scenario.default_duration_ms)
    size_keys = ("sockets", "cores_per_socket", "threads_per_core")
    specs = {p.name: p for p in linux_host_params() if p.name not in size_keys}
    options = _options()
    given = _params(data.get("params", {}), {**specs, **options}, where / "params")
    host = dict(_table(data["host"], where / "host"))
    host.pop("kind")
    sockets, cores, threads = host_size(host, where / "host")
    ncpus = sockets * cores * threads
    sizes = {"sockets": sockets, "cores_per_socket": cores, "threads_per_core": threads}
    defaults = {**given, **sizes}
    devices = _array(data, "devices", where)
    tasks = _array(data, "tasks", where)
    qspecs = tuple(
        SoftirqSpec.from_dict(q, where / "softirqs" / i)
        for i, q in enumerate(_array(data, "softirqs", where))
    )
    if not devices and not tasks:
        raise (where / "devices").error([], "at least one device or task")
    dspecs = tuple(
        IrqDeviceSpec.from_dict(d, ncpus, where / "devices" / i) for i, d in enumerate(devices)
    )
    tspecs = tuple(TaskSpec.from_dict(t, ncpus, where / "tasks" / i) for i, t in enumerate(tasks))
    opened = {q.name for q in qspecs}
    for i, t in enumerate(tspecs):
        for name, _mean in t.raises:
            if name not in opened:
                where_raised = where / "tasks" / i / "raises" / short_softirq(name)
                raise where_raised.error(short_softirq(name), "a softirq with a [[softirqs]] table")
    for key, named in (
        ("devices", [d.name for d in dspecs]),
        ("tasks", [t.name for t in tspecs]),
        ("softirqs", [q.name for q in qspecs]),
    ):
        seen: set[str] = set()
        for i, name in enumerate(named):
            if name in seen:
                raise (where / key / i / "name").error(name, "a name no other one has")
            seen.add(name)
    params = tuple(
        replace(p, default=defaults[p.name]) if p.name in defaults else p
        for p in linux_host_params()
    )
    params += tuple(replace(options[k], default=v) for k, v in given.items() if k in options)
    attrs: dict[str, Any] = {
        "name": top["name"],
        "description": top["description"] or f"Linux host file {target.name}",
        "params": params,
        "devices": dspecs,
        "tasks": tspecs,
        "softirqs": qspecs,
        "path": str(target.resolve()),
        "default_duration_ms": top.get("duration_ms", LinuxHostScenario.default_duration_ms),
        "default_warmup_ms": top.get("warmup_ms"),
    }
    if "design" in top:
        attrs["default_design"] = top["design"]
    cls = type(f"LinuxHostFile_{top['name']}", (LinuxHostFileScenario,), attrs)
    scenario: Scenario = cls()
    _check_builds(scenario, where)
    return scenario


HOST_KINDS["linux"] = load_linux_host


def _array(data: Mapping[str, Any], key: str, where: Where) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise (where / key).error(value, f"an array of tables ([[{key}]])")
    return value
