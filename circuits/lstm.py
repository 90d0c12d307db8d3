"""`lstm`: the virtual rodent's controller arrangement (Merel et al., ICLR 2020).

An observation encoder (MLP) feeds a core LSTM; the core's output, together with a skip path from
the encoder, feeds a policy LSTM whose hidden state is the output population. In the original
agent the core is trained by the value function and varies on slower timescales (task context)
than the policy units (kinematics); here both are trained end to end by PPO, and
`comparisons` measures their timescales.
"""

from __future__ import annotations

import torch
from torch import nn

from circuits.base import Circuit, Population, mlp


class LSTMCircuit(Circuit):
    name = "lstm"

    def __init__(self, obs_dim: int, act_dim: int, encoder_size: int = 128, core_size: int = 128,
                 policy_size: int = 64):
        super().__init__(obs_dim, act_dim)
        if min(encoder_size, core_size, policy_size) < 1:
            raise ValueError("encoder_size, core_size and policy_size must be >= 1")
        self.encoder = mlp([obs_dim, encoder_size, encoder_size])
        self.core = nn.LSTMCell(encoder_size, core_size)
        self.policy = nn.LSTMCell(core_size + encoder_size, policy_size)
        self.core_size, self.policy_size = core_size, policy_size
        self.populations = [
            Population("encoder", "none", encoder_size, "tanh", 0),
            Population("core", "none", core_size, "LSTM", 0),
            Population("policy", "none", policy_size, "LSTM", 0),
        ]
        self.output_population = "policy"
        self.feature_dim = policy_size

    def initial_state(self, batch: int):
        dev = next(self.parameters()).device
        z = lambda n: torch.zeros(batch, n, device=dev)  # noqa: E731
        return {"core_h": z(self.core_size), "core_c": z(self.core_size),
                "policy_h": z(self.policy_size), "policy_c": z(self.policy_size)}

    def step(self, obs, state, noise):
        enc = self.silence("encoder", self.encoder(obs))  # [B, encoder]
        core_h, core_c = self.core(enc, (state["core_h"], state["core_c"]))
        core_h = self.silence("core", core_h)  # [B, core]
        pol_h, pol_c = self.policy(torch.cat([core_h, enc], dim=-1), (state["policy_h"], state["policy_c"]))
        pol_h = self.silence("policy", pol_h)  # [B, policy]
        new_state = {"core_h": core_h, "core_c": core_c, "policy_h": pol_h, "policy_c": pol_c}
        return pol_h, new_state, {"encoder": enc, "core": core_h, "policy": pol_h}
