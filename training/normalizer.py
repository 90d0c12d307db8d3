"""Running observation normalisation (mean and variance over everything seen), saved in checkpoints."""

from __future__ import annotations

import numpy as np


class RunningNormalizer:
    def __init__(self, dim: int, clip: float = 10.0, eps: float = 1e-8):
        self.mean = np.zeros(dim, np.float64)
        self.var = np.ones(dim, np.float64)
        self.count = eps
        self.clip = clip
        self.eps = eps

    def update(self, batch: np.ndarray) -> None:
        """Merge a batch [N, dim] into the running moments (parallel-variance formula)."""
        batch = np.asarray(batch, np.float64).reshape(-1, self.mean.shape[0])
        b_mean, b_var, n = batch.mean(0), batch.var(0), batch.shape[0]
        delta = b_mean - self.mean
        total = self.count + n
        self.mean = self.mean + delta * n / total
        self.var = (self.var * self.count + b_var * n + delta**2 * self.count * n / total) / total
        self.count = total

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        z = (np.asarray(obs, np.float64) - self.mean) / np.sqrt(self.var + self.eps)
        return np.clip(z, -self.clip, self.clip).astype(np.float32)

    def state_dict(self) -> dict:
        return {"mean": self.mean.copy(), "var": self.var.copy(), "count": self.count, "clip": self.clip}

    def load_state_dict(self, state: dict) -> None:
        self.mean = np.asarray(state["mean"], np.float64)
        self.var = np.asarray(state["var"], np.float64)
        self.count = float(state["count"])
        self.clip = float(state["clip"])
