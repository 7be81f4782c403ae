"""Xen's shared vocabulary: VMX exit reasons, vCPU runstates, softirq numbers, and the
names of the guest workloads, device models and MSI deliveries a host is built from.

What the hypervisor's modules (and a scenario describing a host) all speak of,
in one place, so that none imports another only for a name.
"""

from __future__ import annotations

from enum import IntEnum


class ExitReason(IntEnum):
    """VMX basic exit reasons used here (Intel SDM vol. 3, appendix C)."""

    NONE = 0
    """Not an exit: the guest carries on (an EOI handled by APICv, say)."""
    EXTERNAL_INTERRUPT = 1
    HLT = 12
    VMCALL = 18
    APIC_WRITE = 56


# The exit reasons as plain ints, for the paths taken at every VM exit: CPython 3.11 loads
# an IntEnum member from its class about four times as slowly as a module global.
EXIT_NONE = int(ExitReason.NONE)
EXIT_EXTERNAL_INTERRUPT = int(ExitReason.EXTERNAL_INTERRUPT)
EXIT_HLT = int(ExitReason.HLT)
EXIT_VMCALL = int(ExitReason.VMCALL)
EXIT_APIC_WRITE = int(ExitReason.APIC_WRITE)


class Runstate(IntEnum):
    """``RUNSTATE_*`` of xen/include/public/vcpu.h."""

    RUNNING = 0
    RUNNABLE = 1
    BLOCKED = 2
    OFFLINE = 3


XEN_SOFTIRQS: tuple[str, ...] = (
    "TIMER_SOFTIRQ",
    "SCHEDULE_SOFTIRQ",
    "NEW_TLBFLUSH_CLOCK_PERIOD_SOFTIRQ",
    "RCU_SOFTIRQ",
    "TASKLET_SOFTIRQ",
    "NMI_MCE_SOFTIRQ",
    "TIME_CALIBRATE_SOFTIRQ",
    "VCPU_KICK_SOFTIRQ",
)
"""Softirq numbers in order (xen/include/xen/softirq.h and asm-x86/softirq.h at
RELEASE-4.4.0): ``do_softirq`` runs the lowest-numbered pending one first."""

WORKLOADS = ("busy", "idle", "mixed")
"""What a guest vCPU does in guest mode (:mod:`taskletsim.hv.guests`)."""

DEVICE_MODELS = ("open", "eoi", "napi")
"""A passthrough device's back-pressure (:mod:`taskletsim.hv.devices`)."""

MSI_DELIVERY = ("vlapic", "evtchn")
"""How a guest takes a passthrough MSI: through its emulated local APIC, or as a
PVHVM guest's pirq event channel."""
