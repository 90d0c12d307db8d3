"""Open-field foraging in a 1 x 1 m walled box (the arena of Sargolini et al. 2006), free rat.

Food items (1 cm-radius pellets) lie on the floor at random positions; an item is collected when
the rat's mouth is over it (the jaw body within `collect_radius_m` of the item's centre
horizontally and below 8 cm, i.e. not rearing: rats eat with their mouth), earning +1, and a new item appears at a random free position at least
`min_respawn_distance_m` from the head. The head position is logged at every control step
(50 Hz at the default 20 ms control step) in ``info["kinematics"]["head_pos_m"]``, so the
comparison suite can set the virtual rat's locomotion beside the real rat trajectory shipped in
`ratinabox` (Sargolini et al. 2006, 600 s at 50 Hz in a 1 m box).

The rat starts in the centre with a random heading. Observation blocks after the body's:
``allocentric`` (head x, y in m, sin and cos of heading — what place and head-direction cells
would supply) and ``food`` (each item's position relative to the head, rotated into the heading
frame, m; in item order, or nearest first with ``food_nearest_first=true`` — the items are
interchangeable, and a forager that attends to the nearest one needs only the first pair to steer). Learning this task by driving the 38 servos directly takes very large budgets; with the
spinal layer (`body.spinal.enabled=true`) the action is a descending command (speed, turn) and a circuit
learns to forage (see the README). ``approach_shaping_per_m`` > 0 adds a potential-based training aid
(that much reward per metre the mouth gets closer to the nearest item, repaid when it moves away;
off, 0, in the canonical task, which evaluation always uses).

Falls (`tasks.base`): with the spinal layer the task notes whether the rat fell; a fallen rat cannot get
up, so the rest of its session is lost. ``fall_penalty`` > 0 is a second training aid: the step on which
the rat falls costs that much and ends the episode, so the policy learns what a fall costs instead of
spending the rest of the episode on the floor. Its record still counts the whole session (`time_limit_s`)
in food per minute. Off, 0, in the canonical task: the fallen rat lies there until the time limit.
"""

from __future__ import annotations

import mujoco
import numpy as np

from tasks.base import Experiment, RatTask
from tasks.props import yaw_quat
from tasks.virtual_rodent import place_without_contact

ARENA_HALF_M = 0.5
WALL_HEIGHT_M = 0.5
FOOD_RADIUS_M = 0.01
SPAWN_START_HEIGHT_M = 0.04
MAX_MOUTH_HEIGHT_M = 0.08


