"""The interval-timed two-press lever task of Kawai et al. 2015 (Neuron 86:800).

Rats learned to press a lever twice with an inter-press interval (IPI) of 700 ms to get a reward.
Here a real hinged lever sits under the paw: a bar on a hinge with a spring return and hard stops,
pressed by contact with the paw (the only rat geoms it collides with are the forearm, hand and
fingers). A press is the lever angle crossing `press_angle_rad` downward; it is released when the
angle falls back below `release_angle_rad` (hysteresis), so a held lever counts once.

Trial structure (checked at every 2 ms physics step):
  waiting --first press--> interval --second press--> ITI --iti_s--> waiting
  interval --no second press within timeout_s--> ITI (unrewarded)
The second press ends the trial; it is rewarded (+1) when |IPI - target_ipi_s| <= window_s.
Presses during the inter-trial interval are logged as ``iti_press`` and do not start a trial.

Options:
- ``shaping_width_s`` > 0: every second press earns the closeness term
  0.5 exp(-(IPI - target)^2 / (2 width^2)), and a press inside the window earns 0.5 more, so a
  trial exactly on target earns 1 (off, 0, for the canonical task: 1 inside the window, 0 outside).
  The closeness term applies inside the window too, so the pull toward the target survives an
  adaptive window, whose staircase otherwise holds the rewarded fraction at 70 % wherever the IPIs
  sit (measured: binary rewards plateaued at an IPI of 0.55 s). Rewarding only the second press
  matters: in this project's prototypes, rewarding the first press taught the rat to tap as fast as
  it could.
- ``adaptive_window``: the reward window starts at ``window_start_s`` and narrows by
  ``window_step`` after every rewarded trial and widens by window_step^(-7/3) after every
  unrewarded one, never below ``window_s``: a weighted staircase whose fixed point is 70 %
  rewarded trials, like the progressively stricter criteria of the rats' training.
- ``press_cost`` > 0: every press costs this much reward (effort; off, 0, for the canonical task).
- ``fixed_trial_pace``: the next trial becomes available no sooner than ``iti_s`` after the end of
  the reward window (first press + target + window), so a short IPI does not buy more trials per
  minute. Without it the reward rate favours fast pressing: in training runs the median IPI first
  fell from ~0.75 s to ~0.35 s while the wide early window rewarded any interval (off for the
  canonical task).
- ``cue``: adds a one-float observation that is 1 while presses can start a trial (a house light).

Observation blocks after the body's: ``lever`` (angle / max angle, angular velocity in rad/s
scaled by 0.1) and ``reward_port`` (the reward delivered in the last control step).
"""

from __future__ import annotations

import math

import mujoco
import numpy as np

from tasks.base import Experiment, RatTask
from tasks.props import PROP_BIT, add_closeup_camera, let_forelimb_touch_props

TARGET_IPI_S = 0.7  # s: Kawai et al. 2015's target interval (the canonical task's)
CRITERION_REWARDED_FRACTION = 0.7  # Kawai et al. 2015's trained rats: >= 70 % of trials rewarded

WAITING, INTERVAL, ITI = "waiting", "interval", "iti"
SHAPING_SCALE = 0.5  # under shaping, half of a trial's reward is graded by closeness to the target


