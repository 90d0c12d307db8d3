"""The config's typed schema: every key of every group with its type and range, checked before anything
is written.

`validate(cfg)` raises a one-line `UsageError` naming the key, the value and what is valid. The
`training`, `body` (with its `spinal` group) and top-level keys are declared here as dataclasses with
ranges in field metadata; a `task` or `circuit` group is typed by its own YAML defaults (a value must
have the default's type) and then built once, so the task's and circuit's own checks run too, before a
run directory exists. The run's output location must be writable with room to spare.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from training.config import UsageError

MIN_FREE_BYTES = 50 * 2**20  # a run writes checkpoints of a few MB each: refuse a nearly full disk up front


def rng(lo=None, hi=None, lo_open=False, choices=None, nullable=False):
    return field(default=None, metadata={"lo": lo, "hi": hi, "lo_open": lo_open, "choices": choices,
                                         "nullable": nullable})


@dataclass
class Training:
    total_steps: int = rng(1)
    max_wall_s: float = rng(0)
    stop_at_criterion: bool = rng()
    after_criterion: float = rng(0)
    validation_episodes: int = rng(0)
    validate_every: int = rng(1)
    validation_seed: int = rng(0)
    num_envs: int = rng(1)
    num_workers: int = rng(0)
    rollout_steps: int = rng(1)
    epochs: int = rng(1)
    num_minibatches: int = rng(1)
    learning_rate: float = rng(0, lo_open=True)
    anneal_lr: bool = rng()
    gamma: float = rng(0, 1)
    gae_lambda: float = rng(0, 1)
    clip_coef: float = rng(0, lo_open=True)
    ent_coef: float = rng(0)
    vf_coef: float = rng(0)
    max_grad_norm: float = rng(0, lo_open=True)
    init_log_std: float = rng()
    critic_hidden: int = rng(1)
    critic_inputs: str = rng(choices=("obs", "obs_and_features"))
    value_shapes_circuit: bool = rng()
    normalize_obs: bool = rng()
    rate_l2: float = rng(0)
    spike_count_l2: float = rng(0)
    action_bound_coef: float = rng(0)
    checkpoint_every: int = rng(1)
    metrics_window: int = rng(1)
    torch_threads: int = rng(1)
    device: str = rng()


@dataclass
class Spinal:
    enabled: bool = rng()
    gait: str = rng(choices=("auto", "walk", "trot", "gallop"))
    rhythm: str = rng(choices=("command", "drive"))
    params: object = rng(nullable=True)  # null, a file path, or the mapping a run stored
    rear: bool = rng()
    wall_stop: bool = rng()


@dataclass
class Body:
    _target_: str = rng()
    variant: str = rng(choices=("free", "head_fixed", "forelimb"))
    actuation: str = rng(choices=("position", "torque"))
    physics_dt: float = rng(0, lo_open=True)
    vision: bool = rng()
    side: str = rng(choices=("left", "right"))
    proprio_delay_steps: int = rng(0)
    obs_noise: float = rng(0)
    action_noise: float = rng(0)
    spinal: Spinal = rng()


@dataclass
class Top:
    seed: int = rng(0)
    run_name: str = rng()
    resume: object = rng()  # false, true, or a run or sweep directory
    lesion: list = rng()


def _type_ok(kind, value) -> bool:
    if kind is object:
        return True
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is list:
        return isinstance(value, (list, tuple))
    return isinstance(value, kind)


def _describe(kind, meta) -> str:
    if meta.get("choices"):
        return " | ".join(meta["choices"])
    name = {bool: "true or false", int: "a whole number", float: "a number", str: "text", list: "a list"}.get(kind, "")
    lo, hi = meta.get("lo"), meta.get("hi")
    if lo is not None and hi is not None:
        return f"{name} in [{lo}, {hi}]"
    if lo is not None:
        return f"{name} {'>' if meta.get('lo_open') else '>='} {lo}"
    return name


def check_dataclass(schema, values: dict, prefix: str) -> None:
    fields = {f.name: f for f in dataclasses.fields(schema)}
    types = {f.name: f.type for f in dataclasses.fields(schema)}
    for key, value in values.items():
        if key not in fields:
            raise UsageError(f"unknown config key {prefix}{key}; valid keys under {prefix.rstrip('.') or 'the top level'}: "
                             f"{', '.join(fields)}")
        kind = eval(types[key]) if isinstance(types[key], str) else types[key]  # annotations are strings here
        meta = fields[key].metadata
        if dataclasses.is_dataclass(kind):
            if not isinstance(value, dict):
                raise UsageError(f"{prefix}{key} must be a group of {', '.join(f.name for f in dataclasses.fields(kind))}, "
                                 f"got {value!r}")
            check_dataclass(kind, value, f"{prefix}{key}.")
            continue
        if value is None and (meta.get("nullable") or kind is object):
            continue
        bad = f"{prefix}{key}={value!r} is invalid; valid: {_describe(kind, meta)}"
        if not _type_ok(kind, value):
            raise UsageError(bad)
        if meta.get("choices") and value not in meta["choices"]:
            raise UsageError(bad)
        lo, hi = meta.get("lo"), meta.get("hi")
        if lo is not None and (value < lo or (meta.get("lo_open") and value == lo)):
            raise UsageError(bad)
        if hi is not None and value > hi:
            raise UsageError(bad)


def check_like_defaults(group: str, values: dict, defaults: dict) -> None:
    """A task or circuit group: every value has its default's type (a number where a number was)."""
    for key, value in values.items():
        if key not in defaults:  # added with +group.key=...: the task's or circuit's own constructor checks it
            continue
        default = defaults[key]
        if default is None or value is None or key == "seed":
            continue
        kind = type(default)
        ok = _type_ok(float if kind is float else kind, value) if kind in (bool, int, float) else \
            _type_ok(list if isinstance(default, (list, tuple)) else dict if isinstance(default, dict) else kind, value)
        if not ok:
            what = {bool: "true or false", int: "a whole number", float: "a number", str: "text"}.get(kind, kind.__name__)
            raise UsageError(f"{group}.{key}={value!r} is invalid; valid: {what} (default {default!r})")


