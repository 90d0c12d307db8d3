"""Recordings of real (freshly initialised) circuits on real tasks; NWB round trips; external NWB files."""

import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from comparisons import Recording, read_nwb, record, write_nwb
from comparisons.summary import analyse_recording
from windtunnel.config import compose
from training.ppo import Trainer

REPO = Path(__file__).resolve().parents[2]
TINY = ["training.num_envs=2", "training.num_minibatches=1", "training.rollout_steps=8", "training.epochs=1",
        "training.num_workers=0", "training.torch_threads=1", "training.total_steps=16"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two barely trained runs: a spiking circuit on the lever task, an LSTM on reaching."""
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for circuit, task in (("m1_bg", "lever_timing"), ("lstm", "reach")):
        run_dir = root / f"{task}_{circuit}"
        Trainer(compose([*TINY, f"circuit={circuit}", f"task={task}"]), run_dir, progress=False).train()
        out[circuit] = run_dir
    return out


@pytest.fixture(scope="module")
def spiking_rec(runs):
    return record(runs["m1_bg"], episodes=4, task_overrides={"time_limit_s": 2.0})


def test_recording_of_a_spiking_circuit(spiking_rec):
    rec = spiking_rec
    assert rec.n_trials == 4 and rec.activity.shape[1] == 100  # 2 s at 50 Hz
    assert rec.n_units == 128 + 32 + 32 + 32 + 16 + 16 + 16 + 32
    assert {u["region"] for u in rec.units} >= {"M1", "striatum_D1", "GPi", "thalamus"}
    # rates are binned spike counts: they agree with the spike times exactly
    u = rec.unit_index("GPi")[0]
    counts = np.histogram(rec.spike_times[0][u], bins=np.arange(101) * rec.dt_s + 1e-9)[0]
    np.testing.assert_allclose(rec.activity[0, :, u], counts / rec.dt_s)
    assert rec.provenance["circuit"] == "m1_bg" and rec.provenance["task"] == "lever_timing"
    assert set(rec.kinematics) == {"paw_pos_m", "lever_angle_rad"}


@pytest.mark.parametrize("circuit", ["m1_bg", "lstm"])
def test_nwb_files_pass_the_inspector_dandi_runs(runs, circuit, tmp_path):
    """No CRITICAL or ERROR from nwbinspector on a spiking and a rate recording: a subject (the simulated rat),
    real descriptions, spike-time resolution, and no empty spike trains for rate units."""
    from nwbinspector import Importance, inspect_nwbfile

    rec = record(runs[circuit], episodes=2, task_overrides={"time_limit_s": 4.0})  # more time bins than units
    path = write_nwb(rec, tmp_path / f"{circuit}.nwb", session_description=f"{circuit} recording")
    messages = list(inspect_nwbfile(nwbfile_path=str(path)))
    bad = [f"{m.importance.name}: {m.check_function_name}: {m.message}" for m in messages
           if m.importance in (Importance.CRITICAL, Importance.ERROR, Importance.PYNWB_VALIDATION)]
    assert not bad, bad
    back = read_nwb(path)
    assert back.units == rec.units and (back.spike_times is None) == (circuit == "lstm")
    np.testing.assert_array_equal(back.activity, rec.activity)
    import h5py

    with h5py.File(path, "r") as f:
        assert f["general/subject/species"][()].decode() == "Rattus norvegicus"
        assert circuit in f["general/subject/description"][()].decode()
        assert ("units" in f) == (circuit == "m1_bg")  # rate units are described, never given empty spike trains
        if circuit == "m1_bg":
            assert f["units/spike_times"].attrs["resolution"] == pytest.approx(0.004)  # the 4 ms substep


def test_nwb_round_trip_is_lossless(spiking_rec, tmp_path):
    path = write_nwb(spiking_rec, tmp_path / "rec.nwb")
    back = read_nwb(path)
    np.testing.assert_array_equal(back.activity, spiking_rec.activity)
    assert back.units == spiking_rec.units
    assert back.sampling_rate_hz == spiking_rec.sampling_rate_hz
    for trial_a, trial_b in zip(spiking_rec.spike_times, back.spike_times):
        for a, b in zip(trial_a, trial_b):
            np.testing.assert_allclose(a, b, atol=1e-9)
    assert [[(n, round(t, 9)) for n, t in tr] for tr in back.events] == \
           [[(n, round(t, 9)) for n, t in tr] for tr in spiking_rec.events]
    for k, v in spiking_rec.kinematics.items():
        np.testing.assert_array_equal(back.kinematics[k], v)
    assert back.provenance == json.loads(json.dumps(spiking_rec.provenance, default=str))


def test_rate_circuit_round_trip_with_ragged_trials(runs, tmp_path):
    rec = record(runs["lstm"], episodes=3)  # reach episodes end at success or 2 s: lengths may differ
    assert rec.spike_times is None
    back = read_nwb(write_nwb(rec, tmp_path / "lstm.nwb"))
    np.testing.assert_array_equal(back.activity, rec.activity)
    np.testing.assert_array_equal(back.trial_lengths, rec.trial_lengths)


def _rodent_file(path, with_trials=True, with_units=True):
    from pynwb import NWBHDF5IO, NWBFile

    nwb = NWBFile(session_description="rat", identifier="r1", session_start_time=datetime.now(timezone.utc))
    rng = np.random.default_rng(0)
    if with_trials:
        nwb.add_trial_column(name="lever_press_time", description="first press")
        for i in range(5):
            nwb.add_trial(start_time=2.0 * i, stop_time=2.0 * i + 1.5, lever_press_time=2.0 * i + 0.5)
    if with_units:
        nwb.add_unit_column(name="location", description="brain area")
        for loc in ("M1", "DLS", "DLS"):
            nwb.add_unit(spike_times=np.sort(rng.uniform(0, 10, 80)), location=loc)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


def test_reading_an_external_rodent_nwb_file(tmp_path):
    rec = read_nwb(_rodent_file(tmp_path / "rat.nwb"), bin_s=0.05)
    assert rec.activity.shape == (5, 30, 3) and rec.sampling_rate_hz == 20.0
    assert [u["region"] for u in rec.units] == ["M1", "DLS", "DLS"]
    assert rec.event_times("lever_press")[2].tolist() == [0.5]
    total = sum(len(t[u]) for t in rec.spike_times for u in range(3))
    assert np.nansum(rec.activity) * 0.05 == pytest.approx(total)


@pytest.mark.parametrize("missing", ["trials", "units"])
def test_incomplete_nwb_files_name_the_missing_field(tmp_path, missing):
    path = _rodent_file(tmp_path / "bad.nwb", with_trials=missing != "trials", with_units=missing != "units")
    with pytest.raises(ValueError, match=f"missing field '{missing}'"):
        read_nwb(path)
    (tmp_path / "junk.nwb").write_text("not hdf5")
    with pytest.raises(ValueError, match="not a readable NWB file"):
        read_nwb(tmp_path / "junk.nwb")


def test_recording_rejects_inconsistent_shapes():
    with pytest.raises(ValueError, match="unit descriptions"):
        Recording(np.zeros((2, 5, 3)), 50.0, [{"population": "E"}] * 2)
    with pytest.raises(ValueError, match=r"\[trials, time, units\]"):
        Recording(np.zeros((5, 3)), 50.0, [])


def test_every_analysis_runs_on_a_circuit_recording_and_figures_render(spiking_rec, tmp_path):
    results = analyse_recording(spiking_rec, tmp_path)
    assert results["participation_ratio"] > 1
    assert set(results["timescales_s"]) == set(spiking_rec.populations())
    assert "sequence" in results and "isi_cv_median" in results and "rates_lognormal" in results
    assert "kinematic_encoding_r2_median" in results
    pngs = {p.name for p in tmp_path.glob("*.png")}
    assert {"pca_trajectories.png", "timescales.png"} <= pngs
    assert any(p.startswith("raster_") for p in pngs)
    for p in tmp_path.glob("*.png"):
        assert p.stat().st_size > 5000


def test_record_command_writes_nwb_and_analyses(runs, tmp_path):
    out = subprocess.run([sys.executable, "-m", "windtunnel", "record", str(runs["lstm"]), "episodes=4",
                          f"out={tmp_path}"], capture_output=True, text=True, cwd=tmp_path, timeout=300,
                         env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert (tmp_path / "intact.nwb").exists() and (tmp_path / "intact_analyses.json").exists()
    assert read_nwb(tmp_path / "intact.nwb").provenance["circuit"] == "lstm"
    bad = subprocess.run([sys.executable, "-m", "windtunnel", "record", str(runs["lstm"]), "episods=4"],
                         capture_output=True, text=True, cwd=tmp_path, env={"PYTHONPATH": str(REPO),
                                                                           "PATH": "/usr/bin:/bin"})
    assert bad.returncode == 2 and "unknown option 'episods'" in bad.stderr
