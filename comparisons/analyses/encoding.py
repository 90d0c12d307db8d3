"""Encoding models: predict each unit from regressors (kinematics, another recording's latents,
or both) with cross-validation, and report per-unit held-out R^2 (ridge) or log-likelihood gain
(Poisson GLM), as in the network-vs-kinematics encoding comparisons of Aldarondo et al. 2024
(Nature 632:594).

Folds are contiguous blocks of samples (or whole trials when `groups` is given) so held-out data
are not interleaved with training data in time.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize


def _folds(n: int, k: int, groups: np.ndarray | None):
    if groups is None:
        edges = np.linspace(0, n, k + 1).astype(int)
        for i in range(k):
            test = np.zeros(n, bool)
            test[edges[i]: edges[i + 1]] = True
            yield ~test, test
    else:
        uniq = np.unique(groups)
        for chunk in np.array_split(uniq, k):
            test = np.isin(groups, chunk)
            yield ~test, test


def _standardise(train, test):
    mu, sd = train.mean(0), train.std(0)
    sd[sd == 0] = 1.0
    return (train - mu) / sd, (test - mu) / sd


def ridge_encoding(regressors: np.ndarray, responses: np.ndarray, alphas=(0.1, 1.0, 10.0, 100.0, 1000.0),
                   k: int = 5, groups: np.ndarray | None = None) -> dict:
    """Cross-validated ridge regression; the ridge penalty is chosen per unit by inner validation.

    regressors [samples, features], responses [samples, units]. Returns per-unit held-out R^2
    (pooled over folds) and the chosen penalty.
    """
    x = np.asarray(regressors, dtype=np.float64)
    y = np.asarray(responses, dtype=np.float64)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"regressors have {x.shape[0]} samples, responses {y.shape[0]}")
    pred = np.zeros_like(y)
    for train, test in _folds(len(x), k, groups):
        xtr, xte = _standardise(x[train], x[test])
        ytr_mean = y[train].mean(0)
        ytr = y[train] - ytr_mean
        # choose alpha per unit on an inner split (last 20 % of the training block)
        cut = int(0.8 * len(xtr))
        best = np.full(y.shape[1], alphas[0])
        best_err = np.full(y.shape[1], np.inf)
        for a in alphas:
            w = np.linalg.solve(xtr[:cut].T @ xtr[:cut] + a * np.eye(x.shape[1]), xtr[:cut].T @ ytr[:cut])
            err = ((xtr[cut:] @ w - ytr[cut:]) ** 2).mean(0)
            better = err < best_err
            best[better], best_err[better] = a, err[better]
        for a in np.unique(best):
            units = best == a
            w = np.linalg.solve(xtr.T @ xtr + a * np.eye(x.shape[1]), xtr.T @ ytr[:, units])
            pred[np.ix_(test, units)] = xte @ w + ytr_mean[units]
    ss_res = ((y - pred) ** 2).sum(0)
    ss_tot = ((y - y.mean(0)) ** 2).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = np.where(ss_tot > 0, 1 - ss_res / ss_tot, np.nan)
    return {"r2": r2, "prediction": pred}


def poisson_encoding(regressors: np.ndarray, counts: np.ndarray, l2: float = 1.0, k: int = 5,
                     groups: np.ndarray | None = None) -> dict:
    """Cross-validated Poisson GLM (log link, L2 penalty) per unit.

    Returns per-unit held-out log-likelihood gain over a constant-rate model, in bits per spike.
    """
    x = np.asarray(regressors, dtype=np.float64)
    y = np.asarray(counts, dtype=np.float64)
    ll_model = np.zeros(y.shape[1])
    ll_null = np.zeros(y.shape[1])
    for train, test in _folds(len(x), k, groups):
        xtr, xte = _standardise(x[train], x[test])
        xtr = np.hstack([xtr, np.ones((len(xtr), 1))])
        xte = np.hstack([xte, np.ones((len(xte), 1))])
        for u in range(y.shape[1]):
            yu = y[train, u]

            def nll(w):
                eta = np.clip(xtr @ w, -20, 20)
                mu = np.exp(eta)
                grad = xtr.T @ (mu - yu) + l2 * np.r_[w[:-1], 0.0]
                return (mu - yu * eta).sum() + 0.5 * l2 * (w[:-1] ** 2).sum(), grad

            w0 = np.zeros(x.shape[1] + 1)
            w0[-1] = np.log(max(yu.mean(), 1e-6))
            w = minimize(nll, w0, jac=True, method="L-BFGS-B").x
            eta = np.clip(xte @ w, -20, 20)
            ll_model[u] += (y[test, u] * eta - np.exp(eta)).sum()
            rate0 = max(yu.mean(), 1e-9)
            ll_null[u] += (y[test, u] * np.log(rate0) - rate0).sum()
    spikes = y.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        gain = np.where(spikes > 0, (ll_model - ll_null) / spikes / np.log(2), np.nan)
    return {"bits_per_spike": gain}
