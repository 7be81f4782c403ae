"""The host parameters every hypervisor scenario shares, and what they make: arrival
processes, the offered rate, the parameters a :class:`~.spec.HostSpec` keeps."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ...core.config import ConfigError, Param
from ...designs.base import get_design
from ...hv.seam import HvCosts
from ...hv.vocabulary import DEVICE_MODELS, MSI_DELIVERY
from ...platform.arrivals import Arrivals, Moderated, Periodic, Poisson
from ..lock_streams import LOCK_PARAMS

_LOCK_MODEL = tuple(
    replace(
        p,
        default=None,
        optional=True,
        help="spinlock kind; none = the design's own (docs/model.md)",
    )
    if p.name == "lock"
    else p
    for p in LOCK_PARAMS
    if p.name in ("lock", "transfer_costs", "transfer_ns", "numa_bias", "spinner_share")
)


HOST_PARAMS: tuple[Param, ...] = (
    *_LOCK_MODEL,
    Param(
        "irq_rate_per_s",
        "float",
        20_000.0,
        "arrival rate at each passthrough MSI(-X) vector, per s",
        positive=True,
    ),
    Param(
        "irq_process",
        "choice",
        "poisson",
        "device arrivals",
        choices=("poisson", "periodic"),
    ),
    Param(
        "itr_us",
        "float",
        None,
        "interrupt moderation interval (ITR), us; none = off",
        positive=True,
        optional=True,
    ),
    Param(
        "device_model",
        "choice",
        "napi",
        "device back-pressure: napi (the guest polls with the interrupt masked), eoi (one "
        "request in flight until the guest's EOI), open (every arrival an MSI)",
        choices=DEVICE_MODELS,
    ),
    Param(
        "msi_delivery",
        "choice",
        "vlapic",
        "how a guest takes a passthrough MSI: vlapic (emulated LAPIC, EOI exit unless APICv) "
        "or evtchn (a PVHVM guest's pirq event channel)",
        choices=MSI_DELIVERY,
    ),
    Param("tick_hz", "float", 1000.0, "guest timer tick rate, per s", positive=True),
    Param(
        "tick_mode",
        "choice",
        "singleshot",
        "singleshot: the guest re-arms its tick when it handles one (Linux PVHVM); periodic: "
        "Xen's periodic timer, stopped while descheduled; free: fired whatever the guest does",
        choices=("singleshot", "periodic", "free"),
    ),
    Param(
        "skew_tick",
        "choice",
        "off",
        "off: a guest's vCPUs tick together (Linux default); on: spread over half a tick",
        choices=("off", "on"),
    ),
    Param(
        "tick_jitter_ns",
        "int",
        1000,
        "how late a tick's timer fires, up to, ns (free-running ticks: +-); assumption",
        minimum=0,
    ),
    Param("idle_burst_ns", "int", 20_000, "guest work per tick of an idle guest, ns", minimum=0),
    Param("apicv", "choice", "off", "APICv: no EOI exits", choices=("off", "on")),
    Param("tslice_ms", "float", 30.0, "credit1 timeslice, ms", positive=True),
    Param("ratelimit_us", "float", 1000.0, "credit1 rate limit, us (0: off)", minimum=0),
    Param("sched_tick_ms", "float", 10.0, "credit1 accounting tick, ms", positive=True),
    *HvCosts.params(),
)


def device_arrivals(params: Mapping[str, Any]) -> Arrivals:
    """The device interrupt process the parameters describe."""
    params = host_params(params)
    rate = params["irq_rate_per_s"]
    base: Arrivals = (
        Poisson(rate) if params["irq_process"] == "poisson" else Periodic(round(1e9 / rate))
    )
    if params["itr_us"] is not None:
        return Moderated(base, round(params["itr_us"] * 1000))
    return base


def offered_rate(params: Mapping[str, Any]) -> float:
    """Arrivals per second at one passthrough vector (moderation caps it at 1/ITR)."""
    params = host_params(params)
    rate = float(params["irq_rate_per_s"])
    if params["itr_us"] is not None:
        rate = min(rate, 1e6 / params["itr_us"])
    return rate


def tick_arrivals(params: Mapping[str, Any]) -> Arrivals:
    """A free-running tick (``tick_mode=free``): periodic arrivals with +- jitter."""
    params = host_params(params)
    period = round(1e9 / params["tick_hz"])
    if params["tick_jitter_ns"] * 2 >= period:
        raise ConfigError(
            "tick_jitter_ns", params["tick_jitter_ns"], f"less than half the tick ({period} ns)"
        )
    return Periodic(period, params["tick_jitter_ns"])


def host_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` completed with the default of every host parameter it lacks, so that a
    scenario of your own may declare only the host parameters it lets users set."""
    return {**{p.name: p.default for p in HOST_PARAMS}, **params}


def spec_params(params: Mapping[str, Any], design: str) -> dict[str, Any]:
    """The host parameters and ``design``'s options among resolved scenario parameters
    (what a :class:`HostSpec` keeps; the rest shaped its guests)."""
    names = [p.name for p in HOST_PARAMS] + [p.name for p in get_design(design).options]
    full = host_params(params)
    return {n: full[n] for n in names if n in full}
