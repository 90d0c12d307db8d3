"""Single-pellet skilled reaching (Whishaw's paradigm), on the head-fixed forelimb.

Each episode is one trial: a food pellet (a 4 mm-radius sphere on a thin post) appears at a random
position inside the paw's workspace, and the trial succeeds when the paw's hand or fingers hold it
(stay in contact for `hold_s`, default 100 ms: a grasp, not a brush) before the time limit.
Events: ``reach_onset`` (the palm first moves `onset_distance_m` from where it started),
``contact`` (any forearm, hand or finger geom first touches the pellet) and ``success`` (the hold
is complete; the episode then terminates with reward +1). Without the hold, a paw flailing under
untrained exploration noise brushed 93 % of pellets; the hold makes success a controlled reach.

Each trial starts with the paw resting on the floor (shoulder flexed, about 5 cm below and behind
the pellet). The workspace box (world frame, m; mirrored in y for the left paw) lies in front of and
above the zero-command paw position, inside the palm positions reached by driving the servos to 300
random postures: a scripted inverse-kinematics reach touches pellets anywhere in it (tested), while
holding any fixed command (zero, or random) touches none of 20 seeded pellets.

Reward: +1 on success. ``distance_shaping`` > 0 adds the potential-based term
shaping * (d_prev - d_now), d = palm-to-pellet distance in m; it sums to shaping * (d_start - d_end)
over a trial and so leaves the optimal policy unchanged (Ng et al. 1999). Set 0 for the bare task.

Observation blocks after the body's: ``pellet`` — the pellet's position relative to the palm
and relative to the torso (m, 6 floats): the rat sees where the pellet is.
"""

from __future__ import annotations

import mujoco
import numpy as np

from tasks.base import Experiment, RatTask
from tasks.props import PROP_BIT, add_closeup_camera, body_geom_ids, contacts_with, let_forelimb_touch_props

WORKSPACE_CENTER_M = (0.105, -0.030, 0.052)  # right paw; y is mirrored for the left
WORKSPACE_HALF_M = (0.015, 0.012, 0.014)
HOME_SHOULDER_CTRL = 1.0  # start posture: shoulder flexed, paw resting on the floor below the pellet
PELLET_RADIUS_M = 0.004


