"""The fused kernel on a batch split over devices runs per shard (``jax.shard_map``), so that
data-parallel training never gathers the currents onto one device.

A ``pallas_call`` is opaque to XLA's SPMD partitioner: on batch-split currents it gathers them
(``all-gather`` in the compiled program). In-process (one CPU device) the tests trace under an
abstract mesh of 8 devices; the compiled counts need 8 simulated devices, which XLA reads once
when JAX starts, so that run happens in a subprocess (this file as a script), as in
tests/test_fit_parallel.py. The kernel runs in Pallas' interpreter there (no GPU).
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import AbstractDevice, AbstractMesh, use_abstract_mesh

from spikejax.functional import LIFParameters
from spikejax.kernels import FUSED_MODELS, lif_sequence, neuron_sequence
from spikejax.kernels._sharded import batch_split

REPO = pathlib.Path(__file__).resolve().parents[2]
T, B, N_IN, N = 6, 16, 5, 12  # 192 neurons: two blocks of 128, the second padded


def _primitives(fn, *args):
    return [e.primitive.name for e in jax.make_jaxpr(fn)(*args).jaxpr.eqns]


def _pallas_inside_shard_map(fn, *args) -> bool:
    closed = jax.make_jaxpr(fn)(*args)
    maps = [e for e in closed.jaxpr.eqns if e.primitive.name == "shard_map"]
    return bool(maps) and all("pallas_call" in str(e.params["jaxpr"]) for e in maps)


# LIF is checked below, LSNN has three state fields; the others add little (under -m slow).
@pytest.mark.parametrize("name", [
    pytest.param(name, marks=[] if name == "LSNN" else [pytest.mark.slow])
    for name in sorted(FUSED_MODELS) if name != "LIF"
])
def test_every_fused_model_runs_per_shard_on_a_split_batch(name):
    xs = jnp.ones((T, B, N))
    grad = jax.grad(lambda x: jnp.sum(neuron_sequence(FUSED_MODELS[name], x,
                                                      implementation="pallas")[0]))
    with use_abstract_mesh(AbstractMesh((8,), ("batch",))):
        assert _pallas_inside_shard_map(grad, xs)
        assert "pallas_call" not in _primitives(grad, xs)


def test_on_an_eight_device_mesh_the_kernel_and_its_gradient_run_per_shard():
    xs = jnp.ones((T, B, N))
    theta = jnp.ones(N)

    def loss(xs, theta):
        spikes, state = lif_sequence(xs, None, LIFParameters(v_th=theta), implementation="pallas")
        return spikes.sum() + state.v.sum()

    grad = jax.grad(loss, argnums=(0, 1))
    # No mesh (one device here): the plain kernel.
    assert "shard_map" not in _primitives(grad, xs, theta)
    with use_abstract_mesh(AbstractMesh((8,), ("batch",))):
        assert batch_split(xs)[1] == ("batch",)
        assert _pallas_inside_shard_map(grad, xs, theta)  # the saving forward, the backward
        assert _primitives(grad, xs, theta).count("shard_map") == 2
        assert "pallas_call" not in _primitives(grad, xs, theta)  # none outside
        # A batch of 12 does not split over 8 devices: the plain kernel (XLA gathers).
        assert batch_split(xs[:, :12]) is None
        assert "shard_map" not in _primitives(grad, xs[:, :12], theta)
    with use_abstract_mesh(AbstractMesh((1,), ("batch",))):
        assert batch_split(xs) is None  # one device: nothing to split


def test_the_compiled_kernel_lowers_for_cuda_per_shard_on_eight_abstract_gpus():
    """The Triton kernels (not the interpreter) inside the shard_map, exported for CUDA."""
    h100 = AbstractDevice(device_kind="NVIDIA H100 80GB HBM3", platform="gpu", num_cores=132)
    grad = jax.grad(lambda x: jnp.sum(lif_sequence(x, implementation="pallas")[0]))
    checks = [jax.export.DisabledSafetyCheck.custom_call("__gpu$xla.gpu.triton")]
    with use_abstract_mesh(AbstractMesh((8,), ("batch",), abstract_device=h100)):
        exported = jax.export.export(jax.jit(grad), platforms=["cuda"], disabled_checks=checks)(
            jax.ShapeDtypeStruct((T, B, N), jnp.float32))
    module = exported.mlir_module()
    # The saving forward and the backward kernel, each in its own per-device computation.
    assert module.count("@__gpu$xla.gpu.triton") == 2
    assert module.count("sdy.manual_computation") == 2


def test_the_split_takes_the_auto_axes_of_more_than_one_device():
    xs = jnp.ones((T, B, N))
    with use_abstract_mesh(AbstractMesh((2, 4, 1), ("data", "pipe", "one"))):
        assert batch_split(xs)[1] == ("data", "pipe")
    with use_abstract_mesh(AbstractMesh((4, 4), ("data", "model"))):
        assert batch_split(xs)[1] == ("data", "model")  # 16 devices, 16 rows
        assert batch_split(xs[:, :8]) is None
    explicit = jax.sharding.AxisType.Explicit
    with use_abstract_mesh(AbstractMesh((4,), ("batch",), axis_types=(explicit,))):
        # An explicit axis splits the batch only where the currents' type says so.
        assert batch_split(xs) is None
    assert batch_split(jnp.ones(3)) is None  # no batch axis


def _train_step_counts(devices: int) -> dict:
    """Compile a data-parallel train step of Linear + LIF (kernel) with and without the
    per-shard kernel, count collectives, and compare one step with the unsplit scan's."""
    import optax
    from flax import nnx

    from spikejax import train
    from spikejax.kernels import _sharded
    from spikejax.nn import LIF

    assert jax.device_count() == devices, jax.devices()

    class Net(nnx.Module):
        def __init__(self, implementation):
            self.linear = nnx.Linear(N_IN, N, rngs=nnx.Rngs(0))
            self.neurons = LIF(learnable=("v_th",), implementation=implementation)

        def __call__(self, x):
            spikes, state = self.neurons(self.linear(x))
            return spikes.mean(0) + state.v  # logits (B, N)

    def loss_fn(model, batch):
        logits = model(batch["x"])
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]).mean()
        return loss, {"logits": logits}

    rng = np.random.default_rng(0)
    batch = {"x": rng.uniform(0.0, 40.0, (T, B, N_IN)).astype(np.float32),
             "y": rng.integers(0, N, B).astype(np.int32)}
    parallel = train.data_parallel(batch_axis={"x": 1, "y": 0})

    def compiled(model, optimizer):
        step = train.make_train_step(loss_fn, parallel=parallel)
        parallel.replicate(model, optimizer)
        text = step.spikejax_step.lower(model, optimizer, parallel.shard(batch)).compile().as_text()
        return step, {op: text.count(op) for op in ("all-gather", "all-reduce")}

    def make(implementation):
        model = Net(implementation)
        return model, nnx.Optimizer(model, optax.sgd(0.1), wrt=nnx.Param)

    result = {}
    model, optimizer = make("pallas")
    step, result["per_shard"] = compiled(model, optimizer)
    metrics = step(model, optimizer, batch)

    reference, ref_optimizer = make("scan")
    ref_metrics = train.make_train_step(loss_fn)(reference, ref_optimizer, batch)
    result["loss"] = [float(metrics["loss"]), float(ref_metrics["loss"])]

    # Gradients: the kernel per shard on the split batch against the scan on one device.
    grad = nnx.jit(lambda model, batch: nnx.grad(loss_fn, has_aux=True)(model, batch)[0])
    model, _ = make("pallas")
    parallel.replicate(model)
    got = grad(model, parallel.shard(batch))
    reference, _ = make("scan")
    expected = grad(reference, batch)
    result["spikes"] = float(reference.neurons(reference.linear(batch["x"]))[0].sum())
    pairs = {"kernel": (got.linear.kernel, expected.linear.kernel),
             "bias": (got.linear.bias, expected.linear.bias),
             "v_th": (got.neurons.v_th, expected.neurons.v_th)}
    result["grad_size"] = {name: float(np.max(np.abs(b[...]))) for name, (_, b) in pairs.items()}
    result["grad_error"] = {
        name: float(np.max(np.abs(np.asarray(a[...]) - np.asarray(b[...])))) / result["grad_size"][name]
        for name, (a, b) in pairs.items()
    }

    # Other state layouts (LSNN: three fields; LI: the membrane as output), with an array
    # parameter split with the batch and one copied: kernel per shard against the scan.
    from spikejax.functional import LIParameters, LSNNParameters
    from spikejax.kernels import FUSED_MODELS, neuron_sequence

    currents = rng.uniform(0.0, 3.0, (T, B, N)).astype(np.float32)
    split = parallel.shard({"x": currents, "y": batch["y"]})["x"]
    params = {"LSNN": LSNNParameters(v_th=jnp.asarray(rng.uniform(0.5, 1.0, (B, N)), jnp.float32)),
              "LI": LIParameters(tau_mem_inv=jnp.full((N,), 80.0))}
    result["models"] = {}
    for name, p in params.items():
        def loss(xs, p, implementation, name=name):
            out, state = neuron_sequence(FUSED_MODELS[name], xs, None, p,
                                         implementation=implementation)
            return jnp.sum(out * jnp.arange(N)) + sum(jnp.sum(leaf) for leaf in state)

        results = {}
        for implementation, xs in (("pallas", split), ("scan", currents)):
            results[implementation] = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)),
                                              static_argnums=2)(xs, p, implementation)
        (value, grads), (ref_value, ref_grads) = results["pallas"], results["scan"]
        errors = [float(np.max(np.abs(np.asarray(a) - np.asarray(b)))
                        / max(float(np.max(np.abs(np.asarray(b)))), 1e-30))  # 0 where both are 0
                  for a, b in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(ref_grads))]
        result["models"][name] = {"value": [float(value), float(ref_value)], "grad_error": max(errors)}

    # The same step with the kernel on the whole batch (no shard_map): XLA gathers the currents.
    _sharded.batch_split = lambda currents: None
    model, optimizer = make("pallas")
    _, result["whole_batch"] = compiled(model, optimizer)
    return result


