"""Scripted controllers: known-good behaviour to test task logic and to calibrate benchmarks.

- `LeverPresser` presses the lever (shoulder flexion held `hold_s`) at given command times.
- `ReachIK` reaches for the pellet by damped-least-squares inverse kinematics on the palm site,
  integrated into servo targets (a resolved-rate controller closed around the actual palm, so the
  servos' gravity sag is corrected), mapped to servo controls through each servo's gain and bias.
"""

from __future__ import annotations

import mujoco
import numpy as np


class LeverPresser:
    def __init__(self, env, press_cmd_times_s, hold_s: float = 0.12, level: float = 0.65):
        self.env = env
        self.times = list(press_cmd_times_s)
        self.hold_s = hold_s
        self.level = level
        self.shoulder = env.rat.actuator_names.index(f"shoulder_{env.rat.side_letter}")

    def __call__(self, t_s: float) -> np.ndarray:
        a = np.zeros(self.env.action_space.shape, np.float32)
        if any(tp <= t_s + 1e-9 < tp + self.hold_s for tp in self.times):
            a[self.shoulder] = self.level
        return a


class ReachIK:
    def __init__(self, env, gain: float = 0.5, damping: float = 1e-4, aim_offset_m=(0.0, 0.0, 0.0)):
        self.env = env
        m = env.model
        self.gain = gain
        self.damping = damping
        self.aim_offset = np.asarray(aim_offset_m)
        rat = env.rat
        self.acts = list(range(m.nu))
        self.joint_ids = [int(m.actuator_trnid[a, 0]) for a in self.acts]
        self.dofs = np.array([m.jnt_dofadr[j] for j in self.joint_ids])
        self.qadr = np.array([m.jnt_qposadr[j] for j in self.joint_ids])
        self.kp = -m.actuator_biasprm[self.acts, 1]
        self.b0 = m.actuator_biasprm[self.acts, 0]
        self.g = m.actuator_gainprm[self.acts, 0]
        self.lo, self.hi = m.jnt_range[self.joint_ids].T
        self.site = m.site(f"palm_{rat.side_letter}").id
        self.q_target = None

    def reset(self) -> None:
        self.q_target = self.env.data.qpos[self.qadr].copy()

    def __call__(self, target_m: np.ndarray) -> np.ndarray:
        m, d = self.env.model, self.env.data
        if self.q_target is None:
            self.reset()
        jacp = np.zeros((3, m.nv))
        mujoco.mj_jacSite(m, d, jacp, None, self.site)
        J = jacp[:, self.dofs]  # [3, joints]
        err = np.asarray(target_m) + self.aim_offset - d.site_xpos[self.site]
        dq = J.T @ np.linalg.solve(J @ J.T + self.damping * np.eye(3), err)
        self.q_target = np.clip(self.q_target + self.gain * dq, self.lo, self.hi)
        ctrl = (self.kp * self.q_target - self.b0) / self.g
        return np.clip(ctrl, -1.0, 1.0).astype(np.float32)


