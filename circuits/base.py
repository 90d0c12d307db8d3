"""The circuit protocol every controller architecture follows.

A circuit is a `torch.nn.Module` that maps one control step's observation to features for the
actor head, carrying explicit recurrent state:

    state = circuit.initial_state(batch)                      # dict of [batch, ...] tensors
    features, state, activity = circuit(obs, state, reset_mask)
        obs        [B, obs_dim] float
        reset_mask [B] bool: environments whose episode just began; their state is reset to the
                   initial state before this step, the other rows are untouched
        features   [B, feature_dim]: the output population's activity (what the actor head reads)
        activity   {population name: tensor}: [B, units] for rate populations;
                   [B, substeps, units] of exact 0/1 spikes for spiking populations

Populations describe the units like an anatomist would (name, region, size, cell type, sign,
rate or spike). `lesion(names)` silences populations (their output is exactly zero from then on,
everywhere it is read) without retraining; `unlesion()` restores them.

A step is split in three so that training can unroll whole sequences cheaply:
`encode(obs)` is the stateless input stage (an encoder MLP, a sensory relay) and works on any
leading dims, so an unroll applies it to a whole [T, B, obs_dim] sequence at once; `constants()`
are tensors derived from the parameters (Dale-signed weight matrices, lesion masks), built once
per call or unroll; `step(inputs, state, noise, consts)` is the recurrent update.
`unroll(obs_seq, state, reset_seq, noise_seq)` equals calling the circuit step by step.

Noise: circuits with intrinsic noise (`noise_shapes(batch)` non-empty) draw it from torch's
generator when `noise` is None; training passes the noise it drew during the rollout so that
recomputed steps are exactly the ones that were taken.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

State = dict[str, torch.Tensor]
E, I = +1, -1


@dataclass(frozen=True)
class Population:
    name: str
    region: str  # e.g. "M1", "striatum_D1", "GPe", "STN", "GPi", "thalamus"; "none" for non-anatomical units
    size: int
    cell_type: str  # e.g. "pyramidal", "interneuron", "MSN", "LSTM", "tanh"
    sign: int  # +1 excitatory, -1 inhibitory, 0 not sign-constrained
    kind: str = "rate"  # "rate" or "spike"

    def as_dict(self) -> dict:
        return asdict(self)


class Circuit(nn.Module):
    """Base class: subclasses set `populations`, `output_population`, `feature_dim` and implement `step`."""

    name: str = "circuit"
    populations: list[Population]
    output_population: str
    feature_dim: int
    control_dt_s: float = 0.02

    def __init__(self, obs_dim: int, act_dim: int):
        super().__init__()
        if obs_dim < 1 or act_dim < 1:
            raise ValueError(f"obs_dim and act_dim must be >= 1, got {obs_dim}, {act_dim}")
        self.obs_dim = obs_dim
        self.act_dim = act_dim
        self._lesioned: set[str] = set()
        self.spec = None  # the `circuits.spec.CircuitSpec` it was built from
        self.actor_features: slice = slice(None)  # which feature columns the actor head reads
        self.critic_features: slice = slice(None)  # and which the critic sees

    def _setup_readout(self, spec, offsets: dict[str, slice] | None = None) -> None:
        """Features = the readout populations then the critic's own: [readout only | shared | critic only],
        so the actor's and the critic's columns are each one slice. `offsets` (unit ranges in a
        concatenated state) gives `feature_units`, a slice or an index of the units the features read."""
        self.spec = spec
        readout = list(spec.readout)
        critic = list(spec.critic or spec.readout)
        order = [p for p in readout if p not in critic] + [p for p in readout if p in critic] + \
                [p for p in critic if p not in readout]
        sizes = {p.name: p.size for p in spec.populations}
        n_actor = sum(sizes[p] for p in readout)
        n_shared = sum(sizes[p] for p in readout if p in critic)
        self.readout = readout
        self.feature_populations = order
        self.output_population = readout[0]
        self.feature_dim = sum(sizes[p] for p in order)
        self.actor_dim = n_actor
        self.critic_dim = self.feature_dim - (n_actor - n_shared)
        self.actor_features = slice(0, n_actor)
        self.critic_features = slice(n_actor - n_shared, self.feature_dim)
        if offsets is not None:
            index = torch.cat([torch.arange(offsets[p].start, offsets[p].stop) for p in order])
            contiguous = bool((index[1:] - index[:-1] == 1).all()) if len(index) > 1 else True
            self.feature_units = slice(int(index[0]), int(index[-1]) + 1) if contiguous else index

    # ------------------------------------------------------------------------ to implement
    def initial_state(self, batch: int) -> State:
        return {}

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        """The stateless input stage, [..., obs_dim] -> [..., input size]; identity by default."""
        return obs

    def constants(self) -> dict[str, torch.Tensor]:
        """Tensors derived from the parameters that every step of a call or unroll reuses."""
        return {}

    def step(self, inputs: torch.Tensor, state: State, noise: dict[str, torch.Tensor] | None,
             consts: dict[str, torch.Tensor]):
        """One control step from an already-reset state and encoded inputs: (features, new_state, activity)."""
        raise NotImplementedError

    def noise_shapes(self, batch: int) -> dict[str, tuple[int, ...]]:
        return {}

    # ----------------------------------------------------------------------------- protocol
    def forward(self, obs: torch.Tensor, state: State, reset_mask: torch.Tensor | None = None,
                noise: dict[str, torch.Tensor] | None = None):
        if reset_mask is not None and state and bool(reset_mask.any()):
            state = self.reset_state(state, reset_mask)
        return self.step(self.encode(obs), state, noise, self.constants())

    def unroll(self, obs_seq: torch.Tensor, state: State, reset_seq: torch.Tensor,
               noise_seq: dict[str, torch.Tensor] | None = None, keep_activity: bool = True):
        """T steps at once: obs_seq [T, B, obs_dim], reset_seq [T, B] bool, noise_seq {name: [T, B, ...]}
        (or None: drawn from torch's generator).

        Returns (features [T, B, feature_dim], final state, activity {name: [T, B, ...]}, empty
        when `keep_activity` is False). Equal to T calls of the circuit; cheaper under autograd
        because the input stage and the constants are computed once.
        """
        # unbind, not inputs[t]: indexing's backward would allocate and zero a whole [T, B, ...] gradient per step
        inputs = self.encode(obs_seq).unbind(0)  # T x [B, ...]
        consts = self.constants()
        features, activities = [], []
        for t in range(obs_seq.shape[0]):
            if state and bool(reset_seq[t].any()):
                state = self.reset_state(state, reset_seq[t])
            noise = {k: v[t] for k, v in noise_seq.items()} if noise_seq else None
            f, state, activity = self.step(inputs[t], state, noise, consts)
            features.append(f)
            if keep_activity:
                activities.append(activity)
        stacked = {k: torch.stack([a[k] for a in activities]) for k in activities[0]} if activities else {}
        return torch.stack(features), state, stacked

    def reset_state(self, state: State, reset_mask: torch.Tensor) -> State:
        """Rows where `reset_mask` is True go back to the initial state; other rows are untouched."""
        init = self.initial_state(reset_mask.shape[0])
        out = {}
        for key, value in state.items():
            m = reset_mask.to(value.device).view(-1, *([1] * (value.dim() - 1)))
            out[key] = torch.where(m, init[key].to(value.device, value.dtype), value)
        return out

    def sample_noise(self, batch: int, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        dev = next(self.parameters()).device
        # drawn where the generator lives (the CPU in training), then moved: the same noise on any device
        gen_dev = generator.device if generator is not None else dev
        return {k: torch.randn(shape, generator=generator, device=gen_dev).to(dev)
                for k, shape in self.noise_shapes(batch).items()}

    # ------------------------------------------------------------------------------ lesions
    @property
    def population_names(self) -> list[str]:
        return [p.name for p in self.populations]

    def population(self, name: str) -> Population:
        for p in self.populations:
            if p.name == name:
                return p
        raise ValueError(f"unknown population {name!r} in circuit {self.name!r}; valid: {', '.join(self.population_names)}")

    def lesion(self, names) -> None:
        """Silence populations by name: their output is exactly zero until `unlesion()`.

        A name may also be a region (e.g. "M1"): every population in that region is silenced.
        """
        names = [names] if isinstance(names, str) else list(names)
        chosen = set()
        for n in names:
            matches = [p.name for p in self.populations if n in (p.name, p.region)]
            if not matches:
                valid = sorted(set(self.population_names) | {p.region for p in self.populations if p.region != "none"})
                raise ValueError(f"unknown population or region {n!r} in circuit {self.name!r}; valid: {', '.join(valid)}")
            chosen.update(matches)
        self._lesioned |= chosen

    def unlesion(self) -> None:
        self._lesioned = set()

    @property
    def lesioned(self) -> list[str]:
        return sorted(self._lesioned)

    def silence(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """`x` (a population's output) forced to zero if that population is lesioned."""
        return torch.zeros_like(x) if name in self._lesioned else x

    # ------------------------------------------------------------------------------- audits
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def describe(self) -> dict:
        return {
            "circuit": self.name,
            "parameters": self.num_parameters(),
            "feature_dim": self.feature_dim,
            "output_population": self.output_population,
            "readout": list(getattr(self, "readout", [self.output_population])),
            "populations": [p.as_dict() for p in self.populations],
        }


def mlp(sizes: list[int], activation=nn.Tanh, final_activation: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if final_activation or i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)
