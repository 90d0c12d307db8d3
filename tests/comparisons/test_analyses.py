"""Every analysis checked against a known answer on synthetic data."""

import numpy as np
import pytest

from comparisons import Recording
from comparisons.analyses import behaviour, dimensionality, encoding, sequences, similarity, spiking, timescales


def units(n, population="E", kind="rate"):
    return [{"population": population, "region": "M1", "sign": 1, "cell_type": "pyramidal", "kind": kind}] * n


def ou_recording(tau_s, dt_s=0.01, trials=40, steps=400, n_units=20, seed=0):
    """Ornstein-Uhlenbeck units with time constant tau_s (exact discretisation)."""
    rng = np.random.default_rng(seed)
    a = np.exp(-dt_s / tau_s)
    x = np.zeros((trials, steps, n_units))
    x[:, 0] = rng.normal(size=(trials, n_units))
    for t in range(1, steps):
        x[:, t] = a * x[:, t - 1] + np.sqrt(1 - a * a) * rng.normal(size=(trials, n_units))
    return Recording(x, 1.0 / dt_s, units(n_units))


@pytest.mark.parametrize("tau_s", [0.05, 0.1, 0.3])
def test_timescales_recover_the_tau_of_an_ou_process(tau_s):
    rec = ou_recording(tau_s)
    taus = timescales.unit_timescales(rec, max_lag_s=4 * tau_s)
    assert np.median(taus) == pytest.approx(tau_s, rel=0.10)
    assert timescales.population_timescales(rec, max_lag_s=4 * tau_s)["E"] == pytest.approx(tau_s, rel=0.10)


@pytest.mark.parametrize("tau_s,a,b", [(0.004, 0.9, 0.0), (0.05, 0.8, 0.2), (0.3, 0.5, -0.3), (2.0, 1.0, 0.0)])
def test_the_timescale_fit_is_exact_on_a_noiseless_decay(tau_s, a, b):
    """A (exp(-lag/tau) + B) sampled at 20 ms bins is recovered exactly, for a tau far below one bin as for one
    far beyond the window (the fit is the bounded least-squares optimum, not a local one)."""
    dt = 0.02
    lags = np.arange(26) * dt
    assert timescales.fit_timescale(a * (np.exp(-lags / tau_s) + b), dt, first_lag=1) == pytest.approx(tau_s, rel=1e-4)


def test_the_timescale_fit_finds_the_optimum_a_fit_from_the_usual_start_misses():
    """A fast drop onto a plateau (as some reach units show): a fit started from 3 bins stops on a slow
    decay; the bounded least-squares optimum is the drop within a bin, and its residual is the smaller."""
    dt = 0.02
    ac = np.array([1.0, 0.787, 0.559, 0.442, 0.481, 0.577, 0.576, 0.591, 0.59, 0.58])
    tau = timescales.fit_timescale(ac, dt)
    lags = np.arange(10) * dt
    sse = lambda t: float(timescales._profiled_sse(lags[1:], ac[1:], np.array([t]))[0][0])
    assert tau < dt
    grid = np.geomspace(dt / 20, 1e4, 2000)
    assert sse(tau) <= min(sse(t) for t in grid) + 1e-12  # no tau in the range fits better


def test_timescales_order_two_populations():
    fast, slow = ou_recording(0.05, seed=1), ou_recording(0.25, seed=2)
    rec = Recording(np.concatenate([fast.activity, slow.activity], axis=2), 100.0, units(20, "policy") + units(20, "core"))
    pops = timescales.population_timescales(rec, max_lag_s=1.0)
    assert pops["core"] > 3 * pops["policy"]


def test_participation_ratio_of_a_known_spectrum():
    rng = np.random.default_rng(0)
    spectrum = np.array([4.0, 2.0, 1.0, 1.0, 0.5] + [0.0] * 15)
    z = rng.normal(size=(20000, 20))
    q, _ = np.linalg.qr(rng.normal(size=(20, 20)))
    x = (z * np.sqrt(spectrum)) @ q.T
    expected = spectrum.sum() ** 2 / (spectrum ** 2).sum()
    assert dimensionality.participation_ratio(x) == pytest.approx(expected, rel=0.05)
    assert dimensionality.participation_ratio(rng.normal(size=(20000, 10))) == pytest.approx(10, rel=0.05)
    ve = dimensionality.variance_explained(x)
    assert ve[4] == pytest.approx(1.0, abs=1e-9) and ve[0] == pytest.approx(4 / 8.5, rel=0.05)


