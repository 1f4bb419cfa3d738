"""The fused kernels lower for CUDA on this CPU machine, through an abstract GPU device.

``jax.export`` for ``platforms=["cuda"]`` runs Pallas' Triton lowering without a GPU; under
``use_abstract_mesh`` with an abstract H100 it keeps working from jax 0.11 on, where lowering
without a GPU otherwise fails. Every fused model, forward and ``jax.grad``, for even, ragged and
tiny shapes, float32/bfloat16/float16 and every surrogate. What these lowerings caught before
(jax 0.10.2): bfloat16/float16 division in the backward kernels ("unsupported types:
tensor<512xbf16>"), the ``circ`` surrogate's ``** 1.5`` (powf), and Mosaic GPU taken instead of
Triton when the default backend is not a GPU ("Resource estimation does not support
custom_jvp_call"). Plus the 16-bit kernel's float32 arithmetic (interpreted), the memory order
of a chunk, the block size and warps, and ``auto``'s fallback to the scan.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import AbstractDevice, AbstractMesh, use_abstract_mesh

from spikejax.functional import LIFParameters, surrogate_names
from spikejax.kernels import (
    FUSED_MODELS,
    KernelFallbackWarning,
    neuron_sequence,
    select_implementation,
)
from spikejax.kernels import _fused, _target

H100 = AbstractDevice(device_kind="NVIDIA H100 80GB HBM3", platform="gpu", num_cores=132)
TRITON_CALL = "__gpu$xla.gpu.triton"
DTYPES = (jnp.float32, jnp.bfloat16, jnp.float16)
RAGGED = (11, 3, 37)  # 111 neurons pad to a block of 128; 11 = one chunk of 8 and a tail of 3
SHAPES = {"even": (16, 16, 1024), "ragged": RAGGED, "tiny": (1, 1, 1)}


def _abstract_gpu():
    return use_abstract_mesh(AbstractMesh((), (), abstract_device=H100))


def _function(model, p=None, *, grad: bool, implementation="pallas", **options):
    def forward(x):
        outputs, state = neuron_sequence(model, x, None, p, implementation=implementation,
                                         **options)
        return outputs

    if not grad:
        return forward
    return jax.grad(lambda x: forward(x).astype(jnp.float32).sum())


def _export(fn, shape, dtype):
    """The StableHLO text of ``fn`` exported for CUDA from this machine."""
    with _abstract_gpu():
        exported = jax.export.export(
            jax.jit(fn), platforms=["cuda"],
            disabled_checks=[jax.export.DisabledSafetyCheck.custom_call(TRITON_CALL)],
        )(jax.ShapeDtypeStruct(shape, dtype))
    return exported.mlir_module()


def _triton_calls(module: str) -> int:
    return module.count(f"@{TRITON_CALL}")


@pytest.mark.parametrize("grad", [False, True], ids=["forward", "grad"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: jnp.dtype(d).name)
@pytest.mark.parametrize("name", sorted(FUSED_MODELS))
def test_every_model_lowers_for_cuda(name, dtype, grad):
    module = _export(_function(FUSED_MODELS[name], grad=grad), RAGGED, dtype)
    # The plain forward is one kernel; the gradient the saving forward and the backward.
    assert _triton_calls(module) == (2 if grad else 1)


@pytest.mark.parametrize("shape", list(SHAPES.values()), ids=list(SHAPES))
@pytest.mark.parametrize("name", ["LIF", "ALIF"])
def test_even_ragged_and_tiny_shapes_lower(name, shape):
    for dtype in (jnp.float32, jnp.bfloat16):
        module = _export(_function(FUSED_MODELS[name], grad=True), shape, dtype)
        assert _triton_calls(module) == 2, (name, shape, dtype)


@pytest.mark.parametrize("method", surrogate_names())
def test_every_surrogate_lowers(method):
    p = LIFParameters(method=method)
    for dtype in (jnp.float32, jnp.float16):
        module = _export(_function(FUSED_MODELS["LIF"], p, grad=True), RAGGED, dtype)
        assert _triton_calls(module) == 2, (method, dtype)


def test_triton_parameters_do_not_depend_on_the_default_backend():
    assert jax.default_backend() != "gpu" or pytest.skip("checks a non-GPU default backend")
    params = _fused.triton_params(512)
    assert (params.num_warps, params.num_stages) == (16, 1)  # one neuron per thread
    assert _fused.triton_params(4).num_warps == 1
    assert _fused.triton_params(4096).num_warps == 32  # Triton's most


def test_compiling_without_a_gpu_target_is_refused():
    lif = FUSED_MODELS["LIF"]
    with pytest.raises(ValueError, match=r"interpret=False compiles the kernel for a GPU.*"
                                         r"use_abstract_mesh"):
        neuron_sequence(lif, jnp.ones((3, 1, 4)), implementation="pallas", interpret=False)


def test_auto_chooses_by_the_target_being_compiled():
    lif = FUSED_MODELS["LIF"]
    xs = jnp.ones(RAGGED)
    if jax.default_backend() != "gpu":
        assert select_implementation(lif, xs) == "scan"
        assert "pallas_call" not in str(jax.make_jaxpr(_function(lif, grad=False,
                                                                 implementation="auto"))(xs))
    with _abstract_gpu():
        assert select_implementation(lif, xs) == "pallas"
        assert select_implementation(lif, xs.astype(jnp.bfloat16)) == "pallas"
    module = _export(_function(lif, grad=True, implementation="auto"), RAGGED, jnp.bfloat16)
    assert _triton_calls(module) == 2


def _lgamma_surrogate(x, alpha):
    # Pallas' Triton lowering has no lgamma ("Unimplemented primitive").
    return jnp.exp(-jax.lax.lgamma(1.0 + jnp.abs(alpha * x)))


def test_auto_falls_back_to_the_scan_once_with_a_warning_where_the_kernel_cannot_lower():
    lif = FUSED_MODELS["LIF"]
    p = LIFParameters(method=_lgamma_surrogate)
    with pytest.raises(NotImplementedError, match=r"lgamma"):  # the kernel does not lower
        _export(_function(lif, p, grad=True), RAGGED, jnp.float32)
    with pytest.warns(KernelFallbackWarning, match=r"fused LIF kernel does not lower .*scan"):
        module = _export(_function(lif, p, grad=True, implementation="auto"), RAGGED,
                         jnp.float32)
    assert _triton_calls(module) == 0  # the scan
    with warnings.catch_warnings():  # once: the same reason warns no more
        warnings.simplefilter("error", KernelFallbackWarning)
        _export(_function(lif, p, grad=False, implementation="auto"), RAGGED, jnp.float32)


def test_block_fills_the_gpu_at_small_batch():
    assert _target.auto_block(16 * 1024, 132) == 128  # 128 programs, not 32 of 512
    assert _target.auto_block(16 * 4096, 132) == 256  # 256 programs
    assert _target.auto_block(16 * 16384, 132) == 512  # large: the measured 512
    assert _target.auto_block(3, 132) == 128  # never below 128 (tiny shapes clip later)
    assert _target.auto_block(16 * 1024, 8) == 512
    with _abstract_gpu():
        (call,) = _pallas_calls(_function(FUSED_MODELS["LIF"], grad=False),
                                jnp.ones((4, 16, 1024)))
    assert call.params["grid_mapping"].grid == (128,)


def _pallas_calls(fn, *args):
    """Every pallas_call equation in ``fn``'s jaxpr, nested ones included."""
    found = []

    def walk(jaxpr):
        for eqn in jaxpr.eqns:
            if eqn.primitive.name == "pallas_call":
                found.append(eqn)
            for value in eqn.params.values():
                inner = getattr(value, "jaxpr", value)
                if hasattr(inner, "eqns"):
                    walk(inner)

    walk(jax.make_jaxpr(fn)(*args).jaxpr)
    return found


