"""Fitting an interrupt source's arrival process to the times it fired.

Three families, the ones :mod:`taskletsim.platform.arrivals` simulates, each
fitted by its own estimator and tested with a Kolmogorov-Smirnov test
(``scipy.stats``):

- :class:`~taskletsim.platform.arrivals.Periodic`: the period is the slope of a
  least-squares line through the arrival times against their tick numbers (a
  missed tick leaves a gap of two periods, not a longer period; the line is fitted
  to a prefix that doubles, the ticks counted again each time), the phase its
  intercept moved to the middle of the residuals' range, the jitter half that
  range (the uniform's best estimates); refused outright when two arrivals fall on
  one tick (with a jitter near half the period any stream looks uniform around
  some line) or when more than :data:`MISSED_TICKS` of the ticks have none (a
  guest's tick re-armed late skips grid points: some may be missed); tested: the residuals against a
  uniform distribution over +-jitter (all residuals 0: a perfect fit).
- :class:`~taskletsim.platform.arrivals.Poisson`: the rate is the maximum
  likelihood estimate, gaps / their total; tested: the gaps against the
  exponential distribution of that mean.
- :class:`~taskletsim.platform.arrivals.OnOff`: the gaps as a mixture of two
  exponentials fitted by expectation-maximisation (gaps inside a burst, and
  gaps across a silent period); as :class:`~taskletsim.platform.arrivals.OnOff`
  makes them, a gap inside a burst is the sooner of the next arrival and the
  burst's end (mean ``1/(rate + 1/on)``) and a burst has ``rate x on`` of them,
  which give the rate and the on time; the off time is the long component less
  the arrival due after a burst (``1/rate + 1/(rate + 1/on)``);
  tested: two-sample, the gaps against those of the fitted process (simulated
  with a fixed seed, twenty times as many).

The estimated parameters make each test conservative (the Lilliefors effect):
a p-value is an upper bound of the true one. :func:`choose` takes, of the
families whose p-value is at least :data:`ALPHA`, the simplest (periodic, then
Poisson, then on-off); when none passes, the one with the smallest statistic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.config import ConfigError
from ..core.events import COALESCE_VIRTUAL, EventKind
from ..core.source import trace_source
from ..core.trace import Trace
from ..platform.arrivals import Arrivals, OnOff, Periodic, Poisson

ALPHA = 0.01
"""The level below which a family's fit is rejected."""
MIN_ARRIVALS = 20
"""Fewer arrivals than this cannot be told apart: a fit needs at least this many."""
FAMILIES = ("periodic", "poisson", "onoff")
MISSED_TICKS = 0.75
"""A periodic fit is refused when more than this share of its ticks have no arrival (a
tick a late guest re-arms past skips grid points; one that fires on fewer than a
quarter of them is not told from other streams)."""
REFERENCE_GAPS = 200_000
"""At most this many gaps of a fitted on-off process to test the observed ones against."""


