"""Running a trained circuit on its task: one rollout for evaluation, recording and lesions.

    run = Run("runs/lever_timing/lstm/seed0")
    result = evaluate(run, episodes=20)                        # metrics, records; <run>/eval/intact.json
    episodes = rollout(agent, normalizer, env, episodes=20, seed=1000, on_step=hook)

`rollout` runs whole episodes from seeded resets (episode k uses `seed + k`, so a seeded evaluation
is reproducible and its trials distinct), on one torch thread, and calls `on_step(episode, step,
activity, info)` after every environment step so a caller can record units, frames or events.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from training.files import atomic_write_json
from training.run import Run


@contextmanager
def single_thread():
    """Run one-environment inference on one torch thread (restored after): batch-1 steps of these small
    networks are 2-3x slower with intra-op threads, and far slower when another process holds the cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass
class Episode:
    """One episode of a rollout."""

    seed: int
    episode_return: float = 0.0
    steps: int = 0
    records: list[dict] = field(default_factory=list)  # the task's completed trials (`info["records"]`)
    fault: str | None = None  # "physics_error" or "circuit_error" when a numerical fault ended the episode
    fault_message: str | None = None
    values: list[float] = field(default_factory=list)  # the critic's value estimate at every step
    action_means: list = field(default_factory=list)  # the policy's mean action at every step, [act] arrays


class NumericalFault(RuntimeError):
    """A numerical fault that stops a run (training cannot go on from non-finite circuit state)."""


def nonfinite(mean: torch.Tensor, state: dict) -> str | None:
    """Which part of a circuit's step is not finite: its action mean or a state variable (None: all finite)."""
    if not torch.isfinite(mean).all():
        return "action"
    for name, value in state.items():
        if not torch.isfinite(value).all():
            return f"state {name!r}"
    return None


def rollout(agent, normalizer, env, episodes: int, seed: int, deterministic: bool = True, on_step=None,
            progress: str | None = None, perturb=None) -> list[Episode]:
    """Run `episodes` episodes of `env` under `agent` (mean action if `deterministic`, else sampled with
    the policy's noise from a generator seeded by `seed`). `on_step(episode, step, activity, info)` is
    called after every step; `progress` names a progress bar over the episodes (None: no bar);
    `perturb(episode, step, action)` may replace the action [1, act] the circuit chose before the body gets
    it (an experimenter's perturbation; the circuit runs on regardless).

    A numerical fault ends its episode and is named on it (`Episode.fault`): the physics' own
    (`physics_error`), or the circuit's (`circuit_error`: a non-finite action or state, caught here before
    it reaches the body); the task records the trial in progress as faulted."""
    from tqdm import tqdm

    generator = torch.Generator().manual_seed(seed)
    out = []
    with single_thread():
        for ep in tqdm(range(episodes), desc=progress, unit="episode", disable=progress is None, leave=False):
            obs, _ = env.reset(seed=seed + ep)
            state = agent.circuit.initial_state(1)
            reset = torch.ones(1, dtype=torch.bool)
            episode, done = Episode(seed=seed + ep), False
            while not done:
                with torch.no_grad():
                    x = torch.as_tensor(normalizer(obs[None]))  # [1, obs]
                    mean, value, state, activity, _ = agent(x, state, reset,
                                                            agent.circuit.sample_noise(1, generator) or None)
                    episode.values.append(float(value[0]))
                    episode.action_means.append(mean[0].numpy().copy())
                    action = mean if deterministic else mean + agent.log_std.exp() * torch.randn(mean.shape,
                                                                                                generator=generator)
                reset = torch.zeros(1, dtype=torch.bool)
                if perturb is not None:
                    action = perturb(ep, episode.steps, action)
                bad = nonfinite(action, state)
                if bad is not None:
                    obs, r, term, trunc, info = env.unwrapped.abort(
                        "circuit_error", f"non-finite circuit {bad} at t={env.unwrapped.t_s:.3f} s")
                else:
                    obs, r, term, trunc, info = env.step(action[0].clamp(-1, 1).numpy())
                for kind in ("physics_error", "circuit_error"):
                    if kind in info:
                        episode.fault, episode.fault_message = kind, info[kind]
                episode.episode_return += float(r)
                episode.records.extend(info.get("records", []))
                if on_step is not None:
                    on_step(ep, episode.steps, activity, info)
                episode.steps += 1
                done = term or trunc
            out.append(episode)
    return out


