"""The virtual rodent's body (Merel et al., ICLR 2020), built from dm_control's packaged MJCF.

`rodent.xml` is read from the installed `dm_control` package at run time and edited with
`mujoco.MjSpec`; it is never copied into this repository. The file itself has no free joint: its
root body `torso` is welded to the world, which is exactly the head-fixed preparation. The `free`
variant adds a free joint; the `forelimb` variant deletes every joint but one forelimb's eight.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import mujoco
import numpy as np

if TYPE_CHECKING:
    from body.spinal.layer import SpinalOptions

VARIANTS = ("free", "head_fixed", "forelimb")
ACTUATIONS = ("position", "torque")
SIDES = ("left", "right")

# The eight joints (and same-named actuators) of one forelimb, with `{s}` = "L" or "R".
FORELIMB_JOINTS = (
    "scapula_{s}_supinate",
    "scapula_{s}_abduct",
    "scapula_{s}_extend",
    "shoulder_{s}",
    "shoulder_sup_{s}",
    "elbow_{s}",
    "wrist_{s}",
    "finger_{s}",
)
# Paw and foot bodies whose positions form the end-effector observation block.
END_EFFECTORS = ("hand_L", "hand_R", "foot_L", "foot_R")
VESTIBULAR_SENSORS = ("accelerometer", "gyro", "velocimeter")
TOUCH_SENSORS = ("palm_L", "palm_R", "sole_L", "sole_R")
EGOCENTRIC_CAMERA = "egocentric"
# The virtual rodent's observation set (Merel et al. 2020; dm_control's rodent walker): the same
# names, sizes, orders and definitions, so the paper's tasks see what the original agent saw.
VR_END_EFFECTORS = ("lower_arm_R", "lower_arm_L", "foot_R", "foot_L")
VR_TOUCH_THRESHOLD = 1e-3  # touch readings are binarised at this force (N)
VR_BLOCKS = ("walker/actuator_activation", "walker/appendages_pos", "walker/body_height", "walker/end_effectors_pos",
             "walker/joints_pos", "walker/joints_vel", "walker/sensors_accelerometer", "walker/sensors_gyro",
             "walker/sensors_touch", "walker/sensors_velocimeter", "walker/tendons_pos", "walker/tendons_vel",
             "walker/world_zaxis")
CAMERA_SIZE_PX = 64


def rodent_xml_path() -> str:
    """Path of `rodent.xml` inside the installed dm_control package."""
    import dm_control  # imported here: only the asset is needed, not dm_control's runtime

    path = os.path.join(os.path.dirname(dm_control.__file__), "locomotion", "walkers", "assets", "rodent.xml")
    if not os.path.exists(path):
        raise FileNotFoundError(f"rodent.xml not found in the installed dm_control package at {path}")
    return path


def log_mujoco_to(path) -> None:
    """Send MuJoCo's own warnings and errors to the file `path` (instead of MUJOCO_LOG.TXT in the working
    directory), for this process: a run keeps them in its own directory. Importing dm_control (the reference
    tasks do) routes MuJoCo's warnings to its own Python callback instead of MuJoCo's log, so that callback is
    removed here: otherwise whether a run's warnings reach its log would depend on what was imported first."""
    mujoco.set_mju_user_warning(None)
    config = mujoco.MjLogConfig.get()
    config.logto_file = True
    config.logfile = str(path)
    config.set()


