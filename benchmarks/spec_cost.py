"""Circuit specs against the hand-written circuits they replaced: per-step cost, side by side in one run.

The reference is the `circuits/` package of a commit before specs (default 8337a68), extracted with
`git archive` into a temporary folder; each measurement runs in its own subprocess (one thread), the two
implementations interleaved, best of `--repeats`. Timed: one control step without gradients (batch 16,
the rollout's path) and a 64-step `unroll` forward and backward (batch 16, the PPO update's path). Also
checked: the same seed gives the same features (max |difference|). Goal (issue: circuit specs): spec /
hand-written <= 1.1 on both paths.
Run: `python -m benchmarks.spec_cost [--reference <commit>]`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.common import header, table  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BUILTINS = ["mlp", "lstm", "dale_rnn", "spiking_m1", "m1_bg"]

PROBE = r'''
import json, sys, time, torch
torch.set_num_threads(1)
import circuits
name, which = sys.argv[1], sys.argv[2]
OBS, ACT, B, T = 31, 8, 16, 64
c = circuits.make(name, OBS, ACT, seed=3)
g = torch.Generator().manual_seed(1)
obs = torch.randn(T, B, OBS, generator=g)
resets = torch.zeros(T, B, dtype=torch.bool); resets[0] = True
noise = {k: torch.randn(T, *s, generator=g) for k, s in c.noise_shapes(B).items()}
out = {}
with torch.no_grad():
    f, _, _ = c.unroll(obs[:8], c.initial_state(B), resets[:8], {k: v[:8] for k, v in noise.items()} or None)
out["features"] = f.flatten()[:4096].tolist()
if which == "step":
    state = c.initial_state(B)
    with torch.no_grad():
        for t in range(5):
            _, state, _ = c(obs[t], state, None, {k: v[t] for k, v in noise.items()} or None)
        start = time.perf_counter()
        for t in range(T):
            _, state, _ = c(obs[t], state, None, {k: v[t] for k, v in noise.items()} or None)
    out["seconds"] = (time.perf_counter() - start) / T
else:
    head = torch.nn.Linear(c.feature_dim, ACT)
    for _ in range(2):
        start = time.perf_counter()
        f, _, _ = c.unroll(obs, c.initial_state(B), resets, noise or None, keep_activity=False)
        head(f).pow(2).mean().backward()
    out["seconds"] = time.perf_counter() - start
print(json.dumps(out))
'''


def measure(pythonpath: Path, name: str, which: str) -> dict:
    p = subprocess.run([sys.executable, "-c", PROBE, name, which], capture_output=True, text=True,
                       env={"PYTHONPATH": str(pythonpath), "PATH": "/usr/bin:/bin"}, timeout=600)
    if p.returncode:
        raise SystemExit(f"probe failed for {name} ({pythonpath}): {p.stderr[-500:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reference", default="8337a68", help="a commit with the hand-written circuits")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ref = Path(tmp)
        archive = subprocess.run(["git", "-C", str(REPO), "archive", args.reference, "circuits"], capture_output=True)
        if archive.returncode:
            print(f"cannot extract circuits/ at {args.reference}: {archive.stderr.decode().strip()}", file=sys.stderr)
            raise SystemExit(2)
        subprocess.run(["tar", "-x", "-C", str(ref)], input=archive.stdout, check=True)
        header(f"Circuit specs vs the hand-written circuits (commit {args.reference}): seconds per control step "
               "(no grad, batch 16) and per 64-step unroll forward+backward (batch 16), one thread, best of "
               f"{args.repeats}")
        rows = []
        for name in BUILTINS:
            best = {}
            for which in ("step", "update"):
                for impl, path in (("spec", REPO), ("hand", ref)):
                    runs = [measure(path, name, which) for _ in range(args.repeats)]
                    best[(impl, which)] = min(r["seconds"] for r in runs)
                    best[(impl, "features")] = runs[0]["features"]
            diff = max(abs(a - b) for a, b in zip(best[("spec", "features")], best[("hand", "features")]))
            rows.append([name, f"{best[('hand', 'step')] * 1e3:.3f}", f"{best[('spec', 'step')] * 1e3:.3f}",
                         f"{best[('spec', 'step')] / best[('hand', 'step')]:.2f}",
                         f"{best[('hand', 'update')] * 1e3:.0f}", f"{best[('spec', 'update')] * 1e3:.0f}",
                         f"{best[('spec', 'update')] / best[('hand', 'update')]:.2f}", f"{diff:.1e}"])
        table(["circuit", "step ms (hand)", "step ms (spec)", "step spec/hand", "update ms (hand)",
               "update ms (spec)", "update spec/hand", "max |features diff|"], rows)


if __name__ == "__main__":
    main()
