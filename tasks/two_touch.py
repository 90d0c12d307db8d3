"""`two_touch`: the virtual rodent's interval-timing task (Merel et al., ICLR 2020), rebuilt natively.

Same definitions as dm_control's reference (`basic_rodent_2020.rodent_two_touch`, task
`locomotion.tasks.reach.TwoTouch`, orb `props.target_sphere.TargetSphereTwoTouch`):

- the free rat on a flat floor, spawned at the origin with a random heading;
- one orb (radius 2.5 cm, centre 14 cm above the floor) placed uniformly within ±1.5 m in x and y;
  only the geoms of the hands (hand and fingers, both sides) touch it, and it exerts no force
  until penetrated by 5 cm (the reference's margin/gap construction), i.e. it is a touch detector;
- touches are checked after every physics step: the first contact is the first touch; any contact
  more than `touch_debounce_s` (0.2 s) after it is the second touch;
- reward per control step: 0.01 × 25 × exp(−3 × L1 distance from the nearer hand to the orb) (dense
  shaping), +25 for the first touch, +25 more when the second touch falls within
  `touch_interval_s` ± `interval_tolerance_s` (0.8 ± 0.1 s) of the first (both times taken at the
  end of the control step in which the touch registered, as in the reference);
- a second touch too soon, or none by interval + tolerance, starts a `failure_timeout_s` (1.2 s)
  time-out; after it (or at once after a correct pair) the orb moves to a new random position;
- physics options of dm_control's composer arenas: elliptic friction cones, 5 no-slip iterations;
- observation: the virtual rodent's observation set (`walker/...` blocks with dm_control's names,
  sizes and definitions) plus ``task_logic`` (the trial state 0-4); optional 64 × 64 egocentric
  camera (``body_options={"vision": true}`` and the block ``egocentric_camera``); 30 s episodes,
  never terminated early; control step 20 ms.

Departures, each one override away: physics step 2 ms by default (the reference uses 1 ms:
``physics_dt=0.001``), for speed. ``observe_orb=true`` adds a block the reference does not have,
``orb`` (the orb's centre relative to the head, in the heading frame: forward, left, up; m), for a
circuit without vision (the reference's agent saw the orb only through its camera). Every random choice (heading, orb positions) comes from
``reset(seed=...)``; the reference draws the heading from numpy's global generator.
"""

from __future__ import annotations

import enum

import mujoco
import numpy as np

from body.rat import VR_BLOCKS
from tasks.base import RatTask
from tasks.props import yaw_quat
from tasks.virtual_rodent import TORSO_SPAWN_HEIGHT_M, VIRTUAL_RODENT, place_without_contact, use_reference_arena_options

ORB_RADIUS_M = 0.025
ORB_HEIGHT_M = 0.14
TOUCH_REWARD = 25.0
SHAPING_SCALE = 0.01  # dense term: 0.01 x the touch reward x exp(-3 L1 distance)
# A hand more than this from the orb centre cannot touch it within one 20 ms control step (it would
# need ~10 m/s; rat paws move at ~1 m/s), so the per-physics-step touch check is skipped then.
WATCH_RADIUS_M = 0.25


class TwoTouchState(enum.IntEnum):
    PRE_TOUCH = 0
    TOUCHED_ONCE = 1
    TOUCHED_TWICE = 2
    TOUCHED_TOO_SOON = 3
    NO_SECOND_TOUCH = 4


