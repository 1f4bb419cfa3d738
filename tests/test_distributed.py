"""Data-parallel training: spikejax.train.data_parallel on simulated CPU devices and processes.

XLA reads the simulated device count once, when JAX starts, so the multi-device runs happen in
subprocesses (``tests/distributed_worker.py``); this process has one CPU device.
"""

import importlib.util
import os
import pathlib
import socket
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from spikejax import train

WORKER = pathlib.Path(__file__).with_name("distributed_worker.py")
REPO = WORKER.parent.parent


def _environment(devices: int) -> dict:
    flags = os.environ.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={devices}"
    path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    return dict(os.environ, XLA_FLAGS=flags.strip(), PYTHONPATH=path, JAX_PLATFORMS="cpu")


def _worker():
    spec = importlib.util.spec_from_file_location("distributed_worker", WORKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _assert_same_run(got, expected, *, atol=1e-5):
    assert set(expected) <= set(got), sorted(set(expected) - set(got))
    for name, value in expected.items():
        np.testing.assert_allclose(got[name], value, rtol=0, atol=atol, err_msg=name)


@pytest.mark.slow  # CI time; run with `pytest -m slow`
def test_eight_devices_train_like_one_device(tmp_path):
    out = tmp_path / "compare.npz"
    done = subprocess.run([sys.executable, str(WORKER), "compare", str(out)], env=_environment(8),
                          cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    result = np.load(out)
    assert int(result["devices"]) == 8
    assert float(result["spike_rate"]) > 0.05  # the hidden neurons spike: thresholds are crossed
    # Data-parallel for real: gradients summed over devices, the batch never gathered.
    assert int(result["parallel/collective/all-reduce"]) > 0
    assert int(result["parallel/collective/all-gather"]) == 0
    single = {k.split("/", 1)[1]: result[k] for k in result.files if k.startswith("single/")}
    parallel = {k.split("/", 1)[1]: result[k] for k in result.files if k.startswith("parallel/")}
    assert len(single["losses"]) == 20 and any(k.startswith("momentum") for k in single)
    _assert_same_run(parallel, single)
    assert single["losses"][-5:].mean() < single["losses"][:5].mean()  # it trained
    # The same through Lift: merged in (B, T) order inside the parallel step, never gathered.
    lift_single = {k.split("/", 1)[1]: result[k] for k in result.files if k.startswith("lift_single/")}
    lift_parallel = {k.split("/", 1)[1]: result[k] for k in result.files if k.startswith("lift_parallel/")}
    assert int(lift_parallel["collective/all-gather"]) == 0
    _assert_same_run(lift_parallel, lift_single)
    np.testing.assert_allclose(lift_single["losses"], single["losses"][:5], rtol=0, atol=1e-6)
    assert str(result["message"]) == (
        "batch size 12 (batch['x']) does not split evenly over the 8 devices of the mesh; "
        "use a batch size that is a multiple of 8"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_importing_spikejax_leaves_the_backend_uninitialised():
    # jax.distributed.initialize must run before anything starts XLA's backend: importing
    # spikejax (and the task) must not, so that train.initialize_distributed can come after it.
    code = ("import spikejax, spikejax.train, tasks.mnist\n"
            "from jax._src import xla_bridge\n"
            "assert not xla_bridge.backends_are_initialized(), 'importing spikejax started the XLA backend'")
    done = subprocess.run([sys.executable, "-c", code], env=_environment(1), cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def test_two_processes_train_like_one(tmp_path):
    port = _free_port()
    workers = [
        subprocess.Popen([sys.executable, str(WORKER), "process", str(tmp_path / f"{i}.npz"), str(port), str(i), "2"],
                         env=_environment(2), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for i in range(2)
    ]
    try:
        logs = [worker.communicate(timeout=900)[0] for worker in workers]
    finally:
        for worker in workers:
            worker.kill()
    for worker, log in zip(workers, logs):
        assert worker.returncode == 0, log[-3000:]
    expected = _worker().run()  # one process, one device
    for i in range(2):
        result = dict(np.load(tmp_path / f"{i}.npz"))
        assert int(result["index"]) == i and int(result["devices"]) == 4 and int(result["local_devices"]) == 2
        assert int(result["collective/all-reduce"]) > 0 and int(result["collective/all-gather"]) == 0
        _assert_same_run(result, expected)


# One device (this process): the API, its errors and the data-parallel path of fit and evaluate.


def _linear_loss(model, batch):
    logits = model(batch["x"])
    return optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]).mean(), {"logits": logits}


def test_fit_and_evaluate_on_a_one_device_mesh_equal_the_plain_steps():
    rng = np.random.default_rng(0)
    data = [{"x": rng.normal(size=(8, 4)).astype(np.float32), "y": rng.integers(0, 3, 8)} for _ in range(3)]
    results = []
    for parallel in (None, train.data_parallel()):
        model = nnx.Linear(4, 3, rngs=nnx.Rngs(0))
        optimizer = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)
        history = train.fit(model, optimizer, train.make_train_step(_linear_loss, parallel=parallel),
                            lambda epoch: data, epochs=2, progress=False, log=None,
                            eval_step=train.make_eval_step(_linear_loss, parallel=parallel),
                            eval_batches=lambda: data)
        if parallel is not None:
            assert model.kernel[...].sharding.mesh == parallel.mesh  # replicated on the mesh
        results.append((history[-1]["train"], history[-1]["eval"], np.asarray(model.kernel[...])))
    (train_a, eval_a, kernel_a), (train_b, eval_b, kernel_b) = results
    assert train_a == pytest.approx(train_b, abs=1e-6) and eval_a == pytest.approx(eval_b, abs=1e-6)
    np.testing.assert_allclose(kernel_a, kernel_b, atol=1e-6)


def test_shard_splits_each_leaf_along_its_batch_axis_and_replicates_the_rest():
    parallel = train.data_parallel(batch_axis={"x": 1, "y": 0, "key": None})
    batch = parallel.shard({"x": np.ones((3, 8, 2)), "y": np.arange(8), "key": jax.random.key(0)})
    assert tuple(batch["x"].sharding.spec) == (None, "batch", None)
    assert tuple(batch["y"].sharding.spec) == ("batch",)
    assert batch["key"].sharding.is_fully_replicated
    np.testing.assert_array_equal(batch["y"], np.arange(8))
    assert parallel.local_batch_size({"x": np.ones((3, 8, 2)), "y": np.arange(8), "key": jax.random.key(1)}) == 8
    assert parallel.size == jax.device_count() and "batch_axis" in repr(parallel)


def test_bad_batches_and_arguments_are_clear_errors():
    parallel = train.data_parallel()
    with pytest.raises(ValueError, match=r"batch\['y'\] has 8 rows along its batch axis 0 but batch\['x'\] has 4; "
                                         r"set batch_axis \(got 0\) to each leaf's batch axis"):
        parallel.shard({"x": np.zeros((4, 8, 3)), "y": np.zeros(8)})
    with pytest.raises(ValueError, match=r"batch\['y'\] has shape \(8,\), which has no batch axis 2"):
        train.data_parallel(batch_axis=2).shard({"y": np.zeros(8)})
    with pytest.raises(ValueError, match=r"batch_axis must be an int, None or a prefix of the batch's structure, "
                                         r"got \{'x': 1\}"):
        train.data_parallel(batch_axis={"x": 1}).shard({"x": np.zeros((2, 4)), "y": np.zeros(4)})
    with pytest.raises(ValueError, match="a batch must contain an array with a batch axis, got only scalars"):
        parallel.shard({"key": jax.random.key(0), "scale": 1.0})
    with pytest.raises(ValueError, match=f"devices must be between 1 and {jax.device_count()} "
                                         rf"\(the devices there are\), got {jax.device_count() + 1}"):
        train.data_parallel(jax.device_count() + 1)
    with pytest.raises(ValueError, match="devices must name at least one device, got an empty sequence"):
        train.data_parallel([])
    with pytest.raises(ValueError, match=r"mesh must have one axis, got axes \('a', 'b'\)"):
        train.DataParallel(jax.make_mesh((1, 1), ("a", "b")))
    with pytest.raises(TypeError, match="parallel must be a DataParallel .from data_parallel... or None, got str"):
        train.make_train_step(_linear_loss, parallel="all")
    with pytest.raises(ValueError, match="num_processes must be a positive int or None, got 0"):
        train.initialize_distributed(num_processes=0)


def test_initialize_distributed_is_a_no_op_for_one_process(monkeypatch):
    monkeypatch.delenv("JAX_COORDINATOR_ADDRESS", raising=False)
    assert train.initialize_distributed() == 0
    assert train.initialize_distributed("localhost:1", num_processes=1, process_id=0) == 0
    assert not jax.distributed.is_initialized()
    assert jnp.ones(2).sum() == 2  # and JAX still works as before
