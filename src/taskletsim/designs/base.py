"""The tasklet-design interface every design implements, and the design registry.

A design decides how deferred interrupt work (a *tasklet*) is queued and run:
``tasklet_schedule`` from IRQ or softirq context, ``tasklet_schedule_on_cpu``
for another CPU, the softirq action(s) that run it, ``tasklet_kill`` and
``migrate_tasklets_from_cpu`` for a CPU going offline. The two interrupt
paths of the seed call it through :meth:`TaskletDesign.hvm_do_IRQ_dpci`
(passthrough MSI, path B) and :meth:`TaskletDesign.tasklet_schedule` of a
vCPU's ``assert_evtchn_irq_tasklet`` (timer tick, path A).

To add a design: subclass :class:`TaskletDesign`, set ``name`` and
``description``, implement the abstract methods, and call
:func:`register_design` with the class. Run the tasklet's function with
:meth:`TaskletDesign.traced_claim` when it is marked running and
:meth:`TaskletDesign.run_tasklet` to run it, so its entry and exit are traced.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, ClassVar

from simpy.events import Event

from ..core.config import ConfigError, Param
from ..core.trace import EventKind

if TYPE_CHECKING:
    from ..hv.cpu import PCpu
    from ..hv.guests import Domain, Pirq
    from ..hv.machine import Machine

Proc = Generator[Event, Any, Any]
TaskletFunc = Callable[["PCpu"], Proc]
SoftirqHandler = Callable[["PCpu"], Proc]

_SCHEDULE = int(EventKind.TASKLET_SCHEDULE)
_ENTRY = int(EventKind.TASKLET_ENTRY)
_EXIT = int(EventKind.TASKLET_EXIT)


STATE_SCHED = 1 << 0
"""``TASKLET_STATE_SCHED`` / dpci ``STATE_SCHED``: queued, not yet claimed."""
STATE_RUN = 1 << 1
"""``TASKLET_STATE_RUN`` / dpci ``STATE_RUN``: claimed by a CPU, running."""


class Tasklet:
    """``struct tasklet`` (xen/include/xen/tasklet.h): the fields every design may use.

    ``scheduled_on``, ``is_running``, ``is_dead`` are Xen 4.4's; ``state``
    holds the SCHED/RUN bits of the bit-based designs (:data:`STATE_SCHED`,
    :data:`STATE_RUN`); ``list_cpu`` is the CPU whose list it is on (-1:
    none), for O(1) unlinking; ``last_cpu`` the last CPU that wrote ``state``.
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

    def __init__(self, ident: int, name: str, func: TaskletFunc, is_softirq: bool = True) -> None:
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


