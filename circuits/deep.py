"""The deep-learning family's engine (`DeepCircuit`): a spec whose populations are `dense` (tanh layers)
or `lstm` cells, unsigned (`circuits.spec`); the built-ins `mlp` and `lstm` are such specs.

Each control step the populations are computed in the topological order of the undelayed projections:
a population's input is the concatenation, in declaration order, of its presynaptic populations'
outputs (or the observation). A projection with `delay` d reads its presynaptic population's output
of d steps earlier, which is how a dense/lstm circuit may hold a loop. `unroll` runs whole sequences
population by population (an lstm's stretches between resets through torch's fused LSTM), so a
training update's backward pass costs one op per stretch instead of one cell per step; it equals the
step-by-step forward (tested), to which it falls back when a population is lesioned or a projection
is delayed.
"""

from __future__ import annotations

import torch
from torch import nn

from circuits.base import Circuit, Population
from circuits.spec import CircuitSpec, _check_cycles


class DeepCircuit(Circuit):
    def __init__(self, spec: CircuitSpec, obs_dim: int, act_dim: int, seed: int = 0):
        super().__init__(obs_dim, act_dim)
        self.name = spec.name
        self.control_dt_s = spec.dynamics["control_dt_s"]
        self.populations = [Population(p.name, p.region, p.size, p.cell_type, 0) for p in spec.populations]
        self._setup_readout(spec)
        sizes = {p.name: p.size for p in spec.populations}
        sizes["obs"] = obs_dim
        self.order = _check_cycles(spec.name, [p.name for p in spec.populations], list(spec.projections))
        self.inputs = {p.name: [(x.pre, x.delay) for x in spec.projections if x.post == p.name]
                       for p in spec.populations}
        self.models = {p.name: p.model for p in spec.populations}
        for p in spec.populations:  # modules in declaration order: same seed, same weights
            n_in = sum(sizes[pre] for pre, _ in self.inputs[p.name])
            if p.model == "dense":
                layers: list[nn.Module] = []
                for i in range(p.opt("layers")):
                    layers += [nn.Linear(n_in if i == 0 else p.size, p.size), nn.Tanh()]
                module = nn.Sequential(*layers)
            else:
                module = nn.LSTMCell(n_in, p.size)
            if hasattr(Circuit, p.name) or p.name in ("order", "inputs", "models", "spec"):
                raise ValueError(f"circuit {spec.name}: population name {p.name!r} is reserved; choose another")
            self.add_module(p.name, module)
        self.delay_of = {}  # population -> the longest delay any projection reads it at
        for x in spec.projections:
            if x.delay and x.pre != "obs":
                self.delay_of[x.pre] = max(self.delay_of.get(x.pre, 0), x.delay)
        self.sizes = sizes
        self._fusable = not self.delay_of

    def initial_state(self, batch: int):
        dev = next(self.parameters()).device
        state = {}
        for p in self.populations:
            if self.models[p.name] == "lstm":
                state[f"{p.name}_h"] = torch.zeros(batch, p.size, device=dev)
                state[f"{p.name}_c"] = torch.zeros(batch, p.size, device=dev)
        for name, d in self.delay_of.items():  # [B, d, size] outputs of the last d steps, oldest first
            state[f"{name}_past"] = torch.zeros(batch, d, self.sizes[name], device=dev)
        return state

    def _input(self, name, obs, out, state):
        parts = []
        for pre, delay in self.inputs[name]:
            if pre == "obs":
                parts.append(obs)
            elif delay:
                past = state[f"{pre}_past"]
                parts.append(past[:, past.shape[1] - delay])
            else:
                parts.append(out[pre])
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)

    def step(self, obs, state, noise, consts):
        out, new_state = {}, {}
        for name in self.order:
            x = self._input(name, obs, out, state)
            module = getattr(self, name)
            if self.models[name] == "dense":
                y = self.silence(name, module(x))  # [B, size]
            else:
                h, c = module(x, (state[f"{name}_h"], state[f"{name}_c"]))
                y = self.silence(name, h)  # a silenced cell's output also feeds its own recurrence as zero
                new_state[f"{name}_h"], new_state[f"{name}_c"] = y, c
            out[name] = y
        for name in self.delay_of:
            new_state[f"{name}_past"] = torch.cat([state[f"{name}_past"][:, 1:], out[name].unsqueeze(1)], dim=1)
        features = torch.cat([out[p] for p in self.feature_populations], dim=-1) \
            if len(self.feature_populations) > 1 else out[self.feature_populations[0]]
        return features, new_state, {p.name: out[p.name] for p in self.populations}

    def unroll(self, obs_seq, state, reset_seq, noise_seq=None, keep_activity=True):
        """Whole sequences population by population (see the module docstring)."""
        if self._lesioned or not self._fusable:
            return super().unroll(obs_seq, state, reset_seq, noise_seq, keep_activity)
        T = obs_seq.shape[0]
        starts = [t for t in range(T) if t == 0 or bool(reset_seq[t].any())]
        out, new_state = {}, dict(state)
        for name in self.order:
            x = self._input(name, obs_seq, out, state)  # [T, B, in]
            module = getattr(self, name)
            if self.models[name] == "dense":
                out[name] = module(x)
                continue
            h, c = state[f"{name}_h"], state[f"{name}_c"]
            pieces = []
            for start, stop in zip(starts, [*starts[1:], T]):
                if bool(reset_seq[start].any()):
                    fresh = reset_seq[start].to(h.device).unsqueeze(-1)  # [B, 1]; the initial state is zeros
                    h, c = torch.where(fresh, torch.zeros_like(h), h), torch.where(fresh, torch.zeros_like(c), c)
                y, h, c = _fused(module, x[start:stop], h, c)  # [t, B, size]
                pieces.append(y)
            out[name] = torch.cat(pieces)
            new_state[f"{name}_h"], new_state[f"{name}_c"] = h, c
        features = torch.cat([out[p] for p in self.feature_populations], dim=-1) \
            if len(self.feature_populations) > 1 else out[self.feature_populations[0]]
        activity = {p.name: out[p.name] for p in self.populations} if keep_activity else {}
        return features, new_state, activity


def _fused(cell: nn.LSTMCell, x, h, c):
    """Run an LSTMCell's weights over a sequence x [T, B, in] with torch's fused LSTM:
    (outputs [T, B, hidden], final h [B, hidden], final c [B, hidden])."""
    out, h_n, c_n = torch.lstm(x, (h[None], c[None]), [cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh],
                               True, 1, 0.0, cell.training, False, False)
    return out, h_n[0], c_n[0]
