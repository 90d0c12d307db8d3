"""The circuit registry: `make`, `names`, and sizing to a parameter budget for fair comparisons."""

from __future__ import annotations

import inspect

import torch

from circuits.base import Circuit
from circuits.dale_rnn import DaleRNN
from circuits.mlp import MLPCircuit
from circuits.lstm import LSTMCircuit
from circuits.m1_bg import M1BasalGanglia
from circuits.spiking_m1 import SpikingM1

CIRCUITS: dict[str, type[Circuit]] = {c.name: c for c in (MLPCircuit, LSTMCircuit, DaleRNN, SpikingM1, M1BasalGanglia)}

# Constructor arguments that set population sizes; scaled together by `target_params`.
SIZE_KEYS: dict[str, tuple[str, ...]] = {
    "mlp": ("hidden",),
    "lstm": ("encoder_size", "core_size", "policy_size"),
    "dale_rnn": ("units", "relay_size"),
    "spiking_m1": ("n_exc", "n_inh", "relay_size"),
    "m1_bg": ("n_m1_exc", "n_m1_inh", "n_d1", "n_d2", "n_gpe", "n_stn", "n_gpi", "n_thalamus", "relay_size"),
}


def names() -> list[str]:
    return list(CIRCUITS)


def circuit_class(name: str) -> type[Circuit]:
    if name not in CIRCUITS:
        raise ValueError(f"unknown circuit {name!r}; valid: {', '.join(CIRCUITS)}")
    return CIRCUITS[name]


def _defaults(cls) -> dict:
    """Constructor defaults across the class hierarchy (subclass values win)."""
    out: dict = {}
    for c in reversed(cls.__mro__):
        if isinstance(c, type) and issubclass(c, Circuit) and "__init__" in c.__dict__:
            for k, p in inspect.signature(c.__init__).parameters.items():
                if k not in ("self", "kwargs", "obs_dim", "act_dim"):
                    out[k] = p.default
    return out


def _valid_options(cls) -> list[str]:
    return sorted(_defaults(cls))


def _construct(cls, obs_dim, act_dim, seed, overrides):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            return cls(obs_dim, act_dim, **overrides)
        except TypeError as exc:
            raise ValueError(f"bad option for circuit {cls.name!r} ({exc}); valid: {', '.join(_valid_options(cls))}") from exc


def make(name: str, obs_dim: int, act_dim: int, seed: int = 0, target_params: int | None = None, **overrides) -> Circuit:
    """A circuit by name. Same seed, same initial weights.

    target_params: scale every population size of the circuit by one factor so that its trainable
    parameter count lands within 10 % of this number (for comparisons at equal capacity).
    """
    cls = circuit_class(name)
    if target_params is None:
        return _construct(cls, obs_dim, act_dim, seed, overrides)
    if target_params < 1:
        raise ValueError(f"target_params must be >= 1, got {target_params}")
    defaults = _defaults(cls)
    base = {k: overrides.get(k, defaults[k]) for k in SIZE_KEYS[name]}

    def build(factor: float) -> Circuit:
        sized = {k: max(2, round(v * factor)) for k, v in base.items()}
        return _construct(cls, obs_dim, act_dim, seed, {**overrides, **sized})

    lo, hi = 1e-3, 1e3
    best = None
    for _ in range(60):  # parameter count grows monotonically with the factor: bisect in log space
        mid = (lo * hi) ** 0.5
        circuit = build(mid)
        n = circuit.num_parameters()
        if best is None or abs(n - target_params) < abs(best.num_parameters() - target_params):
            best = circuit
        if abs(n - target_params) <= 0.02 * target_params:
            break
        lo, hi = (mid, hi) if n < target_params else (lo, mid)
    if abs(best.num_parameters() - target_params) > 0.1 * target_params:
        raise ValueError(f"circuit {name!r} cannot be sized to {target_params} parameters "
                         f"(closest: {best.num_parameters()}); its fixed parts set a floor")
    return best
