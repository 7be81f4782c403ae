"""What every host shares with the tasklet designs that run on it.

- :data:`Proc`: kernel code as a generator a CPU runs with ``yield from``;
- :class:`Tasklet`, with the SCHED/RUN bits of the bit-based designs;
- :class:`IrqLine`: an interrupt source as a design sees it;
- :class:`CpuCosts`: the step costs every kernel's CPU pays;
- :class:`Design`: what a design says of itself, :data:`HOSTS` the kinds of
  host a design may run on, and :data:`DESIGNS`, the registry of designs.

A host adds its own contract on top: Xen's is :mod:`taskletsim.hv.seam`
(the CPU operations a design may call there, and the hooks the host calls).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, ClassVar, Protocol

from simpy.events import Event

from ..core.config import ConfigError, Param
from ..core.registry import Registry
from ..platform.locks import SpinLock

__all__ = [
    "DESIGNS",
    "HOSTS",
    "HOST_HOOKS",
    "STATE_RUN",
    "STATE_SCHED",
    "CpuCosts",
    "CpuOps",
    "Design",
    "IrqLine",
    "Proc",
    "Tasklet",
    "design_for_host",
    "design_hosts",
]

Proc = Generator[Event | int, Any, Any]
"""Kernel code: a generator a CPU runs with ``yield from`` (a call). What it yields goes to
the engine (an event to wait for, or an int: ns to sleep, see
:class:`taskletsim.core.sim.Process`); a design spends time with ``yield from cpu.work(ns)``."""

STATE_SCHED = 1 << 0
"""``TASKLET_STATE_SCHED`` / dpci ``STATE_SCHED``: queued, not yet claimed."""
STATE_RUN = 1 << 1
"""``TASKLET_STATE_RUN`` / dpci ``STATE_RUN``: claimed by a CPU, running."""

HOSTS = ("xen", "linux")
"""The kinds of host a design may run on (:attr:`Design.host`): ``xen``, the Xen
hypervisor of :mod:`taskletsim.hv`; ``linux``, the bare-metal Linux host of
:mod:`taskletsim.linux`."""

HOST_HOOKS = {
    "xen": ("softirq_handlers", "tasklet_schedule_on_cpu", "tasklet_kill", "do_softirq"),
    "linux": ("softirq_handlers", "tasklet_init", "tasklet_schedule"),
}
"""The hooks each host calls on a design (its contract: :class:`taskletsim.hv.seam.DesignHooks`,
:class:`taskletsim.linux.seam.LinuxDesignHooks`)."""


def design_hosts(design: object) -> tuple[str, ...]:
    """The hosts a design runs on: its ``hosts`` if it names several, else its ``host``."""
    hosts = getattr(design, "hosts", None)
    return tuple(hosts) if hosts else (getattr(design, "host", None),)  # type: ignore[return-value]


class Tasklet:
    """``struct tasklet`` (xen/include/xen/tasklet.h): the fields every design may use.

    ``scheduled_on``, ``is_running``, ``is_dead`` are Xen 4.4's; ``state``
    holds the SCHED/RUN bits of the bit-based designs (:data:`STATE_SCHED`,
    :data:`STATE_RUN`); ``list_cpu`` is the CPU whose list it is on (-1:
    none), for O(1) unlinking; ``last_cpu`` the last CPU that wrote ``state``.
    ``func(cpu)`` is ``t->func(t->data)``, run on the CPU that claimed it.
    """

    __slots__ = (
        "func",
        "id",
        "is_dead",
        "is_running",
        "is_softirq",
        "last_cpu",
        "list_cpu",
        "name",
        "scheduled_on",
        "state",
    )

    def __init__(
        self, ident: int, name: str, func: Callable[[Any], Proc], is_softirq: bool = True
    ) -> None:
        self.id = ident
        self.name = name
        self.func = func
        self.is_softirq = is_softirq
        self.scheduled_on = -1
        self.is_running = False
        self.is_dead = False
        self.state = 0
        self.list_cpu = -1
        self.last_cpu = -1

    def __repr__(self) -> str:
        return f"<Tasklet {self.name}>"


class IrqLine(Protocol):
    """An interrupt source as a design sees it: its trace id and name, and a way to fire it."""

    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str: ...
    def raise_irq(self) -> None: ...


class CpuOps(Protocol):
    """The operations every host's CPU offers a design (a host's own contract adds its
    own: :class:`taskletsim.hv.seam.Cpu`, :class:`taskletsim.linux.seam.Cpu`). Methods
    returning :data:`Proc` take simulated time: call them with ``yield from``;
    ``work(ns)`` is ``ns`` of kernel code, interrupts taken inside it when enabled."""

    softirq_pending: int
    """The CPU's pending softirq mask (bit ``nr`` = softirq number ``nr``)."""

    @property
    def id(self) -> int: ...
    @property
    def socket(self) -> int: ...
    @property
    def online(self) -> bool:
        """False once the CPU went down: it runs no more softirqs."""

    @property
    def irqs_enabled(self) -> bool: ...

    def work(self, ns: int) -> Proc: ...
    def local_irq_save(self) -> bool: ...
    def local_irq_restore(self, flags: bool) -> Proc: ...
    def local_irq_disable(self) -> None: ...
    def local_irq_enable(self) -> Proc: ...
    def spin_lock(self, lock: SpinLock) -> Proc: ...
    def spin_unlock(self, lock: SpinLock) -> None: ...
    def spin_lock_irq(self, lock: SpinLock) -> Proc: ...
    def spin_unlock_irq(self, lock: SpinLock) -> Proc: ...
    def spin_lock_irqsave(self, lock: SpinLock) -> Generator[Event | int, Any, bool]: ...
    def spin_unlock_irqrestore(self, lock: SpinLock, flags: bool) -> Proc: ...
    def raise_softirq(self, nr: int) -> None: ...


