"""What the virtual rodent's four tasks (Merel et al., ICLR 2020) share: the citation, the physics
options of dm_control's composer arenas, and the spawn height of the torso."""

from __future__ import annotations

import mujoco

from tasks.base import Experiment

VIRTUAL_RODENT = Experiment(
    name="The virtual rodent's task suite",
    citation="Merel J, Aldarondo D, Marshall J, Tassa Y, Wayne G, Olveczky B (2020) Deep neuroethology of a "
             "virtual rodent. International Conference on Learning Representations",
    doi="10.48550/arXiv.1911.09451",
)
# The reference spawns the walker's root frame at z = 0; the torso sits 6.5 cm above that frame.
TORSO_SPAWN_HEIGHT_M = 0.065


def use_reference_arena_options(spec: mujoco.MjSpec) -> None:
    """The physics options every dm_control composer arena sets (the virtual rodent's tasks ran with
    them): elliptic friction cones and 5 no-slip iterations with zero tolerance."""
    spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    spec.option.noslip_iterations = 5
    spec.option.noslip_tolerance = 0.0


def place_without_contact(model: mujoco.MjModel, data: mujoco.MjData, root_qpos_adr: int, xy, quat,
                          start_z_m: float = 0.0, step_m: float = 0.01, max_steps: int = 1000) -> float:
    """Put the free rat at (x, y) with orientation `quat`, at the lowest height (from `start_z_m` up in
    `step_m` steps) where the rat touches nothing (its own parts may touch each other) — the reference's `_find_non_contacting_height` (escape task),
    used here for every spawn so no episode starts interpenetrating the ground. Returns the height."""
    from body.rat import rat_geom_mask, touches_world

    q = root_qpos_adr
    z = start_z_m
    rat_geoms = rat_geom_mask(model)
    for _ in range(max_steps):
        data.qpos[q: q + 3] = [xy[0], xy[1], z]
        data.qpos[q + 3: q + 7] = quat
        mujoco.mj_forward(model, data)
        if not touches_world(model, data, rat_geoms):
            return z
        z += step_m
    raise ValueError(f"no contact-free height for the rat within {max_steps * step_m} m")
