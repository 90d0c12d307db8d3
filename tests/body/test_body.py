"""The rat body: variants, actuation, observation blocks, delay line, noise, stability, rendering."""

import subprocess
import sys

import mujoco
import numpy as np
import pytest

import body
from body.interface import BodyInterface
from body.rat import FORELIMB_JOINTS
from body.render import smooth_random_controls

RAT_MASS_KG = 0.338  # Merel et al. 2020 rodent model (dm_control rodent.xml)


@pytest.fixture(scope="module")
def bodies():
    return {v: body.build(v) for v in body.VARIANTS}


def _gl_available() -> bool:
    try:
        from body.render import make_renderer

        r = make_renderer(body.build("forelimb").model, 32, 32)
        r.close()
        return True
    except RuntimeError:
        return False


needs_gl = pytest.mark.skipif(not _gl_available(), reason="no OpenGL backend (EGL or OSMesa) on this machine")


@pytest.mark.parametrize("variant,n_act", [("free", 38), ("head_fixed", 38), ("forelimb", 8)])
def test_actuator_count(bodies, variant, n_act):
    assert bodies[variant].model.nu == n_act
    assert len(bodies[variant].actuator_names) == n_act


@pytest.mark.parametrize("variant", ["free", "head_fixed"])
def test_mass_matches_published_model(bodies, variant):
    assert bodies[variant].total_mass_kg == pytest.approx(RAT_MASS_KG, rel=0.01)


def test_free_body_has_a_free_joint(bodies):
    m = bodies["free"].model
    assert (m.nq, m.nv) == (74, 73)
    assert m.jnt_type[0] == mujoco.mjtJoint.mjJNT_FREE


def test_head_fixed_has_no_free_joint(bodies):
    m = bodies["head_fixed"].model
    assert (m.nq, m.nv) == (67, 67)
    assert mujoco.mjtJoint.mjJNT_FREE not in set(m.jnt_type)


@pytest.mark.parametrize("side,s", [("right", "R"), ("left", "L")])
def test_forelimb_keeps_only_one_forelimb(side, s):
    rat = body.build("forelimb", side=side)
    expected = {j.format(s=s) for j in FORELIMB_JOINTS}
    assert set(rat.joint_names) == expected
    assert set(rat.actuator_names) == expected
    assert rat.model.ntendon == 0


def _run_random(rat, seconds, seed=0):
    data = mujoco.MjData(rat.model)
    io = BodyInterface(rat, data, seed=seed)
    mujoco.mj_forward(rat.model, data)
    io.reset()
    substeps = round(0.02 / rat.model.opt.timestep)
    controls = smooth_random_controls(round(seconds / 0.02), rat.model.nu, np.random.default_rng(seed), hold_steps=5)
    for u in controls:
        io.apply_action(u)
        for _ in range(substeps):
            mujoco.mj_step(rat.model, data)
    return data


@pytest.mark.parametrize("variant", ["head_fixed", "forelimb"])
def test_torso_stays_put_when_head_fixed(bodies, variant):
    rat = bodies[variant]
    start = mujoco.MjData(rat.model)
    mujoco.mj_forward(rat.model, start)
    data = _run_random(rat, 2.0)
    torso = rat.model.body("torso").id
    np.testing.assert_allclose(data.xpos[torso], start.xpos[torso], atol=1e-12)
    np.testing.assert_allclose(data.xquat[torso], start.xquat[torso], atol=1e-12)
    assert np.abs(data.qvel).max() > 1e-3  # the limb did move


@pytest.mark.parametrize("variant", body.VARIANTS)
def test_ten_seconds_of_random_actions_is_stable(bodies, variant):
    rat = bodies[variant]
    data = _run_random(rat, 10.0, seed=1)
    assert np.all(np.isfinite(data.qpos)) and np.all(np.isfinite(data.qvel))
    warnings = {mujoco.mjtWarning(i).name: int(data.warning[i].number) for i in range(len(data.warning))}
    assert not any(warnings.values()), warnings


def test_position_servos_versus_torque_motors():
    pos, tor = body.build("head_fixed", actuation="position"), body.build("head_fixed", actuation="torque")
    mp, mt = pos.model, tor.model
    assert np.all(mp.actuator_biastype == mujoco.mjtBias.mjBIAS_AFFINE)
    assert np.all(mp.actuator_biasprm[:, 1] < 0)  # -kp: a position servo
    assert np.all(mt.actuator_biastype == mujoco.mjtBias.mjBIAS_NONE)
    np.testing.assert_array_equal(mt.actuator_biasprm, 0.0)
    np.testing.assert_allclose(mt.actuator_gainprm[:, 0], np.abs(mt.actuator_forcerange).max(axis=1))
    # both keep the 40 ms first-order activation filter
    for m in (mp, mt):
        assert np.all(m.actuator_dyntype == mujoco.mjtDyn.mjDYN_FILTER)
        np.testing.assert_allclose(m.actuator_dynprm[:, 0], 0.04)
    # physics: at full activation a torque motor pushes with exactly its force range
    data = mujoco.MjData(mt)
    data.act[:] = 1.0
    mujoco.mj_forward(mt, data)
    np.testing.assert_allclose(data.actuator_force, mt.actuator_gainprm[:, 0])
    # a position servo at zero activation pulls a displaced joint back toward its target
    data = mujoco.MjData(mp)
    knee = mp.joint("knee_R")
    data.qpos[knee.qposadr[0]] = 1.2
    mujoco.mj_forward(mp, data)
    assert data.actuator_force[mp.actuator("knee_R").id] < 0