def test_cka_and_procrustes_are_one_for_a_rotated_copy_and_near_zero_for_noise():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 12)) @ rng.normal(size=(12, 12))
    q, _ = np.linalg.qr(rng.normal(size=(12, 12)))
    y = 3.0 * x @ q + 5.0  # rotated, scaled, shifted
    assert similarity.linear_cka(x, y) == pytest.approx(1.0, abs=1e-9)
    assert similarity.procrustes_similarity(x, y) == pytest.approx(1.0, abs=1e-9)
    assert similarity.cca_similarity(x, y, k=12) == pytest.approx(1.0, abs=1e-6)
    noise = rng.normal(size=(500, 12))
    assert similarity.linear_cka(x, noise) < 0.1
    assert similarity.procrustes_similarity(x, noise) < 0.35
    assert similarity.cca_similarity(x, noise, k=3) < 0.3


def test_rsa_of_identical_and_unrelated_rdms():
    rng = np.random.default_rng(2)
    patterns = rng.normal(size=(8, 30))
    a = similarity.rdm(patterns)
    assert a.shape == (8, 8) and np.allclose(np.diag(a), 0)
    b = similarity.rdm(patterns @ np.linalg.qr(rng.normal(size=(30, 30)))[0])  # rotation changes correlations
    assert similarity.rsa(a, similarity.rdm(patterns * 2 + 1)) == pytest.approx(1.0)
    unrelated = similarity.rdm(rng.normal(size=(8, 30)))
    assert abs(similarity.rsa(a, unrelated)) < 0.5
    assert b.shape == (8, 8)


def test_planted_sequence_is_found_and_shuffled_data_are_at_chance():
    rng = np.random.default_rng(3)
    trials, steps, n = 30, 100, 25
    peaks = np.linspace(10, 90, n)
    t = np.arange(steps)[:, None]
    bump = np.exp(-0.5 * ((t - peaks) / 4.0) ** 2)  # [time, units]
    planted = bump[None] + 0.3 * rng.normal(size=(trials, steps, n))
    result = sequences.sequence_index(planted)
    assert result["sequence_index"] > 0.9 and result["sequence_index"] > result["chance_95"]
    order = sequences.sequence_order(planted)
    assert np.array_equal(order, np.arange(n))
    noise = rng.normal(size=(trials, steps, n))
    null = sequences.sequence_index(noise)
    assert abs(null["sequence_index"]) < 0.3


def test_poisson_spikes_have_isi_cv_and_fano_near_one():
    rng = np.random.default_rng(4)
    rate, duration = 20.0, 200.0
    trains = [np.cumsum(rng.exponential(1 / rate, size=int(rate * duration * 1.2))) for _ in range(30)]
    trains = [s[s < duration] for s in trains]
    assert np.nanmean(spiking.isi_cv(trains)) == pytest.approx(1.0, abs=0.05)
    counts = rng.poisson(rate * 0.5, size=(400, 30))
    assert np.nanmean(spiking.fano_factor(counts)) == pytest.approx(1.0, abs=0.1)
    regular = [np.arange(0, duration, 1 / rate) for _ in range(5)]
    assert np.nanmean(spiking.isi_cv(regular)) < 0.01


def test_lognormal_fit_recovers_parameters():
    rng = np.random.default_rng(5)
    rates = np.exp(rng.normal(np.log(2.0), 1.0, size=3000))
    fit = spiking.lognormal_fit(rates)
    assert fit["median_hz"] == pytest.approx(2.0, rel=0.08) and fit["sigma_log"] == pytest.approx(1.0, rel=0.05)
    assert fit["ks_p"] > 0.01


def test_ridge_encoding_recovers_a_planted_linear_tuning():
    rng = np.random.default_rng(6)
    kin = rng.normal(size=(3000, 4))
    w = rng.normal(size=(4, 6))
    resp = kin @ w + 0.5 * rng.normal(size=(3000, 6))
    r2 = encoding.ridge_encoding(kin, resp)["r2"]
    expected = 1 - 0.25 / (0.25 + (w ** 2).sum(0))  # signal / (signal + noise)
    np.testing.assert_allclose(r2, expected, atol=0.03)
    assert np.all(encoding.ridge_encoding(rng.normal(size=(3000, 4)), resp)["r2"] < 0.02)


