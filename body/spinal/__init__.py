"""The spinal locomotion layer: descending commands (speed, turn, rear) in, the rat's 38 servo controls out.

    import body
    rat = body.build("free", spinal={"enabled": True, "gait": "auto", "rear": False})   # or spinal=True
    # config: body=free body.spinal.enabled=true body.spinal.gait=trot body.spinal.rear=true ...

`layer` holds the layer (`SpinalLayer`, its options `SpinalOptions` / `spinal_options`, its parameter
sets `resolve_params`, the command mapping `command_from_action`); `params/` the shipped parameter set
per rhythm; `harness` the walks that test and measure it. Tuning: `python -m benchmarks.tune_spinal`;
measurements: `python -m benchmarks.spinal` (docs/results/spinal.md).
"""

from body.spinal.harness import (GoalSteering, RandomCommands, Walk, load_shares, spawn_standing, steering_action,
                                 walk)
from body.spinal.layer import *  # noqa: F401,F403  (the layer's constants and functions)
from body.spinal.layer import (GAITS, OPTION_KEYS, PARAM_SIZES, RHYTHMS, Command, SpinalLayer, SpinalOptions,
                               action_from_command, command_from_action, default_params, has_fallen, params_as_lists,
                               resolve_params, spinal_options, standing_controls)

__all__ = ["SpinalLayer", "SpinalOptions", "spinal_options", "Command", "command_from_action", "action_from_command",
           "resolve_params", "default_params", "params_as_lists", "standing_controls", "has_fallen", "GAITS",
           "RHYTHMS", "PARAM_SIZES", "OPTION_KEYS", "Walk", "walk", "GoalSteering", "RandomCommands", "load_shares",
           "steering_action", "spawn_standing"]
