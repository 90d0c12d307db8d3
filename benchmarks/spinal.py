"""The spinal layer: gait statistics beside the rat's, command tracking, and what the layer costs.

    python -m benchmarks.spinal [--rhythm command|drive] [--params FILE] [--seeds 10] [--seconds 10] [--workers 2] [--out results/spinal]

1. Gait: at each commanded speed (seed 0, 10 s, statistics after 2 s) the measured forward speed,
   hindlimb and forelimb step cycles and duty factors from foot contacts sampled every physics step (2 ms)
   (`comparisons.analyses.gait`), the gait the contacts show, and the rat's step cycle at the
   measured speed on the Gorska et al. (1999) line beside it; over every seeded straight walk, the duty factors,
   the fraction of the time the feet are down, how often a foot touches down per cycle (bounces, scuffs) and the
   shares of the load on the forelimbs and on the belly, head and tail (where a foot that lifts sooner leaves its
   load), and the speed at which each pair's median time down falls through half the cycle (walking to running).
2. Tracking: commanded speeds 10-60 cm/s (the goal; 70 and 80 cm/s, galloping, beside them) and turns of +-90 deg/s (at 20 cm/s) over 10 s from
   seeded starts (random heading, joint-angle noise): a trial tracks when the rat never falls and
   its mean speed (or turning rate) after 2 s is within 20 % of the command. Goal >= 90 % of trials.
3. Changing commands: goal steering like a forager (`body.spinal.GoalSteering`: turn towards a goal,
   slow when facing away, a new goal when one is reached; commands at 10 Hz), without and with a
   policy's exploration noise (SD 0.35 in action units), 10 s from seeded starts: trials without a
   fall and goals reached per minute. A layer that tracks constant commands can still fall here.
4. Random commands, as an untrained policy sends them: Gaussian noise of SD 0.37 in action units
   around the action range's centre (40 cm/s straight) at 10 Hz (a PPO policy at log SD -1, the
   open_field recipe's start), and uniform commands held 1 s (the chance forager's), 30 s from
   seeded starts: trials without a fall. A layer the untrained policy topples gives it little to learn from.
5. Support: at each gait speed (seed 0) the time in the air per step beside the rat's (about constant,
   Gillis & Biewener 2001), and how the body's weight is shared between forelimbs, hindlimbs and the
   rest (belly, head, tail), from the vertical ground reaction forces, beside a trotting rat's
   (forelimbs 0.56, Giszter et al. 2008).
6. Servos: at each gait speed (seed 0) how much of the stroke its control asks for each limb servo
   delivers (hip, knee, ankle and toe; shoulder, elbow and wrist), and how long its control sits at an end of its
   range: what caps the running speed, and which joints the pattern never moves.
7. Rearing (the posture channel, `body.spinal.rear`): a full rear command held 2.5 s, from standing and
   from a walk at 30 cm/s (`benchmarks.tune_spinal.RearSchedule`), seeded starts: trials that rear without
   falling and come back down (onto four feet, or walking on); how high the higher forepaw is held
   beside two_touch's orb (centre 14 cm up, radius 2.5 cm; Merel et al. 2020); how long the paw takes
   to reach the orb's lower edge; the torso's pitch; the hindlimbs' share of the weight; drift.
8. two_touch through the rear channel: a scripted rearer (`tasks.scripted.TwoTouchRearer`, privileged:
   it reads the orb's position) walks to each orb, rears to touch it and touches it again on the way
   down; 30 s episodes from seeded starts: first touches and rewarded pairs per minute.
9. Walls (the wall stop, `body.spinal.wall_stop`): in open_field's 1 x 1 m box, a constant
   straight command from seeded starts (random place and heading) walks the rat into a wall; with the
   stop and without it: trials without a fall, trials whose snout or forepaws met a wall, the time stopped at one.
10. Cost: the layer's step beside one open_field control step with the layer on. Goal <= 20 %.
Writes `gait.png` (step cycle, duty factor and load sharing against speed, the rat's values beside; hollow markers:
commands the body fell more than 20 % short of) to --out.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
from pathlib import Path

import numpy as np

from benchmarks.common import header, table
from body.spinal import RHYTHMS

SPEEDS_M_S = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)  # the goal's 10-60 cm/s, and the gallop's range
GAIT_SPEEDS_M_S = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
TURN_RAD_S = np.pi / 2
TURN_SPEED_M_S = 0.2
SETTLE_S = 2.0
TOLERANCE = 0.2


# Limb servos whose delivery the benchmark reports (left and right pooled): name -> actuator pattern.
SERVO_JOINTS = {"hip_extend": "hip_{s}_extend", "knee": "knee_{s}", "ankle": "ankle_{s}", "toe": "toe_{s}",
                "shoulder": "shoulder_{s}", "elbow": "elbow_{s}", "wrist": "wrist_{s}"}


class _ServoRecorder:
    """Every physics step: each SERVO_JOINTS servo's target angle (from its control), its angle, and
    whether its control sits at an end of its range (the pattern asked for more and was clipped).
    Called as `walk(..., on_step=...)`. (dm_control's rodent.xml declares force ranges but sets
    forcelimited="false": a servo's reach is set by its control range, its 40 ms activation filter and
    its stiffness, not by a force limit.)"""

    def __init__(self, model):
        import mujoco

        from body.rat import servo_targets

        self.model, self._targets = model, servo_targets
        names = [pattern.format(s=s) for pattern in SERVO_JOINTS.values() for s in "LR"]  # [2 x joints]
        ids = [model.actuator(n).id for n in names]
        joint_acts = [i for i in range(model.nu) if model.actuator_trntype[i] == mujoco.mjtTrn.mjTRN_JOINT]  # servo_targets' order
        self._slot = np.array([joint_acts.index(i) for i in ids])
        self._ids = np.array(ids)
        self._qpos = model.jnt_qposadr[model.actuator_trnid[self._ids, 0]]
        self._lo, self._hi = model.actuator_ctrlrange[self._ids].T
        self.t, self.target, self.angle, self.at_range_end = [], [], [], []

    def __call__(self, data) -> None:
        self.t.append(float(data.time))
        self.target.append(self._targets(self.model, data.ctrl)[1][self._slot])
        self.angle.append(data.qpos[self._qpos].copy())
        u = data.ctrl[self._ids]
        self.at_range_end.append((u <= self._lo + 0.01) | (u >= self._hi - 0.01))

    def summary(self, start_s: float) -> dict:
        """Per SERVO_JOINTS entry (sides pooled) after `start_s`: achieved / commanded stroke (SDs of the
        angle and of the target) and the fraction of time its control sits at an end of its range."""
        keep = np.array(self.t) > start_s
        target, angle = np.array(self.target)[keep], np.array(self.angle)[keep]  # [T, 2 x joints]
        at_end = np.array(self.at_range_end)[keep]
        out = {}
        for j, name in enumerate(SERVO_JOINTS):  # columns 2j, 2j+1: left, right
            cols = [2 * j, 2 * j + 1]
            commanded = target[:, cols].std(axis=0)
            ratio = angle[:, cols].std(axis=0) / np.maximum(commanded, 1e-9)
            stroke = float(np.mean(ratio)) if commanded.min() > 0.01 else float("nan")  # nan: target ~still
            out[name] = (stroke, float(at_end[:, cols].mean()))
        return out


class _GirdleRecorder:
    """Every physics step: where the hip joints (the upper legs' origins) and the shoulder joints (the upper
    arms') lie along the torso's heading from the rat's centre of mass, and where the fore and hind feet press
    (their contact points weighted by the contact's normal force), m. With each foot under its girdle the
    forelimbs would bear (com - hips) / (shoulders - hips) of the weight (statics): what the body's build allows
    before any gait places a foot. Called as `walk(..., on_step=...)`."""

    def __init__(self, model, start_s: float = 0.0):
        import mujoco

        from body import spinal
        from body.rat import rat_geom_mask

        self._mujoco, self.model, self.start_s = mujoco, model, start_s  # contacts are summed after start_s
        self._torso = model.body("torso").id
        self._hips = [model.body(f"upper_leg_{s}").id for s in "LR"]
        self._shoulders = [model.body(f"upper_arm_{s}").id for s in "LR"]
        self._rat = rat_geom_mask(model)
        limb = spinal.foot_geom_limbs(model)
        self._pair = np.where(limb < 0, -1, limb // 2)  # 0: a forefoot geom (LF, RF), 1: a hind foot geom, -1: neither
        self.t, self.hip_m, self.shoulder_m = [], [], []
        self.press = np.zeros((2, 2))  # [fore, hind] x [sum of force x position, sum of force]
        self._force = np.zeros(6)

    def __call__(self, data) -> None:
        heading = data.xmat[self._torso].reshape(3, 3)[:2, 0]
        heading = heading / (np.hypot(*heading) or 1.0)
        com = data.subtree_com[self._torso, :2]
        self.t.append(float(data.time))
        self.hip_m.append(float((data.xpos[self._hips, :2].mean(axis=0) - com) @ heading))
        self.shoulder_m.append(float((data.xpos[self._shoulders, :2].mean(axis=0) - com) @ heading))
        if self.t[-1] <= self.start_s:
            return
        for i in range(data.ncon):
            g = data.contact.geom[i]
            if self._rat[g[0]] == self._rat[g[1]]:
                continue
            pair = self._pair[g[0] if self._rat[g[0]] else g[1]]
            if pair < 0:
                continue
            self._mujoco.mj_contactForce(self.model, data, i, self._force)
            self.press[pair] += abs(self._force[0]) * np.array([float((data.contact.pos[i, :2] - com) @ heading), 1.0])

    def summary(self, start_s: float) -> dict:
        keep = np.array(self.t) > start_s
        hip, shoulder = float(np.mean(np.array(self.hip_m)[keep])), float(np.mean(np.array(self.shoulder_m)[keep]))
        fore, hind = (self.press[:, 0] / np.maximum(self.press[:, 1], 1e-12)).tolist()
        return {"hip_m": hip, "shoulder_m": shoulder, "fore_share": -hip / (shoulder - hip),
                "forefeet_m": fore if self.press[0, 1] > 0 else float("nan"),
                "hind_feet_m": hind if self.press[1, 1] > 0 else float("nan")}


def _layer(layer) -> tuple[str, dict]:
    """(rhythm, parameters) of the layer a benchmark job runs: `layer` is (rhythm, parameter file or None: the
    shipped set)."""
    from body import spinal

    rhythm, params_path = layer
    return rhythm, spinal.resolve_params(params_path, rhythm)


def _walk(args):
    speed, turn, seed, seconds, layer = args
    rhythm, params = _layer(layer)
    import body
    from body import spinal
    from comparisons.analyses.gait import gait_name, gait_statistics

    model = body.build("free").model
    servos, girdles = (_ServoRecorder(model), _GirdleRecorder(model, SETTLE_S)) if seed == 0 and turn == 0.0 else (None, None)
    on_step = (lambda data: (servos(data), girdles(data))) if servos else None
    w = spinal.walk(model, spinal.Command(speed, turn), seconds, seed=seed, rhythm=rhythm, params=params, on_step=on_step)
    keep = w.t_s > SETTLE_S
    fine = w.contact_t_s > SETTLE_S
    g = gait_statistics(w.contact_foot_down[fine], w.contact_t_s[fine])
    load = spinal.load_shares(w.vertical_load_n[keep])
    return {"speed": speed, "turn": turn, "seed": seed, "fell": w.fell_at_s is not None,
            "v": w.mean_speed_m_s(SETTLE_S), "omega": w.mean_turn_rad_s(SETTLE_S), "cycle": g["step_cycle_s"],
            "duty": g["duty_factor"], "hind_cycle": g["hind_step_cycle_s"], "fore_cycle": g["fore_step_cycle_s"],
            "hind_duty": g["hind_duty_factor"], "fore_duty": g["fore_duty_factor"], "gait": gait_name(g["interlimb_phase"]),
            "hind_down": g["hind_contact_fraction"], "fore_down": g["fore_contact_fraction"],
            "hind_touchdowns": g["hind_touchdowns_per_cycle"], "fore_touchdowns": g["fore_touchdowns_per_cycle"],
            "hind_swing": g["hind_swing_s"], "fore_swing": g["fore_swing_s"],
            "fore_load": load["fore"], "hind_load": load["hind"], "rest_load": load["rest"],
            "drive": float(np.mean(w.drive_m_s[keep])), "servos": servos.summary(SETTLE_S) if servos else None,
            "girdles": girdles.summary(SETTLE_S) if girdles else None}


STEERING_NOISE = (0.0, 0.35)


def _steer(args):
    noise, seed, seconds, layer = args
    rhythm, params = _layer(layer)
    import body
    from body import spinal

    steer = spinal.GoalSteering(1000 + seed, noise=noise)
    w = spinal.walk(body.build("free").model, steer, seconds, seed=1000 + seed, rhythm=rhythm, params=params)
    return {"noise": noise, "fell": w.fell_at_s is not None, "goals_per_min": steer.goals_reached / seconds * 60}


RANDOM_COMMANDS = (("policy noise SD 0.37 at 10 Hz", 0.37, 0.1), ("uniform, held 1 s", None, 1.0))
RANDOM_COMMANDS_S = 30.0


def _random_commands(args):
    name, sd, hold_s, seed, layer = args
    rhythm, params = _layer(layer)
    import body
    from body import spinal

    commands = spinal.RandomCommands(2000 + seed, noise_sd=sd, hold_s=hold_s)
    w = spinal.walk(body.build("free").model, commands, RANDOM_COMMANDS_S, seed=2000 + seed, rhythm=rhythm,
                    params=params, stop_on_fall=True)
    return {"name": name, "fell_at_s": w.fell_at_s}


REAR_STARTS_M_S = (0.0, 0.3)
WALL_SPEEDS_M_S = (0.2, 0.4)
WALL_S = 10.0


def _wall(args):
    """open_field at a constant straight command: does the rat meet a wall, stop there, fall?"""
    speed, wall_stop, seed, layer = args
    rhythm, params = _layer(layer)
    import tasks
    from body import spinal

    env = tasks.make("open_field", body_options={"spinal": {"rhythm": rhythm, "params": params,
                                                            "wall_stop": wall_stop}})
    env.reset(seed=4000 + seed)
    layer, data = env.io.spinal, env.data
    action = spinal.action_from_command(spinal.Command(speed, 0.0)).astype(np.float32)
    met, stopped_steps, fell = False, 0, False
    steps = round(WALL_S / env.control_dt)
    for _ in range(steps):
        env.step(action)
        met |= layer.touching_wall(data)
        stopped_steps += layer.wall_stop_s > 0.0
        if layer.fallen(data):
            fell = True
            break
    env.close()
    return {"speed": speed, "wall_stop": wall_stop, "met_wall": met, "fell": fell, "stopped": stopped_steps / steps}


def _rear(args):
    speed, seed, layer = args
    rhythm, params = _layer(layer)
    import body
    from body import spinal
    from benchmarks.tune_spinal import REAR_OFF_S, REAR_ON_S, REAR_TRIAL_S, RearSchedule
    from tasks.two_touch import ORB_HEIGHT_M, ORB_RADIUS_M

    w = spinal.walk(body.build("free").model, RearSchedule(speed), REAR_TRIAL_S, seed=3000 + seed, rhythm=rhythm,
                    params=params)
    hold = (w.t_s > REAR_ON_S + 1.0) & (w.t_s < REAR_OFF_S)
    after = w.t_s > REAR_TRIAL_S - 0.5
    if speed > 0:
        back = abs(float(np.mean(w.forward_speed_m_s[after])) - speed) < TOLERANCE * speed
    else:
        back = bool(w.foot_down[after].all())
    up = np.flatnonzero((w.t_s >= REAR_ON_S) & (w.hand_height_m > ORB_HEIGHT_M - ORB_RADIUS_M))
    shares = spinal.load_shares(w.vertical_load_n[hold])
    return {"speed": speed, "ok": w.fell_at_s is None and back, "fell": w.fell_at_s is not None,
            "paw_cm": 100 * float(np.mean(w.hand_height_m[hold])),
            "rise_ms": 1000 * (w.t_s[up[0]] - REAR_ON_S) if up.size else float("nan"),
            "pitch_deg": -float(np.degrees(np.mean(w.pitch_rad[hold]))), "hind_load": shares["hind"],
            "rest_load": shares["rest"], "fore_down": float(np.mean(w.foot_down[hold, :2])),
            "drift_cm": 100 * float(np.hypot(*(w.position_m[hold][-1] - w.position_m[hold][0])))}


TWO_TOUCH_S = 30.0


def _two_touch(args):
    seed, layer = args
    rhythm, params = _layer(layer)
    import tasks
    from tasks.scripted import TwoTouchRearer

    env = tasks.make("two_touch", body_options={"spinal": {"rear": True, "rhythm": rhythm,
                                                           "params": params}},
                     time_limit_s=TWO_TOUCH_S)
    env.reset(seed=4000 + seed)
    agent = TwoTouchRearer(env)
    counts = {"first_touch": 0, "reward": 0, "too_soon": 0, "no_second_touch": 0}
    done, fell = False, False
    while not done:
        _, _, terminated, truncated, info = env.step(agent(env.t_s))
        for name, _ in info.get("events", []):
            if name in counts:
                counts[name] += 1
        fell = fell or env.data.xpos[env.model.body("torso").id, 2] < 0.025
        done = terminated or truncated
    env.close()
    return {**counts, "fell": fell}


def _ms(seconds: float):
    return round(1000 * seconds) if np.isfinite(seconds) else "-"


def _tracked(r) -> bool:
    if r["fell"]:
        return False
    if r["turn"] != 0.0:
        return abs(r["omega"] - r["turn"]) <= TOLERANCE * abs(r["turn"])
    return abs(r["v"] - r["speed"]) <= TOLERANCE * r["speed"]


def layer_cost(steps: int = 500, layer=("command", None)) -> tuple[float, float]:
    """(seconds per layer step, seconds per open_field control step with the layer), one process."""
    import tasks

    rhythm, params = _layer(layer)
    env = tasks.make("open_field", body_options={"spinal": {"rhythm": rhythm, "params": params}})
    env.reset(seed=0)
    action = np.array([-0.25, 0.2], np.float32)  # 0.3 m/s, slight left turn
    for _ in range(50):
        env.step(action)
    t0 = time.perf_counter()
    for _ in range(steps):
        env.step(action)
    env_step = (time.perf_counter() - t0) / steps
    layer, data, cmd = env.io.spinal, env.data, env.io.command
    t0 = time.perf_counter()
    for _ in range(steps):
        layer.step(cmd, data, env.control_dt)
    layer_step = (time.perf_counter() - t0) / steps
    env.close()
    return layer_step, env_step


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from body.spinal import stride_frequency_hz
    from comparisons.reference import cite, entry, value_range

    gallop_lo, gallop_hi = value_range("gillis2001.gallop_onset")
    ok = [r for r in rows if not r["fell"] and np.isfinite(r["hind_cycle"])]
    v = np.array([r["v"] for r in ok])
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(13, 3.6))
    line = np.linspace(0.05, 0.85, 50)
    a.plot(line * 100, 1000 / stride_frequency_hz(line), "k-", lw=1, label=f"rat ({cite('gorska1999.step_cycle').split(',')[0]})")
    # Commands the body cannot reach (speed more than 20 % short) are drawn hollow: there the rhythm
    # runs at the command's step cycle while the body moves slower.
    reached = np.array([abs(r["v"] - r["speed"]) <= TOLERANCE * r["speed"] for r in ok])

    def dots(ax, y, color, marker, label=None):
        y = np.asarray(y)
        ax.scatter(v[reached] * 100, y[reached], c=color, marker=marker, label=label, zorder=3)
        ax.scatter(v[~reached] * 100, y[~reached], facecolors="none", edgecolors=color, marker=marker, zorder=3)

    dots(a, [1000 * r["hind_cycle"] for r in ok], "C3", "o", "virtual rat, hindlimbs")
    dots(a, [1000 * r["fore_cycle"] for r in ok], "C0", "^", "virtual rat, forelimbs")
    a.set(xlabel="forward speed (cm/s)", ylabel="step cycle (ms)")
    a.legend(frameon=False, fontsize=8)
    b.axhline(0.5, color="k", lw=0.8, ls=":")
    dots(b, [r["hind_duty"] for r in ok], "C3", "o")
    dots(b, [r["fore_duty"] for r in ok], "C0", "^")
    if (~reached).any():
        b.scatter([], [], facecolors="none", edgecolors="0.4", label="command above the body's top speed")
    b.axvspan(gallop_lo * 100, gallop_hi * 100, color="0.85", label=f"rat trot-gallop ({cite('gillis2001.gallop_onset').split(',')[0]})")
    b.set(xlabel="forward speed (cm/s)", ylabel="duty factor", ylim=(0, 1))
    b.legend(frameon=False, fontsize=8)
    rat_fore = float(entry("giszter2008.fore_load_share")["value"])
    c.axhline(rat_fore, color="C0", lw=1, ls="--", label=f"rat forelimbs ({cite('giszter2008.fore_load_share').split(',')[0]})")
    c.axhline(1.0 - rat_fore, color="C3", lw=1, ls="--", label="rat hindlimbs")
    dots(c, [r["fore_load"] for r in ok], "C0", "^", "virtual rat, forelimbs")
    dots(c, [r["hind_load"] for r in ok], "C3", "o", "virtual rat, hindlimbs")
    dots(c, [r["rest_load"] for r in ok], "0.4", "s", "virtual rat, belly, head, tail")
    c.set(xlabel="forward speed (cm/s)", ylabel="share of the vertical load", ylim=(0, 1))
    c.legend(frameon=False, fontsize=8)
    for ax in (a, b, c):
        ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="spinal layer benchmark")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rhythm", choices=RHYTHMS, default="command", help="body.spinal.rhythm")
    ap.add_argument("--params", type=str, default=None,
                    help="body.spinal.params: a parameter file to measure instead of the shipped set for --rhythm")
    ap.add_argument("--out", type=str, default="results/spinal")
    args = ap.parse_args(argv)
    from body.spinal import stride_frequency_hz

    rhythm = args.rhythm
    _layer((rhythm, args.params))  # a bad parameter file fails here, with its one-line error, not in every worker
    layer = (rhythm, args.params)
    header(f"Spinal layer ({rhythm} rhythm{', parameters ' + args.params if args.params else ''}): gait, command tracking, cost")
    jobs = [(v, 0.0, 0, args.seconds, layer) for v in GAIT_SPEEDS_M_S]
    jobs += [(v, 0.0, s, args.seconds, layer) for v in SPEEDS_M_S for s in range(1, args.seeds)]
    jobs += [(TURN_SPEED_M_S, sign * TURN_RAD_S, s, args.seconds, layer) for sign in (1.0, -1.0) for s in range(args.seeds)]
    with mp.get_context("forkserver").Pool(args.workers) as pool:
        results = pool.map(_walk, jobs)
        steering = pool.map(_steer, [(n, s, args.seconds, layer) for n in STEERING_NOISE for s in range(args.seeds)])
        random = pool.map(_random_commands, [(*c, s, layer) for c in RANDOM_COMMANDS for s in range(args.seeds)])
        rears = pool.map(_rear, [(v, s, layer) for v in REAR_STARTS_M_S for s in range(args.seeds)])
        touches = pool.map(_two_touch, [(s, layer) for s in range(args.seeds)])
        walls = pool.map(_wall, [(v, stop, s, layer) for v in WALL_SPEEDS_M_S for stop in (True, False)
                                 for s in range(args.seeds)])

    gait_rows = [r for r in results if r["seed"] == 0 and r["turn"] == 0.0]
    print("Gait at each commanded speed (seed 0; statistics after 2 s of 10 s):")
    table(["command cm/s", "speed cm/s", "hind step cycle ms", "fore step cycle ms", "rat at that speed ms",
           "hind / rat", "hind duty", "fore duty", "hind feet down", "fore feet down", "gait (measured)", "fell"],
          [[round(r["speed"] * 100), round(r["v"] * 100, 1), _ms(r["hind_cycle"]), _ms(r["fore_cycle"]),
            round(1000 / float(stride_frequency_hz(r["v"]))), r["hind_cycle"] * float(stride_frequency_hz(r["v"])),
            r["hind_duty"], r["fore_duty"], r["hind_down"], r["fore_down"], r["gait"], "yes" if r["fell"] else "no"]
           for r in gait_rows])
    print("Duty factor over every seeded straight walk at each command (the tracking trials below; median [range] of the\n"
          "walks that stayed up), per step cycle and as the fraction of the time the feet are down, and how often a foot\n"
          "touches down per step cycle (1: once; more: it lifts for 10-60 ms, too short for a swing, and touches down again,\n"
          "a bounce in stance or a scuff early in the swing), and the share of the vertical load on the forelimbs and on the\n"
          "belly, head and tail (feet that lift sooner must leave their load somewhere; a trotting rat's forelimbs bear 0.56\n"
          "of it, Giszter et al. 2008):")

    def spread(values):
        values = np.array([v for v in values if np.isfinite(v)])
        return f"{np.median(values):.2f} [{values.min():.2f}-{values.max():.2f}]" if len(values) else "-"

    straight = [r for r in results if r["turn"] == 0.0 and not r["fell"]]
    table(["command cm/s", "walks", "hind duty", "hind feet down", "hind touch-downs per cycle", "fore duty", "fore feet down",
           "fore touch-downs per cycle", "forelimb load", "belly, head and tail load"],
          [[round(v * 100), len(rows), spread(r["hind_duty"] for r in rows), spread(r["hind_down"] for r in rows),
            spread(r["hind_touchdowns"] for r in rows), spread(r["fore_duty"] for r in rows),
            spread(r["fore_down"] for r in rows), spread(r["fore_touchdowns"] for r in rows),
            spread(r["fore_load"] for r in rows), spread(r["rest_load"] for r in rows)]
           for v in SPEEDS_M_S for rows in [[r for r in straight if r["speed"] == v]]])
    from comparisons.analyses.gait import walk_run_speed_m_s

    crossings = []
    for pair in ("fore", "hind"):
        medians = [float(np.median([r[f"{pair}_down"] for r in straight if r["speed"] == v] or [np.nan])) for v in SPEEDS_M_S]
        at = walk_run_speed_m_s(SPEEDS_M_S, medians)
        crossings.append(f"{pair}limbs {'never' if np.isnan(at) else f'{100 * at:.0f} cm/s (the rat steps at {_ms(1 / float(stride_frequency_hz(at)))} ms there)'}")
    print("Walking to running (the median time down falls through half the cycle; Gorska et al. 1999: the rat's walking trot\n"
          f"becomes a running trot as its step cycle shortens from 685 to 215 ms, at a speed the abstract does not give): {'; '.join(crossings)}.\n")

    from comparisons.reference import cite, entry

    rat_fore = float(entry("giszter2008.fore_load_share")["value"])
    print("How the limbs carry the body (seed 0, after 2 s): time in the air per step (the rat's swing stays about\n"
          f"constant with speed, {cite('gillis2001.swing_duration').split(',')[0]}) and the share of the vertical ground reaction force on the\n"
          f"forelimbs, the hindlimbs and the rest of the body (a trotting rat: forelimbs {rat_fore:.2f}, hindlimbs {1 - rat_fore:.2f},\n"
          f"{cite('giszter2008.fore_load_share').split(',')[0]}). The body's build: where the hip and shoulder joints lie from the\n"
          "centre of mass along the heading, the forelimbs' share of the weight if each foot stood under its girdle, and where\n"
          "the feet actually press (contact points weighted by their normal force):")
    table(["command cm/s", "speed cm/s", "hind swing ms", "fore swing ms", "forelimb load", "hindlimb load",
           "rest load", "rat forelimb load", "hips from COM cm", "shoulders from COM cm", "forelimb load, feet under girdles",
           "hind feet press from COM cm", "forefeet press from COM cm"],
          [[round(r["speed"] * 100), round(r["v"] * 100, 1), _ms(r["hind_swing"]), _ms(r["fore_swing"]),
            round(r["fore_load"], 2), round(r["hind_load"], 2), round(r["rest_load"], 2), rat_fore,
            round(100 * r["girdles"]["hip_m"], 1), round(100 * r["girdles"]["shoulder_m"], 1),
            round(r["girdles"]["fore_share"], 2), round(100 * r["girdles"]["hind_feet_m"], 1),
            round(100 * r["girdles"]["forefeet_m"], 1)] for r in gait_rows])

    names = list(gait_rows[0]["servos"])
    print("What the limb servos deliver at each commanded speed (seed 0, after 2 s, left and right pooled): the joint's\n"
          "stroke over the stroke its control asks for (SD of the angle / SD of the target angle; '-' where the target\n"
          "barely moves) and the time its control sits at an end of its range (clipped):")
    table(["command cm/s", "speed cm/s", *[f"{n} stroke" for n in names], *[f"{n} control at range end" for n in names]],
          [[round(r["speed"] * 100), round(r["v"] * 100, 1),
            *["-" if np.isnan(r["servos"][n][0]) else round(r["servos"][n][0], 2) for n in names],
            *[f"{r['servos'][n][1]:.0%}" for n in names]] for r in gait_rows])

    print(f"Tracking within {TOLERANCE:.0%} over {args.seconds:g} s without falling ({args.seeds} seeded trials each; goal 90 %):")
    rows = []
    for v in SPEEDS_M_S:
        rs = [r for r in results if r["turn"] == 0.0 and r["speed"] == v]
        rows.append([f"forward {v * 100:.0f} cm/s", f"{100 * np.mean([_tracked(r) for r in rs]):.0f} %",
                     f"{100 * np.median([r['v'] for r in rs]):.1f} cm/s", f"{np.mean([r['fell'] for r in rs]):.0%}"])
    for sign in (1.0, -1.0):
        rs = [r for r in results if r["turn"] == sign * TURN_RAD_S]
        rows.append([f"turn {sign * 90:+.0f} deg/s at {TURN_SPEED_M_S * 100:.0f} cm/s",
                     f"{100 * np.mean([_tracked(r) for r in rs]):.0f} %",
                     f"{np.degrees(np.median([r['omega'] for r in rs])):+.0f} deg/s", f"{np.mean([r['fell'] for r in rs]):.0%}"])
    table(["command", "tracked", "median achieved", "fell"], rows)

    print(f"Changing commands: goal steering at 10 Hz, {args.seconds:g} s ({args.seeds} seeded trials each):")
    table(["command noise SD (action units)", "trials without a fall", "goals per minute (median)"],
          [[n, f"{100 * np.mean([not r['fell'] for r in steering if r['noise'] == n]):.0f} %",
            np.median([r["goals_per_min"] for r in steering if r["noise"] == n])] for n in STEERING_NOISE])

    print(f"Random commands, {RANDOM_COMMANDS_S:g} s ({args.seeds} seeded trials each):")
    rows = []
    for name, _, _ in RANDOM_COMMANDS:
        falls = [r["fell_at_s"] for r in random if r["name"] == name]
        fallen = [f for f in falls if f is not None]
        rows.append([name, f"{100 * np.mean([f is None for f in falls]):.0f} %",
                     f"{np.median(fallen):.1f}" if fallen else "-"])
    table(["commands", "trials without a fall", "median time of the falls s"], rows)

    from tasks.two_touch import ORB_HEIGHT_M, ORB_RADIUS_M

    print(f"Rearing (body.spinal.rear; a full rear held 2.5 s, {args.seeds} seeded trials each; two_touch's orb spans "
          f"{100 * (ORB_HEIGHT_M - ORB_RADIUS_M):.1f}-{100 * (ORB_HEIGHT_M + ORB_RADIUS_M):.1f} cm; medians):")
    rows = []
    for v in REAR_STARTS_M_S:
        rs = [r for r in rears if r["speed"] == v]
        rows.append(["standing" if v == 0 else f"walking {v * 100:.0f} cm/s", f"{np.mean([r['ok'] for r in rs]):.0%}",
                     f"{np.mean([r['fell'] for r in rs]):.0%}", round(np.median([r["paw_cm"] for r in rs]), 1),
                     _ms(np.median([r["rise_ms"] for r in rs]) / 1000), round(np.median([r["pitch_deg"] for r in rs])),
                     round(np.median([r["hind_load"] for r in rs]), 2), round(np.median([r["rest_load"] for r in rs]), 2),
                     round(np.median([r["fore_down"] for r in rs]), 2), round(np.median([r["drift_cm"] for r in rs]), 1)])
    table(["from", "rear and back", "fell", "forepaw held cm", "to orb edge ms", "torso pitch deg nose-up",
           "hindlimb load", "rest load", "forefeet down", "drift cm"], rows)

    minutes = TWO_TOUCH_S / 60
    print(f"two_touch through the rear channel: scripted rearer, {TWO_TOUCH_S:g} s episodes ({args.seeds} seeds; per minute, "
          "median [range]):")
    table(["first touches / min", "rewarded pairs / min", "second touch too soon", "no second touch", "episodes with a fall"],
          [[f"{np.median([t['first_touch'] for t in touches]) / minutes:.1f} "
            f"[{min(t['first_touch'] for t in touches) / minutes:.0f}-{max(t['first_touch'] for t in touches) / minutes:.0f}]",
            f"{np.median([t['reward'] for t in touches]) / minutes:.1f} "
            f"[{min(t['reward'] for t in touches) / minutes:.0f}-{max(t['reward'] for t in touches) / minutes:.0f}]",
            sum(t["too_soon"] for t in touches), sum(t["no_second_touch"] for t in touches),
            sum(t["fell"] for t in touches)]])

    print(f"Walls: open_field's box, a constant straight command for {WALL_S:g} s ({args.seeds} seeded starts each):")
    rows = []
    for v in WALL_SPEEDS_M_S:
        for stop in (True, False):
            rs = [r for r in walls if r["speed"] == v and r["wall_stop"] == stop]
            rows.append([f"{v * 100:.0f} cm/s", "on" if stop else "off", f"{np.mean([not r['fell'] for r in rs]):.0%}",
                         f"{np.mean([r['met_wall'] for r in rs]):.0%}",
                         f"{np.median([r['stopped'] for r in rs]):.0%}" if stop else "-"])
    table(["command", "wall stop", "trials without a fall", "met a wall", "time stopped at a wall (median)"], rows)

    layer_s, env_s = layer_cost(layer=layer)
    print("Cost of the layer (one process):")
    table(["layer step us", "open_field step with layer us", "layer / env step"],
          [[round(layer_s * 1e6), round(env_s * 1e6), f"{layer_s / env_s:.0%}"]])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    figure = out / ("gait" + ("" if rhythm == "command" else f"_{rhythm}")
                    + (f"_{Path(args.params).stem}" if args.params else "") + ".png")
    plot(gait_rows, figure)
    print(f"figure: {figure}")


if __name__ == "__main__":
    main()
