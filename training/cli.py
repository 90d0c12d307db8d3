"""The `windtunnel` command: `windtunnel <subcommand> [hydra overrides ...]`.

Subcommands compose the hydra config tree in `conf/` with the given overrides (e.g.
`windtunnel render body=free render.camera=top`). Bad input prints one line naming what was wrong
and what is valid, and exits with status 2.
"""

from __future__ import annotations

import sys
from importlib import metadata

from training.config import UsageError, compose, instantiate



# ------------------------------------------------------------------------------- subcommands
def cmd_info(overrides: list[str]) -> None:
    import body
    import body.render

    compose(overrides)  # validates overrides even though info shows every variant
    print("windtunnel", _version("windtunnel"))
    for pkg in ("torch", "mujoco", "dm-control", "snntorch", "gymnasium", "hydra-core", "numpy", "pynwb"):
        print(f"  {pkg:<11} {_version(pkg)}")
    print(f"  GL backend  {body.render.gl_backend()}")
    print(f"  rat asset   {body.rodent_xml_path()}")
    print()
    print("Body variants")
    header = f"  {'variant':<11}{'bodies':>7}{'joints':>7}{'dofs':>6}{'actuators':>10}{'sensors':>8}{'mass kg':>9}  observation blocks"
    print(header)
    for variant in body.VARIANTS:
        d = body.build(variant).describe()
        blocks = ", ".join(f"{k} {v}" for k, v in d["observation_blocks"].items())
        print(f"  {variant:<11}{d['bodies']:>7}{d['joints']:>7}{d['dofs']:>6}{d['actuators']:>10}{d['sensors']:>8}"
              f"{d['mass_kg']:>9.4f}  {blocks}")
    _print_tasks()
    _print_circuits()


def _print_tasks() -> None:
    import tasks

    print()
    print("Tasks")
    for name in tasks.names():
        cls = tasks.task_class(name)
        env = tasks.make(name)
        print(f"  {name:<13} body {env.rat.variant:<10} obs {env.observation_space.shape[0]:>4}  act {env.action_space.shape[0]:>3}"
              f"  control {env.control_dt * 1000:g} ms / physics {env.physics_dt * 1000:g} ms")
        print(f"  {'':<13} {cls.experiment.name} ({cls.experiment.short_citation}, doi:{cls.experiment.doi})")
        env.close()


def _print_circuits(obs_dim: int = 31, act_dim: int = 8) -> None:
    import circuits

    print()
    print(f"Circuits (parameters at obs {obs_dim}, act {act_dim}: the lever task on the forelimb)")
    for name in circuits.names():
        c = circuits.make(name, obs_dim, act_dim)
        pops = ", ".join(f"{p.name}[{p.size}{'' if p.sign == 0 else ('E' if p.sign > 0 else 'I')}"
                         f"{',spk' if p.kind == 'spike' else ''}]" for p in c.populations)
        print(f"  {name:<11} {c.num_parameters():>8,} params  out {c.output_population:<7} {pops}")


def cmd_render(overrides: list[str]) -> None:
    from body.render import render_rollout

    cfg = compose(overrides)
    rat = instantiate(cfg.body)
    r = cfg.render
    command = (float(cfg.command.speed), float(cfg.command.turn), float(cfg.command.rear)) if rat.spinal else None
    out = render_rollout(rat, out_dir=r.out_dir, seconds=r.seconds, control=r.control, camera=r.camera,
                         width=r.width, height=r.height, fps=r.fps, seed=cfg.seed, command=command)
    print(f"wrote {out['video']} ({out['frames']} frames) and {out['still']}")


def cmd_train(overrides: list[str]) -> None:
    from training.app import train_main

    train_main(overrides)


def cmd_evaluate(args: list[str]) -> None:
    from training.app import evaluate_main

    evaluate_main(args)


COMMANDS = {"info": cmd_info, "render": cmd_render, "train": cmd_train, "evaluate": cmd_evaluate}


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def main(argv: list[str] | None = None, commands: dict | None = None) -> int:
    """Dispatch `windtunnel <command> ...`; `comparisons.cli` adds its commands to `COMMANDS`."""
    argv = sys.argv[1:] if argv is None else argv
    commands = COMMANDS if commands is None else commands
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(f"usage: windtunnel {{{','.join(commands)}}} [key=value ...]")
        return 0 if argv else 2
    command, overrides = argv[0], argv[1:]
    if command not in commands:
        print(f"windtunnel: error: unknown command {command!r}; valid: {', '.join(commands)}", file=sys.stderr)
        return 2
    try:
        commands[command](overrides)
    except (UsageError, ValueError, FileNotFoundError) as exc:
        print(f"windtunnel: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
