"""Run every applicable analysis on one Recording and write its figures.

`analyse_recording(rec, out_dir)` returns a JSON-ready dict of results: participation ratio and
variance explained, intrinsic timescales per population, cross-validated sequence index, firing
rates (log-normal fit), ISI CV and Fano factor (spiking units), encoding of units from kinematics
(ridge R^2), and the task's behaviour (IPIs or success); and writes the figures beside it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from comparisons.analyses import behaviour, dimensionality, encoding, figures, sequences, spiking, timescales

ALIGN_EVENTS = ("trial_start", "reach_onset", "food_collected", "press")


def _finite(x) -> list:
    return [float(v) if np.isfinite(v) else None for v in np.asarray(x, dtype=float)]


def analyse_recording(rec, out_dir: str | Path) -> dict:
    out_dir = Path(out_dir)
    out: dict = {"trials": rec.n_trials, "units": rec.n_units, "sampling_rate_hz": rec.sampling_rate_hz}
    try:
        out["participation_ratio"] = dimensionality.participation_ratio(rec)
        out["variance_explained_10"] = _finite(dimensionality.variance_explained(rec)[:10])
    except ValueError as exc:  # e.g. a fully silenced circuit: no dimensionality, said so
        out["participation_ratio"], out["participation_ratio_error"] = None, str(exc)
    if rec.n_trials >= 10:
        ts = timescales.intrinsic_timescales(rec)
        out["intrinsic_timescale_s"] = {"median": float(np.nanmedian(ts.tau_s)) if ts.counts["valid"] else None,
                                        "units": ts.counts, "window_s": ts.max_lag_s, "method": "across-trial "
                                        "autocorrelation at fixed task times (Murray et al. 2014)"}
    taus = {}
    for pop in rec.populations():
        sub = rec.select(pop)
        taus[pop] = timescales.unit_timescales(sub, max_lag_s=0.5)
    out["timescales_s"] = {p: {"median": float(np.nanmedian(t)) if np.isfinite(t).any() else None,
                               "population": timescales.population_timescales(rec.select(p)).get(p)}
                           for p, t in taus.items()}
    lengths = rec.trial_lengths
    if rec.n_trials >= 4:
        common = int(lengths.min())
        out["sequence"] = sequences.sequence_index(rec.activity[:, :common], rec.dt_s)
    rates = spiking.mean_rates_hz(rec)
    if rec.spike_times is not None:
        try:
            out["rates_lognormal"] = spiking.lognormal_fit(rates)
        except ValueError as exc:
            out["rates_lognormal"] = {"error": str(exc)}
        out["isi_cv_median"] = float(np.nanmedian(spiking.recording_isi_cv(rec)))
    if rec.kinematics:
        kin = np.concatenate([k.reshape(k.shape[0], k.shape[1], -1) for k in rec.kinematics.values()], axis=2)
        x = kin.reshape(-1, kin.shape[2])
        y = rec.activity.reshape(-1, rec.n_units)
        ok = ~(np.isnan(x).any(1) | np.isnan(y).any(1))
        groups = np.repeat(np.arange(rec.n_trials), rec.activity.shape[1])[ok]
        if len(np.unique(groups)) >= 2 and ok.sum() > 20:
            r2 = encoding.ridge_encoding(x[ok], y[ok], k=min(5, len(np.unique(groups))), groups=groups)["r2"]
            out["kinematic_encoding_r2_median"] = float(np.nanmedian(r2))
    ipis = behaviour.ipis_from_events(rec.events)
    if len(ipis):
        out["ipi"] = behaviour.ipi_statistics(ipis)
        figures.ipi_histogram(ipis, out_dir / "ipi_histogram.png")
    if "reach_onset" in {n for trial in rec.events for n, _ in trial}:
        out["reach_success"] = behaviour.success_rate([any(n == "success" for n, _ in t) for t in rec.events])

    figures.pca_trajectories(rec, out_dir / "pca_trajectories.png")
    figures.timescale_histograms(taus, out_dir / "timescales.png")
    names = {n for trial in rec.events for n, _ in trial}
    event = next((e for e in ALIGN_EVENTS if e in names), "episode_start")
    span = float(np.median(lengths)) * rec.dt_s  # a window that fits the typical trial
    window = (-min(0.5, 0.25 * span), min(1.0, 0.9 * span))
    for pop in rec.populations()[:3]:
        figures.raster_psth(rec, event, out_dir / f"raster_{pop}_{event}.png", population=pop, window_s=window)
    return out
