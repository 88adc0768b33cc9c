"""The example Prometheus and Grafana files only use metrics that sniff-tui serves."""
from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from sniff_tui.history.metrics import StreamMetrics
from sniff_tui.core.record import Record

CONTRIB = Path(__file__).absolute().parents[2] / "contrib"


def served_names() -> set[str]:
    m = StreamMetrics([b"/w"])
    m.observe([Record(ts=1.0, op="write", pid=1, tid=1, ppid=0, uid=0, comm=b"c", path=b"/w/f",
                      bytes=1)])
    m.set_stats({"counters": {"ringbuf_drops": 0, "events": 0}, "feed_dropped": 0,
                 "filtered_out": 0, "maps": {"agg": {"entries": 0, "max": 1, "utilization": 0}},
                 "programs": {"p": {"runs": 1, "ns_per_run": 1.0}}})
    m.set_store(0, 0, 0)
    return {s.name for family in m.collect() for s in family.samples}


def used_names(text: str) -> set[str]:
    return set(re.findall(r"\b(sniff_tui_[a-z_]+)", text))


def test_grafana_dashboard_uses_served_metrics():
    dash = json.loads((CONTRIB / "grafana" / "sniff-tui-dashboard.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    assert exprs and used_names(" ".join(exprs)) <= served_names()


def test_prometheus_files_parse_and_use_served_metrics():
    config = yaml.safe_load((CONTRIB / "prometheus" / "prometheus.yml").read_text())
    assert config["scrape_configs"][0]["job_name"] == "sniff-tui"
    rules = yaml.safe_load((CONTRIB / "prometheus" / "sniff-tui-rules.yml").read_text())
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    assert used_names(" ".join(exprs)) <= served_names()
