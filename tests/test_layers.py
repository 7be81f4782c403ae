"""The import graph of ``src/taskletsim``, read from the source: layers only import down.

Layers, lowest first: ``core`` (engine, config, trace, registry), ``platform``
(topology, locks, arrivals), ``metrics`` (reads traces only), ``capture`` (real
machines' traces in and out: knows traces only, like metrics), ``fit`` (models
fitted to traces: reads traces, makes the platform's processes), ``hv`` (the Xen
host), ``designs``, ``scenarios``, ``runner``, ``output``, then the top
(``cli``, ``testing``, the package's ``__init__``). Every import, type-only
ones included, must go to the module's own layer or one it may use; outside
``hv/`` and ``designs/`` only ``hv.machine`` (the assembler) and ``hv.seam``
(the interfaces) may be imported from ``hv/``; and the runtime imports
(module level or inside functions, not under ``TYPE_CHECKING``) have no cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).parent.parent / "src"
PACKAGE = "taskletsim"

MAY_USE: dict[str, set[str]] = {
    "core": {"core"},
    "platform": {"core", "platform"},
    "metrics": {"core", "metrics"},
    "capture": {"core", "capture"},
    "fit": {"core", "platform", "metrics", "fit"},
    "kernel": {"core", "platform", "kernel"},
    "hv": {"core", "platform", "kernel", "hv"},
    "linux": {"core", "platform", "kernel", "linux"},
    "designs": {"core", "platform", "kernel", "hv", "linux", "designs"},
    "scenarios": {"core", "platform", "kernel", "hv", "linux", "designs", "scenarios"},
    "runner": {
        "core",
        "platform",
        "metrics",
        "kernel",
        "hv",
        "linux",
        "designs",
        "scenarios",
        "runner",
    },
    "output": {"core", "metrics", "runner", "output"},
}
HV_PUBLIC = {f"{PACKAGE}.hv.machine", f"{PACKAGE}.hv.seam", f"{PACKAGE}.hv.vocabulary"}
KERNEL_PUBLIC = {f"{PACKAGE}.kernel.seam"}
LINUX_PUBLIC = {
    f"{PACKAGE}.linux.{name}" for name in ("machine", "seam", "costs", "dma", "nic", "irqdev")
}  # the host, the designs' seam, and the devices a scenario builds


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted((SRC / PACKAGE).rglob("*.py"))}


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in MAY_USE) else "top"


def is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(module: str) -> list[tuple[str, bool, int]]:
    """(imported module, at run time?, line) for every import of ``module`` in the package."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, bool, int]] = []

    def add(target: str, runtime: bool, line: int) -> None:
        if target == PACKAGE or target.startswith(PACKAGE + "."):
            found.append((target, runtime, line))

    def visit(node: ast.AST, runtime: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and is_type_checking(child):
                for sub in child.body:
                    visit_stmt(sub, False)
                for sub in child.orelse:
                    visit_stmt(sub, runtime)
            else:
                visit_stmt(child, runtime)

    def visit_stmt(node: ast.AST, runtime: bool) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, runtime, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                add(sub if sub in MODULES else target, runtime, node.lineno)
        else:
            visit(node, runtime)

    visit(ast.parse(path.read_text()), True)
    return found


GRAPH = {m: imports(m) for m in MODULES}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_down_the_layers(module: str) -> None:
    mine = layer(module)
    for target, _runtime, line in GRAPH[module]:
        theirs = layer(target)
        where = f"{MODULES[module].relative_to(SRC)}:{line} imports {target}"
        if mine != "top":
            assert theirs in MAY_USE[mine], f"{where}: layer {mine} may not use layer {theirs}"
        if theirs == "hv" and mine not in ("hv", "designs"):
            assert target in HV_PUBLIC, f"{where}: only {sorted(HV_PUBLIC)} are public"
        if theirs == "linux" and mine not in ("linux", "designs"):
            assert target in LINUX_PUBLIC, f"{where}: only {sorted(LINUX_PUBLIC)} are public"
        if theirs == "kernel" and mine not in ("kernel", "hv", "linux"):
            assert target in KERNEL_PUBLIC, f"{where}: only {sorted(KERNEL_PUBLIC)} are public"


def runtime_edges() -> dict[str, set[str]]:
    """Run-time imports, with the implicit import of the packages that contain the target
    (except those containing the importer, which are initialised before it runs)."""
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    for module, found in GRAPH.items():
        own = module.split(".")
        mine = {".".join(own[:i]) for i in range(1, len(own) + 1)}
        for target, runtime, _line in found:
            if not runtime:
                continue
            parts = target.split(".")
            for i in range(2, len(parts) + 1):
                parent = ".".join(parts[:i])
                if parent in MODULES and parent not in mine:
                    edges[module].add(parent)
    return edges


def test_no_runtime_import_cycle() -> None:
    edges = runtime_edges()
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt]
                raise AssertionError("runtime import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                walk(nxt)
        stack.pop()
        state[node] = 2

    for module in sorted(MODULES):
        if module not in state:
            walk(module)


def test_the_checker_sees_a_bad_import(tmp_path: Path) -> None:
    """The graph is real: hv.machine imports the seam, metrics import the trace."""
    assert (f"{PACKAGE}.hv.seam", True) in {(t, r) for t, r, _ in GRAPH[f"{PACKAGE}.hv.machine"]}
    assert layer(f"{PACKAGE}.metrics.locks") == "metrics"
    assert any(t == f"{PACKAGE}.core.trace" for t, _, _ in GRAPH[f"{PACKAGE}.metrics.locks"])
    assert "metrics" not in MAY_USE["hv"] and "hv" not in MAY_USE["metrics"]
    assert "hv" not in MAY_USE["kernel"]
    assert "hv" not in MAY_USE["linux"] and "linux" not in MAY_USE["hv"]
    assert any(t == f"{PACKAGE}.kernel.cpu" for t, _, _ in GRAPH[f"{PACKAGE}.hv.cpu"])


RUNNERS = {"run", "compare", "sweep", "replicate"}
"""The runner's functions that simulate."""


@pytest.mark.parametrize("module", sorted(m for m in MODULES if layer(m) == "output"))
def test_output_draws_and_writes_but_never_simulates(module: str) -> None:
    """Reports and figures are made from results; the command or the runner runs them."""
    tree = ast.parse(MODULES[module].read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and "runner" in node.module:
            names = {alias.name for alias in node.names}
            where = f"{MODULES[module].relative_to(SRC)}:{node.lineno}"
            assert not node.module.endswith("single"), f"{where} imports the runner's run"
            assert not names & RUNNERS, f"{where} imports {sorted(names & RUNNERS)}"
