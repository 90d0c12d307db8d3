"""Why the spinal layer's fast trot keeps its hind feet down over half the cycle: the build, not the pattern.

    python -m benchmarks.spinal_mass [--grams 0,10,20,30,40,50] [--speeds 0.3,0.4,0.5,0.6] [--seeds 6] [--seconds 8]

dm_control's rat carries 43 % of its mass in the pelvis; its centre of mass lies 2.9 cm ahead of the hips and 6.2 cm
behind the shoulders, so with each foot under its girdle its forelimbs would bear 0.32 of its weight, where a trotting
rat's bear 0.56 (Giszter et al. 2008). Trotting dogs loaded at the pelvic girdle keep their hind feet down longer
(Lee et al. 2004, J Exp Biol 207:1715). This script tests whether the build is what keeps the layer's hind feet down:
it moves some grams of the pelvis's mass to the torso (the same total mass, the pelvis's and the torso's inertia
scaled with their mass; `move_trunk_mass`) and drives that body with the shipped layer, unchanged and not re-tuned,
at the trot's speeds. For each mass moved: the forelimbs' share of the weight with the feet under the girdles
(statics, standing), and at each commanded speed over seeded 8 s walks (statistics after 2 s; means over the walks that
stayed up):
speed / command, the fraction of the time the hind and the fore feet are down (from contacts every 2 ms,
`comparisons.analyses.gait`), the forelimbs' and the hindlimbs' shares of the vertical ground reaction force, the
hindlimbs' share over the time their feet are down (how hard they press while down: constant if the feet stay down as
long as their share of the weight needs), the walks whose contacts show a trot, and the walks that fell.
A diagnosis, not a body option: the shipped body is dm_control's rat as it is.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp

import numpy as np

from benchmarks.common import header, table

SETTLE_S = 2.0


def move_trunk_mass(model, kg: float):
    """Move `kg` of mass from the pelvis body to the torso body of a compiled rat model, in place: the total mass
    stays, each body keeps its centre of mass, and its inertia is scaled with its mass. Returns the model."""
    pelvis, torso = model.body("pelvis").id, model.body("torso").id
    if not 0.0 <= kg < model.body_mass[pelvis]:
        raise ValueError(f"trunk mass to move must be in [0, {model.body_mass[pelvis]:.4f}) kg (the pelvis's mass); got {kg}")
    for b, change in ((pelvis, -kg), (torso, kg)):
        ratio = (model.body_mass[b] + change) / model.body_mass[b]
        model.body_mass[b] *= ratio
        model.body_inertia[b] *= ratio
    return model


def _model(grams: float):
    import body

    return move_trunk_mass(body.build("free").model, grams / 1000.0)


def fore_share_feet_under_girdles(model) -> float:
    """The forelimbs' share of the weight if each foot stood under its girdle (statics), standing."""
    import mujoco

    from benchmarks.spinal import _GirdleRecorder
    from body import spinal

    data = mujoco.MjData(model)
    spinal.spawn_standing(model, data, spinal.standing_controls(model))
    recorder = _GirdleRecorder(model)
    recorder(data)
    return recorder.summary(start_s=-1.0)["fore_share"]


def _walk(args):
    grams, speed, seed, seconds = args
    from body import spinal
    from comparisons.analyses.gait import gait_name, gait_statistics

    w = spinal.walk(_model(grams), spinal.Command(speed, 0.0), seconds, seed=seed)
    fine = w.contact_t_s > SETTLE_S
    g = gait_statistics(w.contact_foot_down[fine], w.contact_t_s[fine])
    load = spinal.load_shares(w.vertical_load_n[w.t_s > SETTLE_S])
    return {"grams": grams, "speed": speed, "ratio": w.mean_speed_m_s(SETTLE_S) / speed, "fell": w.fell_at_s is not None,
            "hind_down": g["hind_contact_fraction"], "fore_down": g["fore_contact_fraction"], "fore_load": load["fore"],
            "hind_load": load["hind"], "trot": gait_name(g["interlimb_phase"]) == "trot"}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="spinal layer on the rat with trunk mass moved forward")
    ap.add_argument("--grams", type=str, default="0,10,20,30,40,50", help="mass moved from the pelvis to the torso, g")
    ap.add_argument("--speeds", type=str, default="0.3,0.4,0.5,0.6", help="commanded forward speeds, m/s")
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    grams = [float(g) for g in args.grams.split(",")]
    speeds = [float(v) for v in args.speeds.split(",")]
    shares = {g: fore_share_feet_under_girdles(_model(g)) for g in grams}  # a bad --grams fails here, once
    header("Spinal layer on the rat with trunk mass moved from the pelvis to the torso (shipped layer, not re-tuned)")
    jobs = [(g, v, s, args.seconds) for g in grams for v in speeds for s in range(1, args.seeds + 1)]
    with mp.get_context("forkserver").Pool(args.workers) as pool:
        results = pool.map(_walk, jobs)
    unchanged = _model(0.0)
    pelvis_kg = float(unchanged.body_mass[unchanged.body("pelvis").id])
    total_kg = float(unchanged.body_subtreemass[1])
    print(f"The rat weighs {1000 * total_kg:.0f} g, {1000 * pelvis_kg:.0f} g of it in the pelvis. {args.seeds} seeded "
          f"{args.seconds:.0f} s walks per cell, means over those that stayed up\n(a trotting rat's forelimbs bear 0.56, "
          "Giszter et al. 2008; its running trot keeps the feet down under half the cycle, Gorska et al. 1999):")
    rows = []
    for g in grams:
        for v in speeds:
            cell = [r for r in results if r["grams"] == g and r["speed"] == v]
            up = [r for r in cell if not r["fell"]]
            mean = lambda key: float(np.nanmean([r[key] for r in up])) if up else float("nan")  # noqa: E731
            rows.append([round(g), round(100 * (pelvis_kg - g / 1000) / total_kg), shares[g], round(100 * v),
                         mean("ratio"), mean("hind_down"), mean("fore_down"), mean("fore_load"), mean("hind_load"),
                         mean("hind_load") / mean("hind_down"), f"{sum(r['trot'] for r in up)}/{len(up)}",
                         f"{sum(r['fell'] for r in cell)}/{len(cell)}"])
    table(["moved g", "pelvis % of mass", "forelimb share, feet under girdles", "command cm/s", "speed / command",
           "hind feet down", "fore feet down", "forelimb load", "hindlimb load", "hindlimb load / hind feet down",
           "trot (contacts)", "fell"], rows)


if __name__ == "__main__":
    main()
