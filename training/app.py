"""The hydra apps: `windtunnel train` (single runs and `-m` sweeps) and `windtunnel evaluate`.

    windtunnel train circuit=dale_rnn task=lever_timing seed=3 training.total_steps=200000
    windtunnel train -m circuit=lstm,dale_rnn seed=0,1,2               # sweep, one job at a time
    windtunnel train -m hydra/launcher=submitit_slurm circuit=lstm,m1_bg seed=0,1,2   # on a cluster
    windtunnel evaluate runs/lever_timing/lstm/seed0 episodes=20
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import hydra
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from training.checkpoint import (atomic_write_json, atomic_write_text, build_agent, find_checkpoint, load_checkpoint,
                                 single_thread)
from training.config import CONF_DIR, UsageError, check_overrides, parse_run_args


def _fail(message: str) -> None:
    print(f"windtunnel: error: {message}", file=sys.stderr)
    raise SystemExit(2)


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def train_app(cfg: DictConfig) -> float:
    from hydra.core.hydra_config import HydraConfig

    from training.ppo import Trainer

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        trainer = Trainer(cfg, run_dir, resume=bool(cfg.resume), progress=True)
    except (UsageError, ValueError) as exc:
        _fail(str(exc))
    atomic_write_text(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    summary = trainer.train()
    crit = summary["final"].get(f"task_{summary['criterion']}")
    print(f"run dir: {run_dir}  {summary['criterion']}: {crit}  steps: {summary['env_steps']}  "
          f"wall: {summary['wall_s']} s")
    return float(crit) if crit is not None and not math.isnan(crit) else float("nan")


def train_main(overrides: list[str]) -> None:
    args = [a for a in overrides if a not in ("-m", "--multirun")]
    sweep_safe = []
    for a in args:  # validate each value of a sweep (k=a,b,c) like a single override
        if "=" in a and "," in a.split("=", 1)[1] and not a.split("=", 1)[1].startswith(("[", "{")):
            key, values = a.split("=", 1)
            sweep_safe.extend(f"{key}={v}" for v in values.split(","))
        else:
            sweep_safe.append(a)
    singles = {}
    for a in sweep_safe:  # one representative value per key for the key check
        singles.setdefault(a.split("=", 1)[0], a)
    try:
        check_overrides([a for a in sweep_safe if a.split("=", 1)[0] in _group_names()] +
                        [a for k, a in singles.items() if k not in _group_names() and not k.startswith("hydra")])
    except UsageError as exc:
        _fail(str(exc))
    sys.argv = ["windtunnel train", *overrides]
    train_app()


def _group_names() -> set[str]:
    from training.config import config_groups

    return set(config_groups())


# ------------------------------------------------------------------------------------ evaluate
EVAL_DEFAULTS = {"episodes": 10, "deterministic": True, "render": True, "checkpoint": "best", "seed": 1000,
                 "lesion": [], "canonical": True, "out": None, "wall_stop": None}


def parse_eval_args(args: list[str]) -> tuple[Path, dict]:
    return parse_run_args(args, EVAL_DEFAULTS, "usage: windtunnel evaluate <run_dir> [episodes=N deterministic=true|false "
                                               "render=true|false checkpoint=best|last seed=N lesion=[pop,...] wall_stop=true|false]")


@single_thread()
def evaluate(run_dir: str | Path, episodes: int = 10, deterministic: bool = True, render: bool = True,
             checkpoint: str = "best", seed: int = 1000, lesion=(), canonical: bool = True, out=None,
             wall_stop: bool | None = None) -> dict:
    """Run a trained circuit on its task (canonical form by default) and score its behaviour.

    wall_stop: the spinal layer's wall stop as the run was trained (None), or on/off (a run through
    the layer only; the tag of the written results then says which)."""
    import tasks

    run_dir = Path(run_dir)
    ckpt_path = find_checkpoint(run_dir, checkpoint)
    ckpt = load_checkpoint(ckpt_path)
    agent, normalizer = build_agent(ckpt)
    agent.eval()
    cfg = ckpt["config"]
    lesioned = sorted(set(ckpt.get("lesioned", [])) | set(lesion or []))
    if lesioned:
        agent.circuit.lesion(lesioned)
    from training.config import task_spec

    if wall_stop is not None:
        if not cfg.get("body", {}).get("spinal"):
            raise ValueError(f"wall_stop={wall_stop} needs a run through the spinal layer; {run_dir} drives the servos")
        if not isinstance(wall_stop, bool):
            raise ValueError(f"wall_stop must be true or false (or left out: as trained), got {wall_stop!r}")
        cfg = {**cfg, "body": {**cfg["body"], "spinal_wall_stop": wall_stop}}
    name, kwargs = task_spec(OmegaConf.create(cfg))
    task_cls = tasks.task_class(name)
    if canonical:
        kwargs.update(task_cls.canonical)
    env = tasks.make(name, **kwargs)
    records, returns, frames = [], [], []
    generator = torch.Generator().manual_seed(seed)
    try:
        for ep in range(episodes):
            obs, _ = env.reset(seed=seed + ep)
            state = agent.circuit.initial_state(1)
            reset = torch.ones(1, dtype=torch.bool)
            total, done = 0.0, False
            while not done:
                with torch.no_grad():
                    x = torch.as_tensor(normalizer(obs[None]))
                    mean, _, state, _, _ = agent(x, state, reset, agent.circuit.sample_noise(1, generator) or None)
                    action = mean if deterministic else mean + agent.log_std.exp() * torch.randn(mean.shape,
                                                                                                generator=generator)
                reset = torch.zeros(1, dtype=torch.bool)
                obs, r, term, trunc, info = env.step(action[0].clamp(-1, 1).numpy())
                total += r
                records.extend(info.get("records", []))
                done = term or trunc
                if render and ep == 0:
                    frames.append(env.render())
            returns.append(total)
    finally:
        env.close()
    metrics = task_cls.metrics(records)
    result = {"run_dir": str(run_dir), "checkpoint": str(ckpt_path), "task": name, "canonical": canonical,
              "circuit": cfg["circuit"]["name"], "episodes": episodes, "deterministic": deterministic,
              "lesioned": lesioned, "env_steps_trained": ckpt["env_steps"],
              "wall_stop": bool(cfg.get("body", {}).get("spinal_wall_stop", False)) if cfg.get("body", {}).get("spinal") else None,
              "mean_return": float(np.mean(returns)), "metrics": metrics, "records": records}
    out_dir = Path(out) if out else run_dir / "eval"
    tag = "lesion-" + "-".join(lesioned) if lesioned else "intact"
    if wall_stop is not None:
        tag += f"_wall_stop_{'on' if wall_stop else 'off'}"
    atomic_write_json(out_dir / f"{tag}.json", result)
    if render and frames:
        import imageio.v2 as imageio

        video = out_dir / f"{tag}_episode0.mp4"
        with imageio.get_writer(video, fps=round(1 / env.control_dt), codec="libx264", quality=7,
                                macro_block_size=1) as writer:
            for f in frames:
                writer.append_data(f)
        result["video"] = str(video)
    return result


def evaluate_main(args: list[str]) -> None:
    try:
        run_dir, opts = parse_eval_args(args)
        result = evaluate(run_dir, **opts)
    except (UsageError, ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    m = result["metrics"]
    print(f"{result['circuit']} on {result['task']} ({'canonical' if result['canonical'] else 'as trained'}, "
          f"{result['episodes']} episodes, {'deterministic' if result['deterministic'] else 'stochastic'}"
          f"{', lesioned ' + ','.join(result['lesioned']) if result['lesioned'] else ''})")
    for k, v in m.items():
        print(f"  {k:<28} {v:.4g}" if isinstance(v, float) else f"  {k:<28} {v}")
    print(f"  {'mean_return':<28} {result['mean_return']:.4g}")
    out_dir = Path(opts["out"]) if opts["out"] else Path(run_dir) / "eval"
    print(f"wrote {out_dir}" + (f" (video {result['video']})" if "video" in result else ""))
