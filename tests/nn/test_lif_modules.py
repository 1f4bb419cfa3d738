import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from spikejax.functional import LIFParameters
from spikejax.nn import LIF, LIFCell, LIFRecurrent, LIFRecurrentCell, Lift, SequentialState

TRACE = [0.1, 0.27, 0.487, 0.7335, 0.9963, 0.0, 0.3951, 0.7717, 0.0]


def test_cell_and_sequence_give_norse_trace():
    cell, state, vs = LIFCell(), None, []
    for _ in range(9):
        _, state = cell(jnp.ones((1, 10)), state)
        vs.append(state.v[0, 0])
    np.testing.assert_allclose(vs, TRACE, atol=1e-4)
    layer = LIF(record_states=True)
    _, states = layer(jnp.ones((9, 1, 10)))
    np.testing.assert_allclose(states.v[:, 0, 0], TRACE, atol=1e-4)
    _, final = LIF()(jnp.ones((9, 1, 10)))
    np.testing.assert_allclose(final.v[0, 0], TRACE[-1], atol=1e-4)


def test_sequence_module_equals_cell_loop_under_jit():
    xs = jax.random.uniform(jax.random.key(0), (20, 3, 4)) * 3
    cell, layer = LIFCell(), LIF(unroll=4)
    state, outs = None, []
    for x in xs:
        z, state = cell(x, state)
        outs.append(z)
    zs, final = nnx.jit(lambda m, x: m(x))(layer, xs)
    np.testing.assert_array_equal(zs, np.stack(outs))
    np.testing.assert_allclose(final.v, state.v, rtol=1e-5, atol=1e-6)


def test_recurrent_cell_and_layer_agree_and_shapes():
    cell = LIFRecurrentCell(3, 4, rngs=nnx.Rngs(1))
    layer = LIFRecurrent(3, 4, rngs=nnx.Rngs(1))
    np.testing.assert_array_equal(cell.input_weights[...], layer.input_weights[...])
    xs = jax.random.uniform(jax.random.key(2), (15, 2, 3)) * 4
    state, outs = None, []
    for x in xs:
        z, state = cell(x, state)
        outs.append(z)
    zs, final = layer(xs)
    assert zs.shape == (15, 2, 4) and final.z.shape == (2, 4)
    np.testing.assert_array_equal(zs, np.stack(outs))
    assert np.asarray(zs).sum() > 0


def test_autapses_stay_zero_under_training():
    layer = LIFRecurrent(3, 5, rngs=nnx.Rngs(0))
    assert np.all(np.diag(np.asarray(layer.recurrent_weights[...])) == 0)
    optimizer = nnx.Optimizer(layer, optax.adam(0.1), wrt=nnx.Param)
    xs = jax.random.uniform(jax.random.key(1), (30, 2, 3)) * 4

    @nnx.jit
    def train_step(layer, optimizer):
        def loss(layer):
            zs, state = layer(xs)
            return jnp.sum(state.v**2) + jnp.sum(zs)

        grads = nnx.grad(loss)(layer)
        optimizer.update(layer, grads)
        return grads

    for _ in range(3):
        grads = train_step(layer, optimizer)
    assert np.all(np.diag(np.asarray(grads.recurrent_weights[...])) == 0)
    assert np.all(np.diag(np.asarray(layer.recurrent_weights[...])) == 0)
    assert np.any(np.asarray(grads.recurrent_weights[...]) != 0)
    with_autapses = LIFRecurrent(3, 5, autapses=True, rngs=nnx.Rngs(0))
    assert np.any(np.diag(np.asarray(with_autapses.recurrent_weights[...])) != 0)


def test_learnable_parameters_receive_gradients():
    layer = LIF(LIFParameters(method="atan", alpha=2.0), learnable=("tau_mem_inv", "v_th"))
    assert isinstance(layer.tau_mem_inv, nnx.Param)
    xs = jax.random.uniform(jax.random.key(0), (50, 2, 3)) * 3
    grads = nnx.grad(lambda m: jnp.sum(m(xs)[0]))(layer)
    assert float(grads.tau_mem_inv[...]) != 0 and float(grads.v_th[...]) != 0
    with pytest.raises(ValueError, match=r"learnable names .tau., which is not a numeric parameter of LIFParameters; expected some of \[.tau_syn_inv."):
        LIF(learnable=("tau",))


def test_norse_quickstart_in_spikejax():
    rngs = nnx.Rngs(0)
    # Without time: Linear -> LIFCell -> Linear, and with a recurrent cell.
    model = SequentialState(nnx.Linear(10, 5, rngs=rngs), LIFCell(), nnx.Linear(5, 1, rngs=rngs))
    out, state = model(jnp.ones((8, 10)))
    out, state = model(jnp.ones((8, 10)), state)
    assert out.shape == (8, 1) and state[0] is None and state[1].v.shape == (8, 5)
    model = SequentialState(nnx.Linear(10, 5, rngs=rngs), LIFRecurrentCell(5, 5), nnx.Linear(5, 1, rngs=rngs))
    out, _ = model(jnp.ones((8, 10)))
    assert out.shape == (8, 1)
    # With time: Lift(Linear) -> LIFRecurrent -> Lift(Linear).
    model = SequentialState(
        Lift(nnx.Linear(10, 5, rngs=rngs)), LIFRecurrent(5, 5), Lift(nnx.Linear(5, 1, rngs=rngs))
    )
    out, state = model(jnp.ones((100, 8, 10)))
    assert out.shape == (100, 8, 1)


