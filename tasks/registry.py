"""The task registry: one name per task class; `make`, `names`, `task_class`, and every task registered
with gymnasium as `windtunnel/<TaskClass>-v0` once `tasks` is imported:

    import gymnasium, tasks
    env = gymnasium.make("windtunnel/LeverTiming-v0", target_ipi_s=0.5)   # or tasks.make("lever_timing", ...)
"""

from __future__ import annotations

import dataclasses

from tasks.base import RatTask
from tasks.escape_bowl import EscapeBowl
from tasks.lever_timing import LeverTiming
from tasks.maze_forage import MazeForage
from tasks.open_field import OpenField
from tasks.reach import Reach
from tasks.run_gaps import RunGaps
from tasks.two_touch import TwoTouch

TASKS: dict[str, type[RatTask]] = {cls.name: cls for cls in (LeverTiming, Reach, OpenField, TwoTouch, RunGaps, EscapeBowl, MazeForage)}


GYM_NAMESPACE = "windtunnel"


def gym_id(name: str) -> str:
    """The gymnasium id of a task: `lever_timing` -> `windtunnel/LeverTiming-v0`."""
    return f"{GYM_NAMESPACE}/{task_class(name).__name__}-v0"


def _register_with_gymnasium() -> None:
    import gymnasium

    for name, cls in TASKS.items():
        if gym_id(name) not in gymnasium.registry:
            gymnasium.register(id=gym_id(name), entry_point=f"{cls.__module__}:{cls.__name__}")


def names() -> list[str]:
    return list(TASKS)


def task_class(name: str) -> type[RatTask]:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; valid: {', '.join(TASKS)}")
    return TASKS[name]


def make(name: str, **overrides) -> RatTask:
    """A task environment by name, with constructor overrides (e.g. ``target_ipi_s=0.5``)."""
    import inspect

    cls = task_class(name)
    valid = sorted({p for c in cls.__mro__ if issubclass(c, RatTask) for p in inspect.signature(c.__init__).parameters}
                   - {"self", "kwargs"})
    unknown = sorted(set(overrides) - set(valid))
    if unknown:  # checked before construction, so an error inside a task is never mistaken for a bad option
        raise ValueError(f"bad option(s) {', '.join(unknown)} for task {name!r}; valid: {', '.join(valid)}")
    env = cls(**overrides)
    import gymnasium

    env.spec = dataclasses.replace(gymnasium.spec(gym_id(name)), kwargs=dict(overrides))
    return env


_register_with_gymnasium()
