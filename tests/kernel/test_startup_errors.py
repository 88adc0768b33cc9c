"""Every bad start ends with one actionable line on stderr, a non-zero exit and no traceback.
Each case provokes the failure through the real command (environment overrides point the
checks at a missing file, an old kernel version, etc. where the machine itself is healthy)."""
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SNIFF = [str(ROOT / ".venv/bin/python"), "-m", "sniff_tui.commands.cli"]


def sniff(*args, env=None, prefix=(), timeout=120):
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([*prefix, *SNIFF, *args], capture_output=True, text=True, env=full_env,
                          timeout=timeout, cwd=ROOT)


def one_line(proc, code=1):
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == code, proc.stderr
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert lines[0].startswith("sniff-tui: ")
    return lines[0]


@pytest.fixture
def public_dir():
    """A directory an unprivileged user can reach (pytest's tmp dirs are private to root)."""
    import shutil
    import tempfile
    path = Path(tempfile.mkdtemp(prefix="sniff-public-"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def test_not_root(public_dir):
    proc = sniff("stream", "-d", str(public_dir), "--duration", "1", prefix=NOBODY)
    assert "needs root" in one_line(proc) and "sudo" in proc.stderr


def test_bcc_not_importable(tmp_path):
    # BCC compiles (in a child): only a start with nothing in the compile cache needs it
    fake = tmp_path / "shadow" / "bcc"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named bcc')\n")
    proc = sniff("stream", "-d", str(tmp_path), "--duration", "1",
                 env={"PYTHONPATH": f"{tmp_path / 'shadow'}:{ROOT}", "SNIFF_TUI_CACHE_DIR": str(tmp_path / "cache")})
    line = one_line(proc)
    assert "python3-bpfcc" in line and "python3-bcc" in line


@pytest.mark.parametrize("env, expected", [
    ({"SNIFF_TUI_BTF": "/nonexistent/vmlinux"}, "CONFIG_DEBUG_INFO_BTF"),
    ({"SNIFF_TUI_KERNEL_RELEASE": "5.4.0-1-generic"}, "too old"),
    ({"SNIFF_TUI_MODULES": "/nonexistent"}, "kernel headers"),
])
def test_system_problems(tmp_path, env, expected):
    # an empty compile cache: the headers are only needed to compile
    proc = sniff("stream", "-d", str(tmp_path), "--duration", "1",
                 env={"SNIFF_TUI_CACHE_DIR": str(tmp_path / "cache"), **env})
    assert expected in one_line(proc)


def test_lockdown_confidentiality(tmp_path):
    f = tmp_path / "lockdown"
    f.write_text("none integrity [confidentiality]\n")
    proc = sniff("stream", "-d", str(tmp_path), "--duration", "1", env={"SNIFF_TUI_LOCKDOWN": str(f)})
    assert "confidentiality" in one_line(proc)


def test_verifier_rejection_is_one_line_and_its_log_with_v(tmp_path):
    # A walk far too deep for the verifier's budget.
    env = {"SNIFF_TUI_CFLAGS": "-DSNIFF_MAX_DEPTH=100000"}
    proc = sniff("stream", "-d", str(tmp_path), "--duration", "1", env=env, timeout=600)
    line = one_line(proc)
    assert "rejected" in line or "could not" in line
    verbose = sniff("stream", "-v", "-d", str(tmp_path), "--duration", "1", env=env, timeout=600)
    assert verbose.returncode == 1
    assert "processed" in verbose.stderr or "too large" in verbose.stderr or "BPF program" in verbose.stderr
    assert len(verbose.stderr.splitlines()) > 3


@pytest.mark.parametrize("args, expected", [
    (["stream", "-d", "/nonexistent-dir"], "no such directory"),
    (["stream", "-d", "/etc/passwd"], "not a directory"),
    (["stream", "--ops", "read,bogus"], "unknown operation bogus"),
    (["stream", "--format", "xml"], "invalid choice"),
    (["stream", "--pid", "abc"], "not a number"),
    (["stream", "--uid", "-3"], "must not be negative"),
    (["stream", "--duration", "-1"], "must not be negative"),
    (["stream", "--interval", "0"], "must be more than 0"),
    (["replay", "/nonexistent.jsonl"], "no such file"),
])
def test_bad_options(args, expected):
    assert expected in one_line(sniff(*args), code=2)


def test_unreadable_directory(public_dir):
    d = public_dir / "locked"
    d.mkdir(mode=0o000)
    proc = sniff("stream", "-d", str(d), prefix=NOBODY)
    assert "cannot read" in one_line(proc, code=2)
