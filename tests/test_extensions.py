"""Extension points: the registries, designs and scenarios from outside the package,
scoped design options, and ``check_design``."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

import taskletsim as ts
from taskletsim.core.sim import Simulation
from taskletsim.designs.xen44_global import Xen44Global
from taskletsim.hv.seam import DESIGNS
from taskletsim.scenarios import SCENARIOS
from taskletsim.testing import DesignCheckError, check_design

from .fixtures import outside

ROOT = Path(__file__).parent.parent
OUTSIDE = "tests.fixtures.outside"


def cli(*args: str, pythonpath: list[Path] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m taskletsim ARGS`` in a fresh process, from the project root."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in [*(pythonpath or []), ROOT])
    return subprocess.run(
        [sys.executable, "-m", "taskletsim", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env=env,
    )


# -- the design contract -------------------------------------------------------


@pytest.mark.parametrize("design", ts.design_names(builtin=True))
def test_the_built_in_designs_pass_check_design(design: str) -> None:
    check_design(design)


def test_the_example_design_passes_check_design(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "examples"))
    check_design("per_socket_design:PerSocket")


def test_a_design_that_forgets_traced_claim_fails_check_design() -> None:
    with pytest.raises(DesignCheckError, match="no TASKLET_ENTRY of dom:dirq_tasklet") as info:
        check_design(f"{OUTSIDE}:ForgetsClaim")
    assert "one passthrough interrupt on an idle CPU" in str(info.value)
    assert "traced_claim" in str(info.value)


def test_a_design_that_runs_a_killed_tasklet_fails_check_design() -> None:
    class KillForgets(Xen44Global):
        name = "kill-forgets"

        def tasklet_kill(self, cpu, t):  # type: ignore[no-untyped-def]
            t.is_dead = True  # waits out a run, but leaves it queued
            while t.is_running:
                yield from cpu.work(10)

    try:
        with pytest.raises(DesignCheckError, match="tasklet_kill of a tasklet queued") as info:
            check_design(KillForgets)
        assert "popped on CPU 2 in a bad state" in str(info.value)
    finally:
        DESIGNS.unregister("kill-forgets")


# -- registries ----------------------------------------------------------------


def test_a_duplicate_name_is_refused_unless_replaced() -> None:
    class Impostor(Xen44Global):
        name = "linux"

    builtin = DESIGNS["linux"]
    with pytest.raises(ts.ConfigError, match="linux") as info:
        ts.register_design(Impostor)
    assert "replace=True" in str(info.value)
    assert DESIGNS["linux"] is builtin
    try:
        ts.register_design(Impostor, replace=True)
        assert ts.get_design("linux") is Impostor
    finally:
        DESIGNS.register(builtin, replace=True)
    assert ts.get_design("linux") is builtin


def test_duplicate_scenarios_and_lock_kinds_are_refused_too() -> None:
    class Again(ts.Scenario):
        name = "lock-open"

    with pytest.raises(ts.ConfigError, match="lock-open"):
        ts.register_scenario(Again)

    class Ttas(ts.TTASLock):
        kind = "ttas"

    with pytest.raises(ts.ConfigError, match="ttas"):
        ts.LOCK_KINDS.register(Ttas)


def test_module_colon_name_resolves_and_registers() -> None:
    cls = ts.get_design(f"{OUTSIDE}:OutsideGlobal")
    assert cls is outside.OutsideGlobal
    assert ts.get_design("outside-global") is cls
    assert DESIGNS.origin("outside-global") == "user"
    assert DESIGNS.spec("outside-global") == f"{OUTSIDE}:OutsideGlobal"
    assert DESIGNS.spec("linux") == "linux"
    assert "outside-global" not in ts.design_names(builtin=True)
    for bad in (f"{OUTSIDE}:Nope", "no.such.module:X", f"{OUTSIDE}:TinyHost"):
        with pytest.raises(ts.ConfigError, match="design"):
            ts.get_design(bad)


def test_the_built_in_names_live_in_the_registries() -> None:
    assert ts.design_names(builtin=True) == [
        "xen-4.4-global",
        "rfc-percpu",
        "xen-4.6-dpci",
        "linux",
        "linux-bh-wq",
        "linux-threaded",
    ]
    assert ts.scenario_names(builtin=True) == [
        "lock-open",
        "lock-closed",
        "small-2socket",
        "xen-8socket-passthrough",
        "linux-dma",
        "linux-nic-affinity",
    ]
    assert list(ts.LOCK_KINDS) == ["ttas", "ticket", "mcs"]


def test_run_a_design_from_outside_by_module_and_class() -> None:
    out = cli(
        "run", "small-2socket", "--design", f"{OUTSIDE}:OutsideGlobal", "--duration-ms", "3",
        "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    (run,) = json.loads(out.stdout)["runs"]
    assert run["design"] == "outside-global"
    assert run["locks"]["tasklet_lock"]["acquisitions"] > 0


def test_run_the_example_design_by_module_and_class() -> None:
    out = cli(
        "run", "small-2socket", "--design", "per_socket_design:PerSocket", "--duration-ms", "3",
        pythonpath=[ROOT / "examples"],
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "socket0_tasklet_lock" in out.stdout


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_compare_a_design_from_outside_on_a_process_pool(method: str) -> None:
    designs = ["xen-4.4-global", f"{OUTSIDE}:OutsideGlobal"]
    args = {"seeds": [1], "duration_ms": 3.0, "warmup_ms": 1.0}
    alone = ts.compare("small-2socket", designs, **args)  # type: ignore[arg-type]
    context = multiprocessing.get_context(method)
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        pooled = ts.compare("small-2socket", designs, executor=pool, **args)  # type: ignore[arg-type]
    assert pooled.designs == ("xen-4.4-global", "outside-global")
    assert pooled.estimates == alone.estimates
    # the same model under another name: the same numbers
    assert pooled.estimates["outside-global"] == pooled.estimates["xen-4.4-global"]


def test_a_scenario_from_outside_without_the_host_parameters() -> None:
    result = ts.run(f"{OUTSIDE}:TinyHost", design="rfc-percpu", seed=1)
    assert result.scenario == "tiny-host"
    assert result.duration_ns == 5_000_000
    assert SCENARIOS.origin("tiny-host") == "user"
    assert any(s.kind == "device" for s in result.trace.meta.irq)


def test_entry_points_of_an_installed_distribution(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "ep_plugin").mkdir(parents=True)
    (site / "ep_plugin" / "__init__.py").write_text(
        textwrap.dedent(
            """
            import taskletsim as ts
            from taskletsim.designs.xen44_global import Xen44Global

            class EpDesign(Xen44Global):
                name = "ep-global"
                description = "from an entry point"

            class EpHost(ts.HostScenario):
                name = "ep-host"
                description = "from an entry point"
                params = ()
                default_duration_ms = 2.0

                def build(self, sim, params, design=None):
                    m = ts.build_machine(sim, params, design or self.default_design, 1, 2)
                    d = m.add_domain("busy")
                    v = m.add_vcpu(d, 0, "busy")
                    m.add_device(d, v, ts.device_arrivals(params))
                    ts.add_idle_guests(m, params, [1])
                    return lambda: {}
            """
        )
    )
    info = site / "ep_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[taskletsim.designs]\nep-global = ep_plugin:EpDesign\n\n"
        "[taskletsim.scenarios]\nep-host = ep_plugin:EpHost\n"
    )
    listed = cli("list", pythonpath=[site])
    assert listed.returncode == 0, listed.stderr
    assert "ep-global: from an entry point" in listed.stdout
    assert "ep-host: from an entry point" in listed.stdout
    out = cli("run", "ep-host", "--design", "ep-global", "--json", pythonpath=[site])
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["scenario"] == "ep-host" and doc["runs"][0]["design"] == "ep-global"
    compared = cli(
        "compare", "ep-host", "--design", "ep-global", "--design", "linux", "--seeds", "2",
        "--jobs", "2", "--json", pythonpath=[site],
    )  # fmt: skip
    assert compared.returncode == 0, compared.stderr
    assert json.loads(compared.stdout)["designs"] == ["ep-global", "linux"]
    without = cli("list")
    assert "ep-global" not in without.stdout


# -- design options --------------------------------------------------------------


def test_an_option_of_another_design_is_refused_naming_both() -> None:
    with pytest.raises(ts.ConfigError) as info:
        ts.run("small-2socket", design="linux", params={"raise_after_irq_enable": "on"})
    message = str(info.value)
    assert "raise_after_irq_enable" in message
    assert "linux" in message and "rfc-percpu" in message
    sim = Simulation(0)
    with pytest.raises(ts.ConfigError, match="rfc-percpu"):
        ts.Machine(sim, ts.Topology(1, 2), design="linux", design_options={"raise_ns": 5})


def test_an_option_of_the_chosen_design_is_accepted() -> None:
    result = ts.run("small-2socket", design="rfc-percpu", duration_ms=2, params={"raise_ns": 40})
    assert result.params["raise_ns"] == 40
    assert "raise_ns" not in ts.run("small-2socket", design="linux", duration_ms=2).params


def test_the_cli_refuses_an_option_of_another_design_in_one_line() -> None:
    out = cli("compare", "small-2socket", "--design", "linux", "--set", "raise_ns=5")
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "rfc-percpu" in out.stderr


class _CountingSoftirqs(Xen44Global):
    """A design that brings its own softirq engine (here: Xen's, counted)."""

    name = "counting-softirqs"
    passes = 0

    def do_softirq(self, cpu):  # type: ignore[no-untyped-def]
        type(self).passes += 1
        yield from cpu.xen_do_softirq()


def test_a_design_that_overrides_do_softirq_has_it_called() -> None:
    assert _CountingSoftirqs.own_softirq_engine and not Xen44Global.own_softirq_engine
    _CountingSoftirqs.passes = 0
    name = _CountingSoftirqs.name
    ts.register_design(_CountingSoftirqs)
    try:
        plain = ts.run("small-2socket", design="xen-4.4-global", seed=1, duration_ms=2)
        mine = ts.run("small-2socket", design=name, seed=1, duration_ms=2)
    finally:
        DESIGNS.unregister(name)
    assert _CountingSoftirqs.passes > 50
    assert [len(plain.trace), plain.measured().locks] == [len(mine.trace), mine.measured().locks]
