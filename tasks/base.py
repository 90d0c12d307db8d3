"""`RatTask`: the gymnasium environment every task builds on.

A task builds the rat (`body.build`), adds its props to the rat's `MjSpec`, recompiles, and then
runs a fixed loop: write the action, step the physics `substeps` times (the task may watch every
substep, e.g. for lever presses at 2 ms resolution), read the observation blocks, compute reward.

Observation: a flat float32 vector, the concatenation of the body blocks named in `body_blocks`
and the task's own blocks (`task_block_sizes`), in that order; `observation_layout()` gives each
block's slice. Action: a Box in [-1, 1], one entry per actuator, or with the spinal layer on
(`body.spinal.enabled=true`) the descending command (forward speed, turning rate; see `body.spinal`).

`info` after every step carries:
- ``events``: list of ``(name, t_s)`` behavioural events that happened during the step
  (e.g. ``("press", 1.234)``), timed at physics-step resolution;
- ``kinematics``: dict of arrays sampled at the end of the step (e.g. paw position, m);
- ``t_s``: simulated time; task-specific counters (trial index, rewards so far, ...).
Numerical faults end the episode (truncated) and are named, never scored as behaviour: MuJoCo
instability (NaN or a MuJoCo warning) sets ``info["physics_error"]``; a non-finite action (a circuit
whose state diverged) is refused before it reaches the body and sets ``info["circuit_error"]``, as does
`abort("circuit_error", ...)` from a caller that caught a non-finite circuit state. The trial in
progress is recorded as faulted (``{"faulted": kind, ...}``); `metrics` scores only clean trials and
counts the faulted ones (``faulted_trials``).

Falls (the free rat through the spinal layer, any task): the step on which the rat falls
(`SpinalLayer.fallen`: torso tilted past 60 deg or down on the ground below it; a fallen rat cannot get
up) logs the event ``fell`` and sets `fell_at_s`; the episode's record says whether it fell, and
`metrics(records)` adds ``fallen_fraction``. ``fall_penalty`` > 0 is a training aid: that step costs that much
and ends the episode (as dm_control's locomotion tasks end when a non-foot part touches the ground).
Off, 0, in every canonical task.
"""

from __future__ import annotations

import math

from dataclasses import dataclass

import gymnasium as gym
import mujoco
import numpy as np

import body as body_pkg
from body import BodyInterface, RatBody


@dataclass(frozen=True)
class Experiment:
    """The real experiment a task reproduces."""

    name: str
    citation: str
    doi: str
    species: str = "Rattus norvegicus"

    @property
    def short_citation(self) -> str:
        """'Kawai et al. 2015' from the full citation."""
        import re

        first = self.citation.split(",")[0].split()[0]
        year = re.search(r"\((\d{4})\)", self.citation)
        return f"{first} et al. {year.group(1) if year else ''}".strip()


