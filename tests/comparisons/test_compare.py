"""Lesion experiments, `windtunnel lesion` / `windtunnel compare`, the HTML report and scores.json."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from comparisons import Recording, write_nwb
from comparisons import benchmarks as bm
from comparisons.lesion import lesion_after_learning, lesion_before_learning, load_lesions
from comparisons.report import SECTIONS, aligned_average, similarity_matrices, write_report
from comparisons.rodent_data import open_field_statistics
from windtunnel.config import compose
from training.ppo import Trainer

REPO = Path(__file__).resolve().parents[2]
TINY = ["training.num_envs=2", "training.num_minibatches=1", "training.rollout_steps=8", "training.epochs=1",
        "training.num_workers=0", "training.torch_threads=1", "training.total_steps=16"]
SHORT = ["task.time_limit_s=3.0"]  # short lever episodes keep recordings and evaluations quick


def cli(*args, cwd, timeout=300):
    return subprocess.run([sys.executable, "-m", "windtunnel", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": str(REPO)})


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for circuit in ("m1_bg", "dale_rnn"):
        run_dir = root / f"lever_{circuit}"
        Trainer(compose([*TINY, *SHORT, f"circuit={circuit}", "task=lever_timing"]), run_dir, progress=False).train()
        out[circuit] = run_dir
    return out


def test_lesion_after_learning_silences_and_records_both_conditions(runs):
    r = lesion_after_learning(runs["m1_bg"], ["M1"], episodes=2)
    assert r["kind"] == "after_learning" and r["populations"] == ["M1"]
    assert r["lesioned"]["lesioned"] == ["M1"] and r["intact"]["lesioned"] == []
    assert r["rodent_outcome"] == "preserved"
    assert r["verdict"] in ("reproduces", "contradicts") or r["verdict"].startswith("undetermined")
    saved = load_lesions(runs["m1_bg"])
    assert saved[-1]["kind"] == "after_learning" and Path(r["path"]).name == "after_learning-M1.json"


def test_lesion_before_learning_trains_a_silenced_sibling_with_the_same_budget(runs):
    r = lesion_before_learning(runs["dale_rnn"], ["I"], episodes=2)
    sibling = Path(r["sibling_run"])
    assert sibling.name == "lever_dale_rnn_lesion-I" and (sibling / "checkpoints" / "last.pt").exists()
    assert r["training_env_steps"] == 16 and r["lesioned"]["lesioned"] == ["I"]
    assert r["rodent_outcome"] == "not acquired"


def test_which_kawai_lesions_leave_a_path_to_the_muscles():
    """Known answers from the specs' wiring: only the lstm's encoder->policy skip path and the subcortical
    variant's brainstem survive a motor-cortex lesion; a lesion of an inhibitory population leaves the path."""
    import circuits

    survivors = {n: circuits.make(n, 4, 1).spec.readout_reachable(circuits.make(n, 4, 1).spec.motor_cortex_populations)
                 for n in ("mlp", "lstm", "dale_rnn", "spiking_m1", "spiking_m1_alif", "m1_bg", "m1_bg_subcortical")}
    assert survivors == {"mlp": [], "lstm": ["policy"], "dale_rnn": [], "spiking_m1": [], "spiking_m1_alif": [],
                         "m1_bg": [], "m1_bg_subcortical": ["brainstem"]}
    assert circuits.make("dale_rnn", 4, 1).spec.readout_reachable(["I"]) == ["E"]
    assert circuits.make("m1_bg", 4, 1).spec.readout_reachable([]) == ["M1_E"]


def test_a_lesion_that_leaves_no_path_trains_no_sibling_and_scores_no_finding(runs):
    r = lesion_before_learning(runs["m1_bg"], ["M1"], episodes=2)
    assert r["lesioned"] is None and r["sibling_run"] is None and r["training_env_steps"] == 0
    assert r["outcome"] == "not acquired" and r["verdict"].startswith("undetermined")  # the tiny run learned nothing
    assert "no path from the observation to the actor" in r["structural"] and r["structural"] in r["note"]
    assert not (runs["m1_bg"].parent / "lever_m1_bg_lesion-M1").exists()
    learned = {**r, "intact": {**r["intact"], "metrics": {**r["intact"]["metrics"], r["criterion"]: 0.9}}}
    subject = bm.Subject(name="m1_bg", model="m1_bg/lever_timing", task="lever_timing", lesions=[learned])
    with pytest.raises(bm.NotApplicable, match="by construction"):
        bm.get("kawai2015.lesion_before_learning").measure(subject)
    after = lesion_after_learning(runs["m1_bg"], ["M1"], episodes=2)  # evaluated: the verdict says why
    assert after["lesioned"] is not None and "no path" in after["structural"]
    p = cli("lesion", str(runs["m1_bg"]), "populations=[M1]", "before_learning=true", "episodes=1", cwd=runs["m1_bg"])
    assert p.returncode == 0, p.stderr[-2000:]
    assert "lesioned  not trained" in p.stdout and "by construction" in p.stdout


