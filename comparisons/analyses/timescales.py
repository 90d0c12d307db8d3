"""Intrinsic timescales by Murray et al.'s method (2014 Nat Neurosci 17:1661; macaque cortex).

Method (one sentence, as the benchmark states it): the activity of each unit in fixed time bins is
correlated **across trials** between every pair of bins at fixed task times, the correlations are
averaged at each lag, and A (exp(-lag/tau) + B) is fitted from the first lag at which the decay
begins; activity locked to the task is the same on every trial and so contributes nothing.

`intrinsic_timescales(rec)` returns, per unit, tau (s) or NaN with the reason it has none:
- ``no_variance``: no across-trial variance at any bin (a task-locked response identical on every
  trial, or a silent unit): no intrinsic fluctuation to measure (bins without variance in an
  otherwise variable unit, e.g. a sparse spiking unit's all-zero bins, are left out of the average);
- ``no_correlation``: the first lag's across-trial correlation is not above chance (3 standard
  errors over the bin pairs, and at least 0.05): white noise has no intrinsic timescale;
- ``fit_failed``: fewer than 3 lags from the start of the decay to fit;
- ``beyond_window``: tau exceeds the longest lag the trials allow (`max_lag_s`): flagged, not clipped;
- ``below_bin``: tau shorter than one bin.
Every flag is counted; nothing is silently dropped.

`autocorrelation(activity, max_lag)` is the pooled within-trial autocorrelation (over all trials and
times), kept for the dynamics figures; it is not the benchmark's estimator.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize_scalar

FLAGS = ("no_variance", "no_correlation", "fit_failed", "beyond_window", "below_bin")


def autocorrelation(activity: np.ndarray, max_lag: int) -> np.ndarray:
    """Pooled within-trial autocorrelation at lags 0..max_lag per unit, [units, max_lag + 1] (activity
    [trials, time, units], NaN-padded): correlation over all valid bin pairs (t, t + lag) of all trials."""
    x = np.asarray(activity, dtype=np.float64)
    n_units = x.shape[2]
    out = np.full((n_units, max_lag + 1), np.nan)
    for lag in range(max_lag + 1):
        a = x[:, : x.shape[1] - lag].reshape(-1, n_units)
        b = x[:, lag:].reshape(-1, n_units)
        ok = ~(np.isnan(a).any(1) | np.isnan(b).any(1))
        a, b = a[ok], b[ok]
        if len(a) < 3:
            break
        a = a - a.mean(0)
        b = b - b.mean(0)
        denom = np.sqrt((a ** 2).sum(0) * (b ** 2).sum(0))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, lag] = (a * b).sum(0) / denom
    return out


def across_trial_autocorrelation(activity: np.ndarray, max_lag: int, n_bins: int | None = None):
    """Murray's autocorrelation: for each unit, the across-trial Pearson correlation between bins i and
    i + lag at fixed times, averaged over all bin pairs at each lag.

    activity [trials, time, units]; bins used: the first `n_bins` (default: every bin valid in every
    trial). Returns (ac [units, max_lag + 1], standard error [units, max_lag + 1], zero-variance mask
    [units]): the SE is the spread of the pairwise correlations over sqrt(pairs)."""
    x = np.asarray(activity, dtype=np.float64)
    valid = ~np.isnan(x).any(axis=2).any(axis=0)  # bins valid in every trial
    n = int(np.argmin(valid)) if not valid.all() else x.shape[1]
    n = min(n, n_bins) if n_bins else n
    x = x[:, :n]  # [trials, bins, units]
    z = x - x.mean(0, keepdims=True)
    sd = np.sqrt((z ** 2).mean(0))  # [bins, units]
    flat = sd < 1e-12
    no_variance = flat.all(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(flat[None], np.nan, z / np.where(flat, 1.0, sd)[None])  # bins without variance: left out
    n_units = x.shape[2]
    ac = np.full((n_units, max_lag + 1), np.nan)
    se = np.full((n_units, max_lag + 1), np.nan)
    for lag in range(min(max_lag, n - 2) + 1):
        r = (z[:, : n - lag] * z[:, lag:]).mean(0)  # [pairs, units]: correlation across trials per bin pair
        pairs = np.isfinite(r).sum(0)
        with warnings.catch_warnings():  # a unit with no usable pair at this lag: NaN, flagged below
            warnings.simplefilter("ignore", RuntimeWarning)
            ac[:, lag] = np.nanmean(r, 0)
            se[:, lag] = np.nanstd(r, 0) / np.sqrt(np.maximum(pairs, 1))
    ac[no_variance] = np.nan
    return ac, se, no_variance


def _decay(lag_s, a, tau, b):
    return a * (np.exp(-lag_s / tau) + b)


def _profiled_sse(x: np.ndarray, y: np.ndarray, taus: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each tau, the least-squares A and C = A B of y ~ A exp(-x / tau) + C under the fit's bounds
    (0 <= A <= 2, -1 <= B <= 1, i.e. |C| <= A), and the residual sum of squares: ([taus] sse, A, C).

    For a fixed tau the model is linear in (A, C) and the bounds are a triangle, so the constrained optimum is
    exact: the unconstrained solution if it lies inside, else the best point of the three edges (A = 2,
    C = A, C = -A), each a one-dimensional least squares clipped to its segment."""
    e = np.exp(-x[None, :] / taus[:, None])  # [taus, lags]
    n = x.size
    se, sy, see, sey = e.sum(1), y.sum(), (e * e).sum(1), (e * y).sum(1)
    yy = float(y @ y)

    def sse(a, c):  # sum (a e + c - y)^2, expanded
        return a * a * see + 2 * a * c * se + n * c * c - 2 * a * sey - 2 * c * sy + yy

    cands = []
    det = n * see - se * se
    with np.errstate(invalid="ignore", divide="ignore"):
        a_free = np.where(det > 1e-12 * n * see, (n * sey - se * sy) / det, np.nan)
        c_free = (sy - a_free * se) / n
    inside = (a_free >= 0) & (a_free <= 2) & (np.abs(c_free) <= a_free)
    cands.append((np.where(inside, a_free, 0.0), np.where(inside, c_free, 0.0), inside))
    a2 = np.full_like(se, 2.0)  # edge A = 2: C = mean(y - 2e) clipped to [-2, 2]
    cands.append((a2, np.clip((sy - 2 * se) / n, -2.0, 2.0), np.ones_like(inside)))
    for sign in (1.0, -1.0):  # edges C = +-A: y ~ A (e +- 1)
        g = e + sign
        gg = (g * g).sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            a = np.clip(np.where(gg > 0, (g * y).sum(1) / gg, 0.0), 0.0, 2.0)
        cands.append((a, sign * a, np.ones_like(inside)))
    best_sse = np.full(taus.shape, np.inf)
    best_a, best_c = np.zeros_like(best_sse), np.zeros_like(best_sse)
    for a, c, valid in cands:
        v = np.where(valid, sse(a, c), np.inf)
        better = v < best_sse
        best_sse, best_a, best_c = np.where(better, v, best_sse), np.where(better, a, best_a), np.where(better, c, best_c)
    return best_sse, best_a, best_c


