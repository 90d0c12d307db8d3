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
