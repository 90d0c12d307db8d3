"""`maze_forage`: the virtual rodent's maze-foraging task (Merel et al., ICLR 2020), rebuilt natively.

Same definitions as dm_control's reference (`basic_rodent_2020.rodent_maze_forage`: arena
`locomotion.arenas.mazes.RandomMazeWithTargets`, task `locomotion.tasks.random_goal_maze.ManyGoalsMaze`):

- a random maze from `labmaze.RandomMaze` (11 × 11 cells, at most 4 rooms of 4-5 cells, 1 spawn
  and 3 targets per room), cells 0.5 m, walls 0.3 m high, on a ground plane; grid cell (row y, col x)
  sits at ((x − 5) × 0.5, −(y − 5) × 0.5) m;
- the free rat spawns at a random spawn cell with a random heading;
- an orb (radius 5 cm, centre 12.5 cm above the floor) on every target cell; an orb is collected
  when anything touches it (the reference's touch-detector sphere: contacts listed from first
  penetration, no force until 10 cm deep), earning +50 once;
- the episode ends (terminated) when every orb is collected; 30 s limit;
- observation: the virtual rodent's observation set, optional egocentric camera.

Orb contacts are read with one vectorised pass over MuJoCo's contact array per physics step (the
reference loops over contacts in Python for every orb). Walls are boxes covering each row's runs of
wall cells, a fixed pool of geoms re-placed at every reset (no recompilation). Departures, each one
override away: 2 ms physics step by default (``body.physics_dt=0.001`` is the reference); the rat
starts in its servo rest pose at the lowest contact-free height. The maze seed comes from
``reset(seed=...)``; the reference seeds labmaze from numpy's global generator.
"""

from __future__ import annotations

import labmaze
import mujoco
import numpy as np

from body.rat import VR_BLOCKS
from tasks.base import RatTask
from tasks.props import yaw_quat
from tasks.virtual_rodent import TORSO_SPAWN_HEIGHT_M, VIRTUAL_RODENT, place_without_contact, use_reference_arena_options

ORB_RADIUS_M = 0.05
ORB_HEIGHT_M = 0.125
ORB_REWARD = 50.0
PARKED_Z_M = -100.0
WALL_CHAR, TARGET_CHAR, SPAWN_CHAR = "*", "G", "P"
# No geom of the rat reaches farther than ~0.3 m from its torso (the tail tip: 0.25 m in the rest pose);
# with the orb radius and 0.25 m of travel in one control step to spare, an orb farther than this
# cannot be touched before the next step, so the per-physics-step check is skipped.
WATCH_RADIUS_M = 0.6


def wall_runs(grid: list[str]) -> list[tuple[int, int, int]]:
    """(row, first column, last column) of every horizontal run of wall cells."""
    runs = []
    for y, row in enumerate(grid):
        x = 0
        while x < len(row):
            if row[x] == WALL_CHAR:
                start = x
                while x + 1 < len(row) and row[x + 1] == WALL_CHAR:
                    x += 1
                runs.append((y, start, x))
            x += 1
    return runs


