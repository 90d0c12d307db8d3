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


class _SpikingBPTT(torch.autograd.Function):
    """A whole unroll of LIF/ALIF substeps with a hand-written backward pass (backpropagation through time).

    Forward runs the same arithmetic as `SpikingCircuit.step` (tested against autograd's to float
    precision) without building an autograd graph, keeping per substep the spikes, the membrane's distance
    to threshold and the reset flags. The readout trace feeds nothing back, so it is computed once per
    control step from that step's spikes: trace_K = d^K trace_0 + sum_k d^(K-1-k) s_k. Backward walks the
    substeps in reverse with the fast-sigmoid surrogate (dS/dv = 1 / (1 + slope |v|)^2, as
    `snntorch.surrogate.fast_sigmoid`): one matrix product per substep for the spikes' gradient, one for
    the weights' over the whole unroll. Under autograd the same unroll records ~25 operations per substep
    and is bound by per-operation overhead at PPO's batch sizes.

    Inputs: base [T, K, B, N] (input current incl. noise per substep), w [N_pre, N_post] (recurrent weights
    in current units), keep [T, B] (0 where an episode begins: the state returns to zero), the initial
    state syn, mem, spk [B, N], trace [B, F], adapt [B, N], and `cfg` (constants: no gradient).
    Outputs: features [T, B, F] (the readout trace after each control step) and the final state.
    """

    @staticmethod
    def forward(ctx, base, w, keep, syn, mem, spk, trace, adapt, cfg):
        T, K, B, N = base.shape
        alpha, beta, out, mask = cfg["alpha"], cfg["beta"], cfg["out"], cfg["mask"]
        threshold, adaptive = cfg["threshold"], cfg["adaptive"]
        spikes = base.new_empty(T, K, B, N)  # [T, K, B, N] the spikes of each substep (after any lesion)
        first = base.new_empty(T, B, N)  # the spikes entering each control step's first substep
        dist = base.new_empty(T, K, B, N)  # membrane minus threshold after each substep
        reset = torch.empty(T, K, B, N, dtype=torch.bool, device=base.device)
        feats = base.new_empty(T, B, trace.shape[-1])
        weights = cfg["decay"] ** torch.arange(K - 1, -1, -1, dtype=base.dtype, device=base.device)  # [K]
        zero = base.new_zeros(())
        resets = (keep < 1).any(dim=1).tolist()  # [T] whether any episode begins at step t
        for t in range(T):
            if resets[t]:
                k_t = keep[t].unsqueeze(1)  # [B, 1]
                syn, mem, spk, trace, adapt = syn * k_t, mem * k_t, spk * k_t, trace * k_t, adapt * k_t
            first[t] = spk
            for k in range(K):
                if adaptive:
                    thr = torch.addcmul(torch.full_like(adapt, threshold), cfg["adapt_beta"], adapt)
                    torch.gt(spk, 0, out=reset[t, k])
                else:
                    thr = threshold
                    torch.gt(mem, threshold, out=reset[t, k])
                syn = torch.addmm(base[t, k], spk, w).add_(syn, alpha=alpha)  # alpha syn + I
                mem = torch.addcmul(syn, beta, mem).masked_fill_(reset[t, k], 0.0)
                spk = torch.heaviside(torch.sub(mem, thr, out=dist[t, k]), zero, out=spikes[t, k])
                if mask is not None:
                    spk.mul_(mask)
                if adaptive:
                    adapt = torch.addcmul(spk, cfg["adapt_rho"], adapt)
            trace = torch.einsum("k,kbn->bn", weights, spikes[t][:, :, out]).add_(trace, alpha=cfg["decay"] ** K)
            feats[t] = trace
        ctx.cfg = cfg
        ctx.save_for_backward(w, keep, spikes, first, dist, reset, weights)
        return feats, syn, mem, spk.clone(), trace, adapt

    @staticmethod
    def backward(ctx, g_feats, g_syn, g_mem, g_spk, g_trace, g_adapt):
        w, keep, spikes, first, dist, reset, weights = ctx.saved_tensors
        cfg = ctx.cfg
        T, K, B, N = spikes.shape
        alpha, beta, out, mask = cfg["alpha"], cfg["beta"], cfg["out"], cfg["mask"]
        adaptive = cfg["adaptive"]
        carry = cfg["decay"] ** K
        # the readout trace: its gradient at the end of each control step, then on each substep's spikes
        g_end = g_feats.clone()  # [T, B, F]
        if g_trace is not None:
            g_end[-1] += g_trace
        for t in range(T - 2, -1, -1):
            g_end[t] += carry * keep[t + 1].unsqueeze(1) * g_end[t + 1]
        g_trace0 = carry * keep[0].unsqueeze(1) * g_end[0]
        g_readout = spikes.new_zeros(T, K, B, N)
        g_readout[..., out] = weights.view(1, K, 1, 1) * g_end.unsqueeze(1)  # [T, K, B, F]
        # the surrogate's slope and the lesion mask, and the reset, for every substep at once
        sg = dist.abs().mul_(cfg["slope"]).add_(1.0).pow_(-2)
        if mask is not None:
            sg *= mask
        free = (~reset).to(sg.dtype)
        zeros = spikes.new_zeros(B, N)
        g_syn = zeros if g_syn is None else g_syn
        g_mem = zeros if g_mem is None else g_mem
        g_spk = zeros if g_spk is None else g_spk
        g_adapt = zeros if g_adapt is None else g_adapt
        g_cur = spikes.new_empty(T, K, B, N)  # the input current's gradient per substep (= the base's)
        wt = w.T
        resets = (keep < 1).any(dim=1).tolist()
        for t in reversed(range(T)):
            for k in reversed(range(K)):
                g_s = g_spk + g_readout[t, k]
                if adaptive:
                    g_s += g_adapt
                g_v = g_s.mul_(sg[t, k])  # through the spike's surrogate
                g_m = (g_mem + g_v).mul_(free[t, k])  # through the reset
                g_syn = torch.add(g_syn, g_m, out=g_cur[t, k])  # d/d syn_k = d/d cur_k
                g_mem = g_m.mul_(beta)
                if adaptive:
                    g_adapt = torch.addcmul(g_adapt * cfg["adapt_rho"], cfg["adapt_beta"], g_v, value=-1.0)
                g_spk = g_syn @ wt
                g_syn = g_syn * alpha
            if resets[t]:
                k_t = keep[t].unsqueeze(1)
                g_syn, g_mem, g_spk, g_adapt = g_syn * k_t, g_mem * k_t, g_spk * k_t, g_adapt * k_t
        g_w = None
        if ctx.needs_input_grad[1]:  # sum over substeps of pre^T g_cur: [N_pre, N_post]
            pre = torch.cat([first.unsqueeze(1), spikes[:, :-1]], dim=1)  # [T, K, B, N] spikes entering each substep
            g_w = pre.reshape(-1, N).T @ g_cur.reshape(-1, N)
        return g_cur, g_w, None, g_syn, g_mem, g_spk, g_trace0, g_adapt if adaptive else None, None


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
        self._surrogate_slope = float(dyn["surrogate_slope"])
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

    # ------------------------------------------------------------------------------- unroll
    def _whole_unroll_ok(self, noise_given: bool) -> bool:
        """`_SpikingBPTT` covers every circuit without delayed projections or refractoriness."""
        return not self.max_delay and not self.refractory_steps and (noise_given or self.noise_std == 0)

    def unroll(self, obs_seq, state, reset_seq, noise_seq=None, keep_activity: bool = True):
        """`Circuit.unroll`; with no activity kept, no delays and no refractoriness (the training update's
        and rollout's path for every built-in but cerebellar_loop), one `_SpikingBPTT` call: the same values,
        a hand-written backward pass (tested against autograd's)."""
        if keep_activity or not self._whole_unroll_ok(noise_seq is not None):
            return super().unroll(obs_seq, state, reset_seq, noise_seq, keep_activity)
        T, B = obs_seq.shape[:2]
        K = self.substeps
        base = self.encode(obs_seq).unsqueeze(1)  # [T, 1, B, N]
        if self.noise_std > 0:
            base = base + noise_seq["current"].transpose(1, 2) * (self.noise_std * self.rheobase)  # [T, K, B, N]
        else:
            base = base.expand(-1, K, -1, -1)
        w_cur = self.weights.effective(0).T * self.rheobase  # [N_pre, N_post], in current units
        cfg = {"alpha": self.alpha_syn, "beta": self.beta_mem, "decay": self.readout_decay, "out": self.feature_units,
               "mask": self.unit_mask() if self._lesioned else None, "threshold": self.threshold,
               "adaptive": self.adaptive, "adapt_beta": self.adapt_beta, "adapt_rho": self.adapt_rho,
               "slope": self._surrogate_slope}
        keep = (~reset_seq).to(base.device, base.dtype)  # [T, B]
        adapt = state.get("adapt", state["mem"].new_zeros(()).expand_as(state["mem"]))
        feats, syn, mem, spk, trace, adapt = _SpikingBPTT.apply(base.contiguous(), w_cur, keep, state["syn"],
                                                                 state["mem"], state["spk"], state["trace"], adapt, cfg)
        new_state = {"syn": syn, "mem": mem, "spk": spk, "trace": trace}
        if self.adaptive:
            new_state["adapt"] = adapt
        return feats, new_state, {}

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
