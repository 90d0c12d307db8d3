"""Behavioural statistics: inter-press intervals, success rates, learning curves, locomotion.

Locomotion statistics follow the open-field analyses of Sargolini et al. 2006 trajectories: the
head trajectory is smoothed with a Gaussian of `smoothing_s` (SD), speed is the norm of the
central-difference velocity, the speed autocorrelation time is the first lag where the speed
autocorrelation falls below 1/e, and heading angular velocity is the derivative of the unwrapped
direction of motion (bins where speed exceeds `min_speed_m_s`).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import correlate


def ipi_statistics(ipis_s) -> dict[str, float]:
    """Median, mean, SD and CV of inter-press intervals (NaNs, i.e. single-press trials, dropped)."""
    x = np.asarray(ipis_s, dtype=np.float64)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return {"n": 0}
    return {"n": int(len(x)), "median_s": float(np.median(x)), "mean_s": float(x.mean()),
            "sd_s": float(x.std(ddof=1)) if len(x) > 1 else float("nan"),
            "cv": float(x.std(ddof=1) / x.mean()) if len(x) > 1 else float("nan")}


def ipis_from_events(events: list[list[tuple[str, float]]]) -> np.ndarray:
    """IPIs of completed two-press trials from per-trial event lists (press after trial_start)."""
    out = []
    for trial in events:
        start = None
        for name, t in trial:
            if name == "trial_start":
                start = t
            elif name == "press" and start is not None and t > start:
                out.append(t - start)
                start = None
            elif name == "timeout":
                start = None
    return np.array(out)


def press_rhythm(events: list[list[tuple[str, float]]]) -> dict[str, float]:
    """Whether presses keep a rhythm regardless of the task's trial structure.

    A subject that times an interval from its first press presses twice and then waits out the
    inter-trial interval; one that presses on a metronome keeps its period through the ITI, so its
    presses there (`iti_press`) are many, the interval from a trial's last press to the next press
    equals its IPI, and all consecutive presses, in or out of trials, share one period.
    Returns presses (n), the share of them made during the ITI, the median and CV of the intervals
    between consecutive presses of any phase (s), the median IPI (s), the median interval from a
    trial's end to the next press (s), and their ratio (`post_trial_over_ipi`, 1 for a metronome)."""
    presses, iti, gaps, after = 0, 0, [], []
    for trial in events:
        times = [t for name, t in trial if name in ("press", "iti_press")]
        presses += len(times)
        iti += sum(name == "iti_press" for name, _ in trial)
        gaps += list(np.diff(times))
        for i, (name, t) in enumerate(trial):
            if name == "trial_end":
                nxt = [u for m, u in trial[i + 1:] if m in ("press", "iti_press")]
                if nxt:
                    after.append(nxt[0] - t)
    ipis = ipis_from_events(events)
    gaps = np.asarray(gaps)
    out = {"n": presses, "iti_press_share": iti / presses if presses else float("nan"),
           "interval_median_s": float(np.median(gaps)) if len(gaps) else float("nan"),
           "interval_cv": float(gaps.std() / gaps.mean()) if len(gaps) > 1 else float("nan"),
           "ipi_median_s": float(np.median(ipis)) if len(ipis) else float("nan"),
           "post_trial_median_s": float(np.median(after)) if after else float("nan")}
    out["post_trial_over_ipi"] = out["post_trial_median_s"] / out["ipi_median_s"]
    return out


def success_rate(outcomes) -> dict[str, float]:
    """Fraction of successes with a Wilson 95 % interval."""
    x = np.asarray(outcomes, dtype=bool)
    n = len(x)
    if n == 0:
        return {"n": 0}
    p = x.mean()
    z = 1.96
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return {"n": n, "rate": float(p), "ci_low": float(centre - half), "ci_high": float(centre + half)}


def learning_curve(run_dir: str | Path, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(env steps, wall s, metric) columns from a run's metrics.csv."""
    path = Path(run_dir) / "metrics.csv"
    with open(path) as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{path} has no rows")
    if metric not in rows[0]:
        raise ValueError(f"unknown metric {metric!r}; valid: {', '.join(rows[0])}")
    col = lambda k: np.array([float(r[k]) if r[k] not in ("", None) else np.nan for r in rows])  # noqa: E731
    return col("env_steps"), col("wall_s"), col(metric)


MOVING_M_S = 0.05  # one "moving" threshold for every locomotion statistic (as the fraction moving uses)
MIN_SAMPLES = 10


def locomotion_statistics(t_s: np.ndarray, pos_m: np.ndarray, smoothing_s: float = 0.1,
                          min_speed_m_s: float = MOVING_M_S) -> dict:
    """Speed distribution, speed autocorrelation time and heading angular velocity of a 2-D trajectory.

    t_s [samples] uniformly sampled; pos_m [samples, 2] in metres. Heading statistics use only samples
    faster than `min_speed_m_s` (5 cm/s, the same threshold as the fraction moving): at near-zero speed
    the heading is noise. Beside the SD of the angular velocity (dominated by the fastest turns) comes a
    robust one, the median |omega|. Bad input is refused in one line: non-finite positions or times
    (name how many), fewer than `MIN_SAMPLES` samples.
    """
    t = np.asarray(t_s, dtype=np.float64)
    p = np.asarray(pos_m, dtype=np.float64)[:, :2]
    if len(t) != len(p):
        raise ValueError(f"t_s has {len(t)} samples but pos_m has {len(p)}")
    if len(t) < MIN_SAMPLES:
        raise ValueError(f"a trajectory of {len(t)} samples is too short for locomotion statistics "
                         f"(needs >= {MIN_SAMPLES})")
    bad = int((~np.isfinite(p).all(1) | ~np.isfinite(t)).sum())
    if bad:
        raise ValueError(f"{bad} of {len(t)} trajectory samples are not finite (NaN or inf): interpolate or "
                         "drop them before computing locomotion statistics")
    dt = float(np.median(np.diff(t)))
    if not np.allclose(np.diff(t), dt, rtol=1e-3, atol=1e-9):
        raise ValueError("locomotion statistics need uniformly sampled times")
    sigma = smoothing_s / dt
    ps = gaussian_filter1d(p, sigma, axis=0, mode="nearest") if sigma > 0 else p
    v = np.gradient(ps, dt, axis=0)
    speed = np.linalg.norm(v, axis=1)
    s = speed - speed.mean()
    ac = correlate(s, s, mode="full", method="fft")[len(s) - 1:]  # FFT: hours-long tracks stay fast
    ac = ac / ac[0]
    below = np.nonzero(ac < 1 / np.e)[0]
    tau = float(below[0] * dt) if len(below) else float("nan")
    heading = np.unwrap(np.arctan2(v[:, 1], v[:, 0]))
    omega = np.gradient(heading, dt)
    moving = speed > min_speed_m_s
    return {
        "speed_mean_m_s": float(speed.mean()),
        "speed_median_m_s": float(np.median(speed)),
        "speed_p95_m_s": float(np.percentile(speed, 95)),
        "fraction_above_5cm_s": float(np.mean(speed > 0.05)),
        "speed_autocorr_time_s": tau,
        "heading_omega_sd_deg_s": float(np.degrees(omega[moving].std())) if moving.sum() > 2 else float("nan"),
        "heading_omega_median_abs_deg_s": float(np.degrees(np.median(np.abs(omega[moving])))) if moving.sum() > 2
        else float("nan"),
        "moving_threshold_m_s": float(min_speed_m_s),
        "speed_m_s": speed,
        "smoothing_s": smoothing_s,
    }
