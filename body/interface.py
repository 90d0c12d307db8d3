"""The body's sensorimotor interface for one simulated animal: what the brain reads and writes.

One `BodyInterface` per environment instance. It owns the per-episode sensorimotor state that is
not physics: the proprioceptive delay line, the seeded observation and action noise, and the
egocentric camera. Tasks call `observe()` once per control step and `apply_action()` before
stepping the physics.
"""

from __future__ import annotations

from collections import deque

import mujoco
import numpy as np

from body.rat import CAMERA_SIZE_PX, EGOCENTRIC_CAMERA, RatBody


class BodyInterface:
    """Sensors and motors of one rat in one `MjData`.

    The delay line holds the last `proprio_delay_steps + 1` proprioceptive readings; `observe()`
    pushes the current reading and returns the oldest, i.e. proprioception from exactly
    `proprio_delay_steps` control steps ago (at reset the line is filled with the reset state).
    """

    def __init__(self, body: RatBody, data: mujoco.MjData, seed: int | None = None):
        self.body = body
        self.data = data
        self.rng = np.random.default_rng(seed)
        self._delay: deque[np.ndarray] = deque(maxlen=body.proprio_delay_steps + 1)
        self._camera: mujoco.Renderer | None = None
        self.spinal = None
        if body.spinal:
            from body.spinal import SpinalLayer

            o = body.spinal
            self.spinal = SpinalLayer(body.model, o.params, gait=o.gait, rhythm=o.rhythm, wall_stop=o.wall_stop)
        self.spinal_dt = 0.02  # s between spinal-layer updates; tasks set it (`body.spinal.spinal_period_s`)

    def reset(self, seed: int | None = None) -> None:
        """Clear the delay line (refilled from the current state) and optionally reseed the noise."""
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self._delay.clear()
        if self.spinal is not None:
            self.spinal.reset()
        current = self.body.read_block("proprioception", self.data)
        for _ in range(self._delay.maxlen):
            self._delay.append(current.copy())

    def observe(self, names) -> dict[str, np.ndarray]:
        """Read the named blocks; call once per control step (it advances the delay line)."""
        out: dict[str, np.ndarray] = {}
        for name in names:
            if name == "proprioception":
                if not self._delay:
                    self.reset()
                self._delay.append(self.body.read_block("proprioception", self.data))
                value = self._delay[0]
            elif name == "egocentric_camera":
                out[name] = self.camera_frame().reshape(-1).astype(np.float32) / 255.0
                continue
            else:
                value = self.body.read_block(name, self.data)
            if self.body.obs_noise > 0:
                value = value + self.rng.normal(0.0, self.body.obs_noise, size=value.shape)
            out[name] = value
        return out

    def apply_action(self, action: np.ndarray) -> np.ndarray:
        """Write an action in [-1, 1] (plus seeded Gaussian motor noise, then clipped) into ctrl.

        With the spinal layer the action is a descending command (`body.spinal.command_from_action`)
        and the layer computes the controls; motor noise is then added to its output.
        """
        ctrl = np.array(action, dtype=np.float64)
        size = self.body.action_size
        if ctrl.shape != (size,):
            what = ("descending command entries (speed, turn" + (", rear)" if self.body.spinal.rear else ")")
                    if self.spinal is not None else "actuators")
            raise ValueError(f"action has shape {ctrl.shape}; this body takes {size} {what}, expected ({size},)")
        if not np.isfinite(ctrl).all():
            raise ValueError(f"non-finite action {ctrl.tolist()}: a diverged controller's output never reaches the body")
        if self.spinal is not None:
            from body.spinal import command_from_action

            self.command = command_from_action(ctrl)
            return self.update_spinal()
        return self._write_controls(ctrl)

    def update_spinal(self) -> np.ndarray:
        """Advance the spinal layer by `spinal_dt` under the current command and write its controls.
        Tasks call this every `spinal_dt` inside a control step (the layer's own rate, 20 ms)."""
        return self._write_controls(self.spinal.step(self.command, self.data, self.spinal_dt))

    def _write_controls(self, ctrl: np.ndarray) -> np.ndarray:
        nu = self.body.model.nu
        if self.body.action_noise > 0:
            ctrl = ctrl + self.rng.normal(0.0, self.body.action_noise, size=nu)
        np.clip(ctrl, -1.0, 1.0, out=ctrl)
        self.data.ctrl[:] = ctrl
        return ctrl

    def camera_frame(self) -> np.ndarray:
        """The egocentric camera's current 64x64 RGB image, uint8 [64, 64, 3]."""
        if not self.body.vision:
            raise ValueError("the egocentric camera is off; build the body with vision=True")
        if self._camera is None:
            from body.render import make_renderer

            self._camera = make_renderer(self.body.model, CAMERA_SIZE_PX, CAMERA_SIZE_PX)
        self._camera.update_scene(self.data, camera=EGOCENTRIC_CAMERA)
        return self._camera.render()

    def close(self) -> None:
        if self._camera is not None:
            self._camera.close()
            self._camera = None
