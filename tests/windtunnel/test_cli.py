"""The `windtunnel` command: every subcommand answers --help, hydra's flags work, the command starts
fast and imports only what it runs, tasks are gymnasium environments, render shows a task's scene."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from windtunnel.cli import COMMANDS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "body"))
from test_body import needs_gl  # noqa: E402


def cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "windtunnel", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_answers_help_with_its_options_and_an_example(name, tmp_path):
    p = cli(name, "--help", cwd=tmp_path)
    assert p.returncode == 0 and p.stderr == ""
    assert p.stdout.startswith(f"usage: windtunnel {name}") and f"  windtunnel {name}" in p.stdout  # an example
    for option in COMMANDS[name].options:
        assert f"  {option.name}=" in p.stdout
    if COMMANDS[name].hydra:
        assert "circuit    cerebellar_loop, dale_rnn, lstm, m1_bg, m1_bg_subcortical, mlp, spiking_m1, spiking_m1_alif" in p.stdout and "--cfg job" in p.stdout
    assert not list(tmp_path.iterdir())  # nothing written


def test_the_top_level_help_lists_every_command_and_answers_fast(tmp_path):
    start = time.perf_counter()
    p = cli("--help", cwd=tmp_path)
    assert p.returncode == 0 and all(f"  {name}" in p.stdout for name in COMMANDS)
    assert time.perf_counter() - start < 5.0  # a fraction of a second in practice; the bound tolerates a busy machine
    assert cli(cwd=tmp_path).returncode == 2  # no command: usage, status 2
    p = cli("fly", cwd=tmp_path)
    assert p.returncode == 2 and "unknown command 'fly'; valid: info, render, train" in p.stderr


def imported_by(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", f"import sys; {code}; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True).stdout
    return {m.split(".")[0] for m in out.split()}


def test_help_imports_nothing_heavy_and_train_nothing_of_comparisons():
    light = imported_by("from windtunnel.cli import main_help, command_help, COMMANDS; main_help(); "
                        "command_help(COMMANDS['evaluate'])")
    assert not light & {"torch", "mujoco", "hydra", "pynwb", "comparisons", "snntorch", "matplotlib"}
    train = imported_by("import windtunnel.train, training.ppo, training.rollout")
    assert "comparisons" not in train and "pynwb" not in train and "matplotlib" not in train


def test_train_cfg_job_prints_the_composed_config_and_runs_nothing(tmp_path):
    p = cli("train", "circuit=m1_bg", "task=reach", "training.total_steps=5000", "--cfg", "job", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "name: m1_bg" in p.stdout and "total_steps: 5000" in p.stdout and "spinal:" in p.stdout
    assert not (tmp_path / "runs").exists()
    p = cli("train", "--info", cwd=tmp_path)
    assert p.returncode == 0 and "Config search path" in p.stdout
    p = cli("train", "circuit=transformer", "--cfg", "job", cwd=tmp_path)
    assert p.returncode == 2 and "unknown circuit 'transformer'" in p.stderr
    p = cli("train", "--fly", cwd=tmp_path)
    assert p.returncode == 2 and "unknown flag '--fly'" in p.stderr


@pytest.mark.parametrize("args,message", [
    (["evaluate", "nowhere"], "run dir nowhere does not exist"),
    (["evaluate"], "run is required"),
    (["evaluate", "run=nowhere", "deterministic=maybe"], "deterministic must be true or false, got 'maybe'"),
    (["evaluate", "nowhere", "episodes=0"], "episodes must be a whole number >= 1, got '0'"),
    (["evaluate", "nowhere", "checkpoint=worst"], "unknown checkpoint 'worst'; valid: best, last"),
    (["record", "nowhere", "episods=4"], "unknown option 'episods'; valid: run, episodes"),
    (["lesion", "nowhere", "nowhere"], "argument 'nowhere' is not of the form key=value"),
])
def test_run_commands_check_every_option_in_one_line(args, message, tmp_path):
    p = cli(*args, cwd=tmp_path)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and message in p.stderr, p.stderr
    assert not list(tmp_path.iterdir())


def test_every_task_is_a_registered_gymnasium_environment():
    import gymnasium

    import tasks

    for name in tasks.names():
        gid = tasks.gym_id(name)
        assert gid.startswith("windtunnel/") and gid.endswith("-v0")
        env = gymnasium.make(gid)
        try:
            assert env.spec.id == gid and env.unwrapped.name == name
        finally:
            env.close()
        direct = tasks.make(name)
        assert direct.spec.id == gid
        direct.close()
    env = gymnasium.make("windtunnel/LeverTiming-v0", target_ipi_s=0.5)
    assert env.unwrapped.target_ipi_s == 0.5 and env.spec.kwargs == {"target_ipi_s": 0.5}
    env.close()


def test_vision_alone_adds_the_camera_block():
    import tasks

    env = tasks.make("reach", body_options={"vision": True})
    try:
        assert "egocentric_camera" in env.observation_layout()
        assert env.observation_space.shape[0] == tasks.make("reach").observation_space.shape[0] + 64 * 64 * 3
    finally:
        env.close()


@needs_gl
def test_render_with_a_task_renders_that_tasks_scene(tmp_path):
    p = cli("render", "task=lever_timing", "render.seconds=0.2", f"render.out_dir={tmp_path}", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "lever_timing_closeup.mp4").stat().st_size > 1000  # the task's own camera, on its lever
    assert (tmp_path / "lever_timing_closeup.png").exists()