def servo_targets(model: mujoco.MjModel, ctrl: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(qpos indices, angles in rad) at which the joint servos hold still for controls `ctrl`.

    A position servo's force is gain*act + b0 - kp*q, so its target angle for activation `a` is
    (gain*a + b0) / kp. Tendon actuators (spine, neck, tail) are left out.
    """
    acts = np.array([i for i in range(model.nu) if model.actuator_trntype[i] == mujoco.mjtTrn.mjTRN_JOINT])
    joints = model.actuator_trnid[acts, 0]
    gain, b0, kp = model.actuator_gainprm[acts, 0], model.actuator_biasprm[acts, 0], -model.actuator_biasprm[acts, 1]
    return model.jnt_qposadr[joints], (gain * np.asarray(ctrl, np.float64)[acts] + b0) / kp


def rat_geom_mask(model: mujoco.MjModel) -> np.ndarray:
    """True for geoms of the rat's own body tree (rooted at `torso`), false for floor, props, arenas. [ngeom]"""
    torso = model.body("torso").id
    root = np.arange(model.nbody)
    for _ in range(model.nbody):  # walk every body up to the world or the torso
        parent = model.body_parentid[root]
        root = np.where((root == 0) | (root == torso), root, parent)
    return (root == torso)[model.geom_bodyid]


def touches_world(model: mujoco.MjModel, data: mujoco.MjData, rat_geoms: np.ndarray | None = None) -> bool:
    """Whether any rat geom is in contact with something that is not the rat (self-contacts ignored)."""
    if data.ncon == 0:
        return False
    mask = rat_geom_mask(model) if rat_geoms is None else rat_geoms
    g = data.contact.geom[:data.ncon]  # [ncon, 2]
    return bool(np.any(mask[g[:, 0]] != mask[g[:, 1]]))


def _check_choice(what: str, value, valid) -> None:
    if value not in valid:
        raise ValueError(f"unknown {what} {value!r}; valid: {', '.join(valid)}")


@dataclass
class RatBody:
    """The rat: its editable `MjSpec`, the compiled `MjModel` and named indices into both.

    Tasks may add props to `spec` (a lever, a pellet, an arena) and then call `recompile()`;
    all indices are resolved by name against the newly compiled model, so props never shift them.
    """

    spec: mujoco.MjSpec
    variant: str
    actuation: str
    physics_dt: float
    side: str
    vision: bool
    proprio_delay_steps: int
    obs_noise: float
    action_noise: float
    spinal: "SpinalOptions | None" = None  # the spinal layer's options (`body.spinal`), None without the layer
    model: mujoco.MjModel = field(init=False)

    def __post_init__(self) -> None:
        self.recompile()

    # ----------------------------------------------------------------------------- compile & index
    def recompile(self) -> mujoco.MjModel:
        """Compile `spec` (after any edits) and re-resolve every named index."""
        self.model = self.spec.compile()
        self._standing = None
        m = self.model
        self.actuator_names = [m.actuator(i).name for i in range(m.nu)]
        self.joint_names = [m.joint(i).name for i in range(m.njnt)]
        self.body_names = [m.body(i).name for i in range(m.nbody)]
        self.sensor_names = [m.sensor(i).name for i in range(m.nsensor)]
        rat_bodies = [i for i in range(1, m.nbody) if self._is_rat_body(i)]
        self.total_mass_kg = float(m.body_mass[rat_bodies].sum())

        joint_ids = [int(m.actuator_trnid[i, 0]) for i in range(m.nu) if m.actuator_trntype[i] == mujoco.mjtTrn.mjTRN_JOINT]
        tendon_ids = [int(m.actuator_trnid[i, 0]) for i in range(m.nu) if m.actuator_trntype[i] == mujoco.mjtTrn.mjTRN_TENDON]
        self.actuated_joint_names = [m.joint(j).name for j in joint_ids]
        self.actuated_tendon_names = [m.tendon(t).name for t in tendon_ids]
        self._joint_actuators = [i for i in range(m.nu) if m.actuator_trntype[i] == mujoco.mjtTrn.mjTRN_JOINT]
        self._qpos_idx = np.array([m.jnt_qposadr[j] for j in joint_ids], dtype=np.int64)
        self._qvel_idx = np.array([m.jnt_dofadr[j] for j in joint_ids], dtype=np.int64)
        self._tendon_idx = np.array(tendon_ids, dtype=np.int64)
        self._act_idx = np.array([m.actuator_actadr[i] for i in range(m.nu) if m.actuator_actadr[i] >= 0], dtype=np.int64)
        self._torso_id = m.body("torso").id
        if self.variant == "forelimb":
            s = self.side_letter
            ee, touch = (f"hand_{s}",), (f"palm_{s}",)
        else:
            ee, touch = END_EFFECTORS, TOUCH_SENSORS
        self.end_effector_names = list(ee)
        self.touch_sensor_names = list(touch)
        self._ee_ids = np.array([m.body(b).id for b in ee], dtype=np.int64)
        self._vestibular_idx = self._sensor_slots(VESTIBULAR_SENSORS)
        self._touch_idx = self._sensor_slots(touch)
        if self.variant != "forelimb":
            self._vr_ee_ids = np.array([m.body(b).id for b in (*VR_END_EFFECTORS, "skull")], dtype=np.int64)
            self._vr_touch_idx = self._sensor_slots(TOUCH_SENSORS)
            self._vr_sensor_idx = {n: self._sensor_slots([n]) for n in VESTIBULAR_SENSORS}
            self._all_tendons = np.arange(m.ntendon)
            self._all_act = np.array([m.actuator_actadr[i] for i in range(m.nu)], dtype=np.int64)
        return m

    def rest_pose(self, data: mujoco.MjData, ctrl: np.ndarray | None = None) -> None:
        """Put every servo-driven joint at the angle its servo holds for `ctrl` (default zero), at rest.

        A servo's force is gain*act + b0 - kp*q, so its target angle for activation `a` is
        (gain*a + b0) / kp. Tasks start episodes here so the limb begins where that command holds it,
        not at the model's reference pose (where a forelimb paw rests on the floor). Position
        actuation only (torque motors have no target). Call `mj_forward` afterwards.
        """
        if self.actuation != "position":
            return
        if ctrl is None:
            ctrl = self.standing_controls() if self.spinal else np.zeros(self.model.nu)
        ctrl = np.asarray(ctrl, dtype=np.float64)
        _, data.qpos[self._qpos_idx] = servo_targets(self.model, ctrl)
        data.qvel[self._qvel_idx] = 0.0
        data.act[self._act_idx] = ctrl[self.model.actuator_actadr >= 0]

    def standing_controls(self) -> np.ndarray:
        """The spinal layer's standing posture (zero command) as servo controls. [nu]"""
        from body.spinal import standing_controls

        if getattr(self, "_standing", None) is None or len(self._standing) != self.model.nu:
            self._standing = standing_controls(self.model, self.spinal.params, rhythm=self.spinal.rhythm)
        return self._standing.copy()

    @property
    def action_size(self) -> int:
        """What the brain writes: the spinal layer's descending command, or one control per actuator."""
        return self.spinal.action_size if self.spinal else int(self.model.nu)

    def _is_rat_body(self, body_id: int) -> bool:
        """True for bodies of the rat's own tree (rooted at `torso`), false for props and arenas."""
        m = self.model
        torso = m.body("torso").id
        b = body_id
        while b not in (0, torso):
            b = int(m.body_parentid[b])
        return b == torso

    def _sensor_slots(self, names) -> np.ndarray:
        m = self.model
        slots = []
        for n in names:
            s = m.sensor(n)
            slots.extend(range(int(s.adr[0]), int(s.adr[0]) + int(s.dim[0])))
        return np.array(slots, dtype=np.int64)

    @property
    def side_letter(self) -> str:
        return "L" if self.side == "left" else "R"

    # ------------------------------------------------------------------------- observation blocks
    def block_sizes(self) -> dict[str, int]:
        """Size of every named observation block this body offers (flat float vectors)."""
        sizes = {
            "proprioception": 2 * len(self._qpos_idx) + 2 * len(self._tendon_idx) + len(self._act_idx),
            "vestibular": len(self._vestibular_idx),
            "touch": len(self._touch_idx),
            "end_effectors": 3 * len(self._ee_ids),
        }
        if self.vision:
            sizes["egocentric_camera"] = CAMERA_SIZE_PX * CAMERA_SIZE_PX * 3
        if self.variant != "forelimb":
            sizes.update({name: self._vr_value(name, None, size_only=True) for name in VR_BLOCKS})
        return sizes

    def _vr_value(self, name: str, data: mujoco.MjData | None, size_only: bool = False):
        """A virtual-rodent block (dm_control rodent walker definitions), or its size."""
        key = name.removeprefix("walker/")
        if size_only:
            return {"actuator_activation": len(self._all_act), "appendages_pos": 15, "body_height": 1,
                    "end_effectors_pos": 12, "joints_pos": len(self._qpos_idx), "joints_vel": len(self._qvel_idx),
                    "sensors_accelerometer": 3, "sensors_gyro": 3, "sensors_velocimeter": 3,
                    "sensors_touch": len(self._vr_touch_idx), "tendons_pos": len(self._all_tendons),
                    "tendons_vel": len(self._all_tendons), "world_zaxis": 3}[key]
        if key == "joints_pos":  # actuated joints in actuator order, rad
            return data.qpos[self._qpos_idx].copy()
        if key == "joints_vel":
            return data.qvel[self._qvel_idx].copy()
        if key == "tendons_pos":  # every tendon in model order
            return data.ten_length[self._all_tendons].copy()
        if key == "tendons_vel":
            return data.ten_velocity[self._all_tendons].copy()
        if key == "actuator_activation":
            return data.act[self._all_act].copy()
        if key == "body_height":  # torso height, m
            return data.xpos[self._torso_id, 2:3].copy()
        if key in ("end_effectors_pos", "appendages_pos"):  # forearms, feet (and skull) in the torso frame, m
            ids = self._vr_ee_ids if key == "appendages_pos" else self._vr_ee_ids[:4]
            rot = data.xmat[self._torso_id].reshape(3, 3)
            return ((data.xpos[ids] - data.xpos[self._torso_id]) @ rot).reshape(-1)
        if key == "world_zaxis":  # the world z axis seen from the torso
            return data.xmat[self._torso_id, 6:9].copy()
        if key == "sensors_touch":  # palms and soles, binarised
            return (data.sensordata[self._vr_touch_idx] > VR_TOUCH_THRESHOLD).astype(np.float64)
        return data.sensordata[self._vr_sensor_idx[key.removeprefix("sensors_")]].copy()

    def read_block(self, name: str, data: mujoco.MjData) -> np.ndarray:
        """The current value of one numeric observation block (no delay, no noise), float64."""
        if name == "proprioception":
            return np.concatenate([
                data.qpos[self._qpos_idx],  # actuated joint angles, rad
                data.qvel[self._qvel_idx],  # actuated joint velocities, rad/s
                data.ten_length[self._tendon_idx],  # spine/neck/tail tendon lengths
                data.ten_velocity[self._tendon_idx],
                data.act[self._act_idx],  # actuator activations (40 ms filter state)
            ])
        if name == "vestibular":  # head accelerometer (m/s^2), gyro (rad/s), velocimeter (m/s)
            return data.sensordata[self._vestibular_idx].copy()
        if name == "touch":  # palm/sole contact normal forces, N
            return data.sensordata[self._touch_idx].copy()
        if name == "end_effectors":  # paw positions in the torso frame, m
            rot = data.xmat[self._torso_id].reshape(3, 3)
            rel = data.xpos[self._ee_ids] - data.xpos[self._torso_id]
            return (rel @ rot).reshape(-1)
        if name in VR_BLOCKS and self.variant != "forelimb":
            return self._vr_value(name, data)
        valid = ", ".join(self.block_sizes())
        raise ValueError(f"unknown observation block {name!r}; valid: {valid}")

    # ------------------------------------------------------------------------------- description
    def describe(self) -> dict:
        m = self.model
        return {
            "variant": self.variant,
            "actuation": self.actuation,
            "bodies": int(m.nbody - 1),
            "joints": int(m.njnt),
            "dofs": int(m.nv),
            "actuators": int(m.nu),
            "sensors": int(m.nsensor),
            "mass_kg": round(self.total_mass_kg, 4),
            "physics_dt_s": float(m.opt.timestep),
            "spinal": self.spinal is not None,
            "action_size": self.action_size,
            "observation_blocks": self.block_sizes(),
        }


def build(
    variant: str,
    actuation: str = "position",
    physics_dt: float = 0.002,
    vision: bool = False,
    side: str = "right",
    proprio_delay_steps: int = 0,
    obs_noise: float = 0.0,
    action_noise: float = 0.0,
    floor: bool = True,
    spinal=None,
) -> RatBody:
    """Build the rat in one of three variants.

    variant: ``free`` (free joint: nq 74, nv 73; all 38 actuators), ``head_fixed`` (torso welded to
        the world, all 38 actuators) or ``forelimb`` (head-fixed, only one forelimb's 8 joints and
        actuators; every other joint is removed so the body is fast).
    actuation: ``position`` keeps the shipped servos (40 ms activation filter, control in [-1, 1]);
        ``torque`` makes each actuator a torque motor with gain = its force range, no bias, filter kept.
    physics_dt: physics timestep in seconds.
    side: which forelimb the ``forelimb`` variant keeps (``left`` or ``right``).
    proprio_delay_steps, obs_noise, action_noise: sensorimotor options used by `BodyInterface`.
    floor: add a ground plane and a light (tasks with their own arena pass False).
    spinal: the spinal locomotion layer (`body.spinal`) between brain and servos, making the action a
        descending command (forward speed, turning rate, optionally rearing); ``free`` variant, position
        servos. None or False: no layer. True: the layer with every default. A mapping (the config group
        `body.spinal`): ``enabled``, ``gait`` (auto | walk | trot | gallop), ``rhythm`` (command: the rat's
        step cycle; drive: the earlier, faster-stepping layer), ``params`` (None: the shipped set; a JSON
        file from ``python -m benchmarks.tune_spinal``; or the mapping a run stored), ``rear`` (the posture
        channel, a third action entry) and ``wall_stop`` (forward locomotion stops while the snout or a
        forepaw touches a wall). See `body.spinal.spinal_options`.
    """
    _check_choice("body variant", variant, VARIANTS)
    _check_choice("actuation", actuation, ACTUATIONS)
    _check_choice("side", side, SIDES)
    if not physics_dt > 0:
        raise ValueError(f"physics_dt must be > 0 s, got {physics_dt}")
    if int(proprio_delay_steps) != proprio_delay_steps or proprio_delay_steps < 0:
        raise ValueError(f"proprio_delay_steps must be an integer >= 0, got {proprio_delay_steps}")
    from body.spinal.layer import spinal_options

    spinal = spinal_options(spinal)
    if spinal and (variant != "free" or actuation != "position"):
        raise ValueError(f"the spinal layer drives the free rat's position servos; got variant={variant!r}, "
                         f"actuation={actuation!r} (valid: variant=free, actuation=position)")
    if obs_noise < 0 or action_noise < 0:
        raise ValueError(f"noise standard deviations must be >= 0, got obs_noise={obs_noise}, action_noise={action_noise}")

    spec = mujoco.MjSpec.from_file(rodent_xml_path())
    spec.modelname = f"rat_{variant}"
    spec.option.timestep = physics_dt

    if variant == "free":
        spec.body("torso").add_freejoint(name="root")
    elif variant == "forelimb":
        _keep_one_forelimb(spec, "L" if side == "left" else "R")

    if actuation == "torque":
        for act in spec.actuators:
            force_max = float(max(abs(act.forcerange[0]), abs(act.forcerange[1])))
            act.gainprm[:] = 0.0
            act.gainprm[0] = force_max
            act.biastype = mujoco.mjtBias.mjBIAS_NONE
            act.biasprm[:] = 0.0

    if floor:
        _add_floor(spec)

    return RatBody(
        spec=spec,
        variant=variant,
        actuation=actuation,
        physics_dt=float(physics_dt),
        side=side,
        vision=bool(vision),
        proprio_delay_steps=int(proprio_delay_steps),
        obs_noise=float(obs_noise),
        action_noise=float(action_noise),
        spinal=spinal,
    )


def frozen_config(options) -> dict:
    """The config group `body` with the spinal layer's parameters frozen to their values.

    A run stores this in its config (and so in every checkpoint): it drives its rat through the very
    layer it trained through, even after the shipped parameter set is re-tuned. Without the layer the
    options come back as they were.
    """
    from body.spinal.layer import spinal_options

    out = dict(options)
    spinal = spinal_options(out.get("spinal"))
    if spinal is not None:
        out["spinal"] = spinal.as_config()
    return out


def _keep_one_forelimb(spec: mujoco.MjSpec, s: str) -> None:
    """Delete every joint, tendon and actuator except one forelimb's eight joints and actuators.

    Bodies stay (welded to the world, they cost only forward kinematics and the skin still renders);
    MuJoCo skips collisions between bodies that are both welded to the world.
    """
    keep = {name.format(s=s) for name in FORELIMB_JOINTS}
    for act in list(spec.actuators):
        if act.name not in keep:
            spec.delete(act)
    for tendon in list(spec.tendons):
        spec.delete(tendon)
    for joint in list(spec.joints):
        if joint.name not in keep:
            spec.delete(joint)


def _add_floor(spec: mujoco.MjSpec) -> None:
    """A checkered ground plane, a sky and a soft overhead light."""
    spec.add_texture(name="sky", type=mujoco.mjtTexture.mjTEXTURE_SKYBOX, builtin=mujoco.mjtBuiltin.mjBUILTIN_GRADIENT,
                     rgb1=[0.55, 0.65, 0.75], rgb2=[0.1, 0.12, 0.15], width=256, height=256)
    tex = spec.add_texture(name="grid", type=mujoco.mjtTexture.mjTEXTURE_2D, builtin=mujoco.mjtBuiltin.mjBUILTIN_CHECKER,
                           rgb1=[0.42, 0.45, 0.48], rgb2=[0.34, 0.37, 0.4], width=256, height=256)
    spec.add_material(name="grid", textures=["", tex.name], texrepeat=[40, 40], reflectance=0.05)
    spec.worldbody.add_geom(name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[5, 5, 0.1], material="grid",
                            contype=1, conaffinity=1)
    spec.worldbody.add_light(name="sun", pos=[0, 0, 3], dir=[0, 0, -1], type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL,
                             diffuse=[0.6, 0.6, 0.6])
    spec.visual.headlight.diffuse = [0.4, 0.4, 0.4]
    spec.visual.headlight.ambient = [0.25, 0.25, 0.25]
