"""What each `windtunnel` command does (`windtunnel.cli` parses and dispatches; see its --help texts).

Config commands (`info`, `render`, `train`) get the raw override list; run commands (`evaluate`,
`record`, `lesion`, `compare`) get their checked options. Each says where it wrote what.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from windtunnel.config import UsageError, compose, instantiate


def _say(message: str) -> None:
    print(message, flush=True)


# ----------------------------------------------------------------------------------- config commands
def info(overrides: list[str]) -> None:
    import body
    import body.render

    compose(overrides)  # validates overrides even though info shows every variant
    _say(f"windtunnel {_version('windtunnel')}")
    for pkg in ("torch", "mujoco", "dm-control", "snntorch", "gymnasium", "hydra-core", "numpy", "pynwb"):
        _say(f"  {pkg:<11} {_version(pkg)}")
    _say(f"  GL backend  {body.render.gl_backend()}")
    _say(f"  rat asset   {body.rodent_xml_path()}")
    from windtunnel.config import CONF_DIR

    _say(f"  config tree {CONF_DIR}")
    _say("")
    _say("Body variants")
    _say(f"  {'variant':<11}{'bodies':>7}{'joints':>7}{'dofs':>6}{'actuators':>10}{'sensors':>8}{'mass kg':>9}  "
         "observation blocks")
    for variant in body.VARIANTS:
        d = body.build(variant).describe()
        blocks = ", ".join(f"{k} {v}" for k, v in d["observation_blocks"].items())
        _say(f"  {variant:<11}{d['bodies']:>7}{d['joints']:>7}{d['dofs']:>6}{d['actuators']:>10}{d['sensors']:>8}"
             f"{d['mass_kg']:>9.4f}  {blocks}")
    _print_tasks()
    _print_circuits()


def _print_tasks() -> None:
    import tasks

    _say("")
    _say("Tasks (gymnasium ids in brackets)")
    for name in tasks.names():
        cls = tasks.task_class(name)
        env = tasks.make(name)
        _say(f"  {name:<13} body {env.rat.variant:<10} obs {env.observation_space.shape[0]:>4}  act "
             f"{env.action_space.shape[0]:>3}  control {env.control_dt * 1000:g} ms / physics {env.physics_dt * 1000:g} ms"
             f"  [{tasks.gym_id(name)}]")
        _say(f"  {'':<13} {cls.experiment.name} ({cls.experiment.short_citation}, doi:{cls.experiment.doi})")
        env.close()


def _print_circuits(obs_dim: int = 31, act_dim: int = 8) -> None:
    import circuits

    _say("")
    _say(f"Circuits (parameters at obs {obs_dim}, act {act_dim}: the lever task on the forelimb)")
    width = max(len(n) for n in circuits.names())
    for name in circuits.names():
        c = circuits.make(name, obs_dim, act_dim)
        pops = ", ".join(f"{p.name}[{p.size}{'' if p.sign == 0 else ('E' if p.sign > 0 else 'I')}"
                         f"{',spk' if p.kind == 'spike' else ''}]" for p in c.populations)
        _say(f"  {name:<{width}} {c.num_parameters():>8,} params  readout {'+'.join(c.readout):<15} {pops}")


def render(overrides: list[str]) -> None:
    """The body alone (`body=<variant>`), or with `task=<task>` on the command line that task's scene."""
    cfg = compose(overrides)
    r = cfg.render
    if any(o.split("=", 1)[0] == "task" for o in overrides):
        from body.render import render_task
        from training.config import make_task

        env = make_task(cfg)
        camera = r.camera if any(o.startswith("render.camera=") for o in overrides) else env.render_camera
        out = render_task(env, out_dir=r.out_dir, seconds=r.seconds, control=r.control, camera=camera,
                          width=r.width, height=r.height, seed=cfg.seed)
    else:
        from body.render import render_rollout

        rat = instantiate(cfg.body)
        command = (float(cfg.command.speed), float(cfg.command.turn), float(cfg.command.rear)) if rat.spinal else None
        out = render_rollout(rat, out_dir=r.out_dir, seconds=r.seconds, control=r.control, camera=r.camera,
                             width=r.width, height=r.height, fps=r.fps, seed=cfg.seed, command=command)
    _say(f"wrote {out['video']} ({out['frames']} frames) and {out['still']}")


def train(args: list[str]) -> int:
    from windtunnel.train import train_main

    return train_main(args)


def circuit(o: dict) -> None:
    """`windtunnel circuit show`: a spec's summary, and its wiring diagram as a PNG."""
    import circuits
    from circuits.diagram import draw, summary

    c = circuits.make(o["spec"], o["obs_dim"], o["act_dim"])
    out = Path(o["out"] or f"circuit_{c.spec.name}.png")
    if o["draw"]:
        from windtunnel.schema import check_writable

        check_writable(out.parent)
    _say(summary(c))
    if o["draw"]:
        _say(f"wrote {draw(c, out)} (the wiring diagram)")


def study(args: list[str]) -> int:
    from windtunnel.study import study_main

    return study_main(args)


# -------------------------------------------------------------------------------------- run commands
def evaluate(o: dict) -> None:
    from training.rollout import evaluate as run_evaluation
    from training.run import Run

    from windtunnel.schema import check_writable

    run = Run(o.pop("run"))
    check_writable(Path(o["out"]) if o["out"] else run.out_dir / "eval")  # before a single episode runs
    result = run_evaluation(run, progress=True, **o)
    _say(f"{result['circuit']} on {result['task']} ({'canonical' if result['canonical'] else 'as trained'}, "
         f"{result['episodes']} episodes, {'deterministic' if result['deterministic'] else 'stochastic'}"
         f"{', lesioned ' + ','.join(result['lesioned']) if result['lesioned'] else ''})")
    for k, v in result["metrics"].items():
        _say(f"  {k:<28} {v:.4g}" if isinstance(v, float) else f"  {k:<28} {v}")
    _say(f"  {'mean_return':<28} {result['mean_return']:.4g}")
    _say(f"wrote {result['path']}" + (f" and {result['video']}" if "video" in result else ""))


