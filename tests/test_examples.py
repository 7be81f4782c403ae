"""The example scripts keep working (their full runs are documented, not run here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).parent.parent


def test_calibration_quick_grid_marks_the_observations(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "calibration.py"), "--quick",
         "--duration-ms", "10", "--out", str(tmp_path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    table = pd.read_csv(tmp_path / "calibration.csv")
    assert len(table) == 4
    readings = [f"a_{a}" for a in "snpwg"] + ["b_b", "b_r"]
    pairs = [f"all_{a}{b}" for a in "snpwg" for b in "br"]
    for column in (*readings, *pairs, "a_steal", "b_running", "b_wall", "c_delivered"):
        assert column in table.columns
    for a in "snpwg":  # each pair's region is where its readings and (c) all hold
        for b in "br":
            both = table[f"a_{a}"] & table[f"b_{b}"] & table.c_delivered
            assert (table[f"all_{a}{b}"] == both).all()
    assert "where (a), (b) and (c) hold, by reading:" in out.stdout
    assert "points where a, b (of wall) and c hold" in out.stdout
