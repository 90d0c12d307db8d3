"""Checkpoints, written atomically (`training.files`).

A checkpoint is self-contained: the resolved config, observation/action sizes, the agent's weights
(circuit, actor head, critic), the observation normaliser, and counters — enough to rebuild the
trained circuit on another machine. `last.pt` also holds the optimiser and RNG states for resume;
`best.pt` holds only what evaluation needs, so it stays small.
"""

from __future__ import annotations

import io
from pathlib import Path

import torch

from training.files import atomic_write_bytes


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
    if isinstance(ckpt, dict) and isinstance(ckpt.get("config", {}).get("body"), dict):
        ckpt["config"]["body"] = migrate_body_config(ckpt["config"]["body"])
    return ckpt


FLAT_SPINAL_KEYS = {"spinal_gait": "gait", "spinal_rhythm": "rhythm", "spinal_params": "params", "spinal_rear": "rear",
                    "spinal_wall_stop": "wall_stop"}


def migrate_body_config(body_cfg: dict) -> dict:
    """A `body` config as the current group holds it, from any checkpoint's: runs written before the
    spinal layer's options were one group held them as flat keys (`spinal: true`, `spinal_gait`, ...);
    before the rhythm option the layer was the drive-rhythm one, before the wall stop there was none."""
    if isinstance(body_cfg.get("spinal"), dict):
        return body_cfg
    out = {k: v for k, v in body_cfg.items() if k not in FLAT_SPINAL_KEYS and k != "spinal"}
    enabled = bool(body_cfg.get("spinal", False))
    spinal = {"enabled": enabled, **{new: body_cfg[old] for old, new in FLAT_SPINAL_KEYS.items() if old in body_cfg}}
    if enabled:
        spinal.setdefault("rhythm", "drive")  # written before the option existed: the layer then was the drive-rhythm one
        spinal.setdefault("wall_stop", False)  # written before the reflex existed: the rat walked on into walls
    out["spinal"] = spinal
    return out


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
