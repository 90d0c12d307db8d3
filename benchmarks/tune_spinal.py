"""Tune the spinal layer's pattern and reflex gains once, by a (1 + lambda) evolution strategy.

    python -m benchmarks.tune_spinal --stage posture --minutes 3 --start untuned --out posture.json
    python -m benchmarks.tune_spinal --stage gait --minutes 30 --start posture.json   # -> body/spinal/params/command.json
    python -m benchmarks.tune_spinal --stage rear --minutes 10 --start gait.json --out rear.json  # the rearing posture
    python -m benchmarks.tune_spinal --stage gallop --minutes 30 --start rear.json --out gallop.json  # the gallop's own terms
    python -m benchmarks.tune_spinal --stage run --minutes 60 --fresh-starts --out run.json  # new seeded starts every generation

With `--fresh-starts` every generation walks from new seeded starts and the parent is scored again beside its
offspring, which replace it only by beating it from the same starts (`es_generation`); the printed and written cost is
then the parent's from that generation's starts. Without it every walk starts from the same seeds, and the runs that
lowered the duty factor on those seeds (below) fell on starts they had never seen.

Why an evolution strategy and not a learned low-level policy: the layer has ~60 interpretable
parameters (joint offsets, stride and lift gains per joint, reflex and regulator gains) and a cost
that is a whole walk, not a per-step reward; an elitist ES with the 1/5 success rule finds a
working gait in minutes on two cores and the result stays readable (each number is a joint's
offset or gain). The cost of a parameter set is its mean over a fixed battery: standing; 10, 30,
40, 50, 60 cm/s straight (40-60 cm/s from a second seeded start too); +-90 deg/s turns at 20 cm/s,
each a 3.5 s walk from a seeded start; and four 6 s walks under changing commands
(`spinal.GoalSteering`: steer the mouth to a goal, then the next, commands at 10 Hz, every other
walk with a policy's exploration noise) — a layer tuned on constant commands alone fell under a
forager's. Falling costs most. Constant commands, after 1.5 s: the relative error of the mean
forward speed and of the mean turning rate; the disagreement between foot contacts and the
pattern's stance and swing (feet, not forearms or belly, carry the rat, so the measured duty
factor and interlimb phases are the gait's); contact onsets per second against the rat's stride
frequency at the command (Gorska 1999; a foot scuffing the floor mid-swing counts as an extra
step); the forelimbs' and the hindlimbs' duty factors, each, above 0.55 at <= 30 cm/s and below
0.45 at >= 50 cm/s (walking vs running, Gorska 1999); the regulator's correction (it sets the
stride length, so a stride that needs a large correction is not the rat's). Goal steering: goals
missed out of 4 per walk. All: a torso carried below 6 cm; a tilted torso; the forelimbs' share of
the vertical ground reaction force away from a trotting rat's 0.56 (+-0.06, Giszter et al. 2008), and
any load on the belly, head or tail.
A first stage (`--stage posture`) tunes only the standing posture (joint offsets, righting gains).

The best set is written to `--out` (default: the shipped `body/spinal/params/<rhythm>.json`) with its cost,
after every improvement, atomically. How the shipped sets were made, and every search not kept:
`docs/notebook/spinal.md`.
"""

from __future__ import annotations

import argparse
import functools
import json
import multiprocessing as mp
import os
import time
from pathlib import Path

import numpy as np

from body import spinal

BATTERY = (  # (speed m/s, turn rad/s)
    (0.0, 0.0), (0.1, 0.0), (0.3, 0.0), (0.4, 0.0), (0.5, 0.0), (0.6, 0.0), (0.2, np.pi / 2), (0.2, -np.pi / 2))
