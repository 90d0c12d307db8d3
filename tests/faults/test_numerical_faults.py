"""Numerical faults are caught, named and counted — never scored as behaviour.

A non-finite action through every body mode is refused before it reaches the body and ends the
episode with `info["circuit_error"]`; the trial in progress is recorded as faulted, not dropped; a
circuit that diverges during evaluation is caught before the body sees it and counted by kind; a lesion
that once blew a circuit up (dale_rnn without its I units) now stays finite (saturating rates); a
lesion experiment on a faulting circuit says so instead of reading an outcome from it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import body
import circuits
import tasks
from body import spinal


@pytest.mark.parametrize("name,body_options,variant", [
    ("reach", {}, "forelimb"),
    ("reach", {}, "head_fixed"),
    ("two_touch", {}, "free"),
    ("open_field", {"spinal": True}, "free"),
    ("open_field", {"spinal": {"rear": True}}, "free"),
])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_action_is_refused_and_named_in_every_body_mode(name, body_options, variant, bad):
    env = tasks.make(name, body=variant, body_options=body_options)
    try:
        env.reset(seed=0)
        qpos = env.data.qpos.copy()
        action = np.zeros(env.action_space.shape, np.float32)
        action[-1] = bad
        obs, reward, terminated, truncated, info = env.step(action)
        assert truncated and not terminated and reward == 0.0
        assert info["circuit_error"].startswith(f"non-finite action (entries [{action.size - 1}])")
        assert "physics_error" not in info and info["episode"]["fault"] == "circuit_error"
        np.testing.assert_array_equal(env.data.qpos, qpos)  # the body never moved under it
        assert np.isfinite(obs).all()
    finally:
        env.close()


def test_the_body_and_the_spinal_layer_refuse_non_finite_input_themselves():
    with pytest.raises(ValueError, match="non-finite descending command"):
        spinal.command_from_action(np.array([0.2, math.nan]))
    rat = body.build("forelimb")
    import mujoco

    from body import BodyInterface

    io = BodyInterface(rat, mujoco.MjData(rat.model))
    with pytest.raises(ValueError, match="non-finite action"):
        io.apply_action(np.full(rat.action_size, math.inf))


def test_a_trial_in_progress_is_recorded_as_faulted_and_metrics_count_it_apart():
    env = tasks.make("lever_timing")
    try:
        env.reset(seed=0)
        assert env.trial_in_progress() is None  # waiting: no trial to lose
        *_, info = env.step(np.full(env.action_space.shape, math.nan, np.float32))
        assert info["records"] == []
        env.reset(seed=0)
        env._on_press(0.5)  # a first press: the interval is running
        *_, info = env.step(np.full(env.action_space.shape, math.nan, np.float32))
        (record,) = info["records"]
        assert record["faulted"] == "circuit_error" and record["first_press_s"] == 0.5 and math.isnan(record["ipi_s"])
    finally:
        env.close()
    clean = [{"ipi_s": 0.7, "rewarded": True, "canonical_rewarded": True}]
    m = tasks.task_class("lever_timing").metrics(clean + [record, {**record, "faulted": "physics_error"}])
    assert m["trials"] == 1 and m["canonical_rewarded_fraction"] == 1.0  # scored on the clean trial only
    assert m["faulted_trials"] == 2 and m["circuit_error_trials"] == 1 and m["physics_error_trials"] == 1
    assert "faulted_trials" not in tasks.task_class("lever_timing").metrics(clean)


def test_abort_names_only_known_faults():
    env = tasks.make("reach")
    try:
        env.reset(seed=0)
        with pytest.raises(ValueError, match="valid: physics_error, circuit_error"):
            env.abort("gremlins", "x")
    finally:
        env.close()


def test_dale_rnn_without_its_inhibitory_units_stays_finite():
    """The artefact that was once published as behaviour: relu rates of an E-only network grew to inf by
    ~1.9 s and inf * 0 masking gave NaN controls. Rates now saturate at max_rate."""
    c = circuits.make("dale_rnn", 31, 8)
    c.lesion(["I"])
    obs = torch.randn(1500, 4, 31)  # 30 s of control steps
    features, state, activity = c.unroll(obs, c.initial_state(4), torch.zeros(1500, 4, dtype=torch.bool))
    assert torch.isfinite(features).all() and torch.isfinite(state["x"]).all()
    max_rate = c.spec.population("E").opt("max_rate")
    assert activity["E"].max().item() == pytest.approx(max_rate)  # it does saturate: the bound is what holds it
    c.unlesion()
    features, _, activity = c.unroll(obs, c.initial_state(4), torch.zeros(1500, 4, dtype=torch.bool))
    assert activity["E"].max().item() < 0.5 * max_rate  # the intact network runs far below the bound
    with pytest.raises(ValueError, match="population E: max_rate=0.0 is out of range; valid: > 0"):
        circuits.make("dale_rnn", 31, 8, **{"populations.E.max_rate": 0})


@pytest.fixture(scope="module")
def lever_run(tmp_path_factory):
    from training.ppo import Trainer
    from windtunnel.config import compose

    run = tmp_path_factory.mktemp("faults") / "lever_lstm"
    cfg = compose(["circuit=lstm", "task=lever_timing", "training.num_envs=2", "training.num_minibatches=1",
                   "training.rollout_steps=8", "training.epochs=1", "training.num_workers=0",
                   "training.total_steps=16", "task.time_limit_s=0.4"])
    Trainer(cfg, run, progress=False).train()
    return run


def diverge_after(agent, steps: int):
    """Make the agent's circuit emit a non-finite state after `steps` forward calls (a blow-up)."""
    calls = {"n": 0}
    forward = agent.circuit.forward

    def blown(obs, state, reset_mask=None, noise=None):
        features, state, activity = forward(obs, state, reset_mask, noise)
        calls["n"] += 1
        if calls["n"] > steps:
            state = {k: torch.full_like(v, math.inf) for k, v in state.items()}
        return features, state, activity

    agent.circuit.forward = blown