@pytest.mark.parametrize("kind, learned, outcome, structural, verdict", [
    ("after_learning", 0.9, "impaired", "", "contradicts"),
    ("after_learning", 0.9, "preserved", "", "reproduces"),
    ("after_learning", 0.9, "impaired", "no path", "contradicts by construction"),
    ("before_learning", 0.9, "not acquired", "no path", "reproduces by construction"),
    ("after_learning", 0.27, "impaired", "", "undetermined (the intact circuit has not learned the task)"),
    ("before_learning", 0.0, "not acquired", "no path", "undetermined (the intact circuit has not learned the task)"),
])
def test_a_lesion_verdict_needs_an_intact_circuit_that_learned_the_task(kind, learned, outcome, structural, verdict,
                                                                        tmp_path):
    """Kawai lesioned trained rats: a circuit below the criterion (>= 70 % rewarded) has no learned timing to keep or
    to fail to acquire; its outcome is kept as behaviour, its verdict undetermined (as the Kawai benchmarks rule)."""
    from comparisons.lesion import _write

    intact = {"metrics": {"canonical_rewarded_fraction": learned}, "faulted_episodes": {}, "episodes": 20, "ipi_n": 20}
    lesioned = {"metrics": {}, "faulted_episodes": {}, "episodes": 20, "ipi_n": 0}
    r = _write(tmp_path, kind, "lever_timing", ["M1"], intact, lesioned, "canonical_rewarded_fraction", outcome,
               extra={"structural": structural})
    assert r["verdict"] == verdict and r["outcome"] == outcome
    assert ("has not met the task criterion" in r["note"]) == (learned < 0.7)


def test_lesion_command_rejects_unknown_populations_in_one_line(runs, tmp_path):
    p = cli("lesion", str(runs["m1_bg"]), "populations=[cerebellum]", cwd=tmp_path)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.strip().count("\n") == 0
    assert "unknown population or region 'cerebellum'" in p.stderr and "M1" in p.stderr
    p = cli("lesion", str(runs["m1_bg"]), cwd=tmp_path)
    assert p.returncode == 2 and "name the populations or regions to silence" in p.stderr


def _animal_nwb(path):
    """A small 'real' recording with trial_start events, as a lab would bring it."""
    rng = np.random.default_rng(5)
    trials, steps, n = 4, 150, 12
    spikes = [[np.sort(rng.uniform(0, steps * 0.02, rng.poisson(10))) for _ in range(n)] for _ in range(trials)]
    act = np.stack([np.stack([np.histogram(s, bins=steps, range=(0, steps * 0.02))[0] / 0.02 for s in tr], 1)
                    for tr in spikes])
    units = [{"population": "MOp", "region": "M1", "sign": 0, "cell_type": "unknown", "kind": "spike"}] * n
    rec = Recording(act, 50.0, units, spike_times=spikes, events=[[("trial_start", 0.5), ("press", 0.5)]] * trials,
                    provenance={"task": "lever_timing"})
    return write_nwb(rec, path, session_description="synthetic animal")


