"""Spiking statistics: firing-rate distribution (log-normal fit), ISI coefficient of variation, and
the Fano factor aligned to an event.

Firing rates across neurons are log-normally distributed (Buzsaki & Mizuseki 2014 Nat Rev
Neurosci 15:264); Poisson-like cortical spiking has ISI CV ~ 1 and Fano factor ~ 1-1.5, and the
Fano factor drops at movement onset (Churchland et al. 2010 Nat Neurosci 13:369).
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def mean_rates_hz(rec) -> np.ndarray:
    """Each unit's mean rate over all valid bins (Hz for spiking units)."""
    return np.nanmean(rec.activity.reshape(-1, rec.n_units), axis=0)


def lognormal_fit(rates_hz: np.ndarray) -> dict[str, float]:
    """Log-normal fit of positive rates: median, sigma of log rate, and the KS p-value of the fit."""
    r = np.asarray(rates_hz, dtype=np.float64)
    r = r[np.isfinite(r) & (r > 0)]
    if len(r) < 3:
        raise ValueError(f"a log-normal fit needs >= 3 active units, got {len(r)}")
    mu, sigma = np.log(r).mean(), np.log(r).std(ddof=1)
    ks = stats.kstest(np.log(r), "norm", args=(mu, sigma))
    return {"median_hz": float(np.exp(mu)), "sigma_log": float(sigma), "ks_p": float(ks.pvalue),
            "n_units": int(len(r)), "fraction_silent": float(np.mean(np.asarray(rates_hz) <= 0))}


def isi_cv(spike_times: list[np.ndarray], min_spikes: int = 5) -> np.ndarray:
    """ISI CV per spike train (NaN for trains with fewer than `min_spikes` spikes)."""
    out = []
    for s in spike_times:
        isi = np.diff(np.sort(np.asarray(s)))
        out.append(isi.std() / isi.mean() if len(isi) >= min_spikes - 1 and isi.mean() > 0 else np.nan)
    return np.array(out)


def recording_isi_cv(rec, min_spikes: int = 5) -> np.ndarray:
    """ISI CV per unit, pooling the ISIs within each trial (no ISI spans two trials)."""
    if rec.spike_times is None:
        raise ValueError("ISI CV needs spike times: this recording has rate units only")
    out = []
    for u in range(rec.n_units):
        isis = np.concatenate([np.diff(np.sort(trial[u])) for trial in rec.spike_times])
        out.append(isis.std() / isis.mean() if len(isis) >= min_spikes - 1 and isis.mean() > 0 else np.nan)
    return np.array(out)


def fano_factor(counts: np.ndarray) -> np.ndarray:
    """Fano factor (variance / mean across trials) per unit; counts [trials, units]."""
    c = np.asarray(counts, dtype=np.float64)
    m = c.mean(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(m > 0, c.var(0, ddof=1) / m, np.nan)


def fano_aligned(rec, event: str, window_s: float = 0.1, offsets_s=(-0.4, -0.2, 0.0, 0.2)) -> dict[float, float]:
    """Mean Fano factor of spike counts in windows starting at event + offset, across event occurrences.

    Uses the first occurrence of `event` in each trial that has the whole window inside it.
    """
    if rec.spike_times is None:
        raise ValueError("Fano factor needs spike times: this recording has rate units only")
    times = rec.event_times(event)
    out = {}
    for off in offsets_s:
        counts = []
        for i, t in enumerate(times):
            if len(t) == 0:
                continue
            a = t[0] + off
            if a < 0 or a + window_s > rec.trial_lengths[i] * rec.dt_s:
                continue
            counts.append([np.sum((s > a) & (s <= a + window_s)) for s in rec.spike_times[i]])
        out[off] = float(np.nanmean(fano_factor(np.array(counts)))) if len(counts) >= 3 else float("nan")
    return out


def mean_matched_fano(counts: np.ndarray, n_bins: int = 10, repeats: int = 50, seed: int = 0) -> np.ndarray:
    """Mean-matched Fano factor at each time point (Churchland et al. 2010's method).

    counts [trials, times, units]: spike counts in a window at each time. At each time, every unit has a
    mean and a variance of its count across trials; the distribution of unit means is matched across
    times (for each bin of a histogram of means, every time keeps only as many units as the time with
    the fewest in that bin, chosen at random) so that a change of the Fano factor cannot come from a change
    of rate; the Fano factor is then the slope of variance on mean (regression through the origin, weighted
    by 1 / mean as for Poisson-like counts), averaged over `repeats` random choices. Returns [times]."""
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim != 3 or c.shape[0] < 3:
        raise ValueError(f"counts must be [trials >= 3, times, units], got shape {c.shape}")
    mean = c.mean(0)  # [times, units]
    var = c.var(0, ddof=1)
    active = mean > 0
    if not active.any():
        raise ValueError("no unit fires in any window: no Fano factor")
    edges = np.linspace(0, mean[active].max() * (1 + 1e-9), n_bins + 1)
    which = np.clip(np.digitize(mean, edges) - 1, 0, n_bins - 1)  # [times, units]
    which[~active] = -1
    common = np.array([min(np.sum(which[t] == b) for t in range(c.shape[1])) for b in range(n_bins)])
    if common.sum() < 3:
        raise ValueError("too few units share a rate across time points to mean-match")
    rng = np.random.default_rng(seed)
    out = np.zeros(c.shape[1])
    for _ in range(repeats):
        for t in range(c.shape[1]):
            keep = np.concatenate([rng.choice(np.flatnonzero(which[t] == b), common[b], replace=False)
                                   for b in range(n_bins) if common[b] > 0])
            m, v = mean[t, keep], var[t, keep]
            out[t] += np.sum(v) / np.sum(m)  # weighted (1/mean) regression of v on m through the origin
    return out / repeats


def fano_change_at_onset(rec, event: str, window_s: float = 0.1, before_s: tuple = (-0.3, -0.1),
                         after_s: tuple = (0.0, 0.2), step_s: float = 0.02, seed: int = 0) -> dict:
    """The mean-matched Fano factor around an event (movement or task onset): its mean over `before_s` and
    `after_s` (window start times relative to the event, s) and their ratio after / before. Every
    occurrence of `event` whose whole span lies inside its recorded trial (episode) is one task trial."""
    if rec.spike_times is None:
        raise ValueError("a Fano factor needs spike times: this recording has rate units only")
    starts = np.arange(before_s[0], after_s[1] + 1e-9, step_s)
    counts = []
    for i, times in enumerate(rec.event_times(event)):
        for t0 in times:  # every occurrence is a task trial (an episode may hold many lever trials)
            if t0 + starts[0] < 0 or t0 + starts[-1] + window_s > rec.trial_lengths[i] * rec.dt_s:
                continue
            counts.append([[np.sum((s > t0 + a) & (s <= t0 + a + window_s)) for s in rec.spike_times[i]]
                           for a in starts])
    if len(counts) < 10:
        raise ValueError(f"only {len(counts)} occurrences of {event!r} have the whole window (needs >= 10)")
    ff = mean_matched_fano(np.array(counts), seed=seed)
    before = float(ff[(starts >= before_s[0] - 1e-9) & (starts <= before_s[1] + 1e-9)].mean())
    after = float(ff[(starts >= after_s[0] - 1e-9) & (starts <= after_s[1] + 1e-9)].mean())
    return {"window_starts_s": starts, "fano": ff, "before": before, "after": after,
            "ratio": after / before if before > 0 else float("nan"), "trials": len(counts)}