def check_device(device: str) -> None:
    import torch

    try:
        d = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise UsageError(f"training.device={device!r} is invalid; valid: cpu, cuda, cuda:N ({exc})") from None
    if d.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"training.device={device!r}: CUDA was requested but this torch build has no GPU "
                         f"(torch {torch.__version__}); use training.device=cpu")
    if d.type not in ("cpu", "cuda"):
        raise UsageError(f"training.device={device!r} is not supported; valid: cpu, cuda, cuda:N")


def check_writable(path: Path) -> None:
    """The nearest existing folder of `path` must be writable, with room for checkpoints."""
    here = Path(path).resolve()
    while not here.exists():
        here = here.parent
    if not here.is_dir() or not os.access(here, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write {path}: {here} is not a writable folder; choose a writable location "
                         "(run_name=..., or out=...)")
    free = shutil.disk_usage(here).free
    if free < MIN_FREE_BYTES:
        raise UsageError(f"cannot write {path}: only {free / 2**20:.0f} MB free on {here}'s disk (a run needs "
                         f"at least {MIN_FREE_BYTES / 2**20:.0f} MB)")


def validate(cfg, group_defaults: dict | None = None, build: bool = True) -> None:
    """Check a composed training config against the schema; `group_defaults` maps 'task' and 'circuit' to
    their YAML defaults (as composed without overrides); `build` also builds the task and circuit once."""
    from omegaconf import OmegaConf

    plain = OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else dict(cfg)
    top = {k: plain[k] for k in ("seed", "run_name", "resume", "lesion") if k in plain}
    check_dataclass(Top, top, "")
    check_dataclass(Training, plain["training"], "training.")
    check_dataclass(Body, plain["body"], "body.")
    for group in ("task", "circuit"):
        if group_defaults and group in group_defaults:
            check_like_defaults(group, plain[group], group_defaults[group])
    t = plain["training"]
    if t["num_envs"] % t["num_minibatches"]:
        raise UsageError(f"training.num_envs ({t['num_envs']}) must be divisible by training.num_minibatches "
                         f"({t['num_minibatches']}): minibatches are whole environments")
    check_device(t["device"])
    if build:
        build_once(cfg)


def build_once(cfg) -> None:
    """Build the task (one environment, in this process) and the circuit for its sizes: their own checks
    run before any run directory exists."""
    from training.config import make_circuit, make_task

    env = make_task(cfg)
    try:
        circuit = make_circuit(cfg, env.observation_space.shape[0], env.action_space.shape[0])
        lesion = list(cfg["lesion"] or [])
        if lesion:
            try:
                circuit.lesion(lesion)
            except ValueError as exc:
                raise UsageError(f"lesion={lesion}: {exc}") from None
    finally:
        env.close()