def test_poisson_encoding_gains_information_only_from_the_true_regressor():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(4000, 2))
    counts = rng.poisson(np.exp(0.2 + 0.8 * x[:, :1]))
    gain_true = encoding.poisson_encoding(x[:, :1], counts)["bits_per_spike"]
    gain_null = encoding.poisson_encoding(x[:, 1:], counts)["bits_per_spike"]
    assert gain_true[0] > 0.2 and abs(gain_null[0]) < 0.02


def test_locomotion_statistics_match_hand_computed_values():
    dt = 0.02
    t = np.arange(0, 60, dt)
    radius, omega = 0.3, 1.0  # circle at 0.3 m/s: speed exactly radius * omega, heading rate omega
    pos = np.stack([radius * np.cos(omega * t), radius * np.sin(omega * t)], axis=1)
    stats = behaviour.locomotion_statistics(t, pos, smoothing_s=0.0)
    inner = stats["speed_m_s"][5:-5]
    assert np.allclose(inner, 0.3, rtol=1e-3)
    assert stats["heading_omega_sd_deg_s"] < 1.0  # constant turning: no spread
    assert stats["fraction_above_5cm_s"] == pytest.approx(1.0)
    # speed a square wave (0.1 / 0.3 m/s, half-period 1 s): its autocorrelation is the triangle
    # 1 - 2 lag / (1 s), which crosses 1/e at lag (1 - 1/e) / 2 = 0.316 s
    steps = np.where((t // 1.0) % 2 == 0, 0.1, 0.3) * dt
    line = np.stack([np.cumsum(steps), np.zeros_like(t)], axis=1)
    s2 = behaviour.locomotion_statistics(t, line, smoothing_s=0.0)
    assert s2["speed_autocorr_time_s"] == pytest.approx((1 - 1 / np.e) / 2, abs=0.03)
    assert s2["speed_median_m_s"] == pytest.approx(0.2, abs=0.1001)


def test_ipi_statistics_and_event_parsing():
    events = [[("press", 0.1), ("trial_start", 0.1), ("press", 0.8)], [("trial_start", 1.0), ("timeout", 2.5)],
              [("trial_start", 0.2), ("press", 0.2), ("press", 0.8)]]
    ipis = behaviour.ipis_from_events(events)
    np.testing.assert_allclose(ipis, [0.7, 0.6])
    st = behaviour.ipi_statistics(ipis)
    assert st["median_s"] == pytest.approx(0.65) and st["n"] == 2
    sr = behaviour.success_rate([1, 1, 0, 1])
    assert sr["rate"] == 0.75 and sr["ci_low"] < 0.75 < sr["ci_high"]



def _lever_episode(press_times, iti_s=1.2):
    """Events as lever_timing logs them for a given press sequence (two-press trials, ITI after each)."""
    events, phase, first, iti_end = [], "waiting", None, -1.0
    for t in press_times:
        if phase == "iti" and t >= iti_end:
            phase = "waiting"
        if phase == "iti":
            events.append(("iti_press", t))
        elif phase == "waiting":
            events += [("press", t), ("trial_start", t)]
            phase, first = "interval", t
        else:
            events += [("press", t), ("trial_end", t)]
            phase, iti_end = "iti", t + iti_s
    return events


def test_press_rhythm_tells_a_metronome_from_an_interval_timer():
    metronome = [_lever_episode(np.arange(0.5, 20, 0.65))]  # a press every 0.65 s, trials or not
    rm = behaviour.press_rhythm(metronome)
    assert rm["ipi_median_s"] == pytest.approx(0.65) and rm["interval_median_s"] == pytest.approx(0.65)
    assert rm["post_trial_over_ipi"] == pytest.approx(1.0) and rm["iti_press_share"] == pytest.approx(1 / 3, abs=0.03)
    assert rm["interval_cv"] < 1e-6
    # the null: two presses 0.7 s apart, then nothing until the ITI is over (a press 1.5 s after the trial)
    timer = [_lever_episode([t for k in range(8) for t in (2.2 * k, 2.2 * k + 0.7)])]
    rt = behaviour.press_rhythm(timer)
    assert rt["ipi_median_s"] == pytest.approx(0.7) and rt["iti_press_share"] == 0
    assert rt["post_trial_over_ipi"] == pytest.approx(1.5 / 0.7) and rt["interval_cv"] > 0.3

def test_figures_render_headless(tmp_path):
    from comparisons.analyses import figures

    rng = np.random.default_rng(8)
    rdms = {"model": similarity.rdm(rng.normal(size=(6, 20))), "rat": similarity.rdm(rng.normal(size=(6, 20)))}
    paths = [figures.rdm_figure(rdms, tmp_path / "rdm.png", labels=list("abcdef")),
             figures.ipi_histogram(rng.normal(0.7, 0.1, 200), tmp_path / "ipi.png", rodent=(0.6, 0.8)),
             figures.timescale_histograms({"E": rng.uniform(0.02, 0.3, 50)}, tmp_path / "tau.png"),
             figures.pca_trajectories(ou_recording(0.1, trials=5, steps=100), tmp_path / "pca.png")]
    for p in paths:
        assert p.exists() and p.stat().st_size > 5000


def test_debiased_cka_of_independent_matrices_sits_at_its_null_and_of_rotated_copies_at_one():
    from comparisons.analyses.similarity import cka_null, debiased_cka, linear_cka

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(50, 300)), rng.normal(size=(50, 300))  # the report's shapes
    assert linear_cka(a, b) > 0.8  # the biased estimator's reading of pure noise
    null = cka_null(a, b)
    assert abs(debiased_cka(a, b)) < 0.05 and abs(null["mean"]) < 0.05 and debiased_cka(a, b) < null["p95"]
    q, _ = np.linalg.qr(rng.normal(size=(300, 300)))
    assert debiased_cka(a, 3 * a @ q + 1) == pytest.approx(1.0, abs=1e-9)


def test_bad_data_gets_a_clear_answer():
    from comparisons.analyses import behaviour, dimensionality

    t = np.arange(0, 10, 0.02)
    pos = 0.3 * np.stack([np.cos(t), np.sin(t)], 1)
    pos[100] = np.nan
    with pytest.raises(ValueError, match="1 of 500 trajectory samples are not finite"):
        behaviour.locomotion_statistics(t, pos)
    with pytest.raises(ValueError, match="3 samples is too short"):
        behaviour.locomotion_statistics(t[:3], pos[:3])
    x = np.random.default_rng(0).normal(size=(2, 50, 6))
    x[:, :, 2] = np.nan  # a dead channel: dropped, not a participation ratio of 0
    assert dimensionality.participation_ratio(x) > 3
    with pytest.raises(ValueError, match="no variance"):
        dimensionality.participation_ratio(np.ones((2, 50, 6)))


def test_the_heading_statistic_uses_the_moving_threshold_and_a_robust_median():
    from comparisons.rodent_data import open_field_statistics

    rat = open_field_statistics("sargolini2006")
    assert rat["moving_threshold_m_s"] == 0.05
    assert rat["heading_omega_median_abs_deg_s"] < rat["heading_omega_sd_deg_s"]


def test_elapsed_time_is_decoded_from_a_population_with_a_clock_and_not_from_one_without():
    from comparisons import Recording
    from comparisons.analyses.sequences import elapsed_time_decoding

    rng = np.random.default_rng(0)
    dt, trials, steps, units = 0.02, 12, 200, 30
    events = [[("trial_start", 0.5), ("trial_start", 2.0)] for _ in range(trials)]
    t = np.arange(steps) * dt
    centres = rng.uniform(0, 1.0, units)  # a sequence of bumps after each event: a clock
    clock = np.zeros((trials, steps, units))
    for start in (0.5, 2.0):
        lag = t - start
        clock += np.where((lag >= 0)[:, None], np.exp(-((lag[:, None] - centres[None]) ** 2) / (2 * 0.08 ** 2)), 0)[None]
    unit = [{"population": "E", "region": "M1", "sign": 1, "cell_type": "x", "kind": "rate"}] * units
    with_clock = Recording(clock + 0.05 * rng.normal(size=clock.shape), 1 / dt, unit, events=events)
    without = Recording(rng.normal(size=clock.shape), 1 / dt, unit, events=events)
    good = elapsed_time_decoding(with_clock, "trial_start", span_s=1.0)
    bad = elapsed_time_decoding(without, "trial_start", span_s=1.0)
    assert good["occurrences"] == 24 and good["r2"] > 0.9 and good["median_abs_error_s"] < 0.05
    assert bad["r2"] < 0.1 and bad["median_abs_error_s"] > 0.15
    with pytest.raises(ValueError, match="only 0 occurrences"):
        elapsed_time_decoding(with_clock, "trial_start", span_s=5.0)
