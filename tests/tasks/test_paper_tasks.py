"""The virtual rodent's tasks rebuilt natively, checked against dm_control's reference environments."""

import functools
import warnings
from types import SimpleNamespace

import mujoco
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import tasks
from tasks.two_touch import TwoTouchLogic


@pytest.fixture(scope="module")
def reference_two_touch():
    """dm_control's two-touch environment as basic_rodent_2020 builds it, camera off."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from dm_control import composer
        from dm_control.locomotion.arenas import floors
        from dm_control.locomotion.props import target_sphere
        from dm_control.locomotion.tasks import reach
        from dm_control.locomotion.walkers import rodent

        walker = rodent.Rat(observable_options={"egocentric_camera": dict(enabled=False)})
        task = reach.TwoTouch(walker=walker, arena=floors.Floor(size=(10.0, 10.0)),
                              target_builders=[functools.partial(target_sphere.TargetSphereTwoTouch, radius=0.025)],
                              randomize_spawn_rotation=True, target_type_rewards=[25.0], target_area=(1.5, 1.5),
                              physics_timestep=0.001, control_timestep=0.02)
        walker.observables.egocentric_camera.enabled = False
        env = composer.Environment(time_limit=30, task=task, random_state=np.random.RandomState(0),
                                   strip_singleton_obs_buffer_dim=True)
        env.reset()
    return env, task, walker


def _copy_state(ours, ref_physics, rng):
    """Put the same random (but physically plausible) joint state into both models."""
    m, d = ours.model, ours.data
    q = rng.uniform(-0.3, 0.3, m.nq)
    q[:3] = [0.1, -0.2, 0.5]  # in the air: contact models of the two floors are the arenas', not the body's
    q[3:7] = [np.cos(0.4), 0, 0, np.sin(0.4)]
    v = rng.normal(0, 0.5, m.nv)
    act = rng.uniform(-1, 1, m.na)
    d.qpos[:], d.qvel[:], d.act[:] = q, v, act
    mujoco.mj_forward(m, d)
    rp = ref_physics
    assert rp.model.nq == m.nq and rp.model.nv == m.nv and rp.model.na == m.na
    for j in range(1, m.njnt):  # same joints in the same order, names prefixed by the walker
        assert rp.model.id2name(j, "joint") == f"walker/{m.joint(j).name}"
    # our free joint sits on the torso; the reference's on the walker's root frame, with the torso
    # offset inside it: the same torso pose needs the frame placed at torso - R offset
    torso = rp.model.name2id("walker/torso", "body")
    assert np.allclose(rp.model.body_quat[torso], [1, 0, 0, 0])
    rot = np.zeros(9)
    mujoco.mju_quat2Mat(rot, q[3:7])
    rot = rot.reshape(3, 3)
    offset = rot @ rp.model.body_pos[torso]  # torso origin relative to the frame, world axes
    ref_q, ref_v = q.copy(), v.copy()
    ref_q[:3] = q[:3] - offset
    ref_v[:3] = v[:3] - np.cross(rot @ v[3:6], offset)  # free-joint angular velocity is in the local frame
    with rp.reset_context():
        rp.data.qpos[:], rp.data.qvel[:], rp.data.act[:] = ref_q, ref_v, act
    rp.forward()  # actuator forces, accelerations and sensors for the new state


def test_two_touch_observations_have_the_reference_names_sizes_and_values(reference_two_touch):
    env, task, walker = reference_two_touch
    ref_spec = {k: int(np.prod(v.shape)) for k, v in env.observation_spec().items() if int(np.prod(v.shape)) > 0}
    ours = tasks.make("two_touch", physics_dt=0.001)
    ours.reset(seed=0)
    layout = {k: s.stop - s.start for k, s in ours.observation_layout().items()}
    assert layout == ref_spec  # (the reference's empty force/torque sensor blocks carry nothing)
    _copy_state(ours, env.physics, np.random.default_rng(1))
    obs = ours._observe()
    rs = np.random.RandomState(0)
    for name, sl in ours.observation_layout().items():
        if name == "task_logic":
            continue
        observable = getattr(walker.observables, name.removeprefix("walker/"))
        ref = np.ravel(observable.observation_callable(env.physics, rs)())
        # the accelerometer depends on the dynamics, and the reference's walker hangs from an attachment
        # body of 10 mg that ours lacks: agreement to 1 %; every kinematic block agrees exactly
        rtol = 1e-2 if name == "walker/sensors_accelerometer" else 1e-5
        np.testing.assert_allclose(obs[sl], ref, rtol=rtol, atol=1e-5, err_msg=name)


def test_two_touch_reward_matches_the_reference_on_identical_states(reference_two_touch):
    env, task, _ = reference_two_touch
    ours = tasks.make("two_touch", physics_dt=0.001)
    rng = np.random.default_rng(2)
    for _ in range(5):
        ours.reset(seed=int(rng.integers(1000)))
        _copy_state(ours, env.physics, rng)
        target = env.physics.bind(task._targets[0][0].geom)
        pos = np.r_[rng.uniform(-0.2, 0.2, 2), 0.14]
        target.pos = pos  # a model field: no reset needed
        env.physics.forward()
        ours.data.mocap_pos[ours._orb_mocap] = pos
        mujoco.mj_forward(ours.model, ours.data)
        task._state_logic = 0
        task._target_rewarded_once = [[True]]  # no touch reward in this comparison: only the dense term
        ref = task.get_reward(env.physics)
        assert ours.shaping_reward() == pytest.approx(ref, abs=1e-6)
        assert ref > 1e-3  # the hands are near the orb: the term is not trivially zero


class _Contacts:
    """A stand-in physics for the reference orb: chosen contacts at a chosen time, real bindings."""

    def __init__(self, physics):
        self._physics = physics
        self.data = SimpleNamespace(contact=[])
        self.t = 0.0

    def time(self):
        return self.t

    def bind(self, x):
        return self._physics.bind(x)


SEQUENCES = {  # touching intervals (s) -> total touch reward; both implementations must agree step by step
    "correct pair": ([(1.0, 1.05), (1.85, 1.86)], 50),
    "too soon": ([(1.0, 1.05), (1.45, 1.5)], 25),
    "too late": ([(1.0, 1.05), (1.97, 2.0)], 25),
    "held through the debounce": ([(1.0, 1.5)], 25),
    "never a second": ([(1.0, 1.05)], 25),
    "two trials": ([(0.5, 0.51), (1.3, 1.31), (2.0, 2.01), (2.8, 2.81)], 100),
    "touch during the time-out": ([(0.5, 0.51), (0.9, 0.91), (1.6, 1.61), (2.8, 2.81), (3.62, 3.63)], 75),
    "still touching when the orb moves": ([(1.0, 1.05), (1.85, 1.9)], 75),  # the new orb is touched at once
}


@pytest.mark.parametrize("name", sorted(SEQUENCES))
def test_two_touch_timing_logic_matches_the_reference_touch_by_touch(reference_two_touch, name):
    env, task, walker = reference_two_touch
    physics = env.physics
    target = task._targets[0][0]
    hand_geom = next(iter(task._hand_geomids))
    orb_geom = physics.bind(target.geom).element_id
    fake = _Contacts(physics)
    far = np.array([1000.0, 1000.0, 0.14])  # the dense term vanishes: only touch rewards remain

    def park_orb():
        physics.bind(target.geom).pos = far
        physics.forward()

    task._randomize_targets(physics, np.random.RandomState(0))
    park_orb()
    ours = TwoTouchLogic()
    touching, expected_total = SEQUENCES[name]
    ref_rewards, our_rewards = [], []
    for k in range(1, 250):  # 5 s of 20 ms control steps, 1 ms substeps
        if task._must_randomize_targets:
            task._randomize_targets(physics, np.random.RandomState(k))
            task._must_randomize_targets = False
            park_orb()
        if ours.wants_new_target:
            ours.new_target()
        for s in range(1, 21):
            t = round((k - 1) * 0.02 + s * 0.001, 6)
            on = any(a <= t < b for a, b in touching)
            fake.t = t
            fake.data.contact = [SimpleNamespace(geom1=hand_geom, geom2=orb_geom)] if on else []
            target._update_activation(fake)
            ours.on_substep(t, on)
        fake.t = t
        ref_rewards.append(task.get_reward(fake))
        our_rewards.append(ours.on_control_step(t)[0])
    np.testing.assert_allclose(our_rewards, ref_rewards, atol=1e-9)
    assert sum(ref_rewards) == pytest.approx(expected_total)


def test_two_touch_runs_is_seeded_and_passes_check_env():
    env = tasks.make("two_touch")
    check_env(env, skip_render_check=True)
    a, b = tasks.make("two_touch"), tasks.make("two_touch")
    oa, ia = a.reset(seed=7)
    ob, ib = b.reset(seed=7)
    assert np.array_equal(oa, ob) and np.array_equal(ia["orb_pos_m"], ib["orb_pos_m"])
    assert np.all(np.abs(ia["orb_pos_m"][:2]) <= 1.5) and ia["orb_pos_m"][2] == pytest.approx(0.14)
    oc, ic = b.reset(seed=8)
    assert not np.array_equal(ia["orb_pos_m"], ic["orb_pos_m"])
    assert "two_touch" in tasks.names()


def test_a_hand_on_the_orb_registers_touches_and_is_rewarded():
    env = tasks.make("two_touch")
    env.reset(seed=0)
    hand = env.data.xpos[env.model.body("hand_R").id].copy()
    env.data.mocap_pos[env._orb_mocap] = hand  # put the orb on the right paw
    _, r, *_ , info = env.step(np.zeros(env.action_space.shape))
    assert ("first_touch", pytest.approx(info["t_s"])) in [(e, t) for e, t in info["events"]] or \
        any(e == "first_touch" for e, _ in info["events"])
    assert r > 25.0 and info["task_logic"] == 1
