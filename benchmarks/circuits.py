"""Circuit cost: one control step (batch 16, no grad) and forward+backward through a 128-step
sequence (batch 16), each as a ratio to `lstm` measured in the same run, at default sizes and the
lever task's observation/action sizes. Goal (issue: circuits): m1_bg <= 10x lstm per control step.
Run: `make bench` or `python -m benchmarks.circuits`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

if __package__ in (None, ""):
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.common import header, table  # noqa: E402

import circuits  # noqa: E402

OBS, ACT, BATCH = 31, 8, 16


def time_step(c, repeats: int) -> float:
    state = c.initial_state(BATCH)
    obs = torch.randn(BATCH, OBS)
    with torch.no_grad():
        for _ in range(5):
            _, state, _ = c(obs, state, None)
        start = time.perf_counter()
        for _ in range(repeats):
            _, state, _ = c(obs, state, None)
    return (time.perf_counter() - start) / repeats


def time_sequence(c, steps: int = 128) -> float:
    head = torch.nn.Linear(c.feature_dim, ACT)
    obs = torch.randn(steps, BATCH, OBS)
    start = time.perf_counter()
    state = c.initial_state(BATCH)
    loss = 0.0
    for t in range(steps):
        f, state, _ = c(obs[t], state, None)
        loss = loss + head(f).pow(2).mean()
    loss.backward()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=200)
    args = ap.parse_args()
    torch.set_num_threads(1)
    header("Circuits: cost per control step and per 128-step forward+backward (batch 16, one thread)")
    results = {}
    for name in circuits.names():
        c = circuits.make(name, OBS, ACT)
        step = min(time_step(c, args.repeats) for _ in range(3))
        seq = min(time_sequence(c) for _ in range(2))
        results[name] = (c.num_parameters(), step, seq)
    base_step, base_seq = results["lstm"][1], results["lstm"][2]
    rows = [[n, p, f"{s * 1e3:.3f}", f"{s / base_step:.2f}x", f"{q * 1e3:.0f}", f"{q / base_seq:.2f}x"]
            for n, (p, s, q) in results.items()]
    table(["circuit", "parameters", "step ms", "step / lstm", "128-step fwd+bwd ms", "fwd+bwd / lstm"], rows)


if __name__ == "__main__":
    main()
