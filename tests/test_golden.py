"""The project's pinned contention numbers, through its own pytest plugin (exact mode).

Every design on ``small-2socket`` (20 ms, 2 ms warm-up) and a shortened
``xen-8socket-passthrough`` (15 ms, 5 ms warm-up), seeds 1 and 2: each run's
digest, event count, the figures of ``compare`` and each lock's totals, in
``tests/test_golden/*.yml``. A change to the model shows as a reviewable
diff of those files: ``pytest tests/test_golden.py --force-regen``, then
commit the diff with the change that caused it, saying why the numbers moved.
"""

from __future__ import annotations

import pytest

from taskletsim.pytest_plugin import ContentionRegression

CASES = {
    "small-2socket": {"duration_ms": 20, "warmup_ms": 2},
    "xen-8socket-passthrough": {"duration_ms": 15, "warmup_ms": 5},
}


@pytest.mark.parametrize("scenario", list(CASES))
def test_contention_numbers_are_pinned(
    contention_regression: ContentionRegression, scenario: str
) -> None:
    contention_regression.check(scenario, seeds=(1, 2), mode="exact", **CASES[scenario])
