"""The `windtunnel` command: training's commands plus those of comparisons (`record`, `lesion`, `compare`)."""

from __future__ import annotations

import sys
from pathlib import Path

from training.cli import COMMANDS as TRAINING_COMMANDS
from training.cli import main as dispatch
from training.config import UsageError, parse_run_args, parse_value

RECORD_DEFAULTS = {"task": None, "episodes": 10, "checkpoint": "best", "seed": 2000, "lesion": [],
                   "deterministic": True, "analyse": True, "out": None}


def cmd_record(args: list[str]) -> None:
    """windtunnel record <run_dir> [task=<t>] [episodes=N] [lesion=[pop]] -> <run_dir>/recordings/<tag>.nwb"""
    from comparisons.nwb import write_nwb
    from comparisons.recording import record
    from comparisons.summary import analyse_recording
    from training.checkpoint import atomic_write_json

    run_dir, o = parse_run_args(args, RECORD_DEFAULTS, "usage: windtunnel record <run_dir> [task=<name> episodes=N "
                                               "checkpoint=best|last lesion=[pop,...] analyse=true|false]")
    rec = record(run_dir, episodes=o["episodes"], task=o["task"], checkpoint=o["checkpoint"], seed=o["seed"],
                 deterministic=o["deterministic"], lesion=o["lesion"])
    tag = "lesion-" + "-".join(rec.provenance["lesioned"]) if rec.provenance["lesioned"] else "intact"
    out_dir = Path(o["out"]) if o["out"] else run_dir / "recordings"
    path = write_nwb(rec, out_dir / f"{tag}.nwb", session_description=f"{rec.provenance['circuit']} on "
                                                                     f"{rec.provenance['task']}")
    print(f"recorded {rec.n_units} units x {rec.n_trials} trials at {rec.sampling_rate_hz:g} Hz -> {path}")
    if o["analyse"]:
        results = analyse_recording(rec, out_dir / f"{tag}_figures")
        atomic_write_json(out_dir / f"{tag}_analyses.json", results)
        print(f"participation ratio {results['participation_ratio']:.2f}; timescales (s): "
              + ", ".join(f"{p} {v['population']:.3f}" if v["population"] else f"{p} -"
                          for p, v in results["timescales_s"].items()))
        print(f"analyses -> {out_dir / (tag + '_analyses.json')}; figures -> {out_dir / (tag + '_figures')}")


LESION_DEFAULTS = {"populations": None, "before_learning": False, "episodes": 20, "seed": 3000, "total_steps": None,
                   "checkpoint": "best"}


def cmd_lesion(args: list[str]) -> None:
    """windtunnel lesion <run_dir> populations=[M1] [before_learning=true total_steps=N episodes=N]"""
    from comparisons.lesion import lesion_after_learning, lesion_before_learning
    from training.checkpoint import build_agent, find_checkpoint, load_checkpoint

    run_dir, o = parse_run_args(args, LESION_DEFAULTS, "usage: windtunnel lesion <run_dir> populations=[pop,...] "
                                                       "[before_learning=true total_steps=N episodes=N]")
    agent, _ = build_agent(load_checkpoint(find_checkpoint(run_dir, "last")))
    pops = o["populations"]
    valid = sorted({p.name for p in agent.circuit.populations} | {p.region for p in agent.circuit.populations
                                                                    if p.region != "none"})
    if not pops:
        raise UsageError(f"name the populations or regions to silence, e.g. populations=[{valid[0]}]; valid: "
                         f"{', '.join(valid)}")
    pops = [pops] if isinstance(pops, str) else [str(p) for p in pops]
    agent.circuit.lesion(pops)  # validates the names (one-line error listing the valid ones)
    if not isinstance(o["episodes"], int) or o["episodes"] < 1:
        raise UsageError(f"episodes must be a whole number >= 1, got {o['episodes']}")
    if o["before_learning"]:
        if o["total_steps"] is not None and (not isinstance(o["total_steps"], int) or o["total_steps"] < 1):
            raise UsageError(f"total_steps must be a whole number >= 1, got {o['total_steps']}")
        r = lesion_before_learning(run_dir, pops, episodes=o["episodes"], seed=o["seed"], total_steps=o["total_steps"],
                                   progress=True)
    else:
        r = lesion_after_learning(run_dir, pops, episodes=o["episodes"], seed=o["seed"], checkpoint=o["checkpoint"])
    crit = r["criterion"]
    print(f"{r['kind'].replace('_', ' ')} lesion of {', '.join(pops)} ({o['episodes']} canonical episodes)")
    for label in ("intact", "lesioned"):
        b = r[label]
        ipi = f"  IPI median {b['ipi_median_s']:.3f} s (n={b['ipi_n']})" if b.get("ipi_median_s") else ""
        print(f"  {label:<9} {crit} {b['metrics'].get(crit, float('nan')):.3f}{ipi}")
    print(f"outcome: {r['outcome']}; rodents (Kawai et al. 2015): {r['rodent_outcome'] or 'n/a'} -> {r['verdict']}")
    if r["note"]:
        print(f"note: {r['note']}")
    print(f"wrote {r['path']}")


COMPARE_DEFAULTS = {"runs": [], "subjects": [], "episodes": 10, "seed": 2000, "out": "compare", "benchmarks": None}


def cmd_compare(args: list[str]) -> None:
    """windtunnel compare runs=[run_a,run_b,...] [subjects=[recording.nwb]] [episodes=N out=dir]"""
    from comparisons.report import compare

    o = dict(COMPARE_DEFAULTS)
    for a in args:
        if "=" not in a:
            raise UsageError(f"argument {a!r} is not of the form key=value; usage: windtunnel compare "
                             "runs=[run_dir,...] [subjects=[file.nwb,...] episodes=N out=dir benchmarks=[...]]")
        key, value = a.split("=", 1)
        if key not in o:
            raise UsageError(f"unknown option {key!r}; valid: {', '.join(o)}")
        o[key] = parse_value(value)
    for key in ("runs", "subjects", "benchmarks"):
        if isinstance(o[key], str):
            o[key] = [o[key]]
    for r in o["runs"]:
        if not (Path(str(r)) / "checkpoints").is_dir():
            raise UsageError(f"run dir {r} has no checkpoints/ (train it first with windtunnel train)")
    for p in o["subjects"]:
        if not Path(str(p)).is_file():
            raise UsageError(f"subject recording {p} does not exist (give NWB files)")
    if not isinstance(o["episodes"], int) or o["episodes"] < 1:
        raise UsageError(f"episodes must be a whole number >= 1, got {o['episodes']}")
    result = compare(runs=[str(r) for r in o["runs"]], subjects=[str(p) for p in o["subjects"]], out_dir=o["out"],
                     episodes=o["episodes"], seed=o["seed"], benchmarks=o["benchmarks"])
    for s in result["scores"]:
        if s.applicable:
            verdict = "pass" if s.passed else "fail" if s.passed is False else "-"
            print(f"  {s.benchmark:<40} {s.model:<14} {s.value:>9.4g} {s.units:<10} score {s.score:.2f}  {verdict}")
        else:
            print(f"  {s.benchmark:<40} {s.model:<14} n/a ({s.reason})")
    print(f"report -> {result['report']}; scores -> {result['scores_json']}")


COMMANDS = {**TRAINING_COMMANDS, "record": cmd_record, "lesion": cmd_lesion, "compare": cmd_compare}


def main(argv: list[str] | None = None) -> int:
    return dispatch(argv, COMMANDS)


if __name__ == "__main__":
    sys.exit(main())
