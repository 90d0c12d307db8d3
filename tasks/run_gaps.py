"""`run_gaps`: the virtual rodent's gap-running task (Merel et al., ICLR 2020), rebuilt natively.

Same definitions as dm_control's reference (`basic_rodent_2020.rodent_run_gaps`: arena
`locomotion.arenas.corridors.GapsCorridor`, task `locomotion.tasks.corridors.RunThroughCorridor`):

- a corridor 40 m long and 2 m wide: a 6 m start platform, then platforms of length U(0.4, 0.8) m
  separated by gaps of U(0.05, 0.2) m until x reaches 40 m; platforms are 0.32 m thick boxes whose
  tops are at z = 0; invisible side walls at y = ±1 m and end walls 2 m beyond each end; an
  invisible ground plane 10 m below;
- the free rat spawns at x = 5 m facing +x;
- reward per control step: max(0, 1 − |v_x − 1 m/s| / 1 m/s), v_x the forward velocity of the
  rat's centre of mass (the torso subtree, as the reference's ``subtree_linvel``);
- the episode ends (terminated) when a forearm or foot falls below z = −0.3 m (event ``fell_into_gap``); 30 s limit;
- observation: the virtual rodent's observation set (`walker/...` blocks), optional egocentric camera.

Departures, each one override away: 2 ms physics step by default (``body.physics_dt=0.001`` is the
reference); the rat starts in its servo rest pose rather than the model's reference pose. Platform and
gap lengths come from ``reset(seed=...)``. The spawn height is the lowest contact-free one above the
reference's (1 cm steps, as the reference's escape task does). The platforms are a fixed pool of box geoms resized at
every reset, so a new corridor costs no model recompilation.
"""

from __future__ import annotations

import math

import mujoco
import numpy as np

from body.rat import VR_BLOCKS, VR_END_EFFECTORS
from tasks.base import RatTask
from tasks.props import yaw_quat
from tasks.virtual_rodent import TORSO_SPAWN_HEIGHT_M, VIRTUAL_RODENT, place_without_contact, use_reference_arena_options

START_PLATFORM_M = 6.0  # 3 x the reference's corridor padding (2 m)
PADDING_M = 2.0
THICKNESS_M = 0.16  # half thickness of a platform box
PARKED_Z_M = -100.0  # unused platform geoms wait here


def corridor_layout(rng: np.random.Generator, platform_length_m=(0.4, 0.8), gap_length_m=(0.05, 0.2),
                    corridor_length_m: float = 40.0) -> list[tuple[float, float]]:
    """(start x, length) of every platform after the start platform, as the reference draws them."""
    out, x = [], START_PLATFORM_M
    while x < corridor_length_m:
        length = float(rng.uniform(*platform_length_m))
        out.append((x, length))
        x += length + float(rng.uniform(*gap_length_m))
    return out


