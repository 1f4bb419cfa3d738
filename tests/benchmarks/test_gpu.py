"""benchmarks.gpu with --tiny: every part runs (the kernel interpreted on CPU) and writes JSON."""

import json

import pytest

from benchmarks import gpu


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
