"""Xen's trace format: record layout and the event ids taskletsim reads and writes.

From ``xen/include/public/trace.h`` (Xen 4.4 and current) and
``tools/xentrace/xentrace.c``. A record (``struct t_rec``) is one 32-bit header
word (``event:28``, ``extra_u32:3``, ``cycles_included:1``), then a 64-bit TSC
(``cycles_lo``, ``cycles_hi``) if the flag is set, then ``extra_u32`` data
words; host-endian (every Xen host taskletsim knows of is little-endian, and
so is what it writes). ``xentrace`` writes no file header: it writes each
pCPU's records as windows, each after a ``cpu_change_record`` (the header
``TRC_TRACE_CPU_CHANGE`` with two data words: the CPU and the window's size in
bytes, no TSC).
"""

from __future__ import annotations

TRC_HD_CYCLE_FLAG = 1 << 31
TRACE_EXTRA_SHIFT = 28
TRACE_EXTRA_MAX = 7
EVENT_MASK = 0x0FFFFFFF

TRC_GEN = 0x0001F000
TRC_LOST_RECORDS = TRC_GEN + 1
"""Data: records lost, ``did:16 vid:16``, the first lost record's TSC (64 bits)."""
TRC_TRACE_WRAP_BUFFER = TRC_GEN + 2
"""Padding Xen writes where its per-CPU buffer wraps; no data of interest."""
TRC_TRACE_CPU_CHANGE = TRC_GEN + 3
"""Written by ``xentrace`` before each pCPU's window: the CPU, the window's bytes."""
CPU_CHANGE_HEADER = TRC_TRACE_CPU_CHANGE | (2 << TRACE_EXTRA_SHIFT)

TRC_SCHED_MIN = 0x00021000
TRC_SCHED_RUNSTATE_CHANGE = TRC_SCHED_MIN + 1
"""``trace_runstate_change`` (``common/schedule.c`` in 4.4, ``common/sched/core.c``
now): the old runstate in bits 8-9 of the event id, the new one in bits 4-5;
one data word, ``vcpu:16`` (low half) and ``domain:16`` (high half)."""
RUNSTATE_EVENT_MASK = ~((3 << 8) | (3 << 4)) & EVENT_MASK

TRC_HVM_ENTRYEXIT = 0x00081000
TRC_HVM_HANDLER = 0x00082000
TRC_64_FLAG = 0x100
TRC_HVM_NESTEDFLAG = 0x400
TRC_HVM_VMENTRY = TRC_HVM_ENTRYEXIT + 0x01
"""``vmx_trace_vmentry`` / ``svm_trace_vmentry``: no data."""
TRC_HVM_VMX_EXIT = TRC_HVM_ENTRYEXIT + 0x02
"""Xen 4.4's ``TRC_HVM_VMEXIT`` (VMX and SVM alike); VMX only since 4.19. Data:
the exit reason, then the guest's RIP (one word, or two with ``TRC_64_FLAG``)."""
TRC_HVM_SVM_EXIT = TRC_HVM_ENTRYEXIT + 0x03
"""SVM's exits since Xen 4.19 (commit 320e644616, 2024): the same data."""
TRC_HVM_INJ_VIRQ = TRC_HVM_HANDLER + 0x04
"""``vmx_intr_assist`` / ``svm_intr_assist``: the vector, and 1 for a fake
injection; Xen records it without a TSC."""

TRC_HW_IRQ = 0x00802000
TRC_HW_IRQ_HANDLED = TRC_HW_IRQ + 0x8
"""``do_IRQ`` (``arch/x86/irq.c``) after a handler: the IRQ, and the low 32 bits of
the TSC at the handler's start and at its end."""

IDLE_DOMID = 0x7FFF
"""``DOMID_IDLE``: the idle vCPUs, which have no runstates of a guest's."""

LOCAL_TIMER_VECTOR = 0xEC
"""Linux x86's local APIC timer vector (``arch/x86/include/asm/irq_vectors.h``):
the vector an exported run gives each vCPU's tick."""
FIRST_EXPORT_VECTOR = 0x30
"""The first vector an exported run gives a vCPU's other interrupt sources."""


def runstate_event(old: int, new: int) -> int:
    """The event id of a runstate change from ``old`` to ``new``."""
    return TRC_SCHED_RUNSTATE_CHANGE | (old & 3) << 8 | (new & 3) << 4