ROBUSTNESS_SPEED_M_S = 0.4  # fast straight commands also run from a second seeded start (where falls happen)
STEERING_TRIALS = 4  # goal-steering walks (changing commands), every other one with exploration noise
STEERING_S = 6.0
STEERING_NOISE = 0.35  # SD in action units: a policy at log SD -1 (the open_field training's)
STEERING_GOALS = 4  # goals a good forager reaches in STEERING_S (the drive layer's scripted forager: ~0.5 food/s)
TRIAL_S = 3.5
SETTLE_S = 1.5
STANDING_TORSO_HEIGHT_M = 0.06
# Giszter et al. 2008 (normal rats trotting over a force-plate runway): the hindlimbs bear ~80 % of the
# forelimbs' vertical load, so the forelimbs carry 1 / 1.8 of it; a test keeps this equal to
# comparisons/reference (giszter2008.fore_load_share). The belly, head and tail carry nothing.
RAT_FORELIMB_LOAD_SHARE = 0.56
LOAD_SHARE_TOLERANCE = 0.06  # "although this varied"
LOAD_WEIGHT = 0.25
POSTURE_GROUPS = ("hind_offset", "fore_offset", "spine_offset", "roll_gain", "pitch_gain")
# The rear stage: two_touch's orb (centre 14 cm up, radius 2.5 cm) is touched by a forepaw, so a full rear
# should hold a forepaw at its height, off the floor, in place, and come back down onto four feet.
REAR_HAND_HEIGHT_M = 0.14
REAR_TRIALS = ((0.0, 0), (0.0, 1), (0.3, 2), (0.3, 3))  # (forward speed before and after the rear m/s, seed)
REAR_ON_S, REAR_OFF_S, REAR_TRIAL_S = 1.0, 3.5, 5.0
REAR_HOLD_S = 1.0  # the rear is scored from this long after the command until it ends
REAR_REST_LOAD_SHARE = 0.25  # the tail and rump may help, but the hind feet carry a rear
REAR_PITCH_RAD = -0.9  # a rear pitches the torso ~50 deg nose-up (shaping towards the hand height)
# Step scale of each parameter group relative to sigma (control units, gains, fractions).
SCALES = {"hind_offset": 1.0, "hind_stride": 1.0, "hind_lift": 1.0, "fore_offset": 1.0, "fore_stride": 1.0,
          "fore_lift": 1.0, "spine_offset": 0.5, "roll_gain": 1.0, "pitch_gain": 1.0, "turn_stride": 0.5,
          "turn_bend": 0.5, "speed_pi": 1.0, "turn_pi": 1.0, "touchdown_reset": 0.5, "duty_factor": 0.2,
          "rear_hind_offset": 1.0, "rear_fore_offset": 1.0, "rear_spine_offset": 1.0, "rear_pitch_rad": 0.5,
          "rear_pitch_gain": 1.0, "gallop_lumbar": 0.5, "gallop_cervical": 0.5, "gallop_duty": 0.2, "gallop_stride": 0.5,
          "gallop_hind_offset": 0.5, "gallop_fore_offset": 0.5,
          "run_hind_duty": 0.3, "run_height_m": 0.05, "run_sag_gain": 50.0,
          "walk_trot_m_s": 0.0}  # a gait threshold, set by hand: no stage moves it
STAGE_GROUPS = {"posture": POSTURE_GROUPS,
                "gait": tuple(k for k in SCALES if k not in spinal.REAR_GROUPS + spinal.GALLOP_GROUPS + spinal.RUN_GROUPS),
                "rear": spinal.REAR_GROUPS, "gallop": spinal.GALLOP_GROUPS,
                "run": spinal.RUN_GROUPS}
# The gallop stage: straight commands in the gallop's range (Gillis & Biewener 2001: 60-75 cm/s), each from
# its own seeded start, and walks under uniform random commands held 1 s (in and out of the gallop, turning).
GALLOP_TRIALS = ((0.7, 0), (0.7, 1), (0.7, 2), (0.75, 3), (0.8, 4))  # (speed m/s, seed)
GALLOP_TRIAL_S = 6.0  # longer than the battery's: a bound that pitches a little more each stride falls after 3-6 s
GALLOP_RANDOM_SEEDS = (0, 1, 2, 3)
GALLOP_RANDOM_S = 8.0
GALLOP_FALL_BASE = 12.0  # a fall costs more than any gallop that stays up
GALLOP_SPEED_WEIGHT = 4.0  # the gallop is for speed: a slow one lost the speed for a rat-like carriage
GALLOP_LOAD_WEIGHT = 3 * LOAD_WEIGHT  # and the forelimbs carry it (at LOAD_WEIGHT it bounded on the hindlimbs)

