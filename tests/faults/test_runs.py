"""Fault injection on run directories: kills at every stage followed by resume, two writers, a stale lock,
unwritable and full output locations, wrong types in every config group, resume from the run itself.

Each test asserts what the user sees (exit status, one line) and that nothing earlier was lost.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from training.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[2]
TINY = ["task=reach", "circuit=mlp", "training.num_envs=2", "training.num_minibatches=1", "training.rollout_steps=8",
        "training.epochs=1", "training.num_workers=0", "training.checkpoint_every=1", "training.torch_threads=1"]


def cli(*args, cwd, timeout=240):
    return subprocess.run([sys.executable, "-m", "windtunnel", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": str(REPO)})


def start(*args, cwd):
    return subprocess.Popen([sys.executable, "-m", "windtunnel", *args], cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
                            start_new_session=True)


def wait_for(predicate, proc, seconds=120):
    deadline = time.time() + seconds
    while not predicate() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    return predicate()


def kill(proc):
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def metrics_updates(run_dir: Path) -> list[int]:
    with open(run_dir / "metrics.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0][0] == "update" and all(r[0] != "update" for r in rows[1:])  # one header
    return [int(r[0]) for r in rows[1:]]


def rows_so_far(run_dir: Path) -> int:
    path = run_dir / "metrics.csv"
    return max(0, len(path.read_text().splitlines()) - 1) if path.exists() else 0


def one_line(proc, needle):
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and needle in lines[0] and "Traceback" not in proc.stderr, \
        proc.stderr[-2000:]


# ----------------------------------------------------------------------------------- kills and resume
def test_killed_before_the_first_checkpoint_a_rerun_starts_clean(tmp_path):
    """The killed writer left metrics rows and a TensorBoard file but no checkpoint: the rerun is a fresh run
    with one header, no duplicated rows and one event file."""
    run_dir = tmp_path / "runs" / "early"
    args = ["train", *TINY, "run_name=early", "training.total_steps=1600", "training.checkpoint_every=1000"]
    proc = start(*args, cwd=tmp_path)
    assert wait_for(lambda: rows_so_far(run_dir) >= 2, proc)
    kill(proc)
    assert not (run_dir / "checkpoints" / "last.pt").exists()
    done = cli(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert metrics_updates(run_dir) == list(range(1, 101))
    assert len(list((run_dir / "tensorboard").glob("events.*"))) == 1


def test_killed_mid_run_it_resumes_from_its_own_config_without_losing_rows_or_its_best(tmp_path):
    run_dir = tmp_path / "runs" / "mid"
    args = ["train", *TINY, "run_name=mid", "training.total_steps=4000"]
    proc = start(*args, cwd=tmp_path)
    assert wait_for(lambda: (run_dir / "checkpoints" / "last.pt").exists(), proc)
    time.sleep(0.3)
    kill(proc)
    best_at_kill = load_checkpoint(run_dir / "checkpoints" / "last.pt")["best_metric"]
    # a second start without resume is refused; resuming needs nothing but the run directory
    one_line(cli(*args, cwd=tmp_path), "already holds a run; continue it with resume=true")
    log_at_kill = (run_dir / "train.log").read_text()
    done = cli("train", f"resume={run_dir}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert metrics_updates(run_dir) == list(range(1, 251))  # no gap, no duplicate across the kill
    log = (run_dir / "train.log").read_text()  # the resumed run's log continues the killed one's
    assert log.startswith(log_at_kill) and "resuming mlp on reach" in log and "done: 4000 env steps" in log
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["env_steps"] == 4000 and summary["final"] and summary["best_criterion"] >= best_at_kill
    # re-entering the finished run leaves its summary intact
    again = cli("train", f"resume={run_dir}", cwd=tmp_path)
    assert again.returncode == 0 and "nothing to resume" in again.stdout
    assert json.loads((run_dir / "summary.json").read_text()) == summary


def test_a_kill_during_a_checkpoint_write_leaves_the_old_checkpoint_and_resume_cleans_up(tmp_path):
    """An atomic write cut off leaves the previous file whole plus a temp file: resume drops the temp and
    continues from the previous checkpoint; best.pt is never worse than before."""
    from training.ppo import Trainer
    from windtunnel.config import compose

    cfg = compose([*TINY, "training.total_steps=32"])
    Trainer(cfg, tmp_path, progress=False).train()
    ckpt_dir = tmp_path / "checkpoints"
    before = load_checkpoint(ckpt_dir / "last.pt")
    (ckpt_dir / ".last.pt.abc123.tmp").write_bytes(b"half a checkpoint")  # what a kill mid-write leaves
    cfg.training.total_steps = 64
    trainer = Trainer(cfg, tmp_path, resume=True, progress=False)
    assert not list(ckpt_dir.glob(".*.tmp")) and trainer.update == before["update"]
    trainer.train()
    after = load_checkpoint(ckpt_dir / "last.pt")
    assert after["update"] == 4 and after["best_metric"] >= before["best_metric"]
    assert metrics_updates(tmp_path) == [1, 2, 3, 4]


def test_the_best_checkpoint_is_saved_before_the_last(tmp_path, monkeypatch):
    """A kill between the two writes must leave last.pt claiming no better a best than best.pt holds."""
    import training.ppo
    from training.ppo import Trainer
    from windtunnel.config import compose

    order = []
    real = training.ppo.save_checkpoint
    monkeypatch.setattr(training.ppo, "save_checkpoint", lambda path, payload: order.append(Path(path).name)
                        or real(path, payload))
    cfg = compose([*TINY, "task.time_limit_s=0.1", "training.total_steps=48"])  # 5-step trials: a metric each update
    Trainer(cfg, tmp_path, progress=False).train()
    assert "best.pt" in order
    for i, name in enumerate(order):
        if name == "best.pt":
            assert order[i + 1] == "last.pt"


# ------------------------------------------------------------------------------------------ writers
def test_two_writers_of_one_run_directory(tmp_path):
    run_dir = tmp_path / "runs" / "dup"
    args = ["train", *TINY, "run_name=dup", "training.total_steps=100000"]
    first = start(*args, cwd=tmp_path)
    try:
        assert wait_for(lambda: (run_dir / "checkpoints" / "last.pt").exists(), first)
        second = cli(*args, cwd=tmp_path)  # refused before anything: the run exists and is being written
        assert second.returncode == 2 and "Traceback" not in second.stderr
        racing = cli("train", f"resume={run_dir}", cwd=tmp_path)
        one_line(racing, f"run dir {run_dir} is being written by pid {first.pid} on ")
        assert "one writer per run" in racing.stderr
    finally:
        kill(first)
    # the first writer died holding it: its lock is taken over, with a message naming it
    assert f"pid {first.pid}" in (run_dir / "lock").read_text()
    done_updates = load_checkpoint(run_dir / "checkpoints" / "last.pt")["update"]
    resumed = cli("train", f"resume={run_dir}", f"training.total_steps={16 * (done_updates + 2)}", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"taking over the lock of pid {first.pid}" in resumed.stderr
    assert (run_dir / "lock").read_text() == ""  # released cleanly at the end
    assert metrics_updates(run_dir) == list(range(1, done_updates + 3))


def test_the_lock_refuses_a_second_holder_in_one_process(tmp_path):
    from training.config import UsageError
    from training.run import RunLock

    with RunLock(tmp_path):
        with pytest.raises(UsageError, match=f"being written by pid {os.getpid()}"):
            RunLock(tmp_path).acquire()
    RunLock(tmp_path).acquire().release()  # free again once released


# --------------------------------------------------------------------------------- output locations
@pytest.mark.parametrize("problem", ["read-only", "full"])
def test_an_unwritable_or_full_location_is_refused_before_anything_runs(problem, tmp_path, monkeypatch, capsys):
    import shutil as shutil_mod

    import windtunnel.schema as schema
    from windtunnel.cli import main

    if problem == "read-only":
        monkeypatch.setattr(schema.os, "access", lambda path, mode: False)
        needle = "is not a writable folder"
    else:
        usage = shutil_mod.disk_usage(tmp_path)
        monkeypatch.setattr(schema.shutil, "disk_usage", lambda path: usage._replace(free=10 * 2**20))
        needle = "only 10 MB free"
    monkeypatch.chdir(tmp_path)
    assert main(["train", *TINY, "training.total_steps=16"]) == 2
    assert needle in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    for command in (["evaluate", "run"], ["record", "run"], ["compare", "runs=[run]"]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert needle in err and err.count("\n") == 1
    assert not (tmp_path / "run" / "eval").exists()


# ------------------------------------------------------------------------------- wrong config types
@pytest.mark.parametrize("override,needle", [
    ("training.total_steps=abc", "training.total_steps='abc' is invalid; valid: a whole number >= 1"),
    ("training.gamma=abc", "training.gamma='abc' is invalid; valid: a number in [0, 1]"),
    ("training.checkpoint_every=0", "training.checkpoint_every=0 is invalid"),
    ("training.metrics_window=0", "training.metrics_window=0 is invalid"),
    ("training.torch_threads=0", "training.torch_threads=0 is invalid"),
    ("training.learning_rate=-1e-3", "training.learning_rate=-0.001 is invalid; valid: a number > 0"),
    ("training.anneal_lr=maybe", "training.anneal_lr='maybe' is invalid; valid: true or false"),
    ("training.device=cuda", "CUDA was requested but this torch build has no GPU"),
    ("training.device=tpu", "training.device='tpu'"),
    ("seed=abc", "seed='abc' is invalid; valid: a whole number >= 0"),
    ("lesion=[cortex]", "unknown population or region 'cortex'"),
    ("body.physics_dt=0", "body.physics_dt=0 is invalid; valid: a number > 0"),
    ("body.vision=3", "body.vision=3 is invalid; valid: true or false"),
    ("body.spinal.gait=pronk", "body.spinal.gait='pronk' is invalid; valid: auto | walk | trot | gallop"),
    ("body.spinal.rear=yes", "body.spinal.rear='yes' is invalid; valid: true or false"),
    ("task.time_limit_s=abc", "task.time_limit_s='abc' is invalid; valid: a number"),
    ("task.time_limit_s=-1", "task reach: time_limit_s must be > 0"),
    ("circuit.populations.hidden_1.size=abc", "population hidden_1: size='abc' is invalid; valid: a whole number"),
])
def test_a_wrong_value_in_any_group_is_one_line_and_touches_nothing(override, needle, tmp_path):
    existing = tmp_path / "runs" / "reach" / "mlp" / "seed0" / ".hydra"
    existing.mkdir(parents=True)
    (existing / "config.yaml").write_text("an existing run's notes\n")
    one_line(cli("train", *TINY, override, cwd=tmp_path), needle)
    assert (existing / "config.yaml").read_text() == "an existing run's notes\n"  # not overwritten
    assert sorted(p.name for p in (tmp_path / "runs").rglob("*")) == sorted(["reach", "mlp", "seed0", ".hydra",
                                                                             "config.yaml"])


def test_a_sweep_runs_its_good_jobs_and_reports_the_bad_one(tmp_path):
    out = cli("train", "-m", *TINY, "training.learning_rate=0,1e-3", "training.total_steps=16",
              "hydra.sweep.dir=sweep", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "job 0 (" in out.stderr and "skipped: training.learning_rate=0 is invalid" in out.stderr
    jobs = sorted(p.name for p in (tmp_path / "sweep").iterdir() if p.is_dir())
    assert jobs == ["job1_reach_mlp_seed0"] and (tmp_path / "sweep" / jobs[0] / "summary.json").exists()


def test_a_sweep_resumes_its_unfinished_jobs_and_skips_finished_ones(tmp_path):
    out = cli("train", "-m", *TINY, "seed=0,1", "training.total_steps=64", "hydra.sweep.dir=sweep", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    sweep = tmp_path / "sweep"
    finished = sweep / "job0_reach_mlp_seed0"
    unfinished = sweep / "job1_reach_mlp_seed1"
    summary0 = (finished / "summary.json").read_text()
    for f in ("summary.json", "metrics.csv"):
        (unfinished / f).unlink()
    ckpt = load_checkpoint(unfinished / "checkpoints" / "last.pt")  # as if killed after update 2 of 4
    ckpt["update"], ckpt["env_steps"] = 2, 32
    torch.save(ckpt, unfinished / "checkpoints" / "last.pt")
    again = cli("train", f"resume={sweep}", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"{finished}: finished, skipped" in again.stdout
    assert (finished / "summary.json").read_text() == summary0
    assert json.loads((unfinished / "summary.json").read_text())["env_steps"] == 64
    assert metrics_updates(unfinished) == [3, 4]  # the rows after the checkpoint it resumed from


def test_resume_refuses_overrides_that_contradict_the_run(tmp_path):
    run = tmp_path / "runs" / "r"
    assert cli("train", *TINY, "run_name=r", "training.total_steps=16", cwd=tmp_path).returncode == 0
    one_line(cli("train", f"resume={run}", "circuit=lstm", "training.learning_rate=1e-2", cwd=tmp_path),
             "circuit=lstm (the run has mlp), training.learning_rate=1e-2 (the run has 0.0003) contradict the run's "
             "saved config")
    # a longer budget may change; the same value written as hydra reads it (3e-4 is 0.0003) is not a contradiction
    extended = cli("train", f"resume={run}", "training.total_steps=32", "training.learning_rate=3e-4", cwd=tmp_path)
    assert extended.returncode == 0, extended.stderr[-2000:]
    assert json.loads((run / "summary.json").read_text())["env_steps"] == 32
    one_line(cli("train", "resume=nowhere", cwd=tmp_path), "resume=nowhere: no such run or sweep directory")


def test_a_checkpoint_of_another_circuit_is_refused(tmp_path):
    from training.ppo import Trainer
    from windtunnel.cli import main
    from windtunnel.config import compose

    Trainer(compose([*TINY, "training.total_steps=16"]), tmp_path / "a", progress=False).train()
    Trainer(compose([*TINY, "circuit=lstm", "training.total_steps=16"]), tmp_path / "b", progress=False).train()
    import shutil

    (tmp_path / "a" / "config.yaml").write_text((tmp_path / "a" / "config.yaml").read_text()
                                                if (tmp_path / "a" / "config.yaml").exists() else
                                                "circuit: {name: mlp}\ntask: {name: reach}\n")
    shutil.copy(tmp_path / "b" / "checkpoints" / "last.pt", tmp_path / "a" / "checkpoints" / "best.pt")
    from training.run import Run
    from training.config import UsageError

    with pytest.raises(UsageError, match="holds lstm trained on reach, but the run holds mlp on reach"):
        Run(tmp_path / "a").checkpoint("best")
    assert main(["evaluate", str(tmp_path / "a"), "episodes=1"]) == 2