@dataclass(frozen=True)
class FamilyFit:
    """One family's fit: its process, the KS statistic and p-value, and its parameters."""

    family: str
    process: Arrivals | None
    statistic: float
    p_value: float
    params: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: family, params, statistic, p_value."""
        return {
            "family": self.family,
            "params": dict(self.params),
            "statistic": self.statistic,
            "p_value": self.p_value,
        }


@dataclass(frozen=True)
class ArrivalFit:
    """The chosen fit and every family's, for the report."""

    chosen: FamilyFit
    fits: tuple[FamilyFit, ...]
    arrivals: int
    span_ns: int

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: the chosen family, its test and every family tried."""
        return {
            "chosen": self.chosen.as_dict(),
            "arrivals": self.arrivals,
            "span_ns": self.span_ns,
            "tried": [f.as_dict() for f in self.fits],
            "test": f"Kolmogorov-Smirnov, alpha {ALPHA}; the simplest family not rejected",
        }


def fit_arrivals(times_ns: np.ndarray, seed: int = 0) -> ArrivalFit:
    """Fit every family to the arrival times (ns, any order) and choose one (:func:`choose`).

    Fewer than :data:`MIN_ARRIVALS` arrivals is a :class:`ConfigError`."""
    times = np.sort(np.asarray(times_ns, dtype=np.int64))
    if len(times) < MIN_ARRIVALS:
        raise ConfigError(
            "arrivals", len(times), f"at least {MIN_ARRIVALS} arrivals of a source to fit it"
        )
    fits = (fit_periodic(times), fit_poisson(times), fit_onoff(times, seed))
    return ArrivalFit(choose(fits), fits, len(times), int(times[-1] - times[0]))


def choose(fits: tuple[FamilyFit, ...]) -> FamilyFit:
    """The simplest family not rejected at :data:`ALPHA`, else the smallest statistic."""
    passing = [f for f in fits if f.process is not None and f.p_value >= ALPHA]
    if passing:
        return min(passing, key=lambda f: FAMILIES.index(f.family))
    usable = [f for f in fits if f.process is not None]
    return min(usable, key=lambda f: f.statistic)


def fit_periodic(times: np.ndarray) -> FamilyFit:
    """Period, phase and jitter by least squares over the tick numbers (see the module)."""
    from scipy import stats

    gaps = np.diff(times)
    rough = float(np.median(gaps))
    if rough <= 0:
        return FamilyFit("periodic", None, 1.0, 0.0)
    # fitted over a prefix that doubles, so that an error in the period never adds up to
    # half a period before the ticks are counted again
    slope, intercept, m = rough, float(times[0]), min(16, len(times))
    while True:
        ticks = np.rint((times[:m] - intercept) / slope)
        slope, intercept = (float(v) for v in np.polyfit(ticks, times[:m].astype(np.float64), 1))
        if m == len(times):
            break
        m = min(2 * m, len(times))
    residual = times - (intercept + slope * ticks)
    # uniform jitter: its centre and half-width are best read off the residuals' range
    centre = float(residual.max() + residual.min()) / 2
    intercept += centre
    residual = residual - centre
    jitter = float(residual.max() - residual.min()) / 2
    period = round(slope)
    shared = len(ticks) - len(np.unique(ticks))
    missed = int(ticks[-1] - ticks[0] + 1) - len(np.unique(ticks))
    params = {
        "period_ns": float(period),
        "jitter_ns": jitter,
        "phase_ns": float(intercept),
        "ticks_shared": float(shared),
        "ticks_missed": float(missed),
    }
    # a periodic source fires at most once per tick (its jitter is under half a
    # period): with a jitter near half the period any stream would look uniform around
    # some line, so two arrivals on one tick reject it, and so do too many missed ticks
    if period <= 0 or not jitter < period / 2 or shared or missed > MISSED_TICKS * len(ticks):
        return FamilyFit("periodic", None, 1.0, 0.0, params)
    if jitter < 1.0:  # to the ns: a clock
        process = Periodic(period, 0, int(intercept))
        return FamilyFit("periodic", process, 0.0, 1.0, params)
    test = stats.kstest(residual, "uniform", args=(-jitter, 2 * jitter))
    process = Periodic(period, round(jitter), int(intercept))
    return FamilyFit("periodic", process, float(test.statistic), float(test.pvalue), params)


def fit_poisson(times: np.ndarray) -> FamilyFit:
    """The rate's maximum likelihood estimate; the gaps tested against its exponential."""
    from scipy import stats

    gaps = np.diff(times).astype(np.float64)
    mean = float(gaps.mean())
    if mean <= 0:
        return FamilyFit("poisson", None, 1.0, 0.0)
    test = stats.kstest(gaps, "expon", args=(0.0, mean))
    rate = 1e9 / mean
    return FamilyFit(
        "poisson", Poisson(rate), float(test.statistic), float(test.pvalue), {"rate_per_s": rate}
    )


