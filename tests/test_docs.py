"""The code in README.md and docs/ runs, as SimPy's docs conftest runs its examples.

Every fenced block of a Markdown file that shows Python (```python) or a
command (```sh, ```console, ```bash) is executed:

- Python blocks of one file run in order in one namespace, in a scratch
  directory (files they write land there);
- each command runs in a shell from the project root, with the project's
  ``examples/`` importable; a ``pip install ... &&`` prefix is dropped (the
  test session is the installed project) and the README's test command is
  checked to be the one ``.ci/run`` runs rather than run inside itself;
- a ```text block right after a one-command block is that command's
  expected output, compared exactly.

Nothing in the project may point at files a user who clones it does not
have: the steering folder next to the checkout, or its design and model notes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELLS = {"sh", "console", "bash", "shell"}
FENCE = re.compile(r"^```(\S*)[^\n]*\n(.*?)^```\s*$", re.M | re.S)


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    lang: str
    code: str
    expected: str | None = None

    def __str__(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    text = page.read_text()
    found: list[Block] = []
    matches = list(FENCE.finditer(text))
    for i, m in enumerate(matches):
        lang = m.group(1).lower()
        line = text.count("\n", 0, m.start()) + 1
        if lang == "text" and found and found[-1].lang in SHELLS:
            between = text[matches[i - 1].end() : m.start()]
            if not between.strip() and len(commands(found[-1].code)) == 1:
                prev = found.pop()
                found.append(Block(prev.page, prev.line, prev.lang, prev.code, m.group(2)))
                continue
        if lang == "python" or lang in SHELLS:
            found.append(Block(page, line, lang, m.group(2)))
    return found


def commands(code: str) -> list[str]:
    """Shell commands of a block: continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", code)
    out = []
    for line in joined.splitlines():
        line = line.split(" #")[0].strip()
        if line.startswith("$ "):
            line = line[2:]
        if line and not line.startswith("#"):
            out.append(line)
    return out


def readme_test_command() -> str:
    """The README's second command: what CI runs."""
    first = blocks(ROOT / "README.md")[0]
    return commands(first.code)[1]


ALL = [b for page in PAGES for b in blocks(page)]
PYTHON_PAGES = sorted({b.page for b in ALL if b.lang == "python"})


def test_there_is_code_to_run() -> None:
    assert any(b.lang == "python" for b in ALL)
    assert any(b.expected for b in ALL), "the README's main job and its stored output"


@pytest.mark.parametrize("page", PYTHON_PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_python_blocks_run(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(ROOT / "examples"))
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    for block in (b for b in ALL if b.page == page and b.lang == "python"):
        try:
            exec(compile(block.code, str(block), "exec"), namespace)
        except Exception as error:
            pytest.fail(f"{block}: {type(error).__name__}: {error}")
    capsys.readouterr()


SHELL_BLOCKS = [b for b in ALL if b.lang in SHELLS]


@pytest.mark.parametrize("block", SHELL_BLOCKS, ids=str)
def test_commands_run(block: Block) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "examples"), env.get("PYTHONPATH", "")])
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    for command in commands(block.code):
        command = re.sub(r"^pip install [^&]*&&\s*", "", command)
        if command == re.sub(r"^pip install [^&]*&&\s*", "", readme_test_command()):
            ci = (ROOT / ".ci" / "run").read_text()
            assert readme_test_command() in ci.splitlines(), ".ci/run must run the README's tests"
            continue
        out = subprocess.run(
            command, shell=True, cwd=ROOT, env=env, capture_output=True, text=True, check=False
        )
        assert out.returncode == 0, f"{block}: {command}\n{out.stderr}"
        if block.expected is not None:
            assert out.stdout == block.expected, f"{block}: output of {command} changed"


def test_nothing_points_outside_the_project() -> None:
    steering, notes = "shared" + "/", ("MODEL", "DESIGN")
    pattern = re.compile("|".join([re.escape(steering), *(rf"\b{n}\.md" for n in notes)]))
    places = [ROOT / "README.md"]
    for folder in ("src", "docs", "examples", "tests", "benchmarks"):
        places += [p for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".md", ".toml")]
    bad = [
        f"{p.relative_to(ROOT)}:{i}"
        for p in places
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert not bad, f"references to files a user does not have: {bad}"
