"""The seed's measurement on ``xen-8socket-passthrough``, all four designs, seeds 1 and 2.

Runs are shortened to 60 ms (12 ms warm-up) to keep CI fast;
docs/calibration.md has the full-length numbers and states what the model
gives for the seed's three observations with ``xen-4.4-global``:

(a) idle guests' steal: the seed's 40% is not reached (the calibration map's
    highest is 27%); at the defaults it is 15-25%;
(b) lock spinning is about a tenth of idle guests' time read as a share of
    wall time (5-20%), and most of their RUNNING time read as a share of it;
(c) passthrough interrupts are still delivered (at least 90% of those
    raised), with p99 latency orders of magnitude worse than the RFC's.

``rfc-percpu`` removes it all; ``xen-4.6-dpci`` (ticket lock, passthrough
off the lock, ticks still on it) keeps a contended lock with little steal.
"""

from __future__ import annotations

import pytest

import taskletsim as ts
from taskletsim.runner.compare import Comparison, compare
from taskletsim.runner.pool import default_executor

DESIGNS = tuple(ts.design_names(builtin=True))


@pytest.fixture(scope="module")
def comparison() -> Comparison:
    executor = default_executor(2)
    try:
        return compare(
            "xen-8socket-passthrough",
            DESIGNS,
            (1, 2),
            duration_ms=60,
            warmup_ms=12,
            executor=executor,
        )
    finally:
        if executor is not None:
            executor.shutdown()


def mean(c: Comparison, design: str, metric: str) -> float:
    return c.estimates[design][metric].mean


def test_a_idle_guests_steal_is_large_but_not_the_seeds(comparison: Comparison) -> None:
    assert 15.0 <= mean(comparison, "xen-4.4-global", "idle.steal_pct") <= 25.0
    assert mean(comparison, "xen-4.4-global", "lock.tasklet_lock.contention_pct") > 90.0


def test_b_lock_spinning_is_a_tenth_of_wall_time_and_most_of_running(
    comparison: Comparison,
) -> None:
    assert 5.0 <= mean(comparison, "xen-4.4-global", "idle.lock_wait_pct_of_wall") <= 20.0
    assert mean(comparison, "xen-4.4-global", "idle.lock_wait_pct_of_running") > 50.0
    assert mean(comparison, "xen-4.4-global", "busy.lock_wait_pct_of_running") > 50.0


def test_c_interrupts_are_delivered_late(comparison: Comparison) -> None:
    glob = comparison.estimates["xen-4.4-global"]
    raised = glob["raised_irq_per_s"].mean
    assert raised > 0 and glob["delivered_irq_per_s"].mean >= 0.9 * raised
    p99 = "latency.device.virq.p99_ns"
    assert glob[p99].mean >= 100 * mean(comparison, "rfc-percpu", p99)


def test_rfc_percpu_removes_the_problem(comparison: Comparison) -> None:
    rfc = comparison.estimates["rfc-percpu"]
    assert rfc["idle.steal_pct"].mean < 0.5
    assert not any(m.startswith("lock.tasklet_lock.") for m in rfc)
    raised = rfc["raised_irq_per_s"].mean
    assert rfc["delivered_irq_per_s"].mean == pytest.approx(raised, rel=0.01)
    arrived = rfc["arrived_irq_per_s"].mean
    assert arrived == pytest.approx(rfc["offered_irq_per_s"].mean, rel=0.03)
    assert raised + rfc["polled_irq_per_s"].mean == pytest.approx(arrived, rel=1e-6)


def test_dpci_keeps_the_lock_for_ticks_only(comparison: Comparison) -> None:
    """Every tick takes tasklet_lock three times: 36 busy + 60 idle vCPUs at 1 kHz."""
    dpci = comparison.estimates["xen-4.6-dpci"]
    ticks_per_s = (36 + 60) * 1000.0
    assert dpci["lock.tasklet_lock.acquisitions_per_s"].mean == pytest.approx(
        3 * ticks_per_s, rel=0.02
    )
    assert dpci["lock.tasklet_lock.contention_pct"].mean > 50.0
    assert mean(comparison, "rfc-percpu", "idle.steal_pct") <= dpci["idle.steal_pct"].mean < 2.0
    assert dpci["delivered_irq_per_s"].mean == pytest.approx(
        dpci["raised_irq_per_s"].mean, rel=0.01
    )


def test_linux_is_reported(comparison: Comparison) -> None:
    assert comparison.estimates["linux"]["delivered_irq_per_s"].mean > 0
    assert comparison.estimates["linux"]["idle.steal_pct"].mean < 0.5
