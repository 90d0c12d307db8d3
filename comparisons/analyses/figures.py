"""Figures (matplotlib, PNG, headless): raster and PSTH aligned to an event, PCA trajectories,
timescale histograms by population, RDMs, IPI histogram. Each returns the path written."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from comparisons.analyses import dimensionality  # noqa: E402


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def raster_psth(rec, event: str, path, population: str | None = None, window_s=(-0.5, 1.0), max_units: int = 40,
                bin_s: float = 0.02) -> Path:
    """Spike raster (spiking units) or rate heatmap (rate units) and the PSTH, aligned to `event`."""
    sub = rec.select(population) if population else rec
    times = sub.event_times(event)
    a, b = window_s
    fig, (ax0, ax1) = plt.subplots(2, 1, figsize=(6, 5), sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    n_units = min(max_units, sub.n_units)
    if sub.spike_times is not None:
        row, counts = 0, []
        edges = np.arange(a, b + bin_s / 2, bin_s)
        for i, ts in enumerate(times):
            for t0 in ts[:1]:
                for u in range(n_units):
                    s = sub.spike_times[i][u]
                    s = s[(s >= t0 + a) & (s < t0 + b)] - t0
                    ax0.vlines(s, row + u, row + u + 0.8, lw=0.6, color="k")
                    counts.append(np.histogram(s, edges)[0])
                row += n_units + 2
        psth = np.mean(counts, axis=0) / bin_s if counts else np.zeros(len(edges) - 1)
        ax1.plot(edges[:-1] + bin_s / 2, psth)
        ax0.set_ylabel("trial x unit")
        ax1.set_ylabel("rate (Hz)")
    else:
        dt = sub.dt_s
        lags = np.arange(int(round(a / dt)), int(round(b / dt)))
        segs = []
        for i, ts in enumerate(times):
            for t0 in ts[:1]:
                k = int(round(t0 / dt)) + lags
                inside = (k >= 0) & (k < sub.activity.shape[1])
                seg = np.full((len(lags), n_units), np.nan)  # bins outside the trial stay NaN
                seg[inside] = sub.activity[i, k[inside], :n_units]
                segs.append(seg)
        valid = np.isfinite(np.array(segs)).all(axis=2).any(axis=0) if segs else np.zeros(0, bool)
        if valid.any():
            with np.errstate(all="ignore"):
                import warnings

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    mean = np.nanmean(segs, axis=0)  # [lags, units], NaN where no trial covers a lag
            order = np.argsort(np.nanargmax(np.where(np.isfinite(mean), mean, -np.inf), axis=0))
            ax0.imshow(mean[:, order].T, aspect="auto", extent=(a, b, n_units, 0), cmap="viridis")
            ax1.plot(lags * dt, np.nanmean(mean, axis=1))
        ax0.set_ylabel("unit (sorted by peak)")
        ax1.set_ylabel("mean activity")
    ax1.axvline(0, c="r", lw=0.8)
    ax0.axvline(0, c="r", lw=0.8)
    ax1.set_xlabel(f"time from {event} (s)")
    ax0.set_title(f"{population or 'all units'} aligned to {event} ({sum(len(t) > 0 for t in times)} trials)")
    return _save(fig, path)


def pca_trajectories(rec, path, n_trials: int = 5) -> Path:
    comps, _ = dimensionality.pca(rec, 2)
    traj = dimensionality.project_trials(rec, comps)
    ve = dimensionality.variance_explained(rec)
    fig, ax = plt.subplots(figsize=(4.5, 4))
    for i in range(min(n_trials, rec.n_trials)):
        ax.plot(traj[i, :, 0], traj[i, :, 1], lw=0.8)
    ax.set_xlabel(f"PC1 ({ve[0]:.0%})")
    ax.set_ylabel(f"PC2 ({ve[1] - ve[0]:.0%})")
    ax.set_title(f"PCA, participation ratio {dimensionality.participation_ratio(rec):.1f}")
    return _save(fig, path)


def timescale_histograms(taus_by_population: dict[str, np.ndarray], path) -> Path:
    fig, ax = plt.subplots(figsize=(5, 3.2))
    bins = np.logspace(-2.3, 0.7, 30)
    for pop, taus in taus_by_population.items():
        t = np.asarray(taus)
        t = t[np.isfinite(t)]
        if len(t):
            ax.hist(t, bins=bins, histtype="step", lw=1.5, label=f"{pop} (median {np.median(t) * 1000:.0f} ms)")
    ax.axvspan(0.05, 0.35, color="gray", alpha=0.15, label="cortex, Murray et al. 2014")
    ax.set_xscale("log")
    ax.set_xlabel("intrinsic timescale (s)")
    ax.set_ylabel("units")
    ax.legend(fontsize=7)
    return _save(fig, path)


def rdm_figure(rdms: dict[str, np.ndarray], path, labels=None) -> Path:
    fig, axes = plt.subplots(1, len(rdms), figsize=(3.2 * len(rdms), 3), squeeze=False)
    for ax, (name, m) in zip(axes[0], rdms.items()):
        im = ax.imshow(m, cmap="magma", vmin=0)
        ax.set_title(name)
        if labels is not None:
            ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=6)
            ax.set_yticks(range(len(labels)), labels, fontsize=6)
        fig.colorbar(im, ax=ax, fraction=0.046)
    return _save(fig, path)


def ipi_histogram(ipis_s, path, target_s: float = 0.7, window_s: float = 0.1, rodent=None) -> Path:
    """IPI histogram with the reward window; `rodent` = (low, high) IPI range to shade, if given."""
    fig, ax = plt.subplots(figsize=(5, 3.2))
    x = np.asarray(ipis_s)
    x = x[np.isfinite(x)]
    ax.hist(x, bins=np.arange(0, 1.6, 0.05), color="C0", alpha=0.8, label=f"model (n={len(x)})")
    ax.axvspan(target_s - window_s, target_s + window_s, color="g", alpha=0.15, label="reward window")
    if rodent is not None:
        ax.axvspan(*rodent, color="orange", alpha=0.15, label="rodent range")
    ax.axvline(target_s, c="g", lw=1)
    ax.set_xlabel("inter-press interval (s)")
    ax.set_ylabel("trials")
    ax.legend(fontsize=7)
    return _save(fig, path)
