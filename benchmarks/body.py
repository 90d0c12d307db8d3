"""Raw physics rate of each body variant and the environment-step ceiling it implies.

`mj_step` per second on one core under smooth random control, and the implied ceiling in
environment steps per second at a 20 ms control step (mj_step rate / substeps).
Run: `make bench` or `python -m benchmarks.body [--seconds S]`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import mujoco
import numpy as np

if __package__ in (None, ""):  # run as a file: the repo root, not benchmarks/, is the import root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.common import header, table  # noqa: E402

import body  # noqa: E402
from body.render import smooth_random_controls  # noqa: E402

CONTROL_DT_S = 0.02


def mj_steps_per_s(rat: body.RatBody, seconds: float) -> float:
    m = rat.model
    d = mujoco.MjData(m)
    mujoco.mj_forward(m, d)
    controls = smooth_random_controls(4096, m.nu, np.random.default_rng(0))
    substeps = round(CONTROL_DT_S / m.opt.timestep)
    n, k = 0, 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        d.ctrl[:] = controls[k % len(controls)]
        k += 1
        for _ in range(substeps):
            mujoco.mj_step(m, d)
        n += substeps
        if n % (substeps * 250) == 0 and not np.isfinite(d.qpos).all():
            mujoco.mj_resetData(m, d)
    return n / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=3.0, help="measuring time per row")
    args = ap.parse_args()
    header("Body: raw physics rate per variant (one core)")
    rows = []
    for variant in body.VARIANTS:
        for dt in (0.002, 0.001):
            rat = body.build(variant, physics_dt=dt)
            rate = mj_steps_per_s(rat, args.seconds)
            substeps = round(CONTROL_DT_S / dt)
            rows.append([variant, f"{dt * 1000:g}", rat.model.nv, rat.model.nu, rate, substeps, rate / substeps])
    table(["variant", "physics dt ms", "dofs", "actuators", "mj_step/s", "substeps per 20 ms",
           "ceiling env steps/s"], rows)


if __name__ == "__main__":
    main()
