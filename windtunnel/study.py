"""`windtunnel study`: circuits x tasks x seeds trained, evaluated, lesioned like Kawai's rats, scored against
rodent data, and shipped as a zoo -- one command, one folder, resumable.

    windtunnel study study=lab_ladder                       # every stage, in order
    windtunnel study study=lab_ladder stages=[compare]      # only some stages
    windtunnel study study=lab_ladder study.seeds=[0,1,2,3] # extended: finished runs are kept, new ones trained
    windtunnel study study=lab_ladder study.jobs=2          # two runs at a time on this machine
    windtunnel study study=lab_ladder study.launcher=submitit_slurm   # training jobs on a cluster

Budgets: `budget_steps` (environment steps per run, once or per circuit) is what a run trains and what its
learning rate anneals over, so a rerun on the same CPU and build trains the same updates (another CPU's
float kernels differ, and a run there is another draw of the recipe); `budget_s` (seconds, 0 = none) is
a wall-clock limit for a time-boxed study such as `make demo`'s, whose runs depend on the machine's speed.

A study is a config in the hydra group `study/` (`windtunnel/conf/study/<name>.yaml`). Stages, each of
whose items is skipped when already done (so a killed or extended study resumes where it stopped):

    train      every (task, circuit, seed) run, through `windtunnel train -m` sweeps (one per task and
               circuit) and hydra's launcher: basic (`study.jobs` runs at a time on this machine, one
               after another by default), submitit_local (every seed of a sweep as its own local process)
               or submitit_slurm (the same command on a cluster); killed jobs resume
    evaluate   each run's best checkpoint on the canonical task, the policy's noise on (independent
               episodes): <run>/eval/intact.json
    lesion     the lesion task's runs: Kawai et al. 2015's motor-cortex lesion (each circuit's declared
               `motor_cortex` populations) after learning, and before learning (a sibling run trained
               lesioned from the start, same budget): <run>/lesions/*.json
    zoo        each best checkpoint as a zoo entry (safetensors + manifest, `training.zoo`), with its
               canonical evaluation and lesion results: <study>/zoo/<study>/<circuit>/<task>/seed<k>
    compare    every run recorded and scored against the rodent benchmarks and each other:
               <study>/scores.json and <study>/report.html

Everything lands in `<study.out_dir>` (default `studies/<name>`): `runs/<task>/<circuit>/seed<k>`,
`zoo/`, `compare/`, `scores.json`, `report.html`, and `study.json` (the config and which stages finished
with which config hash).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from training.config import UsageError

STAGES = ("train", "evaluate", "lesion", "zoo", "compare")
LAUNCHERS = ("basic", "submitit_local", "submitit_slurm")
STUDY_KEYS = ("name", "description", "circuits", "tasks", "seeds", "budget_steps", "budget_s", "task_training",
              "circuit_training", "training", "evaluation_episodes", "lesion", "compare", "launcher", "jobs", "out_dir",
              "zoo_dir")


# ------------------------------------------------------------------------------------------- config
def check(study: dict) -> dict:
    """The study config checked (one-line UsageError naming the entry), defaults filled in."""
    import circuits
    import tasks

    unknown = [k for k in study if k not in STUDY_KEYS]
    if unknown:
        raise UsageError(f"study: unknown key {unknown[0]!r}; valid: {', '.join(STUDY_KEYS)}")
    for key in ("name", "circuits", "tasks", "seeds"):
        if not study.get(key):
            raise UsageError(f"study: {key} is required")
    for c in study["circuits"]:
        if str(c).endswith((".yaml", ".yml")):
            raise UsageError(f"study.circuits: {c}: a study names circuits by their spec name (put your spec in "
                             "circuits/conf/circuit/ or train it with windtunnel train)")
        if c not in circuits.names():
            raise UsageError(f"study.circuits: unknown circuit {c!r}; valid: {', '.join(circuits.names())}")
    for t in study["tasks"]:
        if t not in tasks.names():
            raise UsageError(f"study.tasks: unknown task {t!r}; valid: {', '.join(tasks.names())}")
    if any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in study["seeds"]):
        raise UsageError(f"study.seeds must be whole numbers >= 0, got {study['seeds']}")
    launcher = study.get("launcher", "basic")
    if launcher not in LAUNCHERS:
        raise UsageError(f"study.launcher: unknown launcher {launcher!r}; valid: {', '.join(LAUNCHERS)}")
    jobs = study.get("jobs", 1)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise UsageError(f"study.jobs={jobs!r} is invalid; valid: a whole number >= 1 (runs trained at once on this "
                         "machine with the basic launcher; each gets about cores/jobs of the CPU)")
    budgets, steps = _per_circuit(study, "budget_s", 0, "seconds >= 0 (0: no wall-clock limit)", minimum=0), \
        _per_circuit(study, "budget_steps", 20_000_000, "environment steps >= 1", minimum=1, whole=True)
    lesion = {"task": None, "after_learning": True, "before_learning": False, "episodes": 20, **(study.get("lesion") or {})}
    if lesion["task"] is not None and lesion["task"] not in tasks.names():
        raise UsageError(f"study.lesion.task: unknown task {lesion['task']!r}; valid: {', '.join(tasks.names())}")
    return {**study, "launcher": launcher, "jobs": jobs, "lesion": lesion, "budget_s": budgets, "budget_steps": steps,
            "task_training": study.get("task_training") or {}, "circuit_training": study.get("circuit_training") or {},
            "training": list(study.get("training") or []),
            "evaluation_episodes": study.get("evaluation_episodes") or {},
            "compare": {"episodes": 10, "with_zoo": [], **(study.get("compare") or {})},
            "out_dir": str(study.get("out_dir") or f"studies/{study['name']}")}


def _per_circuit(study: dict, key: str, default, valid: str, minimum: float, whole: bool = False) -> dict:
    """A budget given once (`key: 600`) or per circuit (`key: {default: 600, m1_bg: 1800}`), checked."""
    import circuits

    given = study.get(key, default)
    values = {"default": default, **given} if isinstance(given, dict) else {"default": given}
    for k, v in values.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < minimum or (whole and v != int(v)):
            raise UsageError(f"study.{key}.{k}={v!r} is invalid; valid: {valid}")
        if k != "default" and k not in circuits.names():
            raise UsageError(f"study.{key}: {k!r} is not a circuit; valid: default, {', '.join(circuits.names())}")
    return {k: int(v) if whole else v for k, v in values.items()}


def config_hash(study: dict, stage: str) -> str:
    """What a stage's outcome depends on (so changing, e.g., the compare episodes reruns only compare; a lesion
    or evaluation redone reruns the zoo and the comparison)."""
    keys = {"train": ("circuits", "tasks", "seeds", "budget_s", "budget_steps", "task_training", "circuit_training",
                      "training"),
            "evaluate": ("circuits", "tasks", "seeds", "evaluation_episodes"),
            "lesion": ("circuits", "tasks", "seeds", "lesion"),
            "zoo": ("circuits", "tasks", "seeds", "evaluation_episodes", "lesion"),
            "compare": ("circuits", "tasks", "seeds", "compare", "lesion")}[stage]
    parts = {k: study.get(k) for k in keys}
    if stage == "train":  # a run deleted or moved away since is trained again
        parts["unfinished"] = [f"{t}/{c}/seed{s}" for t, c, s in runs(study) if not trained(study, t, c, s)]
    if stage in ("evaluate", "lesion"):  # a run retrained (superseded, resumed, extended) is evaluated again
        parts["checkpoints"] = _inputs(study, checkpoints_only=True)
    if stage in ("zoo", "compare"):  # these ship what the earlier stages wrote: rerun when any of it changed
        parts["inputs"] = _inputs(study)
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _inputs(study: dict, checkpoints_only: bool = False) -> list:
    """What the zoo and the comparison are made of: each run's best checkpoint, canonical evaluation and lesion
    results (name, size, modification time), so a lesion or evaluation redone since makes them stale; with
    checkpoints_only, what the evaluation and the lesions are made of."""
    out = []
    for task, circuit, seed in runs(study):
        d = run_dir(study, task, circuit, seed)
        files = [d / "checkpoints" / "best.pt"]
        if not checkpoints_only:
            files += [d / "eval" / "intact.json", *sorted((d / "lesions").glob("*_learning-*.json"))]
        for f in files:
            if f.exists():
                st = f.stat()
                out.append([str(f.relative_to(study["out_dir"])), st.st_size, st.st_mtime_ns])
    return out


def run_dir(study: dict, task: str, circuit: str, seed: int) -> Path:
    return Path(study["out_dir"]) / "runs" / task / circuit / f"seed{seed}"


def runs(study: dict):
    for task in study["tasks"]:
        for circuit in study["circuits"]:
            for seed in study["seeds"]:
                yield task, circuit, seed


def _say(text: str) -> None:
    print(text, flush=True)


def _in_parallel(commands: list[tuple[str, list[str], str]], jobs: int) -> list[str]:
    """Run `windtunnel <args>` for each (label, args, announcement), `jobs` processes at once on this machine;
    returns '<label>, exit <code>)' for each that failed."""
    running: list = []
    failed = []

    def reap(block: bool) -> None:
        for item in list(running):
            proc, label = item
            if block or proc.poll() is not None:
                if proc.wait():
                    failed.append(f"{label}, exit {proc.returncode})")
                running.remove(item)
                return

    for label, args, announcement in commands:
        while len(running) >= jobs:
            reap(block=False)
            if len(running) >= jobs:
                time.sleep(1)
        _say(announcement)
        running.append((subprocess.Popen([sys.executable, "-m", "windtunnel", *args]), label))
    while running:
        reap(block=True)
    return failed


# ------------------------------------------------------------------------------------------- stages
def budget_s(study: dict, circuit: str) -> float:
    """The circuit's wall-clock limit per run (0: none). A run it stops depends on the machine's speed."""
    return study["budget_s"].get(circuit, study["budget_s"]["default"])


def budget_steps(study: dict, circuit: str) -> int:
    """The circuit's budget per run in environment steps: the learning rate anneals over it, so a rerun on
    any speed of machine trains the same updates (bit for bit on the same CPU and build; an Intel and an AMD
    machine's float kernels differ, so there a run is another draw) unless budget_s stops it first."""
    return study["budget_steps"].get(circuit, study["budget_steps"]["default"])


def train_overrides(study: dict, task: str, circuit: str) -> list[str]:
    """What every run of `circuit` on `task` is trained with (besides its seed and folder)."""
    return [f"circuit={circuit}", f"task={task}", f"training.total_steps={budget_steps(study, circuit)}",
            f"training.max_wall_s={budget_s(study, circuit)}", *study["training"], *study["task_training"].get(task, []),
            *study["circuit_training"].get(circuit, [])]


def trained(study: dict, task: str, circuit: str, seed: int) -> bool:
    """The run has finished as the study trains it (`windtunnel.train.finished`: its budget, or its stop at
    criterion, validated when the study asks for validation)."""
    from windtunnel.train import finished, parse_value

    training = {o.split("=", 1)[0][len("training."):]: parse_value(o.split("=", 1)[1])
                for o in train_overrides(study, task, circuit) if o.startswith("training.")}
    return finished(run_dir(study, task, circuit, seed), training)


def supersede_stale(study: dict) -> list[str]:
    """Runs trained with a config the study no longer gives them (e.g. a circuit_training entry or a budget changed) are
    moved, whole, to <study>/superseded/<task>/<circuit>/seed<k>-<time> so that they are retrained; nothing is
    deleted. Returns one line per run moved, naming the first difference."""
    from omegaconf import OmegaConf

    from windtunnel.train import contradictions_with

    moved = []
    for task, circuit, seed in runs(study):
        d = run_dir(study, task, circuit, seed)
        if not (d / "config.yaml").exists():
            continue
        stored_file = d / ".hydra" / "overrides.yaml"
        stored = OmegaConf.to_container(OmegaConf.load(stored_file)) if stored_file.exists() else None
        # the budget counts too: the learning rate anneals over it, so a run with another budget is another run
        wrong, _ = contradictions_with(OmegaConf.load(d / "config.yaml"),
                                       [*train_overrides(study, task, circuit), f"seed={seed}"], stored,
                                       resumable=("training.num_workers", "training.torch_threads", "training.device",
                                                  # stop rules a finished run may gain: it is resumed to be validated
                                                  "training.validation_episodes", "training.validate_every"))
        if not wrong:
            continue
        dest = Path(study["out_dir"]) / "superseded" / task / circuit / f"seed{seed}-{time.strftime('%Y%m%dT%H%M%S')}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(d, dest)
        line = (f"study {study['name']}: {circuit} on {task} seed {seed} was trained with another config ({wrong[0]}"
                f"{f' and {len(wrong) - 1} more' if len(wrong) > 1 else ''}); moved to {dest} and retrained")
        _say(line)
        moved.append(line)
    return moved


def stage_train(study: dict) -> None:
    """Every unfinished (task, circuit, seed) run through `windtunnel train -m` sweeps and hydra's launcher: one
    sweep per task and circuit over its seeds (submitit launchers: the seeds as parallel jobs), or with the
    basic launcher `study.jobs` single-seed sweeps at a time on this machine. Runs whose saved config the study
    no longer gives are superseded first (`supersede_stale`)."""
    supersede_stale(study)
    sweeps = []
    for task in study["tasks"]:
        for circuit in study["circuits"]:
            todo = [s for s in study["seeds"] if not trained(study, task, circuit, s)]
            if todo:
                sweeps += [(task, circuit, [s]) for s in todo] if study["jobs"] > 1 else [(task, circuit, todo)]
    commands = []
    for task, circuit, seeds in sweeps:
        args = ["train", "-m", f"seed={','.join(map(str, seeds))}", "resume=true",
                f"hydra.sweep.dir={Path(study['out_dir']) / 'runs' / task / circuit}", "hydra.sweep.subdir=seed${seed}",
                *train_overrides(study, task, circuit)]
        if study["launcher"] != "basic":
            args.append(f"hydra/launcher={study['launcher']}")
        commands.append((f"{circuit} on {task} (seeds {seeds}", args,
                         f"study {study['name']}: training {circuit} on {task}, seeds {seeds} "
                         f"({budget_steps(study, circuit):,} steps each"
                         f"{f', at most {budget_s(study, circuit):g} s' if budget_s(study, circuit) else ''})"))
    failed = _in_parallel(commands, study["jobs"])
    if failed:
        raise UsageError(f"study {study['name']}: training failed: {'; '.join(failed)}; fix it and run the study "
                         "again: finished runs are kept")
    missing = [f"{c} on {t} seed {s}" for t, c, s in runs(study) if not trained(study, t, c, s)]
    if missing:
        raise UsageError(f"study {study['name']}: {', '.join(missing)} did not finish (a job skipped or still "
                         "queued); run the study again to resume them")


def stage_evaluate(study: dict) -> None:
    import tasks
    from training.rollout import evaluate
    from training.run import Run

    for task, circuit, seed in runs(study):
        d = run_dir(study, task, circuit, seed)
        out = d / "eval" / "intact.json"
        best = d / "checkpoints" / "best.pt"
        if out.exists() and best.exists() and out.stat().st_mtime >= best.stat().st_mtime:
            continue
        episodes = int(study["evaluation_episodes"].get(task, 10))
        r = evaluate(Run(d), episodes=episodes, deterministic=False, seed=10_000 + 100 * seed, progress=True)
        crit = tasks.task_class(task).criterion
        _say(f"study {study['name']}: {circuit} on {task} seed {seed}: {crit} {r['metrics'].get(crit)} "
             f"({episodes} canonical episodes)")


def stage_lesion(study: dict) -> None:
    import circuits
    from comparisons.lesion import lesion_after_learning
    from training.run import Run

    lesion = study["lesion"]
    if lesion["task"] is None:
        return
    if lesion["task"] not in study["tasks"]:  # e.g. a study restricted to other tasks: nothing to lesion
        _say(f"study {study['name']}: the lesion task {lesion['task']} is not among this study's tasks; no lesions")
        return
    before = []
    for circuit in study["circuits"]:
        spec = circuits.make(circuit, 4, 1).spec
        populations = spec.motor_cortex_populations
        if not populations:
            _say(f"study {study['name']}: {circuit} declares no motor_cortex; no lesion")
            continue
        # no path from the observation to the actor survives: the lesioned circuit cannot act, nothing to train
        sibling = "training its lesioned sibling" if spec.readout_reachable(populations) else "no path survives; no sibling to train"
        tag = "-".join(populations)
        for seed in study["seeds"]:
            d = run_dir(study, lesion["task"], circuit, seed)
            if lesion["after_learning"] and not (d / "lesions" / f"after_learning-{tag}.json").exists():
                r = lesion_after_learning(Run(d), populations, episodes=lesion["episodes"], progress=True)
                _say(f"study {study['name']}: {circuit} seed {seed} lesioned after learning ({tag}): {r['outcome']}")
            if lesion["before_learning"] and not (d / "lesions" / f"before_learning-{tag}.json").exists():
                label = f"{circuit} seed {seed} lesioned before learning ({tag}"
                before.append((label, ["lesion", str(d), f"populations=[{','.join(populations)}]",
                                       "before_learning=true", f"episodes={lesion['episodes']}"],
                               f"study {study['name']}: {label}): {sibling}"))
    # each sibling trains for its intact run's steps: `study.jobs` of them at once
    failed = _in_parallel(before, study["jobs"])
    if failed:
        raise UsageError(f"study {study['name']}: lesion before learning failed: {'; '.join(failed)}; run the study "
                         "again: finished lesions are kept")


def stage_zoo(study: dict) -> None:
    import numpy as np

    import tasks
    from training.files import atomic_write_json
    from training.run import Run
    from training.zoo import export

    for task, circuit, seed in runs(study):
        d = run_dir(study, task, circuit, seed)
        entry = zoo_entry(study, circuit, task, seed)
        ev = json.loads((d / "eval" / "intact.json").read_text())
        cls = tasks.task_class(task)
        crit = cls.criterion
        evaluation = {"metric": crit, "value": ev["metrics"].get(crit), "episodes": ev["episodes"],
                      "seed": 10_000 + 100 * seed, "deterministic": ev["deterministic"],
                      "metrics": {k: v for k, v in ev["metrics"].items() if isinstance(v, (int, float))}}
        records = ev.get("records", [])
        if len(records) >= 2:  # a 95 % bootstrap interval over trials, for the reproduction check
            rng = np.random.default_rng(0)
            boots = [cls.metrics([records[i] for i in rng.integers(0, len(records), len(records))]).get(crit)
                     for _ in range(500)]
            boots = [b for b in boots if isinstance(b, (int, float)) and np.isfinite(b)]
            if boots:
                evaluation["ci95"] = [float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))]
        if "ci95" not in evaluation:  # e.g. a run that never pressed: no trials to resample
            evaluation["ci95"] = None
            evaluation["ci95_note"] = f"{len(records)} trials in the canonical evaluation: no interval"
        export(Run(d), entry, evaluation=evaluation, study=study["name"], seed=seed)
        if (d / "lesions").is_dir():
            (entry / "lesions").mkdir(exist_ok=True)
            for f in (d / "lesions").glob("*_learning-*.json"):  # the run paths they name: relative to the study
                record = _study_relative(json.loads(f.read_text()), Path(study["out_dir"]))
                atomic_write_json(entry / "lesions" / f.name, record)


