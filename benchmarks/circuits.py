"""Circuit cost: one control step (batch 16, no grad: the rollout's path) and the update's path, one
`unroll` of a 128-step minibatch (batch 4) forward and backward, each as a ratio to `lstm` measured in the
same run, at default sizes and the
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


def time_sequence(c, steps: int = 128, batch: int = 4) -> float:
    """The PPO update's path: one `unroll` of a minibatch's sequences (the default lever minibatch: 4
    environments x 128 steps) with the noise the rollout drew, then backward."""
    head = torch.nn.Linear(c.feature_dim, ACT)
    obs = torch.randn(steps, batch, OBS)
    resets = torch.zeros(steps, batch, dtype=torch.bool)
    resets[0] = True
    noise = {k: torch.randn(steps, *shape) for k, shape in c.noise_shapes(batch).items()} or None
    start = time.perf_counter()
    f, _, _ = c.unroll(obs, c.initial_state(batch), resets, noise, keep_activity=False)
    head(f).pow(2).mean().backward()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=200)
    args = ap.parse_args()
    torch.set_num_threads(1)
    header("Circuits: cost per control step (batch 16) and per 128-step unroll forward+backward (batch 4: the "
           "update's path), one thread")
    results = {}
    for name in circuits.names():
        c = circuits.make(name, OBS, ACT)
        step = min(time_step(c, args.repeats) for _ in range(3))
        seq = min(time_sequence(c) for _ in range(2))
        results[name] = (c.num_parameters(), step, seq)
    base_step, base_seq = results["lstm"][1], results["lstm"][2]
    rows = [[n, p, f"{s * 1e3:.3f}", f"{s / base_step:.2f}x", f"{q * 1e3:.0f}", f"{q / base_seq:.2f}x"]
            for n, (p, s, q) in results.items()]
    table(["circuit", "parameters", "step ms", "step / lstm", "128-step unroll fwd+bwd ms", "fwd+bwd / lstm"], rows)


if __name__ == "__main__":
    main()