def record(o: dict) -> None:
    from comparisons.nwb import write_nwb
    from comparisons.recording import record as record_run
    from comparisons.summary import analyse_recording
    from training.files import atomic_write_json
    from training.run import Run

    from windtunnel.schema import check_writable

    run = Run(o["run"])
    check_writable(Path(o["out"]) if o["out"] else run.out_dir / "recordings")  # before a single episode runs
    rec = record_run(run, episodes=o["episodes"], task=o["task"], checkpoint=o["checkpoint"], seed=o["seed"],
                     deterministic=o["deterministic"], lesion=o["lesion"], progress=True)
    tag = "lesion-" + "-".join(rec.provenance["lesioned"]) if rec.provenance["lesioned"] else "intact"
    out_dir = Path(o["out"]) if o["out"] else run.out_dir / "recordings"
    path = write_nwb(rec, out_dir / f"{tag}.nwb", session_description=f"{rec.provenance['circuit']} on "
                                                                     f"{rec.provenance['task']}")
    _say(f"recorded {rec.n_units} units x {rec.n_trials} trials at {rec.sampling_rate_hz:g} Hz -> {path}")
    if o["analyse"]:
        results = analyse_recording(rec, out_dir / f"{tag}_figures")
        atomic_write_json(out_dir / f"{tag}_analyses.json", results)
        pr = results["participation_ratio"]
        _say(f"participation ratio {pr:.2f}" if pr is not None else f"participation ratio: {results['participation_ratio_error']}")
        _say("timescales (s, pooled autocorrelation): "
             + ", ".join(f"{p} {v['population']:.3f}" if v["population"] else f"{p} -"
                         for p, v in results["timescales_s"].items()))
        _say(f"wrote {out_dir / (tag + '_analyses.json')} and figures in {out_dir / (tag + '_figures')}")


def lesion(o: dict) -> None:
    from comparisons.lesion import lesion_after_learning, lesion_before_learning
    from training.run import Run

    from windtunnel.schema import check_writable

    run = Run(o["run"])
    check_writable(run.out_dir / "lesions")
    pops = o["populations"]
    agent, _ = run.agent(o["checkpoint"])
    if not pops:
        valid = sorted({p.name for p in agent.circuit.populations} | {p.region for p in agent.circuit.populations
                                                                        if p.region != "none"})
        raise UsageError(f"name the populations or regions to silence, e.g. populations=[{valid[0]}]; valid: "
                         f"{', '.join(valid)}")
    agent.circuit.lesion(pops)  # validates the names (one-line error listing the valid ones)
    if o["before_learning"]:
        r = lesion_before_learning(run, pops, episodes=o["episodes"], seed=o["seed"], total_steps=o["total_steps"],
                                   progress=True)
    else:
        r = lesion_after_learning(run, pops, episodes=o["episodes"], seed=o["seed"], checkpoint=o["checkpoint"],
                                  progress=True)
    crit = r["criterion"]
    _say(f"{r['kind'].replace('_', ' ')} lesion of {', '.join(pops)} ({o['episodes']} canonical episodes)")
    for label in ("intact", "lesioned"):
        b = r[label]
        if b is None:
            _say(f"  {label:<9} not trained: nothing upstream of the actor could learn (see the note)")
            continue
        ipi = f"  IPI median {b['ipi_median_s']:.3f} s (n={b['ipi_n']})" if b.get("ipi_median_s") else ""
        _say(f"  {label:<9} {crit} {b['metrics'].get(crit, float('nan')):.3f}{ipi}")
    _say(f"outcome: {r['outcome']}; rodents (Kawai et al. 2015): {r['rodent_outcome'] or 'n/a'} -> {r['verdict']}")
    if r["note"]:
        _say(f"note: {r['note']}")
    _say(f"wrote {r['path']}")


def compare(o: dict) -> None:
    from comparisons.report import compare as run_comparison
    from training.run import Run

    from windtunnel.schema import check_writable

    refs = list(o["runs"])
    if o["study"]:
        from training.zoo import entries

        refs += entries(o["study"])
    if not refs and not o["subjects"]:
        raise UsageError("compare needs runs=[...], study=<shipped study> or subjects=[...]")
    runs = [Run(r) for r in refs]  # each checked before anything runs
    check_writable(Path(o["out"]))
    for p in o["subjects"]:
        if not Path(p).is_file():
            raise UsageError(f"subject recording {p} does not exist (give NWB files)")
    result = run_comparison(runs=[r.zoo_ref or str(r.path) for r in runs], subjects=o["subjects"], out_dir=o["out"],
                            episodes=o["episodes"], seed=o["seed"], benchmarks=o["benchmarks"], progress=True,
                            jobs=o["jobs"])
    from comparisons.report import verdict_word

    for s in result["scores"]:
        if s.applicable:
            ci = f"[{s.ci95[0]:.3g}, {s.ci95[1]:.3g}]" if s.n >= 2 else "[no interval]"
            _say(f"  {s.benchmark:<38} {s.model:<22} {s.value:>9.4g} {ci:<20} n={s.n} {s.units:<10} "
                 f"vs {s.species or '?'}: {verdict_word(s)}")
        else:
            _say(f"  {s.benchmark:<38} {s.model:<22} n/a ({s.reason})")
    _say(f"wrote {result['report']} and {result['scores_json']}")


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"

