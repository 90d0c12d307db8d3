"""The learning benchmark over seeds: runs end to end on a tiny budget, resumes instead of retraining,
and summarises seeds at criterion with the spread over seeds."""

from __future__ import annotations

import json

import pytest

from benchmarks import learning


@pytest.fixture
def printed_tables():
    """The benchmark's printed tables, dropped afterwards (nothing written at the test process's exit)."""
    import atexit

    from benchmarks import common

    yield common
    atexit.unregister(common._save)
    common._PRINTED.clear()
    common.REPORT_NAME = None


def test_the_learning_benchmark_runs_seeds_and_summarises_them(tmp_path, monkeypatch, printed_tables):
    monkeypatch.chdir(tmp_path)
    tiny = ["training.num_envs=2", "training.num_minibatches=1", "training.rollout_steps=8", "training.epochs=1",
            "training.num_workers=0", "task.time_limit_s=0.1"]
    learning.main(["--runs", "mlp:reach:2", "--seeds", "0", "1", "--overrides", *tiny, "--out", "out"])
    results = json.loads((tmp_path / "out" / "learning.json").read_text())
    assert [(r["circuit"], r["task"], r["seed"]) for r in results] == [("mlp", "reach", 0), ("mlp", "reach", 1)]
    assert (tmp_path / "out" / "curves_reach.png").stat().st_size > 5000
    assert all((tmp_path / "out" / "reach" / "mlp" / f"seed{k}" / "summary.json").exists() for k in (0, 1))
    printed_tables._save()  # what the script writes when it ends
    table = (tmp_path / "results" / "learning.md").read_text()
    assert "seeds at criterion (rolling)" in table and "| mlp " in table
    before = (tmp_path / "out" / "reach" / "mlp" / "seed0" / "summary.json").read_text()
    learning.main(["--runs", "mlp:reach:2", "--seeds", "0", "--overrides", *tiny, "--out", "out"])  # finished: kept
    assert (tmp_path / "out" / "reach" / "mlp" / "seed0" / "summary.json").read_text() == before
    # scored as a study folder (runs/<task>/<circuit>/seed<k>), nothing trained: the same table
    (tmp_path / "study").mkdir()
    (tmp_path / "out").rename(tmp_path / "study" / "runs")
    learning.main(["--study", "study", "--out", "scored"])
    scored = json.loads((tmp_path / "scored" / "learning.json").read_text())
    assert [(r["circuit"], r["seed"], r["canonical"]) for r in scored] == \
        [(r["circuit"], r["seed"], r["canonical"]) for r in results]  # the runs' own evaluations, reused
    # scored from a zoo's manifests alone (the run folders gone): the same seeds, steps to criterion, evaluations
    from training.run import Run
    from training.zoo import export

    for r in scored:
        export(Run(tmp_path / "study" / "runs" / "reach" / "mlp" / f"seed{r['seed']}"),
               tmp_path / "zoo" / "tiny" / "mlp" / "reach" / f"seed{r['seed']}", study="tiny",
               evaluation={"metric": r["criterion"], "value": r["canonical"].get(r["criterion"]),
                           "metrics": r["canonical"]})
    import shutil

    shutil.rmtree(tmp_path / "study")
    learning.main(["--zoo", "zoo/tiny", "--out", "from_zoo"])
    zoo = json.loads((tmp_path / "from_zoo" / "learning.json").read_text())
    assert [(r["circuit"], r["seed"], r["canonical"], r["criterion_env_steps"], r["env_steps"]) for r in zoo] == \
        [(r["circuit"], r["seed"], r["canonical"], r["criterion_env_steps"], r["env_steps"]) for r in scored]
    assert all(r["curve"] for r in zoo) and (tmp_path / "from_zoo" / "curves_reach.png").stat().st_size > 5000
    with pytest.raises(SystemExit):  # a folder with no entries is one line, not an empty table
        learning.main(["--zoo", "nowhere", "--out", "x"])


def test_the_summary_gives_seeds_at_criterion_and_the_spread():
    def result(seed, minutes, met):
        return {"circuit": "lstm", "task": "lever_timing", "seed": seed, "budget": "10 min",
                "criterion_wall_s": None if minutes is None else 60 * minutes,
                "criterion_env_steps": None if minutes is None else int(minutes * 1000),
                "canonical": {"canonical_rewarded_fraction": 0.8 if met else 0.2}, "canonical_met": met,
                "criterion": "canonical_rewarded_fraction", "curve": [(0.0, 0.0), (600.0, 0.8)]}

    (row,) = learning.summarize([result(0, 3.0, True), result(1, 5.0, False), result(2, None, False)])
    assert row[2] == "10 min" and row[3] == "2/3" and row[4] == "1/3"  # reached on the rolling metric; re-checked canonically
    assert row[5] == "4.0 [3.0-5.0]" and row[6] == "4,000 [3,000-5,000]"
    assert row[7].startswith("canonical_rewarded_fraction 0.20 [0.20-0.80]")
    assert row[8] == "-"  # no held-out validation asked for
    checked = [{**result(s, 3.0, True), "validation_checks": n, "validation_met": met}
               for s, n, met in [(0, 1, True), (1, 3, True), (2, 4, False)]]
    assert learning.summarize(checked)[0][8] == "2/3 (1 after training on)"


def test_a_zoo_entry_without_a_training_record_is_unrecorded_not_a_failure():
    def result(seed, met, known):
        return {"circuit": "lstm", "task": "lever_timing", "seed": seed, "budget": "10 min", "criterion_wall_s": None,
                "criterion_env_steps": None, "canonical": {"canonical_rewarded_fraction": 0.8 if met else 0.2},
                "canonical_met": met, "criterion": "canonical_rewarded_fraction", "training_known": known,
                "curve": [(0.0, 0.0)]}

    (row,) = learning.summarize([result(0, True, False), result(1, False, False)])
    assert row[3] == "unrecorded" and row[4] == "1/2"  # the canonical re-check still counts; 0/2 would misreport
    (row,) = learning.summarize([result(0, True, False), result(1, True, True)])
    assert row[3] == "0/1 (1 unrecorded)" and row[4] == "1/2"  # known and never reached: not counted