class LeverTiming(RatTask):
    name = "lever_timing"
    experiment = Experiment(
        name="Two-press interval timing task (700 ms target IPI)",
        citation="Kawai R, Markman T, Poddar R, Ko R, Fantana AL, Dhawale AK, Kampff AR, Ölveczky BP (2015) "
                 "Motor cortex is required for learning but not for executing a motor skill. Neuron 86:800-812",
        doi="10.1016/j.neuron.2015.03.024",
    )
    default_body = "forelimb"
    valid_bodies = ("forelimb", "head_fixed")
    default_blocks = ("proprioception", "touch", "end_effectors")

    # Lever geometry in world coordinates (m; the head-fixed torso sits at x 0.031, z 0.065). The
    # paw's rest position (zero control) is x 0.106, |y| 0.028, z 0.024, about 1.3 cm above the
    # paddle; pressing takes a deliberate lowering of the paw (shoulder command >= ~0.5), so
    # exploration noise around rest rarely presses by accident.
    pivot_x_m = 0.125
    pivot_y_m = 0.028  # magnitude; on the side of the working paw
    pivot_z_m = 0.010
    paddle_half_length_m = 0.022
    paddle_half_width_m = 0.013
    max_angle_rad = 0.35  # hard stop

    def __init__(
        self,
        target_ipi_s: float = TARGET_IPI_S,
        window_s: float = 0.1,
        iti_s: float = 1.2,
        timeout_s: float = 1.5,
        press_angle_rad: float = 0.12,
        release_angle_rad: float = 0.06,
        spring_stiffness_nm_per_rad: float = 0.01,
        shaping_width_s: float = 0.0,
        adaptive_window: bool = False,
        window_start_s: float = 0.35,
        window_step: float = 0.97,
        cue: bool = False,
        fixed_trial_pace: bool = False,
        press_cost: float = 0.0,
        time_limit_s: float = 20.0,
        **kwargs,
    ):
        if not 0 < window_s < target_ipi_s:
            raise ValueError(f"window_s must be in (0, target_ipi_s={target_ipi_s}), got {window_s}")
        if timeout_s <= target_ipi_s + window_s:
            raise ValueError(f"timeout_s ({timeout_s}) must exceed target_ipi_s + window_s ({target_ipi_s + window_s})")
        if not 0 < release_angle_rad < press_angle_rad < self.max_angle_rad:
            raise ValueError(f"need 0 < release_angle_rad < press_angle_rad < {self.max_angle_rad} rad")
        if iti_s < 0 or shaping_width_s < 0 or press_cost < 0:
            raise ValueError("iti_s, shaping_width_s and press_cost must be >= 0")
        if adaptive_window and not (window_start_s >= window_s and 0 < window_step < 1):
            raise ValueError("adaptive window needs window_start_s >= window_s and 0 < window_step < 1")
        self.target_ipi_s = target_ipi_s
        self.window_s = window_s
        self.iti_s = iti_s
        self.timeout_s = timeout_s
        self.press_angle_rad = press_angle_rad
        self.release_angle_rad = release_angle_rad
        self.spring_stiffness = spring_stiffness_nm_per_rad
        self.shaping_width_s = shaping_width_s
        self.adaptive_window = adaptive_window
        self.window_step = window_step
        self.cue = cue
        self.fixed_trial_pace = fixed_trial_pace
        self.press_cost = press_cost
        # the adaptive window persists across episodes, like a rat's criterion across sessions
        self.current_window_s = window_start_s if adaptive_window else window_s
        kwargs.setdefault("render_camera", "closeup")
        super().__init__(time_limit_s=time_limit_s, **kwargs)

    # ------------------------------------------------------------------------------- scene
    def build_scene(self, spec: mujoco.MjSpec) -> None:
        s = self.rat.side_letter
        y = -self.pivot_y_m if s == "R" else self.pivot_y_m
        lever = spec.worldbody.add_body(name="lever", pos=[self.pivot_x_m, y, self.pivot_z_m])
        lever.add_joint(
            name="lever_hinge", type=mujoco.mjtJoint.mjJNT_HINGE, axis=[0, -1, 0],
            range=[0.0, self.max_angle_rad], limited=mujoco.mjtLimited.mjLIMITED_TRUE,
            stiffness=self.spring_stiffness, springref=-0.05, damping=2e-4, armature=1e-6,
            solref_limit=[0.004, 1.0],
        )
        lever.add_geom(name="lever_paddle", type=mujoco.mjtGeom.mjGEOM_BOX,
                       size=[self.paddle_half_length_m, self.paddle_half_width_m, 0.0015],
                       pos=[-self.paddle_half_length_m, 0, 0], mass=0.002, rgba=[0.75, 0.6, 0.2, 1],
                       contype=PROP_BIT, conaffinity=PROP_BIT, condim=3, friction=[1, 0.005, 0.0001])
        spec.worldbody.add_geom(name="lever_post", type=mujoco.mjtGeom.mjGEOM_CYLINDER, size=[0.003, self.pivot_z_m / 2],
                                pos=[self.pivot_x_m, y, self.pivot_z_m / 2], rgba=[0.3, 0.3, 0.3, 1],
                                contype=0, conaffinity=0)
        let_forelimb_touch_props(spec, s)
        add_closeup_camera(spec, "lever", s)

    def bind(self, model: mujoco.MjModel) -> None:
        j = model.joint("lever_hinge")
        self._lever_q = int(j.qposadr[0])
        self._lever_v = int(j.dofadr[0])
        self._palm = model.site(f"palm_{self.rat.side_letter}").id

    def task_block_sizes(self) -> dict[str, int]:
        sizes = {"lever": 2, "reward_port": 1}
        if self.cue:
            sizes["cue"] = 1
        return sizes

    # ------------------------------------------------------------------------------- trials
    def reset_task(self, rng: np.random.Generator) -> None:
        self.phase = WAITING
        self.lever_down = False
        self.first_press_s = math.nan
        self.iti_end_s = 0.0
        self.trial_index = 0
        self.trials_rewarded = 0
        self.last_ipi_s = math.nan
        self.last_rewarded = False
        self._step_reward = 0.0
        self._last_reward = 0.0
        self._completed: list[dict] = []
        self._press_times: list[float] = []

    @property
    def lever_angle_rad(self) -> float:
        return float(self.data.qpos[self._lever_q])

    def after_substep(self) -> None:
        angle = self.data.qpos[self._lever_q]
        if self.phase == WAITING and not self.lever_down and angle <= self.press_angle_rad:
            return  # the common case: nothing can happen
        t = self.t_s
        if not self.lever_down and angle > self.press_angle_rad:
            self.lever_down = True
            self._on_press(t)
        elif self.lever_down and angle < self.release_angle_rad:
            self.lever_down = False
            self.event("release")
        if self.phase == INTERVAL and t - self.first_press_s > self.timeout_s:
            self.event("timeout")
            self._end_trial(second_press_s=math.nan)
        elif self.phase == ITI and t >= self.iti_end_s:
            self.phase = WAITING

    def _on_press(self, t: float) -> None:
        self._press_times.append(t)
        self._step_reward -= self.press_cost
        if self.phase == ITI:
            self.event("iti_press")
        elif self.phase == WAITING:
            self.event("press")
            self.event("trial_start")
            self.phase = INTERVAL
            self.first_press_s = t
        else:
            self.event("press")
            self._end_trial(second_press_s=t)

    def _end_trial(self, second_press_s: float) -> None:
        ipi = second_press_s - self.first_press_s
        rewarded = bool(abs(ipi - self.target_ipi_s) <= self.current_window_s + 1e-9) if not math.isnan(ipi) else False
        reward = 1.0 if rewarded else 0.0
        if self.shaping_width_s > 0 and not math.isnan(ipi):
            closeness = math.exp(-0.5 * ((ipi - self.target_ipi_s) / self.shaping_width_s) ** 2)
            reward = SHAPING_SCALE * closeness + (1 - SHAPING_SCALE) * reward
        self._step_reward += reward
        if rewarded:
            self.event("reward")
            self.trials_rewarded += 1
        self._completed.append({
            "trial_index": self.trial_index,
            "first_press_s": self.first_press_s,
            "second_press_s": second_press_s,
            "ipi_s": ipi,
            "rewarded": rewarded,
            "window_s": self.current_window_s,
            "canonical_rewarded": bool(not math.isnan(ipi) and abs(ipi - self.target_ipi_s) <= self.window_s + 1e-9),
        })
        self.event("trial_end")
        self.last_ipi_s, self.last_rewarded = ipi, rewarded
        self.trial_index += 1
        if self.adaptive_window:
            if rewarded:
                self.current_window_s = max(self.window_s, self.current_window_s * self.window_step)
            else:
                self.current_window_s = self.current_window_s * self.window_step ** (-7 / 3)
        self.phase = ITI
        self.iti_end_s = self.t_s + self.iti_s
        if self.fixed_trial_pace and not math.isnan(self.first_press_s):  # early second presses buy no time
            self.iti_end_s = max(self.iti_end_s, self.first_press_s + self.target_ipi_s + self.window_s + self.iti_s)
        self.first_press_s = math.nan

    # ------------------------------------------------------------------------ step outputs
    def step(self, action):
        self._step_reward = 0.0
        self._completed = []
        self._press_times = []
        return super().step(action)

    def reward_and_termination(self) -> tuple[float, bool]:
        self._last_reward = self._step_reward
        return self._step_reward, False

    def task_observation(self) -> dict[str, np.ndarray]:
        obs = {
            "lever": np.array([self.lever_angle_rad / self.max_angle_rad, 0.1 * self.data.qvel[self._lever_v]]),
            "reward_port": np.array([self._last_reward]),
        }
        if self.cue:
            obs["cue"] = np.array([1.0 if self.phase == WAITING else 0.0])
        return obs

    def task_info(self) -> dict:
        return {
            "phase": self.phase,
            "trial_index": self.trial_index,
            "trials_rewarded": self.trials_rewarded,
            "press_times_s": list(self._press_times),
            "completed_trials": list(self._completed),
            "ipi_s": None if math.isnan(self.last_ipi_s) else self.last_ipi_s,  # last completed trial's IPI
            "rewarded": self.last_rewarded,
            "window_s": self.current_window_s,
        }

    def step_records(self) -> list[dict]:
        return list(self._completed)

    def trial_in_progress(self) -> dict | None:
        """A trial is in progress between its first press and its end (second press or time-out)."""
        if self.phase != INTERVAL:
            return None
        return {"trial": self.trial_index, "first_press_s": self.first_press_s, "ipi_s": math.nan}

    criterion = "canonical_rewarded_fraction"  # the fixed ±0.1 s window, whatever window training uses
    metric_keys = ("trials", "rewarded_fraction", "canonical_rewarded_fraction", "ipi_median_s", "ipi_cv")
    canonical = {**RatTask.canonical, "shaping_width_s": 0.0, "adaptive_window": False, "press_cost": 0.0, "fixed_trial_pace": False}

    @classmethod
    def summarize(cls, records: list[dict]) -> dict[str, float]:
        """Fractions rewarded (as trained, and under the canonical fixed window); median, CV of IPIs."""
        if not records:
            return {"trials": 0}
        # a trial without a second press has no IPI: NaN here, null once written to JSON and read back
        ipis = np.array([r["ipi_s"] for r in records if r["ipi_s"] is not None and not math.isnan(r["ipi_s"])])
        out = {"trials": len(records), "rewarded_fraction": float(np.mean([r["rewarded"] for r in records])),
               # rewarded under the fixed canonical window, whatever window training used
               "canonical_rewarded_fraction": float(np.mean([r["canonical_rewarded"] for r in records]))}
        if len(ipis):
            out["ipi_median_s"] = float(np.median(ipis))
            out["ipi_cv"] = float(np.std(ipis) / np.mean(ipis)) if len(ipis) > 1 else float("nan")
        return out

    @classmethod
    def criterion_met(cls, metrics: dict, min_trials: int = 50) -> bool:
        """Kawai et al. 2015's trained rats: >= 70 % of trials rewarded under the fixed 0.7 +- 0.1 s window,
        and the median inter-press interval within 10 % of the 0.7 s target (IPIs are sums of physics steps: a
        median on the boundary, 0.630 s as 0.62999999..., is within, as the reward window counts it)."""
        return (cls._number(metrics, "canonical_rewarded_fraction") >= CRITERION_REWARDED_FRACTION
                and abs(cls._number(metrics, "ipi_median_s") - TARGET_IPI_S) <= 0.1 * TARGET_IPI_S + 1e-9
                and cls._number(metrics, "trials") >= min_trials)

    def kinematics(self) -> dict[str, np.ndarray]:
        return {"paw_pos_m": self.data.site_xpos[self._palm].copy(), "lever_angle_rad": np.array([self.lever_angle_rad])}