class OpenField(RatTask):
    name = "open_field"
    experiment = Experiment(
        name="Open-field foraging in a 1 m square box",
        citation="Sargolini F, Fyhn M, Hafting T, McNaughton BL, Witter MP, Moser MB, Moser EI (2006) "
                 "Conjunctive representation of position, direction, and velocity in entorhinal cortex. "
                 "Science 312:758-762",
        doi="10.1126/science.1125572",
    )
    default_body = "free"
    valid_bodies = ("free",)
    watch_substeps = False  # the mouth moves < 1 cm per control step: checking food once per step suffices
    default_blocks = ("proprioception", "vestibular", "touch", "end_effectors")

    def __init__(self, n_food: int = 3, collect_radius_m: float = 0.04, min_respawn_distance_m: float = 0.15,
                 approach_shaping_per_m: float = 0.0, food_nearest_first: bool = False,
                 time_limit_s: float = 30.0, render_camera: str = "arena_top", **kwargs):
        if approach_shaping_per_m < 0:
            raise ValueError(f"approach_shaping_per_m must be >= 0, got {approach_shaping_per_m}")
        if n_food < 1:
            raise ValueError(f"n_food must be >= 1, got {n_food}")
        if collect_radius_m <= 0 or not 0 <= min_respawn_distance_m < ARENA_HALF_M:
            raise ValueError(f"need collect_radius_m > 0 and 0 <= min_respawn_distance_m < {ARENA_HALF_M}")
        self.n_food = n_food
        self.collect_radius_m = collect_radius_m
        self.min_respawn_distance_m = min_respawn_distance_m
        self.approach_shaping_per_m = float(approach_shaping_per_m)
        self.food_nearest_first = bool(food_nearest_first)
        super().__init__(time_limit_s=time_limit_s, render_camera=render_camera, **kwargs)

    def build_scene(self, spec: mujoco.MjSpec) -> None:
        h, t = ARENA_HALF_M, 0.01
        for name, pos, size in (
            ("wall_north", [0, h + t, WALL_HEIGHT_M / 2], [h + 2 * t, t, WALL_HEIGHT_M / 2]),
            ("wall_south", [0, -h - t, WALL_HEIGHT_M / 2], [h + 2 * t, t, WALL_HEIGHT_M / 2]),
            ("wall_east", [h + t, 0, WALL_HEIGHT_M / 2], [t, h, WALL_HEIGHT_M / 2]),
            ("wall_west", [-h - t, 0, WALL_HEIGHT_M / 2], [t, h, WALL_HEIGHT_M / 2]),
        ):
            spec.worldbody.add_geom(name=name, type=mujoco.mjtGeom.mjGEOM_BOX, pos=pos, size=size,
                                    rgba=[0.55, 0.5, 0.45, 1], contype=1, conaffinity=1)
        for i in range(self.n_food):
            food = spec.worldbody.add_body(name=f"food_{i}", mocap=True, pos=[0, 0, 0.004])
            food.add_geom(name=f"food_{i}", type=mujoco.mjtGeom.mjGEOM_CYLINDER, size=[FOOD_RADIUS_M, 0.004],
                          rgba=[0.9, 0.6, 0.1, 1], contype=0, conaffinity=0)
        spec.worldbody.add_camera(name="arena_top", pos=[0, 0, 1.6], fovy=45)

    def bind(self, model: mujoco.MjModel) -> None:
        self._food_mocap = np.array([model.body(f"food_{i}").mocapid[0] for i in range(self.n_food)])
        self._head = model.body("skull").id
        self._jaw = model.body("jaw").id
        self._torso = model.body("torso").id
        self._root_q = int(model.joint("root").qposadr[0])

    def task_block_sizes(self) -> dict[str, int]:
        return {"allocentric": 4, "food": 2 * self.n_food}

    # ------------------------------------------------------------------------------- episode
    def reset_task(self, rng: np.random.Generator) -> None:
        # Lowest contact-free height from 4 cm up, in 2 mm steps: lying (servos at zero) or standing
        # (the spinal layer's posture), the rat starts just above the floor.
        place_without_contact(self.model, self.data, self._root_q, (0.0, 0.0), yaw_quat(rng.uniform(0, 2 * np.pi)),
                              start_z_m=SPAWN_START_HEIGHT_M, step_m=0.002)
        self._rng = rng
        for i in range(self.n_food):
            self._place_food(i)
        self.food_collected = 0
        self._step_reward = 0.0
        self._nearest_m = self._nearest_food_m()

    def _nearest_food_m(self) -> float:
        """Horizontal distance from the mouth to the nearest food item, m."""
        mouth = self.data.xpos[self._jaw, :2]
        return float(np.min(np.linalg.norm(self.data.mocap_pos[self._food_mocap, :2] - mouth, axis=1)))

    def _place_food(self, i: int) -> None:
        head = self.data.xpos[self._head][:2]
        margin = ARENA_HALF_M - 0.05
        for _ in range(1000):
            xy = self._rng.uniform(-margin, margin, size=2)
            if np.linalg.norm(xy - head) >= self.min_respawn_distance_m:
                break
        self.data.mocap_pos[self._food_mocap[i]] = [xy[0], xy[1], 0.004]

    def food_positions_m(self) -> np.ndarray:
        return self.data.mocap_pos[self._food_mocap].copy()  # [n_food, 3]

    def after_substep(self) -> None:
        mouth = self.data.xpos[self._jaw]
        if mouth[2] > MAX_MOUTH_HEIGHT_M:  # rearing over an item does not collect it
            return
        for i in range(self.n_food):
            if np.linalg.norm(self.data.mocap_pos[self._food_mocap[i], :2] - mouth[:2]) < self.collect_radius_m:
                self.food_collected += 1
                self._collected_this_step = True
                self._step_reward += 1.0
                self.event("food_collected")
                self._place_food(i)

    def step(self, action):
        self._step_reward = 0.0
        self._collected_this_step = False
        return super().step(action)

    def reward_and_termination(self) -> tuple[float, bool]:
        nearest = self._nearest_food_m()
        if self.approach_shaping_per_m > 0 and not self._collected_this_step:
            # potential-based shaping (Ng et al. 1999): reward the approach, repay the retreat
            self._step_reward += self.approach_shaping_per_m * (self._nearest_m - nearest)
        self._nearest_m = nearest
        return self._step_reward, False

    @property
    def heading_rad(self) -> float:
        xmat = self.data.xmat[self._torso].reshape(3, 3)
        return float(np.arctan2(xmat[1, 0], xmat[0, 0]))

    def task_observation(self) -> dict[str, np.ndarray]:
        head = self.data.xpos[self._head]
        yaw = self.heading_rad
        c, s = np.cos(yaw), np.sin(yaw)
        rel = self.food_positions_m()[:, :2] - head[:2]
        ego = np.stack([c * rel[:, 0] + s * rel[:, 1], -s * rel[:, 0] + c * rel[:, 1]], axis=1)  # [n_food, 2]
        if self.food_nearest_first:
            ego = ego[np.argsort(np.linalg.norm(ego, axis=1), kind="stable")]
        return {"allocentric": np.array([head[0], head[1], s, c]), "food": ego.reshape(-1)}

    def task_info(self) -> dict:
        return {"food_collected": self.food_collected, "head_sample_rate_hz": 1.0 / self.control_dt}

    def episode_record(self) -> dict | None:
        # an episode a fall ended still counts its whole session: the food after the fall is lost
        seconds = self.time_limit_s if self.fell_at_s is not None and self.fall_penalty > 0 else self._step_count * self.control_dt
        return {"food_collected": self.food_collected, "minutes": seconds / 60.0}

    criterion = "food_per_minute"
    canonical = {**RatTask.canonical, "approach_shaping_per_m": 0.0}
    metric_keys = ("episodes", "food_per_minute", "fallen_fraction")
    criterion_food_per_minute = 10.0  # a forager, not a random walker (chance: benchmarks/training.py --chance)

    @classmethod
    def criterion_met(cls, metrics: dict, min_trials: int = 0) -> bool:
        """Foraging: >= 10 food items per minute through the spinal layer."""
        return cls._number(metrics, "food_per_minute") >= cls.criterion_food_per_minute

    @classmethod
    def summarize(cls, records: list[dict]) -> dict[str, float]:
        if not records:
            return {"episodes": 0}
        food = sum(r["food_collected"] for r in records)
        minutes = sum(r["minutes"] for r in records)
        return {"episodes": len(records), "food_per_minute": food / max(minutes, 1e-9)}

    def kinematics(self) -> dict[str, np.ndarray]:
        return {"head_pos_m": self.data.xpos[self._head].copy(), "heading_rad": np.array([self.heading_rad]),
                "torso_height_m": np.array([self.data.xpos[self._torso][2]])}
