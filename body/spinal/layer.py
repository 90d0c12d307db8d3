"""A spinal locomotion layer: a few descending commands in, the rat's 38 servo controls out.

Real rats do not drive each muscle from cortex: brainstem and spinal circuits generate the gait and the
brain sends descending commands. With `body.build(..., spinal=True)` (config: `body.spinal.enabled=true`)
the body's action becomes such a command and this layer turns it into actuator controls:

- **Command**: forward speed (0 to `MAX_SPEED_M_S`), turning rate (+-`MAX_TURN_RAD_S`, +left) and optionally
  rearing (0-1, `body.spinal.rear=true`); a circuit's action in [-1, 1] maps onto them (`command_from_action`).
  Sharp turns at speed are slowed to `MAX_LATERAL_ACCEL_M_S2`, as rats slow into a turn.
- **Rhythm**: four coupled phase oscillators (LF, RF, LH, RH) pulled to the phase relations of the gait
  (`GAIT_PHASES`: lateral-sequence walk, trot, transverse gallop), set by the command (walk below the set's
  `walk_trot_m_s`, gallop from `TROT_GALLOP_M_S`, Gillis & Biewener 2001, unless pinned with `gait=`), stepping
  at the rat's step cycle for that speed (Gorska et al. 1999); the stance fraction falls with speed.
- **Pattern**: each limb joint's target is offset + stride gain x sweep x stride scale + lift gain x lift.
- **The gallop's own terms** (`GALLOP_GROUPS`, spine strokes phase-locked to the leading hindlimb) and the
  **running terms** (`RUN_GROUPS`: a shorter hind stance with a hindquarter height reflex, faded in from
  `RUN_FROM_M_S` to `RUN_FULL_M_S`); zero in parameter sets written before them (the layer as it was, to the bit).
- **Feedback**: touch-down switches swing to stance; torso roll and pitch right the body; a brainstem speed
  regulator corrects the stride length (PI, not the rhythm) and a yaw regulator the turn; the inner limbs
  shorten their strides (or step back: a pivot) and the spine bends into a turn.
- **Wall stop** (`wall_stop`, on by default): forward locomotion stops while the snout or a forepaw touches
  something steeper than `WALL_MAX_NORMAL_Z` allows, and for `WALL_STOP_HOLD_S` after (rats stop when their
  whiskers meet a wall; the model has none, so snout and forepaws stand in).
- **Posture (rearing)**: the rear level stops locomotion in proportion and blends every target towards a tuned
  rearing posture (hindlimbs and spine first, `REAR_FORE_LAG`, then the forelimbs) with a pitch balance reflex;
  at 1 the forepaws reach two_touch's orb height, at 0 the layer is the gait layer to the bit.

All gains and the pattern are tuned once by an evolution strategy (`python -m benchmarks.tune_spinal`) and
ship as `params/<rhythm>.json` beside this file; `body.spinal.params` selects another set (`resolve_params`)
and a run's config stores the values it used. Nothing here is random. How each part works in detail:
docs/spinal.md; what it measures: docs/results/spinal.md; how it was tuned: docs/notebook/spinal.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

from body.rat import rat_geom_mask

LIMBS = ("LF", "RF", "LH", "RH")
# Limb phase offsets in cycles, order LF RF LH RH; the phase's stance starts at 0 (touch-down).
GAIT_PHASES = {
    "walk": (0.25, 0.75, 0.0, 0.5),  # lateral-sequence walk: LH, LF, RH, RF a quarter cycle apart
    "trot": (0.0, 0.5, 0.5, 0.0),  # diagonal pairs together, pairs half a cycle apart
    "gallop": (0.5, 0.6, 0.0, 0.1),  # transverse gallop: hindlimbs then forelimbs, each pair split
}
GAITS = ("auto", *GAIT_PHASES)
# What sets the rhythm: the descending command (the rat's step cycle at the commanded speed; the
# regulator sets the stride length) or the speed regulator's drive (an earlier, more agile layer whose
# steps come faster than the rat's). Each has its own tuned parameter file.
RHYTHMS = ("command", "drive")
# The walk gives way to the trot at this locomotor drive (`walk_trot_m_s` in a parameter set). Gorska et al. 1999
# found rats stepping in diagonal couplets (diagonal limbs nearly together) at every speed they measured, from
# 10 cm/s; the layer's lateral-sequence walk keeps its forelimbs down over half the cycle only below ~12 cm/s.
WALK_TROT_M_S = 0.12
WALK_TROT_BEFORE_M_S = 0.25  # parameter sets written before the threshold was theirs walk up to here
TROT_GALLOP_M_S = 0.65  # Gillis & Biewener 2001: rats gallop from 0.60-0.75 m/s
COUPLING_PER_S = 6.0
MAX_SPEED_M_S = 0.8
MAX_TURN_RAD_S = np.pi  # 180 deg/s
MAX_LATERAL_ACCEL_M_S2 = 0.3  # speed x turning rate the command rhythm allows (e.g. 90 deg/s at <= 19 cm/s)
MAX_DRIVE_M_S = 1.2  # the speed regulator's ceiling
MAX_STRIDE_SCALE = 1.8  # longest stride, x REFERENCE_STRIDE_M (the rat's longest is ~17 cm, Gorska 1999)
RHYTHM_FILTER_S = 0.05  # the locomotor drive follows the command within a few control steps
INNER_STRIDE_FLOOR = -1.0  # in a tight turn the inner limbs may step backwards (pivot) rather than stand
TURN_STEP_RADIUS_M = 0.1  # turning in place steps like walking at this radius x the turning rate
SPEED_FILTER_S = 0.25  # about one stride at a walk
REAR_FILTER_S = 0.15  # the posture follows the rear command within ~0.3-0.5 s (rise to a full rear)
REAR_ACTION_SIZE = 3  # speed, turn, rear
REAR_FORE_LAG = 0.5  # rising, the hindlimbs and spine reach the rearing posture by this rear level, then the forelimbs lift
# Gorska et al. 1999, step cycle 0.685 s at 0.10 m/s and 0.215 s at 0.78 m/s: frequency linear in speed.
_F_AT_SLOW_HZ, _F_AT_FAST_HZ, _V_SLOW, _V_FAST = 1 / 0.685, 1 / 0.215, 0.10, 0.78
STRIDE_FREQ_SLOPE_HZ_PER_M_S = (_F_AT_FAST_HZ - _F_AT_SLOW_HZ) / (_V_FAST - _V_SLOW)
STRIDE_FREQ_AT_REST_HZ = _F_AT_SLOW_HZ - STRIDE_FREQ_SLOPE_HZ_PER_M_S * _V_SLOW
REFERENCE_STRIDE_M = 0.12
LAYER_PERIOD_S = 0.02  # the layer updates every 20 ms, however slowly the brain sends commands
WALL_STOP_HOLD_S = 0.3  # forward locomotion stays stopped this long after the last touch of a wall
WALL_MAX_NORMAL_Z = 0.5  # a contact whose normal is within 30 deg of horizontal is a wall (steeper than 60 deg)
WALL_TOUCH_BODIES = ("skull", "jaw", "hand_L", "hand_R", "finger_L", "finger_R", "lower_arm_L", "lower_arm_R")


def spinal_period_s(control_dt: float, physics_dt: float) -> float:
    """The layer's update period for a control step: 20 ms, or the control step if that is shorter;
    a whole number of physics steps that divides the control step."""
    period = min(LAYER_PERIOD_S, control_dt)
    per_control = control_dt / period
    if abs(per_control - round(per_control)) > 1e-6 or abs(period / physics_dt - round(period / physics_dt)) > 1e-6:
        raise ValueError(f"with the spinal layer, control_dt ({control_dt} s) must be a whole multiple of "
                         f"{LAYER_PERIOD_S} s (or shorter), in whole physics steps of {physics_dt} s")
    return period

HIND_JOINTS = ("hip_{s}_extend", "knee_{s}", "ankle_{s}", "toe_{s}", "hip_{s}_abduct", "hip_{s}_supinate")
FORE_JOINTS = ("shoulder_{s}", "elbow_{s}", "wrist_{s}", "finger_{s}", "scapula_{s}_extend", "scapula_{s}_abduct",
               "scapula_{s}_supinate", "shoulder_sup_{s}")
SPINE_JOINTS = ("lumbar_extend", "cervical_extend", "atlas")
# Bodies whose contact with anything outside the rat counts as that limb's foot being down.
FOOT_BODIES = {"LF": ("hand_L", "finger_L"), "RF": ("hand_R", "finger_R"),
               "LH": ("foot_L", "toe_L"), "RH": ("foot_R", "toe_R")}
PARAMS_DIR = Path(__file__).with_name("params")
PARAMS_PATHS = {rhythm: PARAMS_DIR / f"{rhythm}.json" for rhythm in RHYTHMS}  # the shipped set per rhythm

# Tunable parameters: name -> size (all in servo control units unless named otherwise).
PARAM_SIZES = {
    "hind_offset": len(HIND_JOINTS), "hind_stride": len(HIND_JOINTS), "hind_lift": len(HIND_JOINTS),
    "fore_offset": len(FORE_JOINTS), "fore_stride": len(FORE_JOINTS), "fore_lift": len(FORE_JOINTS),
    "spine_offset": len(SPINE_JOINTS),
    "roll_gain": 2,  # abduction per rad of torso roll: hind, fore
    "pitch_gain": 2,  # extension per rad of torso pitch: hind (hip), fore (shoulder)
    "turn_stride": 1,  # stride-scale difference between sides per unit turn drive
    "turn_bend": 1,  # lumbar and cervical bend per unit turn drive
    "speed_pi": 2,  # speed regulator: proportional (1), integral (1/s)
    "turn_pi": 2,  # yaw regulator: proportional (1), integral (1/s)
    "touchdown_reset": 1,  # fraction of the remaining swing skipped when the foot lands early
    "duty_factor": 2,  # stance fraction of the cycle at 0.1 m/s and at 0.8 m/s
    "walk_trot_m_s": 1,  # the locomotor drive (m/s) from which the rhythm trots instead of walking (not tuned)
    # The rearing posture (the rear command's targets) and its balance reflex.
    "rear_hind_offset": len(HIND_JOINTS), "rear_fore_offset": len(FORE_JOINTS), "rear_spine_offset": len(SPINE_JOINTS),
    "rear_pitch_rad": 1,  # the torso pitch the balance reflex holds in a full rear (negative: nose up)
    "rear_pitch_gain": 2,  # hip extension and ankle per rad of pitch away from it
    # The gallop's own terms, added to the pattern above only while the rhythm is a gallop; all zero is the
    # pattern as it was (the same pattern at every gait).
    "gallop_lumbar": 2,  # lumbar extension stroke: amplitude (control units), phase (cycles after LH touch-down)
    "gallop_cervical": 2,  # neck extension stroke: amplitude, phase (cycles after LH touch-down)
    "gallop_duty": 1,  # change of the stance fraction
    "gallop_stride": 2,  # relative change of the stride gains: hind, fore
    "gallop_hind_offset": len(HIND_JOINTS), "gallop_fore_offset": len(FORE_JOINTS),  # changes of the joint offsets
    # Running (faded in from RUN_FROM_M_S to RUN_FULL_M_S of the locomotor drive, trot and gallop alike): the
    # hindlimbs' stance fraction changes, and a hindquarter height reflex holds the pelvis up through the shorter
    # stance. All zero is the layer as it was.
    "run_hind_duty": 1,  # change of the hindlimbs' stance fraction
    "run_height_m": 1,  # the pelvis height above the hind feet's ground that the reflex holds (m)
    "run_sag_gain": 4,  # hip_extend, knee, ankle, toe target change of a hindlimb in stance per m of pelvis sag
}
# The rear channel's groups: parameter sets written before it existed take them from the shipped set.
REAR_GROUPS = tuple(k for k in PARAM_SIZES if k.startswith("rear_"))
# The gallop's groups: parameter sets written before they existed take zeros (their gallop as it was).
GALLOP_GROUPS = tuple(k for k in PARAM_SIZES if k.startswith("gallop_"))
# The running terms' groups: parameter sets written before they existed take zeros (the layer as it was).
RUN_GROUPS = tuple(k for k in PARAM_SIZES if k.startswith("run_"))
RUN_FROM_M_S, RUN_FULL_M_S = 0.3, 0.5  # the running terms fade in over this range of the locomotor drive
MAX_SAG_M = 0.03  # the height reflex saturates at this sag (or rise) of the pelvis


def _clamp(x: float, lo: float, hi: float) -> float:
    return float(min(max(x, lo), hi))


def stride_frequency_hz(speed_m_s):
    """The rat's stride frequency at a speed (Gorska et al. 1999 step cycle line)."""
    return STRIDE_FREQ_AT_REST_HZ + STRIDE_FREQ_SLOPE_HZ_PER_M_S * np.maximum(speed_m_s, 0.0)


