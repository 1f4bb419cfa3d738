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
    assert {r["library"] for r in result["rows"]} == {"spikejax"}
    assert {(r["model"], r["mode"]) for r in result["rows"]} == {
        (m, mode) for m in ("lif", "leaky") for mode in ("forward", "forward+backward")}


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
    peers = [r for r in result["rows"] if r["library"] != "spikejax"]
    assert {r["library"] for r in peers} == set(libraries)
    assert all(r["equal_spike_fraction"] == 1.0 for r in peers), result["spike_disagreements"]
    assert all(r["spike_count"] > 0 for r in peers)
