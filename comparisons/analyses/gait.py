"""Gait from foot contacts, the way a locomotion lab scores a treadmill or walkway video.

A step cycle of one limb runs from one touch-down to the next; the duty factor is the fraction of
that cycle the foot is on the ground (Gorska et al. 1999 report both against speed); interlimb
phase is when a limb touches down within the reference limb's cycle (0.5 for the two sides of a
trot, ~0 for a diagonal pair), which tells walk, trot and gallop apart.
"""

from __future__ import annotations

import numpy as np

LIMBS = ("LF", "RF", "LH", "RH")


def touchdowns(down: np.ndarray, t_s: np.ndarray, min_swing_samples: int = 2) -> np.ndarray:
    """Touch-down times (s) of one foot: contact onsets after at least `min_swing_samples` samples
    in the air (shorter breaks are contact flicker, not swings). down: bool [T]; t_s: [T]."""
    down = np.asarray(down, bool)
    onsets = []
    air = 0
    for i, d in enumerate(down):
        if d:
            if air >= min_swing_samples and i > 0:
                onsets.append(t_s[i])
            air = 0
        else:
            air += 1
    return np.array(onsets)


def gait_statistics(foot_down: np.ndarray, t_s: np.ndarray, min_swing_samples: int = 2) -> dict:
    """Step cycle (s), stride frequency (Hz), duty factor and interlimb phases from foot contacts.

    foot_down: bool [T, 4] (LF, RF, LH, RH); t_s: [T] sample times, evenly spaced.
    Every complete cycle of every limb counts; medians are over all cycles, and separately over the
    forelimbs' and the hindlimbs' cycles (``fore_step_cycle_s``, ``hind_duty_factor``, ``hind_swing_s``: time in
    the air per cycle, ...). Interlimb phase of limb
    j: (its touch-down - the preceding LH touch-down) / that LH cycle, circular mean over LH cycles.
    Returns NaNs (and n_cycles 0) when no limb completed two cycles.
    """
    foot_down = np.asarray(foot_down, bool)
    t_s = np.asarray(t_s, float)
    if foot_down.ndim != 2 or foot_down.shape[1] != 4 or len(t_s) != len(foot_down):
        raise ValueError(f"foot_down must be [T, 4] matching t_s [T]; got {foot_down.shape} and {t_s.shape}")
    dt = float(np.median(np.diff(t_s))) if len(t_s) > 1 else 0.0
    cycles, duties, swings, limb_of = [], [], [], []
    onsets = [touchdowns(foot_down[:, j], t_s, min_swing_samples) for j in range(4)]
    for j in range(4):
        for a, b in zip(onsets[j][:-1], onsets[j][1:]):
            inside = (t_s >= a) & (t_s < b)
            cycles.append(b - a)
            duties.append(float(foot_down[inside, j].sum()) * dt / (b - a))
            swings.append((b - a) * (1.0 - duties[-1]))
            limb_of.append(j)
    limb_of = np.array(limb_of, int)
    pairs = {}
    for pair, members in (("fore", (0, 1)), ("hind", (2, 3))):
        sel = np.isin(limb_of, members)
        pairs[f"{pair}_step_cycle_s"] = float(np.median(np.array(cycles)[sel])) if sel.any() else float("nan")
        pairs[f"{pair}_duty_factor"] = float(np.median(np.array(duties)[sel])) if sel.any() else float("nan")
        pairs[f"{pair}_swing_s"] = float(np.median(np.array(swings)[sel])) if sel.any() else float("nan")
    phases = {}
    ref = onsets[LIMBS.index("LH")]
    for j, limb in enumerate(LIMBS):
        values = []
        for a, b in zip(ref[:-1], ref[1:]):
            inside = onsets[j][(onsets[j] >= a) & (onsets[j] < b)]
            if len(inside):
                values.append((inside[0] - a) / (b - a))
        phases[limb] = _circular_mean(values)
    if not cycles:
        return {"n_cycles": 0, "step_cycle_s": float("nan"), "stride_frequency_hz": float("nan"),
                "duty_factor": float("nan"), "interlimb_phase": phases, **pairs}
    step_cycle = float(np.median(cycles))
    return {"n_cycles": len(cycles), "step_cycle_s": step_cycle, "stride_frequency_hz": 1.0 / step_cycle,
            "duty_factor": float(np.median(duties)), "interlimb_phase": phases, **pairs}


def _circular_mean(values) -> float:
    """Circular mean of phases in cycles, in [0, 1) (NaN when empty)."""
    if not len(values):
        return float("nan")
    angle = np.angle(np.mean(np.exp(2j * np.pi * np.asarray(values))))
    return float((angle / (2 * np.pi)) % 1.0)


def gait_name(interlimb_phase: dict) -> str:
    """Classify a measured phase pattern: 'trot' (diagonals together, sides half a cycle apart),
    'walk' (four limbs about a quarter apart), 'gallop' / 'bound' (hind pair near together, fore pair
    later) or 'other'."""
    p = {k: v for k, v in interlimb_phase.items()}
    if any(np.isnan(v) for v in p.values()):
        return "other"

    def dist(a, b):
        d = abs(a - b) % 1.0
        return min(d, 1.0 - d)

    if dist(p["RF"], p["LH"]) < 0.12 and dist(p["LF"], p["RH"]) < 0.12 and dist(p["LH"], p["RH"]) > 0.38:
        return "trot"
    if dist(p["LH"], p["RH"]) < 0.2 and dist(p["LF"], p["RF"]) < 0.2 and dist(p["LH"], p["LF"]) > 0.3:
        return "gallop"
    if dist(p["LH"], p["RH"]) > 0.38 and 0.15 < dist(p["LH"], p["LF"]) < 0.35:
        return "walk"
    return "other"

