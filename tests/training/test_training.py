"""Recurrent PPO, the train/evaluate commands, checkpoints, resume after SIGKILL, sweeps, bad config."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import circuits
from training.checkpoint import build_agent, load_checkpoint
from windtunnel.config import compose
from training.ppo import Trainer

REPO = Path(__file__).resolve().parents[2]
TINY = ["training.num_envs=2", "training.num_minibatches=1", "training.rollout_steps=8", "training.epochs=1",
        "training.num_workers=0", "training.checkpoint_every=1", "training.torch_threads=1"]


def tiny_cfg(*overrides):
    return compose([*TINY, *overrides])


def cli(*args, cwd, timeout=240, **kw):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "windtunnel", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**env, "PYTHONPATH": str(REPO)}, **kw)


def read_metrics(run_dir):
    with open(Path(run_dir) / "metrics.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("circuit,extra", [(c, []) for c in circuits.names()], ids=circuits.names())
def test_recomputed_log_probs_equal_the_rollout_for_every_circuit(circuit, extra, tmp_path):
    """Replaying stored first states, reset masks and noise reproduces the rollout exactly (ratio = 1)."""
    cfg = tiny_cfg(f"circuit={circuit}", "task=reach", "task.time_limit_s=0.1", "training.rollout_steps=12", *extra)
    trainer = Trainer(cfg, tmp_path, progress=False)
    try:
        obs, _ = trainer.envs.reset()
        state = trainer.agent.circuit.initial_state(2)
        batch, *_ = trainer._rollout(obs, state, torch.ones(2, dtype=torch.bool))
        assert batch["reset"][1:].any()  # episodes of 5 steps: resets happen inside the rollout
        state = {k: v.clone() for k, v in batch["state0"].items()}
        logps = []
        with torch.no_grad():
            for t in range(12):
                noise = {k: v[t] for k, v in batch["noise"].items()} or None
                mean, _, state, _, _ = trainer.agent(batch["obs"][t], state, batch["reset"][t], noise)
                logps.append(trainer.agent.log_prob(mean, batch["act"][t]))
        torch.testing.assert_close(torch.stack(logps), batch["logp"], rtol=0, atol=1e-5)
        # the update's whole-sequence unroll (under autograd) gives the same numbers
        state = {k: v.clone() for k, v in batch["state0"].items()}
        mean, value, _, activity = trainer.agent.unroll(batch["obs"], state, batch["reset"], batch["noise"],
                                                        keep_activity=True)
        torch.testing.assert_close(trainer.agent.log_prob(mean, batch["act"]).detach(), batch["logp"], rtol=0, atol=1e-5)
        torch.testing.assert_close(value.detach(), batch["val"], rtol=0, atol=1e-5)
        assert set(activity) == set(trainer.agent.circuit.population_names)
        assert all(a.shape[:2] == (12, 2) for a in activity.values())
    finally:
        trainer.envs.close()


def test_same_config_and_seed_give_the_same_losses(tmp_path):
    """Also with the learning rate annealed (over the step budget, as the study trains: a rerun trains the same
    updates; annealing over a wall-clock budget would make every run a new draw)."""
    losses = []
    for k in range(2):
        cfg = tiny_cfg("circuit=dale_rnn", "task=lever_timing", "training.total_steps=48", "seed=7",
                       "training.anneal_lr=true")
        Trainer(cfg, tmp_path / str(k), progress=False).train()
        rows = read_metrics(tmp_path / str(k))
        losses.append([(r["policy_loss"], r["value_loss"], r["approx_kl"], r["learning_rate"]) for r in rows])
    assert len(losses[0]) == 3 and losses[0] == losses[1]
    assert [round(float(r[3]) / float(losses[0][0][3]), 6) for r in losses[0]] == [1.0, round(2 / 3, 6), round(1 / 3, 6)]
    cfg = tiny_cfg("circuit=dale_rnn", "task=lever_timing", "training.total_steps=48", "seed=8")
    Trainer(cfg, tmp_path / "other", progress=False).train()
    assert [(r["policy_loss"], r["value_loss"], r["approx_kl"]) for r in read_metrics(tmp_path / "other")] != \
        [r[:3] for r in losses[0]]


def test_training_does_not_depend_on_the_number_of_environment_workers(tmp_path):
    """Every random number comes from the run's generator in the parent and every environment has its own
    seed, so the same config and seed train the same whether environments run in this process or in workers."""
    losses = []
    for workers in (0, 1, 2):
        cfg = tiny_cfg("circuit=spiking_m1", "task=lever_timing", "training.total_steps=48", "training.num_envs=3",
                       f"training.num_workers={workers}")
        Trainer(cfg, tmp_path / str(workers), progress=False).train()
        losses.append([(r["policy_loss"], r["value_loss"], r["episode_return"]) for r in read_metrics(tmp_path / str(workers))])
    assert len(losses[0]) == 2 and losses[0] == losses[1] == losses[2]


@pytest.mark.parametrize("circuit", circuits.names())
@pytest.mark.parametrize("task", ["lever_timing", "reach"])
def test_every_circuit_trains_on_every_lab_task(circuit, task, tmp_path):
    summary = Trainer(tiny_cfg(f"circuit={circuit}", f"task={task}", "training.total_steps=32"), tmp_path,
                      progress=False).train()
    assert summary["env_steps"] == 32 and summary["updates"] == 2
    files = {p.name for p in tmp_path.rglob("*") if p.is_file()}
    assert {"metrics.csv", "summary.json", "last.pt"} <= files
    assert any(f.startswith("events.out.tfevents") for f in files)
    ckpt = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert ckpt["code"] == summary["code"] and summary["code"]["windtunnel"] == "0.1.0"
    agent, _ = build_agent(ckpt)  # self-contained: rebuilds without the run
    assert agent.circuit.name == circuit


def test_open_field_trains(tmp_path):
    summary = Trainer(tiny_cfg("circuit=mlp", "task=open_field", "training.total_steps=16"), tmp_path,
                      progress=False).train()
    assert summary["env_steps"] == 16


def test_best_checkpoint_is_small_and_loads_without_the_run(tmp_path):
    Trainer(tiny_cfg("circuit=lstm", "task=reach", "training.total_steps=64", "task.time_limit_s=0.2"), tmp_path,
            progress=False).train()
    best = tmp_path / "checkpoints" / "best.pt"
    assert best.exists() and best.stat().st_size < 5 * 2**20
    ckpt = load_checkpoint(best)
    assert "optimizer" not in ckpt and ckpt["config"]["circuit"]["name"] == "lstm"


def test_killed_run_resumes_and_completes(tmp_path):
    args = ["train", "task=reach", "circuit=lstm", "run_name=killme", *TINY, "training.total_steps=1600",
            "training.num_workers=1"]  # 100 updates: ample time to kill it after its first checkpoint
    proc = subprocess.Popen([sys.executable, "-m", "windtunnel", *args], cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(REPO)},
                            start_new_session=True)
    run_dir = tmp_path / "runs" / "killme"
    last = run_dir / "checkpoints" / "last.pt"
    deadline = time.time() + 120
    while not last.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert last.exists() and proc.poll() is None, "the run finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = load_checkpoint(last)["update"]
    assert killed_at < 100

    again = cli(*args, cwd=tmp_path)  # without resume=true it refuses to overwrite
    assert again.returncode != 0 and "resume=true" in again.stderr

    done = cli(*args, "resume=true", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["env_steps"] == 1600 and summary["updates"] == 100
    updates = [int(r["update"]) for r in read_metrics(run_dir)]
    assert updates == list(range(1, 101))  # no gaps, no duplicates across the kill
    for ckpt in (run_dir / "checkpoints").glob("*.pt"):
        load_checkpoint(ckpt)  # every checkpoint is readable
    assert not list((run_dir / "checkpoints").glob(".*.tmp"))


@pytest.mark.parametrize("args,needle", [
    (["train", "circuit=transformer"], "valid: cerebellar_loop, dale_rnn, lstm, m1_bg, m1_bg_subcortical, mlp"),
    (["train", "task=lever_press"], "valid: escape_bowl, lever_timing, maze_forage, open_field, reach, run_gaps, two_touch"),
    (["train", "training.total_steps=-5"], "training.total_steps=-5 is invalid; valid: a whole number >= 1"),
    (["train", "training.totl_steps=5"], "unknown config key 'training.totl_steps'"),
    (["train", "-m", "circuit=lstm,transformer"], "unknown circuit 'transformer'"),
    (["evaluate", "no/such/run"], "does not exist"),
    (["train", "task=open_field", "body.spinal.enabled=true", "body.spinal.params=no/such.json"], "no parameter file at no/such.json"),
])
def test_bad_config_is_one_line_and_nonzero(args, needle, tmp_path):
    out = cli(*args, cwd=tmp_path, timeout=60)
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in out.stderr, out.stderr


def test_local_sweep_runs_every_combination(tmp_path):
    out = cli("train", "-m", "circuit=mlp,lstm", "seed=0,1", "task=reach", *TINY, "training.total_steps=16",
              "hydra.sweep.dir=sweep", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    runs = sorted(p.parent.name.split("_", 1)[1] for p in (tmp_path / "sweep").rglob("summary.json"))
    assert runs == ["reach_lstm_seed0", "reach_lstm_seed1", "reach_mlp_seed0", "reach_mlp_seed1"]


def test_submitit_local_launcher(tmp_path):
    out = cli("train", "-m", "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=5",
              "hydra.launcher.cpus_per_task=1", "circuit=mlp,dale_rnn", "task=reach", *TINY,
              "training.total_steps=16", "hydra.sweep.dir=sweep", cwd=tmp_path, timeout=400)
    assert out.returncode == 0, out.stderr[-3000:]
    runs = sorted(p.parent.name for p in (tmp_path / "sweep").rglob("summary.json"))
    assert runs == ["job0_reach_mlp_seed0", "job1_reach_dale_rnn_seed0"]


def test_evaluate_scores_the_canonical_task_and_writes_json(tmp_path):
    from training.rollout import evaluate

    cfg = tiny_cfg("circuit=lstm", "task=lever_timing", "task.shaping_width_s=0.2", "training.total_steps=16",
                   "task.time_limit_s=1.0")
    Trainer(cfg, tmp_path, progress=False).train()
    result = evaluate(tmp_path, episodes=2)
    assert result["canonical"] and result["episodes"] == 2
    assert (tmp_path / "eval" / "intact.json").exists()
    lesioned = evaluate(tmp_path, episodes=1, lesion=["core"])
    assert lesioned["lesioned"] == ["core"] and (tmp_path / "eval" / "lesion-core.json").exists()


def test_a_run_reads_each_checkpoint_once_and_one_rollout_serves_every_command(tmp_path, monkeypatch):
    import training.run
    from comparisons.lesion import lesion_after_learning
    from comparisons.recording import record
    from training.rollout import rollout
    from training.run import Run

    cfg = tiny_cfg("circuit=lstm", "task=lever_timing", "training.total_steps=16", "task.time_limit_s=0.4")
    Trainer(cfg, tmp_path, progress=False).train()
    reads = []
    real = training.run.load_checkpoint
    monkeypatch.setattr(training.run, "load_checkpoint", lambda path: reads.append(path) or real(path))
    run = Run(tmp_path)
    assert run.task_name == "lever_timing" and run.circuit_name == "lstm" and run.criterion == "canonical_rewarded_fraction"
    result = lesion_after_learning(run, ["core"], episodes=1)  # evaluates intact and lesioned
    rec = record(run, episodes=2)
    assert result["lesioned"]["lesioned"] == ["core"] and rec.n_trials == 2
    assert reads == [run.checkpoint_path("best")]  # once, for all three rollouts
    steps = []
    agent, normalizer = run.agent()
    eps = rollout(agent, normalizer, run.make_env(), episodes=2, seed=5,
                  on_step=lambda ep, step, activity, info: steps.append((ep, step, tuple(activity))))
    assert [e.seed for e in eps] == [5, 6] and len(steps) == sum(e.steps for e in eps)
    assert steps[0][:2] == (0, 0) and steps[-1][:2] == (1, eps[1].steps - 1) and "core" in steps[0][2]


def test_annealed_learning_rate_falls_linearly_to_zero_over_the_run(tmp_path):
    cfg = tiny_cfg("circuit=mlp", "task=lever_timing", "training.total_steps=64", "training.anneal_lr=true",
                   "training.learning_rate=0.003")
    Trainer(cfg, tmp_path, progress=False).train()
    rates = [float(r["learning_rate"]) for r in read_metrics(tmp_path)]
    steps_per_update = cfg.training.num_envs * cfg.training.rollout_steps
    n = -(-64 // steps_per_update)
    np.testing.assert_allclose(rates, [0.003 * (1 - k / n) for k in range(n)], rtol=1e-6)


def test_checkpoints_from_before_the_spinal_rhythm_option_load_with_the_layer_they_trained_on(tmp_path):
    from training.checkpoint import load_checkpoint, save_checkpoint

    old = {"config": {"body": {"spinal": True, "spinal_gait": "auto"}}}  # flat keys, before the options were a group
    save_checkpoint(tmp_path / "old.pt", old)
    assert load_checkpoint(tmp_path / "old.pt")["config"]["body"]["spinal"]["rhythm"] == "drive"
    new = {"config": {"body": {"spinal": True, "spinal_rhythm": "command"}}}
    save_checkpoint(tmp_path / "new.pt", new)
    assert load_checkpoint(tmp_path / "new.pt")["config"]["body"]["spinal"]["rhythm"] == "command"
    save_checkpoint(tmp_path / "servos.pt", {"config": {"body": {"spinal": False}}})
    assert load_checkpoint(tmp_path / "servos.pt")["config"]["body"]["spinal"] == {"enabled": False}
    assert load_checkpoint(tmp_path / "old.pt")["config"]["body"]["spinal"]["wall_stop"] is False
    grouped = {"config": {"body": {"spinal": {"enabled": True, "rhythm": "command", "wall_stop": True}}}}
    save_checkpoint(tmp_path / "grouped.pt", grouped)
    assert load_checkpoint(tmp_path / "grouped.pt")["config"]["body"] == grouped["config"]["body"]


OLD_CIRCUIT_CONFIGS = {  # as checkpoints written before circuit specs held them (flat class options)
    "mlp": {"name": "mlp", "hidden": 64, "layers": 3},
    "dale_rnn": {"name": "dale_rnn", "units": 100, "e_fraction": 0.8, "tau_ms": 60.0, "spectral_radius": 0.8,
                 "noise_std": 0.05, "rate_function": "relu", "max_rate": 100.0, "input_relay": "onoff",
                 "relay_size": 16, "input_gain": 1.0},
    "m1_bg": {"name": "m1_bg", "n_m1_exc": 64, "n_gpi": 8, "dopamine": 0.2, "drives": {"GPi": 1.8},
              "gains": {"GPi->thalamus": 0.4}, "relay_size": 16, "input_gain": 0.3, "substeps": 5},
}


@pytest.mark.parametrize("name", list(OLD_CIRCUIT_CONFIGS))
def test_checkpoints_from_before_circuit_specs_load_with_their_weights(name, tmp_path):
    """A pre-spec checkpoint (flat options, old parameter names) becomes the equivalent spec on load. (Checked
    by hand on the shipped lever checkpoints of commit e4c3e90: identical actions and values with the old
    classes and with the migrated specs.)"""
    from training.agent import Agent
    from training.checkpoint import migrate_circuit_config, save_checkpoint

    spec = migrate_circuit_config(OLD_CIRCUIT_CONFIGS[name])
    circuit = circuits.make(spec, 31, 8, seed=4)
    cfg = tiny_cfg(f"circuit={name}")
    t = cfg.training
    agent = Agent(circuit, 8, critic_hidden=t.critic_hidden, critic_inputs=t.critic_inputs,
                  value_shapes_circuit=t.value_shapes_circuit, init_log_std=t.init_log_std)
    state = {}
    for key, value in agent.state_dict().items():  # the old classes' parameter names
        if name == "dale_rnn":
            key = key.replace("circuit.weights.", "circuit.recurrent.")
        if name == "mlp" and key.startswith("circuit.hidden_"):
            layer, rest = key[len("circuit.hidden_"):].split(".0.", 1)
            key = f"circuit.layers.{int(layer) - 1}.{rest}"
        state[key] = value
    if name == "m1_bg":
        state["circuit.input_index"] = torch.arange(160)
    from omegaconf import OmegaConf

    config = {**OmegaConf.to_container(cfg, resolve=True), "circuit": OLD_CIRCUIT_CONFIGS[name]}
    save_checkpoint(tmp_path / "old.pt", {"config": config, "obs_dim": 31, "act_dim": 8, "agent": state,
                                          "normalizer": {"mean": np.zeros(31), "var": np.ones(31), "count": 1.0,
                                                         "clip": 10.0}})
    ckpt = load_checkpoint(tmp_path / "old.pt")
    rebuilt, _ = build_agent(ckpt)
    for (k, a), b in zip(agent.state_dict().items(), rebuilt.state_dict().values()):
        assert torch.equal(a, b), k
    if name == "m1_bg":
        assert rebuilt.circuit.population("M1_E").size == 64 and rebuilt.circuit.dopamine == 0.2
    if name == "mlp":
        assert [p.name for p in rebuilt.circuit.populations] == ["hidden_1", "hidden_2", "hidden_3"]


def test_evaluate_switches_the_wall_stop_of_a_run_through_the_layer_and_refuses_it_without(tmp_path):
    from training.rollout import evaluate

    Trainer(tiny_cfg("circuit=mlp", "task=open_field", "body.spinal.enabled=true", "training.total_steps=16",
                     "task.time_limit_s=0.4"), tmp_path / "spinal", progress=False).train()
    trained = evaluate(tmp_path / "spinal", episodes=1)
    assert trained["wall_stop"] is True  # new runs train with it
    off = evaluate(tmp_path / "spinal", episodes=1, wall_stop=False)
    assert off["wall_stop"] is False and (tmp_path / "spinal" / "eval" / "intact_wall_stop_off.json").exists()
    Trainer(tiny_cfg("circuit=mlp", "task=lever_timing", "training.total_steps=16", "task.time_limit_s=0.4"),
            tmp_path / "servos", progress=False).train()
    with pytest.raises(ValueError, match="needs a run through the spinal layer"):
        evaluate(tmp_path / "servos", episodes=1, wall_stop=True)


def test_runs_record_the_code_they_were_trained_with():
    """The commit of this checkout (when it is one), so a run's numbers can be traced to its code."""
    from training.ppo import code_version

    code = code_version()
    repo = Path(__file__).resolve().parents[2]
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0:
        assert code["git_commit"] == head.stdout.strip() and isinstance(code["dirty"], bool)
    else:
        assert code["git_commit"] is None and code["dirty"] is None


