"""A vector of task environments spread over worker processes.

`VecEnv(name, num_envs, num_workers, seed, **overrides)` runs `num_envs` environments in
`num_workers` processes (each steps its share of environments in turn, so two workers use both
cores of a laptop without one process per environment). `num_workers=0` runs everything in this
process (debugging, determinism tests).

Seeds: environment i is first reset with the i-th seed spawned from `numpy.random.SeedSequence(seed)`;
later episodes continue each environment's own generator, so a run is reproducible from one seed.

Auto-reset happens in the same step: when an episode ends, the returned observation is the first
of the next episode and that environment's info holds ``final_observation`` and ``final_info``.
`step` returns ``(obs [N, obs_dim], rewards [N], terminations [N], truncations [N], infos)`` with
`infos` a list of N per-environment dicts (behavioural events are ragged, so they are not stacked).
With `info_keys` only those keys come back from the workers (a learner that needs the completed
trials and the episode statistics need not have every event and kinematic pickled at every step);
an auto-reset then sends no final observation or final info either.
"""

from __future__ import annotations

import multiprocessing as mp
import os

import gymnasium as gym
import numpy as np


def spawn_seeds(seed: int, n: int) -> list[int]:
    return [int(s.generate_state(1, dtype=np.uint32)[0]) for s in np.random.SeedSequence(seed).spawn(n)]


class _EnvGroup:
    """Environments stepped one after another in one process, with same-step auto-reset."""

    def __init__(self, name: str, overrides: dict, seeds: list[int], info_keys: tuple[str, ...] | None = None):
        from tasks.registry import make

        self.envs = [make(name, **overrides) for _ in seeds]
        self.seeds = seeds
        self.info_keys = info_keys

    def reset(self, seeds: list[int] | None):
        seeds = seeds if seeds is not None else [None] * len(self.envs)
        out = [env.reset(seed=s) for env, s in zip(self.envs, seeds)]
        return np.stack([o for o, _ in out]), [i for _, i in out]

    def step(self, actions: np.ndarray):
        obs, rew, term, trunc, infos = [], [], [], [], []
        for env, a in zip(self.envs, actions):
            o, r, te, tr, info = env.step(a)
            if self.info_keys is not None:
                info = {k: info[k] for k in self.info_keys if k in info}
                if te or tr:
                    o, _ = env.reset()
            elif te or tr:
                info = {"final_observation": o, "final_info": info, **info}
                o, reset_info = env.reset()
                info["reset_info"] = reset_info
            obs.append(o)
            rew.append(r)
            term.append(te)
            trunc.append(tr)
            infos.append(info)
        return np.stack(obs), np.array(rew), np.array(term), np.array(trunc), infos

    def call(self, method: str, args: tuple):
        return [getattr(env, method)(*args) for env in self.envs]

    def close(self):
        for env in self.envs:
            env.close()


def _worker(conn, name, overrides, seeds, mujoco_log=None, info_keys=None):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        if mujoco_log is not None:
            from body import log_mujoco_to

            log_mujoco_to(mujoco_log)
        group = _EnvGroup(name, overrides, seeds, info_keys)
        conn.send(("ok", None))
    except Exception as exc:  # report construction errors to the parent
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    while True:
        cmd, arg = conn.recv()
        try:
            if cmd == "reset":
                conn.send(("ok", group.reset(arg)))
            elif cmd == "step":
                conn.send(("ok", group.step(arg)))
            elif cmd == "call":
                conn.send(("ok", group.call(*arg)))
            elif cmd == "close":
                group.close()
                conn.send(("ok", None))
                return
        except Exception as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


