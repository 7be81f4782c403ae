"""``compare --html``: a self-contained page, checked as text and in a real browser."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


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
