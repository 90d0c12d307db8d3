"""The `windtunnel` command: `windtunnel <command> [--help] [key=value ...]`.

One argument style everywhere: `key=value`. The commands that build something from the config tree
(`info`, `render`, `train`) take hydra overrides (`circuit=m1_bg training.total_steps=1e5`, and hydra's
own `--cfg job`, `--info`, `-m`); the commands that work on a trained run take the run directory first
(or as `run=...`) and their options as `key=value`. Bad input prints one line naming what was wrong and
what is valid, and exits with status 2, before anything is written.

This module imports nothing heavy: `windtunnel --help` answers at once, and each command imports only
what it runs (`train` never imports `comparisons`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from windtunnel.config import Option, UsageError

HYDRA_FLAGS = "--cfg job|hydra|all (print the composed config, run nothing), --info (hydra's search path), " \
              "-m (a sweep: comma-separated values)"


@dataclass(frozen=True)
class Command:
    name: str
    summary: str
    usage: str
    examples: tuple[str, ...]
    options: tuple[Option, ...] = ()  # commands on runs; config commands take hydra overrides instead
    positional: str | None = None
    hydra: bool = False
    notes: tuple[str, ...] = field(default=())


RUN = Option("run", "path", None, "the run directory", required=True)
CHECKPOINT = Option("checkpoint", "choice", "best", "which checkpoint of the run", choices=("best", "last"))
LESION = Option("lesion", "list", [], "populations or regions to silence, e.g. [M1] or [core]")


def episodes(default: int, what: str) -> Option:
    return Option("episodes", "int", default, what, minimum=1)


def seed(default: int) -> Option:
    return Option("seed", "int", default, "seed of the first episode (episode k: seed + k)", minimum=0)

COMMANDS: dict[str, Command] = {c.name: c for c in (
    Command("info", "versions, body variants, tasks (with their experiments) and circuits", "windtunnel info",
            ("windtunnel info",), hydra=True),
    Command("render", "a video and a still of the rat, or of a task's scene (task=...), under random or zero control",
            "windtunnel render [task=<task>] [body=<variant>] [render.<key>=...] [command.<key>=...] [overrides]",
            ("windtunnel render body=free render.seconds=3",
             "windtunnel render task=reach render.control=zero",
             "windtunnel render body=free body.spinal.enabled=true command.speed=0.4   # the rat trotting on command"),
            hydra=True),
    Command("train", "train a circuit on a task with recurrent PPO; one run directory per run",
            "windtunnel train [circuit=<circuit>] [task=<task>] [seed=N] [training.<key>=...] [overrides]",
            ("windtunnel train circuit=dale_rnn task=lever_timing seed=3 training.total_steps=300000",
             "windtunnel train circuit=lstm task=reach --cfg job            # the composed config, nothing run",
             "windtunnel train -m circuit=lstm,dale_rnn seed=0,1,2          # a sweep (hydra multirun)",
             "windtunnel train circuit=lstm task=reach resume=true           # continue runs/reach/lstm/seed0"),
            hydra=True),
    Command("study", "a whole study: circuits x tasks x seeds trained, evaluated, lesioned, scored and shipped as a zoo",
            "windtunnel study study=<name> [study.<key>=...] [stages=[train,evaluate,lesion,zoo,compare]]",
            ("windtunnel study study=lab_ladder",
             "windtunnel study study=lab_ladder stages=[compare]                 # only some stages",
             "windtunnel study study=lab_ladder study.launcher=submitit_slurm    # training jobs on a cluster"),
            hydra=True),
    Command("evaluate", "run a trained circuit on its canonical task and score its behaviour",
            "windtunnel evaluate <run_dir> [key=value ...]",
            ("windtunnel evaluate runs/reach/lstm/seed0 episodes=50",
             "windtunnel evaluate runs/lever_timing/lstm/seed0 lesion=[core] deterministic=false video=true"),
            options=(
                RUN, episodes(10, "episodes (trials or sessions) to run"),
                Option("deterministic", "bool", True, "act on the policy's mean (false: sample its noise)"),
                Option("video", "bool", False, "also write an MP4 of the first episode"),
                CHECKPOINT, seed(1000), LESION,
                Option("canonical", "bool", True, "the canonical task (training aids off)"),
                Option("out", "path", None, "output folder (default <run_dir>/eval)"),
                Option("wall_stop", "bool", None, "the spinal layer's wall stop on or off (default: as trained)"),
            ), positional="run"),
    Command("record", "record every unit and the behaviour of a trained circuit (NWB), and analyse it",
            "windtunnel record <run_dir> [key=value ...]",
            ("windtunnel record runs/reach/lstm/seed0 episodes=20",
             "windtunnel record runs/lever_timing/m1_bg/seed0 lesion=[striatum_D1,striatum_D2]"),
            options=(
                RUN, episodes(10, "trials to record (one per episode)"),
                Option("task", "str", None, "the task (must be the run's own: lab tasks differ in sizes)"),
                CHECKPOINT, seed(2000), LESION,
                Option("deterministic", "bool", True, "act on the policy's mean"),
                Option("analyse", "bool", True, "run every applicable analysis and write figures"),
                Option("out", "path", None, "output folder (default <run_dir>/recordings)"),
            ), positional="run"),
    Command("lesion", "Kawai et al. 2015's experiment: silence populations after learning, or from the start",
            "windtunnel lesion <run_dir> populations=[...] [key=value ...]",
            ("windtunnel lesion runs/lever_timing/lstm/seed0 populations=[core]",
             "windtunnel lesion runs/lever_timing/m1_bg/seed0 populations=[M1] before_learning=true"),
            options=(
                RUN,
                Option("populations", "list", None, "populations or regions to silence, e.g. [M1] (required)"),
                Option("before_learning", "bool", False, "train a sibling run lesioned from the first step"),
                episodes(20, "canonical episodes per condition"), seed(3000),
                Option("total_steps", "int", None, "the sibling's training budget (default: the run's)", minimum=1),
                CHECKPOINT,
            ), positional="run"),
    Command("circuit", "show a circuit spec: populations, projections with signs and densities, parameters, "
            "and its wiring diagram", "windtunnel circuit show <name|spec.yaml> [key=value ...]",
            ("windtunnel circuit show m1_bg",
             "windtunnel circuit show my_circuits/cerebellar_loop.yaml out=cerebellum.png"),
            options=(
                Option("spec", "str", None, "a built-in circuit's name or a spec file (.yaml)", required=True),
                Option("obs_dim", "int", 31, "observation size the parameters are counted at (31: the lever task)",
                       minimum=1),
                Option("act_dim", "int", 8, "action size (8: the forelimb)", minimum=1),
                Option("out", "path", None, "the wiring diagram's PNG (default circuit_<name>.png)"),
                Option("draw", "bool", True, "draw the wiring diagram"),
            ), positional="spec"),
    Command("compare", "record runs, score them against the rodent benchmarks and each other; one HTML report",
            "windtunnel compare runs=[<run_dir>,...] [key=value ...]",
            ("windtunnel compare runs=[runs/lever_timing/lstm/seed0,runs/lever_timing/dale_rnn/seed0] out=compare",
             "windtunnel compare study=lab_ladder runs=[runs/lever_timing/lstm/seed0]   # beside the shipped zoo"),
            options=(
                Option("runs", "list", [], "run directories or zoo: entries (seeds of one circuit are pooled)"),
                Option("study", "str", None, "also every zoo entry of this shipped study (e.g. lab_ladder)"),
                Option("subjects", "list", [], "NWB recordings (e.g. a lab's rodent data) to compare with"),
                episodes(10, "episodes recorded per run (the policy's noise on: independent trials)"), seed(2000),
                Option("out", "path", "compare", "output folder"),
                Option("benchmarks", "list", None, "only these benchmarks (default: every one)"),
                Option("jobs", "int", None, "runs recorded at once (default: one per available core; the "
                       "recordings are the same at any value)", minimum=1),
            )),
)}


def command_help(cmd: Command) -> str:
    lines = [f"usage: {cmd.usage}", "", cmd.summary[0].upper() + cmd.summary[1:] + ".", ""]
    if cmd.hydra:
        from windtunnel.config import config_groups

        lines.append("config groups (choose one option each, e.g. circuit=m1_bg):")
        for group, options in config_groups().items():
            lines.append(f"  {group:<10} {', '.join(options)}")
        lines += ["", "any key of the composed config can be set, e.g. training.total_steps=200000, body.vision=true;",
                  "see every key and its value with: windtunnel train --cfg job [overrides]",
                  f"hydra flags: {HYDRA_FLAGS}"]
    else:
        lines.append("options:")
        for o in cmd.options:
            default = " (required)" if o.required else f" (default {_show(o.default)})" if o.default is not None else ""
            lines.append(f"  {o.name + '=':<17}{o.describe():<26}{o.help}{default}")
        if cmd.positional:
            lines.append(f"  the {cmd.positional} may also come first without its key")
    lines += ["", "examples:"] + [f"  {e}" for e in cmd.examples]
    return "\n".join(lines)


def _show(value) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ",".join(value) + "]"
    return str(value)


def main_help() -> str:
    width = max(len(n) for n in COMMANDS)
    lines = ["usage: windtunnel <command> [--help] [key=value ...]", "",
             "A wind tunnel for motor circuits: the virtual rodent, rodent lab tasks, brain circuits of rising",
             "biological realism, and comparison against rodent data.", "", "commands:"]
    lines += [f"  {n:<{width}}  {c.summary}" for n, c in COMMANDS.items()]
    lines += ["", "windtunnel <command> --help lists a command's options with an example."]
    return "\n".join(lines)


def fail(message: str) -> int:
    print(f"windtunnel: error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(main_help())
        return 0 if argv else 2
    name, args = argv[0], argv[1:]
    if name not in COMMANDS:
        return fail(f"unknown command {name!r}; valid: {', '.join(COMMANDS)}")
    cmd = COMMANDS[name]
    if name == "circuit" and args and args[0] not in ("-h", "--help"):
        if args[0] != "show":
            return fail(f"unknown circuit subcommand {args[0]!r}; valid: show (windtunnel circuit show <name|spec.yaml>)")
        args = args[1:]
    if "-h" in args or "--help" in args:
        print(command_help(cmd))
        return 0
    from windtunnel import commands

    try:
        if cmd.hydra:
            return getattr(commands, name)(args) or 0
        from windtunnel.config import parse_options

        return getattr(commands, name)(parse_options(args, list(cmd.options), cmd.positional)) or 0
    except (UsageError, ValueError, FileNotFoundError) as exc:
        return fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)


def entry() -> int:
    """The console script: `main`, quiet when its output is piped into a program that stops reading (head)."""
    try:
        return main()
    except BrokenPipeError:
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(entry())
