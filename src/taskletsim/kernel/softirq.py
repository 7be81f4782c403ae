"""Softirq numbers (xen/include/xen/softirq.h and asm-x86/softirq.h at RELEASE-4.4.0).

``do_softirq`` runs the lowest-numbered pending softirq first. A tasklet
design may add softirqs of its own, inserted before an existing one (the
seed's ``TASKLET_SOFTIRQ_PERCPU`` goes before ``TASKLET_SOFTIRQ``) or
appended after the common ones (Xen 4.6's ``HVM_DPCI_SOFTIRQ`` is an x86 one).
"""

from __future__ import annotations

from collections.abc import Iterable

from .vocabulary import XEN_SOFTIRQS


def softirq_table(extra: Iterable[tuple[str, str | None]] = ()) -> tuple[str, ...]:
    """The softirq names in number order, with a design's ``(name, before)`` added.

    ``before`` is the name to insert in front of, or ``None`` to append.
    """
    names = list(XEN_SOFTIRQS)
    for name, before in extra:
        if before is None:
            names.append(name)
        else:
            names.insert(names.index(before), name)
    return tuple(names)
