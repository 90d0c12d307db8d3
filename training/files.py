"""Files every layer writes: atomic writes (temp file, fsync, rename), so a reader or a killed writer
never sees half a file; permissions as any new file gets (0666 less the umask: 0644 under the usual
022, so collaborators on shared storage can read runs); strict JSON (no bare NaN). Used by training
(checkpoints, summaries) and comparisons (results, reports)."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

NAN_NOTE = "null marks a value that could not be computed (NaN) or was infinite"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a run's files are as readable as any new file
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def strict(obj):
    """`obj` with every NaN or infinite float replaced by None (JSON has no NaN), and whether any was."""
    found = False

    def walk(x):
        nonlocal found
        if isinstance(x, float) and not math.isfinite(x):
            found = True
            return None
        if isinstance(x, dict):
            return {k: walk(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [walk(v) for v in x]
        if hasattr(x, "item") and getattr(x, "ndim", None) == 0:  # numpy scalars
            return walk(x.item())
        if hasattr(x, "tolist"):  # numpy arrays
            return walk(x.tolist())
        return x

    return walk(obj), found


def atomic_write_json(path: str | Path, obj) -> None:
    """Strict JSON: NaN and infinities become null, and a top-level `_note` says so."""
    clean, found = strict(obj)
    if found and isinstance(clean, dict):
        clean = {"_note": NAN_NOTE, **clean}
    atomic_write_text(path, json.dumps(clean, indent=2, allow_nan=False, default=str) + "\n")