def test_sequential_state_return_hidden_and_conv():
    rngs = nnx.Rngs(0)
    model = SequentialState(
        nnx.Conv(1, 4, (3, 3), rngs=rngs), LIFCell(), lambda x: x.reshape(x.shape[0], -1),
        nnx.Linear(4 * 8 * 8, 2, rngs=rngs), return_hidden=True,
    )
    hidden, state = model(jnp.ones((2, 8, 8, 1)) * 5)
    assert [h.shape for h in hidden] == [(2, 8, 8, 4), (2, 8, 8, 4), (2, 256), (2, 2)]
    with pytest.raises(ValueError, match=r"state must have one entry per layer \(4\), got 2 entries"):
        model(jnp.ones((2, 8, 8, 1)), [None, None])
    with pytest.raises(TypeError, match=r"layers\[1\] must be callable, got int"):
        SequentialState(LIFCell(), 3)


def test_lift_hoists_stateless_and_scans_stateful():
    linear = nnx.Linear(4, 3, rngs=nnx.Rngs(0))
    xs = jax.random.normal(jax.random.key(0), (6, 2, 4))
    np.testing.assert_allclose(Lift(linear)(xs), jnp.stack([linear(x) for x in xs]), rtol=1e-6)
    lifted = Lift(LIFCell())
    zs, state = lifted(xs * 5)
    ref, ref_state = LIF()(xs * 5)
    np.testing.assert_array_equal(zs, ref)
    np.testing.assert_allclose(state.v, ref_state.v)
    with pytest.raises(ValueError, match=r"input_tensor must have at least rank 2 with layout \(T, B, \.\.\.\)"):
        Lift(linear)(jnp.ones(4))


def test_module_validation_errors():
    with pytest.raises(ValueError, match=r"input_tensor has shape \(2, 7\), expected last axis 3 \(input_size of LIFRecurrentCell\)"):
        LIFRecurrentCell(3, 4)(jnp.ones((2, 7)))
    with pytest.raises(ValueError, match=r"input_tensor must have rank 2 or 3 with layout \(T, B, input_size\)"):
        LIFRecurrent(3, 4)(jnp.ones(3))
    with pytest.raises(ValueError, match=r"input_tensor must have at least rank 2 with layout \(T, B, \.\.\.\) or \(T, N\), got shape \(5,\)"):
        LIF()(jnp.ones(5))
    with pytest.raises(ValueError, match=r"hidden_size must be a positive int, got 0"):
        LIFRecurrentCell(3, 0)
    with pytest.raises(TypeError, match=r"p must be a LIFParameters for LIFCell, got dict"):
        LIFCell({"v_th": 1.0})
    with pytest.raises(ValueError, match=r"dt must be positive, got -0.001"):
        LIF(dt=-1e-3)
    with pytest.raises(ValueError, match=r"state.z has shape \(3, 4\), expected \(2, 4\) \(the batch shape of input_tensor"):
        LIFRecurrentCell(3, 4)(jnp.ones((2, 3)), LIFRecurrentCell(3, 4)(jnp.ones((3, 3)))[1])


def test_learnable_rejects_static_and_nested_fields_and_detach_reset_needs_a_reset():
    from spikejax.nn import LI, LIFRefrac

    with pytest.raises(ValueError, match=r"learnable names 'method', which is not a numeric parameter"):
        LIF(learnable=("method",))
    with pytest.raises(ValueError, match=r"learnable names 'lif', which is not a numeric parameter of LIFRefracParameters; expected some of \['rho_reset'\]"):
        LIFRefrac(learnable=("lif",))
    with pytest.raises(TypeError, match=r"detach_reset must be None for LI: the LI model has no reset"):
        LI(detach_reset=True)
    assert "detach_reset" not in LI.__doc__ and "detach_reset" in LIF.__doc__


def test_sequence_modules_take_a_constant_input_with_steps():
    x = jax.random.uniform(jax.random.key(0), (2, 3)) * 4
    zs, state = LIF()(x, steps=9)
    ref, ref_state = LIF()(jnp.broadcast_to(x, (9, 2, 3)))
    np.testing.assert_array_equal(zs, ref)
    np.testing.assert_allclose(state.v, ref_state.v)
    layer = LIFRecurrent(3, 4, rngs=nnx.Rngs(0))
    zs, _ = layer(x, steps=9)
    np.testing.assert_array_equal(zs, layer(jnp.broadcast_to(x, (9, 2, 3)))[0])
    with pytest.raises(ValueError, match=r"input_tensor must have rank 1 or 2 with layout \(B, input_size\) for a constant input"):
        layer(jnp.ones((9, 2, 3)), steps=9)


def test_lift_in_batch_major_order_gives_the_same_outputs():
    # Inside a data-parallel step Lift merges (T, B) as B * T; the numbers must not change.
    from spikejax.nn.lift import _BATCH_MAJOR, _batch_major_lift

    conv = nnx.Conv(2, 3, (3, 3), rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(0), (4, 5, 6, 6, 2))   # (T, B, H, W, C)
    expected = Lift(conv)(x)
    pair = Lift(lambda a: (conv(a), a.sum(axis=(1, 2, 3))))
    with _batch_major_lift():
        assert _BATCH_MAJOR.get()
        got = jax.jit(lambda a: Lift(conv)(a))(x)
        out, sums = pair(x)
    assert not _BATCH_MAJOR.get()
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(sums, x.sum(axis=(2, 3, 4)), rtol=1e-5)
