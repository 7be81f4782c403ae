"""Machine topology: sockets x cores x SMT threads, and cache-line transfer costs.

A physical CPU (a hardware thread) is numbered socket-major, as Linux and Xen
number them on most x86 servers:
``cpu = (socket * cores_per_socket + core) * threads_per_core + thread``.

The cost of moving a contended cache line (a lock word) from one CPU to
another depends only on their distance class. Defaults come from perfbook
(``cpu/overheads.tex``, 8-socket Xeon
Platinum 8176 at 2.1 GHz: CAS on the same CPU 7.0 ns, same socket 101.9 ns,
other socket 442.9 ns). perfbook gives no SMT-sibling figure; the default
scales its same-socket figure by mctop's 8-socket SMT/same-socket ratio
(28/116 cycles, LPD-EPFL/mctop ``desc/*.mct``): 101.9 * 28 / 116 = 24.6 ns.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from ..core.config import ConfigError


class Distance(IntEnum):
    """Distance class between two CPUs."""

    SAME_CPU = 0
    SAME_CORE = 1
    SAME_SOCKET = 2
    OTHER_SOCKET = 3


@dataclass(frozen=True)
class TransferCosts:
    """Cache-line transfer cost in ns for each :class:`Distance` class."""

    same_cpu_ns: int = 7  # perfbook: CAS, same CPU, 7.0 ns
    same_core_ns: int = 25  # 101.9 ns * 28/116 (mctop SMT vs socket ratio)
    same_socket_ns: int = 102  # perfbook: CAS, same socket, 101.9 ns
    other_socket_ns: int = 443  # perfbook: CAS, other socket, 442.9 ns

    @classmethod
    def uniform(cls, ns: int) -> TransferCosts:
        """Every class costs ``ns`` (``0``: a textbook queueing server)."""
        return cls(ns, ns, ns, ns)

    def of(self, distance: Distance) -> int:
        """The cost of one class."""
        return (self.same_cpu_ns, self.same_core_ns, self.same_socket_ns, self.other_socket_ns)[
            distance
        ]


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
        cpus = np.arange(self.ncpus)
        self.core_of: np.ndarray = cpus // threads_per_core
        self.socket_of: np.ndarray = self.core_of // cores_per_socket
        self.socket_list: list[int] = self.socket_of.tolist()
        table = np.array([self.costs.of(d) for d in Distance], dtype=np.int64)
        self.distance_matrix: np.ndarray = self._distances()
        self.cost: list[list[int]] = table[self.distance_matrix].tolist()
        same = self.costs.same_socket_ns
        other = self.costs.other_socket_ns
        self.socket_cost: list[list[int]] = [
            [same if s == t else other for t in range(sockets)] for s in range(sockets)
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

    def _distances(self) -> np.ndarray:
        cpus = np.arange(self.ncpus)
        same_cpu = cpus[:, None] == cpus[None, :]
        same_core = self.core_of[:, None] == self.core_of[None, :]
        same_socket = self.socket_of[:, None] == self.socket_of[None, :]
        return np.where(
            same_cpu,
            Distance.SAME_CPU,
            np.where(
                same_core,
                Distance.SAME_CORE,
                np.where(same_socket, Distance.SAME_SOCKET, Distance.OTHER_SOCKET),
            ),
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
