"""Checkpoints, written atomically (`training.files`).

A checkpoint is self-contained: the resolved config, observation/action sizes, the agent's weights
(circuit, actor head, critic), the observation normaliser, and counters — enough to rebuild the
trained circuit on another machine. `last.pt` also holds the optimiser and RNG states for resume;
`best.pt` holds only what evaluation needs, so it stays small.
"""

from __future__ import annotations

import io
import math
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
    if isinstance(ckpt, dict) and isinstance(ckpt.get("config", {}).get("circuit"), dict) \
            and "populations" not in ckpt["config"]["circuit"]:
        old = ckpt["config"]["circuit"]
        ckpt["config"]["circuit"] = migrate_circuit_config(old)
        for key in ("agent", "best_agent"):
            if isinstance(ckpt.get(key), dict):
                ckpt[key] = migrate_circuit_state(old["name"], ckpt[key])
    return ckpt


SPIKING_KEYS = ("substeps", "control_dt_s", "tau_syn_ms", "refractory_ms", "readout_tau_ms", "noise_std", "threshold",
                "surrogate_slope")


def migrate_circuit_config(old: dict) -> dict:
    """A circuit spec (`circuits.spec`) from a checkpoint written before circuits were specs, when a
    built-in circuit was a Python class with flat options (`n_exc`, `units`, `gains`, ...)."""
    import circuits

    name = old["name"]
    if name not in ("mlp", "lstm", "dale_rnn", "spiking_m1", "m1_bg"):
        raise ValueError(f"checkpoint circuit {name!r} predates circuit specs and is not a built-in; cannot migrate")
    spec = circuits.load(name)
    spec.pop("seed", None)
    o = {k: v for k, v in old.items() if k not in ("_target_", "name")}
    pops, projs = spec["populations"], spec["projections"]
    if name == "mlp":
        n, layers = o.get("hidden", 128), o.get("layers", 2)
        spec["populations"] = {f"hidden_{i + 1}": {"model": "dense", "size": n} for i in range(layers)}
        spec["projections"] = {"obs_hidden_1": {"pre": "obs", "post": "hidden_1"},
                               **{f"hidden_{i}_hidden_{i + 1}": {"pre": f"hidden_{i}", "post": f"hidden_{i + 1}"}
                                  for i in range(1, layers)}}
        spec["readout"] = [f"hidden_{layers}"]
    elif name == "lstm":
        for pop, key in (("encoder", "encoder_size"), ("core", "core_size"), ("policy", "policy_size")):
            pops[pop]["size"] = o.get(key, pops[pop]["size"])
    elif name == "dale_rnn":
        units, frac = o.get("units", 256), o.get("e_fraction", 0.8)
        n_e = max(1, min(units - 1, round(units * frac)))
        for pop, size in (("E", n_e), ("I", units - n_e)):
            pops[pop].update(size=size, tau_ms=o.get("tau_ms", 50.0), nonlinearity=o.get("rate_function", "relu"),
                             max_rate=o.get("max_rate", 1e9))  # before the saturation option rates were unbounded
        spec["dynamics"] = {"control_dt_s": o.get("control_dt_s", 0.02), "noise_std": o.get("noise_std", 0.05)}
        spec["relay"] = {"kind": o.get("input_relay", "onoff"), "size": o.get("relay_size", 64),
                         "gain": o.get("input_gain", 1.0)}
        spec["init"] = {"balance": True, "spectral_radius": o.get("spectral_radius", 0.9)}
    else:
        spec["dynamics"].update({k: o[k] for k in SPIKING_KEYS if k in o})
        spec["relay"].update(size=o.get("relay_size", spec["relay"]["size"]), gain=o.get("input_gain", 0.3))
        if name == "spiking_m1":
            pops["E"].update(size=o.get("n_exc", 160), tau_mem_ms=o.get("tau_mem_exc_ms", 20.0),
                             drive=o.get("drive_exc", 0.95))
            pops["I"].update(size=o.get("n_inh", 40), tau_mem_ms=o.get("tau_mem_inh_ms", 10.0),
                             drive=o.get("drive_inh", 0.8))
            for proj, key in (("E_E", "w_ee"), ("E_I", "w_ei"), ("I_E", "w_ie"), ("I_I", "w_ii")):
                projs[proj]["gain"] = o.get(key, projs[proj]["gain"])
            if o.get("adapt_tau_ms", 0) > 0 and o.get("adapt_strength", 0) > 0:
                # then the trace was a rate (a <- rho a + (1 - rho) s): per spike the threshold rose beta (1 - rho)
                dt_ms = o.get("control_dt_s", 0.02) * 1000.0 / o.get("substeps", 5)
                per_spike = o["adapt_strength"] * (1 - math.exp(-dt_ms / o["adapt_tau_ms"]))
                pops["E"].update(model="alif", adapt_tau_ms=o["adapt_tau_ms"], adapt_strength=per_spike)
        else:
            sizes = {"M1_E": "n_m1_exc", "M1_I": "n_m1_inh", "D1": "n_d1", "D2": "n_d2", "GPe": "n_gpe", "STN": "n_stn",
                     "GPi": "n_gpi", "thalamus": "n_thalamus"}
            for pop, key in sizes.items():
                pops[pop]["size"] = o.get(key, pops[pop]["size"])
                pops[pop]["drive"] = (o.get("drives") or {}).get(pop, pops[pop]["drive"])
            by_ends = {(v["pre"], v["post"]): k for k, v in projs.items()}
            for key, gain in (o.get("gains") or {}).items():
                projs[by_ends[tuple(key.split("->"))]]["gain"] = gain
            spec["neuromodulation"]["dopamine"]["level"] = o.get("dopamine", 0.0)
    return spec


def migrate_circuit_state(name: str, state: dict) -> dict:
    """Agent weights saved by the pre-spec classes, under the spec engines' names."""
    out = {}
    for key, value in state.items():
        if key == "circuit.input_index":
            continue  # now derived from the spec
        if name == "dale_rnn" and key.startswith("circuit.recurrent."):
            key = "circuit.weights." + key[len("circuit.recurrent."):]
        if name == "mlp" and key.startswith("circuit.layers."):
            i, rest = key[len("circuit.layers."):].split(".", 1)
            key = f"circuit.hidden_{int(i) + 1}.0.{rest}"
        out[key] = value
    return out


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

    from training.config import make_circuit

    cfg = ckpt["config"]
    circuit = make_circuit(cfg, ckpt["obs_dim"], ckpt["act_dim"])
    t = cfg["training"]
    agent = Agent(circuit, ckpt["act_dim"], critic_hidden=t["critic_hidden"], critic_inputs=t["critic_inputs"],
                  value_shapes_circuit=t["value_shapes_circuit"], init_log_std=t["init_log_std"])
    if "zoo" in ckpt:  # a zoo entry ships the brain and actor head, not the critic (a training device)
        missing, unexpected = agent.load_state_dict(ckpt["agent"], strict=False)
        if unexpected or any(not k.startswith("critic.") for k in missing):
            raise ValueError(f"zoo entry weights do not fit its circuit: missing {missing[:3]}, unexpected {unexpected[:3]}")
    else:
        agent.load_state_dict(ckpt["agent"])
    normalizer = RunningNormalizer(ckpt["obs_dim"])
    normalizer.load_state_dict(ckpt["normalizer"])
    return agent, normalizer
