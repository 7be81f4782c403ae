"""The trace's row: its five columns and the event kinds, after real tracepoints.

An event is one row of five integers: ``time_ns`` (int64), ``cpu`` (int16),
``kind`` (uint8, an :class:`EventKind`), ``subject`` (int32: a lock, tasklet,
IRQ source or vCPU id, looked up in the name table) and ``arg`` (int64, whose
meaning depends on the kind, see :class:`EventKind`).
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class EventKind(IntEnum):
    """Event kinds, after the tracepoints engineers already read.

    ``arg`` by kind:

    - ``LOCK_CONTEND``: 1 if the waiter spins with interrupts disabled, else 0
      (Linux ``lock:contention_begin``).
    - ``LOCK_ACQUIRE``: the time of this acquisition's ``LOCK_CONTEND``, or -1
      when it was not contended (``lock:contention_end`` + acquire).
    - ``LOCK_RELEASE``: 0.
    - ``IRQ_*``: subject the IRQ source, arg the interrupt's sequence number.
    - ``SOFTIRQ_*``: subject the softirq number (``meta.softirqs`` names
      them); ``SOFTIRQ_RAISE``'s arg is the target CPU.
    - ``RUNSTATE_CHANGE``: subject the vCPU, arg the new runstate (Xen
      ``TRC_SCHED_RUNSTATE_CHANGE``).
    - ``TASKLET_SCHEDULE``: subject the tasklet, arg the IRQ source whose
      interrupt led to it (-1: none). ``TASKLET_ENTRY``: the tasklet is claimed
      to run (``is_running``/RUN set); ``TASKLET_EXIT``: its function returned.
    - ``VIRQ_INJECT``: subject the IRQ source, arg the vCPU it is injected into.
    - ``VM_ENTRY``: the guest starts executing (after the entry cost); ``VM_EXIT``:
      it stops (before the exit cost), arg the VMX exit reason; subject the
      vCPU. Guest time is VM_ENTRY -> VM_EXIT; the rest of RUNNING is Xen's.
    - ``IRQ_COALESCE``: an arrival of an IRQ source merged into a request
      already pending, so it raises nothing of its own; arg the level
      (:data:`COALESCE_LAPIC`: the vector is pending in the local APIC's IRR;
      :data:`COALESCE_VIRTUAL`: the guest's vLAPIC vector or event channel is
      still pending; :data:`COALESCE_DEVICE`: held by a device waiting for
      the guest's EOI; :data:`COALESCE_POLLED`: taken by the guest's polling
      while the device's interrupt is masked, NAPI-style).
    """

    IRQ_RAISE = 0
    IRQ_ENTRY = 1
    IRQ_EXIT = 2
    SOFTIRQ_RAISE = 3
    SOFTIRQ_ENTRY = 4
    SOFTIRQ_EXIT = 5
    TASKLET_SCHEDULE = 6
    TASKLET_ENTRY = 7
    TASKLET_EXIT = 8
    LOCK_CONTEND = 9
    LOCK_ACQUIRE = 10
    LOCK_RELEASE = 11
    RUNSTATE_CHANGE = 12
    VIRQ_INJECT = 13
    VM_EXIT = 14
    VM_ENTRY = 15
    IRQ_COALESCE = 16


COALESCE_LAPIC = 0
"""An arrival merged into the same vector pending in the local APIC (one per IRR bit)."""
COALESCE_VIRTUAL = 1
"""A delivery merged into the guest's pending vLAPIC vector or event-channel port."""
COALESCE_DEVICE = 2
"""An arrival held (or merged) by a device that waits for the guest's EOI."""
COALESCE_POLLED = 3
"""An arrival the guest takes by polling while the device's interrupt is masked."""


COLUMNS: tuple[tuple[str, type[np.generic]], ...] = (
    ("time_ns", np.int64),
    ("cpu", np.int16),
    ("kind", np.uint8),
    ("subject", np.int32),
    ("arg", np.int64),
)
