"""Scenarios in TOML files: a host of your own, or a built-in scenario with settings.

A file with ``[host]`` and ``[[guests]]`` describes a Xen host (schema in
docs/hosts.md); a file with ``scenario = "NAME"`` runs a registered scenario
with its ``[params]``. Either may set ``design``, ``duration_ms`` and
``warmup_ms`` (the defaults of a run), a ``name`` (default: the file's stem)
and a ``description``. ``taskletsim run FILE.toml`` (and ``compare``,
``sweep``, the library's ``run``) take a file wherever they take a scenario
name; ``--set`` still overrides any parameter. :func:`dump_scenario` writes
any scenario as such a file (``taskletsim show``): running it gives the same
trace, and the same digest, as the scenario it came from.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import tomli_w

from ...core.config import ConfigError, Param
from ...designs.base import design_names, get_design
from ..base import SCENARIOS, Scenario, resolve_scenario_params, scenario_params
from .build import HostScenario
from .params import HOST_PARAMS, spec_params
from .spec import GuestSpec, HostSpec, Where, host_size, toml_value, typed_param

SCHEMA = 1
"""The host file schema this version reads and writes."""

HOST_KINDS: dict[str, Callable[[Mapping[str, Any], Where, Path], Scenario]] = {}
"""Loaders of host files of another kind than Xen's, by ``[host] kind``
(:mod:`taskletsim.scenarios.linux_file` adds ``linux``)."""

TOP_KEYS = ("schema", "name", "description", "scenario", "design", "duration_ms", "warmup_ms")
HOST_KEYS = (*TOP_KEYS, "host", "params", "guests")


class HostFileScenario(HostScenario):
    """A host read from a file: its :class:`HostSpec` with the run's parameters.

    Subclassed once per file (:func:`load_scenario`), with the file's values as
    the class attributes and as the parameters' defaults.
    """

    spec: HostSpec
    path: str = ""

    def host_spec(self, params: Mapping[str, Any], design: str) -> HostSpec:
        return replace(self.spec, params=spec_params(params, design))


def _options() -> dict[str, Param]:
    """Every design's options, by name (a file may set those of any design)."""
    found: dict[str, Param] = {}
    for name in design_names():
        for p in get_design(name).options:
            found.setdefault(p.name, p)
    return found


