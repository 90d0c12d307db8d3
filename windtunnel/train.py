"""`windtunnel train`: the hydra app (single runs and `-m` sweeps, locally or on SLURM).

    windtunnel train circuit=dale_rnn task=lever_timing seed=3 training.total_steps=200000
    windtunnel train -m circuit=lstm,dale_rnn seed=0,1,2               # sweep, one job at a time
    windtunnel train -m hydra/launcher=submitit_slurm circuit=lstm,m1_bg seed=0,1,2   # on a cluster
    windtunnel train circuit=lstm task=reach --cfg job                 # the composed config; nothing runs
    windtunnel train resume=runs/reach/lstm/seed0                      # continue a run from its own config
    windtunnel train resume=runs/sweeps/2026-12-03_10-00-00            # a sweep: its unfinished jobs

A single run is checked completely before anything is written: the overrides, the typed schema
(`windtunnel.schema`), the task and circuit built once, the output location, and the run directory (a
finished run or another writer is refused in one line). In a sweep each job is checked on its own: a
job with invalid values is reported and the others run. Resuming reads the run's saved config;
overrides that contradict it are refused. Imports nothing of `comparisons`.
"""

from __future__ import annotations

import math
import shutil
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf, open_dict

from training.files import atomic_write_text
from training.rollout import NumericalFault
from windtunnel.config import (CONF_DIR, UsageError, check_overrides, config_groups, group_file, parse_value,
                               circuit_overrides)

# hydra flags that take a value as the next argument
FLAGS_WITH_VALUE = ("--cfg", "-c", "--package", "-p", "--config-name", "-cn", "--config-dir", "-cd",
                    "--experimental-rerun")
FLAGS = ("-m", "--multirun", "--info", "-i", "--resolve", "--shell-completion", "-sc", "--hydra-help")
# what a resumed run may change: its budget and the machine it runs on
RESUMABLE_KEYS = ("training.total_steps", "training.max_wall_s", "training.stop_at_criterion",
                  "training.after_criterion", "training.validation_episodes", "training.validate_every",
                  "training.num_workers", "training.torch_threads", "training.device")


