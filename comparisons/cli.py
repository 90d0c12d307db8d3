"""The `windtunnel` command: training's commands plus those of comparisons (`record`)."""

from __future__ import annotations

import sys
from pathlib import Path

from training.cli import COMMANDS as TRAINING_COMMANDS
from training.cli import main as dispatch
from training.config import parse_run_args

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


COMMANDS = {**TRAINING_COMMANDS, "record": cmd_record}


def main(argv: list[str] | None = None) -> int:
    return dispatch(argv, COMMANDS)


if __name__ == "__main__":
    sys.exit(main())