class VecEnv(gym.vector.VectorEnv):
    def __init__(self, name: str, num_envs: int, num_workers: int | None = None, seed: int = 0,
                 mujoco_log: str | None = None, info_keys: tuple[str, ...] | None = None, **overrides):
        from tasks.registry import make, task_class

        task_class(name)  # unknown names fail here, in the caller's process
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        if num_workers is None:
            num_workers = min(num_envs, os.cpu_count() or 1)
        if num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {num_workers}")
        num_workers = min(num_workers, num_envs)
        self.name = name
        self.num_envs = num_envs
        self.num_workers = num_workers
        self.seeds = spawn_seeds(seed, num_envs)
        probe = make(name, **overrides)  # spaces and metadata (also validates overrides here)
        self.single_observation_space = probe.observation_space
        self.single_action_space = probe.action_space
        self.observation_space = gym.vector.utils.batch_space(probe.observation_space, num_envs)
        self.action_space = gym.vector.utils.batch_space(probe.action_space, num_envs)
        self.control_dt = probe.control_dt
        self.layout = probe.observation_layout()
        self.metadata = {"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP}
        probe.close()

        chunks = np.array_split(np.arange(num_envs), max(num_workers, 1))
        self._chunks = [c for c in chunks if len(c)]
        self._local = None
        self._conns, self._procs = [], []
        if num_workers == 0:
            self._local = _EnvGroup(name, overrides, self.seeds, info_keys)
        else:
            ctx = mp.get_context("forkserver")
            for chunk in self._chunks:
                parent, child = ctx.Pipe()
                p = ctx.Process(target=_worker, args=(child, name, overrides, [self.seeds[i] for i in chunk], mujoco_log,
                                                      info_keys), daemon=True)
                p.start()
                child.close()
                self._conns.append(parent)
                self._procs.append(p)
            for conn in self._conns:
                self._receive(conn)
        self._first_reset = True

    @staticmethod
    def _receive(conn):
        try:
            status, payload = conn.recv()
        except EOFError:
            raise RuntimeError("an environment worker process died; worker processes re-import the main script, so "
                               "it must be a file whose top-level code is guarded by `if __name__ == '__main__':`") from None
        if status != "ok":
            raise RuntimeError(f"environment worker failed: {payload}")
        return payload

    def _broadcast(self, cmd: str, per_chunk_args):
        if self._local is not None:
            arg = per_chunk_args[0]
            return [self._local.call(*arg) if cmd == "call" else getattr(self._local, cmd)(arg)]
        for conn, arg in zip(self._conns, per_chunk_args):
            conn.send((cmd, arg))
        return [self._receive(conn) for conn in self._conns]

    def reset(self, *, seed: int | None = None, options=None):
        if seed is not None:
            self.seeds = spawn_seeds(seed, self.num_envs)
            seeds = self.seeds
        else:
            seeds = self.seeds if self._first_reset else None
        self._first_reset = False
        chunks = self._chunks if self._local is None else [np.arange(self.num_envs)]
        args = [None if seeds is None else [seeds[i] for i in c] for c in chunks]
        results = self._broadcast("reset", args)
        obs = np.concatenate([r[0] for r in results])
        infos = [i for r in results for i in r[1]]
        return obs, infos

    def step(self, actions):
        actions = np.asarray(actions, dtype=np.float32)
        chunks = self._chunks if self._local is None else [np.arange(self.num_envs)]
        results = self._broadcast("step", [actions[c] for c in chunks])
        obs = np.concatenate([r[0] for r in results])
        rew = np.concatenate([r[1] for r in results])
        term = np.concatenate([r[2] for r in results])
        trunc = np.concatenate([r[3] for r in results])
        infos = [i for r in results for i in r[4]]
        return obs, rew, term, trunc, infos

    def call(self, method: str, *args):
        """Call a method on every environment; returns the N results in order."""
        chunks = self._chunks if self._local is None else [np.arange(self.num_envs)]
        results = self._broadcast("call", [(method, args)] * len(chunks))
        return [x for r in results for x in r]

    def close(self, **kwargs):
        if self._local is not None:
            self._local.close()
            self._local = None
        for conn, p in zip(self._conns, self._procs):
            try:
                conn.send(("close", None))
                conn.recv()
            except (BrokenPipeError, EOFError, OSError):
                pass
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
        self._conns, self._procs = [], []

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


def make_vec(name: str, num_envs: int, num_workers: int | None = None, seed: int = 0, mujoco_log: str | None = None,
             info_keys: tuple[str, ...] | None = None, **overrides) -> VecEnv:
    """`num_envs` environments of task `name` over `num_workers` processes (default: one per core);
    `mujoco_log`: the file MuJoCo's warnings go to in every worker (`body.log_mujoco_to`); `info_keys`: only
    these keys of each step's info come back (None: all, with auto-reset's final observation and info)."""
    return VecEnv(name, num_envs, num_workers=num_workers, seed=seed, mujoco_log=mujoco_log, info_keys=info_keys,
                  **overrides)
