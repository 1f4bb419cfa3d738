"""The bad-input table of issue 14 keeps at least 100 rows across the public API."""

from __future__ import annotations

import importlib.util
import pathlib

from tests.robustness._table import count_cases

HERE = pathlib.Path(__file__).parent


def _load(path: pathlib.Path):
    spec = importlib.util.spec_from_file_location(f"_robustness_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_table_has_at_least_100_rows():
    counts = {}
    for path in sorted(HERE.glob("test_*.py")):
        if path.name == "test_count.py":
            continue
        counts[path.name] = count_cases(vars(_load(path)))
    assert sum(counts.values()) >= 100, counts
