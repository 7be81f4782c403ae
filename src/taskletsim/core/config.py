"""Validated configuration: parameter specs, parsing and :class:`ConfigError`.

Every value a user can set (a scenario parameter, a seed, a duration) goes
through a :class:`Param`, which converts it and checks it. A bad value raises
:class:`ConfigError` naming the field, the value and what is allowed: the CLI
prints that one line and exits with status 2.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any


class ConfigError(ValueError):
    """A configuration value is not allowed.

    ``field`` is the name of the offending field, ``value`` the value given,
    and ``allowed`` a short description of what is allowed.
    """

    def __init__(self, field: str, value: object, allowed: str) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        super().__init__(f"{field}: {value!r} is not allowed; expected {allowed}")

    def __reduce__(self) -> tuple[type[ConfigError], tuple[str, object, str]]:
        """Pickled with its three fields, so that it crosses from a worker process."""
        return (type(self), (self.field, self.value, self.allowed))


def _parse_int(field: str, value: object) -> int:
    if isinstance(value, bool):
        raise ConfigError(field, value, "an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise ConfigError(field, value, "an integer")
    if isinstance(value, str):
        text = value.strip().replace("_", "")
        try:
            return int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                raise ConfigError(field, value, "an integer") from None
            if math.isfinite(number) and number.is_integer():
                return int(number)
            raise ConfigError(field, value, "an integer") from None
    raise ConfigError(field, value, "an integer")


def _parse_float(field: str, value: object) -> float:
    if isinstance(value, bool):
        raise ConfigError(field, value, "a number")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip().replace("_", ""))
        except ValueError:
            raise ConfigError(field, value, "a number") from None
    else:
        raise ConfigError(field, value, "a number")
    if not math.isfinite(number):
        raise ConfigError(field, value, "a finite number")
    return number


LARGEST = 1e12
"""The bound of a number parameter that states none of its own: larger times, rates or
counts are not physical here, and would overflow the model's 64-bit nanoseconds."""

SMALLEST = 1e-9
"""The least value of a ``positive`` number parameter: a rate or frequency below it
would put its next event past any 64-bit time."""


@dataclass(frozen=True)
class Param:
    """One named, typed, checked parameter of a scenario.

    ``kind`` is ``"int"``, ``"float"``, ``"choice"`` or ``"cost"`` (a step cost: a
    number of ns, or a distribution, :func:`parse_cost`). Numbers are checked
    against ``minimum`` (inclusive; ``positive``: > 0, for a float at least
    :data:`SMALLEST`) and ``maximum`` (:data:`LARGEST` when it is ``None``);
    choices against ``choices`` (a tuple, or a function returning the names,
    e.g. a registry's ``names``, read when a value is checked).
    ``optional`` parameters accept ``None`` (``--set name=none``) and default
    to it.
    """

    name: str
    kind: str
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    positive: bool = False
    choices: tuple[str, ...] | Callable[[], Iterable[str]] = ()
    optional: bool = False

    def choice_names(self) -> tuple[str, ...]:
        """The allowed values of a choice."""
        return tuple(self.choices) if isinstance(self.choices, tuple) else tuple(self.choices())

    def allowed(self) -> str:
        """Describe the allowed values, for error messages and ``--help``."""
        if self.kind == "choice":
            text = "one of " + ", ".join(self.choice_names())
        elif self.kind == "cost":
            text = COST_FORMS
        else:
            noun = "an integer" if self.kind == "int" else "a number"
            bounds = []
            if self.positive:
                bounds.append("> 0" if self.kind == "int" else f">= {SMALLEST:g}")
            elif self.minimum is not None:
                bounds.append(f">= {self.minimum:g}")
            largest = self.maximum if self.maximum is not None else LARGEST
            bounds.append(f"<= {largest:g}")
            text = noun + (" " + " and ".join(bounds) if bounds else "")
        return text + (" or none" if self.optional else "")

    def parse(self, value: object) -> Any:
        """Convert ``value`` (a string from the command line or a Python value)."""
        if self.optional and (
            value is None or (isinstance(value, str) and value.lower() == "none")
        ):
            return None
        if self.kind == "choice":
            text = str(value).strip()
            if text not in self.choice_names():
                raise ConfigError(self.name, value, self.allowed())
            return text
        if self.kind == "cost":
            return parse_cost(self.name, value)
        number: float | int
        number = (
            _parse_int(self.name, value) if self.kind == "int" else _parse_float(self.name, value)
        )
        if self.positive and not number >= (1 if self.kind == "int" else SMALLEST):
            raise ConfigError(self.name, value, self.allowed())
        if self.minimum is not None and number < self.minimum:
            raise ConfigError(self.name, value, self.allowed())
        if number > (self.maximum if self.maximum is not None else LARGEST):
            raise ConfigError(self.name, value, self.allowed())
        return number


COST_FORMS = (
    "ns >= 0 (a constant), or const:NS, exp:MEAN, uniform:LOW:HIGH, lognormal:MEAN:CV "
    "or empirical:Q0:Q1:...:QN (ns; CV the coefficient of variation; Q0..QN quantiles "
    "at evenly spaced probabilities, not decreasing, N >= 1)"
)
COST_FAMILIES = {"const": 1, "exp": 1, "uniform": 2, "lognormal": 2, "empirical": -1}
"""The distributions a step cost may have, with how many numbers each takes (-1: two or
more)."""


