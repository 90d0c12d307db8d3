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

    def encode(self, obs):
        return self.silence("encoder", self.encoder(obs))  # [..., encoder]

    def step(self, enc, state, noise, consts):
        core_h, core_c = self.core(enc, (state["core_h"], state["core_c"]))
        core_h = self.silence("core", core_h)  # [B, core]
        pol_h, pol_c = self.policy(torch.cat([core_h, enc], dim=-1), (state["policy_h"], state["policy_c"]))
        pol_h = self.silence("policy", pol_h)  # [B, policy]
        new_state = {"core_h": core_h, "core_c": core_c, "policy_h": pol_h, "policy_c": pol_c}
        return pol_h, new_state, {"encoder": enc, "core": core_h, "policy": pol_h}

    def unroll(self, obs_seq, state, reset_seq, noise_seq=None, keep_activity=True):
        """Whole stretches between resets through torch's fused LSTM (the same cells' weights), so
        the update's backward pass runs in one op per stretch instead of two cells per step."""
        if self._lesioned:  # a silenced LSTM output feeds its own recurrence: step by step
            return super().unroll(obs_seq, state, reset_seq, noise_seq, keep_activity)
        enc = self.encode(obs_seq)  # [T, B, encoder]
        T = obs_seq.shape[0]
        starts = [t for t in range(T) if t == 0 or bool(reset_seq[t].any())]
        core_out, pol_out = [], []
        for start, stop in zip(starts, [*starts[1:], T]):
            if bool(reset_seq[start].any()):
                state = self.reset_state(state, reset_seq[start])
            core_h, hc, cc = _fused(self.core, enc[start:stop], state["core_h"], state["core_c"])  # [t, B, core]
            pol_h, hp, cp = _fused(self.policy, torch.cat([core_h, enc[start:stop]], dim=-1),
                                   state["policy_h"], state["policy_c"])  # [t, B, policy]
            state = {"core_h": hc, "core_c": cc, "policy_h": hp, "policy_c": cp}
            core_out.append(core_h)
            pol_out.append(pol_h)
        policy = torch.cat(pol_out)  # [T, B, policy]
        activity = {"encoder": enc, "core": torch.cat(core_out), "policy": policy} if keep_activity else {}
        return policy, state, activity


def _fused(cell: nn.LSTMCell, x, h, c):
    """Run an LSTMCell's weights over a sequence x [T, B, in] with torch's fused LSTM:
    (outputs [T, B, hidden], final h [B, hidden], final c [B, hidden])."""
    out, h_n, c_n = torch.lstm(x, (h[None], c[None]), [cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh],
                               True, 1, 0.0, cell.training, False, False)
    return out, h_n[0], c_n[0]