def gait_for_speed(speed_m_s: float, walk_trot_m_s: float = WALK_TROT_M_S) -> str:
    """The gait for a locomotor drive: walk below `walk_trot_m_s`, trot, gallop from `TROT_GALLOP_M_S`."""
    if speed_m_s < walk_trot_m_s:
        return "walk"
    return "trot" if speed_m_s < TROT_GALLOP_M_S else "gallop"


def default_params(rhythm: str = "command") -> dict[str, np.ndarray]:
    """The shipped, tuned parameters for a rhythm source (or the untuned start when none ship)."""
    path = PARAMS_PATHS[rhythm]
    return load_params(path) if path.exists() else untuned_params()


def resolve_params(spec, rhythm: str = "command") -> dict[str, np.ndarray]:
    """The layer's parameters from a config value: None (the shipped set for `rhythm`), a path to a
    parameter JSON (as `benchmarks.tune_spinal` writes), or a mapping of every parameter name to its values.

    Training runs store the resolved mapping in their config, so a checkpoint drives its rat with
    the exact layer it was trained through even after the shipped set is re-tuned.
    """
    if spec is None:
        return default_params(rhythm)
    if isinstance(spec, (str, Path)):
        if not Path(spec).is_file():
            raise ValueError(f"spinal.params: no parameter file at {spec} (give null for the shipped set, a JSON "
                             f"file written by benchmarks.tune_spinal, or a mapping of {len(PARAM_SIZES)} parameters)")
        return load_params(spec)
    if not hasattr(spec, "keys"):
        raise ValueError(f"spinal.params must be null, a file path or a mapping of parameters; got {type(spec).__name__}")
    try:
        return _params_from_mapping(spec)
    except ValueError as exc:
        raise ValueError(f"spinal.params: {exc}") from None