def test_a_spinal_run_stores_its_layer_and_its_checkpoints_rebuild_it(tmp_path):
    """The layer's parameter values travel in the run's config, so re-tuning the shipped set (or
    deleting a user's parameter file) does not change what a checkpoint's rat does."""
    from omegaconf import OmegaConf

    import tasks
    from body import spinal
    from training.config import task_spec

    changed = spinal.params_as_lists(spinal.default_params("command"))
    changed["turn_bend"] = [0.123]
    path = tmp_path / "tuned.json"
    path.write_text(json.dumps({"params": changed}))
    run = tmp_path / "run"
    Trainer(tiny_cfg("circuit=mlp", "task=open_field", "body.spinal.enabled=true", f"body.spinal.params={path}",
                     "training.total_steps=16"), run, progress=False).train()
    path.unlink()
    cfg = OmegaConf.create(load_checkpoint(run / "checkpoints" / "last.pt")["config"])
    assert cfg.body.spinal.params.turn_bend == [0.123]
    name, kwargs = task_spec(cfg)
    env = tasks.make(name, **kwargs)
    assert env.io.spinal.params["turn_bend"][0] == 0.123
    env.close()
    default = Trainer(tiny_cfg("circuit=mlp", "task=open_field", "body.spinal.enabled=true"), tmp_path / "d", progress=False)
    assert default.cfg.body.spinal.params == spinal.params_as_lists(spinal.default_params("command"))
    default.envs.close()


