"""Learning to criterion over seeds: per circuit x task, wall time and env steps to criterion on every
seed, the rolling learning curves with their spread, and the canonical evaluation of each best checkpoint.

    python -m benchmarks.learning --runs lstm:reach:300 dale_rnn:lever_timing:1800 --seeds 0 1 2
    python -m benchmarks.learning --runs m1_bg:lever_timing:1800 --seeds 0 1 2 --overrides circuit.dynamics.substeps=5
    python -m benchmarks.learning --study studies/lab_ladder --out results/learning_lab_ladder
    python -m benchmarks.learning --zoo zoo/lab_ladder --out results/learning_zoo   # the shipped study, no runs

Runs train with the shipped study's recipe (windtunnel/conf/study/lab_ladder.yaml: its `training`,
`task_training` and `circuit_training` overrides, e.g. trained to criterion plus 50 %), then `--overrides`.
With `--study` nothing is trained: the study folder's finished runs are scored. Each (circuit, task, seed) trains in `<out>/<task>/<circuit>/seed<k>` with a wall-clock budget; a run
that already finished is not trained again (a killed benchmark resumes where it stopped). Criteria,
on the rolling training metrics and re-checked by the canonical evaluation (no training aids, the
policy's own noise on: independent episodes) of the best checkpoint:
  reach:        success rate >= 0.8 (rolling 200 trials; canonical: 50 episodes)
  lever_timing: rewarded fraction >= 0.7 and median IPI within 10 % of 0.7 s (canonical: 10 x 20 s)
  open_field:   >= 10 food items per minute, through the spinal layer (canonical: 8 x 30 s)
Writes `<out>/learning.md` (the table: seeds at criterion, median and range of minutes and env steps
to criterion, canonical metric median and range) and `<out>/curves_<task>.png` (median curve per
circuit with the seeds' range as a band), under the ignored `results/` by default.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.common import header, table  # noqa: E402

EVAL_EPISODES = {"reach": 50, "lever_timing": 10}
THRESHOLDS = {"reach": 0.8, "lever_timing": 0.7, "open_field": 10.0}


def run_one(circuit: str, task: str, seed: int, budget_s: float, out: Path, overrides: list[str]) -> dict:
    """Train (unless finished) and score one seed: its criterion hit, curve and canonical metrics."""
    from benchmarks.training import TASK_TRAINING, study_recipe
    from training.ppo import Trainer
    from windtunnel.config import compose

    run_dir = out / task / circuit / f"seed{seed}"
    recipe = study_recipe()
    if not (run_dir / "summary.json").exists():
        cfg = compose([f"circuit={circuit}", f"task={task}", f"training.max_wall_s={budget_s}",
                       "training.total_steps=100000000", f"seed={seed}", *recipe["training"],
                       *TASK_TRAINING.get(task, []), *recipe["circuit"].get(circuit, []), *overrides])
        resume = (run_dir / "checkpoints" / "last.pt").exists()
        Trainer(cfg, run_dir, resume=resume, progress=False).train()
    return score_run(run_dir, circuit, task, seed, f"{budget_s / 60:g} min")


def score_run(run_dir: Path, circuit: str, task: str, seed: int, budget: str) -> dict:
    """One finished run: when its rolling metrics first met the task's criterion, its curve, and the canonical
    evaluation of its best checkpoint (`<run>/eval/intact.json`, as `windtunnel study` evaluates: policy noise
    on, independent episodes, evaluation seed 10,000 + 100 x seed; evaluated here if missing or stale)."""
    import tasks
    from training.rollout import evaluate
    from training.run import Run

    cls = tasks.task_class(task)
    with open(run_dir / "metrics.csv") as f:
        metrics = list(csv.DictReader(f))
    hit = next((r for r in metrics if cls.criterion_met({k[5:]: v for k, v in r.items() if k.startswith("task_")})),
               None)
    intact, best = run_dir / "eval" / "intact.json", run_dir / "checkpoints" / "best.pt"
    if intact.exists() and intact.stat().st_mtime >= best.stat().st_mtime:
        m = json.loads(intact.read_text())["metrics"]
    else:
        m = evaluate(Run(run_dir), episodes=EVAL_EPISODES.get(task, 8), deterministic=False,
                     seed=10_000 + 100 * seed)["metrics"]
    summary = json.loads((run_dir / "summary.json").read_text()) if (run_dir / "summary.json").exists() else {}
    return {"circuit": circuit, "task": task, "seed": seed, "budget": budget, **_validation(summary.get("validation")),
            "criterion_wall_s": float(hit["wall_s"]) if hit else None,
            "criterion_env_steps": int(hit["env_steps"]) if hit else None,
            "env_steps": int(metrics[-1]["env_steps"]) if metrics else 0,
            "canonical": {k: v for k, v in m.items() if isinstance(v, (int, float))},
            "canonical_met": cls.criterion_met(m, min_trials=0), "criterion": cls.criterion,
            "curve": [(float(r["wall_s"]), float(r.get(f"task_{cls.criterion}") or "nan")) for r in metrics]}


def study_results(study_dir: Path) -> list[dict]:
    """Every finished run of a `windtunnel study` folder, scored (the learning table of the study)."""
    from omegaconf import OmegaConf

    results = []
    for summary in sorted(study_dir.glob("runs/*/*/seed*/summary.json")):
        run_dir = summary.parent
        if not run_dir.name[4:].isdigit():  # a lesioned sibling (seed0_lesion-...), not a run of the study
            continue
        task, circuit, seed = run_dir.parts[-3], run_dir.parts[-2], int(run_dir.name[4:])
        budget = "-"
        if (run_dir / "config.yaml").exists():  # the run's own budget, as it was trained
            budget = _budget(OmegaConf.to_container(OmegaConf.load(run_dir / "config.yaml").training))
        results.append(score_run(run_dir, circuit, task, seed, budget))
    return results


def zoo_results(zoo_dir: Path) -> list[dict]:
    """Every entry of a shipped study's zoo (e.g. zoo/lab_ladder), scored from its manifest alone: the run's
    own folder need not exist. Minutes and steps to criterion come from the manifest's `training` record
    (entries exported before it existed show '-'); the curve is the manifest's, against env steps."""
    import tasks

    results = []
    for manifest_file in sorted(zoo_dir.glob("*/*/seed*/manifest.json")):
        m = json.loads(manifest_file.read_text())
        cls = tasks.task_class(m["task"])
        training = m.get("training") or {}
        hit = training.get("criterion_met")
        canonical = m["evaluation"].get("metrics", {})
        curve = m.get("curve") or {}
        results.append({
            "circuit": m["circuit"], "task": m["task"], "seed": int(m["seed"]),
            "budget": _budget((m.get("config") or {}).get("training", {})), **_validation(training.get("validation")),
            "criterion_wall_s": float(hit["wall_s"]) if hit else None,
            "criterion_env_steps": int(hit["env_steps"]) if hit else None,
            "env_steps": int(m["trained_env_steps"]),
            "canonical": {k: v for k, v in canonical.items() if isinstance(v, (int, float))},
            "canonical_met": cls.criterion_met(canonical, min_trials=0), "criterion": cls.criterion,
            "curve": [(float(x), float("nan") if y is None else float(y))
                      for x, y in zip(curve.get("env_steps", []), curve.get("value", []))],
            "training_known": "training" in m, "curve_x": "env_steps"})
    return results


