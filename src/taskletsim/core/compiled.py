"""Which of taskletsim's modules this installation runs compiled.

taskletsim is plain Python. An optional build compiles the simulation's hot
modules (the hypervisor model under ``taskletsim.hv`` but its seam and costs,
the spinlocks, the arrival processes) with mypyc::

    HATCH_BUILD_HOOK_ENABLE_MYPYC=true pip install .

It needs a C compiler, runs the same code and gives the same traces, bit for
bit (docs/performance.md). :func:`compiled_modules` says which build is
installed, so that a speed figure can say what it measured.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import pkgutil
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent


def compiled_modules() -> list[str]:
    """The names of the package's modules that load from a C extension (sorted; empty
    for the plain Python install). Modules are found, not imported."""
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    found = []
    for info in pkgutil.walk_packages([str(_PACKAGE)], "taskletsim."):
        spec = importlib.util.find_spec(info.name)
        if spec is not None and spec.origin is not None and spec.origin.endswith(suffixes):
            found.append(info.name)
    return sorted(found)