def _subprocess_counts(devices: int = 8) -> dict:
    flags = f"--xla_force_host_platform_device_count={devices}"
    env = dict(os.environ, XLA_FLAGS=(os.environ.get("XLA_FLAGS", "") + " " + flags).strip(),
               JAX_PLATFORMS="cpu",
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, __file__, str(devices)], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_data_parallel_training_never_gathers_the_currents_on_eight_devices():
    result = _subprocess_counts(8)
    # The kernel per shard: nothing gathered; the gradients summed over devices.
    assert result["per_shard"]["all-gather"] == 0, result
    assert result["per_shard"]["all-reduce"] > 0, result
    # The plain kernel on the split batch: XLA gathers (what the shard_map avoids).
    assert result["whole_batch"]["all-gather"] > 0, result
    # The same loss as the scan's on one device, and the same gradients.
    assert 0 < result["spikes"] < T * B * N, result
    np.testing.assert_allclose(result["loss"][0], result["loss"][1], rtol=1e-6)
    for name, size in result["grad_size"].items():
        assert size > 0, (name, result)
        assert result["grad_error"][name] < 1e-5, (name, result)
    for name, model in result["models"].items():
        np.testing.assert_allclose(*model["value"], rtol=1e-5, err_msg=name)
        assert model["grad_error"] < 1e-5, (name, result)


if __name__ == "__main__":
    print(json.dumps(_train_step_counts(int(sys.argv[1]))))
