"""The pytest plugin, used as a user would: from a test file outside the project's tests,
found through its ``pytest11`` entry point, in a fresh pytest process."""

from __future__ import annotations

from pathlib import Path

import pytest

from taskletsim.scenarios import dump_scenario, get_scenario

pytest_plugins = ["pytester"]

METRICS = ["idle.steal_pct", "lock.tasklet_lock.wait_mean_ns", "delivered_irq_per_s"]


def _host_files(folder: Path) -> None:
    """``host.toml`` (small-2socket at 60k MSIs/s), ``reordered.toml`` (the same host, its
    guests listed the other way round: other ids, other equal-time order) and
    ``slower.toml`` (VM exits cost five times more: a real change)."""
    text = dump_scenario(get_scenario("small-2socket"), {"irq_rate_per_s": 60000})
    head, *guests = text.split("\n[[guests]]\n")
    reordered = head + "".join("\n[[guests]]\n" + g.rstrip("\n") + "\n" for g in reversed(guests))
    (folder / "host.toml").write_text(text)
    (folder / "reordered.toml").write_text(reordered)
    (folder / "slower.toml").write_text(text.replace("vmexit_ns = 500", "vmexit_ns = 2500"))


def _test_file(pytester: pytest.Pytester, host: str, mode: str) -> None:
    pytester.makepyfile(
        test_user=f"""
def test_contention(contention_regression):
    contention_regression.check(
        "{host}", designs=["xen-4.4-global", "rfc-percpu"], seeds=[1, 2, 3, 4],
        duration_ms=10, mode="{mode}", metrics={METRICS!r}, basename="pinned",
    )
"""
    )


def test_statistical_mode_passes_a_reordering_and_fails_a_real_change(
    pytester: pytest.Pytester,
) -> None:
    _host_files(pytester.path)
    _test_file(pytester, "host.toml", "statistical")
    first = pytester.runpytest_subprocess()
    first.assert_outcomes(failed=1)  # no pinned file yet: written, and the test says so
    first.stdout.fnmatch_lines(["*File not found in data directory, created*"])
    pinned = pytester.path / "test_user" / "pinned.yml"
    assert pinned.exists() and "mode: statistical" in pinned.read_text()
    pytester.runpytest_subprocess().assert_outcomes(passed=1)
    _test_file(pytester, "reordered.toml", "statistical")
    pytester.runpytest_subprocess().assert_outcomes(passed=1)
    _test_file(pytester, "slower.toml", "statistical")
    changed = pytester.runpytest_subprocess()
    changed.assert_outcomes(failed=1)
    changed.stdout.fnmatch_lines(
        ["*xen-4.4-global delivered_irq_per_s: now *, outside the pinned * (95% CI over seeds*"]
    )
    forced = pytester.runpytest_subprocess("--force-regen")
    forced.assert_outcomes(failed=1)  # rewritten, and says so once
    pytester.runpytest_subprocess().assert_outcomes(passed=1)


def test_exact_mode_fails_on_any_difference(pytester: pytest.Pytester) -> None:
    _host_files(pytester.path)
    _test_file(pytester, "host.toml", "exact")
    pytester.runpytest_subprocess().assert_outcomes(failed=1)
    pytester.runpytest_subprocess().assert_outcomes(passed=1)
    _test_file(pytester, "reordered.toml", "exact")
    reordered = pytester.runpytest_subprocess()
    reordered.assert_outcomes(failed=1)  # same figures, other ids: the digests differ
    reordered.stdout.fnmatch_lines(["*xen-4.4-global seed 1 digest: now *, pinned *"])
    _test_file(pytester, "host.toml", "statistical")
    wrong = pytester.runpytest_subprocess()
    wrong.assert_outcomes(failed=1)
    wrong.stdout.fnmatch_lines(["*the file pins mode 'exact', the test checks 'statistical'*"])
