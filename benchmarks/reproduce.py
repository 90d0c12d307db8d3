"""Does a study retrained from scratch reproduce a shipped zoo?

    windtunnel study study=lab_ladder study.out_dir=studies/lab_ladder_again study.jobs=2
    python -m benchmarks.reproduce --zoo zoo/lab_ladder --again studies/lab_ladder_again/zoo/lab_ladder

A study's budgets are environment steps, its learning rate annealed over them, so on the same build a rerun
trains the same updates: an entry is identical when it stopped at the same step with the same canonical
metric. Across machines (another CPU, BLAS or device) floating-point sums may differ and a run may
diverge; a zoo trained with wall-clock budgets (lab_ladder before 2026-12-04) reruns as a new draw of each
seed (docs/results/lab_ladder.md). So what a reader of the results needs reproduced is each entry's outcome: whether the best checkpoint meets the task's criterion on
the canonical evaluation (`tasks.<Task>.criterion_met`, as the learning table counts it), and where its
canonical metric lies. Per entry (circuit, task, seed) present in both zoos this prints the shipped and the
rerun metric with their 95 % intervals (bootstrap over trials, as the manifest records them), whether the
criterion outcome is the same and whether the intervals overlap; per circuit and task, seeds at criterion
shipped against rerun. Written to results/reproduce.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmarks.common import _out, machine


def entries(zoo: Path) -> dict[tuple[str, str, int], dict]:
    """(circuit, task, seed) -> manifest, for every entry of a zoo folder (<zoo>/<circuit>/<task>/seed<k>)."""
    out = {}
    for m in sorted(zoo.glob("*/*/seed*/manifest.json")):
        manifest = json.loads(m.read_text())
        out[(manifest["circuit"], manifest["task"], int(manifest["seed"]))] = manifest
    return out


def at_criterion(manifest: dict) -> bool:
    import tasks

    return bool(tasks.task_class(manifest["task"]).criterion_met(manifest["evaluation"]["metrics"], min_trials=0))


def compare(shipped: dict, again: dict) -> dict:
    """Per entry present in both: the criterion outcome and the canonical metric, shipped vs rerun; per circuit
    and task, seeds at criterion. `shipped`, `again`: as `entries` returns."""
    rows, groups = [], {}
    for key in sorted(set(shipped) & set(again)):
        a, b = shipped[key], again[key]
        ea, eb = a["evaluation"], b["evaluation"]
        ca, cb = at_criterion(a), at_criterion(b)
        ia, ib = ea.get("ci95"), eb.get("ci95")
        overlap = None if not ia or not ib else (ia[0] <= ib[1] and ib[0] <= ia[1])
        rows.append({"circuit": key[0], "task": key[1], "seed": key[2], "metric": ea["metric"],
                     "shipped": ea["value"], "shipped_ci95": ia, "again": eb["value"], "again_ci95": ib,
                     "shipped_at_criterion": ca, "again_at_criterion": cb, "same_outcome": ca == cb,
                     "intervals_overlap": overlap, "shipped_env_steps": a.get("trained_env_steps"),
                     "again_env_steps": b.get("trained_env_steps"),
                     "identical": (a.get("trained_env_steps") == b.get("trained_env_steps")
                                   and ea["value"] == eb["value"] and ia == ib)})
        g = groups.setdefault((key[0], key[1]), [0, 0, 0])
        g[0] += ca
        g[1] += cb
        g[2] += 1
    return {"entries": rows, "groups": {f"{c}/{t}": {"shipped": v[0], "again": v[1], "n": v[2]}
                                        for (c, t), v in sorted(groups.items())},
            "same_outcome": sum(r["same_outcome"] for r in rows), "n": len(rows),
            "overlap": sum(bool(r["intervals_overlap"]) for r in rows),
            "identical": sum(r["identical"] for r in rows),
            "with_intervals": sum(r["intervals_overlap"] is not None for r in rows),
            "only_shipped": sorted(map(list, set(shipped) - set(again)))}


def _value(v, ci) -> str:
    if v is None:
        return "-"
    return f"{v:.2f} [{ci[0]:.2f}-{ci[1]:.2f}]" if ci else f"{v:.2f}"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--zoo", default="zoo/lab_ladder", help="the shipped zoo (a folder of <circuit>/<task>/seed<k>)")
    ap.add_argument("--again", required=True, help="the rerun study's zoo folder, e.g. studies/x/zoo/lab_ladder")
    args = ap.parse_args(argv)
    r = compare(entries(Path(args.zoo)), entries(Path(args.again)))
    if not r["n"]:
        raise SystemExit(f"reproduce: no entry of {args.again} matches one of {args.zoo} (circuit, task, seed)")
    _out(f"# Reproduction of {args.zoo} by {args.again}\n\n{machine()}\n")
    _out("| circuit | task | seed | metric | shipped [95 % CI] | rerun [95 % CI] | at criterion (shipped, rerun) | "
         "env steps (shipped, rerun) |")
    _out("|---|---|---|---|---|---|---|---|")
    for e in r["entries"]:
        _out(f"| {e['circuit']} | {e['task']} | {e['seed']} | {e['metric']} | {_value(e['shipped'], e['shipped_ci95'])} "
             f"| {_value(e['again'], e['again_ci95'])} | {'yes' if e['shipped_at_criterion'] else 'no'}, "
             f"{'yes' if e['again_at_criterion'] else 'no'}{'' if e['same_outcome'] else ' (differs)'} | "
             f"{e['shipped_env_steps'] or 0:,}, {e['again_env_steps'] or 0:,} |")
    _out("\n| circuit/task | seeds at criterion, shipped | rerun |\n|---|---|---|")
    for k, g in r["groups"].items():
        _out(f"| {k} | {g['shipped']}/{g['n']} | {g['again']}/{g['n']} |")
    _out(f"\nSame criterion outcome on {r['same_outcome']}/{r['n']} entries; canonical intervals overlap on "
         f"{r['overlap']}/{r['with_intervals']} entries with intervals; identical (same steps, same canonical "
         f"metric and interval) on {r['identical']}/{r['n']}."
         + (f" Not in the rerun: {len(r['only_shipped'])} entries." if r["only_shipped"] else ""))


if __name__ == "__main__":
    main()
