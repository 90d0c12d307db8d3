"""Headless rendering of the rat: MuJoCo's renderer on EGL, falling back to OSMesa.

The backend is chosen when `body` is first imported (MUJOCO_GL must be set before mujoco loads its
GL context): a user's MUJOCO_GL wins; otherwise EGL if libEGL is present, else OSMesa if present.
"""

from __future__ import annotations

import os
from pathlib import Path

import mujoco
import numpy as np

from body.interface import BodyInterface
from body.rat import RatBody

CONTROLS = ("random", "zero")


def gl_backend() -> str:
    return os.environ.get("MUJOCO_GL", "none")


def _use_chosen_backend() -> None:
    """If mujoco was imported before `body` chose MUJOCO_GL, point its GL context at that backend."""
    from mujoco.rendering.classic import gl_context

    backend = os.environ.get("MUJOCO_GL", "")
    current = getattr(getattr(gl_context, "GLContext", None), "__module__", "")
    if backend == "egl" and not current.startswith("mujoco.egl"):
        from mujoco.egl import GLContext
    elif backend == "osmesa" and not current.startswith("mujoco.osmesa"):
        from mujoco.osmesa import GLContext
    else:
        return
    gl_context.GLContext = GLContext


def make_renderer(model: mujoco.MjModel, height: int, width: int) -> mujoco.Renderer:
    """A renderer of the given size; raises RuntimeError with the backend name if GL is unavailable.

    The offscreen buffer is enlarged in the model when the frame is bigger than the default 640x480.
    Callers close it (`renderer.close()`) to free the GL context.
    """
    model.vis.global_.offwidth = max(int(model.vis.global_.offwidth), width)
    model.vis.global_.offheight = max(int(model.vis.global_.offheight), height)
    _use_chosen_backend()
    try:
        return mujoco.Renderer(model, height=height, width=width)
    except Exception as exc:  # GL libraries missing or no device: say which backend failed
        raise RuntimeError(f"cannot create a MuJoCo renderer with MUJOCO_GL={gl_backend()}: {exc}") from exc


def scene_option() -> mujoco.MjvOption:
    """What a person wants to see: the skin and props, not the collision capsules (geom group 2)."""
    opt = mujoco.MjvOption()
    opt.geomgroup[2] = 0
    return opt


def camera_names(model: mujoco.MjModel) -> list[str]:
    return [model.camera(i).name for i in range(model.ncam)]


def smooth_random_controls(n_steps: int, nu: int, rng: np.random.Generator, hold_steps: int = 10) -> np.ndarray:
    """Random controls in [-1, 1] with a new target every `hold_steps`, linearly interpolated. [n_steps, nu]"""
    n_knots = n_steps // hold_steps + 2
    knots = rng.uniform(-1.0, 1.0, size=(n_knots, nu))
    t = np.arange(n_steps) / hold_steps
    i = np.floor(t).astype(int)
    frac = (t - i)[:, None]
    return (1 - frac) * knots[i] + frac * knots[i + 1]