def _fail(message: str) -> None:
    print(f"windtunnel: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def run_training(cfg, run_dir: Path, resume: bool) -> dict:
    """Train one run in `run_dir` (the config already checked); write its config.yaml; say where."""
    from training.ppo import Trainer

    trainer = Trainer(cfg, run_dir, resume=resume, progress=True)
    atomic_write_text(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    try:
        summary = trainer.train()
    except NumericalFault as exc:
        print(f"windtunnel: error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    crit = summary["final"].get(f"task_{summary['criterion']}")
    print(f"run dir: {run_dir}  {summary['criterion']}: {crit}  steps: {summary['env_steps']}  "
          f"wall: {summary['wall_s']} s")
    wrote = [p for p in ("config.yaml", "metrics.csv", "tensorboard/", "checkpoints/best.pt", "checkpoints/last.pt",
                         "summary.json", "train.log") if (run_dir / p).exists()]
    print(f"wrote {run_dir}/ ({', '.join(wrote)})")
    return summary


def finished(run_dir: Path, training) -> bool:
    """The run has trained its steps, or its wall-clock budget (`training.max_wall_s`, e.g. the demo's time box;
    a larger one resumes it), or stopped at its criterion and is still asked to (with the held-out validation of
    that stop when `training.validation_episodes` asks for one: a run that stopped before validation existed is
    resumed to be validated)."""
    import json

    path = run_dir / "summary.json"
    if not path.exists():
        return False
    summary = json.loads(path.read_text())
    stopped = bool(summary.get("stopped_at_criterion")) and bool(training.get("stop_at_criterion", False))
    if stopped and int(training.get("validation_episodes", 0) or 0) > 0:
        stopped = bool((summary.get("validation") or {}).get("met"))
    max_wall_s = float(training.get("max_wall_s", 0) or 0)
    timed_out = max_wall_s > 0 and float(summary.get("wall_s", 0)) >= max_wall_s
    return summary.get("env_steps", 0) >= training["total_steps"] or timed_out or stopped


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def train_app(cfg: DictConfig) -> float:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from windtunnel.schema import validate

    hc = HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    sweep = hc.mode == RunMode.MULTIRUN
    if sweep:  # each job on its own: a bad one is reported, the others run
        try:
            validate(cfg, group_defaults(hc.runtime.choices))
        except UsageError as exc:
            print(f"windtunnel: job {hc.job.num} ({' '.join(hc.overrides.task)}) skipped: {exc}", file=sys.stderr)
            if run_dir.is_dir() and {p.name for p in run_dir.iterdir()} <= {".hydra", f"{hc.job.name}.log"}:
                shutil.rmtree(run_dir)  # hydra's own notes for a job that never ran
            return float("nan")
        resume = bool(cfg.resume) and (run_dir / "checkpoints" / "last.pt").exists()
        if cfg.resume and finished(run_dir, cfg.training):
            print(f"{run_dir}: finished, skipped")
            return float("nan")
    else:
        resume = bool(cfg.resume)
    try:
        summary = run_training(cfg, run_dir, resume)
    except UsageError as exc:
        if not sweep:
            _fail(str(exc))
        print(f"windtunnel: job {hc.job.num} skipped: {exc}", file=sys.stderr)
        return float("nan")
    crit = summary["final"].get(f"task_{summary['criterion']}")
    return float(crit) if crit is not None and not math.isnan(crit) else float("nan")


def group_defaults(choices) -> dict:
    """The task and circuit groups' own YAML defaults for the chosen options (the schema's types), read
    from the config tree's files (inside a hydra job nothing can be composed)."""
    out = {}
    for group in ("task", "circuit"):
        node = OmegaConf.to_container(OmegaConf.load(group_file(group, choices[group])), resolve=False)
        node.pop("defaults", None)
        out[group] = node
    return out


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


def check_sweep_keys(overrides: list[str]) -> None:
    """Unknown keys and group options are refused up front (every value of a sweep `k=a,b,c` checked)."""
    sweep_safe = []
    for a in overrides:
        if "=" in a and "," in a.split("=", 1)[1] and not a.split("=", 1)[1].startswith(("[", "{")):
            key, values = a.split("=", 1)
            sweep_safe.extend(f"{key}={v}" for v in values.split(","))
        else:
            sweep_safe.append(a)
    groups = set(config_groups())
    singles: dict[str, str] = {}
    for a in sweep_safe:  # one representative value per key for the key check
        singles.setdefault(a.split("=", 1)[0], a)
    check_overrides([a for a in sweep_safe if a.split("=", 1)[0] in groups or a.startswith("hydra.searchpath=")] +
                    [a for k, a in singles.items() if k not in groups and not k.startswith("hydra")])


def run_dir_of(overrides: list[str]) -> tuple[DictConfig, Path]:
    """The composed config and the run directory it names (hydra.run.dir)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from windtunnel.config import compose

    cfg = compose(overrides)
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        hcfg = hydra_compose(config_name="config", overrides=overrides, return_hydra_config=True)
    return cfg, Path(hcfg.hydra.run.dir)


def check_single_run(overrides: list[str]) -> None:
    """Everything a single run needs, checked before hydra creates its directory."""
    from training.run import RunLock
    from windtunnel.schema import check_writable, validate

    cfg, run_dir = run_dir_of(overrides)
    validate(cfg, group_defaults({"task": cfg.task.name, "circuit": cfg.circuit.name}))
    check_writable(run_dir)
    if (run_dir / "checkpoints" / "last.pt").exists():
        raise UsageError(f"{run_dir} already holds a run; continue it with resume=true (or resume={run_dir}), or "
                         "choose another run_name")
    if (run_dir / "lock").exists():
        RunLock(run_dir).acquire().release()  # refused in one line if another writer holds it


# ------------------------------------------------------------------------------------------ resume
def resume_target(overrides: list[str]) -> Path | None:
    """The run or sweep directory `resume=` names (resume=true: the run the other overrides name)."""
    given = [o.split("=", 1)[1] for o in overrides if o.startswith("resume=")]
    if not given:
        return None
    value = parse_value(given[-1])
    if value is False or value is None:
        return None
    if value is True:
        return run_dir_of([o for o in overrides if not o.startswith("resume=")])[1]
    return Path(str(value))


def _same(value, held) -> bool:
    """A command-line value equals a saved one, as hydra reads it (`1e-3` is the float 0.001 to hydra, a string
    to YAML 1.1)."""
    if value == held:
        return True
    try:
        return not isinstance(held, bool) and float(value) == float(held)
    except (TypeError, ValueError):
        return False


def contradictions_with(saved, overrides: list[str], stored: list[str] | None = None,
                        resumable: tuple[str, ...] = RESUMABLE_KEYS) -> tuple[list[str], list]:
    """How a run's saved config (`config.yaml`) disagrees with the overrides that would make it now: each
    `key=value` whose value the run does not hold, as 'key=value (the run has X)'; with `stored` (the run's own
    `.hydra/overrides.yaml`), also each key the run was given that the overrides no longer set, as
    'key (the run was given X; not set now)'. Returns (contradictions, changes): changes are the
    (key, value) of the `resumable` keys, which a resumed run may change and which never contradict."""
    skip = ("resume", "run_name", "seed")
    contradictions, changes = [], []
    given = set()
    for o in overrides:
        key, text = o.split("=", 1)
        key = key.lstrip("+")
        if key in skip[:2] or key.startswith("hydra"):
            continue
        given.add(key)
        value = parse_value(text)
        if key in ("task", "circuit", "body"):
            held = saved[key]["name" if key != "body" else "variant"]
        else:
            held = OmegaConf.select(saved, key, default="<missing>")
        if key in resumable:
            changes.append((key, value))
        elif not _same(value, held):
            contradictions.append(f"{key}={text} (the run has {held})")
    for o in stored or []:
        key, _, text = str(o).partition("=")
        key = key.lstrip("+")
        if key in skip or key.startswith("hydra") or key in resumable or key in given:
            continue
        contradictions.append(f"{key} (the run was given {text}; not set now)")
    return contradictions, changes


def resume(target: Path, overrides: list[str]) -> None:
    if not target.is_dir():
        raise UsageError(f"resume={target}: no such run or sweep directory")
    if (target / "multirun.yaml").exists():
        return resume_sweep(target, overrides)
    saved_path = target / "config.yaml"
    if not saved_path.exists() or not (target / "checkpoints" / "last.pt").exists():
        raise UsageError(f"resume={target}: not a run directory with a checkpoint to continue from (config.yaml and "
                         "checkpoints/last.pt); start it afresh instead")
    saved = OmegaConf.load(saved_path)
    contradictions, changes = contradictions_with(saved, overrides)
    if contradictions:
        raise UsageError(f"resume={target}: {', '.join(contradictions)} contradict the run's saved config; a resumed "
                         f"run continues with its own (only {', '.join(RESUMABLE_KEYS)} may change)")
    with open_dict(saved):
        saved.resume = True
        for key, value in changes:
            OmegaConf.update(saved, key, value)
    from windtunnel.schema import validate

    validate(saved, build=False)
    if finished(target, saved.training):
        print(f"{target}: finished ({saved.training.total_steps} steps, or trained to criterion); nothing to resume "
              "(raise training.total_steps, or set training.stop_at_criterion=false, to extend it)")
        return
    import logging  # hydra writes train.log for a run it launches; a resumed single run appends to it here

    handler = logging.FileHandler(target / "train.log", mode="a")
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))
    logger = logging.getLogger("windtunnel")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        run_training(saved, target, resume=True)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        handler.close()


def resume_sweep(sweep_dir: Path, overrides: list[str]) -> None:
    """Re-launch a sweep's own overrides into its directory: finished jobs are skipped, killed ones resume,
    jobs that never started start (with the sweep's launcher, e.g. SLURM)."""
    saved = OmegaConf.load(sweep_dir / "multirun.yaml")
    extra = [o for o in overrides if not o.startswith("resume=")]
    if extra:
        raise UsageError(f"resume={sweep_dir}: a sweep resumes with its own overrides; got {' '.join(extra)}")
    task_overrides = [o for o in saved.hydra.overrides.task if not o.startswith("resume=")]
    launcher = [o for o in saved.hydra.overrides.hydra if o.startswith("hydra/launcher=") or
                o.startswith("hydra.launcher.")]
    sys.argv = ["windtunnel train", "-m", *task_overrides, *launcher, f"hydra.sweep.dir={sweep_dir}", "resume=true"]
    train_app()


def train_main(args: list[str]) -> int:
    try:
        args = circuit_overrides(args)  # circuit=path/to/spec.yaml: the user's own circuit
        flags, overrides = split_flags(args)
        target = None if flags else resume_target(overrides)
        if target is not None:
            resume(target, overrides)
            return 0
        check_sweep_keys(overrides)
        if not flags:  # a single run: everything checked before hydra writes a thing
            check_single_run(overrides)
    except UsageError as exc:
        print(f"windtunnel: error: {exc}", file=sys.stderr)
        return 2
    sys.argv = ["windtunnel train", *args]
    train_app()
    return 0