class TaskletDesign:
    """Base class of tasklet designs.

    ``softirqs`` lists the design's own softirqs as ``(name, before)``
    (``before``: an existing softirq to insert in front of, or ``None`` to
    append); :meth:`softirq_handlers` maps softirq names to actions.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    softirqs: ClassVar[tuple[tuple[str, str | None], ...]] = ()
    default_lock: ClassVar[str] = "ttas"
    """The spinlock kind of the code base the design comes from (Xen 2014: TTAS)."""
    options: ClassVar[tuple[Param, ...]] = ()
    """Design-specific parameters, set like scenario parameters (``--set``)."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.sim = machine.sim
        self._emit = machine.sim.emit
        self._clock = machine.sim.clock
        self._cost = machine.topology.cost
        given = machine.design_options
        self.option = {
            p.name: p.parse(given[p.name]) if p.name in given else p.default for p in self.options
        }

    def do_softirq(self, cpu: PCpu) -> Proc:
        """The softirq engine; Xen's ``__do_softirq`` unless a design overrides it."""
        yield from cpu.xen_do_softirq()

    def softirqs_deferred(self, cpu: PCpu) -> bool:
        """Whether ``cpu``'s pending softirqs must wait (e.g. for ksoftirqd)."""
        return False

    def atomic(self, cpu: PCpu, t: Tasklet) -> Proc:
        """A locked bit operation on ``t->state``: the line comes from its last toucher."""
        last = t.last_cpu if t.last_cpu >= 0 else cpu.id
        t.last_cpu = cpu.id
        yield from cpu.work(self._cost[last][cpu.id])

    # -- what every design must provide ------------------------------------

    def tasklet_schedule_on_cpu(self, cpu: PCpu, t: Tasklet, target: int, cause: int = -1) -> Proc:
        """Queue ``t`` to run on CPU ``target``; ``cause``: the IRQ source behind it, or -1."""
        raise NotImplementedError

    def softirq_handlers(self) -> dict[str, SoftirqHandler]:
        """The softirq actions of this design, by softirq name."""
        raise NotImplementedError

    def tasklet_kill(self, cpu: PCpu, t: Tasklet) -> Proc:
        """Unqueue ``t``, mark it dead, and wait until it is not running."""
        raise NotImplementedError

    def migrate_tasklets_from_cpu(self, cpu: PCpu, dead: int) -> Proc:
        """Move the tasklets queued on offline CPU ``dead`` to ``cpu``."""
        raise NotImplementedError

    # -- shared behaviour ---------------------------------------------------

    def tasklet_init(self, name: str, func: TaskletFunc, is_softirq: bool = True) -> Tasklet:
        """``softirq_tasklet_init``: a tasklet with a traced name."""
        return Tasklet(self.sim.trace.names.add("tasklet", name), name, func, is_softirq)

    def tasklet_schedule(self, cpu: PCpu, t: Tasklet, cause: int = -1) -> Proc:
        """``tasklet_schedule``: ``tasklet_schedule_on_cpu(t, smp_processor_id())``."""
        yield from self.tasklet_schedule_on_cpu(cpu, t, cpu.id, cause)

    def dirq_init(self, domain: Domain, func: TaskletFunc) -> None:
        """``pt_irq_create_bind``: set up the domain's deferred passthrough work."""
        domain.dirq_tasklet = self.tasklet_init(f"{domain.name}:dirq_tasklet", func)

    def hvm_do_IRQ_dpci(self, cpu: PCpu, pirq: Pirq) -> Proc:
        """Defer the domain's passthrough work: ``tasklet_schedule(&dpci->dirq_tasklet)``."""
        domain = pirq.domain
        assert domain.dirq_tasklet is not None
        yield from self.tasklet_schedule(cpu, domain.dirq_tasklet, pirq.source.id)

    def kill_by_state_bits(self, cpu: PCpu, t: Tasklet) -> Proc:
        """``tasklet_kill`` of the bit-based designs (Linux, and the RFC's copy of it):
        take SCHED, running pending softirqs while someone else holds it, wait for
        RUN to clear, then mark the tasklet dead."""
        relax = self.machine.costs.tasklet_list_ns
        while True:
            yield from self.atomic(cpu, t)  # test_and_set_bit(TASKLET_STATE_SCHED)
            was = t.state
            t.state |= STATE_SCHED
            if not was & STATE_SCHED:
                break
            while t.state & STATE_SCHED:  # process_pending_softirqs() / yield()
                yield from cpu.xen_do_softirq()
                yield from cpu.work(relax)
        while t.state & STATE_RUN:  # tasklet_unlock_wait
            yield from cpu.work(relax)
        t.state &= ~STATE_SCHED
        t.is_dead = True

    def traced_schedule(self, cpu: PCpu, t: Tasklet, cause: int) -> None:
        """Record that ``t`` was scheduled, by ``cause`` (an IRQ source id or -1)."""
        self._emit((self._clock._now, cpu.id, _SCHEDULE, t.id, cause))

    def traced_claim(self, cpu: PCpu, t: Tasklet) -> None:
        """Record ``TASKLET_ENTRY``: ``cpu`` has claimed ``t`` to run it.

        Emit it where the design marks the tasklet running (``is_running = 1``
        under the lock in Xen 4.4, the RUN bit in the per-CPU designs): a
        schedule after this point makes it run again.
        """
        self._emit((self._clock._now, cpu.id, _ENTRY, t.id, -1))

    def traced_exit(self, cpu: PCpu, t: Tasklet) -> None:
        """Record ``TASKLET_EXIT``: ``cpu`` is done with ``t``."""
        self._emit((self._clock._now, cpu.id, _EXIT, t.id, -1))

    def run_tasklet(self, cpu: PCpu, t: Tasklet) -> Proc:
        """``t->func(t->data)``, then ``TASKLET_EXIT``."""
        yield from t.func(cpu)
        self.traced_exit(cpu, t)


_DESIGNS: dict[str, type[TaskletDesign]] = {}


def register_design(cls: type[TaskletDesign]) -> type[TaskletDesign]:
    """Make ``cls`` selectable by its ``name`` (``--design NAME``); usable as a decorator."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    _DESIGNS[cls.name] = cls
    return cls


def get_design(name: str) -> type[TaskletDesign]:
    """The design class registered as ``name``."""
    if name not in _DESIGNS:
        raise ConfigError("design", name, "one of " + ", ".join(sorted(_DESIGNS)))
    return _DESIGNS[name]


def design_names() -> list[str]:
    """Names of all registered designs, sorted."""
    return sorted(_DESIGNS)


def design_options() -> tuple[Param, ...]:
    """Every registered design's options (first declaration of a name wins)."""
    seen: dict[str, Param] = {}
    for cls in _DESIGNS.values():
        for p in cls.options:
            seen.setdefault(p.name, p)
    return tuple(seen.values())
