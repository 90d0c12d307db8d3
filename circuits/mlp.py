"""`mlp`: a feedforward controller with no memory — the control that shows what memory buys."""

from __future__ import annotations

import torch
from torch import nn

from circuits.base import Circuit, Population


class MLPCircuit(Circuit):
    name = "mlp"

    def __init__(self, obs_dim: int, act_dim: int, hidden: int = 128, layers: int = 2):
        super().__init__(obs_dim, act_dim)
        if hidden < 1 or layers < 1:
            raise ValueError(f"hidden and layers must be >= 1, got {hidden}, {layers}")
        self.layers = nn.ModuleList(nn.Linear(obs_dim if i == 0 else hidden, hidden) for i in range(layers))
        self.populations = [Population(f"hidden_{i + 1}", "none", hidden, "tanh", 0) for i in range(layers)]
        self.output_population = self.populations[-1].name
        self.feature_dim = hidden

    def step(self, obs, state, noise, consts):
        activity = {}
        x = obs
        for layer, pop in zip(self.layers, self.populations):
            x = self.silence(pop.name, torch.tanh(layer(x)))  # [B, hidden]
            activity[pop.name] = x
        return x, {}, activity
