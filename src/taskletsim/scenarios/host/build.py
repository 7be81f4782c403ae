"""Building a Xen host: from a :class:`~.spec.HostSpec`, or piece by piece for a scenario of
your own.

A hypervisor scenario subclasses :class:`HostScenario` (it takes a tasklet
design, Xen 4.4's by default), declares :data:`HOST_PARAMS` (or only some of
them: :func:`host_params` fills in the defaults of the rest), and in its
``build`` makes the machine with :func:`build_machine`, then adds guests,
devices and ticks::

    @register_scenario
    class MyHost(HostScenario):
        name = "my-host"
        description = "one busy guest with a passthrough NIC, three idle ones"
        params = HOST_PARAMS

        def build(self, sim, params, design=None):
            m = build_machine(sim, params, design or self.default_design, sockets=1, cores=4)
            d = m.add_domain("busy")
            v = m.add_vcpu(d, 0, "busy")
            m.add_device(d, v, device_arrivals(params))
            m.add_tick(v, tick_arrivals(params))
            add_idle_guests(m, params, range(1, 4))
            return lambda: {}
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

from ...core.sim import Simulation
from ...designs.base import get_design
from ...hv.machine import Domain, Machine
from ...hv.seam import HvCosts
from ...platform.arrivals import Arrivals, Moderated, OnOff, Periodic, Poisson
from ...platform.topology import Topology
from ..base import Scenario
from ..lock_streams import transfer_costs
from .params import device_arrivals, host_params, tick_arrivals
from .spec import DeviceSpec, GuestSpec, HostSpec, check_host, offered_irq_per_s


def build_machine(
    sim: Simulation,
    params: Mapping[str, Any],
    design: str,
    sockets: int,
    cores: int,
    threads: int = 1,
) -> Machine:
    """The host of a hypervisor scenario, without guests: ``sockets`` x ``cores`` x
    ``threads`` pCPUs, the host parameters (:data:`HOST_PARAMS`, defaults for those
    missing) and the options of ``design`` found in ``params``."""
    params = host_params(params)
    options = {p.name: params[p.name] for p in get_design(design).options if p.name in params}
    return Machine(
        sim,
        Topology(sockets, cores, threads, transfer_costs(params)),
        design=design,
        costs=HvCosts.from_params(params),
        lock=params["lock"],
        numa_bias=params["numa_bias"],
        spinner_share=params["spinner_share"],
        apicv=params["apicv"] == "on",
        tslice_ns=round(params["tslice_ms"] * 1e6),
        ratelimit_ns=round(params["ratelimit_us"] * 1e3),
        tick_ns=round(params["sched_tick_ms"] * 1e6),
        design_options=options,
    )


class HostScenario(Scenario):
    """Base of the hypervisor scenarios: takes a design, shares the host parameters.

    Implement :meth:`host_spec` (the host as data) and the default :meth:`build`
    builds it, records it, and reports the offered interrupt rate; ``taskletsim
    show`` then prints it as a host file. Or override :meth:`build` and build
    the machine yourself.
    """

    takes_design = True
    default_design: ClassVar[str] = "xen-4.4-global"

    def host_spec(self, params: Mapping[str, Any], design: str) -> HostSpec:
        """The host these resolved parameters describe, run with ``design``."""
        raise NotImplementedError(f"scenario {self.name} builds its host in build()")

    def build(
        self, sim: Simulation, params: dict[str, Any], design: str | None = None
    ) -> Callable[[], dict[str, Any]]:
        chosen = design or self.default_design
        spec = self.host_spec(params, chosen)
        build_host(sim, spec, chosen)
        rate = offered_irq_per_s(spec)
        return lambda: {"offered_irq_per_s": rate}

    def model(self, params: Mapping[str, Any], design: str | None) -> dict[str, Any]:
        try:
            return self.host_spec(params, design or self.default_design).as_dict()
        except NotImplementedError:
            return super().model(params, design)


def add_guest(
    m: Machine,
    params: Mapping[str, Any],
    name: str,
    workload: str,
    cpus: Sequence[int],
    *,
    floating: Sequence[int] = (),
    devices_per_vcpu: int = 0,
) -> Domain:
    """A guest of ``len(cpus)`` vCPUs of ``workload``, vCPU ``k`` starting on ``cpus[k]``
    (pinned there, or free to run on any of ``floating``), each with the tick the
    parameters describe and ``devices_per_vcpu`` passthrough MSI(-X) vectors whose
    interrupts go to its pCPU (they share the domain's ``dirq_tasklet``)."""
    guest = GuestSpec(name, workload, tuple(cpus), tuple(floating), devices_per_vcpu)
    return build_guest(m, params, guest)


def _arrivals(params: Mapping[str, Any], device: DeviceSpec) -> Arrivals:
    """A device's arrival process: its own fields, else the parameters'."""
    process = device.process or params["irq_process"]
    rate = device.rate_per_s if device.rate_per_s is not None else params["irq_rate_per_s"]
    base: Arrivals
    if process == "poisson":
        base = Poisson(rate)
    elif process == "periodic":
        base = Periodic(round(1e9 / rate))
    else:
        assert device.on_us is not None and device.off_us is not None
        base = OnOff(rate, device.on_us * 1e3, device.off_us * 1e3)
    itr = device.itr_us if device.itr_us is not None else params["itr_us"]
    return base if itr is None else Moderated(base, round(itr * 1000))


def build_guest(m: Machine, params: Mapping[str, Any], guest: GuestSpec) -> Domain:
    """Add ``guest`` to ``m``: its domain, then vCPU by vCPU the vCPU and its devices
    (``devices_per_vcpu`` of them, then those given for it), then every vCPU's tick,
    with the host ``params`` overridden by the guest's own."""
    p = host_params({**params, **guest.overrides})
    d = m.add_domain(guest.name)
    affinity = tuple(guest.floating) or None
    for k, cpu in enumerate(guest.cpus):
        v = m.add_vcpu(
            d,
            cpu,
            guest.workload,
            burst_ns=p["idle_burst_ns"] if guest.workload == "idle" else 0,
            affinity=affinity,
            soft_affinity=(cpu,) if affinity else None,
            run_ns=guest.run_us * 1e3,
            block_ns=guest.block_us * 1e3,
        )
        for _ in range(guest.devices_per_vcpu):
            m.add_device(
                d, v, device_arrivals(p), model=p["device_model"], delivery=p["msi_delivery"]
            )
        for device in guest.devices:
            if device.vcpu != k:
                continue
            for _ in range(device.count):
                m.add_device(
                    d,
                    v,
                    _arrivals(p, device),
                    model=device.model or p["device_model"],
                    delivery=device.delivery or p["msi_delivery"],
                )
    add_ticks(m, p, d)
    return d


def build_host(sim: Simulation, spec: HostSpec, design: str) -> Machine:
    """The machine ``spec`` describes, run with ``design``; records ``spec`` as the
    trace's ``model``. The spec is checked first (:func:`check_host`)."""
    check_host(spec)
    m = build_machine(
        sim, spec.params, design, spec.sockets, spec.cores_per_socket, spec.threads_per_core
    )
    for guest in spec.guests:
        build_guest(m, spec.params, guest)
    sim.trace.meta.model = spec.as_dict()
    return m


def add_ticks(m: Machine, params: Mapping[str, Any], d: Domain) -> None:
    """Every vCPU of ``d`` ticks as ``tick_mode`` says. The guest's tick grid has one
    phase per domain, drawn from its own stream: with ``skew_tick`` off its vCPUs
    tick together (Linux's default); on, vCPU ``k`` of ``n`` is offset by
    ``k * (period / 2) / n``, as Linux's ``skew_tick=1`` does."""
    params = host_params(params)
    if params["tick_mode"] == "free":
        for v in d.vcpus:
            m.add_tick(v, tick_arrivals(params))
        return
    period = round(1e9 / params["tick_hz"])
    phase = int(m.sim.rng(f"tick-phase:{d.name}").integers(0, period))
    n = len(d.vcpus)
    for k, v in enumerate(d.vcpus):
        offset = k * (period // 2) // n if params["skew_tick"] == "on" else 0
        m.add_guest_tick(v, period, phase + offset, params["tick_mode"], params["tick_jitter_ns"])


def add_idle_guests(m: Machine, params: Mapping[str, Any], cpus: Iterable[int]) -> None:
    """``vcpus_per_idle_cpu`` (default 1) one-vCPU idle guests pinned to each of ``cpus``."""
    for guest in idle_guests(params, cpus):
        build_guest(m, params, guest)


def idle_guests(params: Mapping[str, Any], cpus: Iterable[int]) -> list[GuestSpec]:
    """The guests :func:`add_idle_guests` adds."""
    return [
        GuestSpec(f"idle{cpu}" + (f"-{k}" if k else ""), "idle", (cpu,))
        for cpu in cpus
        for k in range(int(params.get("vcpus_per_idle_cpu", 1)))
    ]