# The run stage: straight commands from the top of the trot into the gallop (each from its own seeded start) and
# walks under uniform random commands held 1 s, all through the running terms' fade-in (`spinal.RUN_FROM_M_S`).
RUN_TRIALS = ((0.4, 0), (0.5, 0), (0.5, 1), (0.55, 2), (0.6, 0), (0.6, 1), (0.7, 2), (0.8, 3))  # (speed m/s, seed)
RUN_TRIAL_S = 5.0
RUN_RANDOM_SEEDS = (0, 1)
RUN_FALL_BASE = 6.0  # a fall costs more than any walk that stays up
RUN_SPEED_WEIGHT = 2.0  # a short stance that slows the rat is not a run
RUN_DUTY_WEIGHT = 2.0  # x the battery's: the duty factor is what the stage is for

_MODEL = None


def _model():
    global _MODEL
    if _MODEL is None:
        import body

        _MODEL = body.build("free").model
    return _MODEL


def _fall_cost(fell_at_s: float, seconds: float, base: float = 3.0) -> float:
    return base + 2.0 * (1.0 - fell_at_s / seconds)


def _carriage_cost(w: spinal.Walk, keep: np.ndarray, load_weight: float = LOAD_WEIGHT) -> float:
    """Carry the body on the legs, level, with the weight shared between them as a rat's: a rat's torso
    rides ~6 cm up; crawling on the belly is not a gait."""
    cost = max(0.0, STANDING_TORSO_HEIGHT_M - float(np.mean(w.torso_height_m[keep]))) / 0.01
    cost += 2.0 * max(0.0, 0.9 - float(np.min(w.upright[keep])))
    # Weight on the forelimbs as a rat's, none on the belly, head or tail (the hindlimbs carrying most
    # of it is what kept them down 0.62-0.76 of every cycle, walking or running).
    shares = spinal.load_shares(w.vertical_load_n[keep])
    return cost + load_weight * (max(0.0, abs(shares["fore"] - RAT_FORELIMB_LOAD_SHARE) - LOAD_SHARE_TOLERANCE) / 0.1
                                 + shares["rest"] / 0.05)


def trial_cost(params: dict, speed: float, turn: float, seed: int, seconds: float = TRIAL_S,
               rhythm: str = "command", fall_base: float = 3.0, speed_weight: float = 1.0,
               load_weight: float = LOAD_WEIGHT, duty_weight: float = 0.5) -> float:
    w = spinal.walk(_model(), spinal.Command(speed, turn), seconds, params=params, seed=seed, stop_on_fall=True,
                    rhythm=rhythm)
    if w.fell_at_s is not None:
        return _fall_cost(w.fell_at_s, seconds, fall_base)
    keep = w.window(SETTLE_S)
    v = w.mean_speed_m_s(SETTLE_S)
    omega = w.mean_turn_rad_s(SETTLE_S)
    cost = speed_weight * min(abs(v - speed) / max(speed, 0.1), 2.0) + min(abs(omega - turn) / (np.pi / 2), 2.0)
    # The regulator may correct, but a rat-like stride needs little correction: the drive (and so
    # the stride length) should stay near the command.
    if speed > 0:
        cost += 0.5 * min(abs(float(np.mean(w.drive_m_s[keep])) - speed) / max(speed, 0.1), 2.0)
    # Feet down in stance and up in swing: the contacts should follow the pattern generator, so
    # the measured duty factor and interlimb phases are the gait's (not the forearms or belly).
    if speed > 0 or turn != 0:
        cost += 2.0 * (1.0 - float(np.mean(w.foot_down[keep] == w.stance[keep])))
    if speed > 0 and turn == 0:
        down = w.foot_down[keep]
        # Step at the rat's rhythm: feet should land once per cycle of the rat's stride frequency at
        # the command (every contact onset counts, so a foot scuffing the floor mid-swing is a step).
        onsets = float((np.diff(down.astype(int), axis=0) == 1).sum()) / 4.0
        rate_hz = max(onsets / float(w.t_s[keep][-1] - w.t_s[keep][0]), 0.1)
        cost += min(abs(float(np.log(rate_hz / spinal.stride_frequency_hz(speed)))), 1.0)
        # Duty factor above 0.5 walking, below 0.5 running (Gorska et al. 1999), forelimbs and
        # hindlimbs each (their mean alone let the hindlimbs stand 0.7 and the forelimbs 0.35).
        for pair in (down[:, :2], down[:, 2:]):
            duty = float(np.mean(pair))
            cost += duty_weight * (max(0.0, 0.55 - duty) if speed <= 0.3 else max(0.0, duty - 0.45) if speed >= 0.5 else 0.0) / 0.1
    return cost + _carriage_cost(w, keep, load_weight)


