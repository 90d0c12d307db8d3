"""Circuits: protocol, Dale's law under training, spikes, gradients, lesions, seeding, sizing."""

import math

import pytest
import torch

import circuits
from circuits.base import Circuit

OBS, ACT = 31, 8
ALL = circuits.names()
DALE = [n for n in ALL if circuits.make(n, OBS, ACT).spec.family != "deep"]  # every signed spec
SPIKING = [n for n in ALL if circuits.make(n, OBS, ACT).spec.family == "spiking"]


def rollout(c, obs_seq, seed=0, state=None):
    """Run a sequence [T, B, obs] with fixed noise; returns features [T, B, F] and activities."""
    torch.manual_seed(seed)
    state = state or c.initial_state(obs_seq.shape[1])
    feats, acts = [], []
    for obs in obs_seq:
        f, state, a = c(obs, state, None)
        feats.append(f)
        acts.append(a)
    return torch.stack(feats), acts, state


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("batch", [1, 16])
def test_shapes_and_finite(name, batch):
    c = circuits.make(name, OBS, ACT)
    state = c.initial_state(batch)
    f, state2, activity = c(torch.randn(batch, OBS), state, torch.zeros(batch, dtype=torch.bool))
    assert f.shape == (batch, c.feature_dim) and torch.isfinite(f).all()
    assert set(state2) == set(state)
    for key in state:
        assert state2[key].shape == state[key].shape and torch.isfinite(state2[key]).all()
    assert set(activity) == set(c.population_names)
    for p in c.populations:
        shape = activity[p.name].shape
        assert shape == ((batch, c.substeps, p.size) if p.kind == "spike" else (batch, p.size))
    assert c.output_population in c.population_names


@pytest.mark.parametrize("name", [n for n in ALL if n != "mlp"])
def test_reset_mask_resets_only_masked_rows(name):
    c = circuits.make(name, OBS, ACT)
    _, _, state = rollout(c, torch.randn(5, 4, OBS))
    mask = torch.tensor([True, False, True, False])
    reset = c.reset_state(state, mask)
    init = c.initial_state(4)
    for key in state:
        assert torch.equal(reset[key][mask], init[key][mask])
        assert torch.equal(reset[key][~mask], state[key][~mask])
        assert not torch.equal(state[key][~mask], init[key][~mask]) or key == "refractory"


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("lesion", [None, "first"])
def test_unroll_equals_step_by_step_with_resets_inside(name, lesion):
    """The update's whole-sequence unroll (the lstm's fused path, or its step-by-step fallback when
    lesioned) gives the same features, final state and activity as calling the circuit T times."""
    c = circuits.make(name, OBS, ACT)
    if lesion:
        c.lesion(c.population_names[0])
    T, B = 9, 3
    obs = torch.randn(T, B, OBS)
    resets = torch.zeros(T, B, dtype=torch.bool)
    resets[0] = True
    resets[4, 1] = resets[6, 0] = True
    noise = {k: torch.randn(T, *shape) for k, shape in c.noise_shapes(B).items()}
    feats, state, acts = c.unroll(obs, c.initial_state(B), resets, noise)
    state_ref = c.initial_state(B)
    for t in range(T):
        f, state_ref, a = c(obs[t], state_ref, resets[t], {k: v[t] for k, v in noise.items()} or None)
        torch.testing.assert_close(feats[t], f, rtol=0, atol=1e-5)
        for k in a:
            torch.testing.assert_close(acts[k][t], a[k], rtol=0, atol=1e-5)
    for k in state_ref:
        torch.testing.assert_close(state[k], state_ref[k], rtol=0, atol=1e-5)
    if lesion:
        assert torch.count_nonzero(acts[c.population_names[0]]) == 0


def _sign_violations(c) -> int:
    w = c.effective_weights().detach()  # [post, pre]
    signs = c.weights.signs
    exc, inh = signs > 0, signs < 0
    return int((w[:, exc] < 0).sum() + (w[:, inh] > 0).sum())