class TwoTouchLogic:
    """The trial state machine, separate from physics so it can be checked touch by touch.

    `on_substep(t, touching)` after every physics step; `on_control_step(t)` once per control step
    returns the touch reward earned in that step. `wants_new_target` asks for a new orb position at
    the next control step.
    """

    def __init__(self, interval_s=0.8, tolerance_s=0.1, failure_timeout_s=1.2, debounce_s=0.2, reward=TOUCH_REWARD):
        self.interval_s, self.tolerance_s = interval_s, tolerance_s
        self.failure_timeout_s, self.debounce_s, self.reward = failure_timeout_s, debounce_s, reward
        self.new_target()

    def new_target(self) -> None:
        """A fresh orb: untouched, state PRE_TOUCH."""
        self.touched_once = self.touched_twice = False
        self.touch_time = None
        self.rewarded_once = self.rewarded_twice = False
        self.first_touch_time = self.second_touch_time = None
        self.do_time_out = False
        self.wants_new_target = False
        self.state = TwoTouchState.PRE_TOUCH

    def on_substep(self, t: float, touching: bool) -> None:
        if not touching or (self.touched_once and self.touched_twice):
            return
        if not self.touched_once:
            self.touched_once, self.touch_time = True, t
        if self.touched_once and t > self.touch_time + self.debounce_s:
            self.touched_twice = True

    def on_control_step(self, t: float) -> tuple[float, list[str]]:
        reward, events = 0.0, []
        if self.state == TwoTouchState.PRE_TOUCH:
            if self.touched_once and not self.rewarded_once:
                self.first_touch_time, self.state, self.rewarded_once = t, TwoTouchState.TOUCHED_ONCE, True
                reward += self.reward
                events.append("first_touch")
        elif self.state == TwoTouchState.TOUCHED_ONCE:
            if self.touched_twice and not self.rewarded_twice:
                self.second_touch_time, self.state, self.rewarded_twice = t, TwoTouchState.TOUCHED_TWICE, True
                interval = self.second_touch_time - self.first_touch_time
                events.append("second_touch")
                if interval < self.interval_s - self.tolerance_s:
                    self.do_time_out, self.state = True, TwoTouchState.TOUCHED_TOO_SOON
                    events.append("too_soon")
                elif interval <= self.interval_s + self.tolerance_s:
                    reward += self.reward
                    events.append("reward")
            if t - self.first_touch_time > self.interval_s + self.tolerance_s:
                self.do_time_out, self.state, self.second_touch_time = True, TwoTouchState.NO_SECOND_TOUCH, t
                events.append("no_second_touch")
        else:  # touched twice, too soon, or never: hold for the time-out, then a new orb
            if self.do_time_out:
                if t > self.second_touch_time + self.failure_timeout_s:
                    self.do_time_out = False
            elif t > self.second_touch_time:
                self.wants_new_target = True
        return reward, events


