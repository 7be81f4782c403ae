"""Closed-form results the simulator is validated against (docs/validation.md).

All times in ns, rates per ns unless a name says otherwise.
"""

from __future__ import annotations

import math


def md1_wait(rho: float, service_ns: float) -> float:
    """M/D/1 mean wait in queue (Pollaczek-Khinchine): rho*S / (2(1 - rho))."""
    _check_rho(rho)
    return rho * service_ns / (2.0 * (1.0 - rho))


def mm1_wait(rho: float, service_ns: float) -> float:
    """M/M/1 mean wait in queue: rho*S / (1 - rho)."""
    _check_rho(rho)
    return rho * service_ns / (1.0 - rho)


def _check_rho(rho: float) -> None:
    if not 0.0 <= rho < 1.0:
        raise ValueError(f"rho = {rho}: a stable queue needs 0 <= rho < 1")


def lock_chain_distribution(
    n: int, think_ns: float, hold_ns: float, transfer_ns: float = 0.0
) -> list[float]:
    """Steady state P_0..P_n of the Boyd-Wickizer birth-death chain.

    State k = CPUs holding or waiting for the lock; arrival rate (n - k)/a,
    service rate 1/(s + c*k/2). With c = 0 it is M/M/1//n (machine repairman).
    Computed in log space so that large n does not overflow.
    """
    if n < 1:
        raise ValueError("n must be >= 1")
    logs = [0.0]
    for k in range(1, n + 1):
        service = hold_ns + transfer_ns * k / 2.0
        logs.append(logs[-1] + math.log((n - k + 1) / think_ns) + math.log(service))
    top = max(logs)
    weights = [math.exp(x - top) for x in logs]
    total = sum(weights)
    return [w / total for w in weights]


def lock_chain_throughput(
    n: int, think_ns: float, hold_ns: float, transfer_ns: float = 0.0
) -> float:
    """Acquisitions per ns of the Boyd-Wickizer chain: sum_k>=1 P_k / (s + c*k/2)."""
    probs = lock_chain_distribution(n, think_ns, hold_ns, transfer_ns)
    return sum(p / (hold_ns + transfer_ns * k / 2.0) for k, p in enumerate(probs) if k >= 1)


def machine_repairman_throughput(n: int, think_ns: float, hold_ns: float) -> float:
    """M/M/1//n throughput (acquisitions per ns): (1 - P_0) / s."""
    return (1.0 - lock_chain_distribution(n, think_ns, hold_ns)[0]) / hold_ns