@pytest.mark.parametrize("circuit", circuits.names())
def test_every_tensor_of_the_update_lives_on_the_configured_device(circuit, tmp_path):
    """The PPO update run with the agent and the rollout on the `meta` device (shapes, no data): any tensor
    made on the CPU inside it would meet a meta tensor and raise. The rollout's buffers are made there too."""
    trainer = Trainer(tiny_cfg(f"circuit={circuit}", "task=reach", "task.time_limit_s=0.1", "training.rate_l2=0.01",
                               "training.spike_count_l2=0.01"), tmp_path, progress=False)
    try:
        obs, _ = trainer.envs.reset()
        batch, *_ = trainer._rollout(obs, trainer.agent.circuit.initial_state(2), torch.ones(2, dtype=torch.bool))
        meta = torch.device("meta")
        trainer.device = meta
        trainer.agent.to(meta)
        trainer.optimizer = torch.optim.Adam(trainer.agent.parameters(), lr=1e-3)
        assert all(v.device.type == "cpu" for v in batch.values() if isinstance(v, torch.Tensor))
        on_meta = {k: ({kk: vv.to(meta) for kk, vv in v.items()} if isinstance(v, dict) else
                       v if k == "reset" else v.to(meta))  # reset masks are control data, kept on the CPU
                   for k, v in batch.items()}
        stats = trainer._learn(on_meta)  # raises if the update mixes devices
        assert set(stats) >= {"policy_loss", "value_loss", "entropy"}
        assert all(p.device.type == "meta" for p in trainer.agent.parameters())
    finally:
        trainer.close()


