"""The Prometheus endpoint: exact totals per label, bounded process-name labels that never make
a counter go backwards, the stats dict's health figures, real HTTP over 127.0.0.1, and one-line
refusals of addresses that cannot be used."""
from __future__ import annotations

import socket
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sniff_tui.history.metrics import (MetricsAddressError, MetricsServer, StreamMetrics, parse_address,
                             watch_of)
from sniff_tui.core.record import Record


def rec(op, comm, path, nbytes=None, count=1) -> Record:
    return Record(ts=1.0, op=op, pid=1, tid=1, ppid=0, uid=0, comm=comm, path=path, bytes=nbytes,
                  count=count)


def samples(metrics: StreamMetrics) -> dict:
    out = {}
    for family in metrics.collect():
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def ops(metrics, name="sniff_tui_operations_total") -> dict:
    return {dict(k[1])["comm"]: v for k, v in samples(metrics).items() if k[0] == name}


def test_totals_by_op_watch_and_comm():
    m = StreamMetrics([b"/a", b"/b/"], names_limit=10)
    m.observe([rec("write", b"cc", b"/a/x", 10, 2), rec("write", b"cc", b"/b/y", 5, 1),
               rec("read", b"cc", b"/a/x", 7, 3), rec("open", b"sh\xff", b"/a/z")])
    s = samples(m)
    key = lambda op, w, c: ("sniff_tui_operations_total", (("comm", c), ("op", op), ("watch", w)))
    assert s[key("write", "/a", "cc")] == 2 and s[key("write", "/b", "cc")] == 1
    assert s[key("read", "/a", "cc")] == 3 and s[key("open", "/a", "sh\ufffd")] == 1
    assert s[("sniff_tui_bytes_total", (("comm", "cc"), ("op", "write"), ("watch", "/a")))] == 10
    assert s[("sniff_tui_records_total", (("op", "write"),))] == 2
    assert watch_of(b"/b/y/z", [b"/b", b"/b/y"]) == b"/b/y"
    assert watch_of(b"/bb/y", [b"/b"]) is None


def test_process_names_are_bounded_and_counters_never_go_back():
    m = StreamMetrics([b"/w"], names_limit=2)
    m.observe([rec("write", b"quiet", b"/w/f")] + [rec("write", b"busy", b"/w/f")] * 5 +
              [rec("write", b"third", b"/w/f")])
    # Busiest first within the batch: busy, then (a tie of one each) by name.
    assert ops(m) == {"busy": 5, "quiet": 1, "other": 1}
    m.observe([rec("write", b"third", b"/w/f", count=10), rec("write", b"fourth", b"/w/f"),
               rec("write", b"quiet", b"/w/f")])
    after = ops(m)
    assert after == {"busy": 5, "quiet": 2, "other": 12}
    assert sum(after.values()) == 5 + 1 + 1 + 10 + 1 + 1            # nothing counted twice
    many = StreamMetrics([b"/w"], names_limit=3)
    for i in range(500):
        many.observe([rec("open", b"p%d" % i, b"/w/f")])
    assert len(ops(many)) == 4                                          # 3 names + other


def test_health_figures_come_from_the_stats_dict():
    m = StreamMetrics([b"/w"])
    m.set_stats({"counters": {"ringbuf_drops": 4, "truncated": 1, "events": 100, "agg_full": 2},
                 "feed_dropped": 3, "filtered_out": 9,
                 "maps": {"agg": {"entries": 5, "max": 20, "utilization": 0.25}},
                 "programs": {"raw_enter": {"runs": 1000, "ns_per_run": 50.0}}})
    m.set_store(stored=10, dropped=2, pending=1)
    s = samples(m)
    assert s[("sniff_tui_lost_total", (("kind", "ringbuf_drops"),))] == 4
    assert s[("sniff_tui_lost_total", (("kind", "truncated"),))] == 1
    assert s[("sniff_tui_lost_total", (("kind", "feed_dropped"),))] == 3
    assert s[("sniff_tui_lost_total", (("kind", "store_dropped"),))] == 2
    assert s[("sniff_tui_kernel_events_total", (("counter", "events"),))] == 100
    assert s[("sniff_tui_kernel_events_total", (("counter", "agg_full"),))] == 2
    assert s[("sniff_tui_map_utilization", (("map", "agg"),))] == 0.25
    assert s[("sniff_tui_map_capacity", (("map", "agg"),))] == 20
    assert s[("sniff_tui_probe_runs_total", (("program", "raw_enter"),))] == 1000
    assert s[("sniff_tui_probe_run_seconds_total", (("program", "raw_enter"),))] == pytest.approx(5e-5)
    assert s[("sniff_tui_store_records_total", ())] == 10
    assert s[("sniff_tui_filtered_out_total", ())] == 9


def test_served_over_loopback():
    m = StreamMetrics([b"/w/\xff"])
    m.observe([rec("write", b'q"uo\\te\n', b"/w/\xff/f", 3)])
    server = MetricsServer(m, "127.0.0.1", 0)
    try:
        assert server.port > 0
        body = urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=10).read()
    finally:
        server.close()
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    (sample,) = [s for s in families["sniff_tui_bytes"].samples if s.name.endswith("_total")]
    assert sample.labels == {"op": "write", "watch": "/w/\ufffd", "comm": 'q"uo\\te\n'}
    assert sample.value == 3
    assert "process_cpu_seconds" in families                  # our own cost, too


def test_addresses():
    assert parse_address("9100") == ("127.0.0.1", 9100)
    assert parse_address("0.0.0.0:9100") == ("0.0.0.0", 9100)
    assert parse_address("[::1]:9100") == ("::1", 9100)
    assert parse_address("localhost:0") == ("localhost", 0)
    for bad in ("", "x", "70000", "1.2.3.4:", "::1:9100", "[::1]9100", "[nope]:1", "-1"):
        with pytest.raises(MetricsAddressError):
            parse_address(bad)


def test_an_address_that_cannot_be_bound_is_refused():
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        with pytest.raises(MetricsAddressError, match=f"cannot serve on 127.0.0.1:{port}"):
            MetricsServer(StreamMetrics([b"/w"]), "127.0.0.1", port)
        with pytest.raises(MetricsAddressError, match="cannot serve on 192.0.2.1"):
            MetricsServer(StreamMetrics([b"/w"]), "192.0.2.1", 0)     # not ours (TEST-NET-1)
    finally:
        taken.close()
