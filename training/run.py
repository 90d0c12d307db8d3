"""`Run`: one run directory, opened once per command.

A run directory holds what `windtunnel train` wrote: `config.yaml` (the validated, resolved config),
`checkpoints/best.pt` and `last.pt`, `metrics.csv`, `tensorboard/`, `summary.json`. A `Run` reads
each checkpoint at most once, and answers what every command asks of a run: its config, task and
criterion, circuit, code provenance, a fresh agent (optionally lesioned) and its task environment.

    run = Run("runs/lever_timing/lstm/seed0")
    agent, normalizer = run.agent("best", lesion=["core"])
    env = run.make_env(canonical=True)
"""

from __future__ import annotations

import datetime
import json
import os
import socket
import sys
from pathlib import Path

from training.checkpoint import build_agent, find_checkpoint, load_checkpoint
from training.config import UsageError

CHECKPOINTS = ("best", "last")
LOCK_FILE = "lock"


class RunLock:
    """One writer per run directory: an exclusive OS-level lock (`flock`) on `<run_dir>/lock`, which
    holds the writer's pid, host and start time.

    A second writer is refused with a one-line `UsageError` naming the holder. The operating system drops
    the lock when its process dies, however it dies, so a lock left by a killed writer is simply taken
    over (with a message naming the dead holder)."""

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> "RunLock":
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 512, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise UsageError(f"run dir {self.path.parent} is being written by {holder}; one writer per run: wait "
                             "for it to finish, or choose another run_name") from None
        previous = os.pread(fd, 512, 0).decode(errors="replace").strip()
        if previous:
            print(f"windtunnel: taking over the lock of {previous} on {self.path.parent} (that writer is gone)",
                  file=sys.stderr)
        me = f"pid {os.getpid()} on {socket.gethostname()} since {datetime.datetime.now().isoformat(timespec='seconds')}"
        os.ftruncate(fd, 0)
        os.pwrite(fd, me.encode(), 0)
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self) -> None:
        """Clear the holder and drop the lock (a cleared lock file means: released cleanly)."""
        if self._fd is None:
            return
        import fcntl

        os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


