"""The documentation: every relative link and image in the README and docs/ resolves, the site's nav
lists every page and only pages that exist, the README stays short, and the source tree holds no run
outputs."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def relative_targets(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)  # links inside code are examples
    text = re.sub(r"`[^`\n]*`", "", text)
    return [t for t in LINK.findall(text) if not re.match(r"^[a-z]+:", t) and not t.startswith("#")]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_and_image_resolves(page):
    missing = [t for t in relative_targets(page) if not (page.parent / t.split("#")[0]).exists()]
    assert not missing, f"{page.relative_to(REPO)} links to missing files: {missing}"


def test_the_link_check_finds_a_broken_link(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("see [a](missing.md) and ![b](figures/none.png), not `[c](code.md)` in\n```\n[d](x.md)\n```\n"
                    "nor [e](https://example.org) or [f](#anchor)")
    assert relative_targets(page) == ["missing.md", "figures/none.png"]


def test_site_nav_lists_every_page_and_only_existing_ones():
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text())

    def flatten(nav):
        for item in nav:
            for value in item.values():
                yield from (flatten(value) if isinstance(value, list) else [value])

    listed = set(flatten(config["nav"]))
    pages = {str(p.relative_to(REPO / "docs")) for p in (REPO / "docs").rglob("*.md")}
    assert listed == pages, f"not in nav: {sorted(pages - listed)}; in nav but missing: {sorted(listed - pages)}"


def test_readme_is_a_front_door():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    assert "make demo" in readme and "make test" in readme
    assert readme.index("windtunnel train") < 1500  # the first training command within the first screens


def test_docs_figures_stay_small():
    total = sum(p.stat().st_size for p in (REPO / "docs").rglob("*") if p.is_file() and p.suffix != ".md")
    assert total <= 3 * 2**20


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None, reason="mkdocs is not installed (pip install mkdocs)")
def test_mkdocs_builds_strictly(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_no_run_outputs_are_tracked():
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True).stdout.split()
    outputs = [f for f in files if f.startswith(("runs/", "results/", "benchmarks/results/")) or
               (f.endswith((".pt", ".nwb", ".mp4")) and not f.startswith("zoo/"))]
    assert not outputs, outputs[:5]