def steering_cost(params: dict, seed: int, noise: float, rhythm: str = "command") -> float:
    """Goal steering under changing commands (`spinal.GoalSteering`): stay up, get the mouth to goals."""
    steer = spinal.GoalSteering(seed, noise=noise)
    w = spinal.walk(_model(), steer, STEERING_S, params=params, seed=seed, stop_on_fall=True, rhythm=rhythm)
    if w.fell_at_s is not None:
        return _fall_cost(w.fell_at_s, STEERING_S)
    return 2.0 * (1.0 - min(steer.goals_reached / STEERING_GOALS, 1.0)) + _carriage_cost(w, w.window(SETTLE_S))


def cost(vector: np.ndarray, seed: int = 0, rhythm: str = "command") -> float:
    params = spinal.params_from_vector(vector)
    trials = [(v, w, seed + i) for i, (v, w) in enumerate(BATTERY)]
    trials += [(v, w, seed + 50 + i) for i, (v, w) in enumerate(BATTERY) if w == 0 and v >= ROBUSTNESS_SPEED_M_S]
    costs = [trial_cost(params, v, w, s, rhythm=rhythm) for v, w, s in trials]
    costs += [steering_cost(params, seed + 100 + i, STEERING_NOISE * (i % 2), rhythm) for i in range(STEERING_TRIALS)]
    return float(np.mean(costs))


def gallop_cost(vector: np.ndarray, seed: int = 0, rhythm: str = "command") -> float:
    """The gallop stage: the constant-command cost (`trial_cost`) at GALLOP_TRIALS, and falling under
    random commands that switch between gaits."""
    params = spinal.params_from_vector(vector)
    costs = [trial_cost(params, v, 0.0, seed + s, GALLOP_TRIAL_S, rhythm=rhythm, fall_base=GALLOP_FALL_BASE, speed_weight=GALLOP_SPEED_WEIGHT,
                        load_weight=GALLOP_LOAD_WEIGHT)
             for v, s in GALLOP_TRIALS]
    for s in GALLOP_RANDOM_SEEDS:
        w = spinal.walk(_model(), spinal.RandomCommands(seed + 200 + s, noise_sd=None, hold_s=1.0), GALLOP_RANDOM_S,
                        params=params, seed=seed + 200 + s, stop_on_fall=True, rhythm=rhythm)
        costs.append(0.0 if w.fell_at_s is None else _fall_cost(w.fell_at_s, GALLOP_RANDOM_S, GALLOP_FALL_BASE))
    return float(np.mean(costs))


def run_cost(vector: np.ndarray, seed: int = 0, rhythm: str = "command") -> float:
    """The run stage: the constant-command cost (`trial_cost`: speed, the hindlimbs' duty factor below 0.45 from
    50 cm/s, steps at the rat's rate, carriage) at RUN_TRIALS, and falling under random commands."""
    params = spinal.params_from_vector(vector)
    costs = [trial_cost(params, v, 0.0, seed + s, RUN_TRIAL_S, rhythm=rhythm, fall_base=RUN_FALL_BASE,
                        speed_weight=RUN_SPEED_WEIGHT, duty_weight=RUN_DUTY_WEIGHT) for v, s in RUN_TRIALS]
    for s in RUN_RANDOM_SEEDS:
        w = spinal.walk(_model(), spinal.RandomCommands(seed + 300 + s, noise_sd=None, hold_s=1.0), GALLOP_RANDOM_S,
                        params=params, seed=seed + 300 + s, stop_on_fall=True, rhythm=rhythm)
        costs.append(0.0 if w.fell_at_s is None else _fall_cost(w.fell_at_s, GALLOP_RANDOM_S, RUN_FALL_BASE))
    return float(np.mean(costs))


