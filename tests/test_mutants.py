"""Every mutant (tests/mutants.py) is caught by the invariant it breaks; hand-made traces
break the invariants no mutant reaches. Each broken invariant is named."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import taskletsim as ts
from taskletsim.core.events import EventKind as K
from taskletsim.core.recorder import TraceRecorder
from taskletsim.core.trace import IrqInfo
from taskletsim.hv.seam import DESIGNS
from taskletsim.metrics.invariants import INVARIANTS, InvariantError, check_trace
from taskletsim.platform.arrivals import Replay
from taskletsim.platform.locks import LOCK_KINDS

from .helpers import tiny
from .mutants import (
    DESIGN_MUTANTS,
    GlobalDropsReschedule,
    GlobalForgetsYieldFrom,
    GlobalListOutsideLock,
    LifoTicketLock,
    RfcEnqueuesTwice,
    RfcWithoutRunBit,
    TwoHolderLock,
)


@pytest.fixture(autouse=True, scope="module")
def registered() -> Iterator[None]:
    for cls in DESIGN_MUTANTS:
        DESIGNS.register(cls)
    yield
    for cls in DESIGN_MUTANTS:
        DESIGNS.unregister(cls.name)


def two_cpus_one_domain(design: str) -> ts.Trace:
    """One domain, MSIs on CPU 0 at 1000 and on CPU 1 at 1300: the second schedule comes
    while CPU 0 runs the domain's tasklet; the run then goes quiet."""
    m = tiny(design)
    d = m.add_domain("dom")
    v = m.add_vcpu(d, 3, "idle")
    m.add_device(d, v, Replay((1000,)), cpu=0)
    m.add_device(d, v, Replay((1300,)), cpu=1)
    m.sim.run(20_000)
    return m.sim.trace.finish()


def caught(trace: ts.Trace, drained: bool = True) -> str:
    with pytest.raises(InvariantError) as info:
        check_trace(trace, drained=drained)
    assert str(info.value).startswith(info.value.invariant + ": ")
    return info.value.invariant


def test_the_originals_pass_the_same_cases() -> None:
    for design in ("xen-4.4-global", "rfc-percpu"):
        check_trace(two_cpus_one_domain(design), drained=True)


@pytest.mark.parametrize(
    "mutant",
    [
        RfcWithoutRunBit,
        RfcEnqueuesTwice,
        GlobalListOutsideLock,
        GlobalDropsReschedule,
        GlobalForgetsYieldFrom,
    ],
)
def test_each_design_mutant_is_caught_by_its_invariant(mutant: type) -> None:
    assert caught(two_cpus_one_domain(mutant.name)) == mutant.broken


def test_a_step_never_driven_fails_the_conformance_suite() -> None:
    """A design that calls a step without ``yield from`` does none of it: check_design
    fails (the lock it never released), where the step's half done, with the lock
    released at the call, would have passed."""
    from taskletsim.testing import DesignCheckError, check_design

    with pytest.raises(DesignCheckError, match="tasklet_lock"):
        check_design(GlobalForgetsYieldFrom.name)


@pytest.mark.parametrize(
    ("mutant", "scenario", "params"),
    [
        (TwoHolderLock, "small-2socket", {"lock": "mcs", "irq_rate_per_s": 100_000}),
        (LifoTicketLock, "lock-open",
         {"lock": "ticket", "rate_per_s": 8e5, "spinners": "unbounded"}),
    ],
)  # fmt: skip
def test_each_lock_mutant_is_caught_by_its_invariant(
    mutant: type, scenario: str, params: dict[str, object]
) -> None:
    original = LOCK_KINDS.resolve(mutant.kind)
    LOCK_KINDS.register(mutant, replace=True)
    try:
        trace = ts.run(scenario, seed=1, duration_ms=5, params=params, check=False).trace
    finally:
        LOCK_KINDS.register(original, replace=True)
    assert caught(trace, drained=False) == mutant.broken
    clean = ts.run(scenario, seed=1, duration_ms=5, params=params, check=False).trace
    check_trace(clean)  # the same run with the real lock passes


# -- hand-made traces for what no mutant above reaches ------------------------------------


def recorded(events: list[tuple[int, int, K, int, int]], irqs: int = 1) -> ts.Trace:
    rec = TraceRecorder()
    rec.names.add("lock", "l")
    for i in range(irqs):
        rec.names.add("irq", f"dev{i}")
        rec.meta.irq.append(IrqInfo(f"dev{i}", "device", 0))
    for t, cpu, kind, subject, arg in events:
        rec.append((t, cpu, int(kind), subject, arg))
    return rec.finish()


GOOD = [
    (100, 0, K.IRQ_RAISE, 0, 1),
    (100, 0, K.IRQ_ENTRY, 0, 1),
    (200, 0, K.IRQ_EXIT, 0, 1),
    (300, 0, K.VIRQ_INJECT, 0, 0),
]


@pytest.mark.parametrize(
    ("events", "invariant"),
    [
        ([(100, 0, K.IRQ_RAISE, 0, 1), (50, 1, K.IRQ_RAISE, 0, 2)], "time-order"),
        ([(100, 0, K.IRQ_RAISE, 0, 1), (100, 0, K.IRQ_ENTRY, 0, 1),
          (120, 0, K.IRQ_RAISE, 0, 2), (130, 0, K.IRQ_ENTRY, 0, 2)], "irqs-off"),
        ([(100, 0, K.LOCK_CONTEND, 0, 1), (110, 0, K.IRQ_RAISE, 0, 1),
          (110, 0, K.IRQ_ENTRY, 0, 1)], "irqs-off"),
        ([(100, 0, K.IRQ_ENTRY, 0, 1), (110, 0, K.IRQ_RAISE, 0, 1)], "latency"),
        ([(100, 0, K.IRQ_RAISE, 0, 1), (200, 0, K.VIRQ_INJECT, 0, 0),
          (300, 0, K.VIRQ_INJECT, 0, 0)], "virq-raised"),
        ([(100, 0, K.LOCK_ACQUIRE, 0, -1), (110, 1, K.LOCK_ACQUIRE, 0, -1)], "lock-holder"),
    ],
)  # fmt: skip
def test_hand_made_traces_break_the_named_invariant(
    events: list[tuple[int, int, K, int, int]], invariant: str
) -> None:
    check_trace(recorded(GOOD))
    assert caught(recorded(events), drained=False) == invariant


def test_irqs_taken_while_spinning_with_irqs_on_are_fine() -> None:
    check_trace(
        recorded([(100, 0, K.LOCK_CONTEND, 0, 0), (110, 0, K.IRQ_RAISE, 0, 1),
                  (110, 0, K.IRQ_ENTRY, 0, 1), (150, 0, K.IRQ_EXIT, 0, 1),
                  (200, 0, K.LOCK_ACQUIRE, 0, 100), (210, 0, K.LOCK_RELEASE, 0, 0)])
    )  # fmt: skip


def test_every_invariant_is_exercised_by_a_test_here() -> None:
    named = {cls.broken for cls in (*DESIGN_MUTANTS, TwoHolderLock, LifoTicketLock)}
    named |= {"time-order", "irqs-off", "latency", "virq-raised", "lock-holder"}
    assert set(INVARIANTS) - named == {"runstates"}  # (test_trace.py checks that one)