TAU_MIN_BINS, TAU_MAX_S = 1 / 20, 1e4  # tau's search range: from a twentieth of a bin to 1e4 s


def fit_timescale(ac: np.ndarray, dt_s: float, first_lag: int | None = None) -> float:
    """tau (s) of one autocorrelation curve fitted with A (exp(-lag/tau) + B) from the lag where the decay
    begins (the curve's peak at lag >= 1, or `first_lag`); NaN if there are fewer than 3 lags to fit.

    The least-squares fit (bounds 0 <= A <= 2, -1 <= B <= 1, dt/20 <= tau <= 1e4 s) is solved by profiling:
    for a fixed tau the best A and B are exact (`_profiled_sse`), and tau minimises the remaining residual over a
    log grid refined by bounded Brent search. This is the global optimum of the bounded problem, where an
    iterative fit from a fixed start may stop in a local one, and it costs milliseconds where a curve that does
    not decay (tau running to its bound) cost an iterative fit thousands of evaluations."""
    lags = np.arange(len(ac)) * dt_s
    ok = np.isfinite(ac)
    ok[0] = False
    if ok.sum() < 3:
        return float("nan")
    start = first_lag if first_lag is not None else int(np.nanargmax(np.where(ok, ac, -np.inf)))
    ok[:start] = False
    if ok.sum() < 3:
        return float("nan")
    x, y = lags[ok], np.asarray(ac[ok], dtype=np.float64)
    lo, hi = np.log(TAU_MIN_BINS * dt_s), np.log(TAU_MAX_S)
    grid = np.linspace(lo, hi, 512)  # log tau, steps of ~3 %
    cost = _profiled_sse(x, y, np.exp(grid))[0]
    i = int(np.argmin(cost))
    a, b = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    if a == b:
        return float(np.exp(grid[i]))
    res = minimize_scalar(lambda lt: float(_profiled_sse(x, y, np.exp(np.array([lt])))[0][0]), bounds=(a, b),
                          method="bounded", options={"xatol": 1e-8})
    best = res.x if res.fun <= cost[i] else grid[i]
    return float(np.exp(best))