class Reach(RatTask):
    name = "reach"
    experiment = Experiment(
        name="Single-pellet skilled reaching",
        citation="Whishaw IQ, Pellis SM, Gorny BP, Pellis VC (1991) The impairments in reaching and the movements of "
                 "compensation in rats with motor cortex lesions: an endpoint, videorecording, and movement notation "
                 "analysis. Behav Brain Res 42:77-91",
        doi="10.1016/S0166-4328(05)80042-7",
    )
    default_body = "forelimb"
    valid_bodies = ("forelimb", "head_fixed")

    def __init__(self, time_limit_s: float = 2.0, distance_shaping: float = 10.0, onset_distance_m: float = 0.01,
                 hold_s: float = 0.1, **kwargs):
        if distance_shaping < 0 or onset_distance_m <= 0 or hold_s < 0:
            raise ValueError("distance_shaping and hold_s must be >= 0 and onset_distance_m > 0")
        self.hold_s = hold_s
        self.distance_shaping = distance_shaping
        self.onset_distance_m = onset_distance_m
        kwargs.setdefault("render_camera", "closeup")
        super().__init__(time_limit_s=time_limit_s, **kwargs)

    def build_scene(self, spec: mujoco.MjSpec) -> None:
        s = self.rat.side_letter
        pellet = spec.worldbody.add_body(name="pellet", mocap=True, pos=list(self._center()))
        pellet.add_geom(name="pellet", type=mujoco.mjtGeom.mjGEOM_SPHERE, size=[PELLET_RADIUS_M, 0, 0],
                        rgba=[0.55, 0.35, 0.15, 1], contype=PROP_BIT, conaffinity=PROP_BIT, condim=3)
        # a touch sensor on the pellet: one float per substep says whether anything touches it
        pellet.add_site(name="pellet_touch", type=mujoco.mjtGeom.mjGEOM_SPHERE, size=[PELLET_RADIUS_M * 1.5, 0, 0],
                        group=4)
        spec.add_sensor(name="pellet_touch", type=mujoco.mjtSensor.mjSENS_TOUCH, objtype=mujoco.mjtObj.mjOBJ_SITE,
                        objname="pellet_touch")
        pellet.add_geom(name="pellet_post", type=mujoco.mjtGeom.mjGEOM_CYLINDER, size=[0.0015, 0.02],
                        pos=[0, 0, -0.02 - PELLET_RADIUS_M], rgba=[0.4, 0.4, 0.4, 1], contype=0, conaffinity=0)
        let_forelimb_touch_props(spec, s)
        add_closeup_camera(spec, "pellet", s)

    def _center(self) -> np.ndarray:
        c = np.array(WORKSPACE_CENTER_M)
        if self.rat.side == "left":
            c[1] = -c[1]
        return c

    def bind(self, model: mujoco.MjModel) -> None:
        s = self.rat.side_letter
        self._pellet_mocap = int(model.body("pellet").mocapid[0])
        self._pellet_geom = model.geom("pellet").id
        self._palm = model.site(f"palm_{s}").id
        self._torso = model.body("torso").id
        self._hand_geoms = body_geom_ids(model, [f"hand_{s}", f"finger_{s}"])
        self._limb_geoms = body_geom_ids(model, [f"lower_arm_{s}", f"hand_{s}", f"finger_{s}"])
        self._touch_adr = int(model.sensor("pellet_touch").adr[0])

    def task_block_sizes(self) -> dict[str, int]:
        return {"pellet": 6}

    @property
    def pellet_pos_m(self) -> np.ndarray:
        return self.data.mocap_pos[self._pellet_mocap].copy()

    @property
    def palm_pos_m(self) -> np.ndarray:
        return self.data.site_xpos[self._palm].copy()

    def reset_task(self, rng: np.random.Generator) -> None:
        home = np.zeros(self.model.nu)
        home[self.rat.actuator_names.index(f"shoulder_{self.rat.side_letter}")] = HOME_SHOULDER_CTRL
        self.rat.rest_pose(self.data, home)
        offset = rng.uniform(-1.0, 1.0, size=3) * np.array(WORKSPACE_HALF_M)
        self.data.mocap_pos[self._pellet_mocap] = self._center() + offset
        self.onset_s = self.contact_s = self.success_s = None
        self._hold_start_s = None
        self._start_palm = None
        self._prev_distance = None
        self._trajectory: list[np.ndarray] = []

    def distance_m(self) -> float:
        return float(np.linalg.norm(self.pellet_pos_m - self.palm_pos_m))

    def after_substep(self) -> None:
        if self.onset_s is None:
            if self._start_palm is None:
                self._start_palm = self.palm_pos_m
            moved = self.data.site_xpos[self._palm] - self._start_palm
            if moved @ moved > self.onset_distance_m ** 2:
                self.onset_s = self.t_s
                self.event("reach_onset")
        if self.success_s is not None:
            return
        if self.data.sensordata[self._touch_adr] == 0.0:
            self._hold_start_s = None  # nothing touches the pellet (skips the contact scan)
            return
        if self.contact_s is None and contacts_with(self.data, self._pellet_geom, self._limb_geoms):
            self.contact_s = self.t_s
            self.event("contact")
        if contacts_with(self.data, self._pellet_geom, self._hand_geoms):
            if self._hold_start_s is None:
                self._hold_start_s = self.t_s
            if self.t_s - self._hold_start_s >= self.hold_s - 1e-9:
                self.success_s = self.t_s
                self.event("success")
        else:
            self._hold_start_s = None

    def step(self, action):
        if self._prev_distance is None:
            self._prev_distance = self.distance_m()
        return super().step(action)

    def reward_and_termination(self) -> tuple[float, bool]:
        d = self.distance_m()
        reward = self.distance_shaping * (self._prev_distance - d)
        self._prev_distance = d
        done = self.success_s is not None
        self._trajectory.append(self.palm_pos_m)
        return reward + (1.0 if done else 0.0), done

    def task_observation(self) -> dict[str, np.ndarray]:
        rot = self.data.xmat[self._torso].reshape(3, 3)
        pellet = self.pellet_pos_m
        return {"pellet": np.concatenate([pellet - self.palm_pos_m, (pellet - self.data.xpos[self._torso]) @ rot])}

    def task_info(self) -> dict:
        return {
            "success": self.success_s is not None,
            "reach_onset_s": self.onset_s,
            "contact_s": self.contact_s,
            "success_s": self.success_s,
            "pellet_pos_m": self.pellet_pos_m,
            "distance_m": self.distance_m(),
        }

    def episode_record(self) -> dict | None:
        return {"success": self.success_s is not None, "reach_onset_s": self.onset_s, "contact_s": self.contact_s,
                "success_s": self.success_s, "final_distance_m": self.distance_m()}

    criterion = "success_rate"
    metric_keys = ("trials", "success_rate", "time_to_contact_s", "final_distance_m")
    canonical = {**RatTask.canonical, "distance_shaping": 0.0}

    @classmethod
    def criterion_met(cls, metrics: dict, min_trials: int = 50) -> bool:
        """Trained: >= 80 % of reaches touch and hold the target."""
        return cls._number(metrics, "success_rate") >= 0.8 and cls._number(metrics, "trials") >= min_trials

    @classmethod
    def summarize(cls, records: list[dict]) -> dict[str, float]:
        """Success rate, median times to first contact and to a completed hold (s, successful trials)."""
        if not records:
            return {"trials": 0}
        out = {"trials": len(records), "success_rate": float(np.mean([r["success"] for r in records]))}
        contact = [r["contact_s"] for r in records if r["success_s"] is not None and r["contact_s"] is not None]
        if contact:
            out["time_to_contact_s"] = float(np.median(contact))  # successful trials: first touch
            out["time_to_success_s"] = float(np.median([r["success_s"] for r in records if r["success_s"] is not None]))
        out["final_distance_m"] = float(np.median([r["final_distance_m"] for r in records]))
        return out

    def kinematics(self) -> dict[str, np.ndarray]:
        return {"paw_pos_m": self.palm_pos_m, "pellet_pos_m": self.pellet_pos_m}
