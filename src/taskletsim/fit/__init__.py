"""Models fitted to traces: arrival processes of interrupt sources (:mod:`.arrivals`)."""

from .arrivals import ArrivalFit, FamilyFit, fit_arrivals, fit_sources, source_arrivals

__all__ = ["ArrivalFit", "FamilyFit", "fit_arrivals", "fit_sources", "source_arrivals"]
