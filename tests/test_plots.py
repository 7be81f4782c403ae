"""``taskletsim plot``: each figure from saved files and from a run made for it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import taskletsim as ts

from .helpers import taskletsim_cli


def _is_picture(path: Path) -> None:
    assert path.exists() and path.stat().st_size > 5000
    if path.suffix == ".png":
        import matplotlib.image

        pixels = matplotlib.image.imread(path)[..., :3]
        assert pixels.std() > 0.05  # something was drawn
    else:
        text = path.read_text()
        assert text.startswith("<?xml") and text.count("<path") > 20


@pytest.mark.parametrize("figure", ["latency", "steal", "lockwait"])
def test_plot_from_a_comparison_file(
    figure: str, report: tuple[Path, dict[str, object]], tmp_path: Path
) -> None:
    _, doc = report
    saved = tmp_path / "cmp.json"
    saved.write_text(json.dumps(doc))
    out = tmp_path / f"{figure}.png"
    res = taskletsim_cli("plot", figure, str(saved), "-o", str(out))
    assert res.returncode == 0, res.stderr
    _is_picture(out)


def test_plot_from_traces_and_a_run(tmp_path: Path) -> None:
    traces = []
    for design in ("xen-4.4-global", "rfc-percpu"):
        path = tmp_path / f"{design}.parquet"
        ts.run("small-2socket", design=design, seed=1, duration_ms=4,
               params={"irq_rate_per_s": 60000}).trace.save(path)  # fmt: skip
        traces.append(str(path))
    for figure in ("latency", "lockwait"):
        out = tmp_path / f"{figure}.svg"
        res = taskletsim_cli("plot", figure, *traces, "-o", str(out))
        assert res.returncode == 0, res.stderr
        _is_picture(out)
    out = tmp_path / "timeline.png"
    res = taskletsim_cli("plot", "timeline", traces[0], "--window-us", "1000:1300", "-o", str(out))
    assert res.returncode == 0, res.stderr
    _is_picture(out)
    out = tmp_path / "run.png"
    res = taskletsim_cli("plot", "timeline", "--scenario", "small-2socket", "--cpus", "0-3",
                         "-o", str(out))  # fmt: skip
    assert res.returncode == 0, res.stderr
    _is_picture(out)


def test_plot_sweep_curves(tmp_path: Path) -> None:
    rows = tmp_path / "rows.parquet"
    ts.sweep("small-2socket", {"irq_rate_per_s": [5000, 20000, 60000]},
             ["xen-4.4-global", "linux"], (1, 2), duration_ms=4, output=rows)  # fmt: skip
    out = tmp_path / "sweep.png"
    res = taskletsim_cli("plot", "sweep", str(rows), "--metric", "latency.device.virq.p99_ns",
                         "-o", str(out))  # fmt: skip
    assert res.returncode == 0, res.stderr
    _is_picture(out)
    bad = taskletsim_cli("plot", "sweep", str(rows), "--x", "nope", "-o", str(out))
    assert bad.returncode == 2 and "--x" in bad.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["plot", "latency", "-o", "x.pdf"],
        ["plot", "latency", "-o", "x.png"],  # no input, no scenario
        ["plot", "latency", "missing.parquet", "-o", "x.png"],
        ["plot", "timeline", "--scenario", "small-2socket", "--window-us", "5:1", "-o", "x.png"],
        ["plot", "steal", "--scenario", "small-2socket", "--design", "nope", "-o", "x.png"],
    ],
)
def test_plot_bad_input_is_one_line(args: list[str], tmp_path: Path) -> None:
    args = [a if not a.startswith("x.") else str(tmp_path / a) for a in args]
    out = taskletsim_cli(*args)
    assert out.returncode == 2, out.stderr
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("taskletsim: error:")
    assert not np.any([p.suffix in (".png", ".pdf") for p in tmp_path.iterdir()])