def _two_exponentials(gaps: np.ndarray, rounds: int = 200) -> tuple[float, float, float]:
    """A mixture of two exponentials fitted to ``gaps`` by expectation-maximisation:
    the short component's weight and the two means (short first)."""
    lo, hi = np.percentile(gaps, [25, 90])
    weight, short, long = 0.8, max(float(lo), 1.0), max(float(hi), 2.0)
    for _ in range(rounds):
        a = weight / short * np.exp(-gaps / short)
        b = (1 - weight) / long * np.exp(-gaps / long)
        total = a + b
        total[total == 0] = 1e-300
        r = a / total
        weight = float(np.clip(r.mean(), 1e-6, 1 - 1e-6))
        short = max(float((r * gaps).sum() / r.sum()), 1.0)
        long = max(float(((1 - r) * gaps).sum() / (1 - r).sum()), short)
    return weight, short, long


def fit_onoff(times: np.ndarray, seed: int = 0) -> FamilyFit:
    """Bursts and silences from a two-exponential mixture of the gaps (see the module)."""
    from scipy import stats

    gaps = np.diff(times).astype(np.float64)
    if gaps.mean() <= 0 or len(gaps) < 2:
        return FamilyFit("onoff", None, 1.0, 0.0)
    weight, short, long = _two_exponentials(gaps)
    if long < 3 * short:  # no silences to speak of
        return FamilyFit("onoff", None, 1.0, 0.0, {"short_ns": short, "long_ns": long})
    # OnOff's on period ends (rate mu = 1/on) or an arrival comes (rate lambda), whichever
    # first: a gap inside a burst has mean 1/(lambda + mu), a burst lambda/mu of them; a
    # gap across a silence is the arrival due after the period (1/lambda + 1/(lambda + mu)
    # after the last) and the silence
    per_burst = weight / (1 - weight)  # the mixture's share of gaps inside bursts
    mu = 1.0 / (short * (per_burst + 1))
    lam = per_burst * mu
    on_ns = 1.0 / mu
    off_ns = max(long - short - 1.0 / lam, 1.0) if lam > 0 else max(long - short, 1.0)
    if lam <= 0:  # no burst of two: no rate to speak of
        return FamilyFit("onoff", None, 1.0, 0.0, {"short_ns": short, "long_ns": long})
    params = {"rate_per_s": 1e9 * lam, "on_ns": on_ns, "off_ns": off_ns}
    process = OnOff(params["rate_per_s"], on_ns, off_ns)
    size = min(20 * len(gaps), REFERENCE_GAPS)
    reference = onoff_gaps(process, size, np.random.default_rng(seed))
    test = stats.ks_2samp(gaps, reference)
    return FamilyFit("onoff", process, float(test.statistic), float(test.pvalue), params)


