"""A pytest plugin: pin a scenario's contention numbers next to your test, catch regressions.

Installed with taskletsim (entry point ``pytest11``); it needs
pytest-regressions (``pip install 'taskletsim[pytest]'``), whose file
handling and ``--force-regen`` it uses. The fixture
``contention_regression`` runs a scenario (a registered name or a host file)
on some designs and seeds and compares what it measured with a data file
next to the test (``test_module/test_name.yml``); the first run writes the
file and fails, ``pytest --force-regen`` rewrites it after a deliberate
change. Two modes:

- ``exact``: runs are deterministic, so every run's digest and numbers must
  be the same, bit for bit (for a simulator you control: a change to the
  model must show as a diff of the file);
- ``statistical``: per design and figure, the file keeps the mean and 95%
  confidence interval over the seeds; a figure is a regression only when
  its new interval no longer overlaps the pinned one. A change that only
  reorders equal-time events (a new release of taskletsim, another order of
  building the host) moves each seed's numbers a little and passes; a change
  of what the model does moves them out and fails, with the figure, the
  pinned interval and the new one in the message.

::

    def test_my_host(contention_regression):
        contention_regression.check(
            "hosts/my-host.toml", designs=["xen-4.4-global", "rfc-percpu"],
            seeds=[1, 2, 3, 4], duration_ms=20, mode="statistical",
            metrics=["idle.steal_pct", "lock.tasklet_lock.wait_mean_ns"],
        )
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .runner.spec import RunSpec

MODES = ("exact", "statistical")


class ContentionRegression:
    """What the ``contention_regression`` fixture gives a test (see the module doc)."""

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self.request = request

    def measure(
        self,
        scenario: str | RunSpec,
        designs: Iterable[str] | None,
        seeds: Sequence[int],
        *,
        duration_ms: float | None = None,
        warmup_ms: float | None = None,
        params: Mapping[str, object] | None = None,
    ) -> dict[str, dict[int, dict[str, Any]]]:
        """Per design and seed: the run's digest, its event count, every figure of
        ``compare`` (``run_summary``) and each lock's integer totals. ``scenario``, with
        the keywords, describes the runs (or give a :class:`RunSpec`: its design and seed
        unset)."""
        from .designs import get_design
        from .runner.single import run_spec
        from .runner.spec import shared_spec
        from .runner.summary import run_summary
        from .scenarios import get_scenario, scenario_designs

        base = shared_spec(
            scenario, "the fixture", duration_ms=duration_ms, warmup_ms=warmup_ms, params=params
        )
        chosen: list[str | None]
        if get_scenario(base.scenario).takes_design:
            spec = get_scenario(base.scenario)
            chosen = [get_design(d).name for d in (designs or scenario_designs(spec))]
        else:
            chosen = [None]
        out: dict[str, dict[int, dict[str, Any]]] = {}
        for design in chosen:
            for seed in seeds:
                r = run_spec(base.with_(design=design, seed=seed))
                m = r.measured()
                locks = {
                    name: {
                        "acquisitions": s.acquisitions,
                        "contentions": s.contentions,
                        "bounces": s.bounces,
                        "wait_total_ns": s.wait.total,
                        "hold_total_ns": s.hold.total,
                    }
                    for name, s in m.locks.items()
                    if s.acquisitions
                }
                out.setdefault(str(design or "-"), {})[seed] = {
                    "digest": r.digest,
                    "events": m.events,
                    "figures": run_summary(r),
                    "locks": locks,
                }
        return out

    def check(
        self,
        scenario: str | RunSpec,
        designs: Iterable[str] | None = None,
        seeds: Sequence[int] = (1, 2, 3),
        *,
        mode: str = "exact",
        duration_ms: float | None = None,
        warmup_ms: float | None = None,
        params: Mapping[str, object] | None = None,
        metrics: Sequence[str] | None = None,
        basename: str | None = None,
    ) -> dict[str, Any]:
        """Run and compare with the pinned file (written if missing, or with
        ``--force-regen``). ``metrics`` limits the figures compared (default: all of
        them). Returns what was measured, as written to the file."""
        __tracebackhide__ = True
        from .core.config import ConfigError

        if mode not in MODES:
            raise ConfigError("mode", mode, "one of " + ", ".join(MODES))
        seeds = list(seeds)
        if mode == "statistical" and len(seeds) < 2:
            raise ConfigError("seeds", seeds, "at least two seeds for a confidence interval")
        runs = self.measure(
            scenario,
            designs,
            seeds,
            duration_ms=duration_ms,
            warmup_ms=warmup_ms,
            params=params,
        )
        wanted = set(metrics) if metrics is not None else None

        def keep(figures: Mapping[str, float]) -> dict[str, float]:
            return {k: v for k, v in sorted(figures.items()) if wanted is None or k in wanted}

        if mode == "exact":
            data: dict[str, Any] = {
                "mode": "exact",
                "scenario": scenario,
                "runs": {
                    design: {
                        f"seed {seed}": {**one, "figures": keep(one["figures"])}
                        for seed, one in per_seed.items()
                    }
                    for design, per_seed in runs.items()
                },
            }
        else:
            data = {
                "mode": "statistical",
                "scenario": scenario,
                "seeds": seeds,
                "figures": _intervals(runs, keep),
            }
        if wanted is not None:
            found = {k for d in runs.values() for one in d.values() for k in one["figures"]}
            missing = sorted(wanted - found)
            if missing:
                raise ConfigError("metrics", missing, "figures these runs measure")
        self._compare(data, basename)
        return data

    def _compare(self, data: dict[str, Any], basename: str | None) -> None:
        __tracebackhide__ = True
        try:
            import yaml
            from pytest_regressions.common import perform_regression_check
        except ImportError:
            pytest.fail(
                "contention_regression needs pytest-regressions: pip install 'taskletsim[pytest]'"
            )

        def dump(path: Path) -> None:
            path.write_text(yaml.safe_dump(data, sort_keys=False, width=100), encoding="utf-8")

        def check(obtained: Path, expected: Path) -> None:
            __tracebackhide__ = True
            pinned = yaml.safe_load(expected.read_text(encoding="utf-8"))
            now = yaml.safe_load(obtained.read_text(encoding="utf-8"))
            problems = _differences(pinned, now)
            if problems:
                head = f"contention regression against {expected}:"
                hint = "(pytest --force-regen rewrites the file after a deliberate change)"
                raise AssertionError("\n".join([head, *problems, hint]))

        perform_regression_check(
            datadir=self.request.getfixturevalue("lazy_datadir"),
            original_datadir=self.request.getfixturevalue("original_datadir"),
            request=self.request,
            check_fn=check,
            dump_fn=dump,
            extension=".yml",
            basename=basename,
        )


def _t95(df: int) -> float:
    from .runner.stats import t95

    return t95(df)


def _intervals(runs: Mapping[str, Mapping[int, Mapping[str, Any]]], keep: Any) -> dict[str, Any]:
    """Per design and figure: mean, 95% CI bounds over the seeds, and each seed's value."""
    out: dict[str, Any] = {}
    for design, per_seed in runs.items():
        names = sorted({k for one in per_seed.values() for k in keep(one["figures"])})
        figures = {}
        for name in names:
            values = [float(one["figures"].get(name, 0.0)) for one in per_seed.values()]
            n = len(values)
            mean = sum(values) / n
            sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
            half = _t95(n - 1) * sd / math.sqrt(n)
            low, high = mean - half, mean + half
            figures[name] = {"mean": mean, "low": low, "high": high, "values": values}
        out[design] = figures
    return out


