"""Lesion experiments after Kawai et al. 2015 (Neuron 86:800).

- after learning: the trained circuit is evaluated on its canonical task intact and with the chosen
  populations silenced (output forced to exactly zero), same episode seeds, with the policy's own noise
  on (motor variability: trials are independent, not one deterministic trial repeated). Kawai et al.: a
  motor-cortex lesion leaves the learned lever timing intact.
- before learning: a sibling run is trained from scratch with the populations silenced from the
  first step, with the same config, seed and number of environment steps as the intact run, and
  both are evaluated at their best checkpoints. Kawai et al.: the stereotyped sequence is never acquired.
- by construction: when no path from the observation to the actor survives the lesion (`no_path`: the
  lesioned populations are all the actor reads, or all that lies between it and the observation) the
  lesioned action is a constant plus noise. After learning it is evaluated as usual and its verdict says
  "by construction"; before learning no sibling is trained (nothing upstream of the actor could learn), the
  outcome is "not acquired" by construction and the Kawai benchmark does not score it as a finding.

Each experiment writes ``<run_dir>/lesions/<kind>-<populations>.json`` (atomically): the
behaviour of both conditions (the task's metrics, the IPIs on the lever task), the outcome, and
whether it reproduces or contradicts the rodent result. `comparisons.benchmarks` scores these.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from tasks.lever_timing import CRITERION_REWARDED_FRACTION
from training.files import atomic_write_json
from training.run import Run

KINDS = ("after_learning", "before_learning")
RODENT_OUTCOME = {"after_learning": "preserved", "before_learning": "not acquired"}
# Kawai's rats were lesioned once trained: the task's own criterion on the rewarded fraction
LEVER_CRITERION = ("canonical_rewarded_fraction", CRITERION_REWARDED_FRACTION)
PRESERVED_TOLERANCE = 0.1  # after learning: |median IPI ratio - 1| <= 10 % and the task metric >= 90 % of intact


def ipi_ratio(intact: dict, lesioned: dict) -> float | None:
    """Median IPI lesioned / intact; 0 if the lesioned circuit completes < 5 two-press trials; None if the
    intact one does (there is no learned timing to keep)."""
    if intact["ipi_n"] < 5:
        return None
    return lesioned["ipi_median_s"] / intact["ipi_median_s"] if lesioned["ipi_n"] >= 5 else 0.0


def sequence_fraction(intact: dict, lesioned: dict) -> float | None:
    """Share of the lesioned run's trials within ±20 % of the intact circuit's median IPI, relative to the
    intact run's own share (how much of the learned sequence was acquired); None without an intact sequence."""
    if intact["ipi_n"] < 5:
        return None
    target = intact["ipi_median_s"]

    def near(ipis):
        return float(np.mean(np.abs(np.asarray(ipis) - target) <= 0.2 * target)) if len(ipis) else 0.0

    base = near(intact["ipis_s"])
    return near(lesioned["ipis_s"]) / base if base > 0 else None


def behaviour(result: dict) -> dict:
    """The parts of an evaluation a lesion comparison needs: metrics, criterion, IPIs."""
    ipis = [r["ipi_s"] for r in result["records"] if r.get("ipi_s") is not None and not math.isnan(r["ipi_s"])]
    return {"metrics": result["metrics"], "mean_return": result["mean_return"], "ipis_s": ipis, "ipi_n": len(ipis),
            "faulted_episodes": result["faulted_episodes"], "episodes": result["episodes"],
            "ipi_median_s": float(np.median(ipis)) if ipis else None, "lesioned": result["lesioned"],
            "run_dir": result["run_dir"], "env_steps_trained": result["env_steps_trained"]}


def no_path(run: Run, populations: list[str]) -> str:
    """'' if a path from the observation to the actor survives silencing `populations`; else why not.

    Without one the lesioned circuit's action is its actor's bias plus noise whatever it learns: after
    learning it is impaired by construction, and before learning nothing upstream of the actor can be
    learned, so no sibling is trained (outcome "not acquired" by construction, not scored as a finding)."""
    agent, _ = run.agent("best", populations)
    spec, silenced = agent.circuit.spec, agent.circuit.lesioned
    if spec.readout_reachable(silenced):
        return ""
    return (f"no path from the observation to the actor survives silencing {', '.join(silenced)} (the actor reads "
            f"{', '.join(spec.readout)}): its output is a constant plus noise, by construction")


def _tag(populations: list[str]) -> str:
    return "-".join(populations)


def lesion_after_learning(run: Run | str | Path, populations: list[str], episodes: int = 20, seed: int = 3000,
                          checkpoint: str = "best", progress: bool = False) -> dict:
    from training.rollout import evaluate

    run = run if isinstance(run, Run) else Run(run)
    eval_dir = run.out_dir / "lesions" / "eval"
    intact = behaviour(evaluate(run, episodes=episodes, checkpoint=checkpoint, seed=seed, out=eval_dir,
                                deterministic=False, progress=progress))
    lesioned = behaviour(evaluate(run, episodes=episodes, checkpoint=checkpoint, seed=seed, lesion=populations,
                                  out=eval_dir, deterministic=False, progress=progress))
    crit = run.criterion
    a, b = intact["metrics"].get(crit, math.nan), lesioned["metrics"].get(crit, math.nan)
    kept_metric = b >= (1 - PRESERVED_TOLERANCE) * a if np.isfinite(a) and a > 0 else None
    ratio = ipi_ratio(intact, lesioned)
    preserved = kept_metric if ratio is None else (abs(ratio - 1) <= PRESERVED_TOLERANCE and kept_metric is not False)
    return _write(run.out_dir, "after_learning", run.task_name, populations, intact, lesioned, crit,
                  outcome=None if preserved is None else ("preserved" if preserved else "impaired"),
                  extra={"ipi_ratio": ratio, "structural": no_path(run, populations)})


