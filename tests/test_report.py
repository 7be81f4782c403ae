"""``compare --html``: a self-contained page, checked as text and in a real browser, and
``taskletsim plot``'s figures."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import taskletsim as ts

from .conftest import taskletsim_cli

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    folder = tmp_path_factory.mktemp("report")
    page = folder / "report.html"
    out = taskletsim_cli(
        "compare", "small-2socket", "--seeds", "2", "--duration-ms", "8", "--json",
        "--html", str(page), "--set", "irq_rate_per_s=60000",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return page, json.loads(out.stdout)


def test_the_page_holds_everything_and_fetches_nothing(
    report: tuple[Path, dict[str, object]],
) -> None:
    page, doc = report
    text = page.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)  # nothing from a network
    assert text.count("data:image/png;base64,") == 3
    digests = doc["digests"]
    assert isinstance(digests, dict)
    for design, values in digests.items():
        assert design in text
        for digest in values:
            assert digest in text  # every run's digest
    for name in ("simpy", "numpy", "matplotlib", "python"):
        assert f"<td>{name}</td>" in text
    assert "irq_rate_per_s" in text and "60000" in text
    assert "taskletsim compare small-2socket" in text  # the command that made it


def _browser() -> str | None:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


def test_the_page_renders_in_a_headless_browser(
    report: tuple[Path, dict[str, object]], tmp_path: Path
) -> None:
    browser = _browser()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("no Chromium: .ci/run installs it (apt-get install chromium)")
        pytest.skip("no Chromium here (CI installs it)")
    page, _ = report
    shot = tmp_path / "shot.png"
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--user-data-dir={tmp_path / 'profile'}"]  # fmt: skip
    shown = subprocess.run(
        [*flags, "--enable-logging=stderr", "--v=0", "--window-size=1280,3000",
         f"--screenshot={shot}", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr[-2000:]
    console = [line for line in shown.stderr.splitlines() if "CONSOLE" in line]
    assert any("figures drawn 3/3" in line for line in console), console  # the page's own check
    errors = [line for line in console if re.search(r"Uncaught|Error|ERROR|Failed", line)]
    assert not errors, errors
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)[..., :3]
    assert pixels.shape[0] >= 2000 and pixels.shape[1] >= 1200
    ink = (pixels.mean(axis=2) < 0.9).mean()
    assert 0.02 < ink < 0.6, ink  # neither blank nor a solid block
    assert pixels.std() > 0.05
    dom = subprocess.run(
        [*flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert 'data-figures="3/3"' in dom.stdout  # every <img> decoded with a size


# -- taskletsim plot -------------------------------------------------------------------


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
