"""A Xen host as data: its size, its parameters, its guests and their devices.

:class:`HostSpec` is what a host file (TOML, :mod:`.toml`) describes and
what the built-in hypervisor scenarios produce from their parameters; one
builder (:func:`taskletsim.scenarios.host.build.build_host`) turns it into a
machine. Its :meth:`HostSpec.as_dict` is recorded in the trace metadata
(``model``): two runs built from equal specs, with the same design and seed,
give the same trace and the same digest, whatever file or scenario they came
from.

Validation names the key path (``guests[2].cpus[1]``) and, for a file, the
file; every error is a :class:`~taskletsim.core.config.ConfigError`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ...core.config import ConfigError, Param
from ...hv.vocabulary import DEVICE_MODELS, MSI_DELIVERY, WORKLOADS
from ...platform.topology import MAX_CPUS
from .params import HOST_PARAMS, host_params, offered_rate

MAX_VCPUS = 16384
"""The most guest vCPUs a host may have in all (an assumption that keeps a host
buildable in seconds: 16k vCPUs take about 7 s to build and start)."""

MAX_VCPUS_PER_CPU = 64
"""The most vCPUs ``vcpus_per_idle_cpu`` may stack on one pCPU."""

MAX_VECTORS = 16384
"""The most passthrough MSI(-X) vectors a host may have in all (the same reason)."""

MAX_VECTORS_PER_VCPU = 64
"""The most passthrough vectors ``msix_per_vcpu`` may give one vCPU."""

PROCESSES = ("poisson", "periodic", "onoff")
"""Device arrival processes a host file can name (``onoff``: bursty)."""

GUEST_OVERRIDES = (
    "irq_rate_per_s",
    "irq_process",
    "itr_us",
    "device_model",
    "msi_delivery",
    "tick_hz",
    "tick_mode",
    "skew_tick",
    "tick_jitter_ns",
    "idle_burst_ns",
)
"""Host parameters a guest may set for itself (its devices and its ticks)."""


class Where:
    """A key path for error messages: ``FILE: guests[2].cpus``."""

    def __init__(self, origin: str | None = None, path: str = "") -> None:
        self.origin, self.path = origin, path

    def __truediv__(self, key: str | int) -> Where:
        if isinstance(key, int):
            return Where(self.origin, f"{self.path}[{key}]")
        return Where(self.origin, f"{self.path}.{key}" if self.path else key)

    def __str__(self) -> str:
        return f"{self.origin}: {self.path}" if self.origin else self.path

    def error(self, value: object, allowed: str) -> ConfigError:
        return ConfigError(str(self), value, allowed)


def _table(data: object, where: Where) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise where.error(data, "a table")
    return data


def _keys(data: Mapping[str, Any], allowed: Sequence[str], where: Where) -> None:
    for key in data:
        if key not in allowed:
            raise (where / key).error(data[key], "no such key; one of " + ", ".join(allowed))


def _int(value: object, where: Where, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise where.error(value, f"an integer >= {minimum}")
    return value


def _number(value: object, where: Where, positive: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise where.error(value, "a number")
    if not math.isfinite(value) or (positive and not value > 0) or value < 0:
        raise where.error(value, "a finite number > 0" if positive else "a finite number >= 0")
    return float(value)


def _choice(value: object, choices: Sequence[str], where: Where) -> str:
    if not isinstance(value, str) or value not in choices:
        raise where.error(value, "one of " + ", ".join(choices))
    return value


def _cpus(value: object, ncpus: int, where: Where, empty: bool = False) -> tuple[int, ...]:
    if not isinstance(value, list) or (not value and not empty):
        raise where.error(value, "a list of pCPU numbers" + ("" if empty else ", not empty"))
    return tuple(_cpu(c, ncpus, where / i) for i, c in enumerate(value))


def _cpu(value: object, ncpus: int, where: Where) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < ncpus:
        raise where.error(value, f"a pCPU number, 0 to {ncpus - 1}")
    return value


def typed_param(p: Param, value: object, where: Where) -> Any:
    """A parameter's value from a file: the TOML type must match (a number for a number,
    a string for a choice, ``"none"`` for an unset optional), then the usual checks."""
    if p.optional and value == "none":
        return None
    if p.kind == "choice":
        if not isinstance(value, str):
            raise where.error(value, p.allowed())
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise where.error(value, p.allowed())
    try:
        return p.parse(value)
    except ConfigError as error:
        raise where.error(value, error.allowed) from None


def toml_value(value: Any) -> Any:
    """A parameter's value as TOML can hold it (``None`` as ``"none"``)."""
    return "none" if value is None else value


