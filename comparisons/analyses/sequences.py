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