def evaluate(run: Run | str | Path, episodes: int = 10, deterministic: bool = True, video: bool = False,
             checkpoint: str = "best", seed: int = 1000, lesion=(), canonical: bool = True, out=None,
             wall_stop: bool | None = None, progress: bool = False) -> dict:
    """Run a trained circuit on its task (canonical form by default), score its behaviour with the
    task's metrics (faulted trials counted, never scored: `faulted_episodes` by kind), and write `<out>/<tag>.json` (default out: `<run_dir>/eval`; tag `intact` or
    `lesion-<populations>`); with `video` also `<tag>_episode0.mp4`.

    wall_stop: the spinal layer's wall stop as the run was trained (None), or on/off (a run through
    the layer only; the tag then says which)."""
    run = run if isinstance(run, Run) else Run(run)
    agent, normalizer = run.agent(checkpoint, lesion)
    body_cfg = run.config.get("body", {})
    through_layer = bool(body_cfg.get("spinal", {}).get("enabled"))
    if wall_stop is not None:
        if not through_layer:
            raise ValueError(f"wall_stop={wall_stop} needs a run through the spinal layer; {run.path} drives the servos")
        if not isinstance(wall_stop, bool):
            raise ValueError(f"wall_stop must be true or false (or left out: as trained), got {wall_stop!r}")
    spinal = {**body_cfg.get("spinal", {}), **({"wall_stop": wall_stop} if wall_stop is not None else {})}
    env = run.make_env(canonical=canonical, body_overrides={"spinal": spinal} if through_layer else None)
    frames = []

    def grab_frame(ep, step, activity, info):
        if ep == 0:
            frames.append(env.render())

    try:
        eps = rollout(agent, normalizer, env, episodes, seed, deterministic, on_step=grab_frame if video else None,
                      progress=f"evaluate {run.circuit_name}" if progress else None)
    finally:
        env.close()
    records = [r for e in eps for r in e.records]
    faults = {kind: sum(e.fault == kind for e in eps) for kind in ("physics_error", "circuit_error")}
    result = {"run_dir": run.zoo_ref or str(run.path), "checkpoint": str(run.checkpoint_path(checkpoint)), "task": run.task_name,
              "canonical": canonical, "circuit": run.circuit_name, "episodes": episodes, "deterministic": deterministic,
              "lesioned": agent.lesioned, "env_steps_trained": run.checkpoint(checkpoint)["env_steps"],
              "wall_stop": bool(spinal.get("wall_stop", False)) if through_layer else None,
              "mean_return": float(np.mean([e.episode_return for e in eps])),
              "faulted_episodes": faults, "faults": [{"episode": i, "kind": e.fault, "message": e.fault_message}
                                                    for i, e in enumerate(eps) if e.fault],
              "metrics": run.task_class.metrics(records), "records": records}
    out_dir = Path(out) if out else run.out_dir / "eval"
    tag = "lesion-" + "-".join(agent.lesioned) if agent.lesioned else "intact"
    if wall_stop is not None:
        tag += f"_wall_stop_{'on' if wall_stop else 'off'}"
    atomic_write_json(out_dir / f"{tag}.json", result)
    result["path"] = str(out_dir / f"{tag}.json")
    if video and frames:
        import imageio.v2 as imageio

        path = out_dir / f"{tag}_episode0.mp4"
        with imageio.get_writer(path, fps=round(1 / env.control_dt), codec="libx264", quality=7,
                                macro_block_size=1) as writer:
            for f in frames:
                writer.append_data(f)
        result["video"] = str(path)
    return result
