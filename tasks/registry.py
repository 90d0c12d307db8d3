"""The task registry: one name per task class; `make`, `make_vec`, `names`."""

from __future__ import annotations

from tasks.base import RatTask
from tasks.escape_bowl import EscapeBowl
from tasks.lever_timing import LeverTiming
from tasks.maze_forage import MazeForage
from tasks.open_field import OpenField
from tasks.reach import Reach
from tasks.run_gaps import RunGaps
from tasks.two_touch import TwoTouch

TASKS: dict[str, type[RatTask]] = {cls.name: cls for cls in (LeverTiming, Reach, OpenField, TwoTouch, RunGaps, EscapeBowl, MazeForage)}


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
    return cls(**overrides)
