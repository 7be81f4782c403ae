"""Regression of the contention numbers against tests/golden/*.json.

Runs are deterministic, so integers must match exactly and floats to 1e-9
relative. To accept a deliberate change: ``python tests/golden.py``, then
review and commit the diff of tests/golden/.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from .golden import CASES, SEEDS, designs, path, pinned


def same(expected: Any, got: Any, where: str) -> None:
    if isinstance(expected, dict):
        assert set(got) == set(expected), f"{where}: keys differ"
        for key in expected:
            same(expected[key], got[key], f"{where} / {key}")
    elif isinstance(expected, float) or isinstance(got, float):
        assert math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-12), (
            f"{where}: {got} != {expected}"
        )
    else:
        assert got == expected, f"{where}: {got} != {expected}"


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("design", designs())
@pytest.mark.parametrize("scenario", list(CASES))
def test_contention_numbers_match_the_golden_file(scenario: str, design: str, seed: int) -> None:
    golden = json.loads(path(scenario).read_text())
    key = f"{design} seed {seed}"
    same(golden[key], pinned(scenario, design, seed), f"{scenario} {key}")