def parse_cost(field: str, value: object) -> int | str:
    """A step cost: a constant number of ns (an int), or a distribution as its canonical
    text (``exp:500``, ``uniform:200:400``, ``lognormal:500:0.5``; ``const:N`` is N).
    Means and bounds are ns >= 0, a uniform's low at most its high."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not 0 <= value <= LARGEST or math.isnan(value):
            raise ConfigError(field, value, COST_FORMS)
        return round(value)
    text = str(value).strip()
    family, _, rest = text.partition(":")
    if not rest:
        try:
            return parse_cost(field, float(text))
        except ValueError:
            raise ConfigError(field, value, COST_FORMS) from None
    try:
        numbers = [float(x) for x in rest.split(":")]
    except ValueError:
        raise ConfigError(field, value, COST_FORMS) from None
    wanted = COST_FAMILIES.get(family)
    if wanted is None or (len(numbers) != wanted if wanted > 0 else len(numbers) < 2):
        raise ConfigError(field, value, COST_FORMS)
    if any(not 0 <= x <= LARGEST or math.isnan(x) for x in numbers):
        raise ConfigError(field, value, COST_FORMS)
    if family == "const":
        return round(numbers[0])
    if family == "uniform" and numbers[0] > numbers[1]:
        raise ConfigError(field, value, "uniform:LOW:HIGH with LOW <= HIGH")
    if family == "empirical" and any(b < a for a, b in itertools.pairwise(numbers)):
        raise ConfigError(field, value, "empirical:Q0:...:QN with quantiles not decreasing")
    return family + "".join(f":{x:g}" for x in numbers)


def resolve_params(
    specs: Iterable[Param], given: Mapping[str, object] | None, *, owner: str
) -> dict[str, Any]:
    """Return every parameter of ``specs``: defaults overridden by ``given``.

    Unknown names raise :class:`ConfigError` listing the known ones.
    """
    by_name = {p.name: p for p in specs}
    resolved: dict[str, Any] = {name: p.default for name, p in by_name.items()}
    for name, value in (given or {}).items():
        if name not in by_name:
            raise ConfigError(
                "--set", f"{name}={value}", f"a parameter of {owner}: " + ", ".join(by_name)
            )
        resolved[name] = by_name[name].parse(value)
    return resolved


def parse_assignment(text: str) -> tuple[str, str]:
    """Split a ``key=value`` string from ``--set``."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError("--set", text, "key=value")
    return key.strip(), value.strip()


def check_seed(seed: object) -> int:
    """A run's seed: a non-negative integer."""
    value = _parse_int("seed", seed)
    if value < 0:
        raise ConfigError("seed", seed, "an integer >= 0")
    return value


def check_seeds(seeds: object) -> tuple[int, ...]:
    """The seeds of a comparison or a sweep: an iterable of seeds, or a count ``N`` for
    the seeds 1..N (what ``--seeds N`` means on the command line)."""
    if isinstance(seeds, (int, str)) and not isinstance(seeds, bool):
        return tuple(range(1, check_count("seeds", seeds) + 1))
    try:
        values = tuple(check_seed(s) for s in seeds)  # type: ignore[attr-defined]
    except TypeError:
        raise ConfigError("seeds", seeds, "a count N (seeds 1..N) or a list of seeds") from None
    if not values:
        raise ConfigError("seeds", list(values), "at least one seed")
    return values


def check_duration_ms(duration_ms: object) -> float:
    """A run's simulated duration in ms: a positive number."""
    value = _parse_float("duration_ms", duration_ms)
    if not 0 < value <= LARGEST:
        raise ConfigError("duration_ms", duration_ms, f"a number > 0 and <= {LARGEST:g}")
    return value


def check_warmup_ms(warmup_ms: object) -> float:
    """A run's warm-up in ms, discarded by the metrics: a number >= 0."""
    value = _parse_float("warmup_ms", warmup_ms)
    if value < 0:
        raise ConfigError("warmup_ms", warmup_ms, "a number >= 0")
    return value


def check_max_wall_s(value: object) -> float:
    """A bound on a run's wall time, s: a number > 0."""
    number = _parse_float("max_wall_s", value)
    if not number > 0:
        raise ConfigError("max_wall_s", value, "a number of seconds > 0")
    return number


def check_max_memory_mb(value: object) -> float:
    """A bound on a run's memory, MiB: a number > 0."""
    number = _parse_float("max_memory_mb", value)
    if not number > 0:
        raise ConfigError("max_memory_mb", value, "a number of MiB > 0")
    return number


def check_count(field: str, value: object) -> int:
    """A positive whole count (seeds, jobs)."""
    number = _parse_int(field, value)
    if number < 1:
        raise ConfigError(field, value, "an integer >= 1")
    return number


def ns_param(name: str, default: int, help: str) -> Param:
    """A duration in ns no source gives: an integer >= 0 whose help says it is an
    assumption (``help``, then ``, ns (assumption)``)."""
    return Param(name, "int", default, f"{help}, ns (assumption)", minimum=0)
