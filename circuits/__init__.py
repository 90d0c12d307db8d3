"""Controller circuits of rising biological realism behind one protocol (see `circuits.base`).

`circuits.make(name, obs_dim, act_dim, seed=0, target_params=None, **overrides)`, `circuits.names()`.
Circuits never import tasks: they see only observation and action sizes.
"""

from circuits.base import Circuit, Population
from circuits.registry import CIRCUITS, SIZE_KEYS, circuit_class, make, names

__all__ = ["make", "names", "circuit_class", "CIRCUITS", "SIZE_KEYS", "Circuit", "Population"]
