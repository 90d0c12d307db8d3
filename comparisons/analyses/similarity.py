"""Representational comparison: RDMs and RSA, linear CKA, Procrustes and CCA similarity.

- RDM: 1 - Pearson correlation between condition-averaged population patterns (Kriegeskorte et
  al. 2008 Front Syst Neurosci 2:4); RSA: Spearman correlation of two RDMs' upper triangles.
- Linear CKA (Kornblith et al. 2019 ICML): ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F), centred.
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
