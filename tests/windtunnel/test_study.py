"""`windtunnel study`: a tiny study (2 circuits x 1 task x 2 seeds x a few thousand steps) runs every stage,
resumes after being killed without redoing finished work, skips what is done, ships zoo entries that
reproduce their manifest's evaluation, and reports a matrix with a cell per circuit and benchmark."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf

REPO = Path(__file__).resolve().parents[2]
TINY_TRAINING = ["training.num_envs=2", "training.num_minibatches=1", "training.rollout_steps=16", "training.epochs=1",
                 "training.num_workers=0", "training.torch_threads=1", "training.checkpoint_every=4"]


def tiny(out: Path) -> dict:
    return {"name": "tiny", "circuits": ["lstm", "dale_rnn"], "tasks": ["reach"], "seeds": [0, 1], "budget_s": 0,
            "budget_steps": 2048, "training": TINY_TRAINING, "evaluation_episodes": {"reach": 3},
            "lesion": {"task": "reach", "after_learning": True, "before_learning": True, "episodes": 2},
            "compare": {"episodes": 2}, "out_dir": str(out / "study"), "jobs": 2}  # two runs (or siblings) at a time


def start(study: dict, cwd: Path) -> subprocess.Popen:
    code = "import json, sys; from windtunnel.study import run_study; run_study(json.loads(sys.argv[1]))"
    return subprocess.Popen([sys.executable, "-c", code, json.dumps(study)], cwd=cwd, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"})


def test_a_tiny_study_runs_resumes_after_a_kill_and_reports_a_full_matrix(tmp_path):
    study = tiny(tmp_path)
    out = Path(study["out_dir"])
    first = out / "runs" / "reach" / "lstm"
    proc = start(study, tmp_path)
    deadline = time.time() + 240
    while time.time() < deadline and not all((first / f"seed{s}" / "summary.json").exists() for s in (0, 1)):
        assert proc.poll() is None, proc.stdout.read()[-3000:]
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # killed while training the second circuit
    proc.wait()
    finished = {s: (first / f"seed{s}" / "checkpoints" / "last.pt").stat().st_mtime_ns for s in (0, 1)}
    assert not (out / "study.json").exists() or "train" not in json.loads((out / "study.json").read_text())["stages"]

    proc = start(study, tmp_path)  # resumes: the finished runs are not trained again
    log = proc.communicate(timeout=600)[0]
    assert proc.returncode == 0, log[-3000:]
    assert {s: (first / f"seed{s}" / "checkpoints" / "last.pt").stat().st_mtime_ns for s in (0, 1)} == finished
    assert "training lstm on reach" not in log and "training dale_rnn on reach" in log
    assert log.count("lesioned before learning") == 4  # each seed's sibling, two at a time
    assert log.count("training its lesioned sibling") == 2 and log.count("no path survives; no sibling to train") == 2
    record = json.loads((out / "study.json").read_text())
    assert list(record["stages"]) == ["train", "evaluate", "lesion", "zoo", "compare"]
    for circuit in ("lstm", "dale_rnn"):
        for seed in (0, 1):
            run = out / "runs" / "reach" / circuit / f"seed{seed}"
            assert json.loads((run / "summary.json").read_text())["env_steps"] == 2048
            assert (run / "eval" / "intact.json").exists()
            assert list((run / "lesions").glob("after_learning-*.json"))
            before = json.loads(next((run / "lesions").glob("before_learning-*.json")).read_text())
            if circuit == "lstm":  # its encoder->policy skip path survives the core lesion: a sibling is trained
                assert before["training_env_steps"] == 2048  # as long as its intact run
                assert json.loads((Path(before["sibling_run"]) / "summary.json").read_text())["env_steps"] == 2048
            else:  # no path from the observation to the actor survives silencing E and I: nothing to train
                assert before["sibling_run"] is None and before["outcome"] == "not acquired" and before["structural"]
            entry = out / "zoo" / "tiny" / circuit / "reach" / f"seed{seed}"
            assert (entry / "agent.safetensors").exists()
            shipped = [f.read_text() for f in (entry / "lesions").glob("*.json")]
            assert shipped and not any(str(tmp_path) in text for text in shipped)  # paths relative to the study
            assert all(f'"runs/reach/{circuit}/seed{seed}' in text for text in shipped)

    # the report's matrix: one row per circuit, one cell per benchmark
    page = (out / "report.html").read_text()
    matrix = re.search(r"<table class='matrix'>(.*?)</table>", page, re.S).group(1)
    rows = re.findall(r"<tr>(.*?)</tr>", matrix, re.S)
    n_bench = rows[0].count("<th>") - 1
    scores = json.loads((out / "scores.json").read_text())["scores"]
    assert n_bench == len({s["benchmark"] for s in scores}) >= 5
    assert [re.search(r"<b>(.*?)</b>", r).group(1) for r in rows[1:]] == ["lstm/reach", "dale_rnn/reach"]
    assert all(r.count("<td") == n_bench + 1 for r in rows[1:])
    assert "n=2" in matrix  # pooled over the two seeds
    md = (out / "results.md").read_text().splitlines()  # the same matrix in Markdown, for the docs
    assert [line.split(" | ")[0] for line in md[2:4]] == ["| lstm/reach", "| dale_rnn/reach"]
    assert "n=2" in md[3] and md[0].count(" | ") == md[2].count(" | ") == md[3].count(" | ")
    assert any(line.startswith("| lstm/reach | after learning") for line in md)  # the lesion outcomes per seed
    assert (out / "compare" / "figures" / "matrix_spread.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # a second run finds every stage done with the same config and does nothing
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    proc = start(study, tmp_path)
    log = proc.communicate(timeout=120)[0]
    assert proc.returncode == 0 and log.count("already finished with this config; skipped") == 5, log
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes

    # a lesion redone since (here: its file rewritten) makes the zoo and the comparison stale: only they rerun
    lesion_file = next((out / "runs").rglob("after_learning-*.json"))
    lesion_file.write_text(lesion_file.read_text())
    proc = start(study, tmp_path)
    log = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0 and log.count("already finished with this config; skipped") == 3, log
    assert "stage zoo" in log and "stage compare" in log

    # a zoo entry reproduces its manifest's canonical evaluation
    from training.rollout import evaluate
    from training.run import Run

    os.environ["WINDTUNNEL_ZOO"] = str(out / "zoo")
    try:
        manifest = json.loads((out / "zoo" / "tiny" / "dale_rnn" / "reach" / "seed1" / "manifest.json").read_text())
        ev = manifest["evaluation"]
        again = evaluate(Run("zoo:tiny/dale_rnn/reach/seed1"), episodes=ev["episodes"], seed=ev["seed"],
                         deterministic=ev["deterministic"], out=tmp_path / "again")
        value = again["metrics"][ev["metric"]]
        assert value == pytest.approx(ev["value"])
        if "ci95" in ev:
            assert ev["ci95"][0] <= value <= ev["ci95"][1]
    finally:
        del os.environ["WINDTUNNEL_ZOO"]


def test_a_run_trained_with_a_config_the_study_no_longer_gives_is_superseded_not_kept(tmp_path, capsys):
    """Changing a circuit's training entry retrains that circuit's runs (the old ones moved whole to
    superseded/, never deleted) and keeps every other run; a config written as hydra reads it (1e-3) is not a
    change; the evaluation reruns for the retrained run only."""
    from windtunnel.study import run_study

    study = {**tiny(tmp_path), "seeds": [0], "budget_steps": 64, "lesion": {"task": None},
             "training": [*TINY_TRAINING, "training.learning_rate=1e-3"], "jobs": 1}
    out = Path(study["out_dir"])
    run_study(study, stages=("train", "evaluate"))
    kept = out / "runs" / "reach" / "lstm" / "seed0" / "checkpoints" / "last.pt"
    kept_mtime = kept.stat().st_mtime_ns
    evaluated = (out / "runs" / "reach" / "dale_rnn" / "seed0" / "eval" / "intact.json").stat().st_mtime_ns
    capsys.readouterr()

    run_study({**study, "circuit_training": {"dale_rnn": ["circuit.dynamics.noise_std=0.1"]}}, stages=("train", "evaluate"))
    log = capsys.readouterr().out
    moved = list((out / "superseded" / "reach" / "dale_rnn").glob("seed0-*"))
    assert len(moved) == 1 and (moved[0] / "checkpoints" / "last.pt").exists() and (moved[0] / "eval").is_dir()
    assert "dale_rnn on reach seed 0 was trained with another config (circuit.dynamics.noise_std=0.1 (the run has" in log, log
    assert "lstm on reach seed 0 was trained" not in log and kept.stat().st_mtime_ns == kept_mtime
    new = out / "runs" / "reach" / "dale_rnn" / "seed0"
    assert OmegaConf.load(new / "config.yaml").circuit.dynamics.noise_std == 0.1
    assert (new / "eval" / "intact.json").stat().st_mtime_ns > evaluated  # evaluated again: a new checkpoint

    capsys.readouterr()  # the same config again: nothing moves, nothing retrains
    run_study({**study, "circuit_training": {"dale_rnn": ["circuit.dynamics.noise_std=0.1"]}}, stages=("train", "evaluate"))
    assert "was trained with another config" not in capsys.readouterr().out
    assert len(list((out / "superseded").rglob("summary.json"))) == 1

    # a run moved away by hand (e.g. to retrain it on a quieter machine) is trained again, the others kept
    import shutil
    shutil.move(str(kept.parents[1]), str(tmp_path / "set_aside"))
    run_study({**study, "circuit_training": {"dale_rnn": ["circuit.dynamics.noise_std=0.1"]}}, stages=("train", "evaluate"))
    log = capsys.readouterr().out
    assert "training lstm on reach, seeds [0]" in log and "training dale_rnn" not in log, log
    assert kept.exists() and (kept.parents[1] / "eval" / "intact.json").exists()


def test_a_run_that_stopped_before_validation_is_kept_and_resumed_to_be_validated(tmp_path):
    """Held-out validation is a stop rule, not another run: a run that stopped at its criterion before the
    study asked for validation is not superseded (its training is the same up to that stop) but counts as
    unfinished until validated; a validated stop, or a spent budget, is finished."""
    from windtunnel.config import compose
    from windtunnel.study import check, run_dir, supersede_stale, train_overrides, trained

    plain = check({**tiny(tmp_path), "circuits": ["lstm"], "seeds": [0],
                   "training": [*TINY_TRAINING, "training.stop_at_criterion=true"]})
    validated = {**plain, "task_training": {"reach": ["training.validation_episodes=50"]}}
    d = run_dir(plain, "reach", "lstm", 0)
    (d / "checkpoints").mkdir(parents=True)
    OmegaConf.save(compose([*train_overrides(plain, "reach", "lstm"), "seed=0"]), d / "config.yaml")
    summary = {"env_steps": 1024, "stopped_at_criterion": True, "validation": None}
    (d / "summary.json").write_text(json.dumps(summary))
    assert trained(plain, "reach", "lstm", 0) and not trained(validated, "reach", "lstm", 0)
    assert supersede_stale(validated) == [] and d.is_dir()
    for validation, done in [({"met": False}, False), ({"met": True}, True)]:
        (d / "summary.json").write_text(json.dumps({**summary, "validation": validation}))
        assert trained(validated, "reach", "lstm", 0) is done
    (d / "summary.json").write_text(json.dumps({**summary, "env_steps": 2048, "stopped_at_criterion": False}))
    assert trained(validated, "reach", "lstm", 0)  # its whole budget: finished, validated or not
    assert supersede_stale({**validated, "training": [*plain["training"], "training.learning_rate=1e-2"]})  # the null


@pytest.mark.parametrize("args,needle", [
    ([], "study=<name> is required; valid: demo, lab_ladder"),
    (["study=lab_ladder", "stages=[bogus]"], "unknown stage 'bogus'; valid: train, evaluate, lesion, zoo, compare"),
    (["study=lab_ladder", "study.circuits=[transformer]"], "study.circuits: unknown circuit 'transformer'"),
    (["study=lab_ladder", "study.launcher=pbs"], "unknown launcher 'pbs'; valid: basic, submitit_local"),
    (["study=nope"], "unknown study 'nope'; valid: demo, lab_ladder"),
    (["study=lab_ladder", "study.jobs=0"], "study.jobs=0 is invalid; valid: a whole number >= 1"),
    (["study=lab_ladder", "study.lesion.task=lever"], "study.lesion.task: unknown task 'lever'; valid: lever_timing, reach"),
    (["study=lab_ladder", "study.budget_steps.m1_bg=-5"], "study.budget_steps.m1_bg=-5 is invalid; valid: environment steps >= 1"),
    (["study=lab_ladder", "+study.budget_steps.m1=5"], "study.budget_steps: 'm1' is not a circuit; valid: default, "),
])
def test_a_bad_study_is_one_line_and_writes_nothing(args, needle, tmp_path):
    p = subprocess.run([sys.executable, "-m", "windtunnel", "study", *args], cwd=tmp_path, capture_output=True,
                       text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and needle in p.stderr, p.stderr
    assert not list(tmp_path.iterdir())


def test_the_study_budget_is_in_environment_steps_per_circuit_and_a_wall_clock_limit_is_separate():
    """lab_ladder's runs are bounded in env steps (the learning rate anneals over them: a rerun trains the same
    updates); the demo adds a 5-minute time box on top of the same step budget."""
    from windtunnel.config import compose
    from windtunnel.study import check, train_overrides

    def study(name):
        from omegaconf import OmegaConf
        return check(OmegaConf.to_container(compose([f"study={name}"]).study, resolve=True))

    ladder = train_overrides(study("lab_ladder"), "lever_timing", "m1_bg")
    assert "training.total_steps=2300000" in ladder and "training.max_wall_s=0" in ladder
    assert "training.total_steps=2600000" in train_overrides(study("lab_ladder"), "reach", "spiking_m1")
    demo = train_overrides(study("demo"), "lever_timing", "lstm")
    assert "training.total_steps=1450000" in demo and "training.max_wall_s=300" in demo


SHIPPED = sorted((REPO / "zoo").glob("*/*/*/seed*/manifest.json"))


def test_the_shipped_zoo_is_small_and_each_entry_names_its_provenance():
    """Every shipped entry: safetensors at most 1 MB (40 MB in all), a manifest naming the circuit spec, task,
    seed, steps, wall time, machine, code commit and its canonical evaluation with an interval."""
    assert SHIPPED, "no shipped zoo"
    total = 0
    for m in SHIPPED:
        weights = m.parent / "agent.safetensors"
        assert weights.stat().st_size <= 2**20, weights
        total += sum(p.stat().st_size for p in m.parent.rglob("*") if p.is_file())
        manifest = json.loads(m.read_text())
        for key in ("circuit", "task", "seed", "env_steps", "wall_s", "machine", "code", "evaluation", "config"):
            assert manifest.get(key) is not None, (m, key)
        ev = manifest["evaluation"]
        assert manifest["config"]["circuit"]["populations"]
        assert len(ev["ci95"]) == 2 if ev["ci95"] is not None else "no interval" in ev["ci95_note"]
    assert total <= 40 * 2**20


@pytest.mark.parametrize("task", ["lever_timing", "reach"])
def test_a_shipped_zoo_entry_reproduces_its_manifests_evaluation(task, tmp_path):
    """Re-evaluated with the manifest's episodes and seed, a shipped entry scores what its manifest says."""
    from training.rollout import evaluate
    from training.run import Run

    path = next(m for m in SHIPPED if m.parent.parent.name == task)
    ev = json.loads(path.read_text())["evaluation"]
    ref = "zoo:" + "/".join(path.parent.relative_to(REPO / "zoo").parts)
    again = evaluate(Run(ref), episodes=ev["episodes"], seed=ev["seed"], deterministic=ev["deterministic"],
                     out=tmp_path / "again")
    assert again["metrics"][ev["metric"]] == pytest.approx(ev["value"], abs=1e-9)