def _study_relative(obj, root: Path):
    """`obj` (a JSON record) with every path inside the study folder `root` written relative to it: a shipped
    entry names the runs it came from without this machine's folders."""
    if isinstance(obj, dict):
        return {k: _study_relative(v, root) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_study_relative(v, root) for v in obj]
    if isinstance(obj, str) and ("/" in obj or "\\" in obj):
        try:
            return Path(obj).resolve().relative_to(root.resolve()).as_posix()
        except (ValueError, OSError):
            return obj
    return obj


def zoo_entry(study: dict, circuit: str, task: str, seed: int) -> Path:
    base = Path(study.get("zoo_dir") or Path(study["out_dir"]) / "zoo")
    return base / study["name"] / circuit / task / f"seed{seed}"


def stage_compare(study: dict) -> None:
    from comparisons.report import compare
    from training.files import atomic_write_bytes

    from training.zoo import entries

    dirs = [str(run_dir(study, t, c, s)) for t, c, s in runs(study)]
    # beside a shipped study, this study's circuits are their own models: "lstm/lever_timing [demo]"
    tags = {d: study["name"] for d in dirs} if study["compare"].get("with_zoo") else {}
    for shipped in study["compare"].get("with_zoo") or []:  # beside every entry of a shipped study
        try:
            refs = entries(shipped)
        except UsageError as exc:
            _say(f"study {study['name']}: {exc}; compared without it")
            continue
        _say(f"study {study['name']}: scoring beside {len(refs)} shipped circuits of {shipped}")
        dirs += refs
    result = compare(runs=dirs, out_dir=Path(study["out_dir"]) / "compare", episodes=study["compare"]["episodes"],
                     progress=True, tags=tags)
    out = Path(study["out_dir"])
    for name, src in (("report.html", result["report"]), ("scores.json", result["scores_json"]),
                      ("results.md", result["results_md"])):
        atomic_write_bytes(out / name, Path(src).read_bytes())


