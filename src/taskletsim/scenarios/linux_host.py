"""Bare-metal Linux scenarios: ``linux-dma``, DMA channels whose completions a bottom half
handles, the case the tasklet -> BH workqueue conversions target; ``linux-nic-affinity``,
a NIC's receive queues drained by a bottom half, their interrupts spread or on one CPU.

``linux-dma``: ``sockets`` x ``cores_per_socket`` CPUs; ``channels`` virt-dma
channels (:mod:`taskletsim.linux.dma`), each with an MSI-X vector whose
affinity is ``spread`` (channel ``i`` on CPU ``i * CPUs / channels``) or
``single`` (all on CPU 0), and ``threads_per_chan`` ``dmatest`` threads free
to run on the CPUs of the vector's socket. ``hogs`` CPU-bound tasks, pinned
to CPUs 0, 1, ..., compete with them for the CPU. The design runs each
channel's bottom half: a tasklet (``linux``), a work item on
``system_bh_wq`` (``linux-bh-wq``), the IRQ's thread (``linux-threaded``).

``linux-nic-affinity``: ``queues`` RX queues (:mod:`taskletsim.linux.nic`),
packets arriving at ``pps_per_queue`` each (Poisson by default), their
vectors spread over the CPUs or all on CPU 0 (``irq_affinity``); one reader
thread per queue on the vector's socket; ``hogs`` as above. The offered
packet rate is ``offered_irq_per_s``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields, replace
from typing import Any, ClassVar

from ..core.config import ConfigError, Param
from ..core.sim import Simulation
from ..designs.base import get_design
from ..linux.costs import LinuxCosts
from ..linux.dma import DmaCosts, VirtDmaChannel
from ..linux.machine import LinuxHost
from ..linux.nic import NicCosts, RxQueue
from ..platform.arrivals import Arrivals, OnOff, Periodic, Poisson
from ..platform.topology import MAX_CPUS, Topology
from .base import Scenario, register_scenario
from .lock_streams import LOCK_PARAMS, transfer_costs

_LOCK_MODEL = tuple(
    replace(p, default=None, optional=True, help="spinlock kind; none = the design's own")
    if p.name == "lock"
    else p
    for p in LOCK_PARAMS
    if p.name in ("lock", "transfer_costs", "transfer_ns", "numa_bias", "spinner_share")
)

_DMA_DOCS = {
    "irq_handler_ns": "assumption: the DMA driver's hard IRQ handler under vc->lock, ns",
    "callback_ns": "assumption: one descriptor's callback and free in vchan_complete, ns",
    "prep_ns": "assumption: dmaengine_prep_dma_memcpy, ns",
    "submit_ns": "assumption: tx_submit or issue_pending work under vc->lock, ns",
    "verify_ns": "assumption: a dmatest thread's work between completion and next transfer, ns",
}

LINUX_HOST_PARAMS: tuple[Param, ...] = (
    Param("sockets", "int", 2, "sockets", minimum=1, maximum=MAX_CPUS),
    Param("cores_per_socket", "int", 8, "cores per socket", minimum=1, maximum=MAX_CPUS),
    Param("threads_per_core", "int", 1, "SMT threads per core", minimum=1, maximum=MAX_CPUS),
    *_LOCK_MODEL,
    *LinuxCosts.params(),
)


def build_linux_host(sim: Simulation, params: Mapping[str, Any], design: str) -> LinuxHost:
    """The Linux host the common parameters describe, running ``design``."""
    topology = Topology(
        params["sockets"],
        params["cores_per_socket"],
        params["threads_per_core"],
        transfer_costs(params),
    )
    options = {p.name: params[p.name] for p in get_design(design).options if p.name in params}
    return LinuxHost(
        sim,
        topology,
        design=design,
        costs=LinuxCosts.from_params(dict(params)),
        lock=params["lock"],
        numa_bias=params["numa_bias"],
        spinner_share=params["spinner_share"],
        design_options=options,
    )


HOGS = Param(
    "hogs", "int", 0, "CPU-bound tasks, pinned to CPUs 0, 1, ...", minimum=0, maximum=MAX_CPUS
)


class LinuxHostScenario(Scenario):
    """Base of the bare-metal Linux scenarios: takes a design that runs on the Linux host.

    :meth:`build_host` makes the host; a scenario adds its devices, then :meth:`add_hogs`."""

    takes_design = True
    host: ClassVar[str] = "linux"
    default_design: ClassVar[str] = "linux"

    def build_host(
        self, sim: Simulation, params: Mapping[str, Any], design: str | None
    ) -> LinuxHost:
        """The host of :data:`LINUX_HOST_PARAMS` (``hogs`` checked against its CPUs)."""
        host = build_linux_host(sim, params, design or self.default_design)
        ncpus = host.topology.ncpus
        if params["hogs"] > ncpus:
            raise ConfigError("hogs", params["hogs"], f"at most the host's {ncpus} CPUs")
        return host

    @staticmethod
    def add_hogs(host: LinuxHost, params: Mapping[str, Any]) -> None:
        """``hogs`` busy tasks pinned to CPUs 0, 1, ... (after the scenario's own tasks)."""
        for c in range(params["hogs"]):
            host.add_busy_task(f"hog{c}", (c,))


@register_scenario
class LinuxDma(LinuxHostScenario):
    """DMA channels (virt-dma) driven by ``dmatest`` threads; a bottom half per channel."""

    name = "linux-dma"
    description = "bare-metal Linux: virt-dma channels, a bottom half each, dmatest threads"
    params = (
        *LINUX_HOST_PARAMS,
        Param("channels", "int", 16, "DMA channels, one MSI-X vector each", minimum=1,
              maximum=MAX_CPUS),
        Param("threads_per_chan", "int", 1, "dmatest threads per channel", minimum=1,
              maximum=64),
        Param("irq_affinity", "choice", "spread",
              "spread: channel i's vector on CPU i*CPUs/channels; single: all on CPU 0",
              choices=("spread", "single")),
        Param("xfer_ns", "float", 20_000.0, "mean transfer time of one descriptor, ns",
              positive=True),
        Param("xfer", "choice", "exp", "transfer time distribution", choices=("const", "exp")),
        HOGS,
        *(
            Param(f.name, "cost", f.default, _DMA_DOCS[f.name]) for f in fields(DmaCosts)
        ),
    )  # fmt: skip
    default_duration_ms = 100.0

    def build(
        self, sim: Simulation, params: dict[str, Any], design: str | None = None
    ) -> Callable[[], dict[str, Any]]:
        host = self.build_host(sim, params, design)
        ncpus = host.topology.ncpus
        costs = DmaCosts(**{f.name: params[f.name] for f in fields(DmaCosts)})
        sockets = host.topology.socket_list
        channels = []
        for i in range(params["channels"]):
            cpu = i * ncpus // params["channels"] if params["irq_affinity"] == "spread" else 0
            name = f"dma{i}"
            xfer: Callable[[], int]
            if params["xfer"] == "const":
                xfer = _constant(max(round(params["xfer_ns"]), 1))
            else:
                xfer = sim.exponential(f"xfer:{name}", params["xfer_ns"])
            chan = VirtDmaChannel(host, name, cpu, xfer, costs)
            for _ in range(params["threads_per_chan"]):
                chan.add_thread(local_cpus(sockets, cpu))
            channels.append(chan)
        self.add_hogs(host, params)
        return lambda: {}


def _constant(ns: int) -> Callable[[], int]:
    """A draw that is always ``ns``."""
    return lambda: ns


_NIC_DOCS = {
    "irq_handler_ns": "assumption: an RX queue's hard IRQ handler (cause, mask), ns",
    "rx_packet_ns": "assumption: one packet in the receive bottom half, ns",
    "deliver_ns": "assumption: queueing a batch on the socket under its lock, ns",
    "app_packet_ns": "assumption: the reader's work per packet, ns",
    "budget": "packets one bottom-half run takes at most (NAPI's default weight)",
}


def local_cpus(sockets: list[int], cpu: int) -> tuple[int, ...]:
    """The CPUs of ``cpu``'s socket, starting with the one after it (a thread's NUMA-local
    CPUs, first placed next to the interrupt)."""
    local = tuple(c for c in range(len(sockets)) if sockets[c] == sockets[cpu])
    start = local.index(cpu)
    return local[start + 1 :] + local[: start + 1]


@register_scenario
class LinuxNicAffinity(LinuxHostScenario):
    """A multi-queue NIC's receive queues, their interrupts spread or on one CPU."""

    name = "linux-nic-affinity"
    description = (
        "bare-metal Linux: NIC RX queues drained by a bottom half, IRQs spread or on CPU 0"
    )
    params = (
        *LINUX_HOST_PARAMS,
        Param("queues", "int", 16, "RX queues, one MSI-X vector each", minimum=1,
              maximum=MAX_CPUS),
        Param("irq_affinity", "choice", "spread",
              "spread: queue i's vector on CPU i*CPUs/queues; concentrated: all on CPU 0",
              choices=("spread", "concentrated")),
        Param("pps_per_queue", "float", 50_000.0, "packets per second arriving at each queue",
              positive=True),
        Param("arrivals", "choice", "poisson",
              "packet arrivals at each queue (the wire's); onoff: Poisson in bursts",
              choices=("poisson", "periodic", "onoff")),
        Param("burst_on_us", "float", 200.0, "onoff: mean burst length, us", positive=True),
        Param("burst_off_us", "float", 800.0, "onoff: mean gap between bursts, us",
              positive=True),
        Param("itr_us", "float", None,
              "interrupt moderation (the NIC's ITR): at most one MSI per interval, us; "
              "none = off", positive=True, optional=True),
        HOGS,
        *(
            Param(f.name, "int", f.default, _NIC_DOCS[f.name], minimum=1)
            if f.name == "budget"
            else Param(f.name, "cost", f.default, _NIC_DOCS[f.name])
            for f in fields(NicCosts)
        ),
    )  # fmt: skip
    default_duration_ms = 50.0

    def build(
        self, sim: Simulation, params: dict[str, Any], design: str | None = None
    ) -> Callable[[], dict[str, Any]]:
        host = self.build_host(sim, params, design)
        ncpus = host.topology.ncpus
        costs = NicCosts(**{f.name: params[f.name] for f in fields(NicCosts)})
        sockets = host.topology.socket_list
        period = round(1e9 / params["pps_per_queue"])
        for i in range(params["queues"]):
            spread = params["irq_affinity"] == "spread"
            cpu = i * ncpus // params["queues"] if spread else 0
            itr = None if params["itr_us"] is None else max(round(params["itr_us"] * 1000), 1)
            queue = RxQueue(host, f"rx{i}", cpu, costs, local_cpus(sockets, cpu), itr)
            queue.start(nic_arrivals(params, period))
        self.add_hogs(host, params)
        offered = params["queues"] * params["pps_per_queue"]
        if params["arrivals"] == "onoff":
            # OnOff opens each burst with an arrival, and a burst's gap begins at the
            # first arrival due after the burst ended (a mean gap of 1/rate later)
            pps, on_s = params["pps_per_queue"], params["burst_on_us"] / 1e6
            cycle_s = on_s + params["burst_off_us"] / 1e6 + 1 / pps
            offered = params["queues"] * (pps * on_s + 1) / cycle_s
        return lambda: {"offered_irq_per_s": offered}


def nic_arrivals(params: Mapping[str, Any], period: int) -> Arrivals:
    """Packet arrivals at one queue: Poisson, periodic, or Poisson in bursts (``onoff``:
    at ``pps_per_queue`` during bursts of mean ``burst_on_us``, silent between them)."""
    if params["arrivals"] == "poisson":
        return Poisson(params["pps_per_queue"])
    if params["arrivals"] == "periodic":
        return Periodic(max(period, 1))
    return OnOff(
        params["pps_per_queue"], params["burst_on_us"] * 1000, params["burst_off_us"] * 1000
    )
