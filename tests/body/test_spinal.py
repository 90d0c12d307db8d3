"""The spinal locomotion layer: oscillator phase relations, standing, walking, turning, determinism,
the descending-command action in tasks, rendering, and gait statistics from foot contacts."""

import json
import subprocess
import sys

import mujoco
import numpy as np
import pytest

import body
from body import spinal
from comparisons.analyses.gait import gait_name, gait_statistics, walk_run_speed_m_s

from test_body import needs_gl  # same folder (pytest prepends it to sys.path)


@pytest.fixture(scope="module")
def free_model():
    return body.build("free").model


def _phase_relations(phase: np.ndarray) -> np.ndarray:
    """Each limb's phase relative to LH, cycles in [0, 1). phase: [..., 4]"""
    return (phase - phase[..., 2:3]) % 1.0


def _circular_distance(a, b):
    d = np.abs(np.asarray(a) - np.asarray(b)) % 1.0
    return np.minimum(d, 1.0 - d)


@pytest.mark.parametrize("gait", ["walk", "trot", "gallop"])
def test_oscillators_converge_to_and_hold_each_gait(free_model, gait):
    layer = spinal.SpinalLayer(free_model, gait=gait)
    data = mujoco.MjData(free_model)
    mujoco.mj_forward(free_model, data)
    layer.phase = np.array([0.9, 0.1, 0.3, 0.6])  # far from every gait
    target = _phase_relations(np.array(spinal.GAIT_PHASES[gait]))
    for k in range(150):  # 3 s at 20 ms
        layer.step(spinal.Command(0.4, 0.0), data, 0.02)
        if k == 100:
            held = _phase_relations(layer.phase)
    assert np.all(_circular_distance(_phase_relations(layer.phase), target) < 0.02)
    assert np.all(_circular_distance(held, target) < 0.02)  # and held, not passed through


@pytest.mark.parametrize("gait", ["walk", "trot", "gallop"])
def test_oscillators_step_at_the_rat_step_cycle_for_the_speed(gait):
    """Run the layer alone (no floor: the body cannot move, so the speed regulator saturates) and
    count each limb's cycles: the rhythm is set by the command, so the period must still be the
    rat's step cycle at the commanded speed from the cited table (Gorska et al. 1999), whatever gait
    the phase relations follow and however far the regulator has pushed the stride."""
    from comparisons.reference import entry

    model = body.build("free", floor=False).model
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    for speed_m_s, step_cycle_s in entry("gorska1999.step_cycle")["value"].items():
        layer = spinal.SpinalLayer(model, gait=gait)
        unwrapped, last = np.zeros(4), layer.phase.copy()
        for k in range(1100):  # 22 s; count the last 20 s
            layer.step(spinal.Command(speed_m_s, 0.0), data, 0.02)
            if k >= 100:
                unwrapped += (layer.phase - last) % 1.0
            last = layer.phase.copy()
        assert layer.drive_m_s > speed_m_s  # the regulator asks for longer strides, not faster ones
        np.testing.assert_allclose(20.0 / unwrapped, step_cycle_s, rtol=0.01)


def test_drive_rhythm_steps_at_the_rat_step_cycle_for_the_drive():
    """The earlier layer (`rhythm="drive"`): the regulator's drive sets the rhythm. With the
    regulators off the drive is the command, so the period is the rat's step cycle at it."""
    from comparisons.reference import entry

    model = body.build("free", floor=False).model
    params = spinal.default_params("drive")
    params["speed_pi"] = np.zeros(2)
    params["turn_pi"] = np.zeros(2)
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    for speed_m_s, step_cycle_s in entry("gorska1999.step_cycle")["value"].items():
        layer = spinal.SpinalLayer(model, params, rhythm="drive")
        unwrapped, last = np.zeros(4), layer.phase.copy()
        for _ in range(1000):  # 20 s
            layer.step(spinal.Command(speed_m_s, 0.0), data, 0.02)
            unwrapped += (layer.phase - last) % 1.0
            last = layer.phase.copy()
        np.testing.assert_allclose(20.0 / unwrapped, step_cycle_s, rtol=0.01)


def test_a_sharp_turn_slows_the_rat_and_turning_in_place_steps(free_model):
    layer = spinal.SpinalLayer(free_model)
    data = mujoco.MjData(free_model)
    mujoco.mj_forward(free_model, data)
    layer.step(spinal.Command(0.4, np.pi), data, 0.02)  # 40 cm/s at 180 deg/s: 1.26 m/s^2 centripetal
    assert layer.command.turn_rad_s == pytest.approx(np.pi)
    assert layer.command.speed_m_s == pytest.approx(spinal.MAX_LATERAL_ACCEL_M_S2 / np.pi)
    layer.step(spinal.Command(0.4, 0.5), data, 0.02)  # a gentle turn keeps its speed
    assert layer.command.speed_m_s == pytest.approx(0.4) and layer.command.turn_rad_s == pytest.approx(0.5)
    layer.reset()
    turn = np.pi / 2
    for _ in range(50):  # 1 s turning on the spot: the locomotor drive settles
        layer.step(spinal.Command(0.0, turn), data, 0.02)
    # A turn on the spot is stepped like walking at TURN_STEP_RADIUS_M x the turning rate.
    assert layer.rhythm_m_s == pytest.approx(spinal.TURN_STEP_RADIUS_M * turn, rel=0.02)


def test_gait_follows_speed_with_the_gallop_inside_the_rat_transition():
    from comparisons.reference import value_range

    assert spinal.gait_for_speed(0.1) == "walk" and spinal.gait_for_speed(0.2) == "trot"
    assert spinal.gait_for_speed(0.2, walk_trot_m_s=spinal.WALK_TROT_BEFORE_M_S) == "walk"
    lo, hi = value_range("gillis2001.gallop_onset")  # Gillis & Biewener 2001
    assert spinal.gait_for_speed(lo - 0.01) == "trot" and spinal.gait_for_speed(hi) == "gallop"