def onoff_gaps(process: OnOff, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` gaps between arrivals of ``process``, made as :class:`OnOff` makes them:
    an arrival due after the on period ends starts a silence, and the next on period
    starts with an arrival."""
    out = np.empty(count)
    mean_gap = 1e9 / process.rate_per_s
    t, until = float(rng.exponential(mean_gap)), float(rng.exponential(process.on_ns))
    last: float | None = None
    n = 0
    while n < count:
        if t >= until:
            quiet = float(rng.exponential(process.off_ns))
            until = t + quiet + float(rng.exponential(process.on_ns))
            t += quiet
            continue
        if last is not None:
            out[n] = t - last
            n += 1
        last = t
        t += float(rng.exponential(mean_gap))
    return out


def source_arrivals(trace: Trace) -> dict[str, np.ndarray]:
    """Each IRQ source's arrival times: in a simulation every arrival (``IRQ_RAISE``, and
    ``IRQ_COALESCE`` for one merged into a pending request, held by its device or taken
    by polling; not a delivery merged into the guest's pending vector, whose arrival
    was raised); in a capture, which sees no arrival, each handler's entry
    (``IRQ_ENTRY``)."""
    source = trace_source(trace.meta.source)
    if source is None or source.covers(EventKind.IRQ_RAISE):
        rows = trace.of_kinds(EventKind.IRQ_RAISE, EventKind.IRQ_COALESCE)
        # a delivery merged into the guest's pending vector was already an arrival
        rows = rows[
            (trace.kind[rows] != EventKind.IRQ_COALESCE) | (trace.arg[rows] != COALESCE_VIRTUAL)
        ]
    else:
        rows = trace.rows(EventKind.IRQ_ENTRY)
    subject = trace.subject[rows]
    order = np.argsort(subject, kind="stable")
    subject, times = subject[order], trace.time_ns[rows][order]
    names = [info.name for info in trace.meta.irq]
    bounds = np.searchsorted(subject, np.arange(len(names) + 1))
    return {
        name: times[bounds[i] : bounds[i + 1]]
        for i, name in enumerate(names)
        if bounds[i + 1] > bounds[i]
    }


def fit_sources(
    trace: Trace, kinds: tuple[str, ...] | None = ("device", "timer"), seed: int = 0
) -> dict[str, ArrivalFit]:
    """:func:`fit_arrivals` of every IRQ source of ``kinds`` (``None``: all) with at least
    :data:`MIN_ARRIVALS` arrivals."""
    wanted = {i.name for i in trace.meta.irq if kinds is None or i.kind in kinds}
    return {
        name: fit_arrivals(times, seed)
        for name, times in source_arrivals(trace).items()
        if name in wanted and len(times) >= MIN_ARRIVALS
    }


def process_table(fitted: ArrivalFit) -> dict[str, Any]:
    """A host file's device process and its parameters for the family ``fitted`` chose
    (``process`` and ``rate_per_s``; ``on_us`` and ``off_us`` for ``onoff``)."""
    family, params = fitted.chosen.family, fitted.chosen.params
    if family == "periodic":
        return {"process": "periodic", "rate_per_s": 1e9 / params["period_ns"]}
    if family == "onoff":
        return {
            "process": "onoff",
            "rate_per_s": params["rate_per_s"],
            "on_us": params["on_ns"] / 1000,
            "off_us": params["off_ns"] / 1000,
        }
    return {"process": "poisson", "rate_per_s": params["rate_per_s"]}


KERNEL_HZ = (100, 250, 300, 1000)
"""The tick rates Linux is built with (``CONFIG_HZ``); a guest's tick period is 1e9/HZ ns."""


def kernel_hz(rate: float) -> float:
    """``rate``, or the ``CONFIG_HZ`` within 0.1% of it: a grid's period estimated from a
    few dozen late ticks is off by some ns, and on a saturated host a few ns a tick move
    the ticks' coincidences, and the figures, measurably."""
    for hz in KERNEL_HZ:
        if abs(rate / hz - 1) < 1e-3:
            return float(hz)
    return round(rate, 3)


GRID_SHARE = 0.8
"""The share of a tick's gaps that must be whole multiples of one period (within
:data:`GRID_SLACK` of it) for that period to be taken as the grid it was armed on."""
GRID_SLACK = 0.05


def tick_grid_ns(times: np.ndarray) -> float | None:
    """The period of the grid a tick's arrivals lie on when ticks are skipped: the shortest
    gaps (their 5th percentile) give a first period, each gap within :data:`GRID_SLACK`
    of a whole multiple of it counts that many periods, and the period is their total
    over their count; ``None`` unless :data:`GRID_SHARE` of the gaps are such multiples
    (a Poisson stream's are not)."""
    gaps = np.diff(np.sort(np.asarray(times, dtype=np.float64)))
    gaps = gaps[gaps > 0]
    if len(gaps) < MIN_ARRIVALS - 1:
        return None
    first = float(np.percentile(gaps, 5))
    whole = np.rint(gaps / first)
    on_grid = (whole >= 1) & (np.abs(gaps / first - whole) <= GRID_SLACK)
    if on_grid.mean() < GRID_SHARE:
        return None
    return float(gaps[on_grid].sum() / whole[on_grid].sum())
