"""The virtual rodent's body: MJCF from dm_control's packaged rodent.xml, edited with mujoco.MjSpec.

`body.build(variant, ...) -> RatBody`; `BodyInterface` reads named observation blocks (with an
optional proprioceptive delay line and seeded noise) and writes actions.
"""

import ctypes.util as _ctypes_util
import os as _os

# MuJoCo picks its GL backend when it is first imported: prefer EGL, fall back to OSMesa.
if "MUJOCO_GL" not in _os.environ:
    if _ctypes_util.find_library("EGL"):
        _os.environ["MUJOCO_GL"] = "egl"
    elif _ctypes_util.find_library("OSMesa"):
        _os.environ["MUJOCO_GL"] = "osmesa"
if _os.environ.get("MUJOCO_GL") in ("egl", "osmesa"):
    _os.environ.setdefault("PYOPENGL_PLATFORM", _os.environ["MUJOCO_GL"])

from body.interface import BodyInterface  # noqa: E402
from body.rat import (ACTUATIONS, SIDES, VARIANTS, RatBody, build, frozen_config, log_mujoco_to,  # noqa: E402
                      rodent_xml_path)

__all__ = ["build", "frozen_config", "log_mujoco_to", "RatBody", "BodyInterface", "VARIANTS", "ACTUATIONS", "SIDES", "rodent_xml_path"]
