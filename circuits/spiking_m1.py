"""`spiking_m1`: a spiking LIF motor cortex, E (pyramidal) and I (interneuron) populations with Dale's law
on every projection (`circuits.spiking`)."""

from __future__ import annotations

from circuits.dale import Projection
from circuits.spiking import SpikingCircuit, SpikingPopulation


class SpikingM1(SpikingCircuit):
    name = "spiking_m1"

    def __init__(self, obs_dim: int, act_dim: int, n_exc: int = 160, n_inh: int = 40, tau_mem_exc_ms: float = 20.0,
                 tau_mem_inh_ms: float = 10.0, drive_exc: float = 0.95, drive_inh: float = 0.8, w_ee: float = 0.5,
                 w_ei: float = 0.8, w_ie: float = 1.2, w_ii: float = 1.0, adapt_tau_ms: float = 0.0,
                 adapt_strength: float = 0.0, **kwargs):
        # adapt_*: the E cells as adaptive LIF neurons (Bellec et al. 2018); 0 = plain LIF
        pops = [SpikingPopulation("E", "M1", n_exc, "pyramidal", +1, tau_mem_exc_ms, drive_exc, adapt_tau_ms,
                                  adapt_strength),
                SpikingPopulation("I", "M1", n_inh, "interneuron", -1, tau_mem_inh_ms, drive_inh)]
        # gains are mean summed input per presynaptic spike, in units of rheobase-current x substep
        projs = [Projection("E", "E", w_ee), Projection("E", "I", w_ei), Projection("I", "E", w_ie),
                 Projection("I", "I", w_ii)]
        super().__init__(obs_dim, act_dim, pops, projs, input_targets=["E", "I"], output="E", **kwargs)
