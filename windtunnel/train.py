"""`windtunnel train`: the hydra app (single runs and `-m` sweeps, locally or on SLURM).

    windtunnel train circuit=dale_rnn task=lever_timing seed=3 training.total_steps=200000
    windtunnel train -m circuit=lstm,dale_rnn seed=0,1,2               # sweep, one job at a time
    windtunnel train -m hydra/launcher=submitit_slurm circuit=lstm,m1_bg seed=0,1,2   # on a cluster
    windtunnel train circuit=lstm task=reach --cfg job                 # the composed config; nothing runs

Overrides are checked (every value of a sweep too) before hydra creates anything; hydra's own flags
pass through. Imports nothing of `comparisons`.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from training.files import atomic_write_text
from training.rollout import NumericalFault
from windtunnel.config import CONF_DIR, UsageError, check_overrides, config_groups

# hydra flags that take a value as the next argument
FLAGS_WITH_VALUE = ("--cfg", "-c", "--package", "-p", "--config-name", "-cn", "--config-dir", "-cd",
                    "--experimental-rerun")
FLAGS = ("-m", "--multirun", "--info", "-i", "--resolve", "--shell-completion", "-sc", "--hydra-help")


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
    try:
        summary = trainer.train()
    except NumericalFault as exc:
        print(f"windtunnel: error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    crit = summary["final"].get(f"task_{summary['criterion']}")
    print(f"run dir: {run_dir}  {summary['criterion']}: {crit}  steps: {summary['env_steps']}  "
          f"wall: {summary['wall_s']} s")
    print(f"wrote {run_dir}/ (config.yaml, metrics.csv, tensorboard/, checkpoints/best.pt and last.pt, summary.json)")
    return float(crit) if crit is not None and not math.isnan(crit) else float("nan")


def split_flags(args: list[str]) -> tuple[list[str], list[str]]:
    """(hydra flags with their values, key=value overrides)."""
    flags, overrides, i = [], [], 0
    while i < len(args):
        a = args[i]
        if a in FLAGS_WITH_VALUE:
            flags += args[i:i + 2]
            i += 2
            continue
        if a in ("--info", "-i") and i + 1 < len(args) and "=" not in args[i + 1] and not args[i + 1].startswith("-"):
            flags += args[i:i + 2]  # --info takes an optional topic
            i += 2
            continue
        if a.startswith("-"):
            if a.split("=", 1)[0] not in FLAGS + FLAGS_WITH_VALUE:
                raise UsageError(f"unknown flag {a!r}; valid hydra flags: --cfg job|hydra|all, --info, -m, --resolve, "
                                 "--package")
            flags.append(a)
        else:
            overrides.append(a)
        i += 1
    return flags, overrides


def train_main(args: list[str]) -> int:
    try:
        _, overrides = split_flags(args)
        sweep_safe = []
        for a in overrides:  # validate each value of a sweep (k=a,b,c) like a single override
            if "=" in a and "," in a.split("=", 1)[1] and not a.split("=", 1)[1].startswith(("[", "{")):
                key, values = a.split("=", 1)
                sweep_safe.extend(f"{key}={v}" for v in values.split(","))
            else:
                sweep_safe.append(a)
        groups = set(config_groups())
        singles: dict[str, str] = {}
        for a in sweep_safe:  # one representative value per key for the key check
            singles.setdefault(a.split("=", 1)[0], a)
        check_overrides([a for a in sweep_safe if a.split("=", 1)[0] in groups] +
                        [a for k, a in singles.items() if k not in groups and not k.startswith("hydra")])
    except UsageError as exc:
        _fail(str(exc))
    sys.argv = ["windtunnel train", *args]
    train_app()
    return 0
