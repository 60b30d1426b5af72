"""The wheel carries everything bhrdigest reads at run time, and runs outside the checkout.

The wheel is built with hatchling in this process (no network, no build isolation) and
unpacked into a folder that is not a checkout; `python -m bhrdigest` then runs from it
in an empty folder. `.ci/run` does the same with a real `pip install` into a fresh venv.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ("templates", "samples", "subscriptions.yaml")  # at the top of the repository, as staff edit them


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hatchling.builders.wheel import WheelBuilder

    folder = tmp_path_factory.mktemp("dist")
    return Path(next(WheelBuilder(str(ROOT)).build(directory=str(folder), versions=["standard"])))


def bundled_files() -> set[str]:
    files = set()
    for name in BUNDLED:
        path = ROOT / name
        found = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        files |= {f"bhrdigest/_data/{p.relative_to(ROOT).as_posix()}" for p in found}
    return files


def test_the_wheel_carries_the_templates_samples_and_demo_configuration(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = bundled_files()
    assert {"bhrdigest/_data/templates/digest.html.j2", "bhrdigest/_data/templates/web/preferences.html.j2",
            "bhrdigest/_data/subscriptions.yaml"} <= expected
    assert expected <= names, sorted(expected - names)
    assert not any(name.startswith(("tests/", "templates/", "samples/")) for name in names)


def run_from_wheel(wheel: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    site = tmp_path / "site-packages"
    if not site.exists():
        zipfile.ZipFile(wheel).extractall(site)
    folder = tmp_path / "empty"
    folder.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BHRDIGEST_", "DATABASE_URL", "SMTP_", "DYNO"))}
    env["PYTHONPATH"] = str(site)  # before the editable checkout on sys.path: the wheel's bhrdigest is imported
    return subprocess.run([sys.executable, "-m", "bhrdigest", "-q", *args], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_demo_and_check_run_from_the_wheel_outside_the_checkout(wheel: Path, tmp_path: Path):
    where = run_from_wheel(wheel, tmp_path, "--version")
    assert where.returncode == 0, where.stderr
    probe = subprocess.run([sys.executable, "-c", "import bhrdigest; print(bhrdigest.__file__)"], capture_output=True,
                           text=True, env={**os.environ, "PYTHONPATH": str(tmp_path / "site-packages")}, check=True)
    assert probe.stdout.startswith(str(tmp_path)), probe.stdout  # not the checkout's src/

    demo = run_from_wheel(wheel, tmp_path, "demo")
    assert demo.returncode == 0, demo.stderr
    assert list((tmp_path / "empty" / "outbox" / "demo").glob("*.html"))

    staff = tmp_path / "staff"  # staff's own configuration, without a templates/ folder: the bundled ones are used
    staff.mkdir()
    shutil.copy(ROOT / "subscriptions.yaml", staff)
    shutil.copytree(ROOT / "samples", staff / "samples")
    check = run_from_wheel(wheel, tmp_path, "--config", str(staff / "subscriptions.yaml"), "check")
    assert check.returncode == 0, check.stderr
    assert f"{tmp_path / 'site-packages' / 'bhrdigest' / '_data' / 'templates'}: ok" in check.stdout
