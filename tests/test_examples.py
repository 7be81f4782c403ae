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
    for column in ("a_steal", "b_running", "b_wall", "c_delivered", "rfc_p99_ns"):
        assert column in table.columns
    assert "points where a, b (of wall) and c hold" in out.stdout