STAGE_FUNCTIONS = {"train": stage_train, "evaluate": stage_evaluate, "lesion": stage_lesion, "zoo": stage_zoo,
                   "compare": stage_compare}


# ---------------------------------------------------------------------------------------------- run
def run_study(study: dict, stages=STAGES) -> dict:
    """Run the chosen stages in order; a stage already finished with the same config is skipped."""
    from training.files import atomic_write_json

    study = check(study)
    for s in stages:
        if s not in STAGES:
            raise UsageError(f"unknown stage {s!r}; valid: {', '.join(STAGES)}")
    out = Path(study["out_dir"])
    out.mkdir(parents=True, exist_ok=True)
    record_path = out / "study.json"
    record = json.loads(record_path.read_text()) if record_path.exists() else {"stages": {}}
    before = json.dumps(record, sort_keys=True, default=str)
    record["config"] = json.loads(json.dumps(study, default=str))
    for stage in STAGES:
        if stage not in stages:
            continue
        h = config_hash(study, stage)
        done = record["stages"].get(stage, {})
        if done.get("config_hash") == h:
            _say(f"study {study['name']}: {stage} already finished with this config; skipped")
            continue
        _say(f"study {study['name']}: stage {stage}")
        start = time.time()
        STAGE_FUNCTIONS[stage](study)
        # what the stage left (a train stage's runs now finished) is what the next study compares against
        record["stages"][stage] = {"config_hash": config_hash(study, stage), "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
                                   "seconds": round(time.time() - start, 1)}
        atomic_write_json(record_path, record)  # a killed study resumes after its last finished stage
    if json.dumps(record, sort_keys=True, default=str) != before:
        atomic_write_json(record_path, record)
    return record