def test_cuda_requested_without_a_gpu_is_one_line(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    out = cli("train", *TINY, "task=reach", "training.device=cuda", "training.total_steps=16", cwd=tmp_path)
    assert out.returncode == 2 and "CUDA was requested but this torch build has no GPU" in out.stderr
    assert out.stderr.count("\n") == 1 and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("stop", [True, False])
def test_a_run_trained_to_criterion_stops_after_its_overtraining(stop, tmp_path, monkeypatch):
    """`training.stop_at_criterion`: the first update whose rolling metrics meet the task's criterion is
    recorded (in last.pt, so a resumed run keeps it, and in summary.json), and the run stops once it has trained
    `after_criterion` x its steps-to-criterion more; without the option it trains on and still records it."""
    import tasks.reach as reach

    calls = {"n": 0}

    def met(cls, metrics, min_trials=50):
        calls["n"] += 1
        return calls["n"] >= 3  # the third update's metrics meet it

    monkeypatch.setattr(reach.Reach, "criterion_met", classmethod(met))
    cfg = tiny_cfg("circuit=mlp", "task=reach", "training.total_steps=160", f"training.stop_at_criterion={stop}",
                   "training.after_criterion=1.0")
    summary = Trainer(cfg, tmp_path, progress=False).train()
    per_update = cfg.training.num_envs * cfg.training.rollout_steps  # 16
    assert summary["criterion_met"]["update"] == 3 and summary["criterion_met"]["env_steps"] == 3 * per_update
    assert summary["updates"] == (6 if stop else 10) and summary["stopped_at_criterion"] is stop
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["criterion_at"]["update"] == 3
    again = Trainer(cfg, tmp_path, resume=True, progress=False).train()  # re-entered: nothing more to train
    assert again["updates"] == summary["updates"] and again["criterion_met"] == summary["criterion_met"]


def _validation_fixture(monkeypatch, held_out_rates):
    """Reach's rolling criterion met from the third update on; the held-out checks score `held_out_rates`
    in turn (met from 0.8). Returns what each check was asked: (checkpoint, its update, episodes, seed,
    deterministic, best.pt's update at that moment)."""
    import tasks.reach as reach
    import training.rollout as rollout
    from training.run import Run

    calls = {"n": 0}

    def met(cls, metrics, min_trials=50):
        if "held_out" in metrics:
            return metrics["held_out"]
        calls["n"] += 1
        return calls["n"] >= 3

    rates, seen = iter(held_out_rates), []

    def held_out(run, episodes, deterministic, seed, checkpoint, out, **kw):
        ckpt, rate = run.checkpoint(checkpoint), next(rates)
        seen.append((checkpoint, ckpt["update"], episodes, seed, deterministic,
                     Run(run.path).checkpoint("best")["update"]))
        return {"metrics": {"success_rate": rate, "held_out": rate >= 0.8}, "env_steps_trained": ckpt["env_steps"],
                "faulted_episodes": {"physics_error": 0, "circuit_error": 0}}

    monkeypatch.setattr(reach.Reach, "criterion_met", classmethod(met))
    monkeypatch.setattr(rollout, "evaluate", held_out)
    return seen


VALIDATED = ("circuit=mlp", "task=reach", "training.total_steps=400", "training.stop_at_criterion=true",
             "training.after_criterion=1.0", "training.checkpoint_every=100", "seed=3")


def test_a_stop_at_criterion_waits_for_its_held_out_validation(tmp_path, monkeypatch):
    """`training.validation_episodes`: at the stop (criterion at update 3, overtrained at 6) the best
    checkpoint is run on held-out canonical episodes (policy noise on, seeds 50,000 + 1000 x seed); it fails
    (0.5), so training goes on with a check every `validate_every` updates; a worse check (0.4) leaves best.pt
    alone, the first that meets the criterion (0.9) becomes best.pt and stops the run."""
    from windtunnel.train import finished

    seen = _validation_fixture(monkeypatch, [0.5, 0.4, 0.9])
    cfg = tiny_cfg(*VALIDATED, "training.validation_episodes=7", "training.validate_every=2")
    summary = Trainer(cfg, tmp_path, progress=False).train()
    first_best = seen[0][1]
    assert [s[:5] for s in seen] == [("best", first_best, 7, 53_000, False), ("last", 8, 7, 53_000, False),
                                     ("last", 10, 7, 53_000, False)]
    assert first_best <= 6 and seen[2][5] == first_best  # the 0.4 check did not replace the 0.5 best
    assert summary["updates"] == 10 and summary["stopped_at_criterion"] is True
    v = summary["validation"]
    assert v["met"] and v["episodes"] == 7 and v["seed"] == 53_000
    assert [(c["update"], c["success_rate"], c["met"]) for c in v["checks"]] == [(6, 0.5, False), (8, 0.4, False),
                                                                                (10, 0.9, True)]
    assert load_checkpoint(tmp_path / "checkpoints" / "best.pt")["update"] == 10
    assert finished(tmp_path, cfg.training)


def test_a_stop_that_never_validates_trains_to_its_budget(tmp_path, monkeypatch):
    """The null: held-out checks that never meet the criterion -- the rolling criterion alone does not stop
    the run; it trains its whole budget and ships its best *checked* checkpoint."""
    seen = _validation_fixture(monkeypatch, [0.3, 0.6, 0.5] + [0.1] * 20)
    cfg = tiny_cfg(*VALIDATED, "training.validation_episodes=7", "training.validate_every=5")
    summary = Trainer(cfg, tmp_path, progress=False).train()
    assert summary["updates"] == 25 and summary["stopped_at_criterion"] is False
    assert [s[1] for s in seen] == [seen[0][1], 11, 16, 21, 25] and not summary["validation"]["met"]
    assert load_checkpoint(tmp_path / "checkpoints" / "best.pt")["update"] == 11  # the 0.6 check


def test_a_run_stopped_before_validation_is_validated_when_resumed_with_it(tmp_path, monkeypatch):
    """A run that stopped at its criterion without validation counts as unfinished once validation is asked
    for; resumed, its best checkpoint is checked as it would have been at that stop, with no update in
    between, and its summary gains the record."""
    from windtunnel.train import finished

    seen = _validation_fixture(monkeypatch, [0.95])
    plain = Trainer(tiny_cfg(*VALIDATED), tmp_path, progress=False).train()
    assert plain["updates"] == 6 and plain["validation"] is None and seen == []
    cfg = tiny_cfg(*VALIDATED, "training.validation_episodes=7")
    assert finished(tmp_path, tiny_cfg(*VALIDATED).training) and not finished(tmp_path, cfg.training)
    again = Trainer(cfg, tmp_path, resume=True, progress=False).train()
    assert again["updates"] == 6 and [s[0] for s in seen] == ["best"] and again["validation"]["met"]
    assert finished(tmp_path, cfg.training)
    assert json.loads((tmp_path / "summary.json").read_text())["validation"]["checks"][0]["update"] == 6


def test_the_lab_tasks_criteria_pass_trained_rats_and_fail_a_tapping_one():
    """Known answers: Kawai's criterion (>= 70 % rewarded, median IPI within 10 % of 0.7 s, >= 50 trials)
    and the reach criterion (>= 80 % successes), at their edges and on the tapping plateau (the null)."""
    from tasks.lever_timing import LeverTiming
    from tasks.reach import Reach

    trained = {"trials": 120, "canonical_rewarded_fraction": 0.74, "ipi_median_s": 0.69}
    assert LeverTiming.criterion_met(trained)
    assert LeverTiming.criterion_met({**trained, "ipi_median_s": 0.765})
    assert not LeverTiming.criterion_met({**trained, "ipi_median_s": 0.775})  # 10.7 % long
    assert LeverTiming.criterion_met({**trained, "ipi_median_s": 0.629999999999999})  # 315 steps of 2 ms: on the edge
    assert not LeverTiming.criterion_met({**trained, "ipi_median_s": 0.628})  # one step short
    assert not LeverTiming.criterion_met({"trials": 300, "canonical_rewarded_fraction": 0.05, "ipi_median_s": 0.21})
    assert not LeverTiming.criterion_met({**trained, "trials": 30})  # too few trials to tell
    assert LeverTiming.criterion_met({**trained, "trials": 30}, min_trials=0)  # a canonical evaluation
    assert not LeverTiming.criterion_met({"trials": 0})  # no IPI at all: not met, not an error
    assert Reach.criterion_met({"trials": 200, "success_rate": 0.8})
    assert not Reach.criterion_met({"trials": 200, "success_rate": 0.79})
    assert not Reach.criterion_met({"trials": "", "success_rate": "nan"})  # a metrics.csv row before any trial


def test_the_action_bound_penalty_pulls_a_mean_outside_the_action_box_back(tmp_path):
    """A policy mean beyond the body's [-1, 1] box moves nothing and earns no reward that could pull it back;
    the penalty (sum over joints of (|mean| - 1)^2) is logged always and trained on only with a coefficient."""
    penalty = {}
    for coef in (0.0, 1.0):
        cfg = tiny_cfg("circuit=mlp", "task=lever_timing", "training.total_steps=80", "training.epochs=4",
                       f"training.action_bound_coef={coef}", "training.learning_rate=0.01")
        trainer = Trainer(cfg, tmp_path / str(coef), progress=False)
        with torch.no_grad():
            trainer.agent.actor.bias.fill_(2.0)  # every joint commanded at 2: saturated, one unit outside the box
        trainer.train()
        penalty[coef] = [float(r["action_bound_penalty"]) for r in read_metrics(tmp_path / str(coef))]
    act_dim = trainer.act_dim
    assert penalty[0.0][0] == pytest.approx(act_dim * 1.0, rel=0.1)  # the known answer, untrained on
    assert min(penalty[0.0]) > 0.9 * act_dim  # no reward pulls it back
    assert penalty[1.0][-1] < 0.2 * act_dim  # the penalty does


def test_a_run_stopped_by_its_wall_clock_budget_is_finished_until_the_budget_grows(tmp_path):
    """`make demo`'s time box: a run stopped by `training.max_wall_s` short of its steps has finished as
    configured (a study moves on to evaluate it); with a larger time box, or none, it is unfinished and resumes."""
    from windtunnel.train import finished

    cfg = tiny_cfg("training.total_steps=1000000", "training.max_wall_s=1")
    summary = Trainer(cfg, tmp_path, progress=False).train()
    assert summary["env_steps"] < 1_000_000 and summary["wall_s"] >= 1
    assert finished(tmp_path, cfg.training)
    assert not finished(tmp_path, tiny_cfg("training.total_steps=1000000", "training.max_wall_s=3600").training)
    assert not finished(tmp_path, tiny_cfg("training.total_steps=1000000").training)
