"""The :class:`Scenario` interface and the scenario registry.

A scenario is a named, parameterised model: it declares its parameters as
:class:`~taskletsim.core.config.Param` specs and builds its model components
into a :class:`~taskletsim.core.sim.Simulation`. To add one, subclass
:class:`Scenario`, fill in the class attributes, implement
:meth:`Scenario.build`, and register the class with :func:`register_scenario`
(or an entry point in the group ``taskletsim.scenarios``). A scenario that
builds a Xen host takes a tasklet design (``takes_design``) and gets that
design's options as parameters too; :mod:`taskletsim.scenarios.host` has the
helpers that build one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, overload

from ..core.config import ConfigError, Param, resolve_params
from ..core.registry import Registry
from ..core.sim import Simulation
from ..designs.base import design_names, designs_with_option, get_design, option_error
from ..kernel.seam import design_hosts


class Scenario:
    """Base class of scenarios.

    ``build(sim, params, design)`` creates the model inside ``sim`` and returns a
    function that, called once the run has ended, returns scenario-specific
    facts for the result (JSON-able: e.g. ``offered_load``, ``saturated``).
    ``design`` is the name of the tasklet design (``None`` unless
    ``takes_design``).
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()
    default_duration_ms: ClassVar[float] = 100.0
    takes_design: ClassVar[bool] = False
    default_design: ClassVar[str | None] = None
    host: ClassVar[str] = "xen"
    """The kind of host a scenario that takes a design builds: its designs must run on it
    (:func:`~taskletsim.kernel.seam.design_hosts`)."""

    default_warmup_ms: ClassVar[float | None] = None
    """The warm-up a run takes when none is given (``None``: 0 for ``run``, a tenth of
    the run for ``taskletsim compare`` and ``sweep``)."""

    def build(
        self, sim: Simulation, params: dict[str, Any], design: str | None = None
    ) -> Callable[[], dict[str, Any]]:
        raise NotImplementedError

    def model(self, params: Mapping[str, Any], design: str | None) -> dict[str, Any]:
        """What a run with these resolved parameters models, as JSON-able data (recorded
        in the trace as ``meta.model``, which the digest covers): the parameters
        themselves, or for a host its full description."""
        return dict(params)


def _check_scenario(obj: object) -> type[Scenario]:
    if not (isinstance(obj, type) and issubclass(obj, Scenario) and obj.name):
        raise TypeError("a subclass of taskletsim.Scenario with a name")
    return obj


SCENARIOS: Registry[type[Scenario]] = Registry(
    "scenario",
    lambda cls: cls.name,
    builtins="taskletsim.scenarios",
    group="taskletsim.scenarios",
    check=_check_scenario,
)
"""The registry of scenarios (built-ins, entry points, ``module:Class``)."""


@overload
def register_scenario(cls: type[Scenario], *, replace: bool = ...) -> type[Scenario]: ...
@overload
def register_scenario(
    cls: None = ..., *, replace: bool = ...
) -> Callable[[type[Scenario]], type[Scenario]]: ...
def register_scenario(
    cls: type[Scenario] | None = None, *, replace: bool = False
) -> type[Scenario] | Callable[[type[Scenario]], type[Scenario]]:
    """Make ``cls`` runnable by its ``name``; usable as a class decorator, bare or as
    ``@register_scenario(replace=True)``. A name already taken raises ``ConfigError``
    unless ``replace=True``."""

    def add(scenario: type[Scenario]) -> type[Scenario]:
        SCENARIOS.register(scenario, replace=replace)
        return scenario

    return add if cls is None else add(cls)


def get_scenario(name: str) -> Scenario:
    """The scenario registered as ``name`` (or imported from ``package.module:Class``)."""
    return SCENARIOS.resolve(name)()


def scenario_names(*, builtin: bool | None = None) -> list[str]:
    """Names of the registered scenarios, in registration order."""
    return SCENARIOS.names(builtin=builtin)


def scenario_designs(spec: Scenario) -> list[str]:
    """The package's designs that run on ``spec``'s host, in registration order: what a
    comparison runs when no design is named."""
    if not spec.takes_design:
        return []
    return [n for n in design_names(builtin=True) if spec.host in design_hosts(get_design(n))]


def check_design_host(spec: Scenario, design: str) -> None:
    """A ``ConfigError`` unless ``design`` runs on the host ``spec`` builds."""
    hosts = design_hosts(get_design(design))
    if spec.host not in hosts:
        allowed = ", ".join(scenario_designs(spec))
        raise ConfigError(
            "design",
            design,
            f"a design that runs on scenario {spec.name}'s {spec.host} host ({allowed}); "
            f"it runs on {', '.join(hosts)}",
        )


def scenario_params(spec: Scenario, design: str | None = None) -> tuple[Param, ...]:
    """The parameters ``spec`` accepts: its own, plus the options of ``design``."""
    if not spec.takes_design:
        return spec.params
    chosen = design or spec.default_design
    own = {p.name for p in spec.params}
    if chosen:
        check_design_host(spec, chosen)
    options = get_design(chosen).options if chosen else ()
    return spec.params + tuple(p for p in options if p.name not in own)


def resolve_scenario_params(
    spec: Scenario, design: str | None, given: Mapping[str, object] | None
) -> dict[str, Any]:
    """Every parameter of ``spec`` run with ``design``: defaults overridden by ``given``.

    An option of another design is a ``ConfigError`` naming both designs.
    """
    specs = scenario_params(spec, design)
    known = {p.name for p in specs}
    chosen = design or spec.default_design
    for key, value in (given or {}).items():
        if key not in known and chosen and designs_with_option(key):
            raise option_error(key, value, chosen)
    return resolve_params(specs, given, owner=f"scenario {spec.name}")
