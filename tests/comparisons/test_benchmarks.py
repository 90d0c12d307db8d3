"""Reference tables, real rat trajectories, and every benchmark scored on synthetic subjects whose value is known."""

import math

import numpy as np
import pytest

from comparisons import Recording, reference
from comparisons import benchmarks as bm
from comparisons.rodent_data import load_trajectory, open_field_statistics

REQUIRED_BENCHMARKS = ["kawai2015.ipi", "kawai2015.lesion_after_learning", "kawai2015.lesion_before_learning",
                       "dhawale2019.variability_after_failure", "sargolini2006.open_field_speed", "rates.lognormal",
                       "spiking.isi_cv", "timescales.murray2014", "anatomy.ei_fraction"]


# ----------------------------------------------------------------------------- reference
def test_every_reference_entry_is_cited_completely():
    entries = reference.entries()
    assert len(entries) >= 15
    for e in entries:
        c = reference.citation(e["citation"])
        assert c["authors"] and int(c["year"]) > 1900 and c["journal"], e["id"]
        assert c.get("doi") or c.get("pmid") or c.get("pmcid"), e["id"]  # a persistent identifier
        assert isinstance(e["value_checked"], bool), e["id"]
        assert reference.cite(e["id"]).split()[0] in c["authors"]
    ids = {e["id"] for e in entries}
    for needed in ("kawai2015.target_ipi", "kawai2015.lesion_after_learning", "kawai2015.lesion_before_learning",
                   "dhawale2019.variability_after_failure", "buzsaki2014.lognormal_rates", "softky1993.isi_cv",
                   "churchland2010.fano_factor", "murray2014.intrinsic_timescale", "markram2004.cortical_e_fraction",
                   "aldarondo2024.latents_beat_kinematics", "sargolini2006.open_field_speed"):
        assert needed in ids


def test_every_benchmark_names_a_reference_that_supports_it():
    assert set(REQUIRED_BENCHMARKS) <= set(bm.names())
    for name in bm.names():
        assert name in reference.entry(bm.get(name).reference)["supports"]
    with pytest.raises(ValueError, match="unknown benchmark 'nope'; valid: anatomy.ei_fraction"):
        bm.get("nope")


# -------------------------------------------------------------------------- real rat data
def test_sargolini_statistics_come_from_the_real_trajectory_and_are_reproducible():
    a, b = open_field_statistics("sargolini2006"), open_field_statistics("sargolini2006")
    assert a["duration_s"] == pytest.approx(599.6, abs=0.1) and a["sample_dt_s"] == pytest.approx(0.02)
    assert np.array_equal(a["speed_m_s"], b["speed_m_s"])
    # the published summary of this trajectory (REFERENCES.md row 7): median 9.5, mean 10.8, p95 24 cm/s, 79 % > 5 cm/s
    assert a["speed_median_m_s"] == pytest.approx(0.095, abs=0.005)
    assert a["speed_mean_m_s"] == pytest.approx(0.108, abs=0.005)
    assert a["speed_p95_m_s"] == pytest.approx(0.24, abs=0.01)
    assert a["fraction_above_5cm_s"] == pytest.approx(0.79, abs=0.02)
    assert 0.3 <= a["speed_autocorr_time_s"] <= 0.7
    lo, hi = a["speed_median_range_m_s"]
    assert lo < a["speed_median_m_s"] < hi and len(a["median_speed_by_segment_m_s"]) == 9


def test_a_users_trajectory_file_is_loaded_and_its_known_speed_recovered(tmp_path):
    t = np.arange(0, 60, 0.02)
    radius, speed = 0.4, 0.15  # a circle at constant speed
    pos = radius * np.stack([np.cos(speed / radius * t), np.sin(speed / radius * t)], 1)
    np.savez(tmp_path / "my_rat.npz", t=t, pos=pos)
    st = open_field_statistics(tmp_path / "my_rat.npz")
    assert st["speed_median_m_s"] == pytest.approx(speed, rel=0.01)
    np.savez(tmp_path / "bad.npz", time=t, xy=pos)
    with pytest.raises(ValueError, match="needs keys 't' .* missing t, pos"):
        load_trajectory(tmp_path / "bad.npz")
    with pytest.raises(ValueError, match="unknown trajectory data set 'nope'; valid: sargolini2006, tanni2022"):
        load_trajectory("nope")


# --------------------------------------------------------------------- synthetic subjects
DT = 0.02


def _units(n, kind="rate", sign=1, region="M1"):
    return [{"population": "E" if sign >= 0 else "I", "region": region, "sign": sign, "cell_type": "x",
             "kind": kind} for _ in range(n)]


