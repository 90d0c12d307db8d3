"""The zoo: a run exported as safetensors plus a manifest, loaded by name wherever a run is, reproducing the
run's behaviour exactly; a pickle is refused; an entry stays under 1 MB; outputs never go into the zoo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from training.ppo import Trainer
from training.rollout import evaluate
from training.run import Run
from training.zoo import MANIFEST, WEIGHTS, export, resolve
from windtunnel.config import compose

REPO = Path(__file__).resolve().parents[2]
TINY = ["training.num_envs=2", "training.num_minibatches=1", "training.rollout_steps=8", "training.epochs=1",
        "training.num_workers=0", "training.checkpoint_every=1", "training.torch_threads=1"]


@pytest.fixture(scope="module")
def entry(tmp_path_factory):
    root = tmp_path_factory.mktemp("zoo")
    run_dir = root / "run"
    cfg = compose([*TINY, "circuit=m1_bg_subcortical", "task=lever_timing", "training.total_steps=32",
                   "task.time_limit_s=1.0", "seed=1"])
    Trainer(cfg, run_dir, progress=False).train()
    folder = export(Run(run_dir), root / "zoo" / "tiny" / "m1_bg_subcortical" / "lever_timing" / "seed1",
                    evaluation={"metric": "fraction_in_window", "value": 0.0}, study="tiny")
    return run_dir, folder, root


def test_an_entry_is_small_safe_and_says_what_it_is(entry):
    run_dir, folder, _ = entry
    weights = (folder / WEIGHTS).read_bytes()
    assert len(weights) < 1_048_576
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["circuit"] == "m1_bg_subcortical" and manifest["task"] == "lever_timing" and manifest["seed"] == 1
    assert manifest["config"]["circuit"]["populations"]["brainstem"]["size"] == 32  # the whole spec travels
    assert manifest["machine"] and "git_commit" in manifest["code"] and manifest["trained_env_steps"] == 32
    summary = json.loads((run_dir / "summary.json").read_text())  # how it learned travels with it
    assert manifest["training"] == {k: summary[k] for k in ("criterion_met", "stopped_at_criterion", "validation",
                                                              "updates")}
    assert manifest["training"]["updates"] >= 1
    from safetensors.torch import load_file

    names = load_file(str(folder / WEIGHTS))
    assert not any(k.startswith("agent.critic.") for k in names)  # the critic is a training device: not shipped


def test_a_zoo_entry_behaves_exactly_like_its_run(entry, monkeypatch, tmp_path):
    run_dir, folder, root = entry
    monkeypatch.setenv("WINDTUNNEL_ZOO", str(root / "zoo"))
    monkeypatch.chdir(tmp_path)
    ref = "zoo:tiny/m1_bg_subcortical/lever_timing/seed1"
    assert resolve(ref) == folder
    a = evaluate(Run(run_dir), episodes=2, seed=5, deterministic=False, out=tmp_path / "a")
    b = evaluate(Run(ref), episodes=2, seed=5, deterministic=False)
    assert a["metrics"] == b["metrics"] and a["episodes"] == b["episodes"]
    assert (tmp_path / "runs" / "zoo" / "tiny" / "m1_bg_subcortical" / "lever_timing" / "seed1" / "eval").is_dir()
    assert sorted(p.name for p in folder.iterdir()) == [WEIGHTS, MANIFEST]  # nothing written into the zoo
    with pytest.raises(ValueError, match="ships its best checkpoint only"):
        Run(ref).checkpoint("last")


def test_a_pickle_is_refused_and_bad_references_are_one_line(entry, monkeypatch, tmp_path):
    _, folder, root = entry
    evil = root / "zoo" / "tiny" / "evil" / "lever_timing" / "seed0"
    evil.mkdir(parents=True)
    (evil / MANIFEST).write_text((folder / MANIFEST).read_text())
    torch.save({"agent": {}}, evil / WEIGHTS)  # a pickle under the safetensors name
    monkeypatch.setenv("WINDTUNNEL_ZOO", str(root / "zoo"))
    with pytest.raises(ValueError, match="not a safetensors file.*a pickle could run code"):
        Run("zoo:tiny/evil/lever_timing/seed0").agent()
    with pytest.raises(ValueError, match="malformed; valid: zoo:<study>/<circuit>/<task>/seed<k>"):
        Run("zoo:tiny/m1_bg")
    with pytest.raises(ValueError, match="no zoo entry .*valid: zoo:tiny/"):
        Run("zoo:tiny/m1_bg/lever_timing/seed7")
    p = subprocess.run([sys.executable, "-m", "windtunnel", "evaluate", "zoo:tiny/nothing/reach/seed0"], cwd=tmp_path,
                       capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO),
                                                            "WINDTUNNEL_ZOO": str(root / "zoo")}, timeout=120)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "no zoo entry" in p.stderr
