"""Topology: CPU numbering, distance classes, transfer costs."""

from __future__ import annotations

import pytest

import taskletsim as ts
from taskletsim.platform.topology import Distance


def test_numbering_and_distances(small_topology: ts.Topology) -> None:
    topo = small_topology  # 2 sockets x 2 cores x 2 threads
    assert topo.ncpus == 8
    assert topo.socket_list == [0, 0, 0, 0, 1, 1, 1, 1]
    assert topo.distance(0, 0) is Distance.SAME_CPU
    assert topo.distance(0, 1) is Distance.SAME_CORE
    assert topo.distance(0, 2) is Distance.SAME_SOCKET
    assert topo.distance(3, 4) is Distance.OTHER_SOCKET


def test_default_costs_are_the_perfbook_figures(small_topology: ts.Topology) -> None:
    assert small_topology.cost[0][0] == 7
    assert small_topology.cost[0][1] == 25
    assert small_topology.cost[0][2] == 102
    assert small_topology.cost[0][7] == 443
    assert small_topology.socket_cost == [[102, 443], [443, 102]]


def test_uniform_costs_override_every_class() -> None:
    topo = ts.Topology(2, 2, 2, ts.TransferCosts.uniform(0))
    assert {c for row in topo.cost for c in row} == {0}


def test_from_cpus_needs_an_even_spread() -> None:
    assert ts.Topology.from_cpus(8, 2).cores_per_socket == 4
    with pytest.raises(ts.ConfigError, match="cpus"):
        ts.Topology.from_cpus(6, 4)
    with pytest.raises(ts.ConfigError, match="sockets"):
        ts.Topology(0, 4)


def test_the_2014_preset_is_mctop_at_2_13_ghz_with_its_hops() -> None:
    """28 / 116 / 341 / 458 cycles at 2.13 GHz = 13 / 54 / 160 / 215 ns; each of the
    8 sockets has 3 one-hop neighbours (mctop's diassrv8), the other 4 are two hops."""
    from taskletsim.platform.topology import TRANSFER_PRESETS

    costs = TRANSFER_PRESETS["mctop-2014"]
    for cycles, ns in ((28, costs.same_core_ns), (116, costs.same_socket_ns)):
        assert ns == round(cycles / 2.13)
    assert (costs.other_socket_ns, costs.far_socket_ns) == (round(341 / 2.13), round(458 / 2.13))
    topo = ts.Topology(8, 2, 2, costs)  # 4 CPUs per socket
    hops = topo.socket_hops
    assert all(
        row.count(1) == 3 and row.count(2) == 4 and row[s] == 0 for s, row in enumerate(hops)
    )
    assert hops == [list(r) for r in zip(*hops, strict=True)]  # symmetric
    assert topo.distance(0, 1) is Distance.SAME_CORE and topo.cost[0][1] == 13
    assert topo.distance(0, 2) is Distance.SAME_SOCKET and topo.cost[0][2] == 54
    assert hops[0][4] == 1 and topo.distance(0, 16) is Distance.OTHER_SOCKET
    assert topo.cost[0][16] == 160
    assert hops[0][1] == 2 and topo.distance(0, 4) is Distance.FAR_SOCKET
    assert topo.cost[0][4] == 215
    assert topo.socket_cost[0][:5] == [54, 215, 215, 215, 160]
    # on another socket count the table has no measured hops: every other socket is one hop
    assert ts.Topology(4, 1, 1, costs).socket_cost[0] == [54, 160, 160, 160]


def test_the_2017_preset_is_the_default() -> None:
    from taskletsim.platform.topology import TRANSFER_PRESETS

    assert TRANSFER_PRESETS["perfbook-2017"] == ts.TransferCosts()
    assert ts.Topology(8, 1).socket_cost[0] == [102] + [443] * 7