class TwoTouchRearer:
    """two_touch through the spinal layer's rear channel (`body.spinal.rear=true`): walk until the orb is
    where a forepaw will be, stop, rear to `touch_level` (the paw goes into the orb: the first touch), dip
    to `dip_level` at once (the paw drops out of it), rear again `rerear_s` after the touch (the second
    touch, ~0.8 s after the first), come down and go to the next orb. An approach that overshoots turns
    about, walks off and comes in again. Privileged (it reads the orb's position from the task), like
    `ReachIK`: a calibration of the task and of the rear channel, not a model of a rat.

    `paw_in_rear_m`: where the left forepaw is in a rear at `touch_level`, in the frame of the torso's
    position and heading before it (along, left), measured for the shipped layer.
    """

    APPROACH, SETTLE, REAR, DIP, REAR_AGAIN, DOWN, LOOP = range(7)
    TURN_ABOUT_S, WALK_OFF_S = 2.0, 1.5
    FACE_RAD = 0.35
    CREEP_M_S = 0.03  # the last centimetres: short, slow steps
    STRAIGHT_M = 0.06

    def __init__(self, env, paw_in_rear_m=(-0.047, 0.053), touch_level: float = 0.9, dip_level: float = 0.5,
                 rerear_s: float = 0.5, settle_s: float = 0.3, reach_tolerance_m: float = 0.012, give_up_s: float = 2.0):
        if not (env.rat.spinal and env.rat.spinal.rear):
            raise ValueError("TwoTouchRearer needs the spinal layer with its rear channel (body.spinal.enabled=true, body.spinal.rear=true)")
        self.env = env
        self.paw = np.asarray(paw_in_rear_m, float)
        self.touch_level, self.dip_level, self.rerear_s = touch_level, dip_level, rerear_s
        self.settle_s, self.tolerance, self.give_up_s = settle_s, reach_tolerance_m, give_up_s
        self.torso = env.model.body("torso").id
        self.state, self.since_s, self.first_touch_s = self.APPROACH, 0.0, None

    def _to_stand(self) -> np.ndarray:
        """Where the torso should go (along, left; m, in its own frame): the orb at the paw's place."""
        d = self.env.data
        rot = d.xmat[self.torso].reshape(3, 3)
        heading = rot[:2, 0] / np.linalg.norm(rot[:2, 0])
        orb = d.mocap_pos[self.env._orb_mocap, :2] - d.xpos[self.torso, :2]
        return np.array([orb @ heading, orb @ np.array([-heading[1], heading[0]])]) - self.paw

    def _action(self, speed_m_s: float, turn_rad_s: float, rear: float) -> np.ndarray:
        from body.spinal import Command, action_from_command

        return action_from_command(Command(speed_m_s, turn_rad_s, rear), rear_channel=True).astype(np.float32)

    def _go(self, state: int, t_s: float) -> None:
        self.state, self.since_s = state, t_s

    def __call__(self, t_s: float) -> np.ndarray:
        from tasks.two_touch import TwoTouchState

        logic = self.env.logic
        if self.state == self.APPROACH:
            along, side = self._to_stand()
            if abs(along) < self.tolerance and abs(side) < self.tolerance:
                self._go(self.SETTLE, t_s)
            elif along < 0.0:  # overshot, or too close to correct sideways: turn about and come in again
                self._go(self.LOOP, t_s)
            else:
                bearing = float(np.arctan2(side, along))
                # off to the side: face it on the spot first (walking while turning circles round a near goal);
                # in the last 10 cm creep on while turning (a pivot there moves the goal as much as it turns)
                close = np.hypot(along, side) < 0.1
                face_rad = 2 * self.FACE_RAD if close else self.FACE_RAD
                speed = float(np.clip(0.8 * along, self.CREEP_M_S, 0.3)) if abs(bearing) < face_rad else 0.0
                # the last few centimetres straight: turning while creeping sways the torso about the goal
                turn = 0.0 if along < self.STRAIGHT_M and abs(side) < 2 * self.tolerance else 2.0 * bearing
                return self._action(speed, turn, 0.0)
        if self.state == self.LOOP:  # turn about on the spot, walk off, then come in again
            into = t_s - self.since_s
            if into < self.TURN_ABOUT_S:
                return self._action(0.0, np.pi / self.TURN_ABOUT_S, 0.0)
            if into < self.TURN_ABOUT_S + self.WALK_OFF_S:
                return self._action(0.15, 0.0, 0.0)
            self._go(self.APPROACH, t_s)
            return self._action(0.0, 0.0, 0.0)
        if self.state == self.SETTLE:
            if t_s - self.since_s >= self.settle_s:
                self._go(self.REAR, t_s)
            return self._action(0.0, 0.0, 0.0)
        if self.state == self.REAR:
            if logic.state == TwoTouchState.TOUCHED_ONCE:
                self.first_touch_s = t_s
                self._go(self.DIP, t_s)
                return self._action(0.0, 0.0, self.dip_level)
            if t_s - self.since_s > self.give_up_s:  # missed: come down, re-aim
                self._go(self.DOWN, t_s)
                return self._action(0.0, 0.0, 0.0)
            return self._action(0.0, 0.0, self.touch_level)
        if self.state == self.DIP:
            if t_s - self.first_touch_s >= self.rerear_s:
                self._go(self.REAR_AGAIN, t_s)
            else:
                return self._action(0.0, 0.0, self.dip_level)
        if self.state == self.REAR_AGAIN:
            if logic.state == TwoTouchState.TOUCHED_ONCE:
                return self._action(0.0, 0.0, self.touch_level)
            self._go(self.DOWN, t_s)
        # DOWN: on all fours until the trial has ended and the next orb is out
        if t_s - self.since_s > 0.6 and logic.state == TwoTouchState.PRE_TOUCH:
            self._go(self.APPROACH, t_s)
        return self._action(0.0, 0.0, 0.0)
