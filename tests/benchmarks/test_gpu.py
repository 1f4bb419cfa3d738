"""benchmarks.gpu with --tiny: every part runs (the kernel interpreted on CPU) and writes JSON."""

import json

import pytest

from benchmarks import gpu


@pytest.mark.slow  # CI time; run with `pytest -m slow`
def test_tiny_run_checks_every_model_and_writes_every_part(tmp_path):
    result = gpu.main(["--tiny", "--output", str(tmp_path)])
    written = json.loads((tmp_path / "gpu_tiny.json").read_text())
    assert written["all_checks_ok"] is True, written["check"]
    assert sorted(row["model"] for row in written["check"]) == sorted(gpu.FUSED_MODELS)
    versions = {row["version"] for row in written["layer"]}
    assert versions == {"kernel", "scan", "scan (unroll=8)", "lax.scan (hand-written)",
                        "linear alone"}
    assert {row["mode"] for row in written["layer"]} == {"forward", "forward+backward"}
    assert all(row["median_ms"] > 0 for row in written["layer"])
    assert all(0 < row["fraction_of_copy"] for row in written["neuron"])
    # Tiny sizes measure nothing about a GPU: the goals say so instead of a verdict.
    assert written["goals"]["measured"] is False
    assert result["settings"]["tiny"] is True
    # One epoch of tasks.mnist, run by its own main: a few batches here, its summary written too.
    row = written["mnist"]
    assert "error" not in row, row
    assert row["epoch_seconds"] > 0 and 0.0 <= row["test_accuracy"] <= 1.0
    assert row["batch_size"] == 32 and row["train_limit"] == 64 and row["test_limit"] == 32
    summary = json.loads((tmp_path / "gpu_mnist_tiny.json").read_text())
    assert summary["complete"] is True and summary["epochs_run"] == 1
    assert summary["test_accuracy"] == row["test_accuracy"]
    assert set(written["part_seconds"]) == {"check", "layer n=64", "neuron n=64", "mnist"}
    assert written["within_budget"] == {"budget_seconds": 480, "met": None}  # judged on a GPU only


def test_a_failing_mnist_epoch_is_raised_after_the_kernel_figures_are_written(tmp_path, monkeypatch):
    """The epoch's failure is not swallowed, and the figures measured before it are kept."""
    monkeypatch.setattr(gpu, "FUSED_MODELS", {})  # the parts before the epoch: stand-ins, instant
    layer_row = {"part": "layer", "n": 16, "mode": "forward", "version": "scan", "median_ms": 1.0}
    monkeypatch.setattr(gpu, "part_layer", lambda n, steps, batch, repeats: [dict(layer_row, n=n)])
    monkeypatch.setattr(gpu, "part_neuron", lambda n, steps, batch, repeats: [])

    def broken(argv):
        raise FileNotFoundError("no MNIST files in data/mnist")

    monkeypatch.setattr(gpu.mnist, "main", broken)
    with pytest.raises(FileNotFoundError, match="no MNIST files"):
        gpu.main(["--tiny", "--output", str(tmp_path), "--sizes", "16"])
    written = json.loads((tmp_path / "gpu_tiny.json").read_text())
    assert written["mnist"]["error"] == "FileNotFoundError: no MNIST files in data/mnist"
    assert {row["n"] for row in written["layer"]} == {16}


def test_a_wrong_kernel_fails_the_check(monkeypatch):
    """The check can fail: a kernel whose gradient is off by 10 % is caught."""
    real = gpu.neuron_sequence

    def skewed(model, x, implementation, **options):
        outputs, state = real(model, x, implementation=implementation, **options)
        if implementation == "pallas":
            outputs = outputs * 1.1 - jax.lax.stop_gradient(outputs * 0.1)
        return outputs, state

    import jax

    monkeypatch.setattr(gpu, "neuron_sequence", skewed)
    row = gpu.check_model("LIF", (5, 2, 7), checkpoint_every=2)
    assert row["ok"] is False
    assert row["float32"]["grad_max_relative_error"] == pytest.approx(0.1, rel=1e-3)