class CpuCosts(Protocol):
    """The step costs, in ns, every kernel's CPU pays (a host's costs have these and more)."""

    @property
    def irq_entry_ns(self) -> int: ...
    @property
    def irq_exit_ns(self) -> int: ...
    @property
    def softirq_dispatch_ns(self) -> int: ...
    @property
    def irq_save_restore_ns(self) -> int: ...
    @property
    def ipi_send_ns(self) -> int: ...
    @property
    def ipi_latency_ns(self) -> int: ...
    @property
    def timer_fn_ns(self) -> int: ...


class Design(Protocol):
    """What a tasklet design says of itself, whatever host it runs on."""

    name: ClassVar[str]
    description: ClassVar[str]
    host: ClassVar[str]
    """The kind of host it runs on (one of :data:`HOSTS`); a design that runs on several
    names them all in ``hosts`` (:func:`design_hosts`)."""
    softirqs: ClassVar[tuple[tuple[str, str | None], ...]]
    default_lock: ClassVar[str]
    options: ClassVar[tuple[Param, ...]]


def design_for_host(name: str, host: str) -> type[Design]:
    """The design registered as ``name``, which must run on ``host`` (a ``ConfigError``
    naming the hosts it runs on if not)."""
    design = DESIGNS.resolve(name)
    hosts = design_hosts(design)
    if host not in hosts:
        raise ConfigError(
            "design", name, f"a design for the {host} host (it runs on {', '.join(hosts)})"
        )
    return design


def _check_design(obj: object) -> type[Design]:
    """A registered design must be a class with a name, known hosts and their hooks."""
    hosts = design_hosts(obj)
    for host in hosts:
        if host not in HOSTS:
            raise TypeError(
                f"a tasklet design whose host is one of {', '.join(HOSTS)} (not {host!r})"
            )
    hooks = sorted({hook for host in hosts for hook in HOST_HOOKS[host]})
    missing = [hook for hook in hooks if not callable(getattr(obj, hook, None))]
    if not isinstance(obj, type) or missing or not getattr(obj, "name", ""):
        raise TypeError(
            "a tasklet design class with a name and the hooks of "
            "taskletsim.TaskletDesign" + (f" (missing: {', '.join(missing)})" if missing else "")
        )
    return obj


DESIGNS: Registry[type[Design]] = Registry(
    "design",
    lambda cls: cls.name,
    builtins="taskletsim.designs",
    group="taskletsim.designs",
    check=_check_design,
)
"""The registry of tasklet designs (built-ins, entry points, ``module:Class``)."""
