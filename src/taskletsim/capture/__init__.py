"""Real machines' traces: xentrace captures read into a trace (:mod:`.xentrace`) and
traces written as xentrace captures (:mod:`.xentrace_export`), and Linux tracepoint text
(``perf script``, tracefs, ``trace-cmd report``) read into a trace (:mod:`.ftrace`)."""

from .ftrace import import_ftrace, read_kallsyms
from .xentrace import VectorMap, import_xentrace, read_lockprof
from .xentrace_export import ExportSummary, export_xentrace, xen_vcpu_ids

__all__ = [
    "ExportSummary",
    "VectorMap",
    "export_xentrace",
    "import_ftrace",
    "import_xentrace",
    "read_kallsyms",
    "read_lockprof",
    "xen_vcpu_ids",
]
