"""Task throughput: each task's env steps/s beside the raw-physics ceiling of the same compiled
model, and the vector env with 2 worker processes beside 1.

Ceiling = the task's own compiled model (rat + props) stepped with `mj_step(nstep=substeps)` under
the same actions, no task code. Each number is the best of `--repeats` interleaved runs (this
machine's timing noise is about 10 %). Goals (issue: lab tasks): single env >= 80 % of ceiling;
2 workers >= 1.6x one. Run: `make bench` or `python -m benchmarks.tasks`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import mujoco
import numpy as np

if __package__ in (None, ""):
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.common import header, table  # noqa: E402

import tasks  # noqa: E402
from body.render import smooth_random_controls  # noqa: E402

LAB_TASKS = ("lever_timing", "reach", "open_field")  # the virtual rodent's tasks: benchmarks/paper_tasks.py


def env_rate(env, actions) -> float:
    env.reset(seed=0)
    start = time.perf_counter()
    for a in actions:
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            env.reset()
    return len(actions) / (time.perf_counter() - start)


def ceiling_rate(env, actions) -> float:
    env.reset(seed=0)
    m, d, n = env.model, env.data, env.substeps
    start = time.perf_counter()
    for a in actions:
        d.ctrl[:] = a
        mujoco.mj_step(m, d, nstep=n)
    return len(actions) / (time.perf_counter() - start)


def vec_rate(name, num_envs, workers, steps) -> float:
    vec = tasks.make_vec(name, num_envs, num_workers=workers, seed=0)
    vec.reset()
    acts = smooth_random_controls(steps, vec.single_action_space.shape[0] * num_envs, np.random.default_rng(0))
    acts = acts.reshape(steps, num_envs, -1).astype(np.float32)
    vec.step(acts[0])
    start = time.perf_counter()
    for a in acts:
        vec.step(a)
    rate = steps * num_envs / (time.perf_counter() - start)
    vec.close()
    return rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=1500, help="control steps per single-env measurement")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--num-envs", type=int, default=8)
    args = ap.parse_args()
    header("Tasks: env steps/s vs raw-physics ceiling; vector env 2 workers vs 1")
    rows = []
    for name in LAB_TASKS:
        env = tasks.make(name)
        actions = smooth_random_controls(args.steps, env.model.nu, np.random.default_rng(1)).astype(np.float32)
        env_best, ceil_best = 0.0, 0.0
        for _ in range(args.repeats):
            ceil_best = max(ceil_best, ceiling_rate(env, actions))
            env_best = max(env_best, env_rate(env, actions))
        env.close()
        vsteps = max(50, args.steps // args.num_envs)
        one, two = 0.0, 0.0
        for _ in range(args.repeats):
            one = max(one, vec_rate(name, args.num_envs, 1, vsteps))
            two = max(two, vec_rate(name, args.num_envs, 2, vsteps))
        rows.append([name, env.rat.variant, ceil_best, env_best, f"{env_best / ceil_best:.0%}", one, two,
                     f"{two / one:.2f}x"])
    table(["task", "body", "ceiling steps/s", "env steps/s", "env / ceiling", f"vec {args.num_envs} envs, 1 worker",
           "2 workers", "2 / 1 workers"], rows)


if __name__ == "__main__":
    main()
