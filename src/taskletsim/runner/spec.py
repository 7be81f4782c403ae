"""One run, as everything that runs one takes it: :class:`RunSpec`.

``run``, a comparison's and a sweep's workers, ``compare``, ``sweep``, the
pytest plugin and the command's figures all describe a run by the same ten
values; a :class:`RunSpec` holds them, frozen, checked where the run starts,
and serialised in the JSON documents (``runs[i].spec``) and a sweep's rows
(the ``spec`` column).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, TypedDict

from ..core.config import ConfigError, check_max_memory_mb, check_max_wall_s


@dataclass(frozen=True)
class RunSpec:
    """What to simulate, for how long, and how.

    ``scenario`` is a registered name, ``package.module:Class`` or the path of
    a ``.toml`` file; ``design`` a registered name or ``module:Class`` (``None``:
    the scenario's own). ``duration_ms`` and ``warmup_ms`` default to the
    scenario's; ``params`` override its parameters (strings are parsed as on
    the command line). ``check`` runs the trace invariants on the finished
    trace; ``metrics_only`` measures while running and keeps no trace;
    ``max_wall_s`` and ``max_memory_mb`` bound the run (see
    :func:`taskletsim.runner.single.run`).
    """

    scenario: str
    design: str | None = None
    seed: int = 0
    duration_ms: float | None = None
    warmup_ms: float | None = None
    params: Mapping[str, object] = field(default_factory=dict)
    check: bool = True
    metrics_only: bool = False
    max_wall_s: float | None = None
    max_memory_mb: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", dict(self.params))  # a copy the caller cannot change

    def with_(self, **changes: Any) -> RunSpec:
        """This spec with ``changes`` (field names as keywords)."""
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able copy (the parameters as given)."""
        return asdict(self) | {"params": dict(self.params)}

    def to_json(self) -> str:
        """:meth:`as_dict` as one JSON string (a sweep row's ``spec``)."""
        return json.dumps(self.as_dict(), sort_keys=True, default=str)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunSpec:
        """The inverse of :meth:`as_dict`; an unknown key is a :class:`ConfigError`."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError("spec", unknown, f"keys among {sorted(known)}")
        if "scenario" not in data:
            raise ConfigError("spec", dict(data), "a scenario")
        return cls(**data)


FIELDS = tuple(f.name for f in fields(RunSpec))
"""The ten values of a run, in order."""


def as_spec(scenario: str | RunSpec, **given: Any) -> RunSpec:
    """``scenario`` itself if it is a :class:`RunSpec` (then every value in ``given`` must
    be its field's default: a value is set in one place), else a spec of ``scenario`` and
    ``given`` (``params=None`` meaning none)."""
    if given.get("params") is None:
        given["params"] = {}
    if not isinstance(scenario, RunSpec):
        return RunSpec(scenario, **given)
    defaults = RunSpec("")
    for key, value in given.items():
        if value != getattr(defaults, key):
            raise ConfigError(key, value, "its default with a RunSpec (set it in the spec)")
    return scenario


class RunOptions(TypedDict, total=False):
    """How each run of a comparison or a sweep goes, as keywords: the fields of a
    :class:`RunSpec` but the scenario, design and seed, which the comparison or sweep
    sets."""

    duration_ms: float | None
    warmup_ms: float | None
    params: Mapping[str, object] | None
    check: bool
    metrics_only: bool
    max_wall_s: float | None
    max_memory_mb: float | None


def shared_spec(scenario: str | RunSpec, what: str, **given: Any) -> RunSpec:
    """What every run of a comparison or a sweep (``what``) shares: :func:`as_spec`, with
    no design or seed (``what`` sets them), its bounds checked before any run goes out."""
    base = as_spec(scenario, **given)
    if base.design is not None or base.seed != RunSpec("").seed:
        raise ConfigError("spec", base.as_dict(), f"no design or seed: {what} sets them")
    if base.max_wall_s is not None:
        base = base.with_(max_wall_s=check_max_wall_s(base.max_wall_s))
    if base.max_memory_mb is not None:
        base = base.with_(max_memory_mb=check_max_memory_mb(base.max_memory_mb))
    return base
