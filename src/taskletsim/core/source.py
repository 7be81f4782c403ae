"""Where a trace came from, and which event kinds it can hold.

A simulated trace holds every kind (``TraceMeta.source`` is ``None``). A trace
imported from a real machine (:mod:`taskletsim.capture`) carries a
:class:`TraceSource`: the tool that recorded it, the kinds that tool can see,
what it cannot, and how many of the file's records became events. A metric that
needs a kind the source cannot hold asks :func:`require_kinds`, which raises a
:class:`~taskletsim.core.config.ConfigError` instead of letting an absent kind
read as zero.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from .config import ConfigError
from .events import EventKind


@dataclass(frozen=True)
class TraceSource:
    """An imported trace's provenance and coverage (``TraceMeta.source``, as a dict).

    ``tool``: ``xentrace`` or ``perf``, ``ftrace``, ``trace-cmd``; ``file``: the
    capture's name; ``kinds``: the :class:`EventKind` names the tool can record
    (absent from the trace does not mean absent from the machine for the
    others); ``caveats``: what it cannot see, in words; ``counts``: records read,
    mapped, skipped by reason, unknown event ids; ``warnings``: each damage found
    where the rest of the file was still sound; ``excluded``: ``[cpu, start_ns,
    end_ns]`` windows whose records the tool lost (``cpu`` -1: all CPUs);
    ``details``: anything else the importer knows (the TSC rate, its origin).
    """

    tool: str
    file: str
    kinds: tuple[str, ...]
    caveats: tuple[str, ...] = ()
    counts: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    excluded: tuple[tuple[int, int, int], ...] = ()
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form kept in ``TraceMeta.source``."""
        data = asdict(self)
        data["kinds"] = list(self.kinds)
        data["caveats"] = list(self.caveats)
        data["warnings"] = list(self.warnings)
        data["excluded"] = [list(w) for w in self.excluded]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TraceSource:
        """The inverse of :meth:`as_dict`."""
        return cls(
            tool=str(data["tool"]),
            file=str(data["file"]),
            kinds=tuple(data.get("kinds", ())),
            caveats=tuple(data.get("caveats", ())),
            counts=dict(data.get("counts", {})),
            warnings=tuple(data.get("warnings", ())),
            excluded=tuple((int(c), int(a), int(b)) for c, a, b in data.get("excluded", ())),
            details=dict(data.get("details", {})),
        )

    def covers(self, kind: EventKind) -> bool:
        """Whether the tool can record events of ``kind``."""
        return kind.name in self.kinds


def trace_source(source: dict[str, Any] | None) -> TraceSource | None:
    """``TraceMeta.source`` as a :class:`TraceSource` (``None``: a simulated trace)."""
    return None if source is None else TraceSource.from_dict(source)


def require_kinds(source: dict[str, Any] | None, metric: str, kinds: Iterable[EventKind]) -> None:
    """Refuse ``metric`` on a trace whose source cannot record all of ``kinds``.

    Raises :class:`ConfigError` naming the metric, the missing kinds and the
    source; a simulated trace (``source`` ``None``) has every kind."""
    found = trace_source(source)
    if found is None:
        return
    missing = [k.name for k in kinds if not found.covers(k)]
    if missing:
        raise ConfigError(
            "metric",
            metric,
            f"a trace with {', '.join(missing)} events; a {found.tool} capture "
            f"({found.file}) cannot record them",
        )
