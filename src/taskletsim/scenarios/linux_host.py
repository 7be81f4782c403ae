"""Bare-metal Linux scenarios: ``linux-dma``, DMA channels whose completions a bottom half
handles, the case the tasklet -> BH workqueue conversions target.

``linux-dma``: ``sockets`` x ``cores_per_socket`` CPUs; ``channels`` virt-dma
channels (:mod:`taskletsim.linux.dma`), each with an MSI-X vector whose
affinity is ``spread`` (channel ``i`` on CPU ``i * CPUs / channels``) or
``single`` (all on CPU 0), and ``threads_per_chan`` ``dmatest`` threads free
to run on the CPUs of the vector's socket. ``hogs`` CPU-bound tasks, pinned
to CPUs 0, 1, ..., compete with them for the CPU. The design runs each
channel's bottom half: a tasklet (``linux``), a work item on
``system_bh_wq`` (``linux-bh-wq``), the IRQ's thread (``linux-threaded``).
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


class LinuxHostScenario(Scenario):
    """Base of the bare-metal Linux scenarios: takes a design that runs on the Linux host."""

    takes_design = True
    host: ClassVar[str] = "linux"
    default_design: ClassVar[str] = "linux"


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
        Param("hogs", "int", 0, "CPU-bound tasks, pinned to CPUs 0, 1, ...", minimum=0,
              maximum=MAX_CPUS),
        *(
            Param(f.name, "int", f.default, _DMA_DOCS[f.name], minimum=0)
            for f in fields(DmaCosts)
        ),
    )  # fmt: skip
    default_duration_ms = 100.0

    def build(
        self, sim: Simulation, params: dict[str, Any], design: str | None = None
    ) -> Callable[[], dict[str, Any]]:
        host = build_linux_host(sim, params, design or self.default_design)
        ncpus = host.topology.ncpus
        if params["hogs"] > ncpus:
            raise ConfigError("hogs", params["hogs"], f"at most the host's {ncpus} CPUs")
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
            local = tuple(c for c in range(ncpus) if sockets[c] == sockets[cpu])
            start = local.index(cpu)
            for _ in range(params["threads_per_chan"]):
                chan.add_thread(local[start + 1 :] + local[: start + 1])
            channels.append(chan)
        for c in range(params["hogs"]):
            host.add_busy_task(f"hog{c}", (c,))
        return lambda: {}


def _constant(ns: int) -> Callable[[], int]:
    """A draw that is always ``ns``."""
    return lambda: ns
