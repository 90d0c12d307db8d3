"""Sign-constrained (Dale's law) projections between populations, and the on/off sensory relay.

Every projection's effective weight is a nonnegative magnitude times the sign of the presynaptic
population: W_eff[post, pre] = |W|[post, pre] * mask[post, pre] * sign(pre) (as in PsychRNN and Song,
Yang & Wang 2016, PLoS Comput Biol 12:e1004792). Magnitudes are stored per projection block, so only
declared connections are parameters; self-connections are masked out (no autapses); a projection's
`density` < 1 or its `mask` (one_to_one, or a [post, pre] 0/1 matrix from a .npy file) fixes which
pairs connect. Present weights start at |N(0, 1)| scaled so that the expected summed input from the
whole presynaptic population is `gain` x sqrt(n_pre) x (mean weight 1/sqrt(n_pre) at full density)
whatever the density. Masks come from their own generator (seeded from the circuit's seed and the
projection's index), so a density leaves every other initial weight as it was.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from circuits.base import Circuit, Population
from circuits.spec import ProjectionSpec

HALF_NORMAL_MEAN = math.sqrt(2 / math.pi)  # mean |N(0, 1)|


def projection_mask(proj: ProjectionSpec, n_post: int, n_pre: int, seed: int, index: int) -> torch.Tensor:
    """The fixed [n_post, n_pre] 0/1 connectivity of one projection."""
    if proj.mask == "one_to_one":
        m = torch.eye(n_post, n_pre)
    elif proj.mask.endswith(".npy"):
        try:
            arr = np.load(proj.mask)
        except OSError as exc:
            raise ValueError(f"projection {proj.name}: cannot read mask {proj.mask!r} ({exc})") from None
        if arr.shape != (n_post, n_pre) or not np.isin(arr, (0, 1)).all():
            raise ValueError(f"projection {proj.name}: mask {proj.mask} must be a [{n_post}, {n_pre}] matrix of 0 and 1 "
                             f"([post, pre]), got shape {list(arr.shape)}")
        m = torch.as_tensor(arr, dtype=torch.float32)
    else:
        m = torch.ones(n_post, n_pre)
    if proj.pre == proj.post:
        m.fill_diagonal_(0.0)  # no autapses
    if proj.density < 1.0:
        g = torch.Generator().manual_seed(1_000_003 * (seed + 1) + index)
        m = m * (torch.rand(n_post, n_pre, generator=g) < proj.density).float()
    return m


class DaleWeights(nn.Module):
    """Block weights between populations with fixed presynaptic signs.

    `effective(delay)` returns W_eff [N, N] (rows post, columns pre) over the concatenated units of
    `populations`, from the projections with that synaptic delay; `signs` [N] holds each unit's sign.
    """

    def __init__(self, populations: list[Population], projections: list[ProjectionSpec], seed: int = 0):
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
        masks = []
        for k, proj in enumerate(self.projections):
            n_post, n_pre = sizes[proj.post], sizes[proj.pre]
            raw = torch.randn(n_post, n_pre).abs()  # the global generator: same seed, same weights
            mask = projection_mask(proj, n_post, n_pre, seed, k)
            fraction = 1.0 if (proj.mask == "all" and proj.density == 1.0) else max(mask.mean().item(), 1e-12)
            raw *= proj.gain / math.sqrt(n_pre) / HALF_NORMAL_MEAN / fraction
            self.blocks.append(nn.Parameter(raw))
            masks.append(mask)
        self.register_buffer("signs", torch.cat([torch.full((p.size,), float(p.sign)) for p in populations]))
        self._population_sign = {p.name: float(p.sign) for p in populations}  # Python numbers: no device read
        self._mask_names = []
        for k, m in enumerate(masks):
            self.register_buffer(f"mask_{k}", m)
            self._mask_names.append(f"mask_{k}")
        self.delays = sorted({p.delay for p in self.projections if p.delay > 0})
        self.dopamine_scale: dict[int, float] = {}  # projection index -> multiplier (neuromodulation)
        self._cache: dict[int, tuple] = {}

    def block_effective(self, k: int) -> torch.Tensor:
        proj = self.projections[k]
        w = self.blocks[k].abs() * getattr(self, self._mask_names[k]) * self._population_sign[proj.pre]
        return w * self.dopamine_scale.get(k, 1.0)

    def effective(self, delay: int = 0) -> torch.Tensor:
        """W_eff [N_post, N_pre] over all units, from the projections with this delay (control steps).

        Without autograd (rollouts, evaluation) the matrix is cached until a weight changes
        (tracked by the parameters' version counters) or the neuromodulatory gains change.
        """
        if torch.is_grad_enabled():
            return self._assemble(delay)
        key = (tuple(b._version for b in self.blocks), tuple(sorted(self.dopamine_scale.items())),
               tuple(b.data_ptr() for b in self.blocks))
        cached = self._cache.get(delay)
        if cached is None or cached[0] != key:
            cached = (key, self._assemble(delay))
            self._cache[delay] = cached
        return cached[1]

    def _assemble(self, delay: int = 0) -> torch.Tensor:
        w = torch.zeros(self.n_units, self.n_units, device=self.signs.device)
        for k, proj in enumerate(self.projections):
            if proj.delay == delay:
                w[self.offsets[proj.post], self.offsets[proj.pre]] = self.block_effective(k)
        return w

    def all_effective(self) -> torch.Tensor:
        """Every projection at any delay, summed: the wiring a sign audit reads."""
        w = self.effective(0)
        for d in self.delays:
            w = w + self.effective(d)
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
            current = torch.linalg.eigvals(self.all_effective()).abs().max().item()
            if current > 0:
                for b in self.blocks:
                    b.mul_(radius / current)

    def _sign_of(self, k: int) -> float:
        return self._population_sign[self.projections[k].pre]

    def set_dopamine(self, level: float, gains: dict[str, float]) -> None:
        """Projection weights x (1 + gain level) for the named projections (Gurney et al. 2001's lambda)."""
        self.dopamine_scale = {k: 1.0 + gains[p.name] * level for k, p in enumerate(self.projections)
                               if p.name in gains}


class OnOffRelay(nn.Module):
    """A learned sensory relay feeding a Dale circuit through nonnegative weights.

    z = tanh(W obs + b) is split into on and off channels, [relu(z), relu(-z)] (each >= 0), which
    reach their target units through nonnegative weights |W_in|. Relay rates are nonnegative and
    excitatory, so the circuit's input obeys Dale's law; paired on/off channels let it still carry
    signed features (as ON/OFF pathways do in the retina and thalamus). The relay is upstream of
    the circuit and is not one of its populations. Without a learned relay (raw observations split
    on/off), Dale networks learned the lever task far more slowly in this project's prototypes.

    `gain` is one number or one per target unit [n_targets]; `mask` [n_targets, 2 relay] (optional)
    fixes which relay channels reach which target (a sparse input, e.g. mossy fibres).
    """

    def __init__(self, obs_dim: int, relay_size: int, n_targets: int, gain=1.0, mask: torch.Tensor | None = None):
        super().__init__()
        self.encoder = nn.Linear(obs_dim, relay_size)
        w = torch.randn(n_targets, 2 * relay_size).abs()
        gain = torch.as_tensor(gain, dtype=torch.float32)
        gain = gain.view(-1, 1) if gain.dim() else gain
        self.w_in = nn.Parameter(w * gain / math.sqrt(2 * relay_size) / HALF_NORMAL_MEAN)
        self.masked = mask is not None
        if mask is not None:
            self.register_buffer("mask", mask)

    def channels(self, obs: torch.Tensor) -> torch.Tensor:
        z = torch.tanh(self.encoder(obs))
        return torch.cat([torch.relu(z), torch.relu(-z)], dim=-1)  # [B, 2 * relay]

    def weights(self) -> torch.Tensor:
        return self.w_in.abs() * self.mask if self.masked else self.w_in.abs()  # [n_targets, 2 * relay]

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Input current to the target units, [B, n_targets]."""
        return self.channels(obs) @ self.weights().T


def relay_targets(spec, offsets: dict[str, slice], obs_dim: int, seed: int):
    """(target unit indices [n], per-target gain [n], mask [n, 2 relay] or None) of a signed circuit's relay,
    from its input projections (pre: obs) in declaration order."""
    index, gains, masks = [], [], []
    two_r = 2 * spec.relay["size"]
    for k, proj in enumerate(spec.input_projections):
        units = torch.arange(offsets[proj.post].start, offsets[proj.post].stop)
        index.append(units)
        gains.append(torch.full((len(units),), spec.relay["gain"] * proj.gain / proj.density))
        if proj.density < 1.0:
            g = torch.Generator().manual_seed(2_000_003 * (seed + 1) + k)
            masks.append((torch.rand(len(units), two_r, generator=g) < proj.density).float())
        else:
            masks.append(torch.ones(len(units), two_r))
    mask = torch.cat(masks) if any(p.density < 1.0 for p in spec.input_projections) else None
    return torch.cat(index), torch.cat(gains), mask


class DaleCircuit(Circuit):
    """What the rate and spiking engines share: units concatenated in one state (`offsets`), Dale-signed
    `weights`, lesions as a unit mask, and the spec's dopamine level on its named projections."""

    def effective_weights(self) -> torch.Tensor:
        """W_eff [post, pre] of every projection (any delay): audit its signs against `self.weights.signs`."""
        return self.weights.all_effective()

    def unit_mask(self) -> torch.Tensor:
        mask = torch.ones(self.n_units, device=self.bias.device)
        for name in self._lesioned:
            mask[self.offsets[name]] = 0.0
        return mask

    @property
    def dopamine(self) -> float:
        return self._dopamine

    @dopamine.setter
    def dopamine(self, value: float) -> None:
        """The spec's dopamine level: each named projection's weight x (1 + gain level)."""
        if not -1.0 <= value <= 1.0:
            raise ValueError(f"dopamine level must be in [-1, 1], got {value}")
        self._dopamine = float(value)
        self.weights.set_dopamine(self._dopamine, self._dopamine_gains)
