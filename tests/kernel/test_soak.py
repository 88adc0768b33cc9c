"""Two minutes of mixed load (file churn, renames, process churn, noise outside the tree):
exact byte totals or counted losses, every short-lived process seen or counted, memory flat,
maps not full.
The benchmarks run the same soak for 15 minutes (bench/soak.py), which requires nothing dropped."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import soak  # noqa: E402


def test_two_minute_soak(tmp_path):
    result = soak.soak(2.0, tmp_path)
    assert result["exit"] == 0, result["stderr"]
    # Nothing dropped, as the 15-minute soak requires: at about 10,000 records/s the consumer
    # keeps up with both cores busy (0 drops beside stress-ng --cpu 2). The drops this used to
    # allow were the consumer position written in two steps (probes/ringbuf.py): about one
    # record in 20,000, some 35 in a run of this length.
    assert result["drops"] == dict.fromkeys(result["drops"], 0), result["drops"]
    assert result["bytes_reported"] == result["bytes_written"], result
    assert result["child_opens_reported"] >= result["children"], result
    # Flat: at most +10% from the first minute to the end, as the 15-minute soak requires. The
    # process table fills for a minute (exited processes are kept 60 s): CI's machines, whose pids
    # do not come back (pid_max 4194304), failed this at +10.4% before an exited process's entry
    # went from 533 to 153 bytes and the heap stopped growing at each rebuild of a big table
    # (core/heap.py); +3.0-3.4% after.
    assert result["rss_growth"] <= 0.10, result
    assert all(u < 1.0 for u in result["peak_map_utilization"].values()), result
