"""Real rat trajectories and the open-field statistics computed from them.

The `ratinabox` package ships real rat trajectories (times in s, positions in m, key ``t`` and
``pos`` in an ``.npz``): ``sargolini2006`` (Sargolini et al. 2006 Science 312:758; 600 s at 50 Hz
in a 1 x 1 m box) and ``tanni2022`` (Tanni et al. 2022 Curr Biol 32:3505; 7,323 s in a
2.5 x 3.5 m environment). `load_trajectory` takes one of those names or the path of any file of
the same form, so users can add their own animals. Nothing is downloaded: the files are read from
the installed package.

`open_field_statistics(source, smoothing_s=0.1)` runs the same analysis used on the virtual rat
(`comparisons.analyses.behaviour.locomotion_statistics`: Gaussian smoothing of the positions with
SD `smoothing_s`, central-difference speed, 1/e speed autocorrelation time, heading angular
velocity while moving) and adds the spread of the per-minute median speed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from comparisons.analyses.behaviour import locomotion_statistics

DATASETS = {"sargolini2006": "sargolini.npz", "tanni2022": "tanni.npz"}


def dataset_path(name: str) -> Path:
    """Path of a trajectory shipped in the installed `ratinabox` package (without importing it)."""
    if name not in DATASETS:
        raise ValueError(f"unknown trajectory data set {name!r}; valid: {', '.join(DATASETS)} or a path to an .npz")
    spec = importlib.util.find_spec("ratinabox")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the ratinabox package (which ships the real rat trajectories) is not installed")
    return Path(spec.submodule_search_locations[0]) / "data" / DATASETS[name]


def load_trajectory(source: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(t_s [samples], pos_m [samples, 2]) from a data set name or an .npz with keys ``t`` and ``pos``.

    Samples with non-finite positions are dropped; times must increase.
    """
    path = dataset_path(str(source)) if str(source) in DATASETS else Path(source)
    if not path.is_file():
        raise ValueError(f"unknown trajectory data set {str(source)!r}; valid: {', '.join(DATASETS)} or the path of an "
                         ".npz with keys 't' (s) and 'pos' (m)")
    with np.load(path) as z:
        missing = [k for k in ("t", "pos") if k not in z.files]
        if missing:
            raise ValueError(f"{path}: a trajectory file needs keys 't' (s) and 'pos' (m); missing "
                             f"{', '.join(missing)} (has {', '.join(z.files)})")
        t = np.asarray(z["t"], dtype=np.float64)
        pos = np.asarray(z["pos"], dtype=np.float64)
    if pos.ndim != 2 or pos.shape[0] != t.shape[0] or pos.shape[1] < 2:
        raise ValueError(f"{path}: pos must be [samples, 2 or 3] matching t [{t.shape[0]}], got {pos.shape}")
    ok = np.isfinite(pos[:, :2]).all(1) & np.isfinite(t)
    t, pos = t[ok], pos[ok, :2]
    if np.any(np.diff(t) <= 0):
        raise ValueError(f"{path}: times must increase")
    return t, pos


def resample_uniform(t_s: np.ndarray, pos_m: np.ndarray, dt_s: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation onto a uniform grid (the median sample interval unless `dt_s` is given)."""
    dt = float(np.median(np.diff(t_s))) if dt_s is None else dt_s
    grid = np.arange(t_s[0], t_s[-1] + dt / 2, dt)
    return grid, np.stack([np.interp(grid, t_s, pos_m[:, i]) for i in range(pos_m.shape[1])], axis=1)


def open_field_statistics(source: str | Path = "sargolini2006", smoothing_s: float = 0.1,
                          segment_s: float = 60.0) -> dict:
    """Locomotion statistics of a real (or any) trajectory; see the module docstring.

    Adds ``median_speed_by_segment_m_s`` (the median speed of each `segment_s` stretch) and its
    5th-95th percentile range ``speed_median_range_m_s``: the spread a model is compared against.
    """
    t, pos = load_trajectory(source)
    t, pos = resample_uniform(t, pos)
    stats = locomotion_statistics(t, pos, smoothing_s=smoothing_s)
    return {**stats, **segment_spread(stats["speed_m_s"], float(t[1] - t[0]), segment_s),
            "source": str(source), "duration_s": float(t[-1] - t[0]), "sample_dt_s": float(t[1] - t[0])}


def segment_spread(speed_m_s: np.ndarray, dt_s: float, segment_s: float = 60.0) -> dict:
    n = max(1, int(round(segment_s / dt_s)))
    segments = [speed_m_s[i: i + n] for i in range(0, len(speed_m_s) - n + 1, n)] or [speed_m_s]
    medians = np.array([np.median(s) for s in segments])
    return {"median_speed_by_segment_m_s": medians,
            "speed_median_range_m_s": (float(np.percentile(medians, 5)), float(np.percentile(medians, 95)))}
