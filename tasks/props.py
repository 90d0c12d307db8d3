"""Props shared by tasks, and the contact bits that decide what touches them.

The rat's collision geoms use contact bit 1. Props a rat manipulates (lever, pellet) use bit 2
only; the forelimb's distal geoms (forearm, hand, fingers) get bit 2 added to their contype, so a
prop collides with the paw and nothing else of the (possibly welded) body.
"""

from __future__ import annotations

import mujoco
import numpy as np

PROP_BIT = 2
FORELIMB_DISTAL_BODIES = ("lower_arm_{s}", "hand_{s}", "finger_{s}")


def let_forelimb_touch_props(spec: mujoco.MjSpec, side_letter: str) -> None:
    for name in FORELIMB_DISTAL_BODIES:
        for geom in spec.body(name.format(s=side_letter)).geoms:
            geom.contype = int(geom.contype) | PROP_BIT


def add_closeup_camera(spec: mujoco.MjSpec, target_body: str, side_letter: str) -> None:
    """A camera 'closeup' in front of and beside the working paw, always aimed at `target_body`."""
    y = -0.22 if side_letter == "R" else 0.22
    cam = spec.worldbody.add_camera(name="closeup", pos=[0.3, y, 0.14], fovy=35)
    cam.mode = mujoco.mjtCamLight.mjCAMLIGHT_TARGETBODY
    cam.targetbody = target_body


def body_geom_ids(model: mujoco.MjModel, body_names) -> np.ndarray:
    ids = {model.body(n).id for n in body_names}
    return np.array([g for g in range(model.ngeom) if model.geom_bodyid[g] in ids], dtype=np.int64)


def contacts_with(data: mujoco.MjData, geom_id: int, candidates: np.ndarray) -> bool:
    """True if `geom_id` is in contact with any geom in `candidates` right now."""
    n = data.ncon
    if n == 0:
        return False
    g1, g2 = data.contact.geom1[:n], data.contact.geom2[:n]
    hit = ((g1 == geom_id) & np.isin(g2, candidates)) | ((g2 == geom_id) & np.isin(g1, candidates))
    return bool(hit.any())


def yaw_quat(yaw_rad: float) -> np.ndarray:
    return np.array([np.cos(yaw_rad / 2), 0.0, 0.0, np.sin(yaw_rad / 2)])

