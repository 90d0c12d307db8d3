"""Training throughput, and the training recipes and criteria the learning benchmark uses.

throughput: for each circuit on `lever_timing`, training env steps/s (rollout + PPO update, default
    training config) beside env-only steps/s of the same vector env under random actions, measured in
    the same run. Goal: lstm >= 50 %.
`TASK_TRAINING` (the training aids each task trains with; the lab tasks' from the lab_ladder study) serves
`python -m benchmarks.learning` (learning to criterion over seeds). The free-moving tasks train through
the spinal layer (`body.spinal.enabled=true`): the circuit sends speed and turning commands.
`--chance` prints open_field's chance level (the layer under random commands) and a scripted forager's.

Run: `make bench` or `python -m benchmarks.training [--chance]`.
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

import circuits  # noqa: E402
import tasks  # noqa: E402
from body import spinal  # noqa: E402
from training.config import task_spec
from windtunnel.config import compose  # noqa: E402

# Training options per task for the learning runs (the rats' own training used shaping too): the lab tasks'
# recipe is the shipped study's (windtunnel/conf/study/lab_ladder.yaml, `task_training`), so a benchmark
# and the study train alike.
def study_recipe(name: str = "lab_ladder") -> dict:
    """The shipped study's per-task and per-circuit training overrides: {"task": {...}, "circuit": {...}}."""
    from omegaconf import OmegaConf

    study = OmegaConf.to_container(OmegaConf.load(Path(__file__).resolve().parents[1] / "windtunnel" / "conf" /
                                                  "study" / f"{name}.yaml"))
    return {"task": study.get("task_training") or {}, "circuit": study.get("circuit_training") or {},
            "training": study.get("training") or []}


TASK_TRAINING = dict(study_recipe()["task"])
# Through the default (command-rhythm) spinal layer; the README's earlier free-moving results used
# `--overrides body.spinal.rhythm=drive`.
SPINAL = ["body.spinal.enabled=true", "training.init_log_std=-0.7"]
TASK_TRAINING.update({
    # a forager needs where the food is (nearest item first) and its own balance, not 114 joint
    # readings; descending commands at 10 Hz (the layer still runs at 50 Hz), so a 2 s horizon is
    # gamma 0.95; lr 1e-3 annealed over the budget, 4 minibatches, action SD e^-1; a fall costs 2 and ends
    # the training episode (walking into a wall topples the rat: the untrained policy's rat was down 3-12 s
    # into its 30 s episodes, so most of its early experience was of a rat lying on the floor)
    "open_field": [*SPINAL, "task.approach_shaping_per_m=10.0", "task.fall_penalty=2.0",
                   "+task.body_blocks=[vestibular,touch]",
                   "task.food_nearest_first=true", "task.control_dt=0.1", "training.gamma=0.95",
                   "training.metrics_window=48", "training.learning_rate=1e-3", "training.anneal_lr=true",
                   "training.num_minibatches=4", "training.init_log_std=-1.0"],
    **{task: [*SPINAL, "task.control_dt=0.1", "training.gamma=0.95"]
       for task in ("two_touch", "run_gaps", "maze_forage", "escape_bowl")},
})
SPINAL_TASKS = ("open_field", "two_touch", "run_gaps", "maze_forage", "escape_bowl")


def env_only_rate(cfg, seconds: float) -> float:
    name, kwargs = task_spec(cfg)
    t = cfg.training
    vec = tasks.make_vec(name, t.num_envs, num_workers=t.num_workers, seed=0, **kwargs)
    vec.reset()
    rng = np.random.default_rng(0)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        vec.step(rng.uniform(-1, 1, (t.num_envs, vec.single_action_space.shape[0])).astype(np.float32))
        n += t.num_envs
    rate = n / (time.perf_counter() - start)
    vec.close()
    return rate


def training_rate(cfg, run_dir: Path) -> float:
    from training.ppo import Trainer

    summary = Trainer(cfg, run_dir, progress=False).train()
    return summary["env_steps"] / summary["wall_s"]