def posture_cost(vector: np.ndarray, seed: int = 0, rhythm: str = "command") -> float:
    """Stage 1: standing only (zero command, 2.5 s): height, level torso, no drift."""
    params = spinal.params_from_vector(vector)
    return trial_cost(params, 0.0, 0.0, seed, seconds=2.5, rhythm=rhythm)


class RearSchedule:
    """Walk (or stand) at `speed_m_s`, rear fully from REAR_ON_S to REAR_OFF_S, then walk on."""

    def __init__(self, speed_m_s: float):
        self.speed_m_s = speed_m_s

    def __call__(self, t_s: float, data=None) -> spinal.Command:
        return spinal.Command(self.speed_m_s, 0.0, 1.0 if REAR_ON_S <= t_s < REAR_OFF_S else 0.0)


def rear_trial_cost(params: dict, speed: float, seed: int, rhythm: str = "command") -> float:
    """One rear (`RearSchedule`): falling costs most (more than any rear that stays up); then, in the
    rear, a forepaw short of the orb's height, a torso short of a rear's nose-up pitch, forefeet on the
    floor, hind feet off it or the weight on the rump and tail (sitting up is not rearing), drifting;
    afterwards, not standing back on four feet (or not walking on at the speed it walked before)."""
    w = spinal.walk(_model(), RearSchedule(speed), REAR_TRIAL_S, params=params, seed=seed, stop_on_fall=True,
                    rhythm=rhythm)
    if w.fell_at_s is not None:
        return _fall_cost(w.fell_at_s, REAR_TRIAL_S, base=8.0)
    hold = (w.t_s > REAR_ON_S + REAR_HOLD_S) & (w.t_s < REAR_OFF_S)
    cost = min(max(0.0, REAR_HAND_HEIGHT_M - float(np.mean(w.hand_height_m[hold]))) / 0.05, 3.0)
    cost += 0.5 * min(max(0.0, float(np.mean(w.pitch_rad[hold])) - REAR_PITCH_RAD) / 0.3, 3.0)
    cost += float(np.mean(w.foot_down[hold, :2]))
    # on the hind feet (a rear), not sitting on the rump and tail
    cost += 0.5 * (1.0 - float(np.mean(w.foot_down[hold, 2:])))
    cost += 1.5 * max(0.0, spinal.load_shares(w.vertical_load_n[hold])["rest"] - REAR_REST_LOAD_SHARE) / (1 - REAR_REST_LOAD_SHARE)
    drift = w.position_m[hold][-1] - w.position_m[hold][0]
    cost += 0.5 * min(float(np.hypot(*drift)) / 0.05, 1.0)
    after = w.t_s > REAR_TRIAL_S - 0.5
    cost += min(2.0 * max(0.0, 0.9 - float(np.min(w.upright[after]))), 1.0)
    if speed > 0:  # walking on at the command
        return cost + min(abs(float(np.mean(w.forward_speed_m_s[after])) - speed) / speed, 1.0)
    return cost + (1.0 - float(np.mean(w.foot_down[after, :2])))  # back on four feet


def rear_cost(vector: np.ndarray, seed: int = 0, rhythm: str = "command") -> float:
    """The rear stage: the mean over REAR_TRIALS (rearing from standing and from a walk)."""
    params = spinal.params_from_vector(vector)
    return float(np.mean([rear_trial_cost(params, v, seed + s, rhythm) for v, s in REAR_TRIALS]))


def _write(path: Path, vector: np.ndarray, value: float, evaluations: int) -> None:
    params = spinal.params_from_vector(vector)
    body = {"cost": value, "evaluations": evaluations, "battery": [list(b) for b in BATTERY],
            "steering": {"trials": STEERING_TRIALS, "seconds": STEERING_S, "noise": STEERING_NOISE},
            "params": spinal.params_as_lists(params)}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(body, indent=1))
    os.replace(tmp, path)