def test_a_circuit_that_diverges_in_evaluation_is_caught_and_counted(lever_run, monkeypatch):
    from training.rollout import evaluate
    from training.run import Run

    real = Run.agent

    def blowing_agent(self, which="best", lesion=()):
        agent, normalizer = real(self, which, lesion)
        if lesion:  # only the lesioned condition diverges, like the I-lesioned rate network did
            diverge_after(agent, 5)
        return agent, normalizer

    monkeypatch.setattr(Run, "agent", blowing_agent)
    run = Run(lever_run)
    intact = evaluate(run, episodes=2)
    assert intact["faulted_episodes"] == {"physics_error": 0, "circuit_error": 0}
    lesioned = evaluate(run, episodes=3, lesion=["core"])
    assert lesioned["faulted_episodes"] == {"physics_error": 0, "circuit_error": 3}
    assert all(f["message"].startswith("non-finite circuit state") for f in lesioned["faults"])

    from comparisons.lesion import lesion_after_learning

    r = lesion_after_learning(run, ["core"], episodes=2)
    assert r["outcome"] is None
    assert r["verdict"] == "undetermined: 2 of 2 lesioned episodes ended in a numerical fault (circuit_error)"


def test_a_recording_with_faulted_episodes_is_not_scored(lever_run, monkeypatch):
    from comparisons import benchmarks as bm
    from comparisons.recording import record
    from training.run import Run

    real = Run.agent

    def blowing_agent(self, which="best", lesion=()):
        agent, normalizer = real(self, which, lesion)
        diverge_after(agent, 3)
        return agent, normalizer

    monkeypatch.setattr(Run, "agent", blowing_agent)
    rec = record(lever_run, episodes=2)
    assert [t["fault"] for t in rec.trial_info] == ["circuit_error", "circuit_error"]
    subject = bm.Subject("lstm/lever_timing/seed0", "lstm/lever_timing", "lever_timing", recording=rec, circuit="lstm")
    s = bm.score("kawai2015.ipi", [subject])
    assert not s.applicable and "2 of 2 episodes faulted (circuit_error), not scored as behaviour" in s.reason


def test_training_stops_with_a_named_fault_when_the_circuit_diverges(tmp_path):
    from training.ppo import Trainer
    from training.rollout import NumericalFault
    from windtunnel.config import compose

    cfg = compose(["circuit=lstm", "task=reach", "training.num_envs=2", "training.num_minibatches=1",
                   "training.rollout_steps=8", "training.epochs=1", "training.num_workers=0",
                   "training.total_steps=64", "training.checkpoint_every=1"])
    trainer = Trainer(cfg, tmp_path, progress=False)
    diverge_after(trainer.agent, 12)  # 9 forwards per update (8 steps and the bootstrap value): in update 2
    with pytest.raises(NumericalFault, match=r"circuit_error: lstm's state '\w+' became non-finite at update 2"):
        trainer.train()
    assert (tmp_path / "checkpoints" / "last.pt").exists()  # what was saved before the fault is kept


def test_mujoco_warnings_go_to_the_run_not_the_working_directory(tmp_path, monkeypatch):
    import ctypes

    import mujoco

    monkeypatch.chdir(tmp_path)
    before, callback = mujoco.MjLogConfig.get(), mujoco.get_mju_user_warning()
    foreign = []  # someone else's warning callback, as importing dm_control installs (the reference tasks do)
    swallow = ctypes.CFUNCTYPE(None, ctypes.c_char_p)(lambda message: foreign.append(message))
    mujoco.set_mju_user_warning(swallow)
    try:
        body.log_mujoco_to(tmp_path / "run" / "mujoco.log")
        (tmp_path / "run").mkdir()
        env = tasks.make("reach")
        env.reset(seed=0)
        env.data.qvel[0] = math.nan  # an unstable simulation: MuJoCo warns
        *_, truncated, info = env.step(np.zeros(env.action_space.shape, np.float32))
        env.close()
        assert truncated and "physics_error" in info and info["episode"]["fault"] == "physics_error"
        assert "QVEL" in (tmp_path / "run" / "mujoco.log").read_text()
        assert not (tmp_path / "MUJOCO_LOG.TXT").exists() and not foreign
    finally:
        before.set()
        mujoco.set_mju_user_warning(callback)


def test_a_lesion_needs_only_the_checkpoint_it_evaluates(lever_run, tmp_path):
    import shutil

    from comparisons.lesion import lesion_after_learning

    run = tmp_path / "only_best"
    shutil.copytree(lever_run, run)
    last = run / "checkpoints" / "last.pt"
    best = run / "checkpoints" / "best.pt"
    if not best.exists():
        shutil.copy(last, best)
    last.unlink()
    r = lesion_after_learning(run, ["core"], episodes=1)
    assert r["lesioned"]["lesioned"] == ["core"]
