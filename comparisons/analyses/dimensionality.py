"""Population dimensionality: PCA and the participation ratio.

Participation ratio PR = (sum_i lambda_i)^2 / sum_i lambda_i^2 over the covariance eigenvalues
(Gao & Ganguli 2015 Curr Opin Neurobiol; Recanatesi et al. 2022): 1 for one dominant dimension,
N for N equal ones.
"""

from __future__ import annotations

import numpy as np


def _samples(x) -> np.ndarray:
    """[samples, units] from a Recording or an array ([samples, units] or [trials, time, units]).

    Units with no finite sample at all (a dead channel) are dropped, then time bins where any remaining
    unit is NaN (after a trial's end); fewer than 2 bins left is a one-line ValueError, never a 0."""
    x = x.activity if hasattr(x, "activity") else np.asarray(x, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    x = x.reshape(-1, x.shape[-1])
    dead = ~np.isfinite(x).any(axis=0)
    x = x[:, ~dead]
    x = x[np.isfinite(x).all(axis=1)]
    if len(x) < 2 or x.shape[1] == 0:
        raise ValueError(f"no usable samples: {int(dead.sum())} units have no finite value and {len(x)} time bins "
                         "have every other unit finite")
    return x


def covariance_spectrum(x) -> np.ndarray:
    """Eigenvalues of the units' covariance, descending."""
    x = _samples(x)
    x = x - x.mean(0)
    ev = np.linalg.eigvalsh(x.T @ x / max(len(x) - 1, 1))[::-1]
    return np.clip(ev, 0.0, None)


def participation_ratio(x) -> float:
    """PR of the covariance spectrum; a population with no variance has no dimensionality (ValueError)."""
    ev = covariance_spectrum(x)
    if ev.sum() <= 0:
        raise ValueError("the population has no variance: its participation ratio is undefined")
    return float(ev.sum() ** 2 / (ev ** 2).sum())


def variance_explained(x) -> np.ndarray:
    """Cumulative fraction of variance explained by the first k principal components, k = 1..units."""
    ev = covariance_spectrum(x)
    return np.cumsum(ev) / ev.sum() if ev.sum() > 0 else np.zeros_like(ev)


def pca(x, n_components: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """(components [n, units], projection function's output for `x` [samples, n]) of centred data."""
    x = _samples(x)
    mean = x.mean(0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    comps = vt[:n_components]
    return comps, (x - mean) @ comps.T


def project_trials(rec, components: np.ndarray) -> np.ndarray:
    """Each trial's trajectory in PC space, [trials, time, n] (NaN after a trial ends)."""
    mean = rec.concatenated().mean(0)
    return (rec.activity - mean) @ components.T