def test_fresh_starts_score_the_parent_again_so_a_lucky_start_does_not_stick():
    """The tuner's evolution strategy with --fresh-starts: each generation scores the parent and its children from
    the same new starts. A parent whose cost came from lucky starts (0 here) gives way to a child that is better from
    today's starts; with the fixed starts it would be kept on its old score."""
    from benchmarks.tune_spinal import es_generation

    def objective(vector, seed):  # the best parameter depends on the start: an objective a fixed start lets one fit
        return float(abs(vector[0] - seed))

    parent, children = np.array([5.0]), np.array([[4.0], [9.0]])
    fixed = es_generation(objective, map, parent, 0.0, children, starts=3, fresh_starts=False)
    assert fixed[0] is parent and fixed[1:] == (0.0, False)
    fresh = es_generation(objective, map, parent, 0.0, children, starts=3, fresh_starts=True)
    np.testing.assert_array_equal(fresh[0], [4.0])
    assert fresh[1:] == (1.0, True)
    kept = es_generation(objective, map, parent, 0.0, np.array([[9.0]]), starts=3, fresh_starts=True)
    assert kept[0] is parent and kept[1:] == (2.0, False)  # the parent's cost from today's starts


def test_the_tuner_asks_for_the_rat_load_sharing_of_the_reference_table():
    from benchmarks import tune_spinal
    from comparisons.reference import entry

    assert tune_spinal.RAT_FORELIMB_LOAD_SHARE == entry("giszter2008.fore_load_share")["value"]


def test_zero_command_stands_still_for_ten_seconds(free_model):
    w = spinal.walk(free_model, spinal.Command(0.0, 0.0), 10.0, seed=0)
    assert w.fell_at_s is None
    assert np.linalg.norm(w.position_m[-1] - w.position_m[0]) < 0.03  # m
    assert abs(w.heading_rad[-1] - w.heading_rad[0]) < 0.2  # rad: settling from the noisy start may turn it a few degrees
    assert w.upright.min() > 0.9


def test_constant_forward_command_walks_forward(free_model):
    w = spinal.walk(free_model, spinal.Command(0.3, 0.0), 5.0, seed=1)
    assert w.fell_at_s is None
    heading0 = w.heading_rad[0]
    displacement = w.position_m[-1] - w.position_m[0]
    along = displacement @ np.array([np.cos(heading0), np.sin(heading0)])
    assert along > 0.8  # m in 5 s at 0.3 m/s: within ~ half of the command at least
    assert w.mean_speed_m_s(1.5) == pytest.approx(0.3, rel=0.3)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_turn_command_turns_the_heading_the_right_way(free_model, sign):
    w = spinal.walk(free_model, spinal.Command(0.2, sign * np.pi / 2), 4.0, seed=2)
    assert w.fell_at_s is None
    turned = w.heading_rad[-1] - w.heading_rad[w.t_s > 1.0][0]
    assert sign * turned > 0.5 * np.pi / 2 * 3.0 * 0.5  # at least half of 90 deg/s over the last 3 s


def test_layer_is_deterministic_under_a_seed(free_model):
    a = spinal.walk(free_model, spinal.Command(0.3, 0.5), 1.5, seed=7)
    b = spinal.walk(free_model, spinal.Command(0.3, 0.5), 1.5, seed=7)
    c = spinal.walk(free_model, spinal.Command(0.3, 0.5), 1.5, seed=8)
    np.testing.assert_array_equal(a.position_m, b.position_m)
    np.testing.assert_array_equal(a.phase, b.phase)
    assert not np.array_equal(a.position_m, c.position_m)


def test_goal_steering_turns_towards_the_goal(free_model):
    data = mujoco.MjData(free_model)
    mujoco.mj_forward(free_model, data)  # torso at the origin heading +x
    torso_xy = data.xpos[free_model.body("torso").id, :2]
    for goal_y, sign in ((0.3, 1.0), (-0.3, -1.0)):
        steer = spinal.GoalSteering(0)
        steer.goal = torso_xy + np.array([0.0, goal_y])  # 90 deg to the left / right
        cmd = steer(0.0, data)
        assert sign * cmd.turn_rad_s == pytest.approx(min(2.0 * np.pi / 2, spinal.MAX_TURN_RAD_S))
        assert cmd.speed_m_s == pytest.approx(0.3 * 0.2)  # facing away: slow


def test_changing_commands_steer_the_rat_to_goals_without_falling(free_model):
    """Forager-like commands that change every 0.1 s (turn to a goal, next goal when reached)."""
    steer = spinal.GoalSteering(3)
    w = spinal.walk(free_model, steer, 10.0, seed=3)
    assert w.fell_at_s is None
    assert steer.goals_reached >= 3


def test_random_commands_are_an_untrained_policys_held_for_their_period():
    def actions(commands, n):  # the circuit's actions behind n commands, one per hold period [n, 2]
        cs = [commands(0.1 * k) for k in range(n)]
        return np.array([[c.speed_m_s / (0.5 * spinal.MAX_SPEED_M_S) - 1.0, c.turn_rad_s / spinal.MAX_TURN_RAD_S] for c in cs])

    noisy = spinal.RandomCommands(0, noise_sd=0.37, hold_s=0.1)
    first = [noisy(0.05 * k).speed_m_s for k in range(4)]
    assert first[0] == first[1] != first[2] == first[3]  # a new command every 0.1 s, held in between
    a = actions(spinal.RandomCommands(1, noise_sd=0.37), 4000)
    np.testing.assert_allclose(a.mean(axis=0), 0.0, atol=0.03)  # around 40 cm/s straight
    np.testing.assert_allclose(a.std(axis=0), 0.37, rtol=0.05)
    u = actions(spinal.RandomCommands(1, noise_sd=None, hold_s=0.1), 4000)
    np.testing.assert_allclose(u.std(axis=0), 1 / np.sqrt(3), rtol=0.05)  # uniform over [-1, 1]
    assert (actions(spinal.RandomCommands(7), 50) == actions(spinal.RandomCommands(7), 50)).all()