def study_main(args: list[str]) -> int:
    """`windtunnel study study=<name> [study.<key>=...] [stages=[...]]`."""
    from omegaconf import OmegaConf

    from windtunnel.config import compose, parse_value
    from windtunnel.schema import check_writable

    stages = list(STAGES)
    rest = []
    for a in args:
        if a.startswith("stages="):
            value = parse_value(a.split("=", 1)[1])
            stages = [str(v) for v in (value if isinstance(value, list) else [value])]
        else:
            rest.append(a)
    if not any(a.startswith("study=") for a in rest):
        from windtunnel.config import config_groups

        raise UsageError(f"study=<name> is required; valid: {', '.join(config_groups().get('study', []))}")
    cfg = compose(rest)
    study = check(OmegaConf.to_container(cfg.study, resolve=True))
    for s in stages:
        if s not in STAGES:
            raise UsageError(f"unknown stage {s!r}; valid: {', '.join(STAGES)}")
    check_writable(Path(study["out_dir"]))
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    record = run_study(study, stages)
    out = Path(study["out_dir"])
    _say(f"study {study['name']}: stages finished: {', '.join(record['stages'])}; wrote {out}/ (runs/, zoo/, "
         f"study.json{', scores.json, report.html' if (out / 'report.html').exists() else ''})")
    return 0