def _lever_events(ipis, rewarded=None, gap_s=1.5):
    ev, t = [], 0.5
    rewarded = rewarded if rewarded is not None else [abs(i - 0.7) <= 0.1 for i in ipis]
    for ipi, r in zip(ipis, rewarded):
        ev += [("press", t), ("trial_start", t), ("press", t + ipi)]
        ev += [("reward", t + ipi)] if r else []
        ev += [("trial_end", t + ipi)]
        t += ipi + gap_s
    return ev, t


def lever_subject(ipis, rewarded=None, stochastic=False):
    ev, t_end = _lever_events(ipis, rewarded)
    steps = int(t_end / DT) + 1
    rec = Recording(np.random.default_rng(0).normal(size=(1, steps, 4)), 1 / DT, _units(4), events=[ev])
    return bm.Subject("m/seed0", "m", "lever_timing", recording=rec, stochastic_recording=rec if stochastic else None)


def spiking_subject(rates_hz, trials=6, seconds=4.0, regular=False, trial_gain_sd=0.0, seed=0):
    """Poisson (or perfectly regular) spike trains at given rates; optional trial-to-trial gain (Fano > 1)."""
    rng = np.random.default_rng(seed)
    steps = int(seconds / DT)
    spikes, act = [], np.zeros((trials, steps, len(rates_hz)))
    for k in range(trials):
        gain = np.exp(trial_gain_sd * rng.normal() - trial_gain_sd ** 2 / 2)
        trial = []
        for u, r in enumerate(rates_hz):
            if regular:
                s = np.arange(rng.uniform(0, 1 / r), seconds, 1 / r)
            else:
                s = np.sort(rng.uniform(0, seconds, rng.poisson(r * gain * seconds)))
            trial.append(s)
            act[k, :, u] = np.histogram(s, bins=steps, range=(0, seconds))[0] / DT
        spikes.append(trial)
    rec = Recording(act, 1 / DT, _units(len(rates_hz), "spike"), spike_times=spikes, events=[[] for _ in range(trials)])
    return bm.Subject("m/seed0", "m", "reach", recording=rec)


def ou_subject(tau_s, trials=20, steps=300, n_units=10):
    rng = np.random.default_rng(1)
    a = np.exp(-DT / tau_s)
    x = np.zeros((trials, steps, n_units))
    x[:, 0] = rng.normal(size=(trials, n_units))
    for t in range(1, steps):
        x[:, t] = a * x[:, t - 1] + np.sqrt(1 - a * a) * rng.normal(size=(trials, n_units))
    return bm.Subject("m/seed0", "m", "reach", recording=Recording(x, 1 / DT, _units(n_units)))


def lesion_subject(kind, intact_ipis, lesioned_ipis):
    def cond(ipis):
        return {"ipis_s": list(ipis), "ipi_n": len(ipis), "ipi_median_s": float(np.median(ipis)) if len(ipis) else None,
                "metrics": {}}
    return bm.Subject("m/seed0", "m", "lever_timing",
                      lesions=[{"kind": kind, "intact": cond(intact_ipis), "lesioned": cond(lesioned_ipis)}])