def _budget(training: dict) -> str:
    """A run's budget as trained: wall-clock minutes when it had a limit, else environment steps."""
    return (f"{training['max_wall_s'] / 60:g} min" if training.get("max_wall_s")
            else f"{training.get('total_steps', 0) / 1e6:.2f} M steps")


def _validation(validation: dict | None) -> dict:
    """The stop's held-out checks (training.validation_episodes): how many, and whether one met it."""
    return {"validation_checks": len(validation.get("checks", [])) if validation else None,
            "validation_met": bool(validation.get("met")) if validation else None}


def summarize(results: list[dict]) -> list[list]:
    """One row per (circuit, task): seeds at criterion (rolling, and re-checked canonically), median and
    range of the minutes and env steps to criterion over the seeds that reached it, the canonical metric."""
    rows = []
    keys = sorted({(r["circuit"], r["task"]) for r in results}, key=lambda k: (k[1], k[0]))
    for circuit, task in keys:
        group = [r for r in results if (r["circuit"], r["task"]) == (circuit, task)]
        # a zoo entry exported before manifests recorded how the run learned: its rolling criterion is unknown
        known = [r for r in group if r.get("training_known", True)]
        reached = [r for r in known if r["criterion_wall_s"] is not None]
        both = [r for r in reached if r["canonical_met"]] + [r for r in group if r not in known and r["canonical_met"]]
        minutes = [r["criterion_wall_s"] / 60 for r in reached]
        steps = [r["criterion_env_steps"] for r in reached]
        crit = group[0]["criterion"]
        canon = [r["canonical"].get(crit, math.nan) for r in group]
        budgets = sorted({r["budget"] for r in group})
        rows.append([circuit, task, " / ".join(budgets),
                     f"{len(reached)}/{len(known)}" + (f" ({len(group) - len(known)} unrecorded)" if len(known) < len(group) else "")
                     if known else "unrecorded",
                     f"{len(both)}/{len(group)}", _spread(minutes, "{:.1f}"), _spread(steps, "{:,.0f}"),
                     f"{crit} " + _spread(canon, "{:.2f}"), _validated(group)])
    return rows


