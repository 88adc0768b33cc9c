"""Every start-up failure the preflight knows: provoked, with its one line checked."""
import pytest

from sniff_tui.probes import preflight
from sniff_tui.probes.preflight import PreflightError


def caps_file(tmp_path, caps: int):
    path = tmp_path / "status"
    path.write_text(f"Name:\tx\nCapEff:\t{caps:016x}\n")
    return str(path)


def test_no_capabilities_as_a_user(tmp_path, monkeypatch):
    monkeypatch.setenv("SNIFF_TUI_PROC_STATUS", caps_file(tmp_path, 0))
    monkeypatch.setattr(preflight.os, "geteuid", lambda: 1000)
    with pytest.raises(PreflightError, match=r"needs root .*try sudo"):
        preflight.check_privileges()


def test_root_without_bpf_caps(tmp_path, monkeypatch):
    monkeypatch.setenv("SNIFF_TUI_PROC_STATUS", caps_file(tmp_path, 1 << preflight.CAP_PERFMON))
    monkeypatch.setattr(preflight.os, "geteuid", lambda: 0)
    with pytest.raises(PreflightError, match="without CAP_BPF"):
        preflight.check_privileges()


@pytest.mark.parametrize("caps", [1 << 21, (1 << 38) | (1 << 39)])
def test_enough_capabilities(tmp_path, monkeypatch, caps):
    monkeypatch.setenv("SNIFF_TUI_PROC_STATUS", caps_file(tmp_path, caps))
    monkeypatch.setattr(preflight.os, "geteuid", lambda: 1000)
    preflight.check_privileges()


def test_old_kernel(monkeypatch):
    monkeypatch.setenv("SNIFF_TUI_KERNEL_RELEASE", "5.4.0-150-generic")
    with pytest.raises(PreflightError, match=r"5.4.0-150-generic is too old.*5.8"):
        preflight.check_kernel_version()
    monkeypatch.setenv("SNIFF_TUI_KERNEL_RELEASE", "6.1.0-18-amd64")
    preflight.check_kernel_version()


def test_lockdown_confidentiality(tmp_path, monkeypatch):
    f = tmp_path / "lockdown"
    f.write_text("none integrity [confidentiality]\n")
    monkeypatch.setenv("SNIFF_TUI_LOCKDOWN", str(f))
    with pytest.raises(PreflightError, match="confidentiality"):
        preflight.check_lockdown()
    f.write_text("none [integrity] confidentiality\n")
    preflight.check_lockdown()


def test_no_btf(tmp_path, monkeypatch):
    monkeypatch.setenv("SNIFF_TUI_BTF", str(tmp_path / "vmlinux"))
    with pytest.raises(PreflightError, match="CONFIG_DEBUG_INFO_BTF"):
        preflight.check_btf()


def test_no_headers(tmp_path, monkeypatch):
    monkeypatch.delenv("BCC_KERNEL_SOURCE", raising=False)
    monkeypatch.setenv("SNIFF_TUI_MODULES", str(tmp_path))
    monkeypatch.setenv("SNIFF_TUI_KERNEL_RELEASE", "6.9.9-test")
    with pytest.raises(PreflightError, match=r"headers for 6.9.9-test are missing.*setup.sh"):
        preflight.check_headers()
    (tmp_path / "6.9.9-test" / "build" / "include" / "linux").mkdir(parents=True)
    (tmp_path / "6.9.9-test" / "build" / "include" / "linux" / "kconfig.h").write_text("")
    preflight.check_headers()
