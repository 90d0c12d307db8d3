"""Recurrent PPO for any circuit (CleanRL-style, written for explicit circuit state).

Rollout: `num_envs` environments (over worker processes) for `rollout_steps` control steps. The
circuit state at the rollout's first step is stored; so are the reset masks and the noise the
circuit drew. Update: minibatches are subsets of environments with their whole sequences; each
minibatch recomputes the circuit from the stored first state with the stored reset masks and
noise (no stale stored states, no padding), then takes the clipped PPO step. GAE on the critic's
values; learned action standard deviation; gradient-norm clipping; running observation
normalisation (stored in every checkpoint).

Episodes are trials or sessions: the end of an episode (termination, time limit or a physics
error) ends the return, so GAE treats it as terminal.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
import subprocess
import time
import weakref
import logging
from collections import deque
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf, open_dict

import tasks
from training.agent import Agent
from training.checkpoint import load_checkpoint, save_checkpoint
from training.config import UsageError, make_circuit, task_spec
from training.files import atomic_write_json
from training.normalizer import RunningNormalizer
from training.run import RunLock
from training.rollout import NumericalFault, nonfinite

log = logging.getLogger("windtunnel.training")
LEARNER_INFO = ("records", "episode")  # all the learner reads of a step's info: completed trials, episode stats  # under `windtunnel train`: the run's train.log

BASE_COLUMNS = ["update", "env_steps", "wall_s", "steps_per_s", "episode_return", "episode_length", "episodes",
                "policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction", "activity_penalty", "action_bound_penalty",
                "learning_rate", "action_std"]


class Trainer:
    def __init__(self, cfg, run_dir: str | Path, resume: bool = False, progress: bool = True):
        self.cfg = cfg
        self.t = cfg.training
        self.run_dir = Path(run_dir)
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.progress = progress
        t = self.t
        for key in ("total_steps", "num_envs", "rollout_steps", "epochs", "num_minibatches"):
            if t[key] < 1:
                raise UsageError(f"training.{key} must be >= 1, got {t[key]}")
        if t.num_envs % t.num_minibatches:
            raise UsageError(f"training.num_envs ({t.num_envs}) must be divisible by training.num_minibatches "
                             f"({t.num_minibatches}): minibatches are whole environments")
        if t.learning_rate <= 0:
            raise UsageError(f"training.learning_rate must be > 0, got {t.learning_rate}")
        if resume and not (self.ckpt_dir / "last.pt").exists():
            raise UsageError(f"resume=true but {self.ckpt_dir / 'last.pt'} does not exist")
        if not resume and (self.ckpt_dir / "last.pt").exists():
            raise UsageError(f"{self.run_dir} already holds a run; pass resume=true to continue it, "
                             "or choose another run_name")
        self.lock = RunLock(self.run_dir).acquire()  # one writer per run directory, held until train() ends
        self._release = weakref.finalize(self, self.lock.release)
        try:
            self._setup(cfg, resume)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stop the environment workers and release the run directory."""
        envs = getattr(self, "envs", None)
        if envs is not None:
            envs.close()
        self.lock.release()

    def _setup(self, cfg, resume: bool) -> None:
        t = self.t
        torch.set_num_threads(int(t.torch_threads))
        self.device = torch.device(t.device)
        last = self._read_last() if resume else None  # the checkpoint a resumed run continues from
        self._freeze_body(last)
        self.code = code_version()
        self.task_name, self.task_kwargs = task_spec(cfg)
        self.task_cls = tasks.task_class(self.task_name)
        self.seed = int(cfg.seed)
        self.lesioned: list[str] = list(cfg.get("lesion", []) or [])

        import body

        mujoco_log = str(self.run_dir / "mujoco.log")  # MuJoCo's warnings stay with the run
        body.log_mujoco_to(mujoco_log)
        self.envs = tasks.make_vec(self.task_name, t.num_envs, num_workers=t.num_workers, seed=self.seed,
                                   mujoco_log=mujoco_log, info_keys=LEARNER_INFO, **self.task_kwargs)
        obs_dim = self.envs.single_observation_space.shape[0]
        act_dim = self.envs.single_action_space.shape[0]
        self.obs_dim, self.act_dim = obs_dim, act_dim
        circuit = make_circuit(cfg, obs_dim, act_dim)
        if self.lesioned:
            circuit.lesion(self.lesioned)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed + 1)
            self.agent = Agent(circuit, act_dim, critic_hidden=t.critic_hidden, critic_inputs=t.critic_inputs,
                               value_shapes_circuit=t.value_shapes_circuit, init_log_std=t.init_log_std).to(self.device)
        self.optimizer = torch.optim.Adam(self.agent.parameters(), lr=t.learning_rate, eps=1e-5)
        self.normalizer = RunningNormalizer(obs_dim)
        self.generator = torch.Generator().manual_seed(self.seed + 2)
        self.update = 0
        self.env_steps = 0
        self.wall_s = 0.0
        self.best_metric = -math.inf
        self.criterion_at: dict | None = None  # {update, env_steps, wall_s} when the rolling metrics first met it
        self.validations: list[dict] = []  # held-out checks of a stop at criterion (`_validate`), in order
        self.records: deque = deque(maxlen=int(t.metrics_window))
        self.episode_stats: deque = deque(maxlen=100)
        if last is not None:
            self._load_last(last)
        self.columns = BASE_COLUMNS + [f"task_{k}" for k in self.task_cls.metric_keys]

    def _freeze_body(self, last: dict | None) -> None:
        """Let the body freeze its own parameters into the config (and so into config.yaml and every
        checkpoint): through the spinal layer, its parameter values. A resumed run keeps the layer it
        started with, and a checkpoint drives its rat through the layer it was trained through even
        after the shipped set is re-tuned."""
        import body

        spec = OmegaConf.to_container(self.cfg.body, resolve=True)
        stored = (last or {}).get("config", {}).get("body", {}).get("spinal", {})
        if stored.get("enabled") and isinstance(spec.get("spinal"), dict):
            spec["spinal"] = {**spec["spinal"], "params": stored["params"]}
        try:
            frozen = body.frozen_config(spec)
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
        with open_dict(self.cfg):
            self.cfg.body = frozen

    # ------------------------------------------------------------------------------- resume
    def _read_last(self) -> dict:
        # a write cut off by a kill leaves only its temp file (the target is replaced atomically): drop it
        for stale in self.ckpt_dir.glob(".*.tmp"):
            stale.unlink()
        return load_checkpoint(self.ckpt_dir / "last.pt")

    def _load_last(self, ckpt: dict) -> None:
        self.agent.load_state_dict(ckpt["agent"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.normalizer.load_state_dict(ckpt["normalizer"])
        self.generator.set_state(ckpt["generator"])
        self.update, self.env_steps, self.wall_s = ckpt["update"], ckpt["env_steps"], ckpt["wall_s"]
        self.best_metric = ckpt["best_metric"]
        self.criterion_at = ckpt.get("criterion_at")
        self.validations = list(ckpt.get("validations", []))
        self.records.extend(ckpt["records"])
        self.episode_stats.extend(ckpt["episode_stats"])
        self._truncate_metrics(self.update)

    def _truncate_metrics(self, last_update: int) -> None:
        """Drop metrics rows written after the checkpoint a resumed run starts from."""
        path = self.run_dir / "metrics.csv"
        if not path.exists():
            return
        with open(path) as f:
            rows = list(csv.reader(f))
        kept = [rows[0]] + [r for r in rows[1:] if r and int(r[0]) <= last_update]
        with open(path, "w", newline="") as f:
            csv.writer(f).writerows(kept)

    # ----------------------------------------------------------------------------- training
    def train(self) -> dict:
        from torch.utils.tensorboard import SummaryWriter
        from tqdm import tqdm

        t = self.t
        self.run_dir.mkdir(parents=True, exist_ok=True)
        steps_per_update = t.num_envs * t.rollout_steps
        n_updates = math.ceil(t.total_steps / steps_per_update)
        if self._validation_due(n_updates) and not self.validations:
            # a run that stopped at its criterion before validation was asked for (resumed with it): its best
            # checkpoint is checked now, as it would have been at that stop
            self._validate()
        over = (self.update >= n_updates or (t.max_wall_s and self.wall_s >= t.max_wall_s)
                or self._trained_to_criterion())
        summary_path = self.run_dir / "summary.json"
        if over and summary_path.exists():  # a finished run, re-entered: its summary stands (validated if asked)
            self.close()
            summary = json.loads(summary_path.read_text())
            if self._validation_on() and summary.get("validation") != self._validation_record():
                summary.update(validation=self._validation_record(), stopped_at_criterion=self._trained_to_criterion())
                atomic_write_json(summary_path, summary)
            return summary
        if self.update == 0:  # a fresh run: what a writer killed before its first checkpoint left is not this run's
            for orphan in (self.run_dir / "metrics.csv", self.run_dir / "summary.json"):
                orphan.unlink(missing_ok=True)
            shutil.rmtree(self.run_dir / "tensorboard", ignore_errors=True)
        writer = SummaryWriter(str(self.run_dir / "tensorboard"), purge_step=self.update or None)
        metrics_path = self.run_dir / "metrics.csv"
        new_file = not metrics_path.exists() or metrics_path.stat().st_size == 0
        # a resumed run keeps its file's columns (a task may have gained a metric since it started)
        if new_file:
            columns = self.columns
        else:
            with open(metrics_path) as f:
                columns = f.readline().rstrip("\r\n").split(",")
        csv_file = open(metrics_path, "a", newline="")
        csv_writer = csv.DictWriter(csv_file, fieldnames=columns, extrasaction="ignore")
        if new_file:
            csv_writer.writeheader()
        bar = tqdm(total=n_updates * steps_per_update, initial=self.env_steps, unit="step", disable=not self.progress,
                   dynamic_ncols=True, mininterval=1.0, desc=f"{self.cfg.circuit.name} on {self.task_name}")

        log.info("%s %s on %s (seed %d) in %s: %d env steps from %d, %d environments, code %s",
                 "resuming" if self.update else "training", self.cfg.circuit.name, self.task_name, self.seed,
                 self.run_dir, t.total_steps, self.env_steps, t.num_envs, self.code.get("git_commit") or "unknown")
        obs, _ = self.envs.reset()
        state = self.agent.circuit.initial_state(t.num_envs)
        reset_mask = torch.ones(t.num_envs, dtype=torch.bool)  # control data: where sequences restart, on the CPU
        start = time.perf_counter() - self.wall_s
        row = {}
        try:
            while self.update < n_updates:
                if (t.max_wall_s and self.wall_s >= t.max_wall_s) or self._trained_to_criterion():
                    break
                if t.anneal_lr:  # linearly to zero over the run: its steps, or its wall-clock budget if that ends first
                    done = max(self.update / n_updates, self.wall_s / t.max_wall_s if t.max_wall_s else 0.0)
                    for g in self.optimizer.param_groups:
                        g["lr"] = t.learning_rate * max(1.0 - done, 0.0)
                u_start = time.perf_counter()
                batch, obs, state, reset_mask = self._rollout(obs, state, reset_mask)
                losses = self._learn(batch)
                self.update += 1
                self.env_steps += steps_per_update
                self.wall_s = time.perf_counter() - start
                row = self._metrics_row(losses, steps_per_update / (time.perf_counter() - u_start))
                if self.criterion_at is None and self.task_cls.criterion_met(
                        {k[5:]: v for k, v in row.items() if k.startswith("task_")}):
                    self.criterion_at = {"update": self.update, "env_steps": self.env_steps,
                                         "wall_s": round(self.wall_s, 1)}
                    log.info("criterion met at update %d (%d env steps, %.0f s)", self.update, self.env_steps,
                             self.wall_s)
                csv_writer.writerow(row)
                csv_file.flush()
                for k, v in row.items():
                    if k not in ("update",) and isinstance(v, (int, float)) and not math.isnan(v):
                        writer.add_scalar(k if k.startswith("task_") else f"train/{k}", v, self.env_steps)
                bar.update(steps_per_update)
                bar.set_postfix(sps=f"{row['steps_per_s']:.0f}", ret=_fmt(row["episode_return"]),
                                **{self.task_cls.criterion: _fmt(row.get(f"task_{self.task_cls.criterion}", math.nan))})
                validate = self._validation_due(n_updates)
                if (self.update % t.checkpoint_every == 0 or self.update == n_updates
                        or (t.max_wall_s and self.wall_s >= t.max_wall_s) or self._trained_to_criterion() or validate):
                    self._save(row)
                if validate:
                    self._validate()
        except BaseException:
            self.lock.release()
            raise
        finally:
            bar.close()
            csv_file.close()
            writer.close()
            self.envs.close()
        try:
            summary = self._summary(row)
            atomic_write_json(self.run_dir / "summary.json", summary)
            log.info("done: %d env steps in %.0f s; best %s %s", self.env_steps, self.wall_s, self.task_cls.criterion,
                     _fmt(self.best_metric))
        finally:
            self.lock.release()
        return summary

    def _rollout(self, obs, state, reset_mask):
        t, n, T = self.t, self.t.num_envs, self.t.rollout_steps
        agent = self.agent
        first_state = {k: v.clone() for k, v in state.items()}
        dev = self.device  # the circuit and every tensor of the update live here; physics and tasks stay on the CPU
        buf_obs = torch.zeros(T, n, self.obs_dim, device=dev)
        buf_act = torch.zeros(T, n, self.act_dim, device=dev)
        buf_logp = torch.zeros(T, n, device=dev)
        buf_val = torch.zeros(T, n, device=dev)
        buf_rew = torch.zeros(T, n, device=dev)
        buf_done = torch.zeros(T, n, device=dev)
        buf_reset = torch.zeros(T, n, dtype=torch.bool)  # control data on the CPU: no device sync to branch on it
        noises = []
        with torch.no_grad():
            for step in range(T):
                if t.normalize_obs:
                    self.normalizer.update(obs)
                    obs_n = torch.as_tensor(self.normalizer(obs), device=dev)
                else:
                    obs_n = torch.as_tensor(obs, dtype=torch.float32, device=dev)
                noise = agent.circuit.sample_noise(n, self.generator) or None
                mean, value, state, _, _ = agent(obs_n, state, reset_mask, noise)
                bad = nonfinite(mean, state)
                if bad is not None:
                    raise NumericalFault(f"circuit_error: {self.cfg.circuit.name}'s {bad} became non-finite at update "
                                         f"{self.update + 1}, rollout step {step}; training stopped, the last "
                                         f"checkpoint is intact ({self.ckpt_dir})")
                eps = torch.randn(mean.shape, generator=self.generator).to(dev)  # drawn on the CPU: same on any device
                action = mean + agent.log_std.exp() * eps
                buf_obs[step], buf_act[step], buf_reset[step] = obs_n, action, reset_mask
                buf_logp[step], buf_val[step] = agent.log_prob(mean, action), value
                noises.append(noise)
                obs, reward, term, trunc, infos = self.envs.step(action.clamp(-1, 1).cpu().numpy())
                done = np.logical_or(term, trunc)
                buf_rew[step] = torch.as_tensor(reward, dtype=torch.float32, device=dev)
                buf_done[step] = torch.as_tensor(done, dtype=torch.float32, device=dev)
                reset_mask = torch.as_tensor(done)
                for info in infos:
                    self.records.extend(info.get("records", []))
                    if "episode" in info:
                        self.episode_stats.append(info["episode"])
            # value of the state after the rollout (for GAE), without advancing the stored state
            obs_n = (torch.as_tensor(self.normalizer(obs), device=dev) if t.normalize_obs
                     else torch.as_tensor(obs, dtype=torch.float32, device=dev))
            _, next_value, _, _, _ = agent(obs_n, {k: v.clone() for k, v in state.items()}, reset_mask,
                                           agent.circuit.sample_noise(n, self.generator) or None)
        adv = torch.zeros(T, n, device=dev)
        last = torch.zeros(n, device=dev)
        for step in reversed(range(T)):
            nonterminal = 1.0 - buf_done[step]
            nv = next_value if step == T - 1 else buf_val[step + 1]
            delta = buf_rew[step] + t.gamma * nv * nonterminal - buf_val[step]
            last = delta + t.gamma * t.gae_lambda * nonterminal * last
            adv[step] = last
        noise_seq = {k: torch.stack([nz[k] for nz in noises]) for k in noises[0]} if noises[0] else {}  # [T, n, ...]
        batch = {"obs": buf_obs, "act": buf_act, "logp": buf_logp, "val": buf_val, "adv": adv, "ret": adv + buf_val,
                 "reset": buf_reset, "noise": noise_seq, "state0": first_state}
        return batch, obs, state, reset_mask

    def _learn(self, batch) -> dict:
        t, agent = self.t, self.agent
        n = t.num_envs
        per_mb = n // t.num_minibatches
        stats = {"policy_loss": [], "value_loss": [], "entropy": [], "approx_kl": [], "clip_fraction": [],
                 "activity_penalty": [], "action_bound_penalty": []}
        for _ in range(t.epochs):
            order = torch.randperm(n, generator=self.generator).to(self.device)
            for k in range(t.num_minibatches):
                idx = order[k * per_mb:(k + 1) * per_mb]
                state = {key: v[idx] for key, v in batch["state0"].items()}
                noise = {key: v[:, idx] for key, v in batch["noise"].items()}
                penalize = t.rate_l2 > 0 or t.spike_count_l2 > 0
                mean, value, _, activity = agent.unroll(batch["obs"][:, idx], state, batch["reset"][:, idx], noise,
                                                        keep_activity=penalize)  # [T, mb, act], [T, mb]
                penalty = self._activity_penalty(activity) if penalize else torch.zeros((), device=self.device)
                act, old_logp = batch["act"][:, idx], batch["logp"][:, idx]
                adv, ret = batch["adv"][:, idx], batch["ret"][:, idx]
                adv = (adv - adv.mean()) / (adv.std() + 1e-8)
                logp = agent.log_prob(mean, act)
                log_ratio = logp - old_logp
                ratio = log_ratio.exp()
                pg_loss = torch.max(-adv * ratio, -adv * ratio.clamp(1 - t.clip_coef, 1 + t.clip_coef)).mean()
                v_loss = 0.5 * ((value - ret) ** 2).mean()
                entropy = agent.entropy()
                # the body takes actions clamped to [-1, 1]: a mean outside that box moves nothing and no
                # reward can pull it back (m1_bg_subcortical lever seed 0 drifted there, |mean| 2.1)
                bound = (mean.abs() - 1).clamp(min=0).pow(2).sum(-1).mean()  # [T, mb, act] -> ()
                loss = pg_loss + t.vf_coef * v_loss - t.ent_coef * entropy + penalty + t.get("action_bound_coef", 0.0) * bound
                self.optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(agent.parameters(), t.max_grad_norm)
                self.optimizer.step()
                with torch.no_grad():  # kept on the device: one synchronisation per update, not per minibatch
                    stats["policy_loss"].append(pg_loss.detach())
                    stats["value_loss"].append(v_loss.detach())
                    stats["entropy"].append(entropy.detach())
                    stats["approx_kl"].append(((ratio - 1) - log_ratio).mean())
                    stats["clip_fraction"].append(((ratio - 1).abs() > t.clip_coef).float().mean())
                    stats["activity_penalty"].append(penalty.detach())
                    stats["action_bound_penalty"].append(bound.detach())
        if self.device.type == "meta":  # a dry run of the update (shapes, no values): nothing to report
            return {k: math.nan for k in stats}
        means = torch.stack([torch.stack(v).mean() for v in stats.values()]).cpu().tolist()
        return dict(zip(stats, means))

    def _activity_penalty(self, activity) -> torch.Tensor:
        """L2 on rates (rate populations) and a spike-count penalty (spiking populations), averaged
        over the sequence: activity [T, B, units] (rates) or [T, B, substeps, units] (spikes)."""
        penalty = torch.zeros((), device=self.device)
        for pop in self.agent.circuit.populations:
            a = activity[pop.name]
            if pop.kind == "rate" and self.t.rate_l2 > 0:
                penalty = penalty + self.t.rate_l2 * (a ** 2).mean()
            elif pop.kind == "spike" and self.t.spike_count_l2 > 0:
                penalty = penalty + self.t.spike_count_l2 * a.sum(2).mean()
        return penalty

    # ------------------------------------------------------------------------ metrics, files
    def task_metrics(self) -> dict[str, float]:
        return self.task_cls.metrics(list(self.records))

    def _metrics_row(self, losses: dict, sps: float) -> dict:
        eps = list(self.episode_stats)
        row = {"update": self.update, "env_steps": self.env_steps, "wall_s": round(self.wall_s, 2),
               "steps_per_s": round(sps, 1),
               "episode_return": float(np.mean([e["return"] for e in eps])) if eps else math.nan,
               "episode_length": float(np.mean([e["length"] for e in eps])) if eps else math.nan,
               "episodes": len(eps), "learning_rate": self.optimizer.param_groups[0]["lr"],
               "action_std": float(self.agent.log_std.detach().exp().mean()), **losses}
        for k, v in self.task_metrics().items():
            row[f"task_{k}"] = v
        return row

    def _payload(self, full: bool) -> dict:
        payload = {
            "format": "windtunnel-checkpoint-1",
            "config": OmegaConf.to_container(self.cfg, resolve=True),
            "task": self.task_name,
            "circuit": self.cfg.circuit.name,
            "obs_dim": self.obs_dim,
            "act_dim": self.act_dim,
            "agent": self.agent.state_dict(),
            "normalizer": self.normalizer.state_dict(),
            "update": self.update,
            "env_steps": self.env_steps,
            "lesioned": self.lesioned,
            "code": self.code,
        }
        if full:
            payload.update({"optimizer": self.optimizer.state_dict(), "generator": self.generator.get_state(),
                            "wall_s": self.wall_s, "best_metric": self.best_metric, "records": list(self.records),
                            "criterion_at": self.criterion_at, "validations": self.validations,
                            "episode_stats": list(self.episode_stats)})
        return payload

    def _save(self, row: dict) -> None:
        """best.pt first (if this is the best so far), then last.pt with the best score it implies: a kill
        between the two leaves a last.pt whose best_metric never claims more than best.pt holds. Once a stop at
        criterion has failed its validation, best.pt is the best *validated* checkpoint (`_validate`) instead."""
        metric = row.get(f"task_{self.task_cls.criterion}", row.get("episode_return", math.nan))
        if (metric is not None and not math.isnan(metric) and metric >= self.best_metric
                and not self.validations):
            self.best_metric = metric
            save_checkpoint(self.ckpt_dir / "best.pt", self._payload(full=False))
        save_checkpoint(self.ckpt_dir / "last.pt", self._payload(full=True))
        log.info("update %d, %d env steps, %.0f s: %s %s (best %s); checkpoint saved", self.update, self.env_steps,
                 self.wall_s, self.task_cls.criterion, _fmt(metric), _fmt(self.best_metric))

    def _overtrained(self) -> bool:
        """`training.stop_at_criterion`: the criterion was met and the run has since trained `after_criterion`
        times its steps-to-criterion more."""
        if not self.t.get("stop_at_criterion", False) or self.criterion_at is None:
            return False
        return self.env_steps >= self.criterion_at["env_steps"] * (1.0 + self.t.get("after_criterion", 0.5))

    def _validation_on(self) -> bool:
        return bool(self.t.get("stop_at_criterion", False)) and int(self.t.get("validation_episodes", 0)) > 0

    def _trained_to_criterion(self) -> bool:
        """Stop: overtrained past the criterion and, with `training.validation_episodes`, a checkpoint has
        met the criterion on held-out episodes too."""
        return self._overtrained() and (not self._validation_on() or any(v["met"] for v in self.validations))

    def _validation_due(self, n_updates: int) -> bool:
        """The first check at the stop, then every `validate_every` updates and at the budget's end."""
        if not self._validation_on() or not self._overtrained() or self._trained_to_criterion():
            return False
        return (not self.validations or self.update >= n_updates
                or self.update - self.validations[-1]["update"] >= int(self.t.get("validate_every", 25)))

    def _validate(self) -> None:
        """`training.validation_episodes`: the rolling training metrics meet the criterion with policy noise, the
        task's training aids and 200 trials that straddle updates; the canonical evaluation is what counts. So
        before a run stops at its criterion, its best checkpoint is run on that many canonical episodes, held
        out (seeds `validation_seed` + 1000 x seed + episode: none used by training, evaluation, lesions or
        comparisons), policy noise on as the study evaluates. Met: the run stops. Not met: it trains on, the
        current policy is checked every `validate_every` updates, best.pt becomes the best checked checkpoint
        (met first, then the criterion metric), and the run stops at the first that meets it, or at its budget."""
        from training.rollout import evaluate
        from training.run import Run

        t, crit = self.t, self.task_cls.criterion
        which = "last" if self.validations else "best"
        result = evaluate(Run(self.run_dir), episodes=int(t.validation_episodes), deterministic=False,
                          seed=self._validation_seed(), checkpoint=which, out=self.run_dir / "validation")
        value = result["metrics"].get(crit)
        value = float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None
        check = {"update": self.update, "env_steps": self.env_steps, "checkpoint": which,
                 "checkpoint_env_steps": int(result["env_steps_trained"]), crit: value,
                 "met": bool(self.task_cls.criterion_met(result["metrics"], min_trials=0)),
                 "faulted_episodes": sum(result["faulted_episodes"].values())}
        if ((which == "last" and _rank(check, crit) > max(_rank(v, crit) for v in self.validations))
                or not (self.ckpt_dir / "best.pt").exists()):  # no rolling best yet: the checked one was last.pt
            save_checkpoint(self.ckpt_dir / "best.pt", self._payload(full=False))
        self.validations.append(check)
        save_checkpoint(self.ckpt_dir / "last.pt", self._payload(full=True))
        log.info("validation at update %d: %s checkpoint (%d env steps) on %d held-out canonical episodes: %s %s, "
                 "criterion %s", self.update, which, check["checkpoint_env_steps"], t.validation_episodes, crit,
                 _fmt(value if value is not None else math.nan), "met: stopping" if check["met"] else "not met: training on")

    def _validation_seed(self) -> int:
        return int(self.t.get("validation_seed", 50_000)) + 1000 * self.seed

    def _validation_record(self) -> dict | None:
        if not self._validation_on():
            return None
        return {"episodes": int(self.t.validation_episodes), "seed": self._validation_seed(),
                "met": any(v["met"] for v in self.validations), "checks": self.validations}

    def _summary(self, row: dict) -> dict:
        return {
            "task": self.task_name,
            "circuit": self.cfg.circuit.name,
            "seed": self.seed,
            "lesioned": self.lesioned,
            "env_steps": self.env_steps,
            "updates": self.update,
            "wall_s": round(self.wall_s, 1),
            "criterion": self.task_cls.criterion,
            "final": {k: v for k, v in row.items() if isinstance(v, (int, float))},
            "best_criterion": self.best_metric if math.isfinite(self.best_metric) else None,
            "criterion_met": self.criterion_at,  # when the rolling metrics first met the task's criterion (or null)
            "stopped_at_criterion": self._trained_to_criterion(),
            "validation": self._validation_record(),  # the held-out checks of that stop (null: not asked for)
            "parameters": self.agent.circuit.num_parameters(),
            "code": self.code,
            "machine": machine(),
        }


def _rank(check: dict, criterion: str) -> tuple:
    """A validation check's order: met first, then the criterion metric (a check without one last)."""
    value = check.get(criterion)
    return (bool(check["met"]), -math.inf if value is None else value)


def machine() -> str:
    """The machine a run trained on (CPU model and cores, and the GPU when training used one)."""
    import os
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    text = f"{cpu}, {os.cpu_count()} cores"
    if torch.cuda.is_available():
        text += f", {torch.cuda.get_device_name(0)}"
    return text


def code_version() -> dict:
    """Which code a run was trained with: the package version and, in a git checkout, the commit
    (`dirty`: tracked files differed from it). A checkpoint pins its config and its spinal layer's
    parameters; the rules in the code (the layer's turning limit, a task's reward) are recorded only here
    (a resumed run records the code that resumed it)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        package = version("windtunnel")
    except PackageNotFoundError:
        package = None
    root = Path(__file__).resolve().parents[1]
    if not (root / "pyproject.toml").is_file():  # an installed package, not a checkout: no commit to read
        return {"windtunnel": package, "git_commit": None, "dirty": None}
    root = str(root)

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", "-C", root, *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"windtunnel": package, "git_commit": commit, "dirty": bool(status) if status is not None else None}


def _fmt(v) -> str:
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.3g}"