def throughput(args) -> None:
    import tempfile

    header("Training throughput on lever_timing: training steps/s vs env-only steps/s (same vector env)")
    rows = []
    variants = args.variant or [""]
    for name in args.circuits or circuits.names():
        for variant in variants:
            extra = variant.split() if variant else []
            cfg = compose([f"circuit={name}", "task=lever_timing", "training.total_steps=8192", *extra])
            env_rate = env_only_rate(cfg, args.seconds)
            with tempfile.TemporaryDirectory() as tmp:
                train_rate = training_rate(cfg, Path(tmp))
            rows.append([name, variant or "defaults", env_rate, train_rate, f"{train_rate / env_rate:.0%}"])
    table(["circuit", "overrides", "env-only steps/s", "training steps/s", "training / env-only"], rows)


def chance_food_per_minute(episodes: int = 4, seed: int = 0) -> float:
    """open_field (canonical) through the spinal layer under random commands: speed and turn drawn
    uniformly from the action range and held 1 s — what an untrained forager collects by walking about."""
    env = tasks.make("open_field", body_options={"spinal": True})
    rng = np.random.default_rng(seed)
    food, minutes = 0, 0.0
    for ep in range(episodes):
        env.reset(seed=seed + ep)
        done, k = False, 0
        while not done:
            if k % 50 == 0:
                action = rng.uniform(-1, 1, 2).astype(np.float32)
            _, _, terminated, truncated, info = env.step(action)
            done, k = terminated or truncated, k + 1
        food += info["food_collected"]
        minutes += k * env.control_dt / 60
    env.close()
    return food / minutes


def scripted_forager_food_per_minute(episodes: int = 4, seed: int = 0, control_dt: float = 0.1,
                                     cruise_m_s: float = 0.3, rhythm: str = "command") -> float:
    """open_field (canonical) through the spinal layer under a hand-written forager that reads the
    same food observation a circuit gets: turn towards the nearest item (turn rate = 2 x its bearing,
    rad/s), walk at `cruise_m_s` when facing it and slower when not. A ceiling for what the
    descending commands can do, at the training's command rate."""
    env = tasks.make("open_field", body_options={"spinal": {"rhythm": rhythm}}, control_dt=control_dt)
    food, minutes = 0, 0.0
    for ep in range(episodes):
        env.reset(seed=seed + ep)
        done, k = False, 0
        while not done:
            items = env.task_observation()["food"].reshape(-1, 2)  # [n_food, 2] ahead, left of the head, m
            ahead, left = items[np.argmin(np.linalg.norm(items, axis=1))]
            action = spinal.steering_action(float(np.arctan2(left, ahead)), cruise_m_s).astype(np.float32)
            _, _, terminated, truncated, info = env.step(action)
            done, k = terminated or truncated, k + 1
        food += info["food_collected"]
        minutes += k * env.control_dt / 60
    env.close()
    return food / minutes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--learning", action="store_true", help="moved: python -m benchmarks.learning")
    ap.add_argument("--chance", action="store_true", help="open_field chance and scripted-forager food per minute")
    ap.add_argument("--seconds", type=float, default=10.0, help="env-only measuring time")
    ap.add_argument("--circuits", nargs="*", help="circuits to time (default: every one)")
    ap.add_argument("--variant", action="append", help="overrides to time as one variant, e.g. "
                    "'training.num_minibatches=1' (repeatable; default: the defaults)")
    args = ap.parse_args()
    if args.learning:
        sys.exit("learning to criterion moved: python -m benchmarks.learning --runs circuit:task:budget_s --seeds 0 1 2")
    if args.chance:
        print(f"open_field chance (spinal layer under random commands): {chance_food_per_minute():.2f} food/min; "
              f"scripted forager at 10 Hz commands: {scripted_forager_food_per_minute(rhythm='command'):.1f} food/min "
              f"(command rhythm), {scripted_forager_food_per_minute(rhythm='drive'):.1f} (drive rhythm)")
        return
    throughput(args)


if __name__ == "__main__":
    main()
