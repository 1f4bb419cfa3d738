import json
import sys
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks import common

TINY = ["--sizes", "16", "--steps", "12", "--batch", "2", "--repeats", "2", "--copy-mb", "1",
        "--remat-steps", "24", "--remat-size", "8", "--remat-every", "6", "--remat-repeats", "1",
        "--no-memory-probes"]


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    output = tmp_path_factory.mktemp("common") / "common.json"
    return common.main(TINY + ["--output", str(output)]), output


def test_writes_every_part_with_the_environment(result):
    summary, output = result
    assert json.loads(output.read_text())["worst_paired_ratio"] == summary["worst_paired_ratio"]
    rows = summary["rows"]
    layer = {(r["version"], r["mode"]) for r in rows if r["part"] == "layer"}
    for version in (common.REFERENCE, common.AGAIN, common.NN, common.NN_STATE, common.KERNELS, common.LINEAR):
        assert {(version, "forward"), (version, "forward+backward")} <= layer
    assert {r["version"] for r in rows if r["part"] == "neuron"} >= {common.REFERENCE, common.KERNELS}
    for key in ("device", "platform", "jax", "jaxlib", "flax"):
        assert summary["environment"][key]
    assert "matmul_precision" in summary and summary["copy_bandwidth"]["best_gbytes_per_s"] > 0
    assert all(r["compile_s"] > 0 and r["median_ms"] > 0 and r["cpu_median_ms"] >= 0 for r in rows)
    low, high = summary["control_paired_ratio_range"]["layer: cpu time"]
    assert 0 < low <= high
    assert set(summary["dispatch"]["us_per_call"]) == {"array", "dict (nnx.to_pure_dict)", "nnx.State"}


def test_spikejax_spikes_equal_the_plain_scan(result):
    rows = [r for r in result[0]["rows"]
            if r["part"] == "layer" and r["version"] in (common.NN, common.NN_STATE, common.KERNELS)]
    assert rows and all(r["spike_agreement_with_reference"] == 1.0 for r in rows)
    # On CPU both take a scan, compiled to the loops of the hand-written one; forward, to its
    # program but for how one constant is written (i - 0.2 i as i + (-0.2) i).
    assert all(r["same_loops_as_reference"] and r["xla"]["while_loops"] for r in rows)
    assert all(r["instructions_differing_from_reference"] <= 4 for r in rows if r["mode"] == "forward")
    assert all("program" not in r["xla"] for r in result[0]["rows"])  # kept out of the JSON
    assert 0 < rows[0]["spike_rate"] < 1  # the input makes some, not all, neurons fire


def test_remat_rows_report_their_memory_against_the_plain_scan(result):
    remat = {r["version"]: r for r in result[0]["rows"] if r["part"] == "remat"}
    assert set(remat) == {f"{layout}, {label}" for layout in (common.READOUT, common.SPIKES_OUT, common.HOISTED)
                          for label in ("plain scan", "remat=6")}
    assert remat[f"{common.READOUT}, plain scan"]["memory_reduction_vs_plain"] == 1.0
    # Checkpointing every 6 of 24 steps keeps less than every step's residuals.
    assert remat[f"{common.READOUT}, remat=6"]["memory_reduction_vs_plain"] > 1.0
    overhead = result[0]["neuron_overhead"]["16"][common.NN]
    assert overhead["wall_layer_over_linear"] > 0 and overhead["cpu_neuron_share_of_layer"] < 1


def test_every_version_computes_the_same_gradients():
    w, x = common.layer_inputs(8, 10, 2)
    calls = common.layer_calls(w, x)
    fn, operands = calls[common.REFERENCE, "forward+backward"]
    grad_w, grad_x = jax.jit(fn)(*operands)
    assert float(jnp.abs(grad_w).sum()) > 0
    for version in (common.NN, common.NN_STATE, common.KERNELS):
        fn, operands = calls[version, "forward+backward"]
        params, other_grad_x = jax.jit(fn)(*operands)
        np.testing.assert_allclose(np.asarray(grad_x), np.asarray(other_grad_x), rtol=1e-5, atol=1e-6)
        kernel = [leaf for leaf in jax.tree_util.tree_leaves(params) if leaf.shape == w.shape]
        np.testing.assert_allclose(np.asarray(grad_w), np.asarray(kernel[0]), rtol=1e-5, atol=1e-6)


def test_the_memory_probe_runs_in_a_fresh_process():
    args = types.SimpleNamespace(steps=12, batch=2, precision=None, remat_steps=24, remat_size=8,
                                 remat_every=[6])
    peak = common.measured_peak(args, {"n": 16, "version": common.NN, "mode": "forward+backward"})
    assert set(peak) == {"peak_above_inputs_mb", "peak_measured_by"}, peak  # "probe_error" says what failed
    if jax.default_backend() == "cpu" and sys.platform == "linux":
        assert "VmHWM" in peak["peak_measured_by"] and peak["peak_above_inputs_mb"] >= 0


def test_the_probe_of_a_training_step_prints_one_json_line(capsys):
    common.main(TINY + ["--probe", f"{common.READOUT}, remat=6", "train step"])
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert set(json.loads(line)) == {"peak_above_inputs_mb", "peak_measured_by"}


@pytest.mark.skipif(sys.platform != "linux" or jax.default_backend() != "cpu",
                    reason="the CPU peak is read from Linux's /proc")
def test_the_cpu_peak_sees_a_large_temporary(capsys):
    common.main(TINY + ["--probe", common.REFERENCE, "forward+backward", "--sizes", "512", "--steps", "64",
                        "--batch", "16"])
    peak = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["peak_above_inputs_mb"]
    # The backward pass keeps every step's state: at least 64 * 16 * 512 float32 = 2 MB.
    assert peak >= 2.0, peak
