"""The virtual rodent's four tasks: our native versions beside dm_control's reference, measured in one run.

For each task, env steps/s (camera off in both) of
- dm_control's reference environment (`tasks.reference.make_reference`: 1 ms physics, 20 ms control),
- ours at the reference's 1 ms physics step, and at our 2 ms default,
- and the raw-physics ceiling of our compiled scene (`mj_step` under the same actions, no task code),
all under the same smooth random actions (seeded), resetting at episode ends. Each number is the best
of `--repeats` interleaved runs. Goals (issue: paper tasks): ours >= 2x the reference (maze_forage
>= 5x) and >= 80 % of our own ceiling. Run: `make bench` or `python -m benchmarks.paper_tasks`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.common import header, table  # noqa: E402
from benchmarks.tasks import ceiling_rate, env_rate  # noqa: E402

import tasks  # noqa: E402
from body.render import smooth_random_controls  # noqa: E402
from tasks.reference import REFERENCE_TASKS, make_reference  # noqa: E402

GOAL_VS_REFERENCE = {"maze_forage": 5.0}


def reference_rate(env, actions) -> float:
    env.reset()
    start = time.perf_counter()
    for a in actions:
        if env.step(a).last():
            env.reset()
    return len(actions) / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=300, help="control steps per measurement")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--tasks", nargs="*", default=list(REFERENCE_TASKS))
    args = ap.parse_args()
    header("Paper tasks: native vs dm_control reference (camera off), and vs our raw-physics ceiling")
    rows = []
    for name in args.tasks:
        ref_env = make_reference(name)[0]
        ours_1ms = tasks.make(name, physics_dt=0.001)
        ours_2ms = tasks.make(name)
        actions = smooth_random_controls(args.steps, 38, np.random.default_rng(1)).astype(np.float32)
        best = {"ref": 0.0, "1ms": 0.0, "2ms": 0.0, "ceil1": 0.0, "ceil2": 0.0}
        for _ in range(args.repeats):
            best["ref"] = max(best["ref"], reference_rate(ref_env, actions))
            best["1ms"] = max(best["1ms"], env_rate(ours_1ms, actions))
            best["ceil1"] = max(best["ceil1"], ceiling_rate(ours_1ms, actions))
            best["2ms"] = max(best["2ms"], env_rate(ours_2ms, actions))
            best["ceil2"] = max(best["ceil2"], ceiling_rate(ours_2ms, actions))
        ref_env.close()
        ours_1ms.close()
        ours_2ms.close()
        goal = GOAL_VS_REFERENCE.get(name, 2.0)
        rows.append([name, best["ref"], best["1ms"], f"{best['1ms'] / best['ref']:.2f}x",
                     f"{best['1ms'] / best['ceil1']:.0%}", best["2ms"], f"{best['2ms'] / best['ref']:.2f}x",
                     f"{best['2ms'] / best['ceil2']:.0%}", f">= {goal:g}x"])
    table(["task", "reference steps/s (1 ms)", "ours 1 ms", "ours/ref 1 ms", "of ceiling 1 ms", "ours 2 ms",
           "ours/ref 2 ms", "of ceiling 2 ms", "goal vs ref"], rows)


if __name__ == "__main__":
    main()
