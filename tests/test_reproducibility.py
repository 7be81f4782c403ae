"""Exact reproducibility: the same scenario, design, seed and parameters give the same
digest in another process, with any PYTHONHASHSEED, under fork and spawn; and adding an
unrelated interrupt source leaves the random draws of the existing ones alone."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from taskletsim import ConfigError, run
from taskletsim.core.events import COALESCE_LAPIC, EventKind
from taskletsim.core.recorder import TraceRecorder
from taskletsim.core.sim import Simulation, draw_stream
from taskletsim.core.trace import Trace

from .helpers import XEN_DESIGNS

DESIGNS = XEN_DESIGNS
CASES = [("xen-8socket-passthrough", d, 2.0) for d in DESIGNS] + [
    ("small-2socket", "rfc-percpu", 5.0),
    ("lock-open", None, 5.0),
]
PARAMS = {"lock-open": {"lock": "mcs"}}


def digests(cases: list[tuple[str, str | None, float]]) -> list[str]:
    """Each case's run digest, seed 7 (top-level, so spawned workers can import it)."""
    return [
        run(s, design=d, seed=7, duration_ms=ms, params=PARAMS.get(s, {})).digest
        for s, d, ms in cases
    ]


@pytest.fixture(scope="module")
def here() -> list[str]:
    return digests(CASES)


def test_digests_are_distinct_so_comparing_them_means_something(here: list[str]) -> None:
    assert len(set(here)) == len(here)
    other_seed = run("small-2socket", design="rfc-percpu", seed=8, duration_ms=5.0).digest
    assert other_seed not in here


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_the_same_digest_under_every_start_method(method: str, here: list[str]) -> None:
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"{method} is not available here")
    with multiprocessing.get_context(method).Pool(1) as pool:
        assert pool.apply(digests, (CASES,)) == here


@pytest.mark.parametrize("hashseed", ["0", "1", "4242", "random"])
def test_the_same_digest_with_any_pythonhashseed(hashseed: str, here: list[str]) -> None:
    code = (
        "import json, sys; from tests.test_reproducibility import CASES, digests; "
        "print(json.dumps(digests(CASES)))"
    )
    env = {**os.environ, "PYTHONHASHSEED": hashseed}
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=root
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == here


def test_the_cli_prints_the_library_digest(here: list[str]) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "taskletsim",
            "run",
            "small-2socket",
            "--design",
            "rfc-percpu",
            "--seed",
            "7",
            "--duration-ms",
            "5",
            "--json",
        ],
        capture_output=True,
        text=True,
    )
    assert json.loads(out.stdout)["runs"][0]["digest"] == here[len(DESIGNS)]


# -- independent streams -------------------------------------------------------------------

HOST = """
schema = 1
name = "streams"
design = "xen-4.4-global"
duration_ms = 20.0
[host]
sockets = 2
cores_per_socket = 2
[params]
irq_process = "poisson"
device_model = "open"
tick_mode = "periodic"
[[guests]]
name = "web"
workload = "busy"
cpus = [0]
[[guests.devices]]
rate_per_s = 30000.0
[[guests]]
name = "quiet"
workload = "idle"
cpus = [1]
"""

EXTRA = """
[[guests]]
name = "noisy"
workload = "busy"
cpus = [2]
[[guests.devices]]
rate_per_s = 50000.0
process = "onoff"
on_us = 40.0
off_us = 200.0
"""


def _arrivals(trace: Trace) -> dict[str, np.ndarray]:
    """Each device source's arrival times: with the ``open`` device model every arrival
    is raised or merged into its pending vector (a merge into the guest's pending
    virtual interrupt happens later, at injection, and is not an arrival)."""
    out = {}
    raised = trace.kind == EventKind.IRQ_RAISE
    merged = (trace.kind == EventKind.IRQ_COALESCE) & (trace.arg == COALESCE_LAPIC)
    rows = raised | merged
    for sid, info in enumerate(trace.meta.irq):
        if info.kind == "device":
            out[info.name] = trace.time_ns[rows & (trace.subject == sid)]
    return out


@pytest.mark.parametrize("design", DESIGNS)
def test_an_unrelated_source_leaves_the_existing_arrivals_alone(
    design: str, tmp_path: Path
) -> None:
    alone, crowded = tmp_path / "alone.toml", tmp_path / "crowded.toml"
    alone.write_text(HOST)
    crowded.write_text(HOST + EXTRA)
    before = run(str(alone), design=design, seed=3)
    after = run(str(crowded), design=design, seed=3)
    old, new = _arrivals(before.trace), _arrivals(after.trace)
    assert set(new) - set(old), "the extra guest added no device source"
    for name, times in old.items():
        assert len(times) > 300
        assert np.array_equal(times, new[name]), name
    assert before.digest != after.digest  # yet the runs differ (the host is busier)


def test_two_names_never_share_a_stream() -> None:
    sim = Simulation(1, TraceRecorder())
    first = sim.rng("dev:web:0").random(4)
    again = Simulation(1, TraceRecorder()).rng("dev:web:0").random(4)
    other = sim.rng("dev:web:1").random(4)
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    # crc32 collides for these two names; the second must still get a stream of its own
    assert Simulation.stream_key("plumless") == Simulation.stream_key("buckeroo")
    with pytest.raises(ConfigError, match="buckeroo"):
        sim.rng("plumless")
        sim.rng("buckeroo")


@pytest.mark.parametrize(
    "draw",
    [
        lambda rng, n: rng.exponential(1234.5, n),
        lambda rng, n: rng.random(n),
        lambda rng, n: rng.integers(0, 7, n),  # bounded: numpy may draw 32 bits at a time
        lambda rng, n: rng.integers(0, 2**40, n),
    ],
    ids=["exponential", "uniform", "integers-small", "integers-wide"],
)
def test_a_stream_draws_the_same_numbers_whatever_its_chunk_size(
    draw: Callable[[np.random.Generator, int], np.ndarray],
) -> None:
    """The chunk size is a memory/speed setting, so it must not move a run's numbers."""
    integer = draw(np.random.default_rng(0), 1).dtype.kind == "i"
    got = []
    for chunk in (1024, 256, 7):
        rng = np.random.default_rng(11)
        stream = draw_stream(lambda n, rng=rng: draw(rng, n), integer=integer, chunk=chunk)
        got.append([stream() for _ in range(5000)])
    assert got[0] == got[1] == got[2]
    rng = np.random.default_rng(11)
    whole = draw(rng, 5000)
    assert got[0] == (np.rint(whole).astype(np.int64) if integer else whole).tolist()


def test_a_sources_stream_gives_the_numbers_of_its_generator_drawn_at_once() -> None:
    """``exponential``, ``uniform`` and ``integers`` refill from the source's bit
    generator chunk by chunk: the numbers are those of ``rng(source)`` drawn in one go."""
    n = 3000
    sim, ref = Simulation(5), Simulation(5)
    streams = [
        (sim.exponential("e", 250.0), np.rint(ref.rng("e").exponential(250.0, n)).astype(np.int64)),
        (sim.uniform("u"), ref.rng("u").random(n)),
        (sim.integers("i", 7), ref.rng("i").integers(0, 7, n)),
    ]
    for stream, whole in streams:
        assert [stream() for _ in range(n)] == whole.tolist()
