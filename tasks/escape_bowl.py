"""`escape_bowl`: the virtual rodent's bowl-escape task (Merel et al., ICLR 2020), rebuilt natively.

Same definitions as dm_control's reference (`basic_rodent_2020.rodent_escape_bowl`: arena
`locomotion.arenas.bowl.Bowl`, task `locomotion.tasks.escape.Escape`):

- a 201 × 201 height field spanning 12 × 12 m (radius 6 m), up to 0.5 m high, 1 cm below a ground
  plane: a bowl 0.5 − cos(2π r)/2 (r the normalised radius, clipped to [0.1, 1]) times smooth random
  bumps (a 60 × 60 grid of U(0.5, 1) values, spline-zoomed to 201 × 201), new every episode;
- the free rat starts at the centre in a uniformly random orientation, at the lowest contact-free
  height (1 cm steps); through the spinal layer (`body.spinal.enabled=true`) upright in a uniformly random heading
  instead, since the layer walks the rat but does not right one lying on its back or side (from a random
  orientation 8 of 10 seeded starts were down on the first step);
- reward per control step: upright × escape. escape = min(1, d / 6 m), d the distance of the
  head site from the origin; upright = min over torso and pelvis of a linear ramp of their z-axis
  vertical component c: 1 for c ≥ cos 30°, falling to 0 at c = −1;
- never terminated early; 20 s limit;
- observation: the virtual rodent's observation set plus ``walker/origin`` (the world origin in the
  torso frame), optional egocentric camera.

The bowl is generated with numpy and scipy only (no GL context); a renderer that already exists is
sent the new terrain. Departures, each one override away: 2 ms physics step by default
(``body.physics_dt=0.001`` is the reference); the rat's joints start in the servo rest pose. All
randomness (orientation, bumps) comes from ``reset(seed=...)``.
"""

from __future__ import annotations

import mujoco
import numpy as np
from scipy import ndimage

from body.rat import VR_BLOCKS
from tasks.base import RatTask
from tasks.props import yaw_quat
from tasks.virtual_rodent import VIRTUAL_RODENT, place_without_contact, use_reference_arena_options

HFIELD_ROWS = 201
HFIELD_SIZE = (6.0, 6.0, 0.5, 0.1)  # radius x, radius y, max height, base depth (m)
BUMP_SCALE_M = 0.2
SMOOTHNESS = 0.5
UPRIGHT_DEVIATION_DEG = 30.0


def bowl_terrain(bumps: np.ndarray, rows: int = HFIELD_ROWS) -> np.ndarray:
    """Height-field values in [0, 1] (x max height) from a square grid of bump values."""
    row, col = np.ogrid[-1:1:rows * 1j, -1:1:rows * 1j]
    radius = np.clip(np.sqrt(col ** 2 + row ** 2), 0.1, 1.0)
    bowl = 0.5 - np.cos(2 * np.pi * radius) / 2
    return bowl * ndimage.zoom(bumps, rows / float(bumps.shape[0]))


def linear_ramp(x, low: float, margin: float):
    """1 for x >= low, falling linearly to 0 at low - margin (dm_control's `tolerance`, linear sigmoid)."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x >= low, 1.0, np.clip(1.0 - (low - x) / margin, 0.0, 1.0))


class EscapeBowl(RatTask):
    name = "escape_bowl"
    experiment = VIRTUAL_RODENT
    default_body = "free"
    valid_bodies = ("free",)
    default_blocks = VR_BLOCKS
    wants_floor = False
    watch_substeps = False

    def __init__(self, time_limit_s: float = 20.0, render_camera: str = "side", **kwargs):
        super().__init__(time_limit_s=time_limit_s, render_camera=render_camera, **kwargs)

    def build_scene(self, spec: mujoco.MjSpec) -> None:
        use_reference_arena_options(spec)
        spec.add_hfield(name="terrain", nrow=HFIELD_ROWS, ncol=HFIELD_ROWS, size=list(HFIELD_SIZE),
                        userdata=[0.0] * HFIELD_ROWS ** 2)
        wb = spec.worldbody
        wb.add_geom(name="terrain", type=mujoco.mjtGeom.mjGEOM_HFIELD, hfieldname="terrain", pos=[0, 0, -0.01],
                    rgba=[0.2, 0.3, 0.4, 1])
        wb.add_geom(name="groundplane", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[20, 20, 0.5], rgba=[0.2, 0.3, 0.4, 1])
        wb.add_light(name="sun", pos=[0, 0, 10], dir=[0, 0, -1], diffuse=[0.6, 0.6, 0.6],
                     type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL)

    def bind(self, model: mujoco.MjModel) -> None:
        self._hfield = model.hfield("terrain").id
        self._head_site = model.site("head").id
        self._torso = model.body("torso").id
        self._pelvis = model.body("pelvis").id
        self._root_q = int(model.joint("root").qposadr[0])
        self.terrain_radius_m = float(model.hfield_size[self._hfield, 0])

    def task_block_sizes(self) -> dict[str, int]:
        return {"walker/origin": 3}

    def reset_task(self, rng: np.random.Generator) -> None:
        m = self.model
        bump_rows = int(2 * HFIELD_SIZE[0] / BUMP_SCALE_M)
        terrain = bowl_terrain(rng.uniform(SMOOTHNESS, 1.0, (bump_rows, bump_rows)))
        adr = int(m.hfield_adr[self._hfield])
        m.hfield_data[adr: adr + HFIELD_ROWS ** 2] = terrain.ravel()
        if self._renderer is not None:  # keep an existing renderer's copy of the terrain current
            mujoco.mjr_uploadHField(m, self._renderer._mjr_context, self._hfield)
        if self.rat.spinal:  # upright, in a random heading: the layer walks a rat but does not right one on its back
            quat = yaw_quat(rng.uniform(0, 2 * np.pi))
        else:
            quat = rng.normal(size=4)
            quat /= np.linalg.norm(quat)
        place_without_contact(m, self.data, self._root_q, (0.0, 0.0), quat, start_z_m=0.0)

    def upright(self) -> float:
        zz = self.data.xmat[[self._torso, self._pelvis], 8]
        dev = np.cos(np.deg2rad(UPRIGHT_DEVIATION_DEG))
        return float(linear_ramp(zz, dev, 1 + dev).min())

    def escape(self) -> float:
        d = float(np.linalg.norm(self.data.site_xpos[self._head_site]))
        return float(linear_ramp(d, self.terrain_radius_m, self.terrain_radius_m))

    def reward_and_termination(self) -> tuple[float, bool]:
        return self.upright() * self.escape(), False

    def task_observation(self) -> dict[str, np.ndarray]:
        frame = self.data.xmat[self._torso].reshape(3, 3)
        return {"walker/origin": -self.data.xpos[self._torso] @ frame}

    def task_info(self) -> dict:
        return {"head_distance_m": float(np.linalg.norm(self.data.site_xpos[self._head_site][:2]))}

    def episode_record(self) -> dict | None:
        return {"head_distance_m": float(np.linalg.norm(self.data.site_xpos[self._head_site][:2]))}

    criterion = "final_distance_m"
    metric_keys = ("episodes", "final_distance_m", "fallen_fraction")

    @classmethod
    def summarize(cls, records: list[dict]) -> dict[str, float]:
        if not records:
            return {"episodes": 0}
        return {"episodes": len(records), "final_distance_m": float(np.mean([r["head_distance_m"] for r in records]))}

    def kinematics(self) -> dict[str, np.ndarray]:
        return {"head_pos_m": self.data.site_xpos[self._head_site].copy()}
