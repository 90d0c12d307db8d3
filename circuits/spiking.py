"""The spiking family's engine on snntorch (`SpikingCircuit`): a spec whose populations are `lif` or
`alif` (`circuits.spec`) is built into one; the built-ins `spiking_m1` and `m1_bg` are such specs.

Neurons are current-based leaky integrate-and-fire units (`snntorch.Synaptic`, reset to zero,
fast-sigmoid surrogate gradient), simulated for `substeps` steps per control step (default 5:
dt = 4 ms at a 20 ms control step). Per substep, with alpha = exp(-dt/tau_syn), beta = exp(-dt/tau_mem):

    syn <- alpha syn + I,   mem <- beta mem + syn,   spike = [mem > threshold], then mem <- 0
    I = rheobase * (W_eff s(previous substep) + I_relay + sigma xi) + b

(W_eff, I_relay and the noise are in units of rheobase current: a weight of 1 from one presynaptic
spike delivers one substep of threshold-holding current.)

All state is explicit tensors (no snntorch hidden-state registry). Every projection obeys Dale's
law (`circuits.dale`). Tonic drives are in units of rheobase: a drive of 1 alone holds the membrane
exactly at threshold. Optional absolute refractoriness clamps a neuron silent for `refractory_ms`
after each spike. The actor head reads exponentially filtered spike trains (tau_readout) of the
readout populations (the critic, of its own when the spec names them). A projection with `delay` d
reads the presynaptic spikes of exactly d control steps (d x substeps) earlier.

Adaptive LIF (ALIF; Bellec et al. 2018 NeurIPS, "long short-term memory in spiking networks"): a
population of model `alif` has a threshold that rises with each spike and decays back over
tau_a, a slow variable that can hold time and working memory:

    threshold_j = threshold (1 + beta a_j),   a_j <- rho a_j + spike_j,   rho = exp(-dt/tau_a)

a_j counts the cell's recent spikes (each decaying with tau_a; at a steady rate r, a = r tau_a), and
`adapt_strength` beta is the threshold's rise per spike, in units of the threshold. Bellec et al.'s
LSNN (beta 1.8, b0 0.01, tau_a 1200 ms, dt 1 ms) raises the threshold by 0.15 b0 per spike: beta 0.15 here.
"""
from __future__ import annotations

import math

import snntorch as snn
import torch
from snntorch import surrogate
from torch import nn

from circuits.base import Population
from circuits.dale import DaleCircuit, DaleWeights, OnOffRelay, relay_targets
from circuits.spec import CircuitSpec


class _DeferredWeight(torch.autograd.Function):
    """The recurrent weights' gradient in one matrix product per unroll instead of one per substep.

    Under autograd each substep's `spk @ W` would compute its own weight gradient (a small [N, B] x [B, N]
    product, ~60 % of a spiking update's backward at batch 4). Instead the substeps (`_RecurrentInput`)
    pass back only their input gradient and leave (presynaptic spikes, current gradient) in `store`; this
    node, upstream of every substep, runs last in the backward pass and turns the stored pairs into the
    weights' gradient at once: sum_k s_k^T g_k = S^T G. Same result as autograd's to float rounding
    (tested); forward values are untouched."""

    @staticmethod
    def forward(ctx, weight, store):
        ctx.store = store
        return weight.new_zeros(())  # a token: the substeps depend on it, so this node's backward runs last

    @staticmethod
    def backward(ctx, _):
        store, ctx.store = ctx.store, None
        if not store:
            return None, None
        spikes = torch.cat([x for x, _ in store])  # [sum B, N_pre]
        grads = torch.cat([g for _, g in store])  # [sum B, N_post]
        store.clear()
        return spikes.T @ grads, None  # [N_pre, N_post]


class _RecurrentInput(torch.autograd.Function):
    """spk @ W for one substep; its weight gradient deferred to `_DeferredWeight`."""

    @staticmethod
    def forward(ctx, spk, token, weight, store):
        ctx.save_for_backward(spk, weight)
        ctx.store = store
        return spk @ weight

    @staticmethod
    def backward(ctx, grad):
        spk, weight = ctx.saved_tensors
        ctx.store.append((spk, grad))
        return grad @ weight.T, grad.new_zeros(()), None, None