def dhawale_subject(ratio):
    """Alternating rewarded / unrewarded trials; the IPI moves `ratio` times further after an unrewarded one."""
    ipis, rewarded, ipi = [], [], 0.7
    for i in range(40):
        r = i % 2 == 0
        ipis.append(ipi)
        rewarded.append(r)
        ipi += (0.02 if r else 0.02 * ratio) * (1 if (i // 2) % 2 == 0 else -1)
    return lever_subject(ipis, rewarded, stochastic=True)


def circle_subject(speed):
    t = np.arange(0, 30, DT)
    w = speed / 0.3
    return bm.Subject("m/seed0", "m", "open_field",
                      trajectory=[(t, 0.3 * np.stack([np.cos(w * t), np.sin(w * t)], 1))])


def ei_subject(fraction):
    n_e = int(round(100 * fraction))
    rec = Recording(np.zeros((1, 5, 100)), 1 / DT, _units(n_e) + _units(100 - n_e, sign=-1))
    return bm.Subject("m/seed0", "m", "reach", recording=rec)


def lognormal_subject(sd_log10):
    z = np.random.default_rng(3).normal(size=60)
    z = (z - z.mean()) / z.std(ddof=1)
    return spiking_subject(10 ** (0.6 + sd_log10 * z), trials=2, seconds=20.0)


# benchmark -> (factory, value inside the rodent range, outside near, outside far)
SYNTHETIC = {
    "kawai2015.ipi": (lambda v: lever_subject([v] * 12), 0.7, 0.5, 0.3),
    "kawai2015.lesion_after_learning": (lambda v: lesion_subject("after_learning", [0.7] * 20, [0.7 * v] * 20),
                                        1.0, 0.8, 0.5),
    "kawai2015.lesion_before_learning": (lambda v: lesion_subject(
        "before_learning", [0.7] * 20, [0.7] * int(round(20 * v)) + [0.3] * (20 - int(round(20 * v)))), 0.1, 0.7, 1.0),
    "dhawale2019.variability_after_failure": (dhawale_subject, 2.0, 0.8, 0.3),
    "sargolini2006.open_field_speed": (circle_subject, 0.095, 0.2, 0.4),
    "rates.lognormal": (lognormal_subject, 0.45, 0.15, 0.02),
    "spiking.isi_cv": (lambda v: spiking_subject([20.0] * 10, regular=v < 0.5, trial_gain_sd=0.0), 1.0, 0.0, None),
    "spiking.fano_factor": (lambda v: spiking_subject([20.0] * 10, trials=30, seconds=2.0, trial_gain_sd=v),
                            0.3, 0.0, None),
    "timescales.murray2014": (ou_subject, 0.15, 0.03, 0.01),
    "anatomy.ei_fraction": (ei_subject, 0.8, 0.6, 0.3),
}


@pytest.mark.parametrize("name", sorted(SYNTHETIC))
def test_synthetic_subjects_score_as_their_known_value_says(name):
    make, inside, near, far = SYNTHETIC[name]
    good = bm.score(name, [make(inside)])
    assert good.applicable and good.passed and good.score == 1.0, good
    bad = bm.score(name, [make(near)])
    assert bad.applicable and bad.passed is False and 0 < bad.score < 1, bad
    if far is not None:
        worse = bm.score(name, [make(far)])
        assert worse.passed is False and worse.score < bad.score
    assert good.citation and good.definition


def test_seeds_pool_into_a_mean_with_a_confidence_interval():
    subs = [lever_subject([v] * 10) for v in (0.66, 0.70, 0.74)]
    for i, s in enumerate(subs):
        s.name = f"m/seed{i}"
    sc = bm.score("kawai2015.ipi", subs)
    assert sc.value == pytest.approx(0.70, abs=0.01) and sc.ci95[0] < 0.70 < sc.ci95[1]
    assert len(sc.per_subject) == 3
    with pytest.raises(ValueError, match="one model"):
        bm.score("kawai2015.ipi", [subs[0], bm.Subject("x/seed0", "x")])


def test_normalised_score_is_one_inside_and_falls_monotonically_outside():
    xs = np.linspace(-2, 3, 101)
    s = np.array([bm.normalised_score(x, 0.0, 1.0) for x in xs])
    assert np.all(s[(xs >= 0) & (xs <= 1)] == 1.0)
    assert np.all(np.diff(s[xs > 1]) < 0) and np.all(np.diff(s[xs < 0]) > 0)
    assert 0 < s.min() and bm.normalised_score(0.5, 1.0, math.inf) < bm.normalised_score(0.9, 1.0, math.inf) < 1


def test_benchmarks_that_do_not_apply_say_why_instead_of_scoring_zero():
    rate = ou_subject(0.1)  # a rate network: no spikes, no signed cortical units... signs are +1 here
    for name in ("rates.lognormal", "spiking.isi_cv", "spiking.fano_factor"):
        sc = bm.score(name, [rate])
        assert not sc.applicable and "rate units have no spikes" in sc.reason and math.isnan(sc.score)
    lstm = bm.Subject("lstm/seed0", "lstm", "reach", recording=Recording(
        np.zeros((1, 5, 3)), 50.0, _units(3, sign=0, region="none")))
    assert "no sign-constrained cortical units" in bm.score("anatomy.ei_fraction", [lstm]).reason
    assert "needs a lever_timing recording" in bm.score("kawai2015.ipi", [lstm]).reason
    assert "windtunnel lesion" in bm.score("kawai2015.lesion_after_learning", [lstm]).reason
    unlearned = lesion_subject("after_learning", [0.7] * 2, [0.7] * 2)
    assert "fewer than 5" in bm.score("kawai2015.lesion_after_learning", [unlearned]).reason


def test_lever_trial_parsing_follows_the_task_event_order():
    ev, _ = _lever_events([0.7, 0.4], [True, False])
    ev += [("press", 10.0), ("trial_start", 10.0), ("timeout", 11.5), ("trial_end", 11.5)]
    trials = bm.lever_trials([ev])[0]
    assert [r for _, r in trials] == [True, False, False]
    assert trials[0][0] == pytest.approx(0.7) and trials[1][0] == pytest.approx(0.4) and math.isnan(trials[2][0])
