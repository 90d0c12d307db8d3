"""Intrinsic timescales from the autocorrelation of binned activity (Murray et al. 2014 Nat Neurosci 17:1661).

Per unit: the autocorrelation of binned activity at lags 1..max_lag bins — the Pearson correlation
between bins t and t + lag, pooled over trials and time points (Murray et al. correlate across
trials at fixed task times; pooling also over time suits the model's stationary sessions) — fitted
with A exp(-lag dt / tau) + B by least squares from the first lag on. Population timescale: the same fit to the
mean autocorrelation of the population's units.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import curve_fit


def autocorrelation(activity: np.ndarray, max_lag: int) -> np.ndarray:
    """Autocorrelation at lags 0..max_lag for each unit, [units, max_lag + 1].

    activity: [trials, time, units] (NaN-padded). For each lag, the correlation across all pairs of
    valid bins (t, t + lag) pooled over trials (mean and SD taken per lag over those pairs).
    """
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


def _exp_decay(lag_s, a, tau, b):
    return a * np.exp(-lag_s / tau) + b


def fit_timescale(ac: np.ndarray, dt_s: float, first_lag: int = 1) -> float:
    """Fitted tau (s) of one autocorrelation curve; NaN if the fit fails or the curve is flat."""
    lags = np.arange(len(ac)) * dt_s
    ok = np.isfinite(ac)
    ok[:first_lag] = False
    if ok.sum() < 3 or np.nanmax(np.abs(ac[ok])) < 1e-6:
        return float("nan")
    try:
        (a, tau, b), _ = curve_fit(_exp_decay, lags[ok], ac[ok], p0=(ac[ok][0], 5 * dt_s, 0.0),
                                   bounds=([0.0, dt_s / 10, -1.0], [2.0, 1000 * dt_s, 1.0]), maxfev=5000)
    except (RuntimeError, ValueError):
        return float("nan")
    return float(tau)


def unit_timescales(rec, max_lag_s: float = 0.5, first_lag: int = 1) -> np.ndarray:
    """tau (s) per unit of a Recording."""
    dt = rec.dt_s
    max_lag = max(3, int(round(max_lag_s / dt)))
    ac = autocorrelation(rec.activity, max_lag)
    return np.array([fit_timescale(c, dt, first_lag) for c in ac])


def population_timescales(rec, max_lag_s: float = 0.5, first_lag: int = 1) -> dict[str, float]:
    """tau (s) per population, fitted to the population's mean unit autocorrelation."""
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
