"""Two minutes of mixed load (file churn, renames, process churn, noise outside the tree):
nothing dropped, exact byte totals, every short-lived process seen, memory flat, maps not full.
The benchmarks run the same soak for 30 minutes (bench/soak.py)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import soak  # noqa: E402


def test_two_minute_soak(tmp_path):
    result = soak.soak(2.0, tmp_path)
    assert result["exit"] == 0, result["stderr"]
    assert not any(result["drops"].values()), result
    assert result["bytes_reported"] == result["bytes_written"]
    assert result["child_opens_reported"] >= result["children"]
    assert result["rss_growth"] <= 0.10, result
    assert all(u < 1.0 for u in result["peak_map_utilization"].values()), result