def test_action_maps_onto_the_command_ranges():
    stop = spinal.command_from_action(np.array([-1.0, 0.0]))
    assert stop.speed_m_s == 0.0 and stop.turn_rad_s == 0.0
    fast = spinal.command_from_action(np.array([1.0, -1.0]))
    assert fast.speed_m_s == spinal.MAX_SPEED_M_S and fast.turn_rad_s == -spinal.MAX_TURN_RAD_S
    assert spinal.command_from_action(np.array([5.0, 5.0])).speed_m_s == spinal.MAX_SPEED_M_S  # clipped
    back = spinal.command_from_action(spinal.action_from_command(spinal.Command(0.3, -1.0, 0.6), rear_channel=True))
    assert (back.speed_m_s, back.turn_rad_s, back.rear) == pytest.approx((0.3, -1.0, 0.6))  # the inverse
    assert spinal.action_from_command(spinal.Command(2.0, 9.0)).tolist() == [1.0, 1.0]  # beyond the ranges: clipped


def test_the_rear_channel_is_a_third_action_entry_that_stays_down_at_zero():
    assert spinal.command_from_action(np.array([0.0, 0.0])).rear == 0.0  # two entries: no rear channel
    for a, rear in ((-1.0, 0.0), (0.0, 0.0), (0.5, 0.5), (1.0, 1.0), (3.0, 1.0)):
        assert spinal.command_from_action(np.array([0.0, 0.0, a])).rear == rear
    assert body.build("free", spinal={"rear": True}).action_size == spinal.REAR_ACTION_SIZE == 3
    assert body.build("free", spinal=True).action_size == 2
    with pytest.raises(ValueError, match="body.spinal.rear=true needs the spinal layer"):
        body.build("free", spinal={"enabled": False, "rear": True})


def _rear_walk(model, speed_m_s=0.0, seed=0):
    from benchmarks.tune_spinal import RearSchedule

    return spinal.walk(model, RearSchedule(speed_m_s), 5.0, seed=seed)


@pytest.mark.parametrize("speed_m_s", [0.0, 0.3])
def test_a_rear_command_raises_the_forepaws_to_the_two_touch_orb_and_comes_back_down(free_model, speed_m_s):
    """From standing or from a walk: rear from 1.0 to 3.5 s (`tune_spinal.RearSchedule`). Held in the
    rear, a forepaw is at the height of two_touch's orb (its lower edge is 11.5 cm up), the forefeet are
    off the floor, the hind feet carry the rat and it stays in place; afterwards it stands on four feet
    (or walks on)."""
    from tasks.two_touch import ORB_HEIGHT_M, ORB_RADIUS_M

    w = _rear_walk(free_model, speed_m_s, seed=1)
    assert w.fell_at_s is None
    hold = (w.t_s > 2.0) & (w.t_s < 3.5)
    assert w.hand_height_m[hold].min() > ORB_HEIGHT_M - ORB_RADIUS_M
    assert w.foot_down[hold, :2].mean() < 0.05 and w.foot_down[hold, 2:].mean() > 0.9
    assert spinal.load_shares(w.vertical_load_n[hold])["hind"] > 0.6
    assert np.degrees(w.pitch_rad[hold].mean()) < -30  # nose up
    assert np.hypot(*(w.position_m[hold][-1] - w.position_m[hold][0])) < 0.03
    after = w.t_s > 4.5
    assert w.upright[after].min() > 0.9
    if speed_m_s == 0:
        assert w.foot_down[after].all()  # standing on four feet again
    else:
        assert w.forward_speed_m_s[after].mean() > 0.5 * speed_m_s  # walking on
    assert w.hand_height_m[w.t_s < 1.0].max() < 0.05  # before the command: on all fours


def test_a_rear_stops_the_walk_and_the_layer_is_the_gait_layer_without_it(free_model):
    w = _rear_walk(free_model, 0.3, seed=2)
    walking, rearing = (w.t_s > 0.5) & (w.t_s < 1.0), (w.t_s > 2.0) & (w.t_s < 3.5)
    assert w.forward_speed_m_s[walking].mean() > 0.15 and abs(w.forward_speed_m_s[rearing].mean()) < 0.03
    plain = spinal.walk(free_model, spinal.Command(0.3, 0.0), 1.0, seed=2)
    np.testing.assert_array_equal(plain.position_m, w.position_m[:len(plain.t_s)])  # rear 0: the gait layer exactly