def _validated(group: list[dict]) -> str:
    """Stops validated on held-out episodes: seeds whose stop met the criterion there, and how many of
    those needed more than the first check (trained on after a failed one); '-' when none was asked for."""
    checked = [r for r in group if r.get("validation_checks")]
    if not checked:
        return "-"
    met = [r for r in checked if r["validation_met"]]
    later = sum(r["validation_checks"] > 1 for r in met)
    return f"{len(met)}/{len(checked)}" + (f" ({later} after training on)" if later else "")


def _spread(values, fmt: str) -> str:
    v = [x for x in values if x is not None and np.isfinite(x)]
    if not v:
        return "-"
    med = fmt.format(float(np.median(v)))
    return med if len(v) == 1 else f"{med} [{fmt.format(min(v))}-{fmt.format(max(v))}]"


def plot_curves(results: list[dict], task: str, path: Path) -> None:
    """The rolling criterion metric against wall time: per circuit the median over seeds, the seeds'
    range as a band, the criterion as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    in_steps = any(r.get("curve_x") == "env_steps" for r in results)  # zoo manifests: curves against env steps
    scale = 1e6 if in_steps else 60.0
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for k, circuit in enumerate(sorted({r["circuit"] for r in results if r["task"] == task})):
        curves = [np.array(r["curve"]) for r in results if (r["circuit"], r["task"]) == (circuit, task) and r["curve"]]
        if not curves:
            continue
        grid = np.linspace(0, min(c[-1, 0] for c in curves), 100)
        ys = np.array([np.interp(grid, c[:, 0], np.nan_to_num(c[:, 1], nan=0.0)) for c in curves])
        color = f"C{k}"
        ax.plot(grid / scale, np.median(ys, 0), c=color, label=f"{circuit} ({len(curves)} seeds)")
        ax.fill_between(grid / scale, ys.min(0), ys.max(0), color=color, alpha=0.2, lw=0)
    if task in THRESHOLDS:
        ax.axhline(THRESHOLDS[task], ls="--", c="k", lw=1, alpha=0.6)
    ax.set_xlabel("environment steps (M)" if in_steps else "wall time (min, 2 cores)")
    ax.set_ylabel(next(r["criterion"] for r in results if r["task"] == task).replace("_", " "))
    ax.set_title(f"{task}: median over seeds, band = range")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", nargs="+", help="circuit:task:budget_s entries")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--overrides", nargs="*", default=[], help="extra config overrides for every run")
    ap.add_argument("--study", help="score a `windtunnel study` folder's runs instead of training (e.g. "
                                    "studies/lab_ladder)")
    ap.add_argument("--zoo", help="score a shipped study's zoo from its manifests (e.g. zoo/lab_ladder): no run "
                                  "folders needed")
    ap.add_argument("--out", default="results/learning")
    args = ap.parse_args(argv)
    if not args.runs and not args.study and not args.zoo:
        ap.error("give --runs circuit:task:budget_s ..., --study <study folder> or --zoo <zoo folder>")
    if args.zoo and not any(Path(args.zoo).glob("*/*/seed*/manifest.json")):
        ap.error(f"--zoo {args.zoo}: no <circuit>/<task>/seed<k>/manifest.json entries there (e.g. zoo/lab_ladder)")
    from benchmarks import common

    common.REPORT_NAME = "learning"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = study_results(Path(args.study)) if args.study else []
    if args.zoo:
        results += zoo_results(Path(args.zoo))
    for spec in args.runs or []:
        circuit, task, budget = spec.split(":")
        for seed in args.seeds:
            results.append(run_one(circuit, task, seed, float(budget), out, args.overrides))
            print(f"{circuit} {task} seed {seed}: criterion at "
                  f"{results[-1]['criterion_wall_s'] or 'not reached'} s; canonical {results[-1]['canonical_met']}",
                  flush=True)
    (out / "learning.json").write_text(json.dumps(results, indent=1, default=float))
    seeds = sorted({r["seed"] for r in results})
    header(f"Learning to criterion over seeds {seeds} (2 cores; each run's budget in env steps or wall-clock)"
           + (f": study {args.study}" if args.study else "") + (f": zoo {args.zoo}" if args.zoo else ""))
    table(["circuit", "task", "budget", "seeds at criterion (rolling)", "seeds at criterion (canonical re-check)",
           "minutes to criterion median [range]", "env steps to criterion", "canonical eval of best checkpoint",
           "stops validated (held-out)"],
          summarize(results))
    for task in sorted({r["task"] for r in results}):
        plot_curves(results, task, out / f"curves_{task}.png")
    print(f"wrote {out / 'learning.json'} and {out}/curves_<task>.png")


if __name__ == "__main__":
    main()
