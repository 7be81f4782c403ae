"""The Perfetto (Chrome trace JSON) export: nesting, flows, counters, timestamps, gzip."""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

import taskletsim as ts
from taskletsim.output.export import chrome_trace_events, save_chrome_trace

from .helpers import taskletsim_cli

Track = tuple[int, int]


@pytest.fixture(scope="module", params=["xen-4.4-global", "rfc-percpu", "xen-4.6-dpci", "linux"])
def exported(request: pytest.FixtureRequest) -> tuple[ts.RunResult, list[dict[str, Any]]]:
    params = {"irq_rate_per_s": 60000}  # enough to contend and to batch tasklets
    result = ts.run("small-2socket", design=request.param, seed=2, duration_ms=6, params=params)
    return result, chrome_trace_events(result.trace)


def slices(events: list[dict[str, Any]]) -> dict[Track, list[tuple[int, int, str]]]:
    """Every slice, per track, as (start ns, end ns, name): B/E pairs and X events."""
    out: dict[Track, list[tuple[int, int, str]]] = defaultdict(list)
    open_: dict[Track, list[tuple[int, str]]] = defaultdict(list)
    for e in events:
        track = (e.get("pid", -1), e.get("tid", -1))
        if e["ph"] == "B":
            open_[track].append((round(e["ts"] * 1000), e["name"]))
        elif e["ph"] == "E":
            assert open_[track], f"E without B on {track} at {e['ts']}"
            start, name = open_[track].pop()
            assert name == e["name"], f"{e['name']} closes {name} on {track}"
            out[track].append((start, round(e["ts"] * 1000), name))
        elif e["ph"] == "X":
            start = round(e["ts"] * 1000)
            out[track].append((start, start + round(e["dur"] * 1000), e["name"]))
    return out


def test_slices_nest_on_every_track(exported: tuple[ts.RunResult, list[dict[str, Any]]]) -> None:
    _, events = exported
    tracks = slices(events)
    assert len(tracks) > 8
    for track, spans in tracks.items():
        stack: list[tuple[int, int, str]] = []
        for start, end, name in sorted(spans, key=lambda s: (s[0], -s[1])):
            assert end >= start
            while stack and stack[-1][1] <= start and not (stack[-1][1] == start == end):
                stack.pop()
            if stack:
                parent = stack[-1]
                assert end <= parent[1], f"{name} {start}-{end} overlaps {parent} on {track}"
            stack.append((start, end, name))


def test_every_flow_has_both_ends_in_a_slice(
    exported: tuple[ts.RunResult, list[dict[str, Any]]],
) -> None:
    result, events = exported
    tracks = slices(events)
    flows: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        if e["ph"] in ("s", "t", "f"):
            flows[e["id"]].append(e)
    raised = sum(c.raised for c in result.measured().irqs.values())
    assert len(flows) >= raised * 0.9  # (every source's interrupts, not only those measured)
    lengths = set()
    for fid, steps in flows.items():
        phases = [s["ph"] for s in steps]
        assert phases[0] == "s" and phases[-1] == "f" and set(phases[1:-1]) <= {"t"}, fid
        times = [s["ts"] for s in steps]
        assert times == sorted(times)
        lengths.add(len(steps))
        for s in steps:
            at = round(s["ts"] * 1000)
            spans = tracks[(s["pid"], s["tid"])]
            assert any(a <= at <= b for a, b, _ in spans), f"flow {fid} step unbound: {s}"
    assert 4 in lengths  # raise -> handler -> tasklet -> vIRQ, on some interrupts
    cpus = {(s[0]["pid"], s[-1]["pid"]) for s in flows.values()}
    assert cpus  # flows may cross CPUs; they are drawn wherever the stages ran


def test_every_timestamp_is_a_trace_time(
    exported: tuple[ts.RunResult, list[dict[str, Any]]],
) -> None:
    result, events = exported
    times = set(result.trace.time_ns.tolist())
    times |= set(result.trace.arg[result.trace.kind == ts.EventKind.LOCK_ACQUIRE].tolist())
    for e in events:
        if "ts" not in e:
            continue
        assert round(e["ts"] * 1000) in times, e
        if "dur" in e:
            assert round((e["ts"] + e["dur"]) * 1000) in times, e


def test_counters_never_go_negative(exported: tuple[ts.RunResult, list[dict[str, Any]]]) -> None:
    result, events = exported
    counters = [e for e in events if e["ph"] == "C"]
    names = {e["name"] for e in counters}
    assert "tasklets queued" in names
    contended = any(s.contentions for s in result.measured().locks.values())
    assert any(n.startswith("spinners ") for n in names) == contended
    for e in counters:
        assert all(v >= 0 for v in e["args"].values()), e
    peak = max(e["args"].get("queued", 0) for e in counters)
    assert peak >= 1


def test_gzipped_when_the_name_says_so(tmp_path: Path) -> None:
    result = ts.run("small-2socket", seed=1, duration_ms=2)
    plain, packed = tmp_path / "t.json", tmp_path / "t.json.gz"
    save_chrome_trace(result.trace, plain)
    save_chrome_trace(result.trace, packed)
    with gzip.open(packed, "rt") as f:
        assert json.load(f) == json.loads(plain.read_text())
    first = packed.read_bytes()
    save_chrome_trace(result.trace, packed)
    assert packed.read_bytes() == first  # no timestamp in the gzip header
    assert len(first) < plain.stat().st_size / 4


def test_cli_writes_gz_per_design_and_checks_the_path_first(tmp_path: Path) -> None:
    base = ["run", "small-2socket", "--duration-ms", "2", "--design", "linux"]
    out = taskletsim_cli(
        *base, "--design", "rfc-percpu", "--chrome-trace", str(tmp_path / "r.json.gz")
    )
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r-linux.json.gz", "r-rfc-percpu.json.gz"]
    bad = taskletsim_cli(*base, "--chrome-trace", str(tmp_path / "r.txt"))
    assert bad.returncode == 2 and "--chrome-trace" in bad.stderr
    missing = taskletsim_cli(*base, "--chrome-trace", str(tmp_path / "no" / "r.json"))
    assert missing.returncode == 2 and "a path where a file can be written" in missing.stderr
