"""The spinal layer's test harness: the free rat driven by the layer under scripted commands.

`walk(model, commands, seconds)` -> `Walk` (per control step: position, heading, speed, foot contacts
at every physics step, the layer's phases and loads); command sources a test or benchmark feeds it
(`GoalSteering` like a forager, `RandomCommands` like an untrained policy, `steering_action`);
`load_shares` (how the weight is shared between the limb pairs and the rest of the body);
`spawn_standing`. Used by `tests/body/test_spinal.py`, `benchmarks/spinal.py` and the tuner.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from body.rat import rat_geom_mask, touches_world
from body.spinal.layer import Command, SpinalLayer, action_from_command, command_from_action, has_fallen, standing_controls


@dataclass
class Walk:
    """What happened when the layer drove the free rat: per control step, time-aligned. [T, ...]"""

    t_s: np.ndarray  # [T] time at the end of each control step
    position_m: np.ndarray  # [T, 2] torso x, y
    heading_rad: np.ndarray  # [T] torso yaw, unwrapped
    forward_speed_m_s: np.ndarray  # [T] torso velocity along its heading
    torso_height_m: np.ndarray  # [T] above the ground below it (`SpinalLayer.torso_height_m`)
    upright: np.ndarray  # [T] vertical component of the torso's z axis (1 = level)
    pitch_rad: np.ndarray  # [T] torso pitch (positive: nose down; a rear pitches it nose-up, negative)
    foot_down: np.ndarray  # [T, 4] bool, LF RF LH RH touching the ground (at the end of each control step)
    contact_t_s: np.ndarray  # [T x substeps] time at the end of every physics step
    contact_foot_down: np.ndarray  # [T x substeps, 4] bool, the feet's contacts after every physics step (duty factors)
    drive_m_s: np.ndarray  # [T] the regulator's drive
    phase: np.ndarray  # [T, 4] limb oscillator phases, cycles
    stance: np.ndarray  # [T, 4] bool, the pattern generator's stance (True) or swing for each limb
    vertical_load_n: np.ndarray  # [T, 5] vertical ground reaction force on LF, RF, LH, RH and the rest of the rat, N
    hand_height_m: np.ndarray  # [T] height of the higher forepaw (hand body) above the floor
    rear_level: np.ndarray  # [T] the layer's rearing level, 0-1
    fell_at_s: float | None  # first time the rat fell (`has_fallen`)

    def window(self, start_s: float) -> np.ndarray:
        """Boolean mask of the steps after `start_s`. [T]"""
        return self.t_s > start_s

    def mean_speed_m_s(self, start_s: float) -> float:
        """Mean forward speed of the torso along its own heading after `start_s`, m/s."""
        m = self.window(start_s)
        return float(np.mean(self.forward_speed_m_s[m]))

    def mean_turn_rad_s(self, start_s: float) -> float:
        m = np.flatnonzero(self.window(start_s))
        return float((self.heading_rad[m[-1]] - self.heading_rad[m[0]]) / (self.t_s[m[-1]] - self.t_s[m[0]]))


def load_shares(vertical_load_n: np.ndarray) -> dict:
    """How the body's weight is shared: the fractions of the mean vertical ground reaction force on the
    forelimbs, on the hindlimbs and on the rest of the body (belly, head, tail), as a force-plate
    runway measures it (Giszter et al. 2008: a trotting rat's hindlimbs bear ~80 % of its forelimbs'
    load, i.e. forelimbs ~0.56 of the total).

    vertical_load_n: [T, 5] vertical force (N) on LF, RF, LH, RH and the rest, sampled evenly.
    """
    load = np.asarray(vertical_load_n, float)
    if load.ndim != 2 or load.shape[1] != 5:
        raise ValueError(f"vertical_load_n must be [T, 5] (LF, RF, LH, RH, rest); got {load.shape}")
    mean = load.mean(axis=0)
    total = float(mean.sum())
    if total <= 0:
        return {"fore": float("nan"), "hind": float("nan"), "rest": float("nan")}
    return {"fore": float(mean[:2].sum() / total), "hind": float(mean[2:4].sum() / total), "rest": float(mean[4] / total)}


def steering_action(bearing_rad: float, cruise_m_s: float = 0.3, turn_gain: float = 2.0) -> np.ndarray:
    """A forager's command towards a target at `bearing_rad` (positive: left), as a circuit's action
    in [-1, 1]^2: turn at `turn_gain` x bearing (rad/s), walk at `cruise_m_s` x max(cos bearing, 0.2)."""
    return action_from_command(Command(cruise_m_s * max(np.cos(bearing_rad), 0.2), turn_gain * bearing_rad))


class GoalSteering:
    """Changing commands like a forager's: steer to a goal, then to the next (a test and tuning input).

    The same problem as open_field's food, without the walls: every `period_s` the command is
    recomputed from the goal's bearing from the head (skull) in the torso's heading frame
    (`steering_action`), plus Gaussian noise of SD `noise` in the circuit's action units (a policy's
    exploration noise). A goal is reached when the mouth (jaw) passes within `reach_m` of it
    horizontally (open_field's collection radius); the next is placed `distance_m` from the head in
    a seeded random direction. `goals_reached` counts them.
    """

    def __init__(self, seed: int, cruise_m_s: float = 0.3, turn_gain: float = 2.0, noise: float = 0.0,
                 period_s: float = 0.1, distance_m: tuple[float, float] = (0.25, 0.5), reach_m: float = 0.04):
        self.rng = np.random.default_rng(seed)
        self.cruise_m_s, self.turn_gain, self.noise = cruise_m_s, turn_gain, noise
        self.period_s, self.distance_m, self.reach_m = period_s, distance_m, reach_m
        self.goal = None
        self.goals_reached = 0
        self._next_t = 0.0
        self._command = Command()

    def _place(self, xy: np.ndarray) -> None:
        angle = self.rng.uniform(-np.pi, np.pi)
        self.goal = xy + self.rng.uniform(*self.distance_m) * np.array([np.cos(angle), np.sin(angle)])

    def __call__(self, t_s: float, data: mujoco.MjData) -> Command:
        if t_s + 1e-9 < self._next_t:
            return self._command
        self._next_t = t_s + self.period_s
        model = data.model
        head = data.xpos[model.body("skull").id, :2].copy()
        mouth = data.xpos[model.body("jaw").id, :2]
        rot = data.xmat[model.body("torso").id].reshape(3, 3)
        if self.goal is None:
            self._place(head)
        elif np.linalg.norm(self.goal - mouth) < self.reach_m:
            self.goals_reached += 1
            self._place(head)
        d = self.goal - head
        bearing = float(np.angle(complex(*d) / complex(rot[0, 0], rot[1, 0])))
        action = steering_action(bearing, self.cruise_m_s, self.turn_gain)
        action += self.noise * self.rng.standard_normal(2)
        self._command = command_from_action(action)
        return self._command


class RandomCommands:
    """Commands as an untrained policy sends them (a test and benchmark input).

    Every `hold_s` a new action: Gaussian of SD `noise_sd` in the circuit's action units around the
    action range's centre (40 cm/s straight; a PPO policy at its start, log SD -1 -> SD 0.37, at 10 Hz),
    or, with `noise_sd=None`, uniform over the whole range (the chance forager's, held 1 s).
    """

    def __init__(self, seed: int, noise_sd: float | None = 0.37, hold_s: float = 0.1):
        self.rng = np.random.default_rng(seed)
        self.noise_sd, self.hold_s = noise_sd, hold_s
        self._next_t = 0.0
        self._command = Command()

    def __call__(self, t_s: float, data: mujoco.MjData | None = None) -> Command:
        if t_s + 1e-9 >= self._next_t:
            self._next_t = t_s + self.hold_s
            action = (self.rng.uniform(-1.0, 1.0, 2) if self.noise_sd is None
                      else self.rng.normal(0.0, self.noise_sd, 2))
            self._command = command_from_action(action)
        return self._command


def spawn_standing(model: mujoco.MjModel, data: mujoco.MjData, ctrl: np.ndarray, yaw_rad: float = 0.0,
                   joint_noise_rad: float = 0.0, rng: np.random.Generator | None = None) -> None:
    """Place the free rat in its standing posture (servos at `ctrl`), feet just above the floor."""
    from body.rat import servo_targets

    mujoco.mj_resetData(model, data)
    qpos_idx, targets = servo_targets(model, ctrl)
    data.qpos[qpos_idx] = targets
    if joint_noise_rad > 0:
        data.qpos[qpos_idx] += (rng or np.random.default_rng()).normal(0.0, joint_noise_rad, size=len(qpos_idx))
    data.act[:] = ctrl[model.actuator_actadr >= 0]
    data.ctrl[:] = ctrl
    q = int(model.jnt_qposadr[model.joint("root").id])
    data.qpos[q + 3:q + 7] = (np.cos(yaw_rad / 2), 0.0, 0.0, np.sin(yaw_rad / 2))
    rat_geoms, z = rat_geom_mask(model), 0.0
    while True:
        data.qpos[q + 2] = z
        mujoco.mj_forward(model, data)
        if not touches_world(model, data, rat_geoms) or z > 0.3:
            break
        z += 0.002


def walk(model: mujoco.MjModel, commands, seconds: float, control_dt: float = 0.02,
         params: dict[str, np.ndarray] | None = None, gait: str = "auto", seed: int | None = None,
         joint_noise_rad: float = 0.02, stop_on_fall: bool = False, on_step=None, rhythm: str = "command",
         wall_stop: bool = True) -> Walk:
    """Drive the free rat (a model with a `root` free joint) with the layer for `seconds`.

    commands: a `Command`, or a function of (time s, MjData) returning one (e.g. steering to a goal). A seed randomises the initial
    heading and adds Gaussian noise (SD `joint_noise_rad`) to the initial joint angles; no seed
    starts heading +x without noise. `on_step(data)` is called after every physics step (rendering).
    """
    data = mujoco.MjData(model)
    layer = SpinalLayer(model, params, gait=gait, rhythm=rhythm, wall_stop=wall_stop)
    rng = np.random.default_rng(seed)
    yaw0 = float(rng.uniform(-np.pi, np.pi)) if seed is not None else 0.0
    spawn_standing(model, data, standing_controls(model, layer.params), yaw0,
                   joint_noise_rad if seed is not None else 0.0, rng)
    substeps = max(1, round(control_dt / model.opt.timestep))
    n = max(1, round(seconds / control_dt))
    cmd_at = commands if callable(commands) else (lambda t, d, c=commands: c)
    torso, q = model.body("torso").id, int(model.jnt_qposadr[model.joint("root").id])
    hands = [model.body(b).id for b in ("hand_L", "hand_R")]
    rec = {k: [] for k in ("t", "pos", "yaw", "v", "z", "up", "down", "drive", "phase", "stance", "load", "hand", "rear", "pitch")}
    contact_t, contact_down = [], []
    fell_at = None
    for _ in range(n):
        data.ctrl[:] = layer.step(cmd_at(float(data.time), data), data, control_dt)
        for _ in range(substeps):  # contacts every physics step: a 20 ms sample would quantise a duty factor by ~0.07
            mujoco.mj_step(model, data)
            contact_t.append(float(data.time))
            contact_down.append(layer.foot_contacts(data))
            if on_step is not None:
                on_step(data)
        forward, _, _, pitch = layer.body_motion(data)
        rot = data.xmat[torso].reshape(3, 3)
        rec["t"].append(float(data.time))
        rec["pos"].append(data.qpos[q:q + 2].copy())
        rec["yaw"].append(float(np.arctan2(rot[1, 0], rot[0, 0])))
        rec["v"].append(forward)
        height = layer.torso_height_m(data)
        rec["z"].append(height)
        rec["up"].append(float(rot[2, 2]))
        rec["pitch"].append(pitch)
        rec["down"].append(contact_down[-1])
        rec["drive"].append(layer.drive_m_s)
        rec["phase"].append(layer.phase.copy())
        rec["stance"].append(layer.in_stance.copy())
        rec["load"].append(layer.vertical_loads_n(data))
        rec["hand"].append(float(data.xpos[hands, 2].max()))
        rec["rear"].append(layer.rear_level)
        if fell_at is None and has_fallen(rot, height, layer.rear_level):
            fell_at = float(data.time)
            if stop_on_fall:
                break
    return Walk(t_s=np.array(rec["t"]), position_m=np.array(rec["pos"]), heading_rad=np.unwrap(np.array(rec["yaw"])),
                forward_speed_m_s=np.array(rec["v"]), torso_height_m=np.array(rec["z"]), upright=np.array(rec["up"]),
                pitch_rad=np.array(rec["pitch"]),
                foot_down=np.array(rec["down"]), contact_t_s=np.array(contact_t),
                contact_foot_down=np.array(contact_down).reshape(-1, 4), drive_m_s=np.array(rec["drive"]), phase=np.array(rec["phase"]), stance=np.array(rec["stance"]),
                vertical_load_n=np.array(rec["load"]).reshape(-1, 5), hand_height_m=np.array(rec["hand"]),
                rear_level=np.array(rec["rear"]), fell_at_s=fell_at)