@dataclass(frozen=True)
class DeviceSpec:
    """``count`` passthrough MSI(-X) vectors of a guest, delivered to its vCPU ``vcpu``.

    Unset fields (``None``) take the guest's (or the host's) parameters:
    ``process`` from ``irq_process``, ``rate_per_s`` from ``irq_rate_per_s``,
    ``itr_us`` from ``itr_us``, ``model`` from ``device_model``, ``delivery``
    from ``msi_delivery``. ``onoff`` (bursty) needs ``on_us`` and ``off_us``,
    the mean on and off times.
    """

    vcpu: int = 0
    count: int = 1
    process: str | None = None
    rate_per_s: float | None = None
    on_us: float | None = None
    off_us: float | None = None
    itr_us: float | None = None
    model: str | None = None
    delivery: str | None = None

    KEYS: ClassVar[tuple[str, ...]] = (
        "vcpu",
        "count",
        "process",
        "rate_per_s",
        "on_us",
        "off_us",
        "itr_us",
        "model",
        "delivery",
    )

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.KEYS if getattr(self, k) is not None}

    @classmethod
    def from_dict(cls, data: object, vcpus: int, where: Where) -> DeviceSpec:
        d = _table(data, where)
        _keys(d, cls.KEYS, where)

        def optional(key: str, check: Callable[[object, Where], Any]) -> Any:
            return check(d[key], where / key) if key in d else None

        spec = cls(
            vcpu=_int(d.get("vcpu", 0), where / "vcpu"),
            count=_int(d.get("count", 1), where / "count", minimum=1),
            process=optional("process", lambda v, w: _choice(v, PROCESSES, w)),
            rate_per_s=optional("rate_per_s", _number),
            on_us=optional("on_us", _number),
            off_us=optional("off_us", _number),
            itr_us=optional("itr_us", _number),
            model=optional("model", lambda v, w: _choice(v, DEVICE_MODELS, w)),
            delivery=optional("delivery", lambda v, w: _choice(v, MSI_DELIVERY, w)),
        )
        if spec.vcpu >= vcpus:
            raise (where / "vcpu").error(spec.vcpu, f"a vCPU of the guest, 0 to {vcpus - 1}")
        bursty = spec.process == "onoff"
        for key in ("on_us", "off_us"):
            if bursty and getattr(spec, key) is None:
                raise (where / key).error(None, "a number > 0 (process onoff needs it)")
            if not bursty and getattr(spec, key) is not None:
                raise (where / key).error(getattr(spec, key), "no value unless process = onoff")
        return spec


@dataclass(frozen=True)
class GuestSpec:
    """A guest: ``len(cpus)`` vCPUs of ``workload``, vCPU ``k`` starting on ``cpus[k]``
    (pinned there, or free to run on any of ``floating``), ``devices_per_vcpu``
    passthrough vectors on each vCPU with the parameters' arrivals, then the
    ``devices`` given one by one. ``overrides`` sets, for this guest only, some
    host parameters (:data:`GUEST_OVERRIDES`). A ``mixed`` vCPU runs and blocks
    for exponential times of means ``run_us`` and ``block_us``."""

    name: str
    workload: str
    cpus: tuple[int, ...]
    floating: tuple[int, ...] = ()
    devices_per_vcpu: int = 0
    devices: tuple[DeviceSpec, ...] = ()
    overrides: dict[str, Any] = field(default_factory=dict)
    run_us: float = 1000.0
    block_us: float = 1000.0

    KEYS: ClassVar[tuple[str, ...]] = (
        "name",
        "workload",
        "cpus",
        "floating",
        "devices_per_vcpu",
        "run_us",
        "block_us",
        *GUEST_OVERRIDES,
        "devices",
    )

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "workload": self.workload}
        out["cpus"] = list(self.cpus)
        if self.floating:
            out["floating"] = list(self.floating)
        if self.devices_per_vcpu:
            out["devices_per_vcpu"] = self.devices_per_vcpu
        if self.workload == "mixed":
            out["run_us"], out["block_us"] = self.run_us, self.block_us
        out.update({k: toml_value(v) for k, v in self.overrides.items()})
        if self.devices:
            out["devices"] = [d.as_dict() for d in self.devices]
        return out

    @classmethod
    def from_dict(
        cls, data: object, ncpus: int, params: Mapping[str, Param], where: Where
    ) -> GuestSpec:
        d = _table(data, where)
        _keys(d, cls.KEYS, where)
        for key in ("name", "workload", "cpus"):
            if key not in d:
                raise (where / key).error(None, "a value (the key is required)")
        name = d["name"]
        if not isinstance(name, str) or not name or ":" in name:
            raise (where / "name").error(name, "a non-empty name without ':'")
        workload = _choice(d["workload"], WORKLOADS, where / "workload")
        cpus = _cpus(d["cpus"], ncpus, where / "cpus")
        floating = _cpus(d.get("floating", []), ncpus, where / "floating", empty=True)
        for k, cpu in enumerate(cpus):
            if floating and cpu not in floating:
                raise (where / "cpus" / k).error(cpu, f"one of the floating pCPUs {list(floating)}")
        mixed = workload == "mixed"
        for key in ("run_us", "block_us"):
            if key in d and not mixed:
                raise (where / key).error(d[key], "no value unless workload = mixed")
        devices = d.get("devices", [])
        if not isinstance(devices, list):
            raise (where / "devices").error(devices, "an array of tables ([[guests.devices]])")
        overrides = {
            key: typed_param(params[key], d[key], where / key)
            for key in GUEST_OVERRIDES
            if key in d
        }
        return cls(
            name=name,
            workload=workload,
            cpus=cpus,
            floating=floating,
            devices_per_vcpu=_int(d.get("devices_per_vcpu", 0), where / "devices_per_vcpu"),
            devices=tuple(
                DeviceSpec.from_dict(x, len(cpus), where / "devices" / i)
                for i, x in enumerate(devices)
            ),
            overrides=overrides,
            run_us=_number(d.get("run_us", 1000.0), where / "run_us"),
            block_us=_number(d.get("block_us", 1000.0), where / "block_us"),
        )


