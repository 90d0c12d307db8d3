"""Render a comparison report (report.html) in headless Chromium, as a reader would see it, and check it.

    python -m benchmarks.report_screenshot runs/demo/report.html [--out results/report.png] [--width 1200]

Checks that the page renders (a non-blank screenshot, taller than one screen), and that every figure
embedded in it decodes as an image, then writes the screenshot (default `results/report_screenshot.png`)
for the docs. Needs a Chromium (`chromium`, `chromium-browser` or `google-chrome` on the PATH); it is not
a dependency of the package.
"""

from __future__ import annotations

import argparse
import base64
import io
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def browser() -> str:
    for name in BROWSERS:
        if shutil.which(name):
            return shutil.which(name)
    raise SystemExit(f"no headless browser found ({', '.join(BROWSERS)}); install Chromium to render reports")


def screenshot(page: Path, out: Path, width: int = 1200, height: int = 6000) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([browser(), "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
                        "--hide-scrollbars", f"--window-size={width},{height}", f"--screenshot={out}",
                        page.resolve().as_uri()], check=True, capture_output=True, timeout=120)
    return out


def check(page: Path, shot: Path) -> dict:
    """What a reader would notice: a blank page, a broken figure, an empty matrix."""
    import matplotlib.image as mpimg
    import numpy as np

    html = page.read_text()
    figures = re.findall(r"src='data:image/png;base64,([^']+)'", html) + re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    for i, b64 in enumerate(figures):
        mpimg.imread(io.BytesIO(base64.b64decode(b64)), format="png")  # raises on a broken figure
    img = mpimg.imread(str(shot))
    gray = img[..., :3].mean(axis=2)
    rows_with_ink = np.flatnonzero((gray < 0.9).any(axis=1))
    if not len(rows_with_ink):
        raise SystemExit(f"{page}: the rendered page is blank")
    matrix_cells = len(re.findall(r"<td", re.search(r"<table class='matrix'>(.*?)</table>", html, re.S).group(1))) \
        if "class='matrix'" in html else 0
    return {"figures": len(figures), "inked_height_px": int(rows_with_ink[-1]), "matrix_cells": matrix_cells}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("report", type=Path)
    ap.add_argument("--out", type=Path, default=Path("results/report_screenshot.png"))
    ap.add_argument("--width", type=int, default=1200)
    args = ap.parse_args()
    if not args.report.is_file():
        print(f"no report at {args.report}", file=sys.stderr)
        raise SystemExit(2)
    shot = screenshot(args.report, args.out, args.width)
    result = check(args.report, shot)
    print(f"{args.report}: rendered {result['inked_height_px']} px of content, {result['figures']} figures decoded, "
          f"{result['matrix_cells']} matrix cells; wrote {shot}")


if __name__ == "__main__":
    main()
