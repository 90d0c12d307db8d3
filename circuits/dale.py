"""Sign-constrained (Dale's law) projections between populations, and the on/off sensory relay.

Every projection's effective weight is a nonnegative magnitude times the sign of the presynaptic
population: W_eff[post, pre] = |W|[post, pre] * sign(pre) (as in PsychRNN and Song, Yang & Wang
2016, PLoS Comput Biol 12:e1004792). Magnitudes are stored per projection block, so only
anatomically present connections are parameters; self-connections are masked out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from circuits.base import Population


@dataclass(frozen=True)
class Projection:
    pre: str
    post: str
    gain: float = 1.0  # initial mean effective strength, relative to 1/sqrt(n_pre)


class DaleWeights(nn.Module):
    """Block weights between populations with fixed presynaptic signs.

    `effective()` returns W_eff [N, N] (rows post, columns pre) over the concatenated units of
    `populations`; `signs` [N] holds each unit's sign.
    """

    def __init__(self, populations: list[Population], projections: list[Projection], generator=None):
        super().__init__()
        self.populations = populations
        self.offsets: dict[str, slice] = {}
        start = 0
        for p in populations:
            if p.sign not in (1, -1):
                raise ValueError(f"population {p.name!r} needs sign +1 or -1 for Dale's law, got {p.sign}")
            self.offsets[p.name] = slice(start, start + p.size)
            start += p.size
        self.n_units = start
        sizes = {p.name: p.size for p in populations}
        self.projections = list(projections)
        self.blocks = nn.ParameterList()
        for proj in self.projections:
            for end in (proj.pre, proj.post):
                if end not in sizes:
                    raise ValueError(f"projection {proj.pre}->{proj.post}: unknown population {end!r}; "
                                     f"valid: {', '.join(sizes)}")
            raw = torch.randn(sizes[proj.post], sizes[proj.pre], generator=generator).abs()
            raw *= proj.gain / math.sqrt(sizes[proj.pre]) / math.sqrt(2 / math.pi)  # mean |N(0,1)| = sqrt(2/pi)
            self.blocks.append(nn.Parameter(raw))
        signs = torch.cat([torch.full((p.size,), float(p.sign)) for p in populations])
        self.register_buffer("signs", signs)
        self._population_sign = {p.name: float(p.sign) for p in populations}  # Python numbers: no device read
        masks = []
        for proj in self.projections:
            m = torch.ones(sizes[proj.post], sizes[proj.pre])
            if proj.pre == proj.post:
                m.fill_diagonal_(0.0)  # no autapses
            masks.append(m)
        self._mask_names = []
        for k, m in enumerate(masks):
            self.register_buffer(f"mask_{k}", m)
            self._mask_names.append(f"mask_{k}")
        self.dopamine_scale: dict[int, float] = {}  # projection index -> multiplier (set by circuits)

    def block_effective(self, k: int) -> torch.Tensor:
        proj = self.projections[k]
        sign = self._population_sign[proj.pre]
        w = self.blocks[k].abs() * getattr(self, self._mask_names[k]) * sign
        return w * self.dopamine_scale.get(k, 1.0)

    def effective(self) -> torch.Tensor:
        """W_eff [N_post, N_pre] over all units.

        Without autograd (rollouts, evaluation) the matrix is cached until a weight changes
        (tracked by the parameters' version counters) or the dopamine gains change.
        """
        if torch.is_grad_enabled():
            return self._assemble()
        key = (tuple(b._version for b in self.blocks), tuple(sorted(self.dopamine_scale.items())),
               tuple(b.data_ptr() for b in self.blocks))
        if getattr(self, "_cache_key", None) != key:
            self._cache = self._assemble()
            self._cache_key = key
        return self._cache

    def _assemble(self) -> torch.Tensor:
        w = torch.zeros(self.n_units, self.n_units, device=self.signs.device)
        for k, proj in enumerate(self.projections):
            w[self.offsets[proj.post], self.offsets[proj.pre]] = self.block_effective(k)
        return w

    def balance_inhibition(self) -> None:
        """Scale inhibitory blocks so each postsynaptic population's mean I input cancels its mean E input."""
        with torch.no_grad():
            for post in {p.post for p in self.projections}:
                ks = [k for k, p in enumerate(self.projections) if p.post == post]
                exc = sum(self.blocks[k].sum(1).mean() for k in ks if self._sign_of(k) > 0)
                inh = sum(self.blocks[k].sum(1).mean() for k in ks if self._sign_of(k) < 0)
                if exc > 0 and inh > 0:
                    for k in ks:
                        if self._sign_of(k) < 0:
                            self.blocks[k].mul_(exc / inh)

    def scale_to_spectral_radius(self, radius: float) -> None:
        with torch.no_grad():
            current = torch.linalg.eigvals(self.effective()).abs().max().item()
            if current > 0:
                for b in self.blocks:
                    b.mul_(radius / current)

    def _sign_of(self, k: int) -> float:
        return self._population_sign[self.projections[k].pre]


class OnOffRelay(nn.Module):
    """A learned sensory relay feeding a Dale circuit through nonnegative weights.

    z = tanh(W obs + b) is split into on and off channels, [relu(z), relu(-z)] (each >= 0), which
    reach their target units through nonnegative weights |W_in|. Relay rates are nonnegative and
    excitatory, so the circuit's input obeys Dale's law; paired on/off channels let it still carry
    signed features (as ON/OFF pathways do in the retina and thalamus). The relay is upstream of
    the circuit and is not one of its populations. Without a learned relay (raw observations split
    on/off), Dale networks learned the lever task far more slowly in this project's prototypes.
    """

    def __init__(self, obs_dim: int, relay_size: int, n_targets: int, gain: float = 1.0, generator=None):
        super().__init__()
        self.encoder = nn.Linear(obs_dim, relay_size)
        w = torch.randn(n_targets, 2 * relay_size, generator=generator).abs()
        self.w_in = nn.Parameter(w * gain / math.sqrt(2 * relay_size) / math.sqrt(2 / math.pi))

    def channels(self, obs: torch.Tensor) -> torch.Tensor:
        z = torch.tanh(self.encoder(obs))
        return torch.cat([torch.relu(z), torch.relu(-z)], dim=-1)  # [B, 2 * relay]

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Input current to the target units, [B, n_targets]."""
        return self.channels(obs) @ self.w_in.abs().T