@dataclass(frozen=True)
class SpinalOptions:
    """The spinal layer's options: the config group `body.spinal` (`enabled` picks whether there is a layer).

    gait: ``auto`` (walk, trot, gallop by speed) or one pinned gait (`GAITS`).
    rhythm: what sets the step rhythm: ``command`` (the rat's step cycle at the commanded speed) or
        ``drive`` (the speed regulator's output: an earlier, more agile layer stepping 25-35 % faster).
    params: the layer's parameters, resolved (`resolve_params`).
    rear: the posture channel: a third command entry, rearing (0 to 1; <= 0 stays on all fours).
    wall_stop: forward locomotion stops while the snout or a forepaw touches a wall (and 0.3 s after).
    """

    params: dict
    gait: str = "auto"
    rhythm: str = "command"
    rear: bool = False
    wall_stop: bool = True

    @property
    def action_size(self) -> int:
        """Entries of the descending command: speed, turn (and rear)."""
        return REAR_ACTION_SIZE if self.rear else 2

    def as_config(self) -> dict:
        """The options as the config group holds them, parameters frozen to their values (a run stores
        this, so its checkpoint drives the rat through the very layer it trained through)."""
        return {"enabled": True, "gait": self.gait, "rhythm": self.rhythm, "params": params_as_lists(self.params),
                "rear": self.rear, "wall_stop": self.wall_stop}


OPTION_KEYS = ("enabled", "gait", "rhythm", "params", "rear", "wall_stop")