def _differences(pinned: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """What changed, one line each; empty if nothing did."""
    if pinned.get("mode") != now.get("mode"):
        return [f"the file pins mode {pinned.get('mode')!r}, the test checks {now.get('mode')!r}"]
    if now["mode"] == "exact":
        return _exact(pinned["runs"], now["runs"])
    lines = []
    for design, figures in pinned["figures"].items():
        mine = now["figures"].get(design)
        if mine is None:
            lines.append(f"{design}: not run any more")
            continue
        for name, p in figures.items():
            n = mine.get(name)
            if n is None:
                lines.append(f"{design} {name}: not measured any more")
            elif n["high"] < p["low"] or n["low"] > p["high"]:
                lines.append(
                    f"{design} {name}: now {n['mean']:.6g} [{n['low']:.6g}, {n['high']:.6g}], "
                    f"outside the pinned {p['mean']:.6g} [{p['low']:.6g}, {p['high']:.6g}] "
                    f"(95% CI over seeds {pinned['seeds']} then {now['seeds']})"
                )
    return lines


def _exact(pinned: Mapping[str, Any], now: Mapping[str, Any], where: str = "") -> list[str]:
    lines = []
    for key in sorted(set(pinned) | set(now), key=str):
        here = f"{where} {key}".strip()
        if key not in now:
            lines.append(f"{here}: missing now (pinned {pinned[key]!r})")
        elif key not in pinned:
            lines.append(f"{here}: new ({now[key]!r})")
        elif isinstance(pinned[key], Mapping) and isinstance(now[key], Mapping):
            lines += _exact(pinned[key], now[key], here)
        elif pinned[key] != now[key] and not (_nan(pinned[key]) and _nan(now[key])):
            lines.append(f"{here}: now {now[key]!r}, pinned {pinned[key]!r}")
    return lines


def _nan(value: object) -> bool:
    return isinstance(value, float) and math.isnan(value)


@pytest.fixture
def contention_regression(request: pytest.FixtureRequest) -> ContentionRegression:
    """Pin a scenario's contention numbers next to the test; see
    :mod:`taskletsim.pytest_plugin`."""
    return ContentionRegression(request)
