"""`m1_bg`: spiking M1 with a basal-ganglia loop (`circuits.spiking`).

`m1_bg` anatomy (signs fixed by the presynaptic cell type):
    M1 E -> striatum D1 and D2 MSNs (+), M1 E -> STN (+, hyperdirect pathway; Nambu et al. 2002)
    D1 -> GPi/SNr (-)                      direct pathway
    D2 -> GPe (-); GPe -> STN, GPi (-)     indirect pathway (Albin et al. 1989; DeLong 1990)
    STN -> GPi, GPe (+)
    GPi -> thalamus (-); thalamus -> M1 E and I (+)
The dopamine-like gain lambda scales cortical input to D1 by (1 + lambda) and to D2 by (1 - lambda),
as in Gurney, Prescott & Redgrave 2001 (Biol Cybern 84:401-410); default 0 (neutral). Tonic drives
follow the pattern of resting rates in that model and in vivo: GPi and GPe fire tonically and fast,
STN moderately, MSNs are quiet (down state) until cortex drives them, thalamus is near threshold.
"""

from __future__ import annotations

from circuits.dale import Projection
from circuits.spiking import SpikingCircuit, SpikingPopulation


class M1BasalGanglia(SpikingCircuit):
    name = "m1_bg"

    def __init__(self, obs_dim: int, act_dim: int, n_m1_exc: int = 128, n_m1_inh: int = 32, n_d1: int = 32,
                 n_d2: int = 32, n_gpe: int = 16, n_stn: int = 16, n_gpi: int = 16, n_thalamus: int = 32,
                 dopamine: float = 0.0, drives: dict | None = None, gains: dict | None = None, **kwargs):
        d = {"M1_E": 0.95, "M1_I": 0.8, "D1": 0.3, "D2": 0.3, "GPe": 1.6, "STN": 1.2, "GPi": 1.6, "thalamus": 1.1}
        d.update(drives or {})
        pops = [
            SpikingPopulation("M1_E", "M1", n_m1_exc, "pyramidal", +1, 20.0, d["M1_E"]),
            SpikingPopulation("M1_I", "M1", n_m1_inh, "interneuron", -1, 10.0, d["M1_I"]),
            SpikingPopulation("D1", "striatum_D1", n_d1, "MSN_D1", -1, 20.0, d["D1"]),
            SpikingPopulation("D2", "striatum_D2", n_d2, "MSN_D2", -1, 20.0, d["D2"]),
            SpikingPopulation("GPe", "GPe", n_gpe, "prototypic", -1, 15.0, d["GPe"]),
            SpikingPopulation("STN", "STN", n_stn, "glutamatergic", +1, 15.0, d["STN"]),
            SpikingPopulation("GPi", "GPi", n_gpi, "GABAergic_output", -1, 15.0, d["GPi"]),
            SpikingPopulation("thalamus", "thalamus", n_thalamus, "thalamocortical", +1, 20.0, d["thalamus"]),
        ]
        g = {("M1_E", "M1_E"): 0.5, ("M1_E", "M1_I"): 0.8, ("M1_I", "M1_E"): 1.2, ("M1_I", "M1_I"): 1.0,
             ("M1_E", "D1"): 1.0, ("M1_E", "D2"): 1.0, ("M1_E", "STN"): 0.5,
             ("D1", "GPi"): 1.0, ("D2", "GPe"): 1.0, ("GPe", "STN"): 0.8, ("GPe", "GPi"): 0.5,
             ("STN", "GPi"): 0.8, ("STN", "GPe"): 0.5, ("GPi", "thalamus"): 0.5,
             ("thalamus", "M1_E"): 0.5, ("thalamus", "M1_I"): 0.5}
        for key, value in (gains or {}).items():
            pre, post = key.split("->") if isinstance(key, str) else key
            if (pre, post) not in g:
                raise ValueError(f"no projection {pre}->{post} in m1_bg; valid: {', '.join(f'{a}->{b}' for a, b in g)}")
            g[(pre, post)] = value
        projs = [Projection(pre, post, gain) for (pre, post), gain in g.items()]
        super().__init__(obs_dim, act_dim, pops, projs, input_targets=["M1_E", "M1_I"], output="M1_E", **kwargs)
        self.dopamine = dopamine
