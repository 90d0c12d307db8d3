"""Representational comparison: RDMs and RSA, linear CKA, Procrustes and CCA similarity.

- RDM: 1 - Pearson correlation between condition-averaged population patterns (Kriegeskorte et
  al. 2008 Front Syst Neurosci 2:4); RSA: Spearman correlation of two RDMs' upper triangles.
- Linear CKA (Kornblith et al. 2019 ICML): ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F), centred. With few
  samples and many units it is biased upwards (two independent white-noise matrices of 50 bins and 300
  units give ~0.85); `debiased_cka` uses the unbiased HSIC estimator (Song et al. 2012 JMLR 13:1393), whose
  expectation is 0 for independent data, and `cka_null` gives the value expected by chance from surrogates
  of the same shapes and spectra (phase-randomised Y), so a printed value can be read.
- Procrustes similarity (Williams et al. 2021 NeurIPS, shape metrics): with X, Y centred and scaled
  to unit Frobenius norm, max over rotations Q of <X Q, Y> = nuclear norm of X^T Y (1: identical up
  to rotation). Units are zero-padded to a common width.
- CCA similarity: mean canonical correlation over the top `k` components (Raghu et al. 2017 SVCCA
  uses the same mean after an SVD step; `k` sets it), with a small ridge for stability.
All take X [samples, units_x], Y [samples, units_y] with rows matched (same time bins/conditions).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr


def _centre(x):
    x = np.asarray(x, dtype=np.float64)
    return x - x.mean(0)


def rdm(patterns: np.ndarray) -> np.ndarray:
    """Representational dissimilarity matrix, [conditions, conditions], from [conditions, units]."""
    p = np.asarray(patterns, dtype=np.float64)
    return 1.0 - np.corrcoef(p)


def rsa(rdm_a: np.ndarray, rdm_b: np.ndarray) -> float:
    iu = np.triu_indices_from(rdm_a, k=1)
    return float(spearmanr(rdm_a[iu], rdm_b[iu]).statistic)


def linear_cka(x, y) -> float:
    x, y = _centre(x), _centre(y)
    hsic = np.linalg.norm(y.T @ x, "fro") ** 2
    return float(hsic / (np.linalg.norm(x.T @ x, "fro") * np.linalg.norm(y.T @ y, "fro")))


def _unbiased_hsic(k: np.ndarray, l: np.ndarray) -> float:
    """Unbiased HSIC estimator of two Gram matrices [n, n] (Song et al. 2012), n >= 4."""
    n = k.shape[0]
    k, l = k.copy(), l.copy()
    np.fill_diagonal(k, 0.0)
    np.fill_diagonal(l, 0.0)
    kl = k @ l
    return float((np.trace(kl) + k.sum() * l.sum() / ((n - 1) * (n - 2)) - 2 * kl.sum() / (n - 2)) / (n * (n - 3)))


def debiased_cka(x, y) -> float:
    """Linear CKA with the unbiased HSIC estimator: ~0 for independent data, 1 for copies up to rotation and
    scale. x [samples, units_x], y [samples, units_y], samples >= 4."""
    x, y = _centre(x), _centre(y)
    if x.shape[0] < 4:
        raise ValueError(f"debiased CKA needs >= 4 samples, got {x.shape[0]}")
    k, l = x @ x.T, y @ y.T
    denom = np.sqrt(_unbiased_hsic(k, k) * _unbiased_hsic(l, l))
    return float(_unbiased_hsic(k, l) / denom) if denom > 0 else float("nan")


def phase_randomized(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A surrogate of y [samples, units] with the same power spectra and cross-spectra (one random phase per
    frequency for every unit, Prichard & Theiler 1994) but no relation in time to anything else: as smooth
    as y, with y's own covariance between units."""
    y = np.asarray(y, dtype=np.float64)
    n, mean = y.shape[0], y.mean(0)
    z = np.concatenate([y - mean, (y - mean)[::-1]])  # mirrored: no jump where the series wraps round
    f = np.fft.rfft(z, axis=0)
    phases = np.exp(1j * rng.uniform(0, 2 * np.pi, f.shape[0]))
    phases[0] = phases[-1] = 1.0  # the mean and the (even-length) Nyquist term stay real
    start = int(rng.integers(0, n))
    return np.roll(np.fft.irfft(f * phases[:, None], n=2 * n, axis=0), -start, axis=0)[:n] + mean


def cka_null(x, y, measure=None, surrogates: int = 50, seed: int = 0) -> dict:
    """Chance level of a similarity measure for these shapes and spectra: the measure between x and
    phase-randomised surrogates of y (`phase_randomized`), `surrogates` times. Mean and 95th percentile."""
    measure = measure or debiased_cka
    rng = np.random.default_rng(seed)
    values = np.array([measure(x, phase_randomized(y, rng)) for _ in range(surrogates)])
    return {"mean": float(np.nanmean(values)), "p95": float(np.nanpercentile(values, 95)), "surrogates": surrogates}


def procrustes_similarity(x, y) -> float:
    x, y = _centre(x), _centre(y)
    width = max(x.shape[1], y.shape[1])
    x = np.pad(x, ((0, 0), (0, width - x.shape[1])))
    y = np.pad(y, ((0, 0), (0, width - y.shape[1])))
    x /= np.linalg.norm(x)
    y /= np.linalg.norm(y)
    return float(np.linalg.svd(x.T @ y, compute_uv=False).sum())


def canonical_correlations(x, y, k: int | None = None, ridge: float = 1e-6) -> np.ndarray:
    x, y = _centre(x), _centre(y)

    def whiten(z):
        u, s, vt = np.linalg.svd(z, full_matrices=False)
        keep = s > s.max() * 1e-8
        return u[:, keep]

    ux, uy = whiten(x), whiten(y)
    rho = np.linalg.svd(ux.T @ uy, compute_uv=False)
    rho = np.clip(rho, 0.0, 1.0 - ridge)
    return rho[: k or len(rho)]


def cca_similarity(x, y, k: int = 10) -> float:
    return float(np.mean(canonical_correlations(x, y, k)))
