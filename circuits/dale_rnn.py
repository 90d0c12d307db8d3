"""`dale_rnn`: a rate network obeying Dale's law (80 % excitatory, 20 % inhibitory).

Dynamics per control step (dt = 20 ms), with membrane time constant tau and alpha = dt / tau:

    x <- (1 - alpha) x + alpha (W_eff r + I_in + b) + sqrt(2 alpha) sigma xi,    r = f(x)

W_eff = |W| * sign(pre) with no self-connections (`circuits.dale.DaleWeights`); inputs reach the
units through a learned on/off sensory relay and nonnegative weights (`OnOffRelay`); f is a
rectifier (relu, or softplus) saturating at `max_rate` (real neurons' rates saturate; without the bound
an E-only network, e.g. with its I units lesioned, grows without limit to inf within ~2 s); xi is
standard normal recurrent noise. Recurrent weights start
E/I balanced (each unit's mean inhibitory input cancels its mean excitatory input) and are rescaled
to a chosen spectral radius. The actor head reads the E units only (projection neurons).
Sources: Song, Yang & Wang 2016 PLoS Comput Biol 12:e1004792; PsychRNN (Ehrlich et al. 2021 eNeuro).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from circuits.base import Circuit, Population
from circuits.dale import DaleWeights, OnOffRelay, Projection

RATE_FUNCTIONS = {"relu": torch.relu, "softplus": F.softplus}
INPUT_RELAYS = ("onoff", "signed")


class DaleRNN(Circuit):
    name = "dale_rnn"

    def __init__(self, obs_dim: int, act_dim: int, units: int = 256, e_fraction: float = 0.8, tau_ms: float = 50.0,
                 control_dt_s: float = 0.02, spectral_radius: float = 0.9, noise_std: float = 0.05,
                 rate_function: str = "relu", input_relay: str = "onoff", relay_size: int = 64,
                 input_gain: float = 1.0, max_rate: float = 100.0):
        super().__init__(obs_dim, act_dim)
        if rate_function not in RATE_FUNCTIONS:
            raise ValueError(f"unknown rate_function {rate_function!r}; valid: {', '.join(RATE_FUNCTIONS)}")
        if input_relay not in INPUT_RELAYS:
            raise ValueError(f"unknown input_relay {input_relay!r}; valid: {', '.join(INPUT_RELAYS)}")
        if not 0 < e_fraction < 1 or units < 2:
            raise ValueError(f"need units >= 2 and 0 < e_fraction < 1, got {units}, {e_fraction}")
        if not max_rate > 0:
            raise ValueError(f"max_rate must be > 0, got {max_rate}")
        if tau_ms < control_dt_s * 1000:
            raise ValueError(f"tau_ms ({tau_ms}) must be >= the control step ({control_dt_s * 1000:g} ms)")
        n_e = max(1, min(units - 1, round(units * e_fraction)))
        n_i = units - n_e
        self.control_dt_s = control_dt_s
        self.alpha = control_dt_s * 1000.0 / tau_ms
        self.noise_std = noise_std
        self.rate_function, self.max_rate = rate_function, float(max_rate)
        self.populations = [Population("E", "cortex", n_e, "pyramidal", +1),
                            Population("I", "cortex", n_i, "interneuron", -1)]
        self.output_population = "E"
        self.feature_dim = n_e
        self.n_units = units
        self.recurrent = DaleWeights(self.populations, [Projection(a, b) for a in ("E", "I") for b in ("E", "I")])
        self.recurrent.balance_inhibition()
        self.recurrent.scale_to_spectral_radius(spectral_radius)
        self.input_relay = input_relay
        if input_relay == "onoff":
            self.relay = OnOffRelay(obs_dim, relay_size, units, gain=input_gain)
        else:  # a signed projection (not Dale-constrained at the input): the prototype's working variant
            self.relay = nn.Sequential(nn.Linear(obs_dim, relay_size), nn.Tanh(), nn.Linear(relay_size, units))
        self.bias = nn.Parameter(torch.zeros(units))

    def f(self, x: torch.Tensor) -> torch.Tensor:
        """Rates from the state: the rectifier, saturating at `max_rate`."""
        return RATE_FUNCTIONS[self.rate_function](x).clamp(max=self.max_rate)

    def initial_state(self, batch: int):
        return {"x": torch.zeros(batch, self.n_units, device=self.bias.device)}

    def noise_shapes(self, batch: int):
        return {"recurrent": (batch, self.n_units)} if self.noise_std > 0 else {}

    def effective_weights(self) -> torch.Tensor:
        """W_eff [post, pre]: audit its signs against `self.recurrent.signs`."""
        return self.recurrent.effective()

    def unit_mask(self) -> torch.Tensor:
        mask = torch.ones(self.n_units, device=self.bias.device)
        for p in self.populations:
            if p.name in self._lesioned:
                mask[self.recurrent.offsets[p.name]] = 0.0
        return mask

    def encode(self, obs):
        return self.relay(obs)  # [..., N] input current

    def constants(self):
        return {"w_t": self.effective_weights().T, "mask": self.unit_mask()}  # [N_pre, N_post], [N]

    def step(self, i_in, state, noise, consts):
        x = state["x"]  # [B, N]
        mask = consts["mask"]
        r = self.f(x) * mask  # [B, N] rates of the previous step
        drive = r @ consts["w_t"] + i_in + self.bias
        x = (1 - self.alpha) * x + self.alpha * drive
        if self.noise_std > 0:
            xi = noise["recurrent"] if noise is not None else torch.randn_like(x)
            x = x + math.sqrt(2 * self.alpha) * self.noise_std * xi
        r = self.f(x) * mask  # [B, N]
        e, i = self.recurrent.offsets["E"], self.recurrent.offsets["I"]
        return r[:, e], {"x": x}, {"E": r[:, e], "I": r[:, i]}
