"""scripts/ensure_data.sh (`make data`): installs dataset-fashion-mnist only when auto would fall back to digits
and root or password-less sudo and apt-get are there; otherwise one line says how to get better data."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "ensure_data.sh"


def fake_bin(folder: Path, uid: int, choice: str, apt: bool = True, sudo: bool = False) -> tuple[Path, Path]:
    """A PATH folder with a fake ``id``, optionally ``apt-get`` and ``sudo`` (they log their arguments), and
    a fake python that answers ``choice`` for ``auto_choice``."""
    folder.mkdir()
    log = folder / "calls.log"

    def script(name: str, body: str) -> None:
        path = folder / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)

    script("id", f"echo {uid}")
    script("python", f"echo {choice}")
    if apt:
        script("apt-get", f'echo "apt-get $*" >> {log}')
    if sudo:
        script("sudo", f'echo "sudo $*" >> {log}; [ "$1" = -n ] && shift; [ "$1" = true ] && exit 0; exec "$@"')
    return folder, log


def run(folder: Path, dataset: str = "auto") -> subprocess.CompletedProcess:
    return subprocess.run(
        ["/bin/bash", str(SCRIPT), str(folder / "python"), dataset],
        env={"PATH": str(folder)},
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize("choice", ["cifar10", "fashion-mnist"])
def test_nothing_to_do_when_better_data_is_there(tmp_path, choice):
    folder, log = fake_bin(tmp_path / "bin", uid=0, choice=choice)
    result = run(folder)
    assert result.returncode == 0 and result.stderr == "" and not log.exists()


def test_root_with_apt_installs_the_debian_package(tmp_path):
    folder, log = fake_bin(tmp_path / "bin", uid=0, choice="digits")
    result = run(folder)
    assert result.returncode == 0 and "installing Fashion-MNIST" in result.stderr
    assert log.read_text().splitlines() == ["apt-get install -y -qq dataset-fashion-mnist"]


def test_passwordless_sudo_is_used(tmp_path):
    folder, log = fake_bin(tmp_path / "bin", uid=1000, choice="digits", sudo=True)
    assert run(folder).returncode == 0
    assert "apt-get install -y -qq dataset-fashion-mnist" in log.read_text()


def test_without_root_or_apt_one_line_says_how_to_get_better_data(tmp_path):
    folder, log = fake_bin(tmp_path / "bin", uid=1000, choice="digits", apt=False)
    result = run(folder)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 0 and len(lines) == 1 and not log.exists()
    assert "digits" in lines[0] and "apt-get install dataset-fashion-mnist" in lines[0]


def test_other_datasets_are_left_alone(tmp_path):
    folder, log = fake_bin(tmp_path / "bin", uid=0, choice="digits")
    assert run(folder, "synthetic").stderr == "" and not log.exists()
