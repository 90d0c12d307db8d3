"""Gait from foot contacts, the way a locomotion lab scores a treadmill or walkway video.

A step cycle of one limb runs from one touch-down to the next; the duty factor is the fraction of
that cycle the foot is on the ground (Gorska et al. 1999 report both against speed); interlimb
phase is when a limb touches down within the reference limb's cycle (0.5 for the two sides of a
trot, ~0 for a diagonal pair), which tells walk, trot and gallop apart.
"""

from __future__ import annotations

import numpy as np

LIMBS = ("LF", "RF", "LH", "RH")
# A break in contact shorter than this is not a swing (a rat's swing lasts ~100-200 ms, Gillis & Biewener 2001): contact
# flicker, or a foot that bounces off the floor and lands again in the same stance (counted as `*_touchdowns_per_cycle`).
MIN_SWING_S = 0.06
BOUNCE_AIR_S = 0.01  # a break in contact at least this long, ending in a touch-down, is a touch-down (a bounce if not a swing)


def touchdowns(down: np.ndarray, t_s: np.ndarray, min_swing_s: float = MIN_SWING_S) -> np.ndarray:
    """Touch-down times (s) of one foot: contact onsets after at least `min_swing_s` in the air
    (shorter breaks are contact flicker, not swings). down: bool [T]; t_s: [T], evenly spaced."""
    down = np.asarray(down, bool)
    t_s = np.asarray(t_s, float)
    dt = float(np.median(np.diff(t_s))) if len(t_s) > 1 else 0.0
    min_air = max(1, int(np.ceil(min_swing_s / dt - 1e-6))) if dt > 0 else 1  # samples in the air
    onsets = []
    air = 0
    for i, d in enumerate(down):
        if d:
            if air >= min_air and i > 0:
                onsets.append(t_s[i])
            air = 0
        else:
            air += 1
    return np.array(onsets)


def gait_statistics(foot_down: np.ndarray, t_s: np.ndarray, min_swing_s: float = MIN_SWING_S) -> dict:
    """Step cycle (s), stride frequency (Hz), duty factor and interlimb phases from foot contacts.

    foot_down: bool [T, 4] (LF, RF, LH, RH); t_s: [T] sample times, evenly spaced.
    Every complete cycle of every limb counts; medians are over all cycles, and separately over the
    forelimbs' and the hindlimbs' cycles (``fore_step_cycle_s``, ``hind_duty_factor``, ``hind_swing_s``: time in
    the air per cycle, ``hind_contact_fraction``: the fraction of all the time the feet are down,
    ``hind_touchdowns_per_cycle``: 1 when each foot lands once a cycle, more when it bounces off the floor in stance
    and lands again, ...). A break in contact shorter than `min_swing_s` is not a swing: it stays inside the cycle
    (as time in the air). Interlimb phase of limb j: (its touch-down - the preceding LH touch-down) / that LH
    cycle, circular mean over LH cycles.
    Returns NaNs (and n_cycles 0) when no limb completed two cycles.
    """
    foot_down = np.asarray(foot_down, bool)
    t_s = np.asarray(t_s, float)
    if foot_down.ndim != 2 or foot_down.shape[1] != 4 or len(t_s) != len(foot_down):
        raise ValueError(f"foot_down must be [T, 4] matching t_s [T]; got {foot_down.shape} and {t_s.shape}")
    dt = float(np.median(np.diff(t_s))) if len(t_s) > 1 else 0.0
    cycles, duties, swings, limb_of, landings = [], [], [], [], []
    onsets = [touchdowns(foot_down[:, j], t_s, min_swing_s) for j in range(4)]
    for j in range(4):
        every = touchdowns(foot_down[:, j], t_s, min(BOUNCE_AIR_S, min_swing_s))  # bounces too
        for a, b in zip(onsets[j][:-1], onsets[j][1:]):
            inside = (t_s >= a) & (t_s < b)
            landings.append(int(((every >= a) & (every < b)).sum()))
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
        # The fraction of all the time the pair's feet are down: the duty factor averaged over strides, which a
        # stance split in two by a bounce (two touch-downs, two short "cycles") does not bias.
        pairs[f"{pair}_touchdowns_per_cycle"] = float(np.mean(np.array(landings)[sel])) if sel.any() else float("nan")
        pairs[f"{pair}_contact_fraction"] = float(foot_down[:, list(members)].mean()) if len(foot_down) else float("nan")
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


def walk_run_speed_m_s(speeds_m_s, duty_factors, threshold: float = 0.5) -> float:
    """The speed at which a duty factor first falls below `threshold` (0.5: a walking gait becomes a running one,
    Hildebrand's definition; Gorska et al. 1999's walking trot becomes a running trot), interpolated linearly between
    the two measured speeds around the crossing. NaN when it never falls below (or starts below) the threshold.

    speeds_m_s, duty_factors: [N], the duty factor measured at each speed (ascending speeds; NaN entries skipped).
    """
    v = np.asarray(speeds_m_s, float)
    d = np.asarray(duty_factors, float)
    if v.shape != d.shape or v.ndim != 1:
        raise ValueError(f"speeds_m_s and duty_factors must be 1-d and the same length; got {v.shape} and {d.shape}")
    if np.any(np.diff(v) <= 0):
        raise ValueError("speeds_m_s must be strictly ascending")
    keep = np.isfinite(d)
    v, d = v[keep], d[keep]
    for i in range(1, len(v)):
        if d[i - 1] >= threshold > d[i]:
            return float(v[i - 1] + (d[i - 1] - threshold) / (d[i - 1] - d[i]) * (v[i] - v[i - 1]))
    return float("nan")