class RunGaps(RatTask):
    name = "run_gaps"
    experiment = VIRTUAL_RODENT
    default_body = "free"
    valid_bodies = ("free",)
    default_blocks = VR_BLOCKS
    wants_floor = False
    watch_substeps = False  # reward and termination read the state at the end of the control step

    def __init__(self, platform_length_m=(0.4, 0.8), gap_length_m=(0.05, 0.2), corridor_width_m: float = 2.0,
                 corridor_length_m: float = 40.0, target_speed_m_s: float = 1.0, terminate_at_height_m: float = -0.3,
                 spawn_x_m: float = 5.0, time_limit_s: float = 30.0, render_camera: str = "side", **kwargs):
        platform_length_m, gap_length_m = tuple(platform_length_m), tuple(gap_length_m)
        if not (0 < platform_length_m[0] <= platform_length_m[1] and 0 <= gap_length_m[0] <= gap_length_m[1]):
            raise ValueError(f"platform_length_m and gap_length_m must be (low, high) ranges with 0 < low <= high; "
                             f"got {platform_length_m}, {gap_length_m}")
        if corridor_length_m <= START_PLATFORM_M or corridor_width_m <= 0 or target_speed_m_s <= 0:
            raise ValueError(f"need corridor_length_m > {START_PLATFORM_M}, corridor_width_m > 0, target_speed_m_s > 0")
        self.platform_length_m, self.gap_length_m = platform_length_m, gap_length_m
        self.corridor_width_m, self.corridor_length_m = corridor_width_m, corridor_length_m
        self.target_speed_m_s, self.terminate_at_height_m, self.spawn_x_m = target_speed_m_s, terminate_at_height_m, spawn_x_m
        # enough pooled geoms for the shortest platforms and gaps
        self.max_platforms = math.ceil((corridor_length_m - START_PLATFORM_M) / (platform_length_m[0] + gap_length_m[0])) + 1
        super().__init__(time_limit_s=time_limit_s, render_camera=render_camera, **kwargs)

    def build_scene(self, spec: mujoco.MjSpec) -> None:
        use_reference_arena_options(spec)
        w, L = self.corridor_width_m / 2, self.corridor_length_m
        wb = spec.worldbody
        box, plane = mujoco.mjtGeom.mjGEOM_BOX, mujoco.mjtGeom.mjGEOM_PLANE
        wb.add_geom(name="ground_plane", type=plane, pos=[L / 2, 0, -10], size=[L / 2 + PADDING_M, w, 1],
                    rgba=[0, 0, 0, 0])
        for name, pos, xyaxes in (("wall_left", [L / 2, w, 2], [1, 0, 0, 0, 0, 1]),
                                  ("wall_right", [L / 2, -w, 2], [-1, 0, 0, 0, 0, 1]),
                                  ("wall_near", [-PADDING_M, 0, 2], [0, 1, 0, 0, 0, 1]),
                                  ("wall_far", [L + PADDING_M, 0, 2], [0, -1, 0, 0, 0, 1])):
            g = wb.add_geom(name=name, type=plane, pos=pos, size=[L / 2 + PADDING_M, 2, 1], group=3,
                            rgba=[1, 0, 0, 0])
            g.alt.type = mujoco.mjtOrientation.mjORIENTATION_XYAXES
            g.alt.xyaxes = xyaxes
        wb.add_geom(name="start_floor", type=box, pos=[START_PLATFORM_M / 2, 0, -THICKNESS_M],
                    size=[START_PLATFORM_M / 2, w, THICKNESS_M], rgba=[0.5, 0.5, 0.5, 1])
        for i in range(self.max_platforms):
            wb.add_geom(name=f"floor_{i}", type=box, pos=[0, 0, PARKED_Z_M], size=[0.5, w, THICKNESS_M],
                        rgba=[0.5, 0.5, 0.5, 1])
        spec.worldbody.add_light(name="sun", pos=[20, 0, 10], dir=[0, 0, -1], diffuse=[0.6, 0.6, 0.6],
                                 type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL)

    def bind(self, model: mujoco.MjModel) -> None:
        self._platform_geoms = np.array([model.geom(f"floor_{i}").id for i in range(self.max_platforms)])
        self._ee = np.array([model.body(b).id for b in VR_END_EFFECTORS])
        self._torso = model.body("torso").id
        self._root_q = int(model.joint("root").qposadr[0])

    def reset_task(self, rng: np.random.Generator) -> None:
        self.platforms = corridor_layout(rng, self.platform_length_m, self.gap_length_m, self.corridor_length_m)
        m, w = self.model, self.corridor_width_m / 2
        for i, g in enumerate(self._platform_geoms):
            if i < len(self.platforms):
                x, length = self.platforms[i]
                m.geom_pos[g] = [x + length / 2, 0, -THICKNESS_M]
                m.geom_size[g] = [length / 2, w, THICKNESS_M]
            else:
                m.geom_pos[g] = [0, 0, PARKED_Z_M]
                m.geom_size[g] = [0.5, w, THICKNESS_M]
            m.geom_aabb[g] = [0, 0, 0, *m.geom_size[g]]  # broad phase bounds follow the new size
            m.geom_rbound[g] = float(np.linalg.norm(m.geom_size[g]))
        place_without_contact(self.model, self.data, self._root_q, (self.spawn_x_m, 0.0), yaw_quat(0.0),
                              start_z_m=TORSO_SPAWN_HEIGHT_M)
        self.distance_m = 0.0

    def forward_speed_m_s(self) -> float:
        """x velocity of the rat's centre of mass (the torso subtree)."""
        mujoco.mj_subtreeVel(self.model, self.data)
        return float(self.data.subtree_linvel[self._torso, 0])

    def reward_and_termination(self) -> tuple[float, bool]:
        v = self.forward_speed_m_s()
        reward = max(0.0, 1.0 - abs(v - self.target_speed_m_s) / self.target_speed_m_s)
        fell = bool((self.data.xpos[self._ee, 2] < self.terminate_at_height_m).any())
        if fell:
            self.event("fell_into_gap")
        self.distance_m = float(self.data.xpos[self._torso, 0]) - self.spawn_x_m
        return reward, fell

    def task_info(self) -> dict:
        return {"distance_m": self.distance_m, "platforms": len(self.platforms)}

    def episode_record(self) -> dict | None:
        return {"distance_m": self.distance_m, "seconds": self._step_count * self.control_dt}

    criterion = "distance_m"
    metric_keys = ("episodes", "distance_m", "fallen_fraction")

    @classmethod
    def summarize(cls, records: list[dict]) -> dict[str, float]:
        if not records:
            return {"episodes": 0}
        return {"episodes": len(records), "distance_m": float(np.mean([r["distance_m"] for r in records]))}

    def kinematics(self) -> dict[str, np.ndarray]:
        return {"torso_pos_m": self.data.xpos[self._torso].copy()}
