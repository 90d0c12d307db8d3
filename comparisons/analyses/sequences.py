"""Neural sequences: peak-time ordering and a cross-validated sequence index.

Units are ordered by the time of their trial-averaged peak on one half of the trials; on the other
half, the sequence index is the Spearman correlation between those training peak times and the
held-out peak times (1: the same sequence recurs; ~0: no reliable sequence), averaged over random
splits. Chance is estimated by shuffling each unit's held-out activity in time within trials.
(Cross-validated ordering as in Harvey, Coen & Tank 2012 Nature 484:62 and Rajan et al. 2016.)
"""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr


def peak_times(activity: np.ndarray, dt_s: float) -> np.ndarray:
    """Time (s) of each unit's trial-averaged peak; activity [trials, time, units]."""
    mean = np.nanmean(activity, axis=0)  # [time, units]
    return np.nanargmax(mean, axis=0) * dt_s


def sequence_order(activity: np.ndarray) -> np.ndarray:
    """Unit indices sorted by peak time of the trial average."""
    return np.argsort(np.nanargmax(np.nanmean(activity, axis=0), axis=0), kind="stable")


def sequence_index(activity: np.ndarray, dt_s: float = 1.0, n_splits: int = 20, seed: int = 0) -> dict[str, float]:
    """Cross-validated sequence index and its shuffle baseline (mean and 95th percentile)."""
    x = np.asarray(activity, dtype=np.float64)
    n = x.shape[0]
    if n < 4:
        raise ValueError(f"a cross-validated sequence index needs >= 4 trials, got {n}")
    rng = np.random.default_rng(seed)
    scores, chance = [], []
    for _ in range(n_splits):
        perm = rng.permutation(n)
        train, test = x[perm[: n // 2]], x[perm[n // 2:]]
        t_train = peak_times(train, dt_s)
        scores.append(spearmanr(t_train, peak_times(test, dt_s)).statistic)
        shuffled = test.copy()
        for trial in shuffled:
            for u in range(trial.shape[1]):
                trial[:, u] = np.roll(trial[:, u], rng.integers(trial.shape[0]))
        chance.append(spearmanr(t_train, peak_times(shuffled, dt_s)).statistic)
    chance = np.nan_to_num(np.array(chance))
    return {"sequence_index": float(np.nanmean(scores)), "chance_mean": float(chance.mean()),
            "chance_95": float(np.percentile(chance, 95))}


def elapsed_time_decoding(rec, event: str, span_s: float = 1.0, population: str | None = None, k: int = 5) -> dict:
    """How well a population holds the time elapsed since `event` (e.g. a first lever press): elapsed time
    in [0, span_s) decoded from the activity at each control step by cross-validated ridge regression,
    folds by occurrence (no occurrence trains and tests). Every occurrence of the event whose whole span
    lies inside its recorded trial counts. Returns the held-out R^2 (1: time read out exactly; <= 0: no
    better than the mean), the median absolute error (s) overall and per 100 ms of elapsed time, and the
    number of occurrences. A population that carries no clock of its own, and whose inputs do not change
    with elapsed time, decodes at R^2 ~ 0."""
    from comparisons.analyses.encoding import ridge_encoding

    steps = int(round(span_s / rec.dt_s))
    idx = rec.unit_index(population) if population else np.arange(rec.n_units)
    x, y, groups = [], [], []
    for i, times in enumerate(rec.event_times(event)):
        for t0 in times:
            first = int(round(t0 / rec.dt_s))
            if first + steps > rec.trial_lengths[i]:
                continue
            x.append(rec.activity[i, first:first + steps][:, idx])
            y.append(np.arange(steps) * rec.dt_s)
            groups.append(np.full(steps, len(groups)))
    if len(x) < k:
        raise ValueError(f"only {len(x)} occurrences of {event!r} with {span_s:g} s of recording after them "
                         f"(needs >= {k})")
    x, y, groups = np.concatenate(x), np.concatenate(y), np.concatenate(groups)
    keep = np.isfinite(x).all(1)
    x, y, groups = x[keep], y[keep], groups[keep]
    x = x[:, x.std(0) > 0] if (x.std(0) > 0).any() else x
    fit = ridge_encoding(x, y[:, None], k=k, groups=groups)
    err = np.abs(fit["prediction"][:, 0] - y)
    bins = np.floor(y / 0.1 + 1e-9).astype(int)
    return {"r2": float(fit["r2"][0]), "occurrences": int(groups.max() + 1), "span_s": span_s,
            "median_abs_error_s": float(np.median(err)),
            "median_abs_error_by_100ms_s": [float(np.median(err[bins == b])) for b in range(int(bins.max()) + 1)]}
