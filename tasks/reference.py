"""dm_control's own versions of the virtual rodent's four tasks, built as `basic_rodent_2020.py`
builds them (same arenas, task parameters and timesteps), for parity tests and speed comparisons.

`make_reference(name, camera=False)` -> (environment, task, walker, arena). The camera is off unless
asked for; everything else is the reference's: 1 ms physics, 20 ms control. Importing this module
loads dm_control's runtime; the native tasks never need it.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

REFERENCE_TASKS = ("two_touch", "run_gaps", "escape_bowl", "maze_forage")


def make_reference(name: str, camera: bool = False, seed: int = 0):
    if name not in REFERENCE_TASKS:
        raise ValueError(f"no dm_control reference for {name!r}; valid: {', '.join(REFERENCE_TASKS)}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from dm_control import composer
        from dm_control.composer.variation import distributions
        from dm_control.locomotion.arenas import bowl, floors, mazes
        from dm_control.locomotion.arenas import corridors as corridor_arenas
        from dm_control.locomotion.props import target_sphere
        from dm_control.locomotion.tasks import corridors as corridor_tasks
        from dm_control.locomotion.tasks import escape, random_goal_maze, reach
        from dm_control.locomotion.walkers import rodent

        walker = rodent.Rat(observable_options={"egocentric_camera": dict(enabled=camera)})
        timing = dict(physics_timestep=0.001, control_timestep=0.02)
        if name == "two_touch":
            arena = floors.Floor(size=(10.0, 10.0))
            task = reach.TwoTouch(walker=walker, arena=arena,
                                  target_builders=[functools.partial(target_sphere.TargetSphereTwoTouch, radius=0.025)],
                                  randomize_spawn_rotation=True, target_type_rewards=[25.0], shuffle_target_builders=False,
                                  target_area=(1.5, 1.5), **timing)
            limit = 30
        elif name == "run_gaps":
            arena = corridor_arenas.GapsCorridor(platform_length=distributions.Uniform(0.4, 0.8),
                                                 gap_length=distributions.Uniform(0.05, 0.2), corridor_width=2,
                                                 corridor_length=40)
            task = corridor_tasks.RunThroughCorridor(walker=walker, arena=arena, walker_spawn_position=(5, 0, 0),
                                                     walker_spawn_rotation=0, target_velocity=1.0,
                                                     contact_termination=False, terminate_at_height=-0.3, **timing)
            limit = 30
        elif name == "escape_bowl":
            arena = bowl.Bowl(size=(20.0, 20.0))
            task = escape.Escape(walker=walker, arena=arena, **timing)
            limit = 20
        else:
            arena = mazes.RandomMazeWithTargets(x_cells=11, y_cells=11, xy_scale=0.5, z_height=0.3, max_rooms=4,
                                                room_min_size=4, room_max_size=5, spawns_per_room=1,
                                                targets_per_room=3)
            task = random_goal_maze.ManyGoalsMaze(
                walker=walker, maze_arena=arena, target_reward_scale=50.0, contact_termination=False,
                target_builder=functools.partial(target_sphere.TargetSphere, radius=0.05, height_above_ground=0.125),
                **timing)
            limit = 30
        walker.observables.egocentric_camera.enabled = camera  # some reference tasks switch it on themselves
        env = composer.Environment(time_limit=limit, task=task, random_state=np.random.RandomState(seed),
                                   strip_singleton_obs_buffer_dim=True)
        env.reset()
    return env, task, walker, arena