def lesion_before_learning(run: Run | str | Path, populations: list[str], episodes: int = 20, seed: int = 3000,
                           total_steps: int | None = None, progress: bool = False) -> dict:
    """Train a sibling run with `populations` silenced from the start, then compare it with the intact run."""
    from omegaconf import OmegaConf

    from training.ppo import Trainer
    from training.rollout import evaluate

    run = run if isinstance(run, Run) else Run(run)
    crit = run.criterion
    dead = no_path(run, populations)
    if dead:  # nothing upstream of the actor can learn: not trained (see `no_path`)
        intact = behaviour(evaluate(run, episodes=episodes, checkpoint="best", seed=seed,
                                    out=run.out_dir / "lesions" / "eval", deterministic=False, progress=progress))
        return _write(run.out_dir, "before_learning", run.task_name, populations, intact, None, crit,
                      outcome="not acquired", extra={"sequence_fraction": None, "sibling_run": None,
                                                     "training_env_steps": 0, "structural": dead})
    cfg = OmegaConf.create(run.config)
    budget = int(total_steps or run.trained_env_steps)
    cfg.lesion = list(populations)
    cfg.training.total_steps = budget
    cfg.training.max_wall_s = 0
    sibling = run.out_dir.parent / f"{run.out_dir.name}_lesion-{_tag(populations)}"
    Trainer(cfg, sibling, resume=(sibling / "checkpoints" / "last.pt").exists(), progress=progress).train()
    # each run's best checkpoint (by the task's criterion) within the same budget: what each could learn,
    # not where a drifting policy happened to end
    intact = behaviour(evaluate(run, episodes=episodes, checkpoint="best", seed=seed,
                                out=run.out_dir / "lesions" / "eval", deterministic=False, progress=progress))
    lesioned = behaviour(evaluate(Run(sibling), episodes=episodes, checkpoint="best", seed=seed,
                                  out=sibling / "eval", deterministic=False, progress=progress))
    a, b = intact["metrics"].get(crit, math.nan), lesioned["metrics"].get(crit, math.nan)
    fraction = sequence_fraction(intact, lesioned)  # the learned sequence: trials near the intact median IPI
    if fraction is not None:
        acquired = fraction > 0.5
    else:
        acquired = bool(b > 0.5 * a) if np.isfinite(a) and a > 0 else None
    extra = {"sequence_fraction": fraction, "sibling_run": str(sibling), "training_env_steps": budget}
    return _write(run.out_dir, "before_learning", run.task_name, populations, intact, lesioned, crit,
                  outcome=None if acquired is None else ("acquired" if acquired else "not acquired"), extra=extra)


def fault_summary(intact: dict, lesioned: dict | None) -> str:
    """'' when no evaluated episode faulted, else e.g. '20 of 20 lesioned episodes ended in a numerical fault
    (circuit_error)'. `lesioned` None: not evaluated (a sibling never trained: `no_path`)."""
    parts = []
    for label, b in (("intact", intact), ("lesioned", lesioned or {"faulted_episodes": {}})):
        kinds = [k for k, v in b["faulted_episodes"].items() if v]
        if kinds:
            n = sum(b["faulted_episodes"].values())
            parts.append(f"{n} of {b['episodes']} {label} episodes ended in a numerical fault ({', '.join(kinds)})")
    return "; ".join(parts)


def _write(run_dir: Path, kind: str, task: str, populations, intact, lesioned, criterion, outcome, extra) -> dict:
    rodent = RODENT_OUTCOME[kind] if task == "lever_timing" else None
    faults = fault_summary(intact, lesioned)
    if faults:  # a numerical fault is not behaviour: no outcome is read from it
        outcome = None
    # Kawai's rats were lesioned once they performed the task: a circuit that never did has no learned timing
    # to keep or to fail to acquire, so its outcome is behaviour, not a verdict (as the Kawai benchmarks rule)
    learned = intact["metrics"].get(LEVER_CRITERION[0]) if task == "lever_timing" else None
    untrained = task == "lever_timing" and (learned is None or not np.isfinite(learned) or learned < LEVER_CRITERION[1])
    shown = f"{learned:.2f}" if learned is not None and np.isfinite(learned) else "-"
    note = (f"the intact circuit has not met the task criterion ({LEVER_CRITERION[0]} {shown} < "
            f"{LEVER_CRITERION[1]})" if untrained else "")
    result = {"kind": kind, "populations": list(populations), "criterion": criterion, "intact": intact,
              "lesioned": lesioned, "outcome": outcome, "rodent_outcome": rodent,
              "task": task,
              "verdict": (f"undetermined: {faults}" if faults
                          else "no rodent reference (Kawai et al. 2015 lesioned rats on the lever task)" if rodent is None
                          else "undetermined (the intact circuit has not learned the task)" if outcome is None or untrained
                          else ("reproduces" if outcome == rodent else "contradicts")
                          + (" by construction" if extra.get("structural") else "")),
              "reference": f"kawai2015.lesion_{kind}", "note": "; ".join(x for x in (note, extra.get("structural"))
                                                                      if x), **extra}
    path = run_dir / "lesions" / f"{kind}-{_tag(populations)}.json"
    atomic_write_json(path, result)
    result["path"] = str(path)
    return result


def load_lesions(run_dir: str | Path) -> list[dict]:
    """Every lesion result written for a run (oldest first)."""
    d = Path(run_dir) / "lesions"
    files = sorted(d.glob("*_learning-*.json"), key=lambda p: p.stat().st_mtime) if d.is_dir() else []
    out = []
    for p in files:
        with open(p) as f:
            out.append(json.load(f))
    return out
