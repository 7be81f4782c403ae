"""Models fitted to traces: arrival processes of interrupt sources (:mod:`.arrivals`),
durations of handlers, softirqs and tasklets (:mod:`.durations`), and guests'
vCPUs as their runstates show them (:mod:`.guests`)."""

from .arrivals import ArrivalFit, FamilyFit, fit_arrivals, fit_sources, source_arrivals
from .durations import Empirical, fit_durations
from .guests import VcpuFit, fit_vcpus

__all__ = [
    "ArrivalFit",
    "Empirical",
    "FamilyFit",
    "VcpuFit",
    "fit_arrivals",
    "fit_durations",
    "fit_sources",
    "fit_vcpus",
    "source_arrivals",
]
