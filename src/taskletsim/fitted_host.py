"""The host file ``taskletsim fit`` writes: the tables :func:`taskletsim.fit.host.fit_host`
fitted to a trace, and a simulation's own parameters for what no trace shows."""

from __future__ import annotations

from typing import Any

from .core.trace import Trace
from .designs.base import get_design
from .scenarios.host.params import spec_params
from .scenarios.host.spec import toml_value
from .scenarios.linux_file import linux_host_params


def host_document(trace: Trace, fitted: dict[str, Any], design: str, name: str) -> dict[str, Any]:
    """The host file: the fitted tables, and a simulation's own parameters for what no
    trace shows (its step costs, its devices' back-pressure); for a run of a built-in
    Linux scenario, that scenario with its fitted parameters (``scenario = NAME``)."""
    source = trace.meta.source
    origin = f"{source['tool']} {source['file']}" if source else f"{trace.meta.scenario} run"
    doc: dict[str, Any] = {
        "schema": 1,
        "name": name,
        "description": f"fitted by taskletsim fit to {origin}",
        "design": design,
        "duration_ms": round(max(trace.meta.duration_ns or 0, 1_000_000) / 1e6, 3),
    }
    if "scenario" in fitted:  # a built-in Linux scenario's run: its own parameters
        doc["scenario"] = fitted["scenario"]
        doc["params"] = {k: toml_value(v) for k, v in fitted["params"].items()}
        return doc
    doc["host"] = fitted["host"]
    if "devices" in fitted:  # a Linux host
        if source is None and trace.meta.params:
            names = {p.name for p in linux_host_params()} | {
                p.name for p in get_design(design).options
            }
            names -= {"sockets", "cores_per_socket", "threads_per_core", "hogs"}  # hogs: tasks
            kept = {k: v for k, v in trace.meta.params.items() if k in names}
            doc["params"] = {k: toml_value(v) for k, v in kept.items()}
        if fitted.get("params"):  # what the fit read of the host itself (a capture's HZ)
            doc["params"] = {**doc.get("params", {}), **fitted["params"]}
        doc["devices"] = fitted["devices"]
        doc["tasks"] = fitted["tasks"]
        if fitted.get("softirqs"):
            doc["softirqs"] = fitted["softirqs"]
        return doc
    if source is None and trace.meta.params:
        kept = spec_params(trace.meta.params, design)
        doc["params"] = {k: toml_value(v) for k, v in kept.items()}
    doc["guests"] = fitted["guests"]
    return doc
