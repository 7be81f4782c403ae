"""Step costs drawn from a distribution: what a cost given as ``exp:500``,
``lognormal:500:0.5`` or ``empirical:Q0:...:QN`` (measured quantiles;
:func:`taskletsim.core.config.parse_cost`) draws, one value per step, from the run's
own named random stream.

A constant cost draws nothing (the run's random streams are as without it), so a
model whose costs are all constants gives the traces it gave before costs could be
distributions.
"""

from __future__ import annotations

import math

import numpy as np

from ..core.sim import DrawStream, Simulation, draw_stream


class CostDraw:
    """``draw()`` the next step's cost in ns; ``constant`` is the cost when it does not
    vary (else ``None``); ``total(n)`` the cost of ``n`` steps."""

    __slots__ = ("constant", "draw")

    def __init__(self, sim: Simulation, stream: str, spec: int | str) -> None:
        self.constant: int | None = None
        if isinstance(spec, int):
            self.constant = spec
            self.draw: DrawStream = lambda: spec
            return
        family, *args = spec.split(":")
        numbers = [float(a) for a in args]
        bits = sim.rng(stream).bit_generator
        if family == "exp":
            mean = numbers[0]
            self.draw = draw_stream(lambda n: np.random.Generator(bits).exponential(mean, n))
        elif family == "uniform":
            low, high = numbers
            self.draw = draw_stream(lambda n: np.random.Generator(bits).uniform(low, high, n))
        elif family == "lognormal":
            mean, cv = numbers
            sigma = math.sqrt(math.log1p(cv * cv))
            mu = math.log(mean) - sigma * sigma / 2 if mean > 0 else -math.inf
            self.draw = draw_stream(
                lambda n: (
                    np.random.Generator(bits).lognormal(mu, sigma, n) if mean > 0 else np.zeros(n)
                )
            )
        elif family == "empirical":  # the inverse CDF, linear between the quantiles
            steps = np.arange(len(numbers), dtype=np.float64)
            points = np.array(numbers)
            top = len(numbers) - 1
            self.draw = draw_stream(
                lambda n: np.interp(np.random.Generator(bits).random(n) * top, steps, points)
            )
        else:
            raise ValueError(f"not a cost distribution: {spec!r}")

    def __call__(self) -> int:
        return int(self.draw())

    def total(self, n: int) -> int:
        """The cost of ``n`` steps: ``n`` draws summed (``n`` x the constant)."""
        if self.constant is not None:
            return n * self.constant
        return sum(self.draw() for _ in range(n))