def spinal_options(spec) -> SpinalOptions | None:
    """The layer's options from the config group `body.spinal` (a mapping with `OPTION_KEYS`), from
    `True` (every default) or from `None` / `False` (no layer: the brain drives the servos)."""
    if isinstance(spec, SpinalOptions):
        return spec
    if spec is None or spec is False:
        return None
    if spec is True:
        spec = {"enabled": True}
    if not hasattr(spec, "keys"):
        raise ValueError(f"body.spinal must be a mapping of {', '.join(OPTION_KEYS)} (or true/false); got {spec!r}")
    spec = dict(spec)
    unknown = sorted(set(spec) - set(OPTION_KEYS))
    if unknown:
        raise ValueError(f"unknown body.spinal option(s) {', '.join(unknown)}; valid: {', '.join(OPTION_KEYS)}")
    gait, rhythm = spec.get("gait", "auto"), spec.get("rhythm", "command")
    if gait not in GAITS:
        raise ValueError(f"unknown body.spinal.gait {gait!r}; valid: {', '.join(GAITS)}")
    if rhythm not in RHYTHMS:
        raise ValueError(f"unknown body.spinal.rhythm {rhythm!r}; valid: {', '.join(RHYTHMS)}")
    for key in ("enabled", "rear", "wall_stop"):
        if key in spec and not isinstance(spec[key], bool):
            raise ValueError(f"body.spinal.{key} must be true or false, got {spec[key]!r}")
    if not spec.get("enabled", True):
        if spec.get("params") is not None:
            raise ValueError("body.spinal.params is set but the spinal layer is off (set body.spinal.enabled=true, "
                             "or body.spinal.params=null)")
        if spec.get("rear"):
            raise ValueError("body.spinal.rear=true needs the spinal layer (set body.spinal.enabled=true, or "
                             "body.spinal.rear=false)")
        return None
    return SpinalOptions(params=resolve_params(spec.get("params"), rhythm), gait=gait, rhythm=rhythm,
                         rear=bool(spec.get("rear", False)), wall_stop=bool(spec.get("wall_stop", True)))


def params_as_lists(params: dict[str, np.ndarray]) -> dict[str, list[float]]:
    """A parameter set as plain lists (for a config or JSON file)."""
    return {k: np.asarray(params[k], np.float64).reshape(-1).tolist() for k in PARAM_SIZES}


def untuned_params() -> dict[str, np.ndarray]:
    """Where tuning starts: every offset and gain zero (servos at rest), regulators at 0.5."""
    p = {k: np.zeros(n) for k, n in PARAM_SIZES.items()}
    p["duty_factor"][:] = (0.68, 0.38)
    p["walk_trot_m_s"][:] = WALK_TROT_M_S
    p["speed_pi"][:] = (0.5, 0.5)
    p["turn_pi"][:] = (0.5, 0.5)
    return p