class RatTask(gym.Env):
    """Base class. Subclasses set `experiment`, `default_body` and implement the hooks below."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 50}
    experiment: Experiment
    default_body: str = "forelimb"
    valid_bodies: tuple[str, ...] = body_pkg.VARIANTS
    default_blocks: tuple[str, ...] = ("proprioception", "touch", "end_effectors")

    def __init__(
        self,
        body: str | None = None,
        control_dt: float = 0.02,
        physics_dt: float = 0.002,
        time_limit_s: float = 30.0,
        body_blocks: tuple[str, ...] | list[str] | None = None,
        body_options: dict | None = None,
        render_mode: str | None = "rgb_array",
        render_camera: str = "side",
        fall_penalty: float = 0.0,
    ):
        variant = body or self.default_body
        if variant not in self.valid_bodies:
            raise ValueError(f"task {self.name!r} does not run on body {variant!r}; valid: {', '.join(self.valid_bodies)}")
        substeps = control_dt / physics_dt
        if control_dt <= 0 or physics_dt <= 0 or abs(substeps - round(substeps)) > 1e-6:
            raise ValueError(f"control_dt ({control_dt} s) must be a positive whole multiple of physics_dt ({physics_dt} s)")
        if time_limit_s <= 0:
            raise ValueError(f"time_limit_s must be > 0, got {time_limit_s}")
        if fall_penalty < 0:
            raise ValueError(f"fall_penalty must be >= 0 (0: a fall does not end the episode), got {fall_penalty}")
        self.fall_penalty = float(fall_penalty)
        self.fell_at_s: float | None = None  # when the rat fell this episode (spinal layer only)
        self.control_dt = float(control_dt)
        self.physics_dt = float(physics_dt)
        self.substeps = int(round(substeps))
        self.time_limit_s = float(time_limit_s)
        self.max_steps = int(round(time_limit_s / control_dt))
        self.render_mode = render_mode
        self.render_camera = render_camera

        self.rat: RatBody = body_pkg.build(variant, physics_dt=physics_dt, floor=self.wants_floor, **(body_options or {}))
        self.build_scene(self.rat.spec)
        self.rat.recompile()
        self.model = self.rat.model
        self.data = mujoco.MjData(self.model)
        self.io = BodyInterface(self.rat, self.data)
        if self.fall_penalty > 0 and not self.rat.spinal:
            raise ValueError("fall_penalty needs the spinal layer (body.spinal.enabled=true): without it the free rat "
                             "starts lying on the floor; use fall_penalty=0")
        # With the spinal layer the brain's command (every control step) and the layer (every 20 ms)
        # run at their own rates: the layer updates `_spinal_updates` times per control step.
        self._spinal_updates = 1
        if self.rat.spinal:
            from body.spinal import spinal_period_s

            self.io.spinal_dt = spinal_period_s(self.control_dt, self.physics_dt)
            self._spinal_updates = int(round(self.control_dt / self.io.spinal_dt))
        self.bind(self.model)

        blocks = tuple(body_blocks) if body_blocks is not None else self.default_blocks
        if self.rat.vision and "egocentric_camera" not in blocks:  # body.vision=true: the camera is observed
            blocks = (*blocks, "egocentric_camera")
        sizes = self.rat.block_sizes()
        unknown = [b for b in blocks if b not in sizes]
        if unknown:
            raise ValueError(f"unknown observation block(s) {unknown} for body {variant!r}; valid: {', '.join(sizes)}")
        self.body_blocks = blocks
        self._layout: dict[str, slice] = {}
        offset = 0
        for name, size in [(b, sizes[b]) for b in blocks] + list(self.task_block_sizes().items()):
            self._layout[name] = slice(offset, offset + size)
            offset += size
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(offset,), dtype=np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(self.rat.action_size,), dtype=np.float32)
        self._renderer = None
        self._step_count = 0
        self._events: list[tuple[str, float]] = []

    # --------------------------------------------------------------------------- subclass hooks
    name: str = "task"
    wants_floor: bool = True
    # True: `after_substep` runs after every physics step (events timed at physics resolution);
    # False: physics runs `substeps` steps in one call and `after_substep` runs once per control step.
    watch_substeps: bool = True

    def build_scene(self, spec: mujoco.MjSpec) -> None:
        """Add props to the rat's spec before compiling (lever, pellet, arena...)."""

    def bind(self, model: mujoco.MjModel) -> None:
        """Resolve prop indices in the compiled model."""

    def task_block_sizes(self) -> dict[str, int]:
        """Sizes of the task's own observation blocks (appended after the body blocks)."""
        return {}

    def reset_task(self, rng: np.random.Generator) -> None:
        """Randomise the episode (pellet position, food...) and reset task state; physics is already reset."""

    def after_substep(self) -> None:
        """Watch the physics (after each substep if `watch_substeps`); call `self.event(...)`."""

    def task_observation(self) -> dict[str, np.ndarray]:
        return {}

    def reward_and_termination(self) -> tuple[float, bool]:
        """Reward for the control step just taken and whether the episode ended by the task's rules."""
        return 0.0, False

    def task_info(self) -> dict:
        return {}

    def kinematics(self) -> dict[str, np.ndarray]:
        return {}

    def step_records(self) -> list[dict]:
        """Behavioural records completed during this step (e.g. lever trials)."""
        return []

    def episode_record(self) -> dict | None:
        """A behavioural record for the episode that just ended (e.g. one reach trial)."""
        return None

    def trial_in_progress(self) -> dict | None:
        """What is known of the trial in progress (None: none is), recorded as faulted when a numerical
        fault ends the episode. By default the episode is the trial (a session, a reach)."""
        return {}

    # Behavioural scoring: `summarize(records)` turns records into the task's metrics; `criterion`
    # names the headline metric; `canonical` are the overrides that give the canonical task
    # (evaluation always uses it, whatever shaping training used).
    criterion: str = "return"
    metric_keys: tuple[str, ...] = ()
    canonical: dict = {"fall_penalty": 0.0}  # a task's own: {**RatTask.canonical, ...}

    @classmethod
    def summarize(cls, records: list[dict]) -> dict[str, float]:
        return {}

    @classmethod
    def criterion_met(cls, metrics: dict, min_trials: int = 50) -> bool:
        """Whether `summarize`'s metrics (training's rolling window, or a canonical evaluation with
        min_trials=0) meet the task's learning criterion -- what a lab trains its animals to. False where the
        task defines none (the free-moving tasks report what a run reaches)."""
        return False

    @staticmethod
    def _number(metrics: dict, key: str) -> float:
        value = metrics.get(key)
        try:
            return float(value) if value not in (None, "") else math.nan
        except (TypeError, ValueError):
            return math.nan

    @classmethod
    def metrics(cls, records: list[dict]) -> dict[str, float]:
        """The task's metrics (`summarize`) over the clean records, the count of faulted ones
        (``faulted_trials``, ``physics_error_trials``, ``circuit_error_trials``, when any), and through the spinal
        layer the fraction of episodes in which the rat fell (``fallen_fraction``, from the episode records' ``fell``)."""
        faulted = [r for r in records if r.get("faulted")]
        records = [r for r in records if not r.get("faulted")]
        out = cls.summarize(records)
        if faulted:
            out["faulted_trials"] = len(faulted)
            for kind in cls.FAULTS:
                out[f"{kind}_trials"] = sum(r["faulted"] == kind for r in faulted)
        fell = [r["fell"] for r in records if r.get("fell") is not None]
        if fell:
            out["fallen_fraction"] = float(np.mean(fell))
        return out

    # ------------------------------------------------------------------------------ env loop
    @property
    def t_s(self) -> float:
        """Simulated time, rounded to 1 us (removes the float drift of summed timesteps)."""
        return round(float(self.data.time), 6)

    def event(self, name: str) -> None:
        """Log a behavioural event at the current physics time."""
        self._events.append((name, self.t_s))

    def observation_layout(self) -> dict[str, slice]:
        return dict(self._layout)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        mujoco.mj_resetData(self.model, self.data)
        self.rat.rest_pose(self.data)
        self._step_count = 0
        self._return = 0.0
        self._events = []
        self.fell_at_s = None
        self.reset_task(self.np_random)
        mujoco.mj_forward(self.model, self.data)
        self.io.reset(seed=int(self.np_random.integers(2**63 - 1)))
        obs = self._observe()
        return obs, self._info()

    FAULTS = ("physics_error", "circuit_error")

    def abort(self, kind: str, message: str):
        """End the episode on a numerical fault: the step's return value, with `info[kind] = message` and
        the trial in progress recorded as faulted (`trial_in_progress`)."""
        if kind not in self.FAULTS:
            raise ValueError(f"unknown fault {kind!r}; valid: {', '.join(self.FAULTS)}")
        info = self._info()
        info[kind] = message
        info["episode"] = {"return": self._return, "length": self._step_count, "physics_error": kind == "physics_error",
                           "fault": kind}
        trial = self.trial_in_progress()
        info["records"] = [] if trial is None else [{**trial, "faulted": kind, "fault": message, "t_s": self.t_s}]
        return np.zeros(self.observation_space.shape, np.float32), 0.0, False, True, info

    def step(self, action):
        self._events = []
        action = np.asarray(action)
        if not np.isfinite(action).all():  # a diverged circuit: refused before it reaches the body
            bad = np.flatnonzero(~np.isfinite(action.reshape(-1)))
            self._step_count += 1
            return self.abort("circuit_error", f"non-finite action (entries {bad.tolist()}) at t={self.t_s:.3f} s")
        self.io.apply_action(action)
        chunk = self.substeps // self._spinal_updates  # physics steps between spinal-layer updates
        for k in range(self._spinal_updates):
            if k:
                self.io.update_spinal()
            if self.watch_substeps:
                for _ in range(chunk):
                    mujoco.mj_step(self.model, self.data)
                    self.after_substep()
            else:
                mujoco.mj_step(self.model, self.data, nstep=chunk)
        if not self.watch_substeps:
            self.after_substep()
        physics_error = self._physics_error()
        self._step_count += 1
        if physics_error is not None:
            return self.abort("physics_error", physics_error)
        fell_now = self.rat.spinal and self.fell_at_s is None and self.io.spinal.fallen(self.data)
        if fell_now:
            self.fell_at_s = self.t_s
            self.event("fell")
        reward, terminated = self.reward_and_termination()
        if fell_now and self.fall_penalty > 0:
            reward, terminated = reward - self.fall_penalty, True
        self._return += reward
        truncated = (not terminated) and self._step_count >= self.max_steps
        info = self._info()
        records = self.step_records()
        if terminated or truncated:
            info["episode"] = {"return": self._return, "length": self._step_count, "physics_error": False}
            final = self.episode_record()
            if final is not None:
                if self.rat.spinal:
                    final = {**final, "fell": self.fell_at_s is not None}
                records = records + [final]
        info["records"] = records
        return self._observe(), float(reward), bool(terminated), bool(truncated), info

    def _physics_error(self) -> str | None:
        counts = self.data.warning.number
        if counts.any():
            i = int(np.flatnonzero(counts)[0])
            self.data.warning[i].number = 0
            return f"MuJoCo warning {mujoco.mjtWarning(i).name} at t={self.t_s:.3f} s"
        if not (np.isfinite(self.data.qpos).all() and np.isfinite(self.data.qvel).all()):
            return f"non-finite state at t={self.t_s:.3f} s"
        return None

    def _observe(self) -> np.ndarray:
        obs = np.empty(self.observation_space.shape, np.float32)
        layout = self._layout
        for name, value in self.io.observe(self.body_blocks).items():
            obs[layout[name]] = value
        for name, value in self.task_observation().items():
            obs[layout[name]] = value
        return obs

    def _info(self) -> dict:
        info = {"t_s": self.t_s, "events": list(self._events), "kinematics": self.kinematics()}
        info.update(self.task_info())
        return info

    # ---------------------------------------------------------------------------------- render
    def render(self):
        from body.render import make_renderer, scene_option

        if self._renderer is None:
            self._renderer = make_renderer(self.model, 480, 640)
            self._scene_option = scene_option()
        self._renderer.update_scene(self.data, camera=self.render_camera, scene_option=self._scene_option)
        return self._renderer.render()

    def close(self):
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        self.io.close()

    @classmethod
    def describe(cls) -> str:
        return f"{cls.experiment.name} ({cls.experiment.citation})"