def test_compare_writes_a_report_with_every_section_and_scores_json(runs, tmp_path):
    nwb = _animal_nwb(tmp_path / "rat7.nwb")
    p = cli("compare", f"runs=[{runs['m1_bg']},{runs['dale_rnn']}]", f"subjects=[{nwb}]", "episodes=2",
            f"out={tmp_path / 'cmp'}", cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    page = (tmp_path / "cmp" / "report.html").read_text()
    for section in SECTIONS:
        assert f"<h2>{section}</h2>" in page
    assert page.count("data:image/png;base64,") >= 4  # IPI, similarity, timescales, open field
    scores = json.loads((tmp_path / "cmp" / "scores.json").read_text())
    models = {s["model"] for s in scores["scores"]}
    assert models == {"m1_bg/lever_timing", "dale_rnn/lever_timing", "subject:rat7"}
    assert {s["benchmark"] for s in scores["scores"]} == set(bm.names())
    by = {(s["benchmark"], s["model"]): s for s in scores["scores"]}
    assert by[("anatomy.ei_fraction", "m1_bg/lever_timing")]["value"] == pytest.approx(0.8, abs=0.02)
    assert not by[("rates.lognormal", "dale_rnn/lever_timing")]["applicable"]
    assert by[("spiking.isi_cv", "subject:rat7")]["applicable"]  # the animal is scored like a model
    assert "lesion" in by[("kawai2015.lesion_after_learning", "dale_rnn/lever_timing")]["reason"]
    sim = scores["similarity"]["lever_timing"]
    assert "subject:rat7" in sim["subjects"] and len(sim["cka"]) == len(sim["subjects"]) >= 2
    assert np.allclose(np.diag(sim["cka"]), 1.0)
    assert "Sargolini" in page and "Kawai" in page


def test_compare_rejects_bad_input_in_one_line(tmp_path):
    p = cli("compare", "runs=[nowhere]", cwd=tmp_path)
    assert p.returncode == 2 and "run dir nowhere does not exist" in p.stderr and "Traceback" not in p.stderr
    p = cli("compare", "rns=[x]", cwd=tmp_path)
    assert p.returncode == 2 and "unknown option 'rns'; valid: runs, study, subjects" in p.stderr


def test_similarity_of_a_recording_with_a_rotated_copy_is_one():
    rng = np.random.default_rng(0)
    base = np.cumsum(rng.normal(size=(3, 120, 6)), axis=1)
    events = [[("trial_start", 0.6)]] * 3
    units = [{"population": "E", "region": "M1", "sign": 1, "cell_type": "x", "kind": "rate"}] * 6
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    a = bm.Subject("a", "a", "lever_timing", recording=Recording(base, 50.0, units, events=events))
    b = bm.Subject("b", "b", "lever_timing", recording=Recording(base @ q, 50.0, units, events=events))
    c = bm.Subject("c", "c", "lever_timing", recording=Recording(rng.normal(size=(3, 120, 6)), 50.0, units,
                                                                 events=events))
    assert aligned_average(a.recording, "trial_start").shape == (50, 6)
    sim = similarity_matrices([a, b, c])["lever_timing"]
    assert sim["event"] == "trial_start"
    assert sim["procrustes"][0][1] == pytest.approx(1.0, abs=1e-9) and sim["cka"][0][1] == pytest.approx(1.0)
    assert sim["cka"][0][2] < 0.6


def test_report_places_a_model_open_field_beside_the_real_rat(tmp_path):
    t = np.arange(0, 20, 0.02)
    sub = bm.Subject("walker/seed0", "walker", "open_field",
                     trajectory=[(t, 0.3 * np.stack([np.cos(t / 3), np.sin(t / 3)], 1))])
    res = write_report([sub], tmp_path, ["sargolini2006.open_field_speed"], open_field_statistics("sargolini2006"))
    (score,) = res["scores"]
    assert score.value == pytest.approx(0.1, rel=0.02) and score.verdict == "inconclusive" and score.n == 1  # one seed
    assert "<h2>Open-field speed</h2>" in (tmp_path / "report.html").read_text()
    assert json.loads((tmp_path / "scores.json").read_text())["rodent_open_field"]["smoothing_s"] == 0.1


def test_lesions_on_tasks_without_a_rodent_lesion_reference_say_so(tmp_path):
    run_dir = tmp_path / "reach_lstm"
    Trainer(compose([*TINY, "circuit=lstm", "task=reach"]), run_dir, progress=False).train()
    r = lesion_after_learning(run_dir, ["core"], episodes=2)
    assert r["task"] == "reach" and r["rodent_outcome"] is None and r["verdict"].startswith("no rodent reference")


def test_verdict_summary_names_what_each_circuit_reproduces_contradicts_and_leaves_open():
    from comparisons.report import summary_markdown, verdict_summary

    S = bm.Score
    scores = [S("kawai2015.ipi", "m1_bg/lever_timing", True, verdict="consistent", n=3),
              S("spiking.isi_cv", "m1_bg/reach", True, verdict="inconsistent", n=3),
              S("rates.lognormal", "m1_bg/reach", True, verdict="inconclusive", n=2),
              S("anatomy.ei_fraction", "m1_bg/reach", True, construction_check=True, n=3),  # no finding
              S("spiking.isi_cv", "lstm/reach", False, reason="no spiking units"),  # does not apply
              S("kawai2015.ipi", "m1_bg/lever_timing [demo]", True, verdict="inconclusive", n=1)]  # its own model
    subjects = [bm.Subject(f"m1_bg/seed{k}", "m1_bg/lever_timing", "lever_timing",
                           lesions=[{"kind": "after_learning", "verdict": v}])
                for k, v in enumerate(["reproduces", "reproduces", "contradicts"])]
    summary = verdict_summary(scores, subjects)
    assert list(summary) == ["m1_bg", "m1_bg [demo]"]  # the lstm has no scored finding
    assert summary["m1_bg [demo]"]["inconclusive"] == ["kawai2015.ipi (lever_timing, n=1)"]
    m = summary["m1_bg"]
    assert m["reproduces"] == ["kawai2015.ipi (lever_timing, n=3)"]
    assert m["contradicts"] == ["spiking.isi_cv (reach, n=3)"]
    assert m["inconclusive"] == ["rates.lognormal (reach, n=2)"]
    assert m["lesions"] == ["Kawai lesion after learning (lever_timing): reproduces 2/3, contradicts 1/3"]
    assert "anatomy" not in summary_markdown(summary)


def test_spread_panels_name_the_task_when_a_benchmark_pools_two():
    """A benchmark scored on one task labels circuits alone (the title names the task); one that pools models of
    two tasks labels each 'circuit (task)', so the same circuit's two dots are told apart."""
    from comparisons.report import spread_labels

    assert spread_labels(["lstm/reach", "m1_bg/reach"]) == ["lstm", "m1_bg"]
    assert spread_labels(["lstm/reach", "lstm/lever_timing"]) == ["lstm (reach)", "lstm (lever_timing)"]
    assert spread_labels(["lstm [demo]/lever_timing"]) == ["lstm [demo]"]


def test_the_kawai_figure_shows_a_lesion_that_abolished_the_press():
    """A lesioned circuit that completes no trial has no rewarded fraction or IPI to plot; before this was fixed
    the figure dropped such a seed whole (intact dot too), hiding the strongest impairments (dale_rnn's after-
    learning panel was empty). It is now a point marked "no trial"; a measured lesion stays a pair, and a lesion
    that leaves no path is "not trained"."""
    from comparisons.report import kawai_figure, kawai_points

    def cond(trials, rewarded, ipi):
        metrics = {"trials": trials} if trials == 0 else {"trials": trials, "canonical_rewarded_fraction": rewarded}
        return {"metrics": metrics, "ipi_median_s": ipi}

    def lesion(kind, lesioned):
        return {"kind": kind, "criterion": "canonical_rewarded_fraction", "intact": cond(100, 0.9, 0.66),
                "lesioned": lesioned}

    subjects = [bm.Subject(name=f"c/lever_timing/seed{i}", model="c/lever_timing", task="lever_timing", lesions=[l])
                for i, l in enumerate([lesion("after_learning", cond(0, None, None)),          # no press at all
                                       lesion("after_learning", cond(1, 0.0, None)),           # one trial, no IPI
                                       lesion("after_learning", cond(80, 0.1, 0.3)),           # measured
                                       lesion("before_learning", None)])]                      # no path
    pts = {(p["subject"][-1], p["what"]): p for p in kawai_points(subjects)}
    assert len(pts) == 8 and all(p["intact"] is not None for p in pts.values())
    assert pts["0", "criterion"]["lesioned_state"] == "no trial" and pts["0", "ipi"]["lesioned_state"] == "no trial"
    assert pts["1", "criterion"]["lesioned"] == 0.0 and pts["1", "ipi"]["lesioned_state"] == "no trial"
    assert (pts["2", "criterion"]["lesioned"], pts["2", "ipi"]["lesioned"]) == (0.1, 0.3)
    assert pts["2", "ipi"]["lesioned_state"] == "measured" and pts["3", "ipi"]["lesioned_state"] == "not trained"
    png = kawai_figure(subjects)
    assert png and len(png) > 1000
    assert kawai_points([bm.Subject(name="r", model="c/reach", task="reach", lesions=[lesion("after_learning", None)])]) == []


def test_recording_runs_in_parallel_gives_the_same_subjects_in_the_same_order(runs):
    """compare records its runs one process per core; a recording is a function of its run, episodes and
    seed alone, so two processes must give what one gives, bit for bit (spiking and rate circuits)."""
    from comparisons.report import record_subjects

    order = [str(runs["dale_rnn"]), str(runs["m1_bg"])]
    serial = record_subjects(order, 2, 2000, {order[1]: "tag"}, jobs=1)
    parallel = record_subjects(order, 2, 2000, {order[1]: "tag"}, jobs=2)
    assert [s.name for s in parallel] == [s.name for s in serial] == ["dale_rnn/lever_timing/seed0",
                                                                      "m1_bg/lever_timing [tag]/seed0"]
    for a, b in zip(serial, parallel):
        np.testing.assert_array_equal(a.recording.activity, b.recording.activity)
        assert json.dumps(a.recording.trial_info) == json.dumps(b.recording.trial_info)  # NaN-safe: 'NaN' == 'NaN'
        assert a.recording.events == b.recording.events
        assert a.lesions == b.lesions
