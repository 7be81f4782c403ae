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
