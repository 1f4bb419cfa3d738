import importlib.util
import json
import os
import subprocess
import sys

import pytest

from benchmarks import conv_cpu

TINY = ["--batch", "4", "--channels", "2", "4", "--time-steps", "2", "--repeats", "1", "--check-steps", "2"]


def test_runs_spikejax_and_writes_the_summary(tmp_path):
    output = tmp_path / "conv.json"
    result = conv_cpu.main(TINY + ["--output", str(output), "--torch-python", sys.executable])
    written = json.loads(output.read_text())
    assert written["median_s"]["spikejax"] == result["median_s"]["spikejax"] > 0
    losses = result["spikejax"]["losses"]
    assert len(losses) == 2 and losses[1] < losses[0]  # an Adam step on the same batch lowers its loss
    if importlib.util.find_spec("torch") is None:
        assert "torch" in result["torch"]["skipped"] and "paired_ratio" not in result
    for key in ("device", "jax", "flax"):
        assert result["environment"][key]


def test_pytorch_takes_the_same_steps():
    python = os.environ.get("SPIKEJAX_BENCH_TORCH_PYTHON", sys.executable)  # see test_peers
    if subprocess.run([python, "-c", "import torch"], capture_output=True).returncode:
        pytest.skip(f"torch is not importable with {python}")
    result = conv_cpu.main(TINY + ["--no-write", "--torch-python", python, "--torch-threads", "1"])
    assert result["loss_difference"] < 1e-5, (result["spikejax"]["losses"], result["torch"]["losses"])
    assert result["paired_ratio"] > 0