def test_delay_line_returns_observation_from_k_steps_earlier():
    k = 3
    seqs = {}
    for delay in (0, k):
        rat = body.build("forelimb", proprio_delay_steps=delay)
        data = mujoco.MjData(rat.model)
        mujoco.mj_forward(rat.model, data)
        io = BodyInterface(rat, data, seed=0)
        io.reset()
        controls = smooth_random_controls(40, rat.model.nu, np.random.default_rng(4), hold_steps=3)
        seq = []
        for u in controls:
            seq.append(io.observe(["proprioception"])["proprioception"])
            io.apply_action(u)
            for _ in range(10):
                mujoco.mj_step(rat.model, data)
        seqs[delay] = np.array(seq)
    undelayed, delayed = seqs[0], seqs[k]
    assert np.abs(np.diff(undelayed, axis=0)).max() > 1e-3  # the signal changes step to step
    np.testing.assert_array_equal(delayed[k:], undelayed[:-k])
    for t in range(k):
        np.testing.assert_array_equal(delayed[t], undelayed[0])  # reset state until the line fills


def test_noise_is_seeded_and_applied():
    rat = body.build("forelimb", obs_noise=0.1, action_noise=0.2)
    outs = []
    for seed in (7, 7, 8):
        data = mujoco.MjData(rat.model)
        mujoco.mj_forward(rat.model, data)
        io = BodyInterface(rat, data, seed=seed)
        io.reset()
        obs = io.observe(["proprioception", "touch"])
        ctrl = io.apply_action(np.zeros(rat.model.nu))
        outs.append(np.concatenate([obs["proprioception"], obs["touch"], ctrl]))
    np.testing.assert_array_equal(outs[0], outs[1])
    assert not np.array_equal(outs[0], outs[2])
    clean = rat.read_block("proprioception", mujoco.MjData(rat.model))
    assert 0.05 < np.std(outs[0][: len(clean)] - clean) < 0.2


def test_end_effectors_are_in_the_torso_frame():
    rat = body.build("free")
    data = mujoco.MjData(rat.model)
    mujoco.mj_forward(rat.model, data)
    before = rat.read_block("end_effectors", data)
    data.qpos[:3] += [0.3, -0.2, 0.1]  # move and rotate the whole rat by 90 degrees about z
    data.qpos[3:7] = [np.cos(np.pi / 4), 0, 0, np.sin(np.pi / 4)]
    mujoco.mj_forward(rat.model, data)
    np.testing.assert_allclose(rat.read_block("end_effectors", data), before, atol=1e-9)
    assert before.shape == (12,)


def test_observation_block_sizes(bodies):
    sizes = bodies["free"].block_sizes()
    assert {k: v for k, v in sizes.items() if not k.startswith("walker/")} == {
        "proprioception": 30 * 2 + 8 * 2 + 38, "vestibular": 9, "touch": 4, "end_effectors": 12}
    # the virtual rodent's observation set (dm_control's rodent walker), 158 floats as in Merel et al. 2020
    assert sum(v for k, v in sizes.items() if k.startswith("walker/")) == 30 * 2 + 8 * 2 + 38 + 15 + 1 + 12 + 3 + 3 + 3 + 3 + 4
    assert sizes["walker/appendages_pos"] == 15 and sizes["walker/sensors_touch"] == 4
    assert bodies["forelimb"].block_sizes()["proprioception"] == 8 * 3
    assert not any(k.startswith("walker/") for k in bodies["forelimb"].block_sizes())


@pytest.mark.parametrize("kwargs,valid", [
    ({"variant": "quadruped"}, "free, head_fixed, forelimb"),
    ({"variant": "free", "actuation": "muscle"}, "position, torque"),
    ({"variant": "forelimb", "side": "middle"}, "left, right"),
])
def test_bad_input_names_valid_choices(kwargs, valid):
    with pytest.raises(ValueError, match=valid):
        body.build(**kwargs)


def test_cli_bad_input_is_one_line_and_exit_2(tmp_path):
    for args in (["render", "body.variant=quadruped"], ["render", "body=quadruped"], ["render", "body.side=up"]):
        proc = subprocess.run([sys.executable, "-m", "windtunnel", *args], capture_output=True, text=True,
                              cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "valid" in lines[0] and "Traceback" not in proc.stderr


def test_cli_info_lists_variants(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "windtunnel", "info"], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for variant in body.VARIANTS:
        assert variant in proc.stdout
    assert "0.3378" in proc.stdout


@needs_gl
def test_rendered_frame_is_not_blank(tmp_path):
    import imageio.v2 as imageio

    from body.render import render_rollout

    out = render_rollout(body.build("free"), tmp_path, seconds=0.2, width=160, height=120, camera="side")
    still = imageio.imread(out["still"])
    assert still.shape == (120, 160, 3) and still.std() > 10
    assert out["video"].stat().st_size > 1000 and out["frames"] >= 5


@needs_gl
def test_egocentric_camera_block():
    rat = body.build("head_fixed", vision=True)
    data = mujoco.MjData(rat.model)
    mujoco.mj_forward(rat.model, data)
    io = BodyInterface(rat, data)
    try:
        obs = io.observe(["egocentric_camera"])["egocentric_camera"]
    finally:
        io.close()
    assert obs.shape == (64 * 64 * 3,) and obs.dtype == np.float32
    assert 0.0 <= obs.min() and obs.max() <= 1.0 and obs.std() > 0.01
