"""The :class:`Scenario` interface and the registry of built-in scenarios.

A scenario is a named, parameterised model: it declares its parameters as
:class:`~taskletsim.config.Param` specs and builds its model components into a
:class:`~taskletsim.sim.Simulation`. To add one, subclass :class:`Scenario`,
fill in the class attributes, implement :meth:`Scenario.build`, and pass the
class to :func:`register_scenario`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from ..core.config import ConfigError, Param
from ..core.sim import Simulation


class Scenario:
    """Base class of scenarios.

    ``build(sim, params, design)`` creates the model inside ``sim`` and returns a
    function that, called once the run has ended, returns scenario-specific
    facts for the result (JSON-able: e.g. ``offered_load``, ``saturated``).
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()
    default_duration_ms: ClassVar[float] = 100.0
    takes_design: ClassVar[bool] = False

    default_design: ClassVar[str | None] = None

    def build(
        self, sim: Simulation, params: dict[str, Any], design: str | None = None
    ) -> Callable[[], dict[str, Any]]:
        raise NotImplementedError


_SCENARIOS: dict[str, type[Scenario]] = {}


def register_scenario(cls: type[Scenario]) -> type[Scenario]:
    """Make ``cls`` runnable by its ``name`` (usable as a class decorator)."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    _SCENARIOS[cls.name] = cls
    return cls


def get_scenario(name: str) -> Scenario:
    """The registered scenario called ``name``."""
    if name not in _SCENARIOS:
        raise ConfigError("scenario", name, "one of " + ", ".join(sorted(_SCENARIOS)))
    return _SCENARIOS[name]()


def scenario_names() -> list[str]:
    """Names of all registered scenarios, sorted."""
    return sorted(_SCENARIOS)


def scenario_params(spec: Scenario) -> tuple[Param, ...]:
    """The parameters ``spec`` accepts: its own, plus every design's options if it takes one."""
    if not spec.takes_design:
        return spec.params
    from ..designs import design_options

    own = {p.name for p in spec.params}
    return spec.params + tuple(p for p in design_options() if p.name not in own)
