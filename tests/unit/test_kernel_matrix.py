"""scripts/kernel-matrix.sh's arguments and failure lines. What it installs and boots is proven
by running the matrix (CI's .ci/run); here the package tools are fakes on PATH, so a machine
that cannot install a kernel is shown to fail the matrix with one line, never to skip it."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "kernel-matrix.sh"


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def fake_tools(tmp_path: Path, installed: set[str]) -> dict:
    """PATH with fakes: root, dpkg-query knowing only `installed`, apt-get that cannot install."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    scripts = {
        "id": "echo 0",
        "dpkg-query": ('for p; do :; done\ncase " %s " in *" $p "*) echo "install ok installed";; '
                       '*) exit 1;; esac' % " ".join(sorted(installed))),
        "apt-get": 'case $1 in update) exit 0;; esac\necho "E: Unable to locate package $5"; exit 100',
    }
    for name, body in scripts.items():
        (bin_ / name).write_text(f"#!/bin/bash\n{body}\n")
        (bin_ / name).chmod(0o755)
    venv = tmp_path / "vng" / "bin"
    venv.mkdir(parents=True)
    (venv / "vng").write_text("#!/bin/sh\necho virtme-ng 1.42\n")
    (venv / "vng").chmod(0o755)
    return {"PATH": f"{bin_}:{os.environ['PATH']}", "KERNEL_MATRIX_VNG_VENV": str(tmp_path / "vng"),
            "KERNEL_MATRIX_OUT": str(tmp_path / "out")}


def test_an_unknown_kernel_is_one_usage_line():
    r = run("6.1", "5.15")
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr.splitlines() == [r.stderr.strip()]
    assert r.stderr.startswith("kernel-matrix: unknown kernel '5.15' (known: 6.1 6.12)")


def test_an_unknown_option_and_a_missing_value_are_usage_errors():
    for args, msg in ((["--fast"], "unknown option --fast"), (["--out"], "--out needs a directory")):
        r = run(*args)
        assert r.returncode == 2
        assert r.stderr.startswith(f"kernel-matrix: {msg} (usage: ")


def test_without_qemu_and_busybox_the_matrix_fails_in_one_line(tmp_path):
    r = run("6.12", env=fake_tools(tmp_path, installed=set()))
    assert r.returncode == 1
    assert r.stdout.splitlines() == [
        "kernel-matrix: FAIL: cannot install qemu-system-x86 busybox-static python3-venv: "
        "E: Unable to locate package qemu-system-x86"]


def test_a_kernel_that_cannot_be_installed_fails_the_matrix_in_one_line(tmp_path):
    env = fake_tools(tmp_path, installed={"qemu-system-x86", "busybox-static", "python3-venv"})
    r = run("6.12", env=env)
    assert r.returncode == 1
    assert r.stdout.splitlines() == [
        "kernel-matrix: 6.12: FAIL: cannot install linux-image-6.12-amd64 linux-headers-6.12-amd64: "
        "E: Unable to locate package linux-image-6.12-amd64"]
