"""Softirq numbering: a host's softirqs in number order, with a design's own added.

``do_softirq`` runs the lowest-numbered pending softirq first (Xen's and
Linux's alike). A tasklet design may add softirqs of its own, inserted before
an existing one (the seed's ``TASKLET_SOFTIRQ_PERCPU`` goes before Xen's
``TASKLET_SOFTIRQ``) or appended after the host's (Xen 4.6's
``HVM_DPCI_SOFTIRQ`` is an x86 one).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def softirq_table(
    host: Sequence[str], extra: Iterable[tuple[str, str | None]] = ()
) -> tuple[str, ...]:
    """The softirq names in number order: the ``host``'s, with a design's
    ``(name, before)`` added; ``before`` is the name to insert in front of, or
    ``None`` to append."""
    names = list(host)
    for name, before in extra:
        if before is None:
            names.append(name)
        else:
            names.insert(names.index(before), name)
    return tuple(names)
