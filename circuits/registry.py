"""The circuit registry: every circuit is a spec (`circuits.spec`); `make` builds one by name, file or
mapping, and sizes it to a parameter budget for comparisons at equal capacity.

The built-in specs are `circuits/conf/circuit/<name>.yaml` (also the hydra `circuit/` group); `names()`
lists them. A spec's family picks its engine: dense/lstm -> `DeepCircuit`, rate -> `RateCircuit`,
lif/alif -> `SpikingCircuit`.
"""

from __future__ import annotations

import torch

from circuits import spec as specs
from circuits.base import Circuit


def names() -> list[str]:
    return specs.builtin_names()


def engine(family: str):
    from circuits.deep import DeepCircuit
    from circuits.rate import RateCircuit
    from circuits.spiking import SpikingCircuit

    return {"deep": DeepCircuit, "rate": RateCircuit, "spiking": SpikingCircuit}[family]


def build(spec: specs.CircuitSpec, obs_dim: int, act_dim: int, seed: int = 0) -> Circuit:
    """The circuit a validated spec declares, its initial weights drawn from `seed`."""
    if any(p.size is None for p in spec.populations):
        raise ValueError(f"circuit {spec.name}: population sizes given as shares need target_params")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return engine(spec.family)(spec, obs_dim, act_dim, seed)


def make(source, obs_dim: int, act_dim: int, seed: int = 0, target_params: int | None = None,
         **overrides) -> Circuit:
    """A circuit from a built-in name, a spec file path or a spec mapping. Same seed, same initial weights.

    overrides: merged into the spec (nested mappings, or dotted keys: `**{"populations.E.size": 200}`).
    target_params: scale every population's size (and the relay's) by one factor so that the trainable
    parameter count lands within 10 % of this number (populations given as a `share` start from their
    share); also read from the spec's own `target_params`.
    """
    data = specs.merge(specs.load(source), overrides)
    data.pop("_target_", None)
    data.pop("seed", None)  # the hydra group's `seed: ${seed}`; the caller passes the resolved seed
    if target_params is None:
        target_params = data.get("target_params")
    spec = specs.validate({**data, "target_params": target_params})
    if target_params is None:
        return build(spec, obs_dim, act_dim, seed)
    if target_params < 1:
        raise ValueError(f"target_params must be >= 1, got {target_params}")
    base = {p.name: (p.size if p.size is not None else p.share * 1000.0) for p in spec.populations}
    relay = spec.relay.get("size") if spec.relay else None

    def sized(factor: float) -> Circuit:
        sizes = {k: max(2, round(v * factor)) for k, v in base.items()}
        return build(specs.with_sizes(spec, sizes, max(2, round(relay * factor)) if relay else None),
                     obs_dim, act_dim, seed)

    lo, hi = 1e-3, 1e3
    best = None
    for _ in range(60):  # parameter count grows monotonically with the factor: bisect in log space
        mid = (lo * hi) ** 0.5
        circuit = sized(mid)
        n = circuit.num_parameters()
        if best is None or abs(n - target_params) < abs(best.num_parameters() - target_params):
            best = circuit
        if abs(n - target_params) <= 0.02 * target_params:
            break
        lo, hi = (mid, hi) if n < target_params else (lo, mid)
    if abs(best.num_parameters() - target_params) > 0.1 * target_params:
        raise ValueError(f"circuit {spec.name!r} cannot be sized to {target_params} parameters "
                         f"(closest: {best.num_parameters()}); its fixed parts set a floor")
    return best
