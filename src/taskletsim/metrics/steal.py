"""Steal as a guest reads it: the readings of one vCPU's runstate times that a Linux
guest's ``top`` would show, and what its pCPU's lock spinning cost it.

Xen keeps each vCPU's runstate times (``xen/common/schedule.c``,
``vcpu_runstate_change``); a Linux guest reads them through its steal clock,
``xen_steal_clock`` (``drivers/xen/time.c``: RUNNABLE + OFFLINE), and
``top`` shows the share of ``/proc/stat``'s ``steal`` in the sum of its
fields. What that sum is depends on how the guest accounts the rest of its
time:

- **NO_HZ guest** (``steal_top_nohz_pct``): idle is wall time,
  ``get_idle_time`` (``fs/proc/stat.c``) reading ``idle_sleeptime``
  (``kernel/time/tick-sched.c``), which runs from idle entry to the interrupt
  that ends it, so the wait of a woken vCPU for a pCPU counts as idle *and* as
  steal; busy time is ticked, each tick's steal taken out of it. The sum is
  wall + the RUNNABLE time entered from BLOCKED.
- **periodic-tick guest** (``steal_top_periodic_pct``): every field is
  accounted by the ticks the guest handles, ``account_process_tick``
  (``kernel/sched/cputime.c``, Linux 3.x): ``steal_account_process_tick`` turns
  the steal clock's advance into whole ticks of steal (the remainder waits for
  the next tick) and, when there is any, the tick itself is not accounted;
  otherwise the tick is one tick of user, system or idle. A late tick handles
  one grid point, not the ones it skipped, so the accounted total falls short
  of wall time when ticks are late.

:func:`periodic_tick_accounting` is that rule over a vCPU's handled ticks; the
readings themselves are properties of :class:`~taskletsim.metrics.runstates.VcpuTime`.
"""

from __future__ import annotations

import numpy as np

from ..core.trace import IrqInfo, TraceMeta

STEAL_READINGS = (
    "steal_pct",
    "steal_top_nohz_pct",
    "steal_top_periodic_pct",
    "runnable_share_of_wanted_pct",
    "runnable_share_of_wanted_guest_pct",
)
"""Every reading of steal, as :class:`~taskletsim.metrics.runstates.VcpuTime` names them."""

GUEST_HZ = 1000
"""The guests' ``HZ`` when the trace does not say (its model has no ``tick_hz``):
an assumption, the model's default and that of the distribution kernels of 2014
built with ``CONFIG_HZ_1000``."""

TIMESLICE_NS = 30_000_000
"""Credit1's default timeslice (``sched_credit_tslice_ms``, 30 ms): the span the seed's
"3 ms out of 30 ms" reading of lock time is over."""


def guest_tick_ns(meta: TraceMeta) -> int:
    """``TICK_NSEC`` of the guests' kernel: from the run's ``tick_hz`` parameter
    (``meta.model["params"]``), else :data:`GUEST_HZ`."""
    params = meta.model.get("params", {}) if isinstance(meta.model, dict) else {}
    hz = params.get("tick_hz", GUEST_HZ) if isinstance(params, dict) else GUEST_HZ
    return round(1e9 / float(hz))


def is_tick(info: IrqInfo) -> bool:
    """Whether an IRQ source is a vCPU's tick: the timer named ``VCPU:timer`` (a
    ``mixed`` guest's ``VCPU:oneshot`` is an application's timer, not the tick)."""
    return info.kind == "timer" and info.name.endswith(":timer")


def periodic_tick_accounting(steal_clock_ns: np.ndarray, tick_ns: int) -> tuple[int, int]:
    """What a periodic-tick guest's ``/proc/stat`` accounts over its handled ticks:
    ``(steal_ns, other_ns)``, other being user + system + idle.

    ``steal_clock_ns`` is the vCPU's steal clock at each handled tick, in order,
    counted from the window's start. ``steal_account_process_tick`` accounts
    ``floor((clock - prev) / TICK)`` ticks of steal and moves ``prev`` on by
    whole ticks, so after tick ``k`` the steal accounted is
    ``floor(clock_k / TICK)`` ticks; a tick that accounts none is a tick of
    user, system or idle.
    """
    if not len(steal_clock_ns):
        return 0, 0
    whole = np.asarray(steal_clock_ns, dtype=np.int64) // tick_ns
    quiet = int(np.count_nonzero(np.diff(whole, prepend=0) == 0))
    return int(whole[-1]) * tick_ns, quiet * tick_ns


class TickAccount:
    """:func:`periodic_tick_accounting` one tick at a time (for a tracker)."""

    __slots__ = ("quiet", "whole")

    def __init__(self) -> None:
        self.whole = 0  # ticks of steal accounted so far
        self.quiet = 0  # ticks that accounted no steal

    def tick(self, steal_clock_ns: int, tick_ns: int) -> None:
        whole = steal_clock_ns // tick_ns
        if whole == self.whole:
            self.quiet += 1
        self.whole = whole

    def totals(self, tick_ns: int) -> tuple[int, int]:
        return self.whole * tick_ns, self.quiet * tick_ns


def lock_readings(lock_wait_ns: int, running_ns: int, window_ns: int) -> dict[str, float]:
    """The lock's share as the seed read it: ``lock_wait_pct_of_running`` (the part of
    RUNNING the vCPU's pCPU spent spinning on a lock) and ``lock_wait_ms_per_30ms_wall``
    (that time per :data:`TIMESLICE_NS` of wall time, in ms)."""
    return {
        "lock_wait_pct_of_running": 100.0 * lock_wait_ns / running_ns if running_ns else 0.0,
        "lock_wait_ms_per_30ms_wall": (
            lock_wait_ns / window_ns * TIMESLICE_NS / 1e6 if window_ns else 0.0
        ),
    }
