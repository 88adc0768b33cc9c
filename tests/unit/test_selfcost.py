"""bpf_stats_enabled: switched on while a run wants it, put back by the last run to stop, or by
the next start when every run that wanted it was killed."""
import subprocess

import pytest

from sniff_tui.probes import selfcost


@pytest.fixture
def sysctl(tmp_path, monkeypatch):
    path = tmp_path / "bpf_stats_enabled"
    path.write_text("0\n")
    monkeypatch.setattr(selfcost, "SYSCTL", path)
    monkeypatch.setattr(selfcost, "RUN_DIR", tmp_path / "run")
    return path


def test_the_last_run_to_stop_puts_the_value_back(sysctl):
    a, b = selfcost.BpfStats(), selfcost.BpfStats()
    assert a.enable() and b.enable()
    assert sysctl.read_text() == "1"
    a.restore()
    assert sysctl.read_text() == "1"      # b (here the same process) still wants it
    b.restore()
    assert sysctl.read_text().strip() == "0"


def test_a_killed_holder_is_found_out_by_the_next_start(sysctl):
    dead = subprocess.Popen(["true"])
    dead.wait()
    run = selfcost.RUN_DIR
    (run / "holders").mkdir(parents=True)
    (run / "holders" / f"{dead.pid}-1").touch()
    (run / "bpf_stats_previous").write_text("0")
    sysctl.write_text("1")
    selfcost.restore_abandoned()
    assert sysctl.read_text() == "0"
    assert not (run / "bpf_stats_previous").exists()


def test_a_live_holder_keeps_it_on(sysctl):
    holder = selfcost.BpfStats()
    assert holder.enable()
    selfcost.restore_abandoned()
    assert sysctl.read_text() == "1"
    holder.restore()
    assert sysctl.read_text().strip() == "0"


def test_already_on_stays_on(sysctl):
    sysctl.write_text("1")
    s = selfcost.BpfStats()
    assert s.enable()
    s.restore()
    assert sysctl.read_text() == "1"
