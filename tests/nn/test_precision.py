"""Mixed precision: bfloat16 matmuls (``nnx.Linear(..., dtype=jnp.bfloat16)``) in front of neurons
that keep their state in float32 (``dtype=jnp.float32``, Flax's computation dtype)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from spikejax.nn import LIF, LIFCell, LIFRecurrent, LIFRecurrentCell, LILinearCell, LSNN, Lift, SequentialState

T, B, N_IN, N = 12, 4, 6, 8


def _images(dtype=jnp.float32):
    return jnp.asarray(np.random.default_rng(0).uniform(0.0, 4.0, (T, B, N_IN)), dtype)


def _mixed_network():
    rngs = nnx.Rngs(0)
    return SequentialState(
        Lift(nnx.Linear(N_IN, N, dtype=jnp.bfloat16, rngs=rngs)),
        LIF(dtype=jnp.float32),
        Lift(nnx.Linear(N, 3, dtype=jnp.bfloat16, rngs=rngs)),
    )


def test_bf16_linear_then_f32_state_lif_trains_without_nan():
    model = _mixed_network()
    xs = _images()

    def loss(model, xs):
        out, state = model(xs)
        return jnp.sum(out.astype(jnp.float32) ** 2), (out, state)

    (value, (out, state)), grads = nnx.jit(nnx.value_and_grad(loss, has_aux=True))(model, xs)
    lif_state = state[1]
    assert lif_state.v.dtype == jnp.float32 and lif_state.i.dtype == jnp.float32
    assert out.dtype == jnp.bfloat16  # the last Linear computes in bfloat16
    hidden, _ = model.layers[1](model.layers[0](xs))
    assert hidden.dtype == jnp.float32 and 0 < float(hidden.sum()) < hidden.size
    assert np.isfinite(float(value))
    leaves = jax.tree_util.tree_leaves(nnx.state(grads, nnx.Param))
    assert leaves and all(leaf.dtype == jnp.float32 for leaf in leaves)  # params stay float32
    assert all(np.all(np.isfinite(np.asarray(leaf))) for leaf in leaves)
    assert np.any(np.asarray(grads.layers[0].module.kernel[...]) != 0)


def test_the_f32_state_follows_the_f32_network_closely():
    """bfloat16 currents (8 bits of mantissa) through a float32 state: the membrane stays within
    bfloat16's rounding of the float32 network's, while a bfloat16 state drifts further."""
    xs = _images() * 0.1
    linear = nnx.Linear(N_IN, N, rngs=nnx.Rngs(1))
    currents = Lift(linear)(xs)
    z32, states32 = LIF(record_states=True)(currents)
    _, mixed = LIF(record_states=True, dtype=jnp.float32)(currents.astype(jnp.bfloat16))
    _, states16 = LIF(record_states=True)(currents.astype(jnp.bfloat16))
    assert mixed.v.dtype == jnp.float32 and states16.v.dtype == jnp.bfloat16
    # Compare up to the first spike, after which a rounding may move spike times.
    spiking = np.asarray(z32).any(axis=(1, 2))
    first = int(np.argmax(spiking)) if spiking.any() else T
    assert first >= 3
    err_mixed = np.max(np.abs(np.asarray(mixed.v - states32.v)[:first]))
    err16 = np.max(np.abs(np.asarray(states16.v, np.float32) - np.asarray(states32.v))[:first])
    assert err_mixed < 5e-3
    assert err_mixed < err16 / 2


def test_default_dtype_keeps_the_input_dtype():
    _, state = LIF()(_images(jnp.bfloat16))
    assert state.v.dtype == jnp.bfloat16
    z, state = LIFCell()(_images(jnp.bfloat16)[0])
    assert z.dtype == jnp.bfloat16 and state.v.dtype == jnp.bfloat16


def test_cells_recurrent_modules_and_a_given_state_take_the_dtype():
    x = _images(jnp.bfloat16)
    z, state = LIFCell(dtype=jnp.float32)(x[0])
    assert z.dtype == jnp.float32 and state.v.dtype == jnp.float32
    bf16_state = jax.tree_util.tree_map(lambda a: a.astype(jnp.bfloat16), state)
    _, state = LIFCell(dtype=jnp.float32)(x[1], bf16_state)
    assert state.v.dtype == jnp.float32
    for module in (LIFRecurrent(N_IN, N, param_dtype=jnp.bfloat16, dtype=jnp.float32),
                   LIFRecurrentCell(N_IN, N, param_dtype=jnp.bfloat16, dtype=jnp.float32)):
        inputs = x if isinstance(module, LIFRecurrent) else x[0]
        z, state = module(inputs)
        assert module.input_weights[...].dtype == jnp.bfloat16
        assert z.dtype == jnp.float32 and state.v.dtype == jnp.float32 and state.z.dtype == jnp.float32


def test_li_linear_cell_computes_in_its_dtype():
    x = _images(jnp.float32)[0]
    cell = LILinearCell(N_IN, N, param_dtype=jnp.float32, dtype=jnp.bfloat16)
    v, state = cell(x)
    assert cell.input_weights[...].dtype == jnp.float32
    assert v.dtype == jnp.bfloat16 and state.v.dtype == jnp.bfloat16 and state.i.dtype == jnp.bfloat16
    v32, _ = LILinearCell(N_IN, N, dtype=jnp.float32)(x)
    assert v32.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(v, np.float32), v32, rtol=2e-2, atol=2e-2)
    with pytest.raises(TypeError, match="dtype must be a floating dtype"):
        LILinearCell(N_IN, N, dtype=jnp.int32)


def test_learnable_float32_parameters_compute_in_a_bfloat16_dtype():
    # Without a dtype a float32 parameter would promote the bfloat16 scan carry (an error).
    layer = LIF(learnable=("v_th",), dtype=jnp.bfloat16)
    assert layer.v_th[...].dtype == jnp.float32
    grad = nnx.grad(lambda m, x: jnp.sum(m(x)[0].astype(jnp.float32)))(layer, _images())
    assert grad.v_th[...].dtype == jnp.float32 and np.isfinite(float(grad.v_th[...]))


def test_the_kernel_takes_the_state_dtype():
    x = _images(jnp.bfloat16)
    z_scan, s_scan = LSNN(dtype=jnp.float32, implementation="scan")(x)
    z_kernel, s_kernel = LSNN(dtype=jnp.float32, implementation="pallas")(x)
    assert s_kernel.v.dtype == jnp.float32 and z_kernel.dtype == jnp.float32
    np.testing.assert_array_equal(z_kernel, z_scan)
    np.testing.assert_allclose(s_kernel.b, s_scan.b, rtol=1e-6)


@pytest.mark.parametrize("dtype", [jnp.int32, "not-a-dtype", bool])
def test_a_non_floating_dtype_is_refused(dtype):
    with pytest.raises(TypeError, match=r"dtype must be a floating dtype \(that of the neuron state\) or None"):
        LIF(dtype=dtype)
