import importlib.util
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from benchmarks.peers import _protocol, compare

TINY = ["--sizes", "8", "--steps", "10", "--batch", "2", "--repeats", "1", "--no-write"]


def test_the_protocol_loads_times_reports_errors_and_quits(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(_protocol.__file__.rsplit('/', 1)[0])!r})
        from _protocol import serve
        print("a library's own chatter on stdout")
        def load(request):
            if request["size"] < 0:
                raise ValueError("negative size")
            return {{"double": 2 * request["size"]}}, {{"noop": lambda: None}}
        serve(lambda: {{"library": "fake", "version": "1"}}, load)
    """))
    worker = _protocol.Worker([sys.executable, str(script)])
    try:
        assert worker.greeting == {"library": "fake", "version": "1"}
        assert worker.request(cmd="load", size=3) == {"info": {"double": 6}}
        seconds = worker.request(cmd="time", mode="noop", repeats=3)["seconds"]
        assert len(seconds) == 3 and all(s >= 0 for s in seconds)
        with pytest.raises(RuntimeError, match="negative size"):
            worker.request(cmd="load", size=-1)
        with pytest.raises(RuntimeError, match="KeyError"):
            worker.request(cmd="time", mode="missing")
    finally:
        worker.close()
    assert worker.process.returncode == 0


def test_a_worker_without_its_library_says_so(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(f"import sys; sys.path.insert(0, {str(_protocol.__file__.rsplit('/', 1)[0])!r})\n"
                      "from _protocol import serve\n"
                      "def greet():\n    import a_library_that_does_not_exist\n"
                      "serve(greet, None)\n")
    worker = _protocol.Worker([sys.executable, str(script)])
    worker.close()
    assert "a_library_that_does_not_exist" in worker.greeting["unavailable"]


def test_libraries_that_are_not_importable_are_skipped_and_spikejax_still_runs(capsys):
    missing = [lib for lib in ("norse", "spyx") if importlib.util.find_spec(lib) is None]
    if not missing:
        pytest.skip("norse and spyx are both importable here")
    result = compare.main(TINY + ["--libraries", *missing])
    assert set(result["skipped"]) == set(missing)
    printed = capsys.readouterr().out
    assert all(f"skipping {lib}: not importable with" in printed for lib in missing), printed
    assert {r["library"] for r in result["rows"]} == {"spikejax", compare.REFERENCE}
    assert {(r["model"], r["mode"]) for r in result["rows"]} == {
        (m, mode) for m in ("lif", "leaky") for mode in ("forward", "forward+backward")}
    # The hand-written scan is the same layer: the same spikes as spikejax's modules.
    reference = [r for r in result["rows"] if r["library"] == compare.REFERENCE]
    assert all(r["equal_spike_fraction"] == 1.0 for r in reference), reference


@pytest.mark.slow  # eight compiles: ~4 s of CPU
def test_the_plain_scan_spikes_and_differentiates_as_spikejax():
    """Not only the same spikes: the same gradients, so that timing it against spikejax is fair."""
    import jax

    w, x = compare.layer_inputs(16, 20, 3)
    x = x * 3.0  # enough input that the neurons spike and the reset matters
    for model in ("lif", "leaky"):
        ours, plain = compare.spikejax_calls(model, w, x), compare.plain_scan_calls(model, w, x)
        spikes = np.asarray(ours["forward"][0](*ours["forward"][1]))
        assert 0 < spikes.mean() < 1, (model, spikes.mean())
        np.testing.assert_array_equal(spikes, plain["forward"][0](*plain["forward"][1]))
        (params_grad, x_grad), (w_grad, x_grad_plain) = (ours["forward+backward"][0](*ours["forward+backward"][1]),
                                                         plain["forward+backward"][0](*plain["forward+backward"][1]))
        np.testing.assert_allclose(x_grad, x_grad_plain, rtol=1e-4, atol=1e-6)
        kernel_grad = jax.tree_util.tree_leaves(params_grad)[0]
        np.testing.assert_allclose(kernel_grad, w_grad, rtol=1e-4, atol=1e-6)


def test_a_bad_python_flag_is_refused():
    with pytest.raises(SystemExit, match="LIBRARY=PATH"):
        compare.main(TINY + ["--python", "brian2=/usr/bin/python"])


def test_the_inputs_hold_the_weights_and_the_parameters(tmp_path):
    w, x = compare.layer_inputs(4, 3, 2)
    compare.write_inputs(tmp_path / "in.npz", w, x)
    data = np.load(tmp_path / "in.npz")
    np.testing.assert_array_equal(data["w"], np.asarray(w))
    assert data["x"].shape == (3, 2, 4) and float(data["tau_mem_inv"]) == 100.0 and float(data["beta"]) == 0.9


# The peers live in their own interpreters (``pip install -e ".[bench]"`` puts the PyTorch ones
# in this one); SPIKEJAX_BENCH_TORCH_PYTHON / SPIKEJAX_BENCH_SPYX_PYTHON name others.
PYTHONS = {"torch": os.environ.get("SPIKEJAX_BENCH_TORCH_PYTHON", sys.executable),
           "spyx": os.environ.get("SPIKEJAX_BENCH_SPYX_PYTHON", sys.executable)}


def importable(python, module):
    return subprocess.run([python, "-c", f"import {module}"], capture_output=True).returncode == 0


@pytest.mark.parametrize("libraries", [("norse", "snntorch", "spikingjelly"), ("spyx",)])
def test_peers_spike_exactly_as_spikejax(libraries):
    kind = "spyx" if libraries == ("spyx",) else "torch"
    for library in libraries:
        if not importable(PYTHONS[kind], library):
            pytest.skip(f"{library} is not importable with {PYTHONS[kind]}")
    result = compare.main(TINY + ["--libraries", *libraries, "--sizes", "24", "--steps", "30",
                                  "--torch-python", PYTHONS["torch"], "--spyx-python", PYTHONS["spyx"]])
    peers = [r for r in result["rows"] if r["library"] not in ("spikejax", compare.REFERENCE)]
    assert {r["library"] for r in peers} == set(libraries)
    assert all(r["equal_spike_fraction"] == 1.0 for r in peers), result["spike_disagreements"]
    assert all(r["spike_count"] > 0 for r in peers)