def test_the_gallops_own_terms_act_only_in_the_gallop_and_swing_the_spine_once_a_stride(free_model):
    plain = spinal.params_as_lists(spinal.default_params())
    before = spinal.resolve_params({k: v for k, v in plain.items() if k not in spinal.GALLOP_GROUPS})
    assert all(not before[k].any() for k in spinal.GALLOP_GROUPS)  # sets written before them: the gallop as it was
    galloping = {**before, "gallop_lumbar": np.array([0.4, 0.3]), "gallop_cervical": np.array([0.2, 0.6]),
                 "gallop_duty": np.array([-0.1]), "gallop_stride": np.array([0.3, -0.2]),
                 "gallop_hind_offset": np.full(6, 0.1), "gallop_fore_offset": np.full(8, -0.1)}
    trot = [spinal.walk(free_model, spinal.Command(0.4, 0.0), 1.5, params=p, seed=3) for p in (before, galloping)]
    np.testing.assert_array_equal(trot[0].position_m, trot[1].position_m)  # not galloping: untouched, to the bit
    lumbar = free_model.actuator("lumbar_extend").id
    ctrl = []
    spinal.walk(free_model, spinal.Command(0.7, 0.0), 3.0, params=galloping, gait="gallop", seed=3,
                on_step=lambda d: ctrl.append(d.ctrl[lumbar]))
    ctrl = np.array(ctrl[len(ctrl) // 3:])  # [steps] after the rhythm has settled
    assert ctrl.max() - ctrl.min() == pytest.approx(2 * 0.4, rel=0.1)  # the stroke's amplitude
    spectrum = np.abs(np.fft.rfft(ctrl - ctrl.mean()))
    freq_hz = np.fft.rfftfreq(len(ctrl), free_model.opt.timestep)[int(np.argmax(spectrum))]
    assert freq_hz == pytest.approx(spinal.stride_frequency_hz(0.7), rel=0.15)  # once per stride


def test_each_tuning_stage_moves_only_its_own_parameters():
    from benchmarks import tune_spinal

    assert set(tune_spinal.SCALES) == set(spinal.PARAM_SIZES)  # every parameter has a step scale
    stages = tune_spinal.STAGE_GROUPS
    assert set(stages["run"]) == set(spinal.RUN_GROUPS) and set(stages["gallop"]) == set(spinal.GALLOP_GROUPS)
    assert set(stages["rear"]) == set(spinal.REAR_GROUPS)
    # the battery's gait stage leaves the terms that only act in a rear, a gallop or a run to their own stages
    assert not set(stages["gait"]) & set(spinal.RUN_GROUPS + spinal.GALLOP_GROUPS + spinal.REAR_GROUPS)


def _settled_standing(model):
    """A standing rat after 0.5 s of a zero command: all four feet down. (MjData, the layer's params)"""
    data = mujoco.MjData(model)
    layer = spinal.SpinalLayer(model)
    spinal.spawn_standing(model, data, spinal.standing_controls(model))
    for _ in range(25):
        data.ctrl[:] = layer.step(spinal.Command(), data, 0.02)
        mujoco.mj_step(model, data, nstep=10)
    assert layer.foot_contacts(data).all()
    return data


def test_the_running_terms_act_only_at_running_speeds(free_model):
    plain = spinal.params_as_lists(spinal.default_params())
    before = spinal.resolve_params({k: v for k, v in plain.items() if k not in spinal.RUN_GROUPS})
    assert all(not before[k].any() for k in spinal.RUN_GROUPS)  # sets written before them: the layer as it was
    running = {**before, "run_hind_duty": np.array([-0.2]), "run_height_m": np.array([0.09]),
               "run_sag_gain": np.array([1.0, -10.0, 2.0, 0.5])}
    walks = [spinal.walk(free_model, spinal.Command(0.2, 0.0), 1.5, params=p, seed=3) for p in (before, running)]
    np.testing.assert_array_equal(walks[0].position_m, walks[1].position_m)  # walking: untouched, to the bit
    # Running (the body held still, so both layers see the same feet and pelvis): the hindlimbs' pattern stance is
    # run_hind_duty shorter than the forelimbs', which keep theirs.
    # The same in the gallop, on top of the gallop's own stance fraction.
    data = _settled_standing(free_model)
    for speed_m_s, gait in ((0.6, "trot"), (0.8, "gallop")):
        stance = {}
        for name, p in (("before", before), ("running", running)):
            layer, rows = spinal.SpinalLayer(free_model, p), []
            for _ in range(400):
                layer.step(spinal.Command(speed_m_s, 0.0), data, 0.02)
                rows.append(layer.in_stance.copy())
            stance[name] = np.array(rows[100:]).mean(axis=0)  # [4] LF RF LH RH, after the fade-in
            assert layer.current_gait == gait and layer.running_level == 1.0
        np.testing.assert_allclose(stance["running"][:2], stance["before"][:2], atol=0.02)
        np.testing.assert_allclose(stance["running"][2:], stance["before"][2:] - 0.2, atol=0.03)


def test_the_height_reflex_extends_the_stance_hindlimbs_in_proportion_to_the_pelvis_sag(free_model):
    data = _settled_standing(free_model)
    shipped = spinal.default_params()
    gains = np.array([1.0, -2.0, 1.5, 0.5])  # per m of sag: small, so no control reaches its range end
    contact_z = spinal.SpinalLayer(free_model)._foot_contacts(data, hind_ground=True)[1]
    height_m = float(data.xpos[free_model.body("pelvis").id, 2]) - contact_z  # the pelvis above the hind feet's ground
    hind = np.array([free_model.actuator(n.format(s=s)).id for s in "LR" for n in spinal.HIND_JOINTS[:4]])  # [8]
    for sag_m, acting_m in ((0.01, 0.01), (-0.005, -0.005), (0.2, spinal.MAX_SAG_M)):  # saturates at MAX_SAG_M
        ctrl = {}
        for name, g in (("off", np.zeros(4)), ("on", gains)):
            layer = spinal.SpinalLayer(free_model, {**shipped, "run_height_m": np.array([height_m + sag_m]),
                                                    "run_sag_gain": g})
            for _ in range(50):  # at 60 cm/s: the running terms fully in
                c = layer.step(spinal.Command(0.6, 0.0), data, 0.02)
            ctrl[name], stance = c, layer.in_stance
        assert layer.running_level == 1.0 and layer.hind_ground_z_m == pytest.approx(contact_z)
        change = (ctrl["on"] - ctrl["off"])[hind].reshape(2, 4)  # [LH/RH, hip knee ankle toe]
        unclipped = ((np.abs(ctrl["on"][hind]) < 1) & (np.abs(ctrl["off"][hind]) < 1)).reshape(2, 4)
        expected = np.where(stance[2:, None], acting_m * gains[None, :], 0.0)  # swing limbs: no reflex
        np.testing.assert_allclose(change[unclipped], expected[unclipped], atol=1e-9)
        assert unclipped[:, 1].all() and unclipped.sum() >= 4 and stance[2:].any()  # the knees at least
        others = np.setdiff1d(np.arange(free_model.nu), hind)
        np.testing.assert_array_equal(ctrl["on"][others], ctrl["off"][others])  # forelimbs and spine untouched


def test_the_shipped_gallop_outruns_the_trot_into_the_rat_gallop_range(free_model):
    from comparisons.reference import value_range

    gallop_onset_m_s = value_range("gillis2001.gallop_onset")[0]  # Gillis & Biewener 2001: 0.60-0.75 m/s
    gallop = spinal.walk(free_model, spinal.Command(0.8, 0.0), 5.0, seed=1)
    trot = spinal.walk(free_model, spinal.Command(0.6, 0.0), 5.0, seed=1)  # the fastest command still trotted
    assert gallop.fell_at_s is None and trot.fell_at_s is None
    assert gallop.mean_speed_m_s(2.0) > gallop_onset_m_s > trot.mean_speed_m_s(2.0) + 0.05


def test_the_wall_stop_halts_the_rat_at_a_wall_where_without_it_it_walks_on_and_topples():
    rat = body.build("free")
    rat.spec.worldbody.add_geom(name="wall", type=mujoco.mjtGeom.mjGEOM_BOX, size=[0.01, 3.0, 0.15], pos=[0.5, 0, 0.15])
    model = rat.recompile()
    for speed_m_s in (0.3, 0.4):  # a trot, and one with the running terms half in (a 10 s seeded benchmark counts the falls)
        command = spinal.Command(speed_m_s, 0.0)  # straight at the wall (no seed: heading +x)
        on = spinal.walk(model, command, 6.0)
        assert on.fell_at_s is None
        assert on.position_m[:, 0].max() < 0.5 - 0.04  # the torso stays a head's length short of the wall
        assert abs(on.forward_speed_m_s[on.t_s > 5.0].mean()) < 0.05  # stopped there, still commanded to walk
        off = spinal.walk(model, command, 6.0, wall_stop=False)
        assert off.fell_at_s is not None  # walked on into it and toppled
    command = spinal.Command(0.4, 0.0)
    # open floor: the floor under the jaw is not a wall, so walking is untouched
    free = body.build("free").model
    plain = [spinal.walk(free, command, 1.5, seed=4, wall_stop=s) for s in (True, False)]
    np.testing.assert_array_equal(plain[0].position_m, plain[1].position_m)


def test_a_rearing_rat_is_not_fallen_but_a_rolled_or_toppled_one_is():
    def rot(roll_deg=0.0, pitch_up_deg=0.0):  # torso axes (columns) after pitching nose-up, then tipping sideways
        p, r = np.radians(pitch_up_deg), np.radians(roll_deg)
        pitch = np.array([[np.cos(p), 0, -np.sin(p)], [0, 1, 0], [np.sin(p), 0, np.cos(p)]])
        tip = np.array([[1, 0, 0], [0, np.cos(r), -np.sin(r)], [0, np.sin(r), np.cos(r)]])  # about the world's x
        return tip @ pitch

    assert spinal.has_fallen(rot(pitch_up_deg=70), 0.08)  # on all fours, a torso 70 deg up has fallen
    assert not spinal.has_fallen(rot(pitch_up_deg=70), 0.08, rear_level=1.0)  # rearing it has not
    assert spinal.has_fallen(rot(pitch_up_deg=70, roll_deg=70), 0.08, rear_level=1.0)  # rolled over
    assert spinal.has_fallen(rot(pitch_up_deg=130), 0.08, rear_level=1.0)  # over backwards
    assert spinal.has_fallen(rot(), 0.01, rear_level=1.0) and not spinal.has_fallen(rot(), 0.06)


def test_falls_are_judged_by_the_torso_height_above_the_ground_below_it_not_above_z_0():
    command = spinal.Command()  # standing
    flat = spinal.walk(body.build("free").model, command, 2.0)
    rat = body.build("free")
    rat.spec.worldbody.add_geom(name="platform", type=mujoco.mjtGeom.mjGEOM_BOX, size=[1.0, 1.0, 0.05], pos=[0, 0, 0.05])
    # a visible geom that does not collide (a marker, a food pellet) is not ground, even when under the torso
    rat.spec.worldbody.add_geom(name="marker", type=mujoco.mjtGeom.mjGEOM_BOX, size=[1.0, 1.0, 0.001], pos=[0, 0, 0.13],
                                contype=0, conaffinity=0)
    # nor is a prop that moves (maze_forage's orbs are mocap bodies the rat touches); parked out of the way for now
    orb = rat.spec.worldbody.add_body(name="orb", mocap=True, pos=[0, 0, -1.0])
    orb.add_geom(name="orb", type=mujoco.mjtGeom.mjGEOM_SPHERE, size=[0.01, 0, 0])
    model = rat.recompile()
    raised = spinal.walk(model, command, 2.0)  # standing on a 10 cm platform
    assert raised.fell_at_s is None
    np.testing.assert_allclose(raised.torso_height_m, flat.torso_height_m, atol=0.005)
    assert raised.torso_height_m.min() > 0.05
    # the torso level but 2 cm above the platform's top (crawling on it): fallen, though 12 cm above z = 0
    data = mujoco.MjData(model)
    layer = spinal.SpinalLayer(model)
    spinal.spawn_standing(model, data, spinal.standing_controls(model))
    torso = model.body("torso").id
    assert not layer.fallen(data)
    data.mocap_pos[model.body("orb").mocapid[0]] = data.xpos[torso] - [0, 0, 0.02]  # an orb right under the torso
    mujoco.mj_forward(model, data)
    assert layer.torso_height_m(data) > 0.05 and not layer.fallen(data)
    data.qpos[model.jnt_qposadr[model.joint("root").id] + 2] -= data.xpos[torso, 2] - 0.12  # the torso at z = 0.12
    mujoco.mj_forward(model, data)
    assert abs(layer.torso_height_m(data) - 0.02) < 1e-6 and layer.fallen(data)


def test_tasks_take_the_descending_command_when_the_layer_is_on():
    import tasks

    env = tasks.make("open_field", body_options={"spinal": True})
    assert env.action_space.shape == (2,)
    obs, _ = env.reset(seed=0)
    for _ in range(25):
        obs, reward, terminated, truncated, info = env.step(np.array([0.0, 0.0], np.float32))  # 0.4 m/s ahead
    assert np.isfinite(obs).all() and "physics_error" not in info
    torso_z = env.data.xpos[env.model.body("torso").id, 2]
    assert torso_z > spinal.FALLEN_HEIGHT_M
    with pytest.raises(ValueError, match="expected \\(2,\\)"):
        env.step(np.zeros(38, np.float32))
    env.close()


def test_the_layer_runs_every_20_ms_whatever_the_command_rate():
    import tasks

    slow = tasks.make("open_field", body_options={"spinal": True}, control_dt=0.1)  # 10 Hz commands
    fast = tasks.make("open_field", body_options={"spinal": True}, control_dt=0.02)
    action = np.array([-0.2, 0.3], np.float32)
    slow.reset(seed=4)
    fast.reset(seed=4)
    for _ in range(3):
        slow.step(action)
        for _ in range(5):
            fast.step(action)
    np.testing.assert_array_equal(slow.data.qpos, fast.data.qpos)
    np.testing.assert_array_equal(slow.io.spinal.phase, fast.io.spinal.phase)
    with pytest.raises(ValueError, match="whole multiple of 0.02 s"):
        tasks.make("open_field", body_options={"spinal": True}, control_dt=0.03)


def test_spinal_layer_needs_the_free_rat():
    with pytest.raises(ValueError, match="variant=free"):
        body.build("forelimb", spinal=True)
    with pytest.raises(ValueError, match="auto, walk, trot, gallop"):
        body.build("free", spinal={"gait": "pronk"})
    with pytest.raises(ValueError, match="command, drive"):
        body.build("free", spinal={"rhythm": "cpg"})


@pytest.mark.parametrize("rhythm", spinal.RHYTHMS)
def test_shipped_parameters_load_and_round_trip(rhythm):
    p = spinal.load_params(spinal.PARAMS_PATHS[rhythm])
    v = spinal.params_to_vector(p)
    assert len(v) == sum(spinal.PARAM_SIZES.values())
    back = spinal.params_from_vector(v)
    for k in p:
        np.testing.assert_array_equal(back[k], p[k])


def test_drive_rhythm_walks_and_tasks_take_the_rhythm_option(free_model):
    w = spinal.walk(free_model, spinal.Command(0.3, 0.0), 4.0, seed=1, rhythm="drive")
    assert w.fell_at_s is None and w.mean_speed_m_s(1.5) == pytest.approx(0.3, rel=0.3)
    import tasks

    env = tasks.make("open_field", body_options={"spinal": {"rhythm": "drive"}})
    assert env.io.spinal.rhythm == "drive"
    env.close()


@needs_gl
def test_render_command_writes_a_walking_video(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "windtunnel", "render", "body=free", "body.spinal.enabled=true",
                           "command.speed=0.4", "render.seconds=0.6", "render.width=160", "render.height=120",
                           f"render.out_dir={tmp_path}"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    video = tmp_path / "free_spinal_0.4ms_side.mp4"
    assert video.exists() and video.stat().st_size > 1000


# ----------------------------------------------------------------------------- gait statistics
def _synthetic_contacts(cycle_s, duty, offsets, seconds=6.0, dt=0.002):
    t = np.arange(0, seconds, dt)
    phase = (t[:, None] / cycle_s - np.asarray(offsets)[None, :]) % 1.0  # [T, 4]
    return phase < duty, t


@pytest.mark.parametrize("gait,cycle,duty", [("walk", 0.6, 0.7), ("trot", 0.3, 0.45), ("gallop", 0.22, 0.35)])
def test_gait_statistics_recover_a_known_pattern(gait, cycle, duty):
    down, t = _synthetic_contacts(cycle, duty, spinal.GAIT_PHASES[gait])
    g = gait_statistics(down, t)
    assert g["step_cycle_s"] == pytest.approx(cycle, abs=0.003)
    assert g["duty_factor"] == pytest.approx(duty, abs=0.01)
    assert g["hind_step_cycle_s"] == pytest.approx(cycle, abs=0.003) and g["fore_duty_factor"] == pytest.approx(duty, abs=0.01)
    assert g["hind_swing_s"] == pytest.approx(cycle * (1 - duty), abs=0.004)
    assert g["hind_contact_fraction"] == pytest.approx(duty, abs=0.01) and g["fore_contact_fraction"] == pytest.approx(duty, abs=0.01)
    expected = _phase_relations(np.array(spinal.GAIT_PHASES[gait]))
    measured = np.array([g["interlimb_phase"][k] for k in ("LF", "RF", "LH", "RH")])
    assert np.all(_circular_distance(measured, expected) < 0.01)
    assert gait_name(g["interlimb_phase"]) == gait


def test_gait_statistics_ignore_contact_flicker_and_report_nothing_without_cycles():
    down, t = _synthetic_contacts(0.4, 0.6, spinal.GAIT_PHASES["trot"], dt=0.02)
    flicker = down.copy()
    flicker[5::20, :] = False  # one-sample losses of contact inside stance
    assert gait_statistics(flicker, t)["step_cycle_s"] == pytest.approx(0.4, abs=0.021)
    fine, t_fine = _synthetic_contacts(0.4, 0.6, spinal.GAIT_PHASES["trot"], dt=0.002)
    fine_flicker = fine.copy()
    for k in range(5):  # 10 ms losses of contact inside stance, sampled every physics step
        fine_flicker[50 + 200 * np.arange(10)[:, None] + k, :] = False
    assert gait_statistics(fine_flicker, t_fine)["step_cycle_s"] == pytest.approx(0.4, abs=0.003)
    still = gait_statistics(np.ones((100, 4), bool), np.arange(100) * 0.02)
    assert still["n_cycles"] == 0 and np.isnan(still["duty_factor"])


def test_a_bounce_is_counted_inside_its_cycle():
    """A hind foot that lifts 50 ms in mid-stance and lands again (a bounce, not a swing) stays in its step cycle: the
    cycle is the stride's, the duty factor and the time down lose the 50 ms, and the foot lands twice a cycle."""
    down, t = _synthetic_contacts(0.3, 0.6, spinal.GAIT_PHASES["trot"])  # 2 ms samples, stance 180 ms
    phase = (t[:, None] / 0.3 - np.asarray(spinal.GAIT_PHASES["trot"])[None, :]) % 1.0
    bounced = down & ~((phase > 0.2) & (phase < 0.2 + 0.05 / 0.3) & (np.arange(4) >= 2))  # hind feet up 50 ms
    g = gait_statistics(bounced, t)
    assert g["hind_step_cycle_s"] == pytest.approx(0.3, abs=0.003) and g["fore_step_cycle_s"] == pytest.approx(0.3, abs=0.003)
    assert g["hind_duty_factor"] == pytest.approx(0.6 - 0.05 / 0.3, abs=0.01)
    assert g["hind_contact_fraction"] == pytest.approx(0.6 - 0.05 / 0.3, abs=0.01)
    assert g["hind_touchdowns_per_cycle"] == pytest.approx(2.0) and g["fore_touchdowns_per_cycle"] == pytest.approx(1.0)
    assert g["fore_contact_fraction"] == pytest.approx(0.6, abs=0.01)
    assert gait_name(g["interlimb_phase"]) == "trot"


def test_vertical_loads_carry_the_standing_rat_and_shares_recover_a_known_split(free_model):
    """The ground reaction forces the layer reads add up to the rat's weight when it stands still
    (feet and whatever else touches the floor), and `spinal.load_shares` splits a known load."""
    data = mujoco.MjData(free_model)
    layer = spinal.SpinalLayer(free_model)
    spinal.spawn_standing(free_model, data, spinal.standing_controls(free_model))
    loads = []
    for step in range(150):
        data.ctrl[:] = layer.step(spinal.Command(), data, 0.02)
        mujoco.mj_step(free_model, data, nstep=10)
        if step >= 100:
            loads.append(layer.vertical_loads_n(data))
    weight_n = float(free_model.body_mass.sum()) * 9.81
    loads = np.array(loads)  # [T, 5]
    assert loads.sum(axis=1).mean() == pytest.approx(weight_n, rel=0.02)
    assert (loads[:, :4] > 0).all()  # it stands on all four feet
    known = np.tile([1.0, 1.0, 0.6, 0.6, 0.3], (10, 1))  # N: fore 2, hind 1.2, rest 0.3 of 3.5
    shares = spinal.load_shares(known)
    assert shares == pytest.approx({"fore": 2 / 3.5, "hind": 1.2 / 3.5, "rest": 0.3 / 3.5})
    with pytest.raises(ValueError, match=r"must be \[T, 5\]"):
        spinal.load_shares(known[:, :4])


@pytest.mark.parametrize("speed_m_s,gait", [(0.1, "walk"), (0.2, "trot"), (0.4, "trot")])
def test_the_feet_walk_slowly_and_trot_faster_with_the_stance_of_a_walking_rat(free_model, speed_m_s, gait):
    """Measured from foot contacts, not read off the pattern generator: a lateral-sequence walk at
    10 cm/s and a trot at 20 and 40 cm/s (the rat's order), at the rat's step cycle for the measured speed,
    and both limb pairs down more than half the cycle at these walking speeds (Gorska et al. 1999). (At
    20 cm/s the walk's forelimbs were down under half the cycle: the shipped set trots from 12 cm/s.)"""
    w = spinal.walk(free_model, spinal.Command(speed_m_s, 0.0), 10.0, seed=0)
    keep = w.contact_t_s > 2.0
    g = gait_statistics(w.contact_foot_down[keep], w.contact_t_s[keep])
    assert w.fell_at_s is None
    assert gait_name(g["interlimb_phase"]) == gait
    assert g["hind_step_cycle_s"] * spinal.stride_frequency_hz(w.mean_speed_m_s(2.0)) == pytest.approx(1.0, abs=0.1)
    assert g["fore_duty_factor"] > 0.5 and g["hind_duty_factor"] > 0.5


def test_layer_parameters_come_from_the_body_config_and_bad_ones_are_named(tmp_path):
    shipped = spinal.default_params("command")
    assert body.build("free", spinal=True).spinal.params["turn_bend"] == pytest.approx(shipped["turn_bend"])
    changed = spinal.params_as_lists(shipped)
    changed["turn_bend"] = [0.123]
    built = body.build("free", spinal={"params": changed})
    assert built.spinal.params["turn_bend"][0] == 0.123
    path = tmp_path / "tuned.json"
    path.write_text(json.dumps({"params": changed}))
    assert body.build("free", spinal={"params": str(path)}).spinal.params["turn_bend"][0] == 0.123
    with pytest.raises(ValueError, match=r"missing \['duty_factor'\], unknown none"):
        spinal.resolve_params({k: v for k, v in changed.items() if k != "duty_factor"})
    with pytest.raises(ValueError, match=r"walk_trot_m_s must be in \[0, 0.65\) m/s \(below the gallop\), got 0.7"):
        spinal.resolve_params({**changed, "walk_trot_m_s": [0.7]})
    # A set written before the walk-trot threshold was a parameter walks up to where the layer then did.
    older = spinal.resolve_params({k: v for k, v in changed.items() if k != "walk_trot_m_s"})
    assert older["walk_trot_m_s"][0] == spinal.WALK_TROT_BEFORE_M_S != shipped["walk_trot_m_s"][0]
    with pytest.raises(ValueError, match="spinal.params: speed_pi needs 2 finite values, got 3"):
        spinal.resolve_params({**changed, "speed_pi": [0.1, 0.2, 0.3]})
    with pytest.raises(ValueError, match="no parameter file at"):
        body.build("free", spinal={"params": str(tmp_path / "missing.json")})
    with pytest.raises(ValueError, match="spinal layer is off"):
        body.build("free", spinal={"enabled": False, "params": changed})


@pytest.mark.parametrize("freq_hz,delivered", [(0.5, True), (8.0, False)])
def test_servo_recorder_measures_the_stroke_a_servo_delivers(freq_hz, delivered):
    """The spinal benchmark's servo diagnostic on a known case: a head-fixed rat's hip swung by a
    sinusoidal control follows a slow swing in full and a fast one in part (the servo's 40 ms
    activation filter), and counts the time its control sits at an end of its range."""
    from benchmarks.spinal import _ServoRecorder

    model = body.build("head_fixed").model
    data = mujoco.MjData(model)
    recorder = _ServoRecorder(model)
    hip = [model.actuator(f"hip_{s}_extend").id for s in "LR"]
    for _ in range(round(4.0 / model.opt.timestep)):
        data.ctrl[hip] = np.clip(1.5 * np.sin(2 * np.pi * freq_hz * data.time), -0.3, 0.3)  # a clipped sine
        mujoco.mj_step(model, data)
        recorder(data)
    summary = recorder.summary(start_s=1.0)
    stroke, at_range_end = summary["hip_extend"]
    assert (stroke == pytest.approx(1.0, abs=0.15)) if delivered else stroke < 0.6
    assert at_range_end == 0.0  # 0.3 is well inside the control range
    assert np.isnan(summary["knee"][0]) and summary["knee"][1] == 0.0  # its target never moved
    data.ctrl[hip] = (1.0, -1.0)
    recorder(data)
    assert recorder.at_range_end[-1][:2].all()


def test_girdle_recorder_measures_the_girdles_from_the_centre_of_mass_along_the_heading():
    """The spinal benchmark's build diagnostic: where the hips and shoulders lie from the centre of mass along
    the heading, whichever way the rat faces and wherever it stands; dm_control's rat carries 43 % of its mass in
    the pelvis, so with its feet under its girdles its forelimbs would bear only ~0.32 of its weight."""
    from benchmarks.spinal import _GirdleRecorder

    model = body.build("free").model
    data = mujoco.MjData(model)
    root = model.jnt_qposadr[model.joint("root").id]
    summaries = []
    for yaw_rad, shift_m in ((0.0, 0.0), (2.0, 0.3)):
        spinal.spawn_standing(model, data, spinal.standing_controls(model), yaw_rad)
        data.qpos[root:root + 2] += shift_m
        mujoco.mj_forward(model, data)
        recorder = _GirdleRecorder(model)
        recorder(data)
        summaries.append(recorder.summary(start_s=-1.0))
    for key in ("hip_m", "shoulder_m", "fore_share"):
        assert summaries[0][key] == pytest.approx(summaries[1][key], abs=1e-9)
    assert np.isnan(summaries[0]["forefeet_m"]) and np.isnan(summaries[0]["hind_feet_m"])  # spawned just above the floor
    hips, shoulders = summaries[0]["hip_m"], summaries[0]["shoulder_m"]
    assert -0.05 < hips < -0.01 and 0.04 < shoulders < 0.09  # the hips behind the centre of mass, the shoulders ahead
    assert summaries[0]["fore_share"] == pytest.approx(-hips / (shoulders - hips))
    assert 0.25 < summaries[0]["fore_share"] < 0.37  # a trotting rat's forelimbs bear 0.56 (Giszter et al. 2008)


def test_girdle_recorder_press_points_balance_a_standing_rat_by_statics():
    """Where the feet press (force-weighted contact points) must balance the weight about the centre of mass:
    for a rat standing still, statics from the press points gives the forelimbs' share of the feet's load."""
    from benchmarks.spinal import _GirdleRecorder

    model = body.build("free").model
    recorder = _GirdleRecorder(model, start_s=1.0)
    w = spinal.walk(model, spinal.Command(), 2.0, on_step=recorder)
    press = recorder.summary(start_s=1.0)
    assert press["forefeet_m"] > 0.0 > press["hind_feet_m"]
    statics = -press["hind_feet_m"] / (press["forefeet_m"] - press["hind_feet_m"])
    mean_load = w.vertical_load_n[w.t_s > 1.0].mean(axis=0)  # [LF, RF, LH, RH, rest]
    measured = mean_load[:2].sum() / mean_load[:4].sum()
    assert statics == pytest.approx(measured, abs=0.05)  # the tail and belly carry the rest (0.04 here)


def test_moving_trunk_mass_forward_keeps_the_weight_and_moves_the_centre_of_mass_by_statics():
    """The build diagnostic (`benchmarks.spinal_mass`): moving m kg from the pelvis to the torso keeps the rat's
    weight and moves its centre of mass forward by m x (torso COM - pelvis COM) / total mass, which raises the
    forelimbs' share of the weight with the feet under the girdles; a mass the pelvis does not have is refused."""
    from benchmarks.spinal_mass import fore_share_feet_under_girdles, move_trunk_mass

    def standing(model):
        data = mujoco.MjData(model)
        spinal.spawn_standing(model, data, spinal.standing_controls(model))
        return data

    before = body.build("free").model
    after = move_trunk_mass(body.build("free").model, 0.03)
    d0, d1 = standing(before), standing(after)
    pelvis, torso = before.body("pelvis").id, before.body("torso").id
    assert after.body_subtreemass[1] == pytest.approx(before.body_subtreemass[1], rel=1e-12)
    assert after.body_mass[pelvis] == pytest.approx(before.body_mass[pelvis] - 0.03)
    expected_shift = 0.03 * (d0.xipos[torso] - d0.xipos[pelvis]) / before.body_subtreemass[1]  # [3], m
    np.testing.assert_allclose(d1.subtree_com[1] - d0.subtree_com[1], expected_shift, atol=1e-9)
    assert fore_share_feet_under_girdles(after) > fore_share_feet_under_girdles(before) + 0.03
    with pytest.raises(ValueError, match=r"trunk mass to move must be in \[0, 0.14"):
        move_trunk_mass(body.build("free").model, 0.2)


def test_walk_run_speed_is_where_a_duty_factor_falls_through_one_half():
    # A rat-like constant swing of 120 ms on Gorska et al.'s step-cycle line (685 ms at 10 cm/s, 215 ms at 78 cm/s,
    # frequency linear in speed): duty = 1 - swing x frequency crosses 0.5 where the cycle is 240 ms, at
    # 0.10 + (1/0.240 - 1/0.685) / ((1/0.215 - 1/0.685) / 0.68) = 0.6768 m/s. Sampled every 10 cm/s, the crossing
    # lies between 60 and 70 cm/s: only interpolating between them lands within 2 mm/s of it.
    speeds = np.arange(1, 9) / 10.0
    frequency_hz = 1 / 0.685 + (1 / 0.215 - 1 / 0.685) / 0.68 * (speeds - 0.10)
    assert walk_run_speed_m_s(speeds, 1.0 - 0.120 * frequency_hz) == pytest.approx(0.6768, abs=0.002)
    assert np.isnan(walk_run_speed_m_s([0.1, 0.2, 0.3], [0.7, 0.6, 0.55]))  # never runs
    assert np.isnan(walk_run_speed_m_s([0.1, 0.2, 0.3], [0.45, 0.4, 0.3]))  # never walks
    assert walk_run_speed_m_s([0.1, 0.2, 0.3], [0.7, np.nan, 0.3]) == pytest.approx(0.2)  # across a missing speed
    with pytest.raises(ValueError, match="ascending"):
        walk_run_speed_m_s([0.3, 0.2], [0.6, 0.4])
