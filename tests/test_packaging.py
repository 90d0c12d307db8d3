"""The wheel a user installs: built from this repository, it carries the config tree and the spinal
layer's parameter sets, and trains and evaluates outside any checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("body", "tasks", "circuits", "training", "comparisons", "windtunnel")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel built from a copy of the source and unpacked into a folder of its own (dependencies from
    this environment); commands then run from another folder with only that folder on the path."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in PACKAGES:
        shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                           str(tmp / "dist"), str(src)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    wheel = next((tmp / "dist").glob("windtunnel-*.whl"))
    site = tmp / "site"
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        z.extractall(site)
    work = tmp / "elsewhere"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    return {"names": names, "site": site, "work": work, "env": env}


def run(installed, *args, timeout=600):
    return subprocess.run([sys.executable, "-m", "windtunnel", *args], cwd=installed["work"], env=installed["env"],
                          capture_output=True, text=True, timeout=timeout)


def test_the_wheel_carries_the_config_tree_and_the_layer_parameters(installed):
    names = installed["names"]
    assert "windtunnel/conf/config.yaml" in names and "circuits/conf/circuit/m1_bg.yaml" in names
    assert "body/spinal/params/command.json" in names and "body/spinal/params/drive.json" in names
    assert "comparisons/reference/citations.yaml" in names
    assert not any(n.startswith(("tests/", "benchmarks/", "docs/")) for n in names)


def test_the_installed_package_runs_from_another_folder(installed):
    where = subprocess.run([sys.executable, "-c", "import windtunnel.config as c, body; print(c.CONF_DIR); "
                            "print(body.__file__)"], cwd=installed["work"], env=installed["env"],
                           capture_output=True, text=True)
    conf_dir, body_file = where.stdout.split()
    assert conf_dir.startswith(str(installed["site"])) and body_file.startswith(str(installed["site"]))
    info = run(installed, "info")
    assert info.returncode == 0, info.stderr[-2000:]
    assert "windtunnel/LeverTiming-v0" in info.stdout and "m1_bg" in info.stdout
    train = run(installed, "train", "circuit=mlp", "task=lever_timing", "training.total_steps=2000",
                "training.num_workers=1", "run_name=wheel")
    assert train.returncode == 0, train.stderr[-2000:]
    run_dir = installed["work"] / "runs" / "wheel"
    assert (run_dir / "checkpoints" / "best.pt").exists() and (run_dir / "config.yaml").exists()
    evaluate = run(installed, "evaluate", "runs/wheel", "episodes=1")
    assert evaluate.returncode == 0, evaluate.stderr[-2000:]
    assert (run_dir / "eval" / "intact.json").exists()