def _read(path: Path) -> dict[str, Any]:
    where = str(path)
    if path.suffix != ".toml":
        raise ConfigError("scenario", where, "a registered name or a .toml file")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("scenario", where, "an existing .toml file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError("scenario", where, f"a readable UTF-8 file ({error})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(where, str(error), "valid TOML") from None


def _top(
    data: Mapping[str, Any], where: Where, keys: tuple[str, ...], duration_ms: float
) -> dict[str, Any]:
    """The top-level settings, checked: schema, name, description, design, duration."""
    for key in data:
        if key not in keys:
            allowed = "no such key; one of " + ", ".join(keys)
            raise (where / key).error(data[key], allowed)
    schema = data.get("schema", SCHEMA)
    if schema != SCHEMA or isinstance(schema, bool):
        raise (where / "schema").error(schema, f"{SCHEMA} (the schema this version reads)")
    out: dict[str, Any] = {}
    for key in ("name", "description"):
        if key in data and (not isinstance(data[key], str) or not data[key]):
            raise (where / key).error(data[key], "a non-empty string")
    name = data.get("name", Path(where.origin or "host").stem)
    if ":" in name or name.endswith(".toml"):
        raise (where / "name").error(name, "a name without ':' and not ending in .toml")
    out["name"], out["description"] = name, data.get("description", "")
    if "design" in data:
        if not isinstance(data["design"], str):
            raise (where / "design").error(data["design"], "a design name")
        try:
            out["design"] = get_design(data["design"]).name
        except ConfigError as error:
            raise (where / "design").error(data["design"], error.allowed) from None
    for key in ("duration_ms", "warmup_ms"):
        if key in data:
            value = data[key]
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if not ok or not (value > 0 if key == "duration_ms" else value >= 0):
                raise (where / key).error(value, "a number > 0" if key == "duration_ms" else ">= 0")
            out[key] = float(value)
    if out.get("warmup_ms", 0.0) >= out.get("duration_ms", duration_ms):
        raise (where / "warmup_ms").error(
            out["warmup_ms"], f"less than the duration ({out.get('duration_ms', duration_ms)} ms)"
        )
    return out


def _params(data: object, specs: Mapping[str, Param], where: Where) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise where.error(data, "a table")
    out = {}
    for key, value in data.items():
        if key not in specs:
            raise (where / key).error(value, "a parameter: " + ", ".join(specs))
        out[key] = typed_param(specs[key], value, where / key)
    return out


def load_scenario(path: str | Path) -> Scenario:
    """The scenario a TOML file describes (a new class per call; see the module doc)."""
    target = Path(path)
    data = _read(target)
    where = Where(str(target))
    if "scenario" in data:
        return _based_on(data, where)
    host = data.get("host")
    if isinstance(host, Mapping) and "kind" in host:
        kind = host["kind"]
        if kind not in HOST_KINDS:
            allowed = ", ".join(HOST_KINDS) + " (or no kind: a Xen host)"
            raise (where / "host" / "kind").error(kind, allowed)
        return HOST_KINDS[kind](data, where, target)
    top = _top(data, where, HOST_KEYS, Scenario.default_duration_ms)
    for key in ("host", "guests"):
        if key not in data:
            raise (where / key).error(None, "a value ([host] and [[guests]] describe the host)")
    sockets, cores, threads = host_size(data["host"], where / "host")
    specs = {p.name: p for p in HOST_PARAMS}
    options = _options()
    given = _params(data.get("params", {}), {**specs, **options}, where / "params")
    guests = data["guests"]
    if not isinstance(guests, list):
        raise (where / "guests").error(guests, "an array of tables ([[guests]])")
    ncpus = sockets * cores * threads
    parsed = tuple(
        GuestSpec.from_dict(g, ncpus, specs, where / "guests" / i) for i, g in enumerate(guests)
    )
    spec = HostSpec(sockets, cores, threads, given, parsed)
    spec.check(where)
    params = tuple(replace(p, default=given[p.name]) if p.name in given else p for p in HOST_PARAMS)
    params += tuple(replace(options[k], default=v) for k, v in given.items() if k in options)
    attrs: dict[str, Any] = {
        "name": top["name"],
        "description": top["description"] or f"host file {target.name}",
        "params": params,
        "spec": spec,
        "path": str(target.resolve()),
        "default_duration_ms": top.get("duration_ms", Scenario.default_duration_ms),
        "default_warmup_ms": top.get("warmup_ms"),
    }
    if "design" in top:
        attrs["default_design"] = top["design"]
    cls = type(f"HostFile_{top['name']}", (HostFileScenario,), attrs)
    scenario: Scenario = cls()
    _check_builds(scenario, where)
    return scenario


def _check_builds(scenario: Scenario, where: Where) -> None:
    """Resolve the defaults once, so that a bad combination fails at load time."""
    try:
        resolve_scenario_params(scenario, None, {})
    except ConfigError as error:
        raise (where / "params" / error.field).error(error.value, error.allowed) from None


def _based_on(data: Mapping[str, Any], where: Where) -> Scenario:
    """``scenario = "NAME"``: that scenario with the file's parameters as defaults."""
    name = data["scenario"]
    if not isinstance(name, str) or name.endswith(".toml"):
        raise (where / "scenario").error(name, "a registered scenario's name")
    try:
        base = SCENARIOS.resolve(name)
    except ConfigError as error:
        raise (where / "scenario").error(name, error.allowed) from None
    top = _top(data, where, (*TOP_KEYS, "params"), base.default_duration_ms)
    design = top.get("design", base.default_design)
    specs = {p.name: p for p in scenario_params(base(), design)}
    if base.takes_design:
        specs = {**_options(), **specs}
    given = _params(data.get("params", {}), specs, where / "params")
    own = {p.name for p in base.params}
    params = tuple(replace(p, default=given[p.name]) if p.name in given else p for p in base.params)
    params += tuple(replace(specs[k], default=v) for k, v in given.items() if k not in own)
    attrs: dict[str, Any] = {
        "name": top["name"] if "name" in data else base.name,
        "description": top["description"] or base.description,
        "params": params,
        "default_duration_ms": top.get("duration_ms", base.default_duration_ms),
        "default_warmup_ms": top.get("warmup_ms", base.default_warmup_ms),
    }
    if "design" in top:
        attrs["default_design"] = top["design"]
    scenario: Scenario = type(f"File_{base.__name__}", (base,), attrs)()
    _check_builds(scenario, where)
    return scenario


def dump_scenario(
    scenario: Scenario, given: Mapping[str, object] | None = None, design: str | None = None
) -> str:
    """``scenario`` (with the parameters ``given`` and ``design``) as a TOML file: the host
    spelled out for a host scenario, else ``scenario = NAME`` with every parameter."""
    chosen = (design or scenario.default_design) if scenario.takes_design else None
    if chosen is not None:
        chosen = get_design(chosen).name
    resolved = resolve_scenario_params(scenario, chosen, given)
    doc: dict[str, Any] = {"schema": SCHEMA, "name": scenario.name}
    if scenario.description:
        doc["description"] = scenario.description
    host: HostSpec | None = None
    if isinstance(scenario, HostScenario):
        try:
            host = scenario.host_spec(resolved, chosen or scenario.default_design)
        except NotImplementedError:
            host = None
    tables = getattr(scenario, "host_tables", None)  # a host of another kind, as data
    spelled = tables(resolved) if tables is not None else None
    if host is None and spelled is None:
        doc["scenario"] = scenario.name
    if chosen is not None:
        doc["design"] = chosen
    doc["duration_ms"] = float(scenario.default_duration_ms)
    if scenario.default_warmup_ms is not None:
        doc["warmup_ms"] = float(scenario.default_warmup_ms)
    if host is None and spelled is None:
        doc["params"] = {k: toml_value(v) for k, v in resolved.items()}
        head = f"# taskletsim scenario file (schema {SCHEMA}): taskletsim run THIS_FILE\n"
    else:
        tables_of: dict[str, Any] = host.as_dict() if host is not None else dict(spelled or {})
        doc.update(tables_of)
        head = (
            f"# taskletsim host file (schema {SCHEMA}): taskletsim run THIS_FILE\n"
            "# keys, units and defaults: docs/hosts.md; any [params] key: taskletsim list\n"
        )
    return head + _compact(tomli_w.dumps(doc))


_ARRAY = re.compile(r"\[\n((?:[ \t]+[^\n\[\]{}\"]+,\n)+)[ \t]*\]")


def _compact(text: str) -> str:
    """Arrays of numbers on one line (tomli-w writes one item per line)."""
    return _ARRAY.sub(
        lambda m: "[" + ", ".join(x.strip().rstrip(",") for x in m.group(1).splitlines()) + "]",
        text,
    )
