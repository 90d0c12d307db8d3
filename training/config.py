"""What training needs of a config: one-line config errors (`UsageError`) and the task and circuit it
names. Composing the hydra tree and checking overrides is the application's (`windtunnel.config`).
"""

from __future__ import annotations


class UsageError(ValueError):
    """A command-line or config mistake: reported as one line, exit status 2."""


def _plain(node) -> dict:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else dict(node)


def task_spec(cfg) -> tuple[str, dict]:
    """(task name, `tasks.make` keyword arguments) from the `task` and `body` groups of a config
    (composed, or a run's stored dict)."""
    body = _plain(cfg["body"])
    body.pop("_target_", None)
    variant = body.pop("variant")
    physics_dt = body.pop("physics_dt")
    task = _plain(cfg["task"])
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
        raise UsageError(f"task {name}: {exc}") from exc


def make_circuit(cfg, obs_dim: int, act_dim: int):
    """The configured circuit for these observation and action sizes (bad options -> UsageError).

    `cfg["circuit"]` is a circuit spec (`circuits.spec`); its initial weights come from `circuit.seed`
    (the hydra group sets it to the run's seed), else the config's `seed`."""
    import circuits

    spec = _plain(cfg["circuit"])
    seed = spec.pop("seed", None)
    if seed is None:
        seed = cfg.get("seed", 0) if hasattr(cfg, "get") else 0
    try:
        return circuits.make(spec, obs_dim, act_dim, seed=int(seed))
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
