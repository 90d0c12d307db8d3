"""The agent: a circuit (the brain), its actor head, and a critic (a training device).

The actor head is a linear readout of the circuit's output population (for Dale circuits the E
projection neurons) giving the mean of a Gaussian over actions, with a learned state-independent
log standard deviation. Actions are sampled unbounded and clipped to [-1, 1] by the environment
interface, as in CleanRL's continuous PPO.

The critic is not part of the brain. By default it sees the observation and the circuit's readout
features (or the populations the circuit's spec names under `critic`) (so it can know what the circuit remembers, e.g. time since the first press); with
`value_shapes_circuit` its gradient also trains the circuit (a shared trunk, like the value-trained
core of Merel et al. 2020); with it off the features are detached and only the policy gradient
shapes the circuit.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from circuits.base import Circuit, mlp

CRITIC_INPUTS = ("obs", "obs_and_features")


class Agent(nn.Module):
    def __init__(self, circuit: Circuit, act_dim: int, critic_hidden: int = 128, critic_inputs: str = "obs_and_features",
                 value_shapes_circuit: bool = True, init_log_std: float = -0.5):
        super().__init__()
        if critic_inputs not in CRITIC_INPUTS:
            raise ValueError(f"unknown critic_inputs {critic_inputs!r}; valid: {', '.join(CRITIC_INPUTS)}")
        self.circuit = circuit
        actor_dim = getattr(circuit, "actor_dim", circuit.feature_dim)  # the spec's readout populations
        critic_dim = getattr(circuit, "critic_dim", circuit.feature_dim)  # what the spec lets the critic see
        self.actor = nn.Linear(actor_dim, act_dim)
        nn.init.orthogonal_(self.actor.weight, gain=0.01)
        nn.init.zeros_(self.actor.bias)
        self.log_std = nn.Parameter(torch.full((act_dim,), float(init_log_std)))
        self.critic_inputs = critic_inputs
        self.value_shapes_circuit = value_shapes_circuit
        critic_in = circuit.obs_dim + (critic_dim if critic_inputs == "obs_and_features" else 0)
        self.critic = nn.Sequential(mlp([critic_in, critic_hidden, critic_hidden]), nn.Linear(critic_hidden, 1))

    def forward(self, obs, state, reset_mask, noise=None):
        """(action mean [B, act], value [B], new_state, activity, features)."""
        features, state, activity = self.circuit(obs, state, reset_mask, noise)
        mean = self.actor(features[..., self.circuit.actor_features])
        value = self.value(obs, features)
        return mean, value, state, activity, features

    def unroll(self, obs_seq, state, reset_seq, noise_seq=None, keep_activity: bool = False):
        """A whole sequence (training's recomputation): obs_seq [T, B, obs] ->
        (action mean [T, B, act], value [T, B], final state, activity {name: [T, B, ...]})."""
        features, state, activity = self.circuit.unroll(obs_seq, state, reset_seq, noise_seq, keep_activity)
        return self.actor(features[..., self.circuit.actor_features]), self.value(obs_seq, features), state, activity

    def value(self, obs, features):
        if self.critic_inputs == "obs":
            x = obs
        else:
            f = features[..., self.circuit.critic_features]
            f = f if self.value_shapes_circuit else f.detach()
            x = torch.cat([obs, f], dim=-1)
        return self.critic(x).squeeze(-1)

    def log_prob(self, mean, action):
        std = self.log_std.exp()
        return (-0.5 * ((action - mean) / std) ** 2 - self.log_std - 0.5 * math.log(2 * math.pi)).sum(-1)

    def entropy(self) -> torch.Tensor:
        return (self.log_std + 0.5 * math.log(2 * math.pi * math.e)).sum()
