"""Shared helpers for the benchmark scripts: machine description and table printing.

Every table a script prints is also written, with its header (date, machine), to the ignored
`results/<script>.md` when the script ends, for the docs' results pages.
"""

from __future__ import annotations

import atexit
import datetime
import os
import platform
import sys
from pathlib import Path

_PRINTED: list[str] = []
REPORT_NAME: str | None = None  # results/<name>.md; default: the script's module name


def _out(text: str = "") -> None:
    print(text)
    if not _PRINTED:
        atexit.register(_save)
    _PRINTED.append(text)


def _save() -> None:
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    name = REPORT_NAME or (spec.name.rsplit(".", 1)[-1] if spec is not None else Path(sys.argv[0]).stem)
    path = Path("results") / f"{name}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text("\n".join(_PRINTED) + "\n")
    os.replace(tmp, path)
    print(f"wrote {path}")


def machine() -> str:
    """The machine (as runs record it, `training.ppo.machine`), with its memory and Python version."""
    from training.ppo import machine as cpu_and_cores

    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu_and_cores()}, {mem_gb:.0f} GB, Python {platform.python_version()}"


def header(title: str) -> None:
    _out(f"## {title}")
    _out(f"{datetime.date.today().isoformat()} on {machine()}")
    _out()


def table(columns: list[str], rows: list[list]) -> None:
    """Print a Markdown table (so it pastes into a docs results page as is)."""
    cells = [[str(c) for c in columns]] + [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    for k, row in enumerate(cells):
        _out("| " + " | ".join(v.ljust(w) for v, w in zip(row, widths)) + " |")
        if k == 0:
            _out("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    _out()


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}"
    return str(v)