def load_params(path: str | Path) -> dict[str, np.ndarray]:
    """A parameter file as `benchmarks.tune_spinal` writes it (its "params" mapping)."""
    try:
        return _params_from_mapping(json.loads(Path(path).read_text())["params"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"spinal parameter file {path}: {exc}") from None


def _params_from_mapping(spec) -> dict[str, np.ndarray]:
    spec = dict(spec)
    if not any(k in spec for k in REAR_GROUPS):  # written before the rear channel: the shipped rearing posture
        shipped = json.loads(PARAMS_PATHS["command"].read_text())["params"]
        spec.update({k: shipped[k] for k in REAR_GROUPS if k in shipped})
    if "walk_trot_m_s" not in spec:  # written before the threshold was a parameter: the layer as it was
        spec["walk_trot_m_s"] = [WALK_TROT_BEFORE_M_S]
    for groups in (GALLOP_GROUPS, RUN_GROUPS):  # written before these terms: the layer as it was
        if not any(k in spec for k in groups):
            spec.update({k: np.zeros(PARAM_SIZES[k]) for k in groups})
    missing, unknown = sorted(set(PARAM_SIZES) - set(spec)), sorted(set(spec) - set(PARAM_SIZES))
    if missing or unknown:
        raise ValueError(f"missing {missing or 'none'}, unknown {unknown or 'none'}; valid: {', '.join(PARAM_SIZES)}")
    out = {}
    for k, n in PARAM_SIZES.items():
        v = np.asarray(spec[k], dtype=np.float64).reshape(-1)
        if v.size != n or not np.isfinite(v).all():
            raise ValueError(f"{k} needs {n} finite values, got {v.size}")
        out[k] = v
    if not 0.0 <= out["walk_trot_m_s"][0] < TROT_GALLOP_M_S:
        raise ValueError(f"walk_trot_m_s must be in [0, {TROT_GALLOP_M_S}) m/s (below the gallop), "
                         f"got {out['walk_trot_m_s'][0]}")
    return out


def params_to_vector(params: dict[str, np.ndarray]) -> np.ndarray:
    return np.concatenate([np.asarray(params[k], np.float64).reshape(-1) for k in PARAM_SIZES])


def params_from_vector(vector: np.ndarray) -> dict[str, np.ndarray]:
    out, i = {}, 0
    for k, n in PARAM_SIZES.items():
        out[k] = np.asarray(vector[i:i + n], np.float64).copy()
        i += n
    return out


@dataclass
class Command:
    """A descending command: forward speed (m/s), turning rate (rad/s, positive = left) and rearing
    (0 = on all fours, 1 = a full rear)."""

    speed_m_s: float = 0.0
    turn_rad_s: float = 0.0
    rear: float = 0.0


def command_from_action(action: np.ndarray) -> Command:
    """A circuit's action in [-1, 1]^2 -> speed in [0, MAX_SPEED_M_S], turn in +-MAX_TURN_RAD_S; a third
    entry (the rear channel) -> rear = max(entry, 0): zero or below stays on all fours."""
    a = np.asarray(action, dtype=np.float64)
    if not np.isfinite(a).all():
        raise ValueError(f"non-finite descending command {a.tolist()}: a diverged controller's output is not a command")
    a = np.clip(a, -1.0, 1.0)
    rear = float(max(a[2], 0.0)) if a.shape[0] >= REAR_ACTION_SIZE else 0.0
    return Command(speed_m_s=float((a[0] + 1.0) * 0.5 * MAX_SPEED_M_S), turn_rad_s=float(a[1] * MAX_TURN_RAD_S),
                   rear=rear)


def action_from_command(command: Command, rear_channel: bool = False) -> np.ndarray:
    """The circuit's action that asks for `command` (the inverse of `command_from_action`, clipped to
    [-1, 1]); with `rear_channel` the third entry is the rear level. [2] or [3]"""
    action = [command.speed_m_s / (0.5 * MAX_SPEED_M_S) - 1.0, command.turn_rad_s / MAX_TURN_RAD_S]
    return np.clip(np.array(action + ([command.rear] if rear_channel else [])), -1.0, 1.0)


def foot_geom_limbs(model: mujoco.MjModel) -> np.ndarray:
    """Which limb (index into LIMBS) each geom is a foot of (`FOOT_BODIES`); -1: none. [ngeom]"""
    foot_limb = np.full(model.ngeom, -1)
    for limb_i, limb in enumerate(LIMBS):
        for b in FOOT_BODIES[limb]:
            foot_limb[model.geom_bodyid == model.body(b).id] = limb_i
    return foot_limb


class SpinalLayer:
    """Pattern generator + reflexes for one rat in one `MjData` (see the module docstring).

    `step(command, dt)` advances the oscillators by one control step and returns the 38 controls.
    Per-episode state: limb phases, the command being followed, the locomotor drive, the filtered
    speed and yaw rate, the regulators' integrals.
    """

    ACTION_SIZE = 2

    def __init__(self, model: mujoco.MjModel, params: dict[str, np.ndarray] | None = None, gait: str = "auto",
                 rhythm: str = "command", wall_stop: bool = True):
        if gait not in GAITS:
            raise ValueError(f"unknown gait {gait!r}; valid: {', '.join(GAITS)}")
        if rhythm not in RHYTHMS:
            raise ValueError(f"unknown spinal rhythm {rhythm!r}; valid: {', '.join(RHYTHMS)}")
        self.rhythm = rhythm
        self.wall_stop = bool(wall_stop)
        try:
            self._root_qvel = int(model.jnt_dofadr[model.joint("root").id])
        except KeyError:
            raise ValueError("the spinal layer needs the free-moving rat (body variant 'free')") from None
        self.model = model
        self.gait = gait
        self._torso = model.body("torso").id
        act = {model.actuator(i).name: i for i in range(model.nu)}
        entries = []  # (actuator, limb index, joint slot, is_fore)
        for limb_i, limb in enumerate(LIMBS):
            side, fore = limb[0], limb[1] == "F"
            for slot, name in enumerate(FORE_JOINTS if fore else HIND_JOINTS):
                entries.append((act[name.format(s=side)], limb_i, slot, fore))
        self._act = np.array([e[0] for e in entries])  # [28] actuator indices of the limb joints
        self._limb = np.array([e[1] for e in entries])  # [28] which limb
        self._slot = np.array([e[2] for e in entries])
        self._fore = np.array([e[3] for e in entries])
        self._left = np.array([LIMBS[e[1]][0] == "L" for e in entries])
        names = [(FORE_JOINTS if e[3] else HIND_JOINTS)[e[2]] for e in entries]
        self._is_abduct = np.array(["abduct" in n for n in names])
        self._is_extend = np.array([n in ("hip_{s}_extend", "shoulder_{s}") for n in names])
        self._is_hip = np.array([n == "hip_{s}_extend" for n in names])
        self._is_ankle = np.array([n == "ankle_{s}" for n in names])
        self._spine = np.array([act[n] for n in SPINE_JOINTS])
        self._pelvis = model.body("pelvis").id
        self._bend = np.array([act["lumbar_bend"], act["cervical_bend"]])
        self._limb_left = np.array([limb[0] == "L" for limb in LIMBS])
        self._geom_limb = foot_geom_limbs(model)  # which limb's foot each geom is (-1: none)
        self._geom_is_rat = rat_geom_mask(model)
        self._geom_touches_wall = np.isin(model.geom_bodyid, [model.body(b).id for b in WALL_TOUCH_BODIES])
        # Ground: a fixed geom of the world that collides (a floor, a slope, a wall, a platform), not a food pellet, a
        # marker or a prop that moves (an orb the rat touches is not ground to fall onto).
        self._geom_is_ground = ((model.geom_bodyid == 0) & ~self._geom_is_rat
                                & ((model.geom_contype != 0) | (model.geom_conaffinity != 0)))
        self.set_params(params if params is not None else default_params(rhythm))
        self.reset()

    def set_params(self, params: dict[str, np.ndarray]) -> None:
        p = {k: np.asarray(v, np.float64) for k, v in params.items()}
        self.params = p
        fore, slot = self._fore, self._slot
        self._offset = np.where(fore, p["fore_offset"][np.minimum(slot, len(FORE_JOINTS) - 1)],
                                p["hind_offset"][np.minimum(slot, len(HIND_JOINTS) - 1)])
        self._stride = np.where(fore, p["fore_stride"][np.minimum(slot, len(FORE_JOINTS) - 1)],
                                p["hind_stride"][np.minimum(slot, len(HIND_JOINTS) - 1)])
        self._lift = np.where(fore, p["fore_lift"][np.minimum(slot, len(FORE_JOINTS) - 1)],
                              p["hind_lift"][np.minimum(slot, len(HIND_JOINTS) - 1)])
        # Roll (positive: right side down) pushes the lower side's limbs outwards: sign by side.
        side_sign = np.where(self._left, 1.0, -1.0)
        self._roll = self._is_abduct * side_sign * np.where(fore, p["roll_gain"][1], p["roll_gain"][0])
        self._pitch = self._is_extend * np.where(fore, p["pitch_gain"][1], p["pitch_gain"][0])
        self._rear_offset = np.where(fore, p["rear_fore_offset"][np.minimum(slot, len(FORE_JOINTS) - 1)],
                                     p["rear_hind_offset"][np.minimum(slot, len(HIND_JOINTS) - 1)])
        self._rear_pitch = self._is_hip * p["rear_pitch_gain"][0] + self._is_ankle * p["rear_pitch_gain"][1]
        # The gallop: offsets and stride gains as changes of the pattern's. [28]
        self._gallop_offset = np.where(fore, p["gallop_fore_offset"][np.minimum(slot, len(FORE_JOINTS) - 1)],
                                       p["gallop_hind_offset"][np.minimum(slot, len(HIND_JOINTS) - 1)])
        self._gallop_stride = self._stride * np.where(fore, p["gallop_stride"][1], p["gallop_stride"][0])
        # The hindquarter height reflex: hip_extend, knee, ankle and toe of the hindlimbs (HIND_JOINTS' first four). [28]
        self._sag_gain = np.where(~fore & (slot < 4), p["run_sag_gain"][np.minimum(slot, 3)], 0.0)
        self._running_terms = bool(p["run_hind_duty"].any() or self._sag_gain.any())
        # Regulators correct towards the command: their gains are magnitudes (a sign flip would
        # make a regulator push away from the command).
        self._speed_pi = np.abs(p["speed_pi"])
        self._turn_pi = np.abs(p["turn_pi"])

    # ------------------------------------------------------------------------------ state
    def reset(self) -> None:
        gait = "walk" if self.gait == "auto" else self.gait
        self.phase = np.array(GAIT_PHASES[gait], dtype=np.float64)  # [4] cycles in [0, 1)
        self.speed_m_s = 0.0  # filtered forward speed of the torso
        self.yaw_rate_rad_s = 0.0
        self._speed_integral = 0.0
        self._turn_integral = 0.0
        self.drive_m_s = 0.0  # the speed regulator's output (sets the stride length)
        self.rhythm_m_s = 0.0  # the locomotor drive that sets the rhythm (filtered command)
        self.rear_level = 0.0  # how far into the rearing posture, 0-1 (the filtered rear command)
        self.command = Command()  # the command the layer is following (slowed in sharp turns)
        self.current_gait = gait
        self.in_stance = np.zeros(4, dtype=bool)
        self.wall_stop_s = 0.0  # time left of the wall stop (0: not stopped)
        self.hind_ground_z_m = None  # height of the ground under the hind feet, where they last touched it
        self.running_level = 0.0  # how far the running terms are faded in, 0-1 (from the locomotor drive)

    def touching_wall(self, data: mujoco.MjData) -> bool:
        """Does the snout or a forepaw (`WALL_TOUCH_BODIES`) touch something outside the rat steeper than the
        floor (a wall)?"""
        n = data.ncon
        if not n:
            return False
        g = data.contact.geom[:n]  # [ncon, 2]
        steep = np.abs(data.contact.frame[:n, 2]) < WALL_MAX_NORMAL_Z  # the normal's vertical component [ncon]
        return bool(((self._geom_touches_wall[g[:, 0]] & ~self._geom_is_rat[g[:, 1]])
                     | (self._geom_touches_wall[g[:, 1]] & ~self._geom_is_rat[g[:, 0]]))[steep].any())

    def torso_height_m(self, data: mujoco.MjData) -> float:
        """Height of the torso above the ground straight below it (the world's fixed colliding geoms: the floor, a
        bowl's slope, a platform), m; its height above z = 0 when no ground lies below."""
        start = data.xpos[self._torso].copy()  # [3]
        down = np.array([0.0, 0.0, -1.0])
        geom = np.zeros(1, np.int32)
        travelled = 0.0
        for _ in range(64):  # through the rat's own geoms and non-colliding ones below the torso
            d = mujoco.mj_ray(self.model, data, start, down, None, 1, -1, geom)
            if d < 0:
                break
            if self._geom_is_ground[geom[0]]:
                return travelled + d
            travelled += d + 1e-6
            start[2] -= d + 1e-6
        return float(data.xpos[self._torso, 2])

    def fallen(self, data: mujoco.MjData) -> bool:
        """Has the rat fallen (`has_fallen`, with the torso's height above the ground below it and the
        layer's rear level)?"""
        return has_fallen(data.xmat[self._torso].reshape(3, 3), self.torso_height_m(data), self.rear_level)

    def foot_contacts(self, data: mujoco.MjData) -> np.ndarray:
        """Which feet (LF, RF, LH, RH) touch anything that is not the rat. bool [4]"""
        return self._foot_contacts(data)[0]

    def _foot_contacts(self, data: mujoco.MjData, hind_ground: bool = False) -> tuple[np.ndarray, float | None]:
        """(which feet touch anything that is not the rat, bool [4]; with `hind_ground`, the mean height of the hind
        feet's contact points, m, or None when no hind foot is down or without it)."""
        down = np.zeros(4, dtype=bool)
        n = data.ncon
        hind_z = None
        if n:
            g = data.contact.geom[:n]  # [ncon, 2]
            hind = np.zeros(n, dtype=bool)
            for a, b in ((0, 1), (1, 0)):
                limb = self._geom_limb[g[:, a]]
                hit = (limb >= 0) & ~self._geom_is_rat[g[:, b]]
                down[limb[hit]] = True
                hind |= hit & (limb >= 2)
            if hind_ground and hind.any():
                hind_z = float(data.contact.pos[:n][hind, 2].mean())
        return down, hind_z

    def vertical_loads_n(self, data: mujoco.MjData) -> np.ndarray:
        """Vertical ground reaction force (N) on each foot (LF, RF, LH, RH) and on the rest of the rat
        (belly, head, tail...), from every contact with something that is not the rat. [5]"""
        loads = np.zeros(5)
        force = np.zeros(6)
        for i in range(data.ncon):
            g = data.contact.geom[i]
            rat_a, rat_b = self._geom_is_rat[g[0]], self._geom_is_rat[g[1]]
            if rat_a == rat_b:  # the rat touching itself, or two world geoms
                continue
            mujoco.mj_contactForce(self.model, data, i, force)
            # the contact frame's rows are its normal and tangents (world); force is in that frame and
            # acts on the second geom, so flip it when the rat is the first.
            fz = float(data.contact.frame[i].reshape(3, 3)[:, 2] @ force[:3])
            limb = self._geom_limb[g[0] if rat_a else g[1]]
            loads[limb if limb >= 0 else 4] += fz if rat_b else -fz
        return loads

    def body_motion(self, data: mujoco.MjData) -> tuple[float, float, float, float]:
        """(forward speed m/s, yaw rate rad/s, roll rad, pitch rad) of the torso."""
        rot = data.xmat[self._torso].reshape(3, 3)
        heading = rot[:2, 0]
        norm = float(np.hypot(*heading)) or 1.0
        v = data.qvel[self._root_qvel:self._root_qvel + 3]
        forward = float(v[0] * heading[0] + v[1] * heading[1]) / norm
        omega_world = rot @ data.qvel[self._root_qvel + 3:self._root_qvel + 6]
        roll = float(np.arctan2(rot[2, 1], rot[2, 2]))  # positive: right side down
        pitch = float(np.arcsin(_clamp(-rot[2, 0], -1.0, 1.0)))  # positive: nose down
        return forward, float(omega_world[2]), roll, pitch

    # ------------------------------------------------------------------------------- step
    def step(self, command: Command, data: mujoco.MjData, dt: float) -> np.ndarray:
        """Advance one control step of `dt` seconds; the 38 controls in [-1, 1]."""
        p = self.params
        forward, yaw_rate, roll, pitch = self.body_motion(data)
        alpha = dt / (SPEED_FILTER_S + dt)
        self.speed_m_s += alpha * (forward - self.speed_m_s)
        self.yaw_rate_rad_s += alpha * (yaw_rate - self.yaw_rate_rad_s)
        # A rear stops locomotion in proportion: the rat does not walk while it rears.
        rear = _clamp(command.rear, 0.0, 1.0)
        self.rear_level += dt / (REAR_FILTER_S + dt) * (rear - self.rear_level)
        v_cmd = _clamp(command.speed_m_s, 0.0, MAX_SPEED_M_S) * (1.0 - rear)
        w_cmd = _clamp(command.turn_rad_s, -MAX_TURN_RAD_S, MAX_TURN_RAD_S) * (1.0 - rear)
        by_command = self.rhythm == "command"
        if by_command and v_cmd * abs(w_cmd) > MAX_LATERAL_ACCEL_M_S2:
            v_cmd = MAX_LATERAL_ACCEL_M_S2 / abs(w_cmd)
        if self.wall_stop:  # a wall at the snout or forepaws stops forward locomotion (see the module docstring)
            self.wall_stop_s = WALL_STOP_HOLD_S if self.touching_wall(data) else max(self.wall_stop_s - dt, 0.0)
            if self.wall_stop_s > 0.0:
                v_cmd = 0.0
        self.command = Command(v_cmd, w_cmd, rear)

        # Brainstem regulators: stride length = command + PI correction on the measured speed; the
        # turn drive likewise on the measured yaw rate.
        moving = v_cmd > 0.02 or abs(w_cmd) > 0.05
        if moving:
            e_v = v_cmd - self.speed_m_s
            self._speed_integral = _clamp(self._speed_integral + e_v * dt, -0.5, 0.5)
            e_w = (w_cmd - self.yaw_rate_rad_s) / MAX_TURN_RAD_S
            self._turn_integral = _clamp(self._turn_integral + e_w * dt, -0.5, 0.5)
        else:
            self._speed_integral = self._turn_integral = e_v = e_w = 0.0
        (kp_v, ki_v), (kp_w, ki_w) = self._speed_pi, self._turn_pi
        drive = _clamp(v_cmd + kp_v * e_v + ki_v * self._speed_integral, 0.0,
                       MAX_DRIVE_M_S if by_command else MAX_SPEED_M_S)
        turn = _clamp(w_cmd / MAX_TURN_RAD_S + kp_w * e_w + ki_w * self._turn_integral, -1.0, 1.0)
        if not moving:
            drive, turn = 0.0, 0.0
        self.drive_m_s = drive

        # Rhythm: coupled phase oscillators pulled to the gait's phase relations, at the rat's stride
        # frequency for the commanded locomotion (the regulator lengthens or shortens the stride).
        if by_command:
            demand = float(np.hypot(v_cmd, TURN_STEP_RADIUS_M * w_cmd)) if moving else 0.0
            self.rhythm_m_s += dt / (RHYTHM_FILTER_S + dt) * (demand - self.rhythm_m_s)
        else:  # the earlier layer: the drive sets the rhythm too (its stride length is then the rat's)
            self.rhythm_m_s = drive
        rhythm = self.rhythm_m_s
        gait = gait_for_speed(rhythm, p["walk_trot_m_s"][0]) if self.gait == "auto" else self.gait
        self.current_gait = gait
        offsets = np.asarray(GAIT_PHASES[gait])
        freq = float(stride_frequency_hz(rhythm))
        diff = (self.phase[None, :] - self.phase[:, None]) - (offsets[None, :] - offsets[:, None])  # [4, 4]
        dphase = freq + COUPLING_PER_S / (2 * np.pi) * np.sin(2 * np.pi * diff).sum(axis=1)
        self.phase = (self.phase + dphase * dt) % 1.0
        galloping = gait == "gallop"
        # Running (the fast trot and the gallop): the hindlimbs' own stance fraction, faded in with the drive.
        running = _clamp((rhythm - RUN_FROM_M_S) / (RUN_FULL_M_S - RUN_FROM_M_S), 0.0, 1.0)
        self.running_level = running
        duty_all = float(np.interp(rhythm, (0.1, 0.8), p["duty_factor"])) + (p["gallop_duty"][0] if galloping else 0.0)
        hind_duty = duty_all + running * p["run_hind_duty"][0]
        duty = np.clip(np.array([duty_all, duty_all, hind_duty, hind_duty]), 0.2, 0.85)  # [4] LF RF LH RH
        # Stance/swing switching: a foot that lands late in swing starts its stance now.
        down, hind_z = self._foot_contacts(data, hind_ground=self._running_terms)
        if hind_z is not None:
            self.hind_ground_z_m = hind_z
        late_swing = self.phase > duty + 0.6 * (1.0 - duty)
        jump = down & late_swing
        if jump.any():
            self.phase[jump] += _clamp(p["touchdown_reset"][0], 0.0, 1.0) * (1.0 - self.phase[jump])
            self.phase %= 1.0

        # Pattern: sweep goes +1 (front) -> -1 (back) in stance, returns smoothly in swing.
        ph = self.phase
        in_stance = ph < duty
        self.in_stance = in_stance
        swing_progress = np.clip((ph - duty) / (1.0 - duty), 0.0, 1.0)
        sweep = np.where(in_stance, 1.0 - 2.0 * ph / duty, -np.cos(np.pi * swing_progress))  # [4]
        lift = np.where(in_stance, 0.0, np.sin(np.pi * swing_progress))  # [4]
        stride = drive / freq / REFERENCE_STRIDE_M
        if by_command:
            stride = min(stride, MAX_STRIDE_SCALE)
        gate = _clamp(max(rhythm / 0.05, abs(turn) / 0.2), 0.0, 1.0)
        side = np.where(self._limb_left, -1.0, 1.0)  # turning left lengthens the right strides
        scale = np.maximum(stride + p["turn_stride"][0] * turn * side, INNER_STRIDE_FLOOR if by_command else 0.0)  # [4]
        limb = self._limb
        ctrl = np.zeros(self.model.nu)
        gait_ctrl = (self._offset + self._stride * sweep[limb] * scale[limb] + gate * self._lift * lift[limb]
                     + self._roll * roll + self._pitch * pitch)  # [28]
        ctrl[self._spine] = p["spine_offset"]
        if galloping:  # the gallop's own offsets and strides, and a spine that flexes and extends with the stride
            gait_ctrl += self._gallop_offset + self._gallop_stride * sweep[limb] * scale[limb]
            lead = self.phase[LIMBS.index("LH")]
            for joint, (amplitude, phase) in ((0, p["gallop_lumbar"]), (1, p["gallop_cervical"])):
                ctrl[self._spine[joint]] += amplitude * np.cos(2 * np.pi * (lead - phase))
        if running > 0.0 and self._running_terms and self.hind_ground_z_m is not None:
            # Hindquarter height reflex: the pelvis sagging below its running height moves the stance hindlimbs by the gains.
            height = float(data.xpos[self._pelvis, 2]) - self.hind_ground_z_m
            sag = _clamp(p["run_height_m"][0] - height, -MAX_SAG_M, MAX_SAG_M)
            gait_ctrl += running * sag * self._sag_gain * in_stance[limb]
        ctrl[self._act] = gait_ctrl
        # Rearing: the posture's targets, balanced on the hind feet by the torso's pitch. [28] The hindlimbs
        # and spine move first (weight back onto the hind feet), the forelimbs leave the floor after.
        # Written as gait + level x (rear - gait): at level 0 the controls are the gait layer's to the bit.
        r = self.rear_level
        if r > 0.0:
            r_back = min(r / REAR_FORE_LAG, 1.0)
            r_limb = np.where(self._fore, max(r - REAR_FORE_LAG, 0.0) / (1.0 - REAR_FORE_LAG), r_back)  # [28]
            rear_ctrl = self._rear_offset + self._rear_pitch * (pitch - p["rear_pitch_rad"][0]) + self._roll * roll
            ctrl[self._act] += r_limb * (rear_ctrl - gait_ctrl)
            ctrl[self._spine] += r_back * (p["rear_spine_offset"] - p["spine_offset"])
        ctrl[self._bend] = p["turn_bend"][0] * turn
        np.clip(ctrl, -1.0, 1.0, out=ctrl)
        return ctrl


def standing_controls(model: mujoco.MjModel, params: dict[str, np.ndarray] | None = None,
                      rhythm: str = "command") -> np.ndarray:
    """The controls the layer holds at a zero command on a level body (its standing posture). [nu]"""
    layer = SpinalLayer(model, params, rhythm=rhythm)
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)  # reference pose: level torso, nothing moving
    return layer.step(Command(), data, 0.02)


FALLEN_HEIGHT_M = 0.025
FALLEN_UPRIGHT = 0.5  # cos 60 deg
REARING_LEVEL = 0.05  # from this rear level on, a nose-up torso is a rear, not a fall


def has_fallen(torso_rot: np.ndarray, torso_height_m: float, rear_level: float = 0.0) -> bool:
    """Has the rat fallen? On all fours: its torso tilted past 60 deg or dropped below FALLEN_HEIGHT_M.
    Rearing (`rear_level` >= REARING_LEVEL) the torso may pitch nose-up: it has fallen when it rolls past
    60 deg, pitches nose-down past 60 deg, goes over backwards (past 120 deg nose-up) or drops.
    torso_rot: [3, 3] the torso's rotation matrix (columns: its axes in the world)."""
    if torso_height_m < FALLEN_HEIGHT_M:
        return True
    if rear_level < REARING_LEVEL:
        return bool(torso_rot[2, 2] < FALLEN_UPRIGHT)
    return bool(abs(torso_rot[2, 1]) > np.sin(np.pi / 3) or torso_rot[2, 0] < -np.sin(np.pi / 3)
                or torso_rot[2, 2] < -FALLEN_UPRIGHT)
