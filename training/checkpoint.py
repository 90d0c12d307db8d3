"""Checkpoints and other run-dir files, written atomically (temp file, fsync, rename).

A checkpoint is self-contained: the resolved config, observation/action sizes, the agent's weights
(circuit, actor head, critic), the observation normaliser, and counters — enough to rebuild the
trained circuit on another machine. `last.pt` also holds the optimiser and RNG states for resume;
`best.pt` holds only what evaluation needs, so it stays small.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import torch


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: str | Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, default=float) + "\n")


def save_checkpoint(path: str | Path, payload: dict) -> None:
    buf = io.BytesIO()
    torch.save(payload, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: str | Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise ValueError(f"checkpoint {path} is unreadable ({type(exc).__name__}: {exc})") from exc
    body_cfg = ckpt.get("config", {}).get("body", {}) if isinstance(ckpt, dict) else {}
    if body_cfg.get("spinal") and "spinal_rhythm" not in body_cfg:
        body_cfg["spinal_rhythm"] = "drive"  # written before the option existed: the layer then was the drive-rhythm one
    if body_cfg.get("spinal") and "spinal_wall_stop" not in body_cfg:
        body_cfg["spinal_wall_stop"] = False  # written before the reflex existed: the rat walked on into walls
    return ckpt


def find_checkpoint(run_dir: str | Path, which: str = "best") -> Path:
    """`best.pt` (falling back to `last.pt`) or `last.pt` inside `run_dir/checkpoints`."""
    ckpt_dir = Path(run_dir) / "checkpoints"
    order = ["best.pt", "last.pt"] if which == "best" else ["last.pt"]
    for name in order:
        if (ckpt_dir / name).exists():
            return ckpt_dir / name
    raise FileNotFoundError(f"no checkpoint in {ckpt_dir} (looked for {', '.join(order)})")


def build_agent(ckpt: dict):
    """Rebuild the agent and normaliser from a checkpoint (no run dir or hydra needed)."""
    import circuits
    from training.agent import Agent
    from training.normalizer import RunningNormalizer

    cfg = ckpt["config"]
    circuit_kwargs = {k: v for k, v in cfg["circuit"].items() if k not in ("_target_", "name")}
    circuit = circuits.make(cfg["circuit"]["name"], ckpt["obs_dim"], ckpt["act_dim"], **circuit_kwargs)
    t = cfg["training"]
    agent = Agent(circuit, ckpt["act_dim"], critic_hidden=t["critic_hidden"], critic_inputs=t["critic_inputs"],
                  value_shapes_circuit=t["value_shapes_circuit"], init_log_std=t["init_log_std"])
    agent.load_state_dict(ckpt["agent"])
    normalizer = RunningNormalizer(ckpt["obs_dim"])
    normalizer.load_state_dict(ckpt["normalizer"])
    return agent, normalizer


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