def test_the_reproduction_check_counts_a_changed_outcome_and_disjoint_intervals():
    """benchmarks.reproduce on known answers: the same lever outcome with overlapping intervals, a seed that met
    the criterion shipped but not rerun (its interval disjoint), and reach entries compared on success rate."""
    from benchmarks.reproduce import compare

    def lever(frac, ipi, ci):
        return {"circuit": "m1_bg", "task": "lever_timing", "trained_env_steps": 10, "evaluation": {
            "metric": "canonical_rewarded_fraction", "value": frac, "ci95": ci,
            "metrics": {"trials": 100, "canonical_rewarded_fraction": frac, "ipi_median_s": ipi}}}

    shipped = {("m1_bg", "lever_timing", 0): lever(0.9, 0.70, [0.8, 0.95]),
               ("m1_bg", "lever_timing", 1): lever(0.8, 0.66, [0.7, 0.88]),
               ("m1_bg", "lever_timing", 2): lever(0.5, 0.55, [0.4, 0.6])}
    again = {("m1_bg", "lever_timing", 0): lever(0.85, 0.69, [0.75, 0.92]),
             ("m1_bg", "lever_timing", 1): lever(0.3, 0.50, [0.2, 0.4])}
    r = compare(shipped, again)
    assert r["n"] == 2 and r["same_outcome"] == 1 and r["overlap"] == 1 and r["with_intervals"] == 2
    assert r["identical"] == 0  # same outcome is not the same run
    twin = compare(shipped, {("m1_bg", "lever_timing", 0): lever(0.9, 0.70, [0.8, 0.95])})
    assert twin["identical"] == 1 and twin["entries"][0]["identical"]
    assert [e["same_outcome"] for e in r["entries"]] == [True, False]
    assert r["groups"] == {"m1_bg/lever_timing": {"shipped": 2, "again": 1, "n": 2}}
    assert r["only_shipped"] == [["m1_bg", "lever_timing", 2]]
    # a median IPI outside 10 % of 0.7 s fails the criterion whatever the rewarded fraction
    assert not compare({("m1_bg", "lever_timing", 0): lever(0.9, 0.60, None)},
                       {("m1_bg", "lever_timing", 0): lever(0.9, 0.60, None)})["entries"][0]["again_at_criterion"]
