"""The rate family's engine (`RateCircuit`): a spec whose populations are `rate` units obeying Dale's law
(`circuits.spec`); the built-in `dale_rnn` is one.

Dynamics per control step (dt = control_dt_s), per unit with its population's membrane time constant
tau and alpha = dt / tau:

    x <- (1 - alpha) x + alpha (W_eff r + sum_d W_d r(t - d) + I_in + b) + sqrt(2 alpha) sigma xi,    r = f(x)

W_eff = |W| * mask * sign(pre) with no self-connections (`circuits.dale.DaleWeights`); W_d are the
projections declared with a synaptic delay of d control steps; inputs reach their target units through
a learned on/off sensory relay and nonnegative weights (`OnOffRelay`; relay kind `signed` is an
unconstrained input projection instead); f is the population's rectifier (relu or softplus) saturating
at `max_rate` (real neurons' rates saturate; without the bound an E-only network, e.g. with its I units
lesioned, grows without limit to inf within ~2 s); b starts at the population's `drive`; xi is
standard normal recurrent noise. With `init.balance` the recurrent weights start E/I balanced (each
population's mean inhibitory input cancels its mean excitatory input); with `init.spectral_radius`
they are rescaled to that radius. The actor head reads the readout populations' rates.
Sources: Song, Yang & Wang 2016 PLoS Comput Biol 12:e1004792; PsychRNN (Ehrlich et al. 2021 eNeuro).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from circuits.base import Population
from circuits.dale import DaleCircuit, DaleWeights, OnOffRelay, relay_targets
from circuits.spec import CircuitSpec

RATE_FUNCTIONS = {"relu": torch.relu, "softplus": F.softplus}


class RateCircuit(DaleCircuit):
    def __init__(self, spec: CircuitSpec, obs_dim: int, act_dim: int, seed: int = 0):
        super().__init__(obs_dim, act_dim)
        self.name = spec.name
        dyn = spec.dynamics
        self.control_dt_s = dyn["control_dt_s"]
        self.noise_std = dyn["noise_std"]
        self.populations = [Population(p.name, p.region, p.size, p.cell_type, p.sign) for p in spec.populations]
        self.weights = DaleWeights(self.populations, list(spec.internal_projections), seed)
        self.offsets = self.weights.offsets
        self.n_units = self.weights.n_units
        self._setup_readout(spec, self.offsets)
        if spec.init["balance"]:
            self.weights.balance_inhibition()
        if spec.init["spectral_radius"] is not None:
            self.weights.scale_to_spectral_radius(spec.init["spectral_radius"])
        alpha = torch.cat([torch.full((p.size,), self.control_dt_s * 1000.0 / p.opt("tau_ms")) for p in spec.populations])
        self.register_buffer("alpha", alpha, persistent=False)  # [N]; derived from the spec
        self.register_buffer("noise_scale", (2 * alpha).sqrt() * self.noise_std, persistent=False)  # [N]
        functions = {p.opt("nonlinearity") for p in spec.populations}
        self._one_function = RATE_FUNCTIONS[functions.pop()] if len(functions) == 1 else None
        self._functions = [(self.offsets[p.name], RATE_FUNCTIONS[p.opt("nonlinearity")]) for p in spec.populations]
        max_rate = torch.cat([torch.full((p.size,), p.opt("max_rate")) for p in spec.populations])
        self.register_buffer("max_rate", max_rate, persistent=False)  # [N]
        self.delays = self.weights.delays
        self.max_delay = max(self.delays, default=0)

        targets, gains, mask = relay_targets(spec, self.offsets, obs_dim, seed)
        self.register_buffer("input_index", targets, persistent=False)  # [n targets]; derived from the spec
        self._input_everywhere = torch.equal(targets, torch.arange(self.n_units))
        self.relay_kind = spec.relay["kind"]
        if self.relay_kind == "onoff":
            self.relay = OnOffRelay(obs_dim, spec.relay["size"], len(targets), gain=gains, mask=mask)
        else:  # a signed projection (not Dale-constrained at the input)
            self.relay = nn.Sequential(nn.Linear(obs_dim, spec.relay["size"]), nn.Tanh(),
                                       nn.Linear(spec.relay["size"], len(targets)))
        drive = torch.cat([torch.full((p.size,), p.opt("drive")) for p in spec.populations])
        self.bias = nn.Parameter(drive)
        self._dopamine_gains = dict(spec.dopamine_projections)
        self.dopamine = spec.dopamine_level

    def f(self, x: torch.Tensor) -> torch.Tensor:
        """Rates from the state: each population's rectifier, saturating at its `max_rate`."""
        if self._one_function is not None:
            r = self._one_function(x)
        else:
            r = torch.cat([fn(x[..., sl]) for sl, fn in self._functions], dim=-1)
        return torch.minimum(r, self.max_rate)

    def initial_state(self, batch: int):
        state = {"x": torch.zeros(batch, self.n_units, device=self.bias.device)}
        if self.max_delay:  # [B, D, N] rates of the D steps before the previous one, oldest first
            state["past_rates"] = torch.zeros(batch, self.max_delay, self.n_units, device=self.bias.device)
        return state

    def noise_shapes(self, batch: int):
        return {"recurrent": (batch, self.n_units)} if self.noise_std > 0 else {}

    def encode(self, obs):
        relay = self.relay(obs)  # [..., n targets] input current
        if self._input_everywhere:
            return relay
        i_in = relay.new_zeros(*relay.shape[:-1], self.n_units)
        i_in[..., self.input_index] = relay
        return i_in  # [..., N]

    def constants(self):
        return {"w_t": self.weights.effective(0).T, "mask": self.unit_mask(),  # [N_pre, N_post], [N]
                "delayed": {d: self.weights.effective(d).T for d in self.delays}}

    def step(self, i_in, state, noise, consts):
        x = state["x"]  # [B, N]
        mask = consts["mask"]
        r = self.f(x) * mask  # [B, N] rates of the previous step
        drive = r @ consts["w_t"] + i_in + self.bias
        if self.max_delay:
            past = state["past_rates"]  # [B, D, N]
            for d, w_d in consts["delayed"].items():
                drive = drive + past[:, self.max_delay - d] @ w_d  # rates d steps before the previous one
        x = (1 - self.alpha) * x + self.alpha * drive
        if self.noise_std > 0:
            xi = noise["recurrent"] if noise is not None else torch.randn_like(x)
            x = x + self.noise_scale * xi
        r_new = self.f(x) * mask  # [B, N]
        new_state = {"x": x}
        if self.max_delay:
            new_state["past_rates"] = torch.cat([state["past_rates"][:, 1:], r.unsqueeze(1)], dim=1)
        activity = {p.name: r_new[:, self.offsets[p.name]] for p in self.populations}
        return r_new[:, self.feature_units], new_state, activity