class TwoTouch(RatTask):
    name = "two_touch"
    experiment = VIRTUAL_RODENT
    default_body = "free"
    valid_bodies = ("free",)
    default_blocks = VR_BLOCKS

    def __init__(self, touch_interval_s: float = 0.8, interval_tolerance_s: float = 0.1,
                 failure_timeout_s: float = 1.2, touch_debounce_s: float = 0.2, target_area_m: float = 1.5,
                 time_limit_s: float = 30.0, observe_orb: bool = False, render_camera: str = "side", **kwargs):
        if not 0 < interval_tolerance_s < touch_interval_s:
            raise ValueError(f"need 0 < interval_tolerance_s < touch_interval_s, got {interval_tolerance_s}, "
                             f"{touch_interval_s}")
        if failure_timeout_s < 0 or touch_debounce_s < 0 or target_area_m < 0:
            raise ValueError("failure_timeout_s, touch_debounce_s and target_area_m must be >= 0")
        self.logic = TwoTouchLogic(touch_interval_s, interval_tolerance_s, failure_timeout_s, touch_debounce_s)
        self.target_area_m = target_area_m
        self.observe_orb = bool(observe_orb)
        super().__init__(time_limit_s=time_limit_s, render_camera=render_camera, **kwargs)

    def build_scene(self, spec: mujoco.MjSpec) -> None:
        use_reference_arena_options(spec)
        orb = spec.worldbody.add_body(name="orb", mocap=True, pos=[1.0, 1.0, ORB_HEIGHT_M])
        # a touch detector: contacts are listed from first penetration, with no force until 2 radii deep
        orb.add_geom(name="orb", type=mujoco.mjtGeom.mjGEOM_SPHERE, size=[ORB_RADIUS_M, 0, 0],
                     margin=-2 * ORB_RADIUS_M, gap=2 * ORB_RADIUS_M, rgba=[0.1, 0.7, 0.2, 1])

    def bind(self, model: mujoco.MjModel) -> None:
        self._orb_geom = model.geom("orb").id
        self._orb_mocap = int(model.body("orb").mocapid[0])
        hands = {model.body(b).id for b in ("hand_L", "hand_R", "finger_L", "finger_R")}
        self._is_hand = np.array([model.geom_bodyid[g] in hands for g in range(model.ngeom)])  # [ngeom] lookup
        self._hand_bodies = np.array([model.body("hand_L").id, model.body("hand_R").id])
        self._root_q = int(model.joint("root").qposadr[0])
        self._torso, self._head = model.body("torso").id, model.body("skull").id

    def task_block_sizes(self) -> dict[str, int]:
        return {"task_logic": 1, **({"orb": 3} if self.observe_orb else {})}

    # ------------------------------------------------------------------------------- episode
    def reset_task(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self.data.mocap_pos[self._orb_mocap] = [100.0, 100.0, ORB_HEIGHT_M]  # out of the way while the rat lands
        place_without_contact(self.model, self.data, self._root_q, (0.0, 0.0), yaw_quat(rng.uniform(0, 2 * np.pi)),
                              start_z_m=TORSO_SPAWN_HEIGHT_M)
        self._place_orb()
        self._step_reward = 0.0
        self.touch_rewards = 0

    def _place_orb(self) -> None:
        xy = self.target_area_m * self._rng.uniform(-1.0, 1.0, size=2)
        self.data.mocap_pos[self._orb_mocap] = [xy[0], xy[1], ORB_HEIGHT_M]
        self.logic.new_target()

    def hand_touching(self) -> bool:
        n = self.data.ncon
        if n == 0:
            return False
        g = self.data.contact.geom[:n]  # [ncon, 2]
        rows = np.flatnonzero((g[:, 0] == self._orb_geom) | (g[:, 1] == self._orb_geom))
        return bool(rows.size) and bool(self._is_hand[g[rows]].any())

    def after_substep(self) -> None:
        if self.hand_touching():  # nothing happens to the trial state without a touch
            self.logic.on_substep(self.t_s, True)

    def step(self, action):
        if self.logic.wants_new_target:  # the reference re-randomises before the next control step
            self._place_orb()
        # watch every physics step only when a hand could reach the orb within this control step
        target = self.data.mocap_pos[self._orb_mocap]
        self.watch_substeps = bool(np.linalg.norm(self.data.xpos[self._hand_bodies] - target, axis=1).min()
                                   < WATCH_RADIUS_M)
        return super().step(action)

    def shaping_reward(self) -> float:
        """0.01 x 25 x exp(-3 x L1 distance) from the nearer hand (body origin) to the orb centre."""
        target = self.data.mocap_pos[self._orb_mocap]
        l1 = np.abs(self.data.xpos[self._hand_bodies] - target).sum(axis=1)
        return float(SHAPING_SCALE * TOUCH_REWARD * np.exp(-3.0 * l1).max())

    def reward_and_termination(self) -> tuple[float, bool]:
        touch, events = self.logic.on_control_step(self.t_s)
        for e in events:
            self.event(e)
        self.touch_rewards += int(touch > 0)
        return self.shaping_reward() + touch, False

    def task_observation(self) -> dict[str, np.ndarray]:
        out = {"task_logic": np.array([float(self.logic.state)])}
        if self.observe_orb:
            rel = self.data.mocap_pos[self._orb_mocap] - self.data.xpos[self._head]
            heading = self.data.xmat[self._torso].reshape(3, 3)[:2, 0]
            c, s = heading / np.linalg.norm(heading)
            out["orb"] = np.array([c * rel[0] + s * rel[1], -s * rel[0] + c * rel[1], rel[2]])
        return out

    def task_info(self) -> dict:
        return {"task_logic": int(self.logic.state), "orb_pos_m": self.data.mocap_pos[self._orb_mocap].copy()}

    def episode_record(self) -> dict | None:
        return {"touch_rewards": self.touch_rewards, "minutes": self._step_count * self.control_dt / 60.0}

    criterion = "touch_rewards_per_minute"
    metric_keys = ("episodes", "touch_rewards_per_minute", "fallen_fraction")

    @classmethod
    def summarize(cls, records: list[dict]) -> dict[str, float]:
        if not records:
            return {"episodes": 0}
        minutes = sum(r["minutes"] for r in records)
        return {"episodes": len(records),
                "touch_rewards_per_minute": sum(r["touch_rewards"] for r in records) / max(minutes, 1e-9)}

    def kinematics(self) -> dict[str, np.ndarray]:
        return {"hand_pos_m": self.data.xpos[self._hand_bodies].copy(),
                "orb_pos_m": self.data.mocap_pos[self._orb_mocap].copy()}
