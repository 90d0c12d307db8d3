"""Why a circuit does or does not time its presses: measured on trained lever_timing runs.

    python -m benchmarks.timing_diagnosis --runs results/learning/lever_timing/m1_bg/seed0 ... [--episodes 10]

For each run, `--episodes` canonical episodes with the policy's own noise (independent trials):
- the press pattern: trials, median IPI, the fraction of second presses within 0.4 s of the first (taps);
- whether the population holds the time since the first press: elapsed time in [0, 1) s decoded from
  its activity (`comparisons.analyses.sequences.elapsed_time_decoding`, cross-validated ridge, folds by
  trial), as held-out R^2 and median error, for the whole circuit and per population, and the error
  at 0.6-0.8 s (where the second press should come); beside them the same decoder on the body's own
  kinematics (paw and lever) as a reference: a circuit that keeps tapping makes body and activity cycle
  with the taps, and then neither says how long ago the first press was (a linear read-out of elapsed
  time needs a signal that changes monotonically through the interval).
- what the agent expects and does through the interval (`interval_profile`): the critic's value estimate
  at 0, 0.35 and 0.7 s after each first press, and how far the policy's mean action has moved from where
  it was 0.1 s after the press (mean |change| over action dimensions) at 0.35 and 0.7 s; a circuit that
  times its press holds its command and expects reward to come, one that taps moves at once.
- whether presses keep a rhythm through the inter-trial interval (`comparisons.analyses.behaviour.
  press_rhythm`): a metronome presses during the ITI at its IPI; an interval timer waits;
- where the clock is (`freeze_test`): in canonical episodes the motor command is held at its value for
  each of `--holds-s` from `--freeze-at-s` after each first press (the servos hold the paw still) while
  the circuit keeps running on what it senses. A clock in the body stops while the body is held: the
  second press comes about one hold later than in unperturbed trials of the same seeds, a constant time
  after the release. A clock in the circuit keeps running: the press comes on time, or as soon as the
  paw can reach the lever after release. A memoryless circuit (mlp) can only have the first.
Writes the tables to `results/timing_diagnosis.md`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.common import header, table  # noqa: E402


def diagnose(run_dir: str, episodes: int, seed: int = 7000) -> list[list]:
    from comparisons.analyses.behaviour import ipis_from_events
    from comparisons.analyses.sequences import elapsed_time_decoding
    from comparisons.recording import record

    rec = record(run_dir, episodes=episodes, seed=seed, deterministic=False)
    ipis = ipis_from_events(rec.events)
    circuit = rec.provenance["circuit"]
    rows = []
    from comparisons.recording import Recording

    kin = np.concatenate([k.reshape(k.shape[0], k.shape[1], -1) for k in rec.kinematics.values()], axis=2)
    body = Recording(kin, rec.sampling_rate_hz, [{"population": "kinematics", "region": "body", "sign": 0,
                                                   "cell_type": "-", "kind": "rate"}] * kin.shape[2], events=rec.events)
    for population, source in [(None, rec), *[(p, rec) for p in rec.populations()], ("kinematics (reference)", body)]:
        try:
            d = elapsed_time_decoding(source, "trial_start", span_s=1.0,
                                      population=None if source is body else population)
        except ValueError as exc:
            rows.append([circuit, population or "all units", len(ipis), "-", "-", "-", "-", str(exc)])
            continue
        late = d["median_abs_error_by_100ms_s"][6:8]
        rows.append([circuit, population or "all units", len(ipis),
                     f"{np.median(ipis):.3f}" if len(ipis) else "-",
                     f"{np.mean(np.asarray(ipis) < 0.4):.2f}" if len(ipis) else "-",
                     f"{d['r2']:.2f}", f"{d['median_abs_error_s'] * 1000:.0f}",
                     f"{np.mean(late) * 1000:.0f}"])
    return rows


def interval_profile(run_dir: str, episodes: int, seed: int = 7100) -> list:
    """Value estimate and policy drift after each first press (see the module docstring)."""
    from training.rollout import rollout
    from training.run import Run

    run = Run(run_dir)
    agent, normalizer = run.agent("best")
    env = run.make_env(canonical=True)
    try:
        eps = rollout(agent, normalizer, env, episodes, seed, deterministic=False)
    finally:
        env.close()
    dt = env.unwrapped.control_dt
    marks = (0.0, 0.1, 0.35, 0.7)
    values, drift = {m: [] for m in marks}, {m: [] for m in marks}
    for e in eps:
        means = np.array(e.action_means)  # [steps, act]
        for r in e.records:
            t0 = r.get("first_press_s")
            if t0 is None or not np.isfinite(t0):
                continue
            idx = {m: int(round((t0 + m) / dt)) for m in marks}
            if idx[0.7] >= len(e.values):
                continue
            for m in marks:
                values[m].append(e.values[idx[m]])
                drift[m].append(float(np.abs(means[idx[m]] - means[idx[0.1]]).mean()))
    n = len(values[0.0])
    fmt = lambda xs: f"{np.mean(xs):.3f}" if xs else "-"  # noqa: E731
    return [run.circuit_name, n, fmt(values[0.0]), fmt(values[0.35]), fmt(values[0.7]), fmt(drift[0.35]),
            fmt(drift[0.7])]


def rhythm(run_dir: str, episodes: int, seed: int = 7000) -> list:
    from comparisons.analyses.behaviour import press_rhythm
    from comparisons.recording import record

    rec = record(run_dir, episodes=episodes, seed=seed, deterministic=False)
    r = press_rhythm(rec.events)
    return [rec.provenance["circuit"], r["n"], f"{r['iti_press_share']:.2f}", f"{r['interval_median_s']:.3f}",
            f"{r['interval_cv']:.2f}", f"{r['ipi_median_s']:.3f}", f"{r['post_trial_median_s']:.3f}",
            f"{r['post_trial_over_ipi']:.2f}"]


def freeze_test(run_dir: str, episodes: int, freeze_at_s: float = 0.2, holds_s=(0.1, 0.2, 0.3),
                seed: int = 7200) -> list[list]:
    """Per hold duration: median IPI of unperturbed and motor-held trials (the same episode seeds, policy noise
    on; see the module docstring), the shift, the shift as a fraction of the hold, and the median time from
    the hold's release to the second press. A clock in the body restarts the interval's remaining movement
    at release: shift ~ hold, release-to-press constant whatever the hold. A clock in the circuit keeps
    running: no shift while the press can still be made on time, and release-to-press shrinking with the
    hold down to the time the movement needs."""
    from training.rollout import rollout
    from training.run import Run

    run = Run(run_dir)
    agent, normalizer = run.agent("best")
    env = run.make_env(canonical=True)
    ipis: dict = {hold: [] for hold in (0.0, *holds_s)}
    try:
        for hold in ipis:
            trial = {"first_press": None, "held": None, "last": None}

            def perturb(ep, step, action, hold=hold, trial=trial):
                t, first = env.unwrapped.t_s, trial["first_press"]
                if hold and first is not None and freeze_at_s <= t - first < freeze_at_s + hold:
                    if trial["held"] is None:  # the command applied just before the hold
                        trial["held"] = trial["last"]
                    action = trial["held"]
                else:
                    trial["held"] = None
                trial["last"] = action.clamp(-1, 1)
                return action

            def on_step(ep, step, activity, info, hold=hold, trial=trial):
                for name, when in info["events"]:
                    if name == "trial_start":
                        trial["first_press"] = when
                    elif name in ("trial_end", "timeout"):
                        trial["first_press"] = None
                ipis[hold].extend(r["ipi_s"] for r in info.get("records", [])
                                  if r.get("ipi_s") is not None and np.isfinite(r["ipi_s"]))

            rollout(agent, normalizer, env, episodes, seed, deterministic=False, on_step=on_step, perturb=perturb)
    finally:
        env.close()
    control = float(np.median(ipis[0.0]))
    rows = []
    for hold in holds_s:
        held_ipis = np.asarray(ipis[hold])
        perturbed = float(np.median(held_ipis))
        after = held_ipis[held_ipis > freeze_at_s + hold] - (freeze_at_s + hold)
        rows.append([run.circuit_name, f"{hold:g}", len(ipis[0.0]), f"{control:.3f}", len(held_ipis), f"{perturbed:.3f}",
                     f"{(perturbed - control) * 1000:+.0f}", f"{(perturbed - control) / hold:.2f}",
                     f"{np.median(after):.3f}" if len(after) else "-"])
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", nargs="+", required=True, help="trained lever_timing run directories")
    ap.add_argument("--episodes", type=int, default=10)
    ap.add_argument("--freeze-at-s", type=float, default=0.2, help="freeze onset after each first press (s)")
    ap.add_argument("--holds-s", type=float, nargs="+", default=[0.1, 0.2, 0.3],
                    help="how long the motor command is held (s), one perturbed set of episodes each")
    args = ap.parse_args(argv)
    from benchmarks import common

    common.REPORT_NAME = "timing_diagnosis"
    header("Timing diagnosis on lever_timing: presses, and elapsed time since the first press decoded from activity")
    rows = [row for run in args.runs for row in diagnose(run, args.episodes)]
    table(["circuit", "population", "two-press trials", "median IPI s", "taps (IPI < 0.4 s)",
           "elapsed-time R^2 (held out)", "median error ms", "error at 0.6-0.8 s, ms"], rows)
    header("Through the interval: the critic's value and the policy's drift after each first press")
    table(["circuit", "first presses", "value at 0 s", "value at 0.35 s", "value at 0.7 s",
           "policy drift at 0.35 s", "policy drift at 0.7 s"],
          [interval_profile(run, args.episodes) for run in args.runs])
    header("Rhythm: presses through the inter-trial interval")
    table(["circuit", "presses", "ITI-press share", "median interval between presses s", "interval CV",
           "median IPI s", "trial end to next press s", "that / IPI"], [rhythm(run, args.episodes) for run in args.runs])
    header(f"Where the clock is: the motor command held from {args.freeze_at_s:g} s after each first press")
    table(["circuit", "hold s", "control trials", "control median IPI s", "held trials", "held median IPI s",
           "shift ms", "shift / hold", "release to second press s"],
          [row for run in args.runs for row in freeze_test(run, args.episodes, args.freeze_at_s, args.holds_s)])


if __name__ == "__main__":
    main()
