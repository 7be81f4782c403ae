"""The code in README.md and docs/ runs, as SimPy's docs conftest runs its examples.

Every fenced block of a Markdown file that shows Python (```python) or a
command (```sh, ```console, ```bash) is executed:

- Python blocks of one file run in order in one namespace, in a scratch
  directory (files they write land there);
- each command runs in a shell, in a scratch directory that sees the
  project's ``examples/`` and ``benchmarks/``, with ``examples/`` importable
  and only what the core install (``pip install .``, no extras) installs
  importable: a module of any other installed distribution fails to import,
  as it would on a fresh machine; a ``pip install ... &&`` prefix is dropped
  (the test session is the installed project) and the README's test command
  is checked to be the one ``.ci/run`` runs rather than run inside itself;
- a ```text block right after a one-command block is that command's
  expected output, compared exactly.

Nothing in the project may point at files a user who clones it does not
have: the steering folder next to the checkout, or its design and model notes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

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


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@cache
def core_distributions() -> frozenset[str]:
    """taskletsim and what its core install brings: its requirements without extras,
    and theirs, evaluated for this interpreter."""
    found: set[str] = set()
    todo = ["taskletsim"]
    while todo:
        name = todo.pop()
        if _norm(name) in found:
            continue
        found.add(_norm(name))
        try:
            requires = metadata.distribution(name).requires or []
        except metadata.PackageNotFoundError:
            continue
        for text in requires:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return frozenset(found)


def non_core_modules() -> list[str]:
    """Top-level modules that only distributions outside the core install provide."""
    core = core_distributions()
    return sorted(
        module
        for module, dists in metadata.packages_distributions().items()
        if not any(_norm(d) in core for d in dists)
    )


CORE_ONLY = """import json, os, sys
_blocked = frozenset(json.loads(os.environ["TASKLETSIM_TEST_NOT_INSTALLED"]))
class _NotInstalled:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.partition(".")[0] in _blocked:
            raise ModuleNotFoundError(f"No module named {name!r} (not in the core install)")
        return None
sys.meta_path.insert(0, _NotInstalled)
"""


@pytest.fixture(scope="module")
def shell_env(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], Path]:
    """The environment and scratch directory commands run in: ``examples/`` importable,
    only the core install's modules importable (a ``sitecustomize`` every Python
    process of the command imports), the project's folders it names at hand."""
    guard = tmp_path_factory.mktemp("core-only")
    (guard / "sitecustomize.py").write_text(CORE_ONLY)
    scratch = tmp_path_factory.mktemp("commands")
    for folder in ("examples", "benchmarks"):
        (scratch / folder).symlink_to(ROOT / folder)
    env = dict(os.environ)
    path = [str(guard), str(ROOT / "examples"), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(path)
    env["TASKLETSIM_TEST_NOT_INSTALLED"] = json.dumps(non_core_modules())
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    return env, scratch


def test_the_core_install_lacks_the_extras(shell_env: tuple[dict[str, str], Path]) -> None:
    """The guard is real: pytest and dask (extras) fail to import in a command, matplotlib
    and pandas (core) do not."""
    env, scratch = shell_env
    assert "matplotlib" in core_distributions() and "pytest" not in core_distributions()
    for extra in ("pytest", "dask", "sphinx"):
        probe = f"import matplotlib, pandas, taskletsim\ntry:\n    import {extra}\n"
        probe += f"except ImportError:\n    pass\nelse:\n    raise SystemExit('{extra} imported')"
        out = subprocess.run(
            [sys.executable, "-c", probe], cwd=scratch, env=env,
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("block", SHELL_BLOCKS, ids=str)
def test_commands_run(block: Block, shell_env: tuple[dict[str, str], Path]) -> None:
    env, scratch = shell_env
    for command in commands(block.code):
        command = re.sub(r"^pip install [^&]*&&\s*", "", command)
        if command == re.sub(r"^pip install [^&]*&&\s*", "", readme_test_command()):
            ci = (ROOT / ".ci" / "run").read_text()
            assert readme_test_command() in ci.splitlines(), ".ci/run must run the README's tests"
            continue
        out = subprocess.run(
            command, shell=True, cwd=scratch, env=env, capture_output=True, text=True, check=False
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
