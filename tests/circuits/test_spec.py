"""Circuit specs: the built-ins reproduce the hand-written circuits they replaced, a spec round-trips,
bad specs fail in one line naming the entry, densities, delays and critic populations do what they
declare, ALIF adaptation has the timescale theory gives, and the subcortical path survives an M1 lesion."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from scipy.optimize import curve_fit

import circuits
from circuits.spec import SPEC_DIR, to_dict, validate

OBS, ACT = 31, 8
REPO = Path(__file__).resolve().parents[2]

# Measured on the hand-written classes the specs replaced (commit 8337a68): trainable parameters at obs 31,
# act 8, and features of a 9-step unroll at seed 3 (inputs below): sum, sum of |f|, sum of f^2.
PRE_SPEC = {
    "mlp": (20608, 23.013789, 719.98018, 226.085907),
    "lstm": (235136, -4.245513, 101.078884, 9.141124),
    "dale_rnn": (100608, 8043.793463, 8043.793463, 15025.523519),
    "spiking_m1": (54024, 656.56594, 656.56594, 416.484596),
    "m1_bg": (55088, 708.968416, 708.968416, 483.269622),
}
PRE_SPEC_POPULATIONS = {
    "mlp": [("hidden_1", 128), ("hidden_2", 128)],
    "lstm": [("encoder", 128), ("core", 128), ("policy", 64)],
    "dale_rnn": [("E", 205), ("I", 51)],
    "spiking_m1": [("E", 160), ("I", 40)],
    "m1_bg": [("M1_E", 128), ("M1_I", 32), ("D1", 32), ("D2", 32), ("GPe", 16), ("STN", 16), ("GPi", 16),
              ("thalamus", 32)],
}


@pytest.mark.parametrize("name", list(PRE_SPEC))
def test_builtin_specs_reproduce_the_hand_written_circuits(name):
    """Same populations, the same parameter count, and (same seed) the same features to float precision."""
    c = circuits.make(name, OBS, ACT, seed=3)
    params, f_sum, f_abs, f_sq = PRE_SPEC[name]
    assert c.num_parameters() == params
    assert [(p.name, p.size) for p in c.populations] == PRE_SPEC_POPULATIONS[name]
    g = torch.Generator().manual_seed(1)
    T, B = 9, 3
    obs = torch.randn(T, B, OBS, generator=g)
    resets = torch.zeros(T, B, dtype=torch.bool)
    resets[0] = True
    resets[5, 1] = True
    noise = {k: torch.randn(T, *s, generator=g) for k, s in c.noise_shapes(B).items()}
    with torch.no_grad():
        f, _, _ = c.unroll(obs, c.initial_state(B), resets, noise)
    f = f.double()
    for got, want in ((f.sum(), f_sum), (f.abs().sum(), f_abs), ((f ** 2).sum(), f_sq)):
        assert float(got) == pytest.approx(want, rel=1e-5, abs=1e-4)


@pytest.mark.parametrize("name", circuits.names())
def test_a_spec_round_trips_to_the_same_circuit(name):
    c = circuits.make(name, OBS, ACT, seed=2)
    text = yaml.safe_dump(to_dict(c.spec), sort_keys=False)
    again = validate(yaml.safe_load(text))
    assert again == c.spec
    c2 = circuits.build(again, OBS, ACT, seed=2)
    assert list(c.state_dict()) == list(c2.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(c.state_dict().values(), c2.state_dict().values()))


def _m1_bg(**changes):
    spec = circuits.load("m1_bg")
    for path, value in changes.items():
        node = spec
        *parents, leaf = path.split(".")
        for key in parents:
            node = node[key]
        if value is DELETE:
            del node[leaf]
        else:
            node[leaf] = value
    return spec


DELETE = object()
BAD_SPECS = [
    (dict(**{"projections.GPi_thalamus.post": "thalamos"}), "projection GPi_thalamus: unknown population 'thalamos'"),
    (dict(**{"projections.D1_GPi.sign": "E"}), "projection D1_GPi: sign E contradicts its presynaptic population D1"),
    (dict(**{"populations.GPe.model": "izhikevich"}), "population GPe: unknown neuron model 'izhikevich'; valid: dense"),
    (dict(**{"populations.GPe.sign": "none"}), "population GPe: a lif population obeys Dale's law"),
    (dict(**{"populations.GPe.tau_ms": 20.0}), "population GPe: unknown key 'tau_ms' for a lif population"),
    (dict(**{"populations.D1": {"model": "rate", "size": 32, "sign": "I"}}),
     "populations mix neuron families (rate: D1; spiking: M1_E"),
    (dict(**{"readout": ["M1_X"]}), "readout names unknown population 'M1_X'"),
    (dict(**{"projections.D1_GPi.density": 1.5}), "projection D1_GPi: density=1.5 is out of range"),
    (dict(**{"neuromodulation.dopamine.projections": {"M1E_D3": 1.0}}), "unknown projection 'M1E_D3'"),
    (dict(**{"n_exc": 100}), "unknown key 'n_exc'"),
]


@pytest.mark.parametrize("changes,message", BAD_SPECS)
def test_a_bad_spec_is_one_line_naming_the_entry(changes, message):
    with pytest.raises(ValueError) as err:
        circuits.make(_m1_bg(**changes), OBS, ACT)
    text = str(err.value)
    assert message in text and "\n" not in text


def test_a_feedforward_cycle_needs_a_delay():
    loop = {"name": "loop", "populations": {"a": {"model": "dense", "size": 8}, "b": {"model": "lstm", "size": 8}},
            "projections": {"obs_a": {"pre": "obs", "post": "a"}, "a_b": {"pre": "a", "post": "b"},
                            "b_a": {"pre": "b", "post": "a"}}, "readout": ["b"]}
    with pytest.raises(ValueError, match=r"populations (a -> b -> a|b -> a -> b) form a cycle with no delay"):
        circuits.make(loop, OBS, ACT)
    loop["projections"]["b_a"]["delay"] = 1  # the loop closes through the previous step: allowed
    c = circuits.make(loop, OBS, ACT)
    _assert_unroll_equals_steps(c)
    # the delayed input is the previous step's output of b
    with torch.no_grad():
        state = c.initial_state(2)
        obs = torch.randn(2, OBS)
        _, s1, a1 = c(obs, state)
        assert torch.equal(s1["b_past"][:, -1], a1["b"])


def _assert_unroll_equals_steps(c, T=7, B=3):
    """The whole-sequence unroll equals the step-by-step path to float32 rounding: rates reach ~100, where
    one rounding step is ~8e-6, so the tolerance is relative (a few units in the last place) plus 1e-5."""
    g = torch.Generator().manual_seed(0)
    obs = torch.randn(T, B, c.obs_dim, generator=g)
    resets = torch.zeros(T, B, dtype=torch.bool)
    resets[0] = True
    resets[4, 1] = True
    noise = {k: torch.randn(T, *shape, generator=g) for k, shape in c.noise_shapes(B).items()}
    with torch.no_grad():
        feats, state, _ = c.unroll(obs, c.initial_state(B), resets, noise)
        ref = c.initial_state(B)
        for t in range(T):
            f, ref, _ = c(obs[t], ref, resets[t], {k: v[t] for k, v in noise.items()} or None)
            torch.testing.assert_close(feats[t], f, rtol=1e-6, atol=1e-5)
    for k in ref:
        torch.testing.assert_close(state[k], ref[k], rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("family", ["rate", "spiking"])
def test_a_delayed_projection_arrives_exactly_that_many_steps_later(family):
    """A pulse of input into A reaches B (fed only by A, with delay 3) three control steps later than it
    would undelayed."""
    model = {"rate": "rate", "spiking": "lif"}[family]

    def spec(delay):
        pops = {"A": {"model": model, "size": 20, "sign": "E", "drive": 0.0},
                "B": {"model": model, "size": 10, "sign": "E", "drive": 0.0}}
        dyn = {"noise_std": 0.0}
        return {"name": "chain", "dynamics": dyn, "relay": {"gain": 8.0 if family == "spiking" else 3.0},
                "populations": pops, "readout": ["B"],
                "projections": {"obs_A": {"pre": "obs", "post": "A"},
                                "A_B": {"pre": "A", "post": "B", "gain": 6.0, "delay": delay}}}

    def first_b_activity(delay):
        c = circuits.make(spec(delay), 4, 1, seed=0)
        obs = torch.zeros(12, 1, 4)
        obs[0] = 1.0  # a one-step pulse
        with torch.no_grad():
            c.relay.encoder.bias.fill_(-5.0)  # silent relay without the pulse...
            c.relay.encoder.weight.fill_(5.0)  # ...and a strong one with it
            _, _, act = c.unroll(obs, c.initial_state(1), torch.zeros(12, 1, dtype=torch.bool))
        b = act["B"].reshape(12, -1).abs().sum(-1)
        return int(torch.nonzero(b > 1e-6)[0])

    assert first_b_activity(3) == first_b_activity(0) + 3
    c = circuits.make(spec(2), 4, 1, seed=0)
    _assert_unroll_equals_steps(c, T=8)


def test_density_fixes_a_sparse_mask_that_training_keeps():
    spec = _m1_bg(**{"projections.M1E_D1.density": 0.25})
    c = circuits.make(spec, OBS, ACT, seed=1)
    k = [x.name for x in c.weights.projections].index("M1E_D1")
    mask = getattr(c.weights, f"mask_{k}")
    assert mask.mean().item() == pytest.approx(0.25, abs=0.03)
    # present weights are scaled up by 1/density: the expected summed input matches the dense projection
    dense = circuits.make("m1_bg", OBS, ACT, seed=1)
    block = c.weights.block_effective(k).detach()
    assert block.sum(1).mean().item() == pytest.approx(dense.weights.block_effective(k).detach().sum(1).mean().item(),
                                                       rel=0.15)
    opt = torch.optim.Adam(c.parameters(), lr=0.05)
    for _ in range(5):
        f, _, _ = c.unroll(torch.randn(4, 2, OBS), c.initial_state(2), torch.zeros(4, 2, dtype=torch.bool))
        opt.zero_grad()
        f.pow(2).mean().backward()
        opt.step()
    assert torch.count_nonzero(c.weights.block_effective(k).detach() * (1 - mask)) == 0
    # the same seed gives the same mask; another seed another
    assert torch.equal(getattr(circuits.make(spec, OBS, ACT, seed=1).weights, f"mask_{k}"), mask)
    assert not torch.equal(getattr(circuits.make(spec, OBS, ACT, seed=2).weights, f"mask_{k}"), mask)


def test_the_critic_may_see_populations_the_actor_does_not():
    from training.agent import Agent

    spec = _m1_bg(**{"critic": ["M1_E", "D1", "GPi"]})
    c = circuits.make(spec, OBS, ACT)
    agent = Agent(c, ACT)
    assert c.actor_dim == 128 and c.critic_dim == 128 + 32 + 16 and c.feature_dim == 176
    assert agent.actor.in_features == 128 and agent.critic[0][0].in_features == OBS + 176
    with torch.no_grad():
        mean, value, _, _, feats = agent(torch.randn(3, OBS), c.initial_state(3), None)
    assert mean.shape == (3, ACT) and value.shape == (3,) and feats.shape == (3, 176)


def test_sizes_as_shares_of_a_parameter_budget():
    spec = _m1_bg()
    for name, pop in spec["populations"].items():
        pop["share"] = pop.pop("size") / 304
    with pytest.raises(ValueError, match="set target_params"):
        circuits.make(spec, OBS, ACT)
    c = circuits.make(spec, OBS, ACT, target_params=80_000)
    assert abs(c.num_parameters() - 80_000) <= 8_000
    sizes = {p.name: p.size for p in c.populations}
    assert sizes["M1_E"] / sizes["GPi"] == pytest.approx(8.0, rel=0.15)  # proportions kept


# --------------------------------------------------------------------------------------------- ALIF
def _probe(model, tau_a=200.0, beta=0.0):
    pop = {"model": model, "size": 1000, "sign": "E", "drive": 0.9}
    if model == "alif":
        pop.update(adapt_tau_ms=tau_a, adapt_strength=beta)
    return {"name": "probe", "dynamics": {"noise_std": 0.4}, "populations": {"E": pop},
            "projections": {"obs_E": {"pre": "obs", "post": "E", "gain": 0.0}}, "readout": ["E"]}


def _step_response(c, steps, threshold=None, batch=8, settle=50):
    """Population rate (spikes per ms, per control step) after the tonic drive steps up by 30 %."""
    if threshold is not None:
        c.threshold = threshold
    obs = torch.zeros(steps, batch, 2)
    resets = torch.zeros(steps, batch, dtype=torch.bool)
    with torch.no_grad():
        torch.manual_seed(0)
        _, state, _ = c.unroll(obs[:settle], c.initial_state(batch), resets[:settle])
        c.bias.mul_(1.3)
        _, _, act = c.unroll(obs, state, resets)
    return act["E"].mean(dim=(1, 2, 3)).numpy() / c.dt_ms


@pytest.mark.parametrize("tau_a,beta", [(200.0, 0.03), (400.0, 0.015)])
def test_alif_adaptation_has_the_timescale_linear_theory_gives(tau_a, beta):
    """Known answer. After a step in drive an ALIF population's rate relaxes with one time constant. For
    the adaptation trace a (recent spikes, da/dt = -a/tau_a + r(theta (1 + beta a))), linearised at the
    adapted state: tau = tau_a / (1 - r' theta beta tau_a), with r' = dr/dtheta measured on the plain LIF
    population at the adapted threshold. Weak adaptation gives tau close to tau_a; the plain LIF
    population has no slow component at all."""
    rate = _step_response(circuits.make(_probe("alif", tau_a, beta), 2, 1), int(6 * tau_a / 20))
    t = np.arange(len(rate)) * 20.0
    (r_inf, amp, tau), _ = curve_fit(lambda t, a, b, k: a + b * np.exp(-t / k), t[2:], rate[2:],
                                     p0=(rate[-1], rate[2] - rate[-1], tau_a), maxfev=20000)
    assert amp > 0.05 * r_inf  # the rate did adapt (a visible transient)
    theta = 1.0 + beta * r_inf * tau_a  # the adapted threshold (x the resting one)
    r_a = _step_response(circuits.make(_probe("lif"), 2, 1), 60, threshold=theta)[10:].mean()
    r_b = _step_response(circuits.make(_probe("lif"), 2, 1), 60, threshold=theta * 1.03)[10:].mean()
    slope = (r_b - r_a) / (0.03 * theta)  # spikes per ms per unit threshold (negative)
    predicted = tau_a / (1.0 - slope * beta * tau_a)
    assert tau == pytest.approx(predicted, rel=0.25)
    assert predicted > 0.7 * tau_a
    lif = _step_response(circuits.make(_probe("lif"), 2, 1), 40)
    assert abs(lif[2:12].mean() - lif[20:40].mean()) < 0.03 * lif[20:40].mean()  # no slow relaxation


# ------------------------------------------------------------------------------ subcortical motor path
def test_an_m1_lesion_leaves_the_subcortical_path_to_the_muscles():
    """m1_bg_subcortical: silencing M1 leaves motor output through the brainstem (which the basal ganglia
    gate); silencing both silences it. In m1_bg an M1 lesion silences the output by construction."""
    obs = torch.randn(40, 8, OBS)
    resets = torch.zeros(40, 8, dtype=torch.bool)

    def output(name, lesion):
        c = circuits.make(name, OBS, ACT)
        c.lesion(lesion)
        torch.manual_seed(1)
        with torch.no_grad():
            f, _, act = c.unroll(obs, c.initial_state(8), resets)
        return f[10:], act

    f, act = output("m1_bg_subcortical", ["M1"])
    assert torch.count_nonzero(act["M1_E"]) == 0
    hz = act["brainstem"][10:].mean().item() / 0.004
    assert hz > 2.0  # the brainstem still fires under the basal ganglia's tonic inhibition
    assert f.abs().sum() > 0
    f_both, _ = output("m1_bg_subcortical", ["M1", "brainstem"])
    assert torch.count_nonzero(f_both) == 0
    f_old, _ = output("m1_bg", ["M1"])
    assert torch.count_nonzero(f_old) == 0
    # the gate is inhibitory: silencing GPi releases the brainstem
    _, gpi_off = output("m1_bg_subcortical", ["M1", "GPi"])
    assert gpi_off["brainstem"][10:].mean() > 1.5 * act["brainstem"][10:].mean()


def test_subcortical_path_signs_follow_the_anatomy():
    c = circuits.make("m1_bg_subcortical", OBS, ACT)
    sign = {p.name: p.sign for p in c.populations}
    assert sign["brainstem"] == +1 and sign["GPi"] == -1 and sign["thalamus"] == +1
    ends = {(x.pre, x.post) for x in c.spec.projections}
    assert {("GPi", "brainstem"), ("GPi", "thalamus"), ("thalamus", "D1"), ("obs", "thalamus")} <= ends
    assert c.readout == ["M1_E", "brainstem"]


# --------------------------------------------------------------------------------- the user's own spec
def _cli(*args, cwd, timeout=300):
    return subprocess.run([sys.executable, "-m", "windtunnel", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": str(REPO)})


def test_a_user_trains_a_circuit_written_in_yaml_only(tmp_path):
    """The cerebellar example, copied to the user's own folder, trains a few PPO updates on reach from the
    command line; the run's config holds the whole spec, so evaluation needs no file."""
    mine = tmp_path / "my_circuits" / "my_cerebellum.yaml"
    mine.parent.mkdir()
    text = (SPEC_DIR / "cerebellar_loop.yaml").read_text().replace("name: cerebellar_loop", "name: my_cerebellum")
    mine.write_text(text)
    p = _cli("train", f"circuit={mine}", "task=reach", "run_name=mine", "training.total_steps=64",
             "training.num_envs=2", "training.num_minibatches=1", "training.rollout_steps=16", "training.epochs=1",
             "training.num_workers=0", "training.torch_threads=1", cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    run = tmp_path / "runs" / "mine"
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["circuit"]["name"] == "my_cerebellum" and "granule" in saved["circuit"]["populations"]
    mine.unlink()  # the run no longer needs the file
    e = _cli("evaluate", str(run), "episodes=1", cwd=tmp_path)
    assert e.returncode == 0, e.stderr[-2000:]


def test_a_bad_user_spec_is_refused_in_one_line_before_anything_is_written(tmp_path):
    bad = tmp_path / "bad.yaml"
    spec = circuits.load("m1_bg")
    spec["projections"]["GPi_thalamus"]["pre"] = "GPx"
    bad.write_text(yaml.safe_dump(spec, sort_keys=False))
    p = _cli("train", f"circuit={bad}", "task=reach", cwd=tmp_path)
    assert p.returncode == 2
    assert p.stderr.strip().count("\n") == 0 and "projection GPi_thalamus: unknown population 'GPx'" in p.stderr
    assert not (tmp_path / "runs").exists()
    p = _cli("train", "circuit=m1_bg", "circuit.projections.GPi_thalamus.density=2", "task=reach", cwd=tmp_path)
    assert p.returncode == 2 and "density=2" in p.stderr and "out of range" in p.stderr
    p = _cli("circuit", "show", str(tmp_path / "missing.yaml"), cwd=tmp_path)
    assert p.returncode == 2 and "not found" in p.stderr


def test_overrides_reach_inside_a_builtin_spec():
    from training.config import make_circuit
    from windtunnel.config import compose

    cfg = compose(["circuit=m1_bg", "circuit.projections.GPi_thalamus.density=0.5", "circuit.populations.GPi.size=24"])
    c = make_circuit(cfg, OBS, ACT)
    k = [x.name for x in c.weights.projections].index("GPi_thalamus")
    assert getattr(c.weights, f"mask_{k}").mean().item() == pytest.approx(0.5, abs=0.1)
    assert c.population("GPi").size == 24


def test_circuit_show_prints_the_wiring_and_draws_it(tmp_path):
    p = _cli("circuit", "show", "m1_bg_subcortical", "out=wiring.png", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "GPi_brainstem" in p.stdout and "GPi -> brainstem" in p.stdout and "63,824 trainable parameters" in p.stdout
    png = (tmp_path / "wiring.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    shutil.rmtree(tmp_path / "wiring.png", ignore_errors=True)