class MazeForage(RatTask):
    name = "maze_forage"
    experiment = VIRTUAL_RODENT
    default_body = "free"
    valid_bodies = ("free",)
    default_blocks = VR_BLOCKS
    wants_floor = False

    def __init__(self, cells: int = 11, cell_size_m: float = 0.5, wall_height_m: float = 0.3, max_rooms: int = 4,
                 room_min_size: int = 4, room_max_size: int = 5, spawns_per_room: int = 1, targets_per_room: int = 3,
                 time_limit_s: float = 30.0, render_camera: str = "maze_top", **kwargs):
        if cells < 5 or cells % 2 == 0:
            raise ValueError(f"cells must be an odd number >= 5 (labmaze), got {cells}")
        if not 0 < room_min_size <= room_max_size or max_rooms < 1 or targets_per_room < 1 or spawns_per_room < 1:
            raise ValueError("need 0 < room_min_size <= room_max_size and max_rooms, targets_per_room, "
                             "spawns_per_room >= 1")
        self.cells, self.cell_size_m, self.wall_height_m = cells, cell_size_m, wall_height_m
        self.maze_options = dict(height=cells, width=cells, max_rooms=max_rooms, room_min_size=room_min_size,
                                 room_max_size=room_max_size, spawns_per_room=spawns_per_room,
                                 objects_per_room=targets_per_room)
        self.max_walls = cells * (cells + 1) // 2
        self.max_orbs = max_rooms * targets_per_room + targets_per_room  # labmaze may add a corridor "room"
        super().__init__(time_limit_s=time_limit_s, render_camera=render_camera, **kwargs)

    def build_scene(self, spec: mujoco.MjSpec) -> None:
        use_reference_arena_options(spec)
        half = self.cells * self.cell_size_m / 2
        wb = spec.worldbody
        wb.add_geom(name="ground", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[half, half, 0.25],
                    rgba=[0.2, 0.2, 0.2, 1])
        for i in range(self.max_walls):
            wb.add_geom(name=f"wall_{i}", type=mujoco.mjtGeom.mjGEOM_BOX, pos=[0, 0, PARKED_Z_M],
                        size=[self.cell_size_m / 2] * 2 + [self.wall_height_m / 2], rgba=[0.85, 0.85, 0.85, 1])
        for i in range(self.max_orbs):
            orb = wb.add_body(name=f"orb_{i}", mocap=True, pos=[0, 0, PARKED_Z_M])
            orb.add_geom(name=f"orb_{i}", type=mujoco.mjtGeom.mjGEOM_SPHERE, size=[ORB_RADIUS_M, 0, 0],
                         margin=-2 * ORB_RADIUS_M, gap=2 * ORB_RADIUS_M, rgba=[0.1, 0.1, 0.6, 1])
        wb.add_light(name="sun", pos=[0, 0, 6], dir=[0, 0, -1], diffuse=[0.6, 0.6, 0.6],
                     type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL)
        wb.add_camera(name="maze_top", pos=[0, 0, 1.4 * half / np.tan(np.deg2rad(22.5))], fovy=45)

    def bind(self, model: mujoco.MjModel) -> None:
        self._walls = np.array([model.geom(f"wall_{i}").id for i in range(self.max_walls)])
        self._orb_geoms = np.array([model.geom(f"orb_{i}").id for i in range(self.max_orbs)])
        self._orb_mocap = np.array([model.body(f"orb_{i}").mocapid[0] for i in range(self.max_orbs)])
        self._orb_index = np.full(model.ngeom, -1)
        self._orb_index[self._orb_geoms] = np.arange(self.max_orbs)
        self._root_q = int(model.joint("root").qposadr[0])
        self._torso = model.body("torso").id

    def cell_to_world(self, y: int, x: int) -> tuple[float, float]:
        off = (self.cells - 1) / 2
        return (x - off) * self.cell_size_m, -(y - off) * self.cell_size_m

    def reset_task(self, rng: np.random.Generator) -> None:
        maze = labmaze.RandomMaze(**self.maze_options, random_seed=int(rng.integers(2 ** 31)))
        self.grid = str(maze.entity_layer).strip("\n").split("\n")
        m, s = self.model, self.cell_size_m
        runs = wall_runs(self.grid)
        for i, g in enumerate(self._walls):
            if i < len(runs):
                y, x0, x1 = runs[i]
                (a, cy), (b, _) = self.cell_to_world(y, x0), self.cell_to_world(y, x1)
                m.geom_pos[g] = [(a + b) / 2, cy, self.wall_height_m / 2]
                m.geom_size[g] = [(b - a) / 2 + s / 2, s / 2, self.wall_height_m / 2]
            else:
                m.geom_pos[g] = [0, 0, PARKED_Z_M]
            m.geom_aabb[g] = [0, 0, 0, *m.geom_size[g]]
            m.geom_rbound[g] = float(np.linalg.norm(m.geom_size[g]))
        targets = [(y, x) for y, row in enumerate(self.grid) for x, c in enumerate(row) if c == TARGET_CHAR]
        spawns = [(y, x) for y, row in enumerate(self.grid) for x, c in enumerate(row) if c == SPAWN_CHAR]
        if len(targets) > self.max_orbs:
            raise RuntimeError(f"labmaze placed {len(targets)} targets; the orb pool holds {self.max_orbs}")
        self.n_orbs = len(targets)
        self.data.mocap_pos[self._orb_mocap] = [0, 0, PARKED_Z_M]
        spawn = self.cell_to_world(*spawns[int(rng.integers(len(spawns)))])
        place_without_contact(m, self.data, self._root_q, spawn, yaw_quat(rng.uniform(0, 2 * np.pi)),
                              start_z_m=TORSO_SPAWN_HEIGHT_M)
        for i, (y, x) in enumerate(targets):
            self.data.mocap_pos[self._orb_mocap[i]] = [*self.cell_to_world(y, x), ORB_HEIGHT_M]
        self.collected = np.zeros(self.max_orbs, dtype=bool)
        self.collected[self.n_orbs:] = True  # parked orbs do not count
        self._newly = 0

    def after_substep(self) -> None:
        n = self.data.ncon
        if n == 0:
            return
        hit = self._orb_index[self.data.contact.geom[:n]]  # orb index or -1, [ncon, 2]
        if hit.max() < 0:
            return
        for i in np.unique(hit[hit >= 0]):
            if not self.collected[i]:
                self.collected[i] = True
                self._newly += 1
                self.event("orb_collected")

    def step(self, action):
        self._newly = 0
        # watch every physics step only when some uncollected orb is within reach of the rat this step
        near = np.linalg.norm(self.data.mocap_pos[self._orb_mocap][~self.collected] - self.data.xpos[self._torso],
                              axis=1)
        self.watch_substeps = bool(near.size) and bool(near.min() < WATCH_RADIUS_M)
        return super().step(action)

    def reward_and_termination(self) -> tuple[float, bool]:
        return ORB_REWARD * self._newly, bool(self.collected.all())

    def task_info(self) -> dict:
        return {"orbs_collected": int(self.collected[: self.n_orbs].sum()), "orbs": self.n_orbs}

    def episode_record(self) -> dict | None:
        return {"orbs_collected": int(self.collected[: self.n_orbs].sum()), "orbs": self.n_orbs}

    criterion = "orbs_collected_fraction"
    metric_keys = ("episodes", "orbs_collected_fraction", "fallen_fraction")

    @classmethod
    def summarize(cls, records: list[dict]) -> dict[str, float]:
        if not records:
            return {"episodes": 0}
        return {"episodes": len(records), "orbs_collected_fraction": float(
            sum(r["orbs_collected"] for r in records) / max(1, sum(r["orbs"] for r in records)))}

    def kinematics(self) -> dict[str, np.ndarray]:
        return {"torso_pos_m": self.data.xpos[self._torso].copy()}
