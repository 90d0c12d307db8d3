"""The zoo: trained circuits shipped as small, safe files, loaded by name.

An entry is a folder `zoo/<study>/<circuit>/<task>/seed<k>/` holding

    agent.safetensors   the circuit's and actor head's weights, and the observation normaliser's statistics
                        (safetensors: plain tensors, no pickle, so loading a downloaded entry cannot run code)
    manifest.json       what it is: the resolved config (with the circuit's whole spec), observation and
                        action sizes, task, seed, environment steps, wall time, machine, code commit, and
                        the canonical evaluation it scored (metric, value, interval, episodes)

The critic is a training device, not part of the brain, and is not shipped: an entry evaluates,
records and lesions like a run, but does not resume training. `zoo:<study>/<circuit>/<task>/seed<k>`
names an entry wherever a run directory is accepted (`windtunnel evaluate zoo:lab_ladder/m1_bg/lever_timing/seed1`);
the zoo folder is `$WINDTUNNEL_ZOO`, else `./zoo`, else the one beside the installed packages.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from training.config import UsageError

WEIGHTS = "agent.safetensors"
MANIFEST = "manifest.json"
PREFIX = "zoo:"
MAX_ENTRY_BYTES = 1_048_576  # 1 MB


def zoo_dirs() -> list[Path]:
    dirs = [Path(os.environ["WINDTUNNEL_ZOO"])] if os.environ.get("WINDTUNNEL_ZOO") else []
    return dirs + [Path("zoo"), Path(__file__).resolve().parents[1] / "zoo"]


def is_ref(text) -> bool:
    return str(text).startswith(PREFIX)


def resolve(ref: str) -> Path:
    """The entry folder a `zoo:<study>/<circuit>/<task>/seed<k>` reference names."""
    name = str(ref)[len(PREFIX):].strip("/")
    parts = name.split("/")
    if len(parts) != 4 or not parts[3].startswith("seed") or any(p in ("", ".", "..") for p in parts):
        raise UsageError(f"zoo reference {ref!r} is malformed; valid: zoo:<study>/<circuit>/<task>/seed<k>, "
                         "e.g. zoo:lab_ladder/m1_bg/lever_timing/seed1")
    for base in zoo_dirs():
        if (base / name / MANIFEST).is_file():
            return base / name
    known = sorted({str(p.parent.relative_to(base)) for base in zoo_dirs() if base.is_dir()
                    for p in base.glob(f"*/*/*/*/{MANIFEST}")},
                   key=lambda k: (k.split("/")[0] != parts[0], k))  # the named study's entries first
    hint = f"; valid: {', '.join('zoo:' + k for k in known[:8])}{', ...' if len(known) > 8 else ''}" if known else \
        " (no zoo entries found in " + ", ".join(str(d) for d in zoo_dirs()) + ")"
    raise UsageError(f"no zoo entry {ref!r}{hint}")


def entries(study: str) -> list[str]:
    """Every entry of a shipped study, as `zoo:` references (circuit, task, seed order)."""
    for base in zoo_dirs():
        if (base / study).is_dir():
            found = sorted(p.parent.relative_to(base) for p in (base / study).glob(f"*/*/*/{MANIFEST}"))
            return [PREFIX + str(f) for f in found]
    raise UsageError(f"no shipped study {study!r} in " + ", ".join(str(d) for d in zoo_dirs()))


def load_entry(folder: Path) -> dict:
    """A checkpoint-like dict (`config`, `obs_dim`, `act_dim`, `agent`, `normalizer`, ...) from an entry,
    read without unpickling anything."""
    import numpy as np
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    manifest = json.loads((folder / MANIFEST).read_text())
    path = folder / WEIGHTS
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise UsageError(f"zoo entry {folder}: {WEIGHTS} is not a safetensors file ({str(exc).splitlines()[0]}); "
                         "the zoo loads plain tensors only (a pickle could run code)") from None
    agent = {k[len("agent."):]: v for k, v in tensors.items() if k.startswith("agent.")}
    norm = manifest["normalizer"]
    normalizer = {"mean": tensors["normalizer.mean"].numpy().astype(np.float64),
                  "var": tensors["normalizer.var"].numpy().astype(np.float64),
                  "count": float(norm["count"]), "clip": float(norm["clip"])}
    return {"config": manifest["config"], "obs_dim": manifest["obs_dim"], "act_dim": manifest["act_dim"],
            "agent": agent, "normalizer": normalizer, "env_steps": manifest["env_steps"],
            "code": manifest.get("code", {}), "lesioned": manifest.get("lesioned", []), "zoo": manifest}


def export(run, folder: Path, evaluation: dict | None = None, study: str = "", seed: int | None = None) -> Path:
    """Write a run's best checkpoint as a zoo entry: the brain's and actor head's weights (no critic, no
    optimiser) in safetensors, and the manifest. `evaluation`: the canonical evaluation to record
    (metric, value, interval, episodes). Refuses an entry over 1 MB."""
    import torch
    from safetensors.torch import save_file

    from training.files import atomic_write_bytes, atomic_write_text

    ckpt = run.checkpoint("best")
    tensors = {f"agent.{k}": v.detach().cpu().contiguous() for k, v in ckpt["agent"].items()
               if not k.startswith("critic.")}
    norm = ckpt["normalizer"]
    tensors["normalizer.mean"] = torch.as_tensor(norm["mean"], dtype=torch.float64)
    tensors["normalizer.var"] = torch.as_tensor(norm["var"], dtype=torch.float64)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{WEIGHTS}.tmp"
    save_file(tensors, str(tmp))
    data = tmp.read_bytes()
    tmp.unlink()
    if len(data) > MAX_ENTRY_BYTES:
        raise ValueError(f"zoo entry {folder}: {len(data) / 2**20:.2f} MB of weights, over the 1 MB an entry may hold")
    atomic_write_bytes(folder / WEIGHTS, data)
    summary = {}
    if (run.path / "summary.json").exists():
        summary = json.loads((run.path / "summary.json").read_text())
    cfg = ckpt["config"]
    manifest = {
        "study": study, "circuit": cfg["circuit"]["name"], "task": cfg["task"]["name"],
        "seed": cfg.get("seed") if seed is None else seed,
        "env_steps": int(ckpt.get("env_steps", 0)), "best_at_env_steps": int(ckpt.get("env_steps", 0)),
        "trained_env_steps": int(summary.get("env_steps", ckpt.get("env_steps", 0))),
        "wall_s": summary.get("wall_s"), "machine": summary.get("machine") or _machine(),
        "code": ckpt.get("code", {}), "lesioned": list(ckpt.get("lesioned", [])),
        "evaluation": evaluation or {}, "obs_dim": ckpt["obs_dim"], "act_dim": ckpt["act_dim"],
        "normalizer": {"count": float(norm["count"]), "clip": float(norm["clip"])},
        "parameters": sum(v.numel() for k, v in tensors.items() if k.startswith("agent.circuit.")),
        "curve": _curve(run),
        # how the run learned: when the rolling metrics first met the criterion, whether it stopped there, and the
        # held-out checks of that stop (the zoo alone then carries the learning table's row)
        "training": {k: summary.get(k) for k in ("criterion_met", "stopped_at_criterion", "validation", "updates")},
        "config": cfg,
    }
    atomic_write_text(folder / MANIFEST, json.dumps(manifest, indent=1, default=str) + "\n")
    return folder


def _curve(run, points: int = 100) -> dict | None:
    """The run's learning curve (training criterion metric against environment steps), at most `points`."""
    curve = run.learning_curve(points)
    if curve is None:
        return None
    return {"metric": run.criterion, "env_steps": curve[0].tolist(), "value": [round(float(v), 4) for v in curve[1]]}


def _machine() -> str:
    from training.ppo import machine

    return machine()
