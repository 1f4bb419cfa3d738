"""benchmarks.online_memory on a tiny network: e-prop's step memory does not grow with the
sequence, BPTT's does, and the JSON is written."""

from __future__ import annotations

import json
import pathlib
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import online_memory  # noqa: E402


@pytest.mark.slow
def test_eprop_memory_does_not_grow_with_the_sequence(tmp_path):
    output = tmp_path / "memory.json"
    summary = online_memory.main(["--tiny", "--methods", "eprop", "bptt", "--output", str(output)])
    written = json.loads(output.read_text())
    assert written["growth_temp_plus_output"] == summary["growth_temp_plus_output"]
    assert [(r["method"], r["length"]) for r in written["rows"]] == [
        ("eprop", 20), ("eprop", 200), ("bptt", 20), ("bptt", 200)]
    assert summary["growth_temp_plus_output"]["eprop"] < 1.2
    assert summary["growth_temp_plus_output"]["bptt"] > 3.0
    assert all(row["rss"] is None for row in written["rows"])  # no --rss: no subprocesses
