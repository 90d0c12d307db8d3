"""The report's rendering check fails a page a reader could not use: a blank render, a broken figure."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from benchmarks.report_screenshot import check  # noqa: E402


def _png(blank: bool) -> bytes:
    fig, ax = plt.subplots(figsize=(3, 2))
    if not blank:
        ax.plot([0, 1], [0, 1])
    else:
        ax.set_axis_off()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def test_the_check_passes_a_rendered_page_and_fails_a_blank_one_or_a_broken_figure(tmp_path):
    fig = base64.b64encode(_png(False)).decode()
    page = tmp_path / "report.html"
    page.write_text(f"<table class='matrix'><tr><td>a</td><td>b</td></tr></table><img src='data:image/png;base64,{fig}'>")
    shot = tmp_path / "shot.png"
    shot.write_bytes(_png(False))
    result = check(page, shot)
    assert result["figures"] == 1 and result["matrix_cells"] == 2 and result["inked_height_px"] > 0
    shot.write_bytes(_png(True))  # the null: a blank render
    with pytest.raises(SystemExit, match="blank"):
        check(page, shot)
    shot.write_bytes(_png(False))
    page.write_text("<img src='data:image/png;base64,bm90IGEgcG5n'>")  # the null: a figure that does not decode
    with pytest.raises(Exception):
        check(page, shot)