STARTS_PER_GENERATION = 1000  # --fresh-starts: generation g's walks start from seeds offset by g x this


def es_generation(objective, map_fn, parent: np.ndarray, parent_cost: float, children: np.ndarray, starts: int,
                  fresh_starts: bool) -> tuple[np.ndarray, float, bool]:
    """One generation of the (1 + offspring) evolution strategy: (parent, its cost, whether a child replaced it).

    The children are scored by `objective(vector, seed=starts)`. With `fresh_starts` the parent is scored again from
    the same starts and a child replaces it only if it beats that score; without it the parent keeps the cost it was
    accepted with (every generation then walks from the same starts, which a search can fit)."""
    candidates = ([parent] if fresh_starts else []) + list(children)
    costs = list(map_fn(functools.partial(objective, seed=starts), candidates))
    if fresh_starts:
        parent_cost, costs = float(costs[0]), costs[1:]
    i = int(np.argmin(costs))
    if costs[i] < parent_cost:
        return children[i], float(costs[i]), True
    return parent, parent_cost, False


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--offspring", type=int, default=8)
    ap.add_argument("--sigma", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--start", type=str, default=None, help="parameter JSON to start from, or 'untuned' (all zeros); default: the shipped file")
    ap.add_argument("--rhythm", choices=spinal.RHYTHMS, default="command",
                    help="what sets the layer's rhythm (each has its own shipped parameter file)")
    ap.add_argument("--out", type=str, default=None, help="default: the shipped file for --rhythm")
    ap.add_argument("--stage", choices=tuple(STAGE_GROUPS), default="gait",
                    help="posture: tune only offsets and righting gains on standing; gait: every gait parameter on the "
                         "battery; rear: only the rearing posture and its balance gains; gallop: only the gallop's own terms "
                         "(spine strokes, duty, stride, offsets) on commands of 65-80 cm/s; run: only the running terms "
                         "(the hindlimbs' stance fraction and height reflex) on 40-60 cm/s")
    ap.add_argument("--fresh-starts", action="store_true",
                    help="evaluate every generation, the parent with its offspring, from new seeded starts; the parent "
                         "gives way only to a child that beats it from the same starts (a fixed set of starts overfits)")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    if args.start == "untuned":
        start = spinal.untuned_params()
    else:
        start = spinal.load_params(args.start) if args.start else spinal.default_params(args.rhythm)
    parent = spinal.params_to_vector(start)
    scale = spinal.params_to_vector({k: np.full(n, SCALES[k] if k in STAGE_GROUPS[args.stage] else 0.0)
                                     for k, n in spinal.PARAM_SIZES.items()})
    objective = functools.partial({"gait": cost, "posture": posture_cost, "rear": rear_cost, "gallop": gallop_cost, "run": run_cost}[args.stage], rhythm=args.rhythm)
    sigma = args.sigma
    out = Path(args.out or spinal.PARAMS_PATHS[args.rhythm])
    ctx = mp.get_context("forkserver")
    t0 = time.time()
    with ctx.Pool(args.workers) as pool:
        best = pool.apply(objective, (parent,))
        evaluations, generation = 1, 0
        print(f"start cost {best:.3f}", flush=True)
        while time.time() - t0 < args.minutes * 60:
            children = parent + sigma * scale * rng.standard_normal((args.offspring, len(parent)))
            generation += 1
            starts = STARTS_PER_GENERATION * generation if args.fresh_starts else 0
            parent, best, success = es_generation(objective, pool.map, parent, best, children, starts, args.fresh_starts)
            evaluations += len(children) + int(args.fresh_starts)
            sigma *= np.exp((1.0 if success else -0.25) / 4)  # the 1/5 success rule
            sigma = float(np.clip(sigma, 0.005, 0.5))
            if success:
                _write(out, parent, best, evaluations)
            print(f"gen {generation:4d}  {time.time() - t0:6.0f} s  best {best:.3f}  sigma {sigma:.3f}", flush=True)
    print(f"best cost {best:.3f} after {evaluations} walks; wrote {out}")


if __name__ == "__main__":
    main()