class SpikingCircuit(DaleCircuit):
    """A network of LIF/ALIF populations joined by Dale projections, built from a spec (`circuits.spec`)."""

    def __init__(self, spec: CircuitSpec, obs_dim: int, act_dim: int, seed: int = 0):
        super().__init__(obs_dim, act_dim)
        self.name = spec.name
        dyn = spec.dynamics
        substeps, control_dt_s, threshold = dyn["substeps"], dyn["control_dt_s"], dyn["threshold"]
        dt_ms = control_dt_s * 1000.0 / substeps
        self.substeps = substeps
        self.dt_ms = dt_ms
        self.control_dt_s = control_dt_s
        self.noise_std = dyn["noise_std"]
        self.threshold = threshold
        self.populations = [Population(p.name, p.region, p.size, p.cell_type, p.sign, "spike") for p in spec.populations]
        self.weights = DaleWeights(self.populations, list(spec.internal_projections), seed)
        self.offsets = self.weights.offsets
        self.n_units = self.weights.n_units
        self._setup_readout(spec, self.offsets)

        alpha = math.exp(-dt_ms / dyn["tau_syn_ms"])
        beta = torch.cat([torch.full((p.size,), math.exp(-dt_ms / p.opt("tau_mem_ms"))) for p in spec.populations])
        self.alpha_syn = alpha
        self.register_buffer("beta_mem", beta)
        self.spike_fn = surrogate.fast_sigmoid(slope=dyn["surrogate_slope"])
        # a constant current b holds mem at b / ((1 - alpha)(1 - beta)); drive 1 = threshold
        rheobase = threshold * (1 - alpha) * (1 - beta)
        drive = torch.cat([torch.full((p.size,), p.opt("drive")) for p in spec.populations])
        self.bias = nn.Parameter(drive * rheobase)
        self.register_buffer("rheobase", rheobase)
        self.refractory_steps = int(round(dyn["refractory_ms"] / dt_ms))
        adaptive = [p for p in spec.populations if p.model == "alif"]
        self.adaptive = any(p.opt("adapt_strength") > 0 for p in adaptive)
        rho = torch.cat([torch.full((p.size,), math.exp(-dt_ms / p.opt("adapt_tau_ms")) if p.model == "alif" else 0.0)
                         for p in spec.populations])
        beta_a = torch.cat([torch.full((p.size,), p.opt("adapt_strength") * threshold if p.model == "alif" else 0.0)
                            for p in spec.populations])  # threshold rise per spike
        self.register_buffer("adapt_rho", rho, persistent=False)  # [N]; derived from the spec, not saved
        self.register_buffer("adapt_beta", beta_a, persistent=False)  # [N], in units of the membrane variable
        self.readout_decay = math.exp(-dt_ms / dyn["readout_tau_ms"])
        self.delays = self.weights.delays
        self.max_delay = max(self.delays, default=0)

        targets, gains, mask = relay_targets(spec, self.offsets, obs_dim, seed)
        self.register_buffer("input_index", targets, persistent=False)  # [n targets]; derived from the spec
        self._input_everywhere = torch.equal(targets, torch.arange(self.n_units))
        self.relay = OnOffRelay(obs_dim, spec.relay["size"], len(targets), gain=gains, mask=mask)
        self._dopamine_gains = dict(spec.dopamine_projections)
        self.dopamine = spec.dopamine_level

    # --------------------------------------------------------------------------- state, noise
    def initial_state(self, batch: int):
        dev = self.bias.device
        z = torch.zeros(batch, self.n_units, device=dev)
        state = {"syn": z, "mem": z.clone(), "spk": z.clone(), "trace": torch.zeros(batch, self.feature_dim, device=dev)}
        if self.refractory_steps:
            state["refractory"] = z.clone()
        if self.adaptive:
            state["adapt"] = z.clone()  # [B, N] ALIF trace: recent spikes, decaying with tau_a
        if self.max_delay:
            # [B, D K, N] spikes of the last D control steps, oldest first (delayed projections read them)
            state["past_spikes"] = torch.zeros(batch, self.max_delay * self.substeps, self.n_units, device=dev)
        return state

    def noise_shapes(self, batch: int):
        return {"current": (batch, self.substeps, self.n_units)} if self.noise_std > 0 else {}

    # ------------------------------------------------------------------------------- dynamics
    def encode(self, obs):
        """Relay output placed on its target units and turned into current: [..., obs] -> [..., N]."""
        relay = self.relay(obs)  # [..., n input targets], in units of rheobase
        if self._input_everywhere:
            i_in = relay
        else:
            i_in = relay.new_zeros(*relay.shape[:-1], self.n_units)
            i_in[..., self.input_index] = relay  # [..., N], in units of rheobase
        return i_in * self.rheobase + self.bias  # [..., N] input current plus tonic drive

    def constants(self):
        # recurrent weights pre-multiplied by the postsynaptic rheobase: spk @ w_cur is a current
        w_cur = self.weights.effective(0).T * self.rheobase  # [N_pre, N_post]
        mask = self.unit_mask() if self._lesioned else None  # [N] or None when nothing is lesioned
        delayed = {d: self.weights.effective(d).T * self.rheobase for d in self.delays}  # {d: [N_pre, N_post]}
        consts = {"w_cur": w_cur, "noise_cur": self.noise_std * self.rheobase, "mask": mask, "delayed": delayed}
        if torch.is_grad_enabled() and w_cur.requires_grad:  # training: one weight-gradient product per unroll
            store: list = []
            consts["deferred"] = (_DeferredWeight.apply(w_cur, store), w_cur.detach(), store)
        return consts

    def step(self, base, state, noise, consts):
        """base [B, N]: `encode`'s input current. Per substep the current is
        I = rheobase * (W_eff s + I_relay + sigma xi) + b, computed as one addmm on a per-substep base."""
        w_cur, mask = consts["w_cur"], consts["mask"]
        syn, mem, spk, trace = state["syn"], state["mem"], state["spk"], state["trace"]
        ref = state.get("refractory")
        adapt = state.get("adapt")
        out = self.feature_units
        K = self.substeps
        if self.noise_std > 0:
            xi = noise["current"] if noise is not None else torch.randn(base.shape[0], K, self.n_units,
                                                                        device=base.device)
            base = base.unsqueeze(1) + xi * consts["noise_cur"]  # [B, K, N]
        else:
            base = base.unsqueeze(1).expand(-1, K, -1)
        if self.max_delay:  # the delayed projections' currents for the whole control step at once
            past = state["past_spikes"]  # [B, D K, N], oldest first
            for d, w_d in consts["delayed"].items():
                start = (self.max_delay - d) * K  # spikes exactly d control steps before each substep
                base = base + past[:, start:start + K] @ w_d  # [B, K, N]
        deferred = consts.get("deferred")
        base = base.unbind(1)  # K x [B, N]
        spikes = []
        for k in range(K):
            if deferred is None:
                cur = torch.addmm(base[k], spk, w_cur)  # [B, N] synaptic input current
            else:
                cur = base[k] + _RecurrentInput.apply(spk, *deferred)
            if adapt is None:
                spk, syn, mem = self.lif_step(cur, syn, mem)
            else:
                threshold = self.threshold + self.adapt_beta * adapt  # [B, N] the adaptive threshold
                spk, syn, mem = self.lif_step(cur, syn, mem, threshold, spiked=spk)
            if ref is not None:
                free = (ref <= 0).to(spk.dtype)
                spk, mem = spk * free, mem * free
                ref = torch.where(spk > 0, torch.full_like(ref, self.refractory_steps), ref - 1).clamp(min=0)
            if mask is not None:
                spk = spk * mask  # lesioned populations emit exactly zero
            if adapt is not None:  # the cell's recent spikes, each decaying with tau_a
                adapt = torch.addcmul(spk, self.adapt_rho, adapt)
            trace = self.readout_decay * trace + spk[:, out]
            spikes.append(spk)
        spikes_t = torch.stack(spikes, dim=1)  # [B, K, N]
        new_state = {"syn": syn, "mem": mem, "spk": spk, "trace": trace}
        if ref is not None:
            new_state["refractory"] = ref
        if adapt is not None:
            new_state["adapt"] = adapt
        if self.max_delay:
            new_state["past_spikes"] = torch.cat([state["past_spikes"][:, K:], spikes_t], dim=1)
        activity = {p.name: spikes_t[:, :, self.offsets[p.name]] for p in self.populations}
        return trace, new_state, activity

    def lif_step(self, cur, syn, mem, threshold=None, spiked=None):
        """One substep of `snntorch.Synaptic` (reset to zero, delayed reset), written out functionally.

        Same arithmetic as snntorch's neuron (tested against it) and its surrogate spike function,
        without the module's per-call attribute bookkeeping, which cost ~70 % of a step here.
        """
        threshold = self.threshold if threshold is None else threshold  # a tensor [B, N] for ALIF units
        # spiked at the previous substep (no gradient through the reset); an ALIF threshold has moved since, so
        # its units pass the previous spikes themselves
        reset = mem > threshold if spiked is None else spiked.detach() > 0
        syn = torch.add(cur, syn, alpha=self.alpha_syn)  # alpha syn + I
        mem = torch.addcmul(syn, self.beta_mem, mem).masked_fill(reset, 0.0)  # (beta mem + syn), zeroed after a spike
        spk = self.spike_fn(mem - threshold)
        return spk, syn, mem

    def snntorch_neuron(self) -> snn.Synaptic:
        """The equivalent snntorch neuron (used to check `lif_step` against the library)."""
        return snn.Synaptic(alpha=torch.tensor(self.alpha_syn), beta=self.beta_mem.clone(), threshold=self.threshold,
                            spike_grad=self.spike_fn, reset_mechanism="zero")
