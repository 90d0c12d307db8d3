"""The hydra config tree in `conf/`: composing it, validating overrides, instantiating `_target_`s.

Every mistake a user can make on the command line becomes a `UsageError` with one line that names
what was wrong and what is valid.
"""

from __future__ import annotations

from pathlib import Path

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


class UsageError(ValueError):
    """A command-line or config mistake: reported as one line, exit status 2."""


def config_groups() -> dict[str, list[str]]:
    """Config groups (subfolders of conf/) and the options each offers."""
    return {
        d.name: sorted(p.stem for p in d.glob("*.yaml"))
        for d in sorted(CONF_DIR.iterdir())
        if d.is_dir() and not d.name.startswith((".", "_", "hydra"))
    }


def _split(override: str) -> tuple[str, str]:
    if "=" not in override:
        raise UsageError(f"argument {override!r} is not of the form key=value")
    key, value = override.split("=", 1)
    return key, value


def check_overrides(overrides: list[str]) -> None:
    """Reject unknown group options and unknown keys with the valid choices named."""
    from omegaconf import OmegaConf

    groups = config_groups()
    for ov in overrides:
        key, value = _split(ov)
        if key.startswith(("+", "~", "hydra")):
            continue
        if key in groups and value not in groups[key]:
            raise UsageError(f"unknown {key} {value!r}; valid: {', '.join(groups[key])}")
    # keys inside the groups the overrides choose
    chosen = [ov for ov in overrides if _split(ov)[0] in groups]
    base = _compose_raw(chosen)
    for ov in overrides:
        key, _ = _split(ov)
        if key.startswith(("+", "~", "hydra")) or key in groups:
            continue
        parent, _, leaf = key.rpartition(".")
        node = OmegaConf.select(base, parent) if parent else base
        if node is None or not OmegaConf.is_dict(node) or leaf not in node:
            where = f"under {parent!r}" if parent and node is not None else "at the top level"
            valid = ", ".join(str(k) for k in node.keys()) if OmegaConf.is_dict(node) else "none"
            raise UsageError(f"unknown config key {key!r}; valid keys {where}: {valid}")


def _compose_raw(overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return hydra_compose(config_name="config", overrides=overrides)
    except (HydraException, OmegaConfBaseException) as exc:
        lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
        raise UsageError(" ".join(lines[:2]) or type(exc).__name__) from exc


def compose(overrides: list[str]):
    """The resolved config for these overrides (hydra's compose API, no run dir)."""
    check_overrides(overrides)
    return _compose_raw(overrides)


def instantiate(node, **kwargs):
    """hydra's instantiate, with the target's own ValueError surfaced as a one-line UsageError."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate as hydra_instantiate

    try:
        return hydra_instantiate(node, **kwargs)
    except InstantiationException as exc:
        cause = exc.__cause__
        if isinstance(cause, ValueError):
            raise UsageError(str(cause)) from cause
        raise


def task_spec(cfg) -> tuple[str, dict]:
    """(task name, `tasks.make` keyword arguments) from the composed `task` and `body` groups."""
    from omegaconf import OmegaConf

    body = OmegaConf.to_container(cfg.body, resolve=True)
    body.pop("_target_", None)
    variant = body.pop("variant")
    physics_dt = body.pop("physics_dt")
    task = OmegaConf.to_container(cfg.task, resolve=True)
    task.pop("_target_", None)
    name = task.pop("name")
    return name, {**task, "body": variant, "physics_dt": physics_dt, "body_options": body}


def make_task(cfg):
    """One environment of the configured task on the configured body (bad options -> UsageError)."""
    import tasks

    name, kwargs = task_spec(cfg)
    try:
        return tasks.make(name, **kwargs)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def make_circuit(cfg, obs_dim: int, act_dim: int):
    """The configured circuit for these observation and action sizes (bad options -> UsageError)."""
    from omegaconf import OmegaConf

    import circuits

    kwargs = OmegaConf.to_container(cfg.circuit, resolve=True)
    kwargs.pop("_target_", None)
    name = kwargs.pop("name")
    try:
        return circuits.make(name, obs_dim, act_dim, **kwargs)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def parse_value(text: str):
    """A command-line value as YAML: `4` -> 4, `true` -> True, `[a,b]` -> ['a', 'b'], `x` -> 'x'."""
    import yaml

    try:
        return yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError as exc:
        raise UsageError(f"cannot parse value {text!r}: {exc}") from exc


def parse_run_args(args: list[str], defaults: dict, usage: str):
    """`<run_dir> key=value ...` -> (run_dir Path, options); unknown keys name the valid ones."""
    from pathlib import Path

    if not args or "=" in args[0]:
        raise UsageError(usage)
    run_dir = Path(args[0])
    if not run_dir.is_dir():
        raise UsageError(f"run dir {run_dir} does not exist")
    opts = dict(defaults)
    for a in args[1:]:
        if "=" not in a:
            raise UsageError(f"argument {a!r} is not of the form key=value")
        key, value = a.split("=", 1)
        if key not in opts:
            raise UsageError(f"unknown option {key!r}; valid: {', '.join(opts)}")
        opts[key] = parse_value(value)
    if isinstance(opts.get("lesion"), str):
        opts["lesion"] = [opts["lesion"]]
    if "episodes" in opts and (not isinstance(opts["episodes"], int) or opts["episodes"] < 1):
        raise UsageError(f"episodes must be a whole number >= 1, got {opts['episodes']}")
    if "checkpoint" in opts and opts["checkpoint"] not in ("best", "last"):
        raise UsageError(f"unknown checkpoint {opts['checkpoint']!r}; valid: best, last")
    return run_dir, opts