class Run:
    """A run directory, or a shipped zoo entry (`zoo:<study>/<circuit>/<task>/seed<k>`, `training.zoo`).

    `path` is where it is read from; `out_dir` is where commands write about it (the run directory itself,
    or for a zoo entry, which ships read-only, `runs/zoo/<study>/<circuit>/<task>/seed<k>`)."""

    def __init__(self, path: str | Path):
        from training import zoo

        self.zoo_ref = str(path) if zoo.is_ref(path) else None
        self._checkpoints: dict[Path, dict] = {}
        if self.zoo_ref:
            self.path = zoo.resolve(self.zoo_ref)
            self.out_dir = Path("runs") / "zoo" / self.zoo_ref[len(zoo.PREFIX):].strip("/")
            return
        self.path = Path(path)
        self.out_dir = self.path
        if not self.path.is_dir():
            raise UsageError(f"run dir {self.path} does not exist")
        if not (self.path / "checkpoints").is_dir():
            raise UsageError(f"run dir {self.path} has no checkpoints/ (train it first with windtunnel train)")

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    # ------------------------------------------------------------------------------ checkpoints
    def checkpoint_path(self, which: str = "best") -> Path:
        """`best.pt` (falling back to `last.pt`) or `last.pt`; a zoo entry's weights file."""
        if which not in CHECKPOINTS:
            raise UsageError(f"unknown checkpoint {which!r}; valid: {', '.join(CHECKPOINTS)}")
        if self.zoo_ref:
            from training import zoo

            if which != "best":
                raise UsageError(f"{self.zoo_ref} is a zoo entry: it ships its best checkpoint only (checkpoint=best)")
            return self.path / zoo.WEIGHTS
        return find_checkpoint(self.path, which)

    def checkpoint(self, which: str = "best") -> dict:
        """The checkpoint's contents, read once per Run."""
        path = self.checkpoint_path(which)
        if path not in self._checkpoints and self.zoo_ref:
            from training import zoo

            self._checkpoints[path] = zoo.load_entry(self.path)
        if path not in self._checkpoints:
            ckpt = load_checkpoint(path)
            self._check_identity(path, ckpt)
            self._checkpoints[path] = ckpt
        return self._checkpoints[path]

    def _check_identity(self, path: Path, ckpt: dict) -> None:
        """A checkpoint states its circuit and task; one that is not this run's (copied in from another
        run) is refused rather than evaluated as something it is not."""
        saved = self.path / "config.yaml"
        if not saved.exists() or not isinstance(ckpt.get("config"), dict):
            return
        import yaml

        cfg = yaml.safe_load(saved.read_text()) or {}
        mine = (cfg.get("circuit", {}).get("name"), cfg.get("task", {}).get("name"))
        theirs = (ckpt.get("circuit") or ckpt["config"].get("circuit", {}).get("name"), ckpt["config"].get("task", {}).get("name"))
        if mine != theirs:
            raise UsageError(f"checkpoint {path} holds {theirs[0]} trained on {theirs[1]}, but the run holds "
                             f"{mine[0]} on {mine[1]} (config.yaml): it is not this run's checkpoint")

    # ----------------------------------------------------------------------------------- what it is
    @property
    def config(self) -> dict:
        """The run's resolved config (as every checkpoint stores it)."""
        return self.checkpoint("best")["config"]

    @property
    def task_name(self) -> str:
        return self.config["task"]["name"]

    @property
    def task_class(self):
        import tasks

        return tasks.task_class(self.task_name)

    @property
    def criterion(self) -> str:
        """The task's criterion metric (e.g. `fraction_in_window` on the lever task)."""
        return self.task_class.criterion

    @property
    def circuit_name(self) -> str:
        return self.config["circuit"]["name"]

    @property
    def code(self) -> dict:
        """Which code trained the run (package version, git commit, dirty)."""
        return self.checkpoint("best").get("code", {})

    @property
    def trained_env_steps(self) -> int:
        """Environment steps the run trained for: its latest checkpoint's count (or its summary's)."""
        if self.zoo_ref:
            return int(self.checkpoint("best")["zoo"]["trained_env_steps"])
        for which in ("last", "best"):
            try:
                return int(self.checkpoint(which)["env_steps"])
            except FileNotFoundError:
                continue
        return int(json.loads((self.path / "summary.json").read_text())["env_steps"])

    def learning_curve(self, points: int | None = None):
        """(env_steps, training criterion metric) arrays from metrics.csv (a zoo entry: its manifest's
        curve), at most `points` long; None when the run has none."""
        import csv
        import math

        import numpy as np

        if self.zoo_ref:
            c = self.checkpoint("best")["zoo"].get("curve")
            return (np.array(c["env_steps"], float), np.array(c["value"], float)) if c else None
        path = self.path / "metrics.csv"
        if not path.exists():
            return None
        col = f"task_{self.criterion}"
        xs, ys = [], []
        with open(path) as f:
            for row in csv.DictReader(f):
                try:
                    x, y = float(row["env_steps"]), float(row[col])
                except (KeyError, ValueError):
                    continue
                if math.isfinite(y):
                    xs.append(x)
                    ys.append(y)
        if not xs:
            return None
        step = max(1, len(xs) // points) if points else 1
        return np.array(xs[::step]), np.array(ys[::step])

    # --------------------------------------------------------------------------------- what it does
    def agent(self, which: str = "best", lesion=()):
        """A fresh (agent, normalizer) from a checkpoint in eval mode, with the run's own lesions plus
        `lesion` silenced; `agent.lesioned` lists them."""
        ckpt = self.checkpoint(which)
        agent, normalizer = build_agent(ckpt)
        agent.eval()
        lesioned = sorted(set(ckpt.get("lesioned", [])) | set(lesion or []))
        if lesioned:
            agent.circuit.lesion(lesioned)
        agent.lesioned = lesioned
        return agent, normalizer

    def make_env(self, canonical: bool = True, task_overrides: dict | None = None, body_overrides: dict | None = None):
        """The run's task environment on its body (the canonical task by default: training aids off)."""
        import body
        import tasks
        from training.config import task_spec

        body.log_mujoco_to(self.out_dir / "mujoco.log")  # MuJoCo's warnings stay with the run
        cfg = dict(self.config)
        if body_overrides:
            cfg["body"] = {**cfg["body"], **body_overrides}
        name, kwargs = task_spec(cfg)
        if canonical:
            kwargs.update(tasks.task_class(name).canonical)
        kwargs.update(task_overrides or {})
        return tasks.make(name, **kwargs)