@pytest.mark.parametrize("name", DALE)
def test_dale_signs_survive_100_adam_steps(name):
    torch.manual_seed(0)
    c = circuits.make(name, OBS, ACT)
    head = torch.nn.Linear(c.feature_dim, ACT)
    opt = torch.optim.Adam(list(c.parameters()) + list(head.parameters()), lr=1e-2)
    obs = torch.randn(6, 8, OBS)
    target = torch.randn(6, 8, ACT)
    w0 = c.effective_weights().detach().clone()
    for _ in range(100):
        feats, _, _ = rollout(c, obs)
        loss = ((head(feats) - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert not torch.allclose(c.effective_weights().detach(), w0)  # the weights did learn
    assert _sign_violations(c) == 0
    # inputs arrive through nonnegative weights
    assert (c.relay.weights() >= 0).all()
    # no self-connections
    assert torch.count_nonzero(torch.diagonal(c.effective_weights().detach())) == 0


@pytest.mark.parametrize("name", DALE)
def test_excitatory_and_inhibitory_fractions(name):
    c = circuits.make(name, OBS, ACT)
    cortex = [p for p in c.populations if p.region in ("cortex", "M1")]
    n_e = sum(p.size for p in cortex if p.sign > 0)
    n_i = sum(p.size for p in cortex if p.sign < 0)
    assert n_e / (n_e + n_i) == pytest.approx(0.8, abs=0.01)
    assert all(p.sign > 0 for p in c.populations if p.name in c.readout)  # E readout (projection neurons)


@pytest.mark.parametrize("name", SPIKING)
def test_spikes_are_exactly_zero_or_one(name):
    c = circuits.make(name, OBS, ACT)
    _, acts, _ = rollout(c, torch.randn(20, 4, OBS))
    total = 0
    for a in acts:
        for spikes in a.values():
            assert torch.all((spikes == 0) | (spikes == 1))
            total += spikes.sum().item()
    assert total > 0


@pytest.mark.parametrize("name", ALL)
def test_every_parameter_gets_a_gradient_through_20_steps(name):
    c = circuits.make(name, OBS, ACT)
    head = torch.nn.Linear(c.feature_dim, ACT)
    feats, _, _ = rollout(c, torch.randn(20, 8, OBS))
    # the loss reads only the last step's output: gradients must flow back through time
    loss = (head(feats[-1]) ** 2).mean() + (head(feats[0]) ** 2).mean()
    loss.backward()
    missing = [n for n, p in c.named_parameters() if p.requires_grad and (p.grad is None or p.grad.abs().sum() == 0)]
    assert not missing, missing


@pytest.mark.parametrize("name", ALL)
def test_lesion_silences_exactly_and_unlesion_restores_bit_for_bit(name):
    c = circuits.make(name, OBS, ACT)
    obs = torch.randn(8, 4, OBS)
    with torch.no_grad():
        before, _, _ = rollout(c, obs, seed=3)
        target = [p.name for p in c.populations if p.name != c.output_population][0]
        c.lesion([target])
        assert c.lesioned == [target]
        lesioned, acts, _ = rollout(c, obs, seed=3)
        for a in acts:
            assert torch.count_nonzero(a[target]) == 0
        assert not torch.equal(lesioned, before)
        c.unlesion()
        after, _, _ = rollout(c, obs, seed=3)
    assert torch.equal(after, before)


def test_lesion_by_region_and_bad_names():
    c = circuits.make("m1_bg", OBS, ACT)
    c.lesion("M1")
    assert c.lesioned == ["M1_E", "M1_I"]
    with pytest.raises(ValueError, match="valid: .*GPi"):
        c.lesion("hippocampus")


@pytest.mark.parametrize("name", ALL)
def test_same_seed_same_weights(name):
    a, b, d = (circuits.make(name, OBS, ACT, seed=s) for s in (4, 4, 5))
    for (ka, pa), (_, pb), (_, pd) in zip(a.state_dict().items(), b.state_dict().items(), d.state_dict().items()):
        assert torch.equal(pa, pb), ka
    assert any(not torch.equal(pa, pd) for pa, pd in zip(a.parameters(), d.parameters()))


@pytest.mark.parametrize("name", ALL)
def test_sized_to_a_parameter_budget(name):
    c = circuits.make(name, OBS, ACT, target_params=60_000)
    assert abs(c.num_parameters() - 60_000) <= 6_000


def test_dopamine_gain_modulates_the_direct_and_indirect_pathways():
    """D1 up and D2 down under dopamine: GPi output falls and the thalamus is disinhibited."""
    obs = torch.randn(60, 16, OBS)
    rates = {}
    for da in (-0.5, 0.0, 0.5):
        c = circuits.make("m1_bg", OBS, ACT, **{"neuromodulation.dopamine.level": da})
        with torch.no_grad():
            _, acts, _ = rollout(c, obs, seed=1)
        rates[da] = {p: torch.stack([a[p] for a in acts[10:]]).mean().item() for p in ("D1", "D2", "GPi", "thalamus")}
    assert rates[0.5]["D1"] > rates[0.0]["D1"] > rates[-0.5]["D1"]
    assert rates[0.5]["D2"] < rates[0.0]["D2"] < rates[-0.5]["D2"]
    assert rates[0.5]["GPi"] < rates[0.0]["GPi"] < rates[-0.5]["GPi"]
    assert rates[0.5]["thalamus"] > rates[-0.5]["thalamus"]


def test_spiking_rates_at_rest_are_cortex_like():
    c = circuits.make("spiking_m1", OBS, ACT)
    with torch.no_grad():
        _, acts, _ = rollout(c, torch.randn(60, 16, OBS))
    hz = {p: torch.stack([a[p] for a in acts[10:]]).mean().item() / (c.dt_ms / 1000) for p in ("E", "I")}
    assert hz["E"] > 1.0 and hz["E"] < 20.0  # pyramidal cells fire a few Hz
    assert hz["I"] > hz["E"]  # interneurons fire faster


def test_lif_update_matches_snntorch_synaptic_neuron():
    c = circuits.make("spiking_m1", OBS, ACT)
    neuron = c.snntorch_neuron()
    torch.manual_seed(0)
    syn_a = mem_a = syn_b = mem_b = torch.zeros(3, c.n_units)
    n_spikes = 0
    for _ in range(30):
        cur = torch.randn(3, c.n_units) * 0.2 + 0.08
        spk_a, syn_a, mem_a = c.lif_step(cur, syn_a, mem_a)
        spk_b, syn_b, mem_b = neuron(cur, syn_b, mem_b)
        assert torch.equal(spk_a, spk_b)
        torch.testing.assert_close(mem_a, mem_b)
        n_spikes += int(spk_a.sum())
    assert n_spikes > 100  # the comparison covered spiking and resets, not just subthreshold decay


def test_spiking_step_follows_the_documented_current_with_snntorch_neurons():
    """One control step of m1_bg against the module docstring's equation, integrated by snntorch's
    own Synaptic neuron: I = rheobase (W_eff s + I_relay + sigma xi) + b at every substep."""
    c = circuits.make("m1_bg", OBS, ACT)
    torch.manual_seed(1)
    batch = 3
    with torch.no_grad():
        state = c.initial_state(batch)
        for _ in range(5):  # leave the initial (silent) state
            _, state, _ = c(torch.randn(batch, OBS), state)
        obs, noise = torch.randn(batch, OBS), c.sample_noise(batch)
        _, _, activity = c(obs, state, None, noise)
        spikes = torch.cat([activity[p.name] for p in c.populations], dim=2)  # [B, K, N]

        neuron = c.snntorch_neuron()
        i_relay = torch.zeros(batch, c.n_units)
        i_relay[:, c.input_index] = c.relay(obs)
        w_eff = c.effective_weights()  # [N_post, N_pre]
        syn, mem, spk = state["syn"], state["mem"], state["spk"]
        for k in range(c.substeps):
            cur = c.rheobase * (spk @ w_eff.T + i_relay + c.noise_std * noise["current"][:, k]) + c.bias
            spk, syn, mem = neuron(cur, syn, mem)
            assert torch.equal(spk, spikes[:, k])
    assert spikes.sum() > 20  # the step was compared while units spiked


def test_refractory_period_is_respected():
    c = circuits.make("spiking_m1", OBS, ACT, **{"dynamics.refractory_ms": 8.0, "populations.E.drive": 2.0,
                                                  "dynamics.noise_std": 0.0})
    with torch.no_grad():
        _, acts, _ = rollout(c, torch.randn(10, 2, OBS))
    spikes = torch.cat([a["E"] for a in acts], dim=1)  # [B, T*K, units]
    # with 4 ms substeps, 8 ms refractoriness: no two spikes of one neuron within 2 substeps
    consecutive = spikes[:, 1:] * spikes[:, :-1]
    gap2 = spikes[:, 2:] * spikes[:, :-2]
    assert consecutive.sum() == 0 and gap2.sum() == 0 and spikes.sum() > 0


def test_bad_names_and_options():
    with pytest.raises(ValueError, match="valid: mlp, lstm, dale_rnn, spiking_m1, m1_bg"):
        circuits.make("transformer", OBS, ACT)
    with pytest.raises(ValueError, match="unknown key 'neurons'.*pre-spec|unknown key 'neurons'"):
        circuits.make("dale_rnn", OBS, ACT, neurons=10)
    with pytest.raises(ValueError, match="relu, softplus"):
        circuits.make("dale_rnn", OBS, ACT, **{"populations.E.nonlinearity": "sigmoid"})


def test_alif_threshold_rises_with_spikes_and_recovers_with_its_time_constant():
    """Bellec et al. 2018's adaptive LIF: under a constant drive the firing rate adapts (later ISIs longer),
    the adaptation trace decays with exactly tau_a once the cell is silenced, and tau_a = 0 is plain LIF."""
    tau_a_ms = 200.0
    small = {"populations.E.size": 8, "populations.I.size": 2, "dynamics.noise_std": 0.0, "populations.E.drive": 2.0}
    c = circuits.make("spiking_m1_alif", 4, 2, **small, **{"populations.E.adapt_tau_ms": tau_a_ms,
                                                            "populations.E.adapt_strength": 5.0})
    plain = circuits.make("spiking_m1", 4, 2, **small)
    assert "adapt" in c.initial_state(1) and "adapt" not in plain.initial_state(1)
    assert not any(k.startswith("adapt") for k in c.state_dict())  # derived from the config: old checkpoints load
    obs = torch.zeros(100, 1, 4)  # 2 s of a constant tonic drive
    resets = torch.zeros(100, 1, dtype=torch.bool)
    with torch.no_grad():
        _, state, act = c.unroll(obs, c.initial_state(1), resets)
        _, _, act_plain = plain.unroll(obs, plain.initial_state(1), resets)
    e = act["E"][:, 0].sum(-1).sum(-1)  # [T] E spikes per control step
    e_plain = act_plain["E"][:, 0].sum(-1).sum(-1)
    assert e[:5].sum() > 1.25 * e[-5:].sum()  # adaptation: the rate falls under a constant drive
    assert e_plain[:5].sum() < 1.1 * e_plain[-5:].sum()  # the plain LIF's does not
    assert e_plain[-10:].sum() > 1.5 * e[-10:].sum()  # and the adapted rate is below the plain LIF's
    a0 = state["adapt"][0, :8].clone()
    assert (a0 > 0).all()
    c.lesion(["E"])  # silenced: no more spikes, the trace only decays
    with torch.no_grad():
        _, state, _ = c.unroll(torch.zeros(10, 1, 4), state, torch.zeros(10, 1, dtype=torch.bool))
    expected = a0 * math.exp(-10 * 20.0 / tau_a_ms)  # 10 control steps of 20 ms
    torch.testing.assert_close(state["adapt"][0, :8], expected, rtol=1e-4, atol=1e-7)
    with pytest.raises(ValueError, match="population E: adapt_tau_ms=-1.0 is out of range"):
        circuits.make("spiking_m1_alif", 4, 2, **{"populations.E.adapt_tau_ms": -1.0})


@pytest.mark.parametrize("name", SPIKING)
def test_the_deferred_recurrent_weight_gradient_equals_autograds(name):
    """The update's one-product weight gradient (`circuits.spiking._DeferredWeight`) gives the gradients plain
    autograd gives (substep by substep), for every parameter, to float rounding."""
    import circuits.spiking as spiking

    obs = torch.randn(12, 3, OBS)
    resets = torch.zeros(12, 3, dtype=torch.bool)
    resets[0] = True
    grads = []
    for deferred in (True, False):
        c = circuits.make(name, OBS, ACT, seed=5)
        noise = {k: torch.randn(12, *s, generator=torch.Generator().manual_seed(2)) for k, s in c.noise_shapes(3).items()}
        original = spiking.SpikingCircuit.constants
        if not deferred:  # the reference: no deferral, autograd through every substep's addmm
            def plain(self):
                consts = original(self)
                consts.pop("deferred", None)
                return consts
            spiking.SpikingCircuit.constants = plain
        try:
            # the autograd path (the hand-written BPTT of `SpikingCircuit.unroll` is tested below)
            f, _, _ = Circuit.unroll(c, obs, c.initial_state(3), resets, noise, keep_activity=False)
            (f * torch.linspace(-1, 1, f.shape[-1])).sum().backward()
        finally:
            spiking.SpikingCircuit.constants = original
        grads.append({n: p.grad.clone() for n, p in c.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys() and any(k.startswith("weights.blocks") for k in grads[0])
    for k in grads[0]:
        torch.testing.assert_close(grads[0][k], grads[1][k], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", SPIKING)
@pytest.mark.parametrize("lesion", [False, True])
def test_the_hand_written_bptt_equals_autograd(name, lesion):
    """The update's unroll (`circuits.spiking._SpikingBPTT`: no autograd graph, a hand-written backward pass)
    gives autograd's features, final state and gradients -- for every parameter, through episode resets
    inside the sequence, a lesion, ALIF thresholds and a loss on the final state -- to float rounding."""
    T, B = 14, 3
    obs = torch.randn(T, B, OBS, generator=torch.Generator().manual_seed(1))
    resets = torch.zeros(T, B, dtype=torch.bool)
    resets[5, 1] = resets[9, 0] = True
    out = []
    for hand in (True, False):
        c = circuits.make(name, OBS, ACT, seed=5)
        if lesion:
            c.lesion(c.population_names[-1])
        g = torch.Generator().manual_seed(2)
        noise = {k: torch.randn(T, *s, generator=g) for k, s in c.noise_shapes(B).items()}
        state = {k: v + torch.rand(v.shape, generator=g) for k, v in c.initial_state(B).items()}  # mid-episode
        unroll = c.unroll if hand else (lambda *a: Circuit.unroll(c, *a))
        f, s, _ = unroll(obs, state, resets, noise, False)
        loss = (f * torch.linspace(-1, 1, f.shape[-1])).sum() + 0.1 * s["mem"].sum() + 0.01 * s["syn"].pow(2).sum()
        loss.backward()
        out.append((f.detach(), {k: v.detach() for k, v in s.items()},
                    {n: p.grad.clone() for n, p in c.named_parameters() if p.grad is not None}))
    (f0, s0, g0), (f1, s1, g1) = out
    torch.testing.assert_close(f0, f1, rtol=0, atol=1e-5)
    assert s0.keys() == s1.keys()
    for k in s0:
        torch.testing.assert_close(s0[k], s1[k], rtol=0, atol=1e-5)
    assert g0.keys() == g1.keys() and any(k.startswith("weights.blocks") for k in g0)
    for k in g0:
        torch.testing.assert_close(g0[k], g1[k], rtol=1e-4, atol=1e-6)
    assert any(float(v.abs().max()) > 0 for v in g0.values())

