"""Gymnasium environments matched to rodent experiments, on the virtual rodent's body.

`tasks.make(name, **overrides)`, `tasks.make_vec(name, num_envs, **overrides)`, `tasks.names()`.
Every task is also registered with gymnasium (`gymnasium.make("windtunnel/LeverTiming-v0")`, see
`gym_id`). Each task class names the experiment it reproduces (`Task.experiment`, with citation and DOI).
"""

from tasks.base import Experiment, RatTask
from tasks.registry import TASKS, gym_id, make, names, task_class
from tasks.vector import VecEnv, make_vec

__all__ = ["make", "make_vec", "names", "task_class", "gym_id", "TASKS", "RatTask", "Experiment", "VecEnv"]