def render_rollout(
    body: RatBody,
    out_dir: str | Path,
    seconds: float = 3.0,
    control: str = "random",
    camera: str = "side",
    width: int = 640,
    height: int = 480,
    fps: int = 30,
    control_dt: float = 0.02,
    seed: int = 0,
    command: tuple[float, ...] | None = None,
) -> dict[str, Path]:
    """Simulate the body under random or zero control and write `<variant>_<camera>.mp4` and a PNG still.

    With the spinal layer on (`body.spinal`), the layer walks the rat under the descending
    `command` = (forward speed m/s, turning rate rad/s[, rear 0-1]) instead, from its standing posture,
    and the camera follows the torso; the file is `<variant>_spinal_<speed>ms_<camera>.mp4`
    (`..._rear<level>_...` with a rear). A rear is held from 0.5 s until 1 s before the end, so the
    video shows the rat rise, hold and come down.
    """
    import imageio.v2 as imageio

    if control not in CONTROLS:
        raise ValueError(f"unknown control {control!r}; valid: {', '.join(CONTROLS)}")
    cams = camera_names(body.model)
    if camera not in cams:
        raise ValueError(f"unknown camera {camera!r}; valid: {', '.join(cams)}")
    if seconds <= 0:
        raise ValueError(f"seconds must be > 0, got {seconds}")
    model = body.model
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rear = float(command[2]) if body.spinal and len(command) > 2 else 0.0
    stem = (f"{body.variant}_{camera}" if not body.spinal else
            f"{body.variant}_spinal_{command[0]:g}ms{f'_rear{rear:g}' if rear > 0 else ''}_{camera}")
    video_path, still_path = out_dir / f"{stem}.mp4", out_dir / f"{stem}.png"
    renderer = make_renderer(model, height, width)
    option = scene_option()
    writer = imageio.get_writer(video_path, fps=fps, codec="libx264", quality=7, macro_block_size=1)
    state = {"next_frame_t": 0.0, "frames": 0, "still": None, "last": None}
    middle_s = seconds / 2

    def capture(data: mujoco.MjData) -> None:
        if data.time >= state["next_frame_t"]:
            renderer.update_scene(data, camera=camera, scene_option=option)
            frame = renderer.render()
            writer.append_data(frame)
            state["frames"] += 1
            state["last"] = frame
            state["next_frame_t"] += 1.0 / fps
            if state["still"] is None and data.time >= middle_s:
                state["still"] = frame.copy()

    try:
        if body.spinal:
            from body.spinal import Command, walk

            def schedule(t_s: float, data: mujoco.MjData) -> Command:
                rearing = 0.5 <= t_s < seconds - 1.0
                return Command(command[0], command[1], rear if rearing else 0.0)

            o = body.spinal
            walk(model, schedule, seconds, control_dt=control_dt, gait=o.gait, on_step=capture, rhythm=o.rhythm,
                 params=o.params, wall_stop=o.wall_stop)
        else:
            data = mujoco.MjData(model)
            mujoco.mj_forward(model, data)
            io = BodyInterface(body, data, seed=seed)
            io.reset()
            substeps = max(1, round(control_dt / model.opt.timestep))
            n_control = max(1, round(seconds / control_dt))
            rng = np.random.default_rng(seed)
            controls = (smooth_random_controls(n_control, model.nu, rng) if control == "random"
                        else np.zeros((n_control, model.nu)))
            for k in range(n_control):
                io.apply_action(controls[k])
                for _ in range(substeps):
                    mujoco.mj_step(model, data)
                    capture(data)
            io.close()
        imageio.imwrite(still_path, state["still"] if state["still"] is not None else state["last"])
    finally:
        writer.close()
        renderer.close()
    return {"video": video_path, "still": still_path, "frames": state["frames"]}


def render_task(env, out_dir: str | Path, seconds: float = 3.0, control: str = "random", camera: str | None = None,
                width: int = 640, height: int = 480, seed: int = 0) -> dict[str, Path]:
    """A task environment's scene (its props, arena and the rat) under random or zero actions, one frame per
    control step: `<task>_<camera>.mp4` and a PNG still from the middle. `env` is a `tasks` environment."""
    import imageio.v2 as imageio

    if control not in CONTROLS:
        raise ValueError(f"unknown control {control!r}; valid: {', '.join(CONTROLS)}")
    camera = camera or env.render_camera
    cams = camera_names(env.model)
    if camera not in cams:
        raise ValueError(f"unknown camera {camera!r} in task {env.name!r}; valid: {', '.join(cams)}")
    if seconds <= 0:
        raise ValueError(f"seconds must be > 0, got {seconds}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    video_path, still_path = out_dir / f"{env.name}_{camera}.mp4", out_dir / f"{env.name}_{camera}.png"
    n = max(1, round(seconds / env.control_dt))
    rng = np.random.default_rng(seed)
    act_dim = env.action_space.shape[0]
    actions = smooth_random_controls(n, act_dim, rng) if control == "random" else np.zeros((n, act_dim))
    renderer, option = make_renderer(env.model, height, width), scene_option()
    frames = []
    try:
        env.reset(seed=seed)
        with imageio.get_writer(video_path, fps=round(1 / env.control_dt), codec="libx264", quality=7,
                                macro_block_size=1) as writer:
            for k in range(n):
                _, _, term, trunc, _ = env.step(actions[k].astype(np.float32))
                renderer.update_scene(env.data, camera=camera, scene_option=option)
                frames.append(renderer.render())
                writer.append_data(frames[-1])
                if term or trunc:
                    break
        imageio.imwrite(still_path, frames[len(frames) // 2])
    finally:
        renderer.close()
        env.close()
    return {"video": video_path, "still": still_path, "frames": len(frames)}
