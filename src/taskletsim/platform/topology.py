"""Machine topology: sockets x cores x SMT threads, and cache-line transfer costs.

A physical CPU (a hardware thread) is numbered socket-major, as Linux and Xen
number them on most x86 servers:
``cpu = (socket * cores_per_socket + core) * threads_per_core + thread``.

The cost of moving a contended cache line (a lock word) from one CPU to
another depends only on their distance class: the same CPU, SMT siblings,
the same socket, a socket one interconnect hop away, or farther. Which
sockets are one hop apart is the topology's ``socket_hops`` matrix.

Two measured tables are named presets (:data:`TRANSFER_PRESETS`; sources in
docs/sources.md):

- ``perfbook-2017``: perfbook ``cpu/overheads.tex``, an 8-socket Xeon
  Platinum 8176 at 2.1 GHz: CAS on the same CPU 7.0 ns, same socket
  101.9 ns, other socket 442.9 ns. perfbook gives no SMT-sibling figure:
  101.9 ns x 28/116 (mctop's SMT / same-socket ratio) = 24.6 ns. No hop
  distinction. The default of :class:`TransferCosts`.
- ``mctop-2014``: mctop's CAS ping-pong on an 8-socket, 160-context machine
  (``desc/diassrv8.mct``): 28 / 116 / 341 / 458 cycles for SMT sibling /
  same socket / one hop / two hops, taken at 2.13 GHz (the 8 x 10-core Xeon
  E7-8867L of David et al., SOSP 2013, which that description matches: an
  inference) = 13 / 54 / 160 / 215 ns. The same CPU: perfbook's 7 ns (mctop
  does not measure it). On 8 sockets its hop matrix is mctop's: each socket
  has three one-hop neighbours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from ..core.config import ConfigError

MAX_CPUS = 4096
"""The most pCPUs a host may have (Xen's x86 ``NR_CPUS`` limit; the trace keeps a CPU
in 16 bits)."""


class Distance(IntEnum):
    """Distance class between two CPUs."""

    SAME_CPU = 0
    SAME_CORE = 1
    SAME_SOCKET = 2
    OTHER_SOCKET = 3
    """Another socket, one interconnect hop away."""
    FAR_SOCKET = 4
    """Another socket, two or more hops away."""


@dataclass(frozen=True)
class TransferCosts:
    """Cache-line transfer cost in ns for each :class:`Distance` class.

    ``far_socket_ns`` is ``None`` when the table does not tell hops apart
    (the other-socket cost then applies to every other socket).
    """

    same_cpu_ns: int = 7  # perfbook: CAS, same CPU, 7.0 ns
    same_core_ns: int = 25  # 101.9 ns * 28/116 (mctop SMT vs socket ratio)
    same_socket_ns: int = 102  # perfbook: CAS, same socket, 101.9 ns
    other_socket_ns: int = 443  # perfbook: CAS, other socket, 442.9 ns
    far_socket_ns: int | None = None
    socket_hops: tuple[tuple[int, ...], ...] | None = None
    """Hops between sockets, for the socket count it was measured on (else all one)."""

    @classmethod
    def uniform(cls, ns: int) -> TransferCosts:
        """Every class costs ``ns`` (``0``: a textbook queueing server)."""
        return cls(ns, ns, ns, ns, ns)

    def of(self, distance: Distance) -> int:
        """The cost of one class."""
        far = self.other_socket_ns if self.far_socket_ns is None else self.far_socket_ns
        return (
            self.same_cpu_ns,
            self.same_core_ns,
            self.same_socket_ns,
            self.other_socket_ns,
            far,
        )[distance]

    def hops(self, sockets: int) -> list[list[int]]:
        """The socket hop matrix to use on ``sockets`` sockets."""
        if self.socket_hops is not None and len(self.socket_hops) == sockets:
            return [list(row) for row in self.socket_hops]
        return [[0 if s == t else 1 for t in range(sockets)] for s in range(sockets)]


def _hops_from_neighbours(neighbours: Sequence[Sequence[int]]) -> tuple[tuple[int, ...], ...]:
    """All-pairs hop counts of a socket graph given by its one-hop neighbours."""
    n = len(neighbours)
    rows = []
    for s in range(n):
        dist = [-1] * n
        dist[s] = 0
        frontier = [s]
        while frontier:
            nxt = []
            for u in frontier:
                for v in neighbours[u]:
                    if dist[v] < 0:
                        dist[v] = dist[u] + 1
                        nxt.append(v)
            frontier = nxt
        rows.append(tuple(dist))
    return tuple(rows)


MCTOP_DIASSRV8_NEIGHBOURS = (
    (4, 5, 6),
    (2, 3, 5),
    (1, 4, 6),
    (1, 4, 7),
    (0, 2, 3),
    (0, 1, 7),
    (0, 2, 7),
    (3, 5, 6),
)
"""One-hop neighbours of each socket of mctop's ``diassrv8`` (sockets numbered by their
first hardware context): CAS latency 341 cycles to these, 458 to the four others."""

TRANSFER_PRESETS: dict[str, TransferCosts] = {
    "perfbook-2017": TransferCosts(),
    "mctop-2014": TransferCosts(
        same_cpu_ns=7,
        same_core_ns=13,
        same_socket_ns=54,
        other_socket_ns=160,
        far_socket_ns=215,
        socket_hops=_hops_from_neighbours(MCTOP_DIASSRV8_NEIGHBOURS),
    ),
}
"""Measured transfer-cost tables by name (see the module docstring)."""


class Topology:
    """Sockets x cores x threads, with the per-pair transfer cost precomputed.

    ``cost[a][b]`` (a nested list, for fast lookup inside the event loop) is
    the ns to move a line from CPU ``a`` to CPU ``b``; ``socket_cost[s][t]``
    the same between sockets, used where only per-socket counts are kept.
    """

    def __init__(
        self,
        sockets: int,
        cores_per_socket: int,
        threads_per_core: int = 1,
        costs: TransferCosts | None = None,
    ) -> None:
        for field, value in (
            ("sockets", sockets),
            ("cores_per_socket", cores_per_socket),
            ("threads_per_core", threads_per_core),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(field, value, "an integer >= 1")
        self.sockets = sockets
        self.cores_per_socket = cores_per_socket
        self.threads_per_core = threads_per_core
        self.costs = costs or TransferCosts()
        self.ncpus = sockets * cores_per_socket * threads_per_core
        if self.ncpus > MAX_CPUS:
            raise ConfigError(
                "sockets x cores_per_socket x threads_per_core",
                f"{sockets} x {cores_per_socket} x {threads_per_core}",
                f"at most {MAX_CPUS} CPUs",
            )
        cpus = np.arange(self.ncpus)
        self.core_of: np.ndarray = cpus // threads_per_core
        self.socket_of: np.ndarray = self.core_of // cores_per_socket
        self.socket_list: list[int] = self.socket_of.tolist()
        self.socket_hops: list[list[int]] = self.costs.hops(sockets)
        table = np.array([self.costs.of(d) for d in Distance], dtype=np.int64)
        self.distance_matrix: np.ndarray = self._distances()
        self.cost: list[list[int]] = table[self.distance_matrix].tolist()
        self.socket_cost: list[list[int]] = [
            [self.costs.of(self._socket_distance(s, t)) for t in range(sockets)]
            for s in range(sockets)
        ]

    @classmethod
    def from_cpus(
        cls, cpus: int, sockets: int, threads_per_core: int = 1, costs: TransferCosts | None = None
    ) -> Topology:
        """Spread ``cpus`` hardware threads evenly over ``sockets``."""
        for field, value in (("cpus", cpus), ("sockets", sockets)):
            if value < 1:
                raise ConfigError(field, value, "an integer >= 1")
        per_socket = sockets * threads_per_core
        if cpus % per_socket:
            raise ConfigError(
                "cpus", cpus, f"a multiple of sockets x threads_per_core ({per_socket})"
            )
        return cls(sockets, cpus // per_socket, threads_per_core, costs)

    def _socket_distance(self, s: int, t: int) -> Distance:
        hops = self.socket_hops[s][t]
        if hops == 0:
            return Distance.SAME_SOCKET
        return Distance.OTHER_SOCKET if hops == 1 else Distance.FAR_SOCKET

    def _distances(self) -> np.ndarray:
        cpus = np.arange(self.ncpus)
        same_cpu = cpus[:, None] == cpus[None, :]
        same_core = self.core_of[:, None] == self.core_of[None, :]
        hops = np.asarray(self.socket_hops, dtype=np.int64)[
            self.socket_of[:, None], self.socket_of[None, :]
        ]
        by_socket = np.where(
            hops == 0,
            Distance.SAME_SOCKET,
            np.where(hops == 1, Distance.OTHER_SOCKET, Distance.FAR_SOCKET),
        )
        return np.where(
            same_cpu, Distance.SAME_CPU, np.where(same_core, Distance.SAME_CORE, by_socket)
        ).astype(np.int8)

    def distance(self, a: int, b: int) -> Distance:
        """The distance class between CPUs ``a`` and ``b``."""
        return Distance(int(self.distance_matrix[a, b]))

    def describe(self) -> dict[str, int]:
        """A JSON-able summary, stored in every trace's metadata."""
        return {
            "sockets": self.sockets,
            "cores_per_socket": self.cores_per_socket,
            "threads_per_core": self.threads_per_core,
            "cpus": self.ncpus,
        }
