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

import json
from pathlib import Path

from training.checkpoint import build_agent, find_checkpoint, load_checkpoint
from training.config import UsageError

CHECKPOINTS = ("best", "last")


class Run:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_dir():
            raise UsageError(f"run dir {self.path} does not exist")
        if not (self.path / "checkpoints").is_dir():
            raise UsageError(f"run dir {self.path} has no checkpoints/ (train it first with windtunnel train)")
        self._checkpoints: dict[Path, dict] = {}

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    # ------------------------------------------------------------------------------ checkpoints
    def checkpoint_path(self, which: str = "best") -> Path:
        """`best.pt` (falling back to `last.pt`) or `last.pt`."""
        if which not in CHECKPOINTS:
            raise UsageError(f"unknown checkpoint {which!r}; valid: {', '.join(CHECKPOINTS)}")
        return find_checkpoint(self.path, which)

    def checkpoint(self, which: str = "best") -> dict:
        """The checkpoint's contents, read once per Run."""
        path = self.checkpoint_path(which)
        if path not in self._checkpoints:
            self._checkpoints[path] = load_checkpoint(path)
        return self._checkpoints[path]

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
        for which in ("last", "best"):
            try:
                return int(self.checkpoint(which)["env_steps"])
            except FileNotFoundError:
                continue
        return int(json.loads((self.path / "summary.json").read_text())["env_steps"])

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
        import tasks
        from training.config import task_spec

        cfg = dict(self.config)
        if body_overrides:
            cfg["body"] = {**cfg["body"], **body_overrides}
        name, kwargs = task_spec(cfg)
        if canonical:
            kwargs.update(tasks.task_class(name).canonical)
        kwargs.update(task_overrides or {})
        return tasks.make(name, **kwargs)
