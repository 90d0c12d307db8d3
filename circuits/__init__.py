"""Controller circuits of rising biological realism behind one protocol (see `circuits.base`), each
declared as a spec of populations and projections (`circuits.spec`).

`circuits.make(name | spec.yaml | mapping, obs_dim, act_dim, seed=0, target_params=None, **overrides)`,
`circuits.names()`. Circuits never import tasks: they see only observation and action sizes.
"""

from circuits.base import Circuit, Population
from circuits.registry import build, make, names
from circuits.spec import CircuitSpec, load, validate

__all__ = ["make", "names", "build", "load", "validate", "CircuitSpec", "Circuit", "Population"]