@dataclass(frozen=True)
class HostSpec:
    """A host: ``sockets`` x ``cores_per_socket`` x ``threads_per_core`` pCPUs, the
    resolved host parameters (and design options) ``params``, and its guests in
    the order they are built."""

    sockets: int
    cores_per_socket: int
    threads_per_core: int
    params: dict[str, Any]
    guests: tuple[GuestSpec, ...]

    @property
    def ncpus(self) -> int:
        return self.sockets * self.cores_per_socket * self.threads_per_core

    def as_dict(self) -> dict[str, Any]:
        """JSON- and TOML-able (``None`` as ``"none"``), keys in a stable order."""
        return {
            "host": {
                "sockets": self.sockets,
                "cores_per_socket": self.cores_per_socket,
                "threads_per_core": self.threads_per_core,
            },
            "params": {k: toml_value(v) for k, v in self.params.items()},
            "guests": [g.as_dict() for g in self.guests],
        }

    def check(self, where: Where) -> None:
        """What only the whole host can tell: unique guest names, at least one guest, at
        most :data:`MAX_VCPUS` vCPUs and :data:`MAX_VECTORS` vectors in all."""
        if not self.guests:
            raise (where / "guests").error([], "at least one guest ([[guests]])")
        vcpus = sum(len(g.cpus) for g in self.guests)
        if vcpus > MAX_VCPUS:
            raise (where / "guests").error(f"{vcpus} vCPUs", f"at most {MAX_VCPUS} vCPUs in all")
        vectors = sum(
            len(g.cpus) * g.devices_per_vcpu + sum(d.count for d in g.devices) for g in self.guests
        )
        if vectors > MAX_VECTORS:
            raise (where / "guests").error(
                f"{vectors} passthrough vectors", f"at most {MAX_VECTORS} in all"
            )
        seen: set[str] = set()
        for i, g in enumerate(self.guests):
            if g.name in seen:
                raise (where / "guests" / i / "name").error(g.name, "a name no other guest has")
            seen.add(g.name)


def host_size(data: object, where: Where) -> tuple[int, int, int]:
    """``[host]``: sockets, cores_per_socket, threads_per_core (default 1)."""
    d = _table(data, where)
    _keys(d, ("sockets", "cores_per_socket", "threads_per_core"), where)
    for key in ("sockets", "cores_per_socket"):
        if key not in d:
            raise (where / key).error(None, "a value (the key is required)")
    size = (
        _int(d["sockets"], where / "sockets", minimum=1),
        _int(d["cores_per_socket"], where / "cores_per_socket", minimum=1),
        _int(d.get("threads_per_core", 1), where / "threads_per_core", minimum=1),
    )
    if size[0] * size[1] * size[2] > MAX_CPUS:
        raise where.error(dict(d), f"at most {MAX_CPUS} pCPUs (sockets x cores x threads)")
    return size


def check_host(spec: HostSpec, where: Where | None = None) -> None:
    """Check a :class:`HostSpec` built in Python as a host file is checked: every guest
    and device key, the host's size and totals; a :class:`ConfigError` names the key
    path (``host: guests[1].cpus[0]``)."""
    where = where or Where("host")
    host_size(spec.as_dict()["host"], where / "host")
    specs = {p.name: p for p in HOST_PARAMS}
    for i, guest in enumerate(spec.guests):
        GuestSpec.from_dict(guest.as_dict(), spec.ncpus, specs, where / "guests" / i)
    spec.check(where)


def offered_irq_per_s(spec: HostSpec) -> float:
    """Passthrough arrivals per second the host is offered, summed over its vectors
    (moderation caps a vector at 1/ITR; a bursty one counts that rate for the mean
    share of time it is on)."""
    by_rate: dict[float, int] = {}
    for guest in spec.guests:
        p = host_params({**spec.params, **guest.overrides})
        vectors = len(guest.cpus) * guest.devices_per_vcpu
        if vectors:
            rate = offered_rate(p)
            by_rate[rate] = by_rate.get(rate, 0) + vectors
        for device in guest.devices:
            rate = device.rate_per_s if device.rate_per_s is not None else p["irq_rate_per_s"]
            itr = device.itr_us if device.itr_us is not None else p["itr_us"]
            if itr is not None:
                rate = min(rate, 1e6 / itr)
            if device.process == "onoff":
                assert device.on_us is not None and device.off_us is not None
                rate *= device.on_us / (device.on_us + device.off_us)
            by_rate[rate] = by_rate.get(rate, 0) + device.count
    return sum(count * rate for rate, count in by_rate.items())