@dataclass
class Timescales:
    """Per-unit intrinsic timescales (s, NaN where a unit has none) with the reason for each NaN."""

    tau_s: np.ndarray  # [units]
    flag: list[str | None]  # per unit: None (a valid tau) or one of FLAGS
    max_lag_s: float
    dt_s: float
    n_trials: int
    counts: dict = field(default_factory=dict)

    def __post_init__(self):
        self.counts = {f: sum(fl == f for fl in self.flag) for f in FLAGS}
        self.counts["valid"] = sum(fl is None for fl in self.flag)

    @property
    def valid(self) -> np.ndarray:
        return np.array([f is None for f in self.flag])

    def describe(self) -> str:
        """e.g. '212 of 256 units with a timescale; no_correlation 40, beyond_window 4'."""
        rest = ", ".join(f"{k} {v}" for k, v in self.counts.items() if k != "valid" and v)
        return f"{self.counts['valid']} of {len(self.flag)} units with a timescale" + (f"; {rest}" if rest else "")


def intrinsic_timescales(rec, max_lag_s: float = 1.0, min_trials: int = 10) -> Timescales:
    """Murray et al.'s intrinsic timescale of every unit of a Recording (see the module docstring).

    The longest lag is `max_lag_s`, or half the common trial length if shorter; a tau beyond it is
    flagged `beyond_window` (the window cannot support it)."""
    if rec.n_trials < min_trials:
        raise ValueError(f"across-trial autocorrelation needs >= {min_trials} trials, got {rec.n_trials}")
    dt = rec.dt_s
    common = int(rec.trial_lengths.min())
    if common < 6:
        raise ValueError(f"trials of {common} bins are too short for an autocorrelation (needs >= 6)")
    max_lag = max(3, min(int(round(max_lag_s / dt)), common // 2))
    ac, se, no_var = across_trial_autocorrelation(rec.activity, max_lag, n_bins=common)
    taus, flags = np.full(rec.n_units, np.nan), []
    for u in range(rec.n_units):
        if no_var[u]:
            flags.append("no_variance")
            continue
        first = ac[u, 1]
        if not np.isfinite(first) or first < max(0.05, 3 * se[u, 1]):
            flags.append("no_correlation")
            continue
        tau = fit_timescale(ac[u], dt)
        if not np.isfinite(tau):
            flags.append("fit_failed")
        elif tau > max_lag * dt:
            flags.append("beyond_window")
        elif tau < dt:
            flags.append("below_bin")
        else:
            taus[u] = tau
            flags.append(None)
            continue
        taus[u] = np.nan
    return Timescales(taus, flags, max_lag * dt, dt, rec.n_trials)


def unit_timescales(rec, max_lag_s: float = 0.5, first_lag: int = 1) -> np.ndarray:
    """tau (s) per unit from the pooled within-trial autocorrelation (for figures of a recording's
    dynamics; the benchmark uses `intrinsic_timescales`)."""
    dt = rec.dt_s
    max_lag = max(3, int(round(max_lag_s / dt)))
    ac = autocorrelation(rec.activity, max_lag)
    return np.array([fit_timescale(c, dt, first_lag) for c in ac])


def population_timescales(rec, max_lag_s: float = 0.5, first_lag: int = 1) -> dict[str, float]:
    """tau (s) per population, fitted to the population's mean pooled autocorrelation (figures)."""
    dt = rec.dt_s
    max_lag = max(3, int(round(max_lag_s / dt)))
    out = {}
    for pop in rec.populations():
        ac = autocorrelation(rec.activity[:, :, rec.unit_index(pop)], max_lag)
        with warnings.catch_warnings():  # lags longer than every trial are all-NaN columns
            warnings.simplefilter("ignore", RuntimeWarning)
            mean_ac = np.nanmean(ac, axis=0)
        out[pop] = fit_timescale(mean_ac, dt, first_lag)
    return out