def _kernel_jaxprs(fn, *args):
    """The kernel bodies of every pallas_call in ``fn``'s jaxpr."""
    return [eqn.params["jaxpr"] for eqn in _pallas_calls(fn, *args)]


def _loop_bodies(jaxpr):
    for eqn in jaxpr.eqns:
        if eqn.primitive.name in ("while", "scan"):
            body = eqn.params.get("body_jaxpr") or eqn.params.get("jaxpr")
            yield body.jaxpr


@pytest.mark.parametrize("name", ["LIF", "ALIF"])
def test_a_chunk_loads_all_its_inputs_before_its_first_store(name):
    """The compiler cannot reorder a load past a store that may alias it: loads come first."""
    kernels = _kernel_jaxprs(_function(FUSED_MODELS[name], grad=True, interpret=True,
                                       checkpoint_every=8), jnp.ones((16, 2, 64)))
    assert len(kernels) == 2  # the saving forward and the backward
    for kernel in kernels:
        bodies = list(_loop_bodies(kernel))
        assert bodies, "expected the chunk loop"
        for body in bodies:
            names = [e.primitive.name for e in body.eqns]
            loads = [i for i, n in enumerate(names) if n == "get"]
            stores = [i for i, n in enumerate(names) if n == "swap"]
            assert len(loads) >= 8 and len(stores) >= 8, names
            assert max(loads) < min(stores), names


def _f32_reference(model, xs, **options):
    """The float32 scan of the (16-bit valued) currents, its state, and its input gradient."""
    x32 = xs.astype(jnp.float32)
    run = lambda x: neuron_sequence(model, x, implementation="scan", **options)
    (outputs, state) = run(x32)
    grad = jax.grad(lambda x: run(x)[0].sum())(x32)
    return outputs, state, grad


@pytest.mark.parametrize("name, dtype", [
    pytest.param("LIF", jnp.bfloat16, id="LIF-bfloat16"),
    pytest.param("LSNN", jnp.float16, id="LSNN-float16"),
    # The other two pairs add nothing the first two do not check; kept for `pytest -m slow`.
    pytest.param("LIF", jnp.float16, id="LIF-float16", marks=pytest.mark.slow),
    pytest.param("LSNN", jnp.bfloat16, id="LSNN-bfloat16", marks=pytest.mark.slow),
])
def test_16_bit_kernels_compute_in_float32(name, dtype):
    model = FUSED_MODELS[name]
    key = jax.random.PRNGKey(3)
    xs = (jax.random.uniform(key, (24, 2, 5), jnp.float32, 0.0, 6.0)).astype(dtype)
    kernel = lambda x: neuron_sequence(model, x, implementation="pallas", block=8,
                                       checkpoint_every=5)
    outputs, state = kernel(xs)
    grad = jax.grad(lambda x: kernel(x)[0].astype(jnp.float32).sum())(xs)
    ref_outputs, ref_state, ref_grad = _f32_reference(model, xs)
    assert outputs.dtype == dtype and grad.dtype == dtype
    assert float(ref_outputs.sum()) > 10  # the test has spikes to compare
    np.testing.assert_array_equal(np.asarray(outputs, np.float32), np.asarray(ref_outputs))
    for leaf, ref in zip(jax.tree_util.tree_leaves(state), jax.tree_util.tree_leaves(ref_state)):
        assert leaf.dtype == dtype
        np.testing.assert_allclose(np.asarray(leaf, np.float32), ref, rtol=1e-2, atol=1e-2)
    np.testing.assert_allclose(np.asarray(grad, np.float32), ref_grad, rtol=1e-2,
                               atol=1e-2 * float(jnp.abs(ref_grad).max()))
