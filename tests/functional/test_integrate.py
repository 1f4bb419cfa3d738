import jax
import jax.numpy as jnp
import numpy as np
import pytest

from spikejax.functional import LIFParameters, lif_feed_forward_step, run


def leaky_step(x, s):
    s = 0.9 * s + x if s is not None else x
    return jnp.tanh(s), s


def python_loop(step, state, xs):
    ys = []
    for x in xs:
        y, state = step(x, state)
        ys.append(y)
    return state, jnp.stack(ys)


def test_run_equals_python_loop_and_returns_time_major_outputs():
    xs = jax.random.normal(jax.random.key(0), (17, 3, 5))
    state, ys = run(leaky_step, jnp.zeros((3, 5)), xs)
    ref_state, ref_ys = python_loop(leaky_step, jnp.zeros((3, 5)), xs)
    assert ys.shape == (17, 3, 5)
    np.testing.assert_allclose(ys, ref_ys, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(state, ref_state, rtol=1e-5, atol=1e-6)


def test_none_state_starts_from_the_step_functions_rest_state():
    xs = jnp.ones((10, 2, 3))
    s1, z1 = run(lif_feed_forward_step, None, xs)
    s2, z2 = python_loop(lif_feed_forward_step, None, xs)
    np.testing.assert_array_equal(z1, z2)
    np.testing.assert_allclose(s1.v, s2.v, rtol=1e-6)
    # a single step works too
    s3, z3 = run(lif_feed_forward_step, None, xs[:1])
    assert z3.shape == (1, 2, 3)


def test_record_states_stacks_every_state():
    xs = jnp.ones((9, 1, 2))
    states, zs = run(lif_feed_forward_step, None, xs, record_states=True)
    assert states.v.shape == (9, 1, 2) and zs.shape == (9, 1, 2)
    expected = [0.1, 0.27, 0.487, 0.7335, 0.9963, 0.0, 0.3951, 0.7717, 0.0]
    np.testing.assert_allclose(states.v[:, 0, 0], expected, atol=1e-4)
    states2, _ = run(lif_feed_forward_step, None, xs, record_states=True, remat=4)
    np.testing.assert_allclose(states2.v, states.v)


@pytest.mark.parametrize("remat", [True, 1, 4, 7, 100])
@pytest.mark.parametrize("unroll", [1, 3])
def test_remat_and_unroll_keep_values_and_gradients(remat, unroll):
    xs = jax.random.normal(jax.random.key(1), (30, 2, 4)) * 2 + 1
    p = LIFParameters(method="tanh", alpha=2.0)

    def loss(xs, remat, unroll):
        step = lambda x, s: lif_feed_forward_step(x, s, p)
        state, zs = run(step, None, xs, remat=remat, unroll=unroll)
        return jnp.sum(zs) + jnp.sum(state.v**2)

    ref, ref_grad = jax.value_and_grad(loss)(xs, False, 1)
    val, grad = jax.jit(jax.value_and_grad(loss), static_argnums=(1, 2))(xs, remat, unroll)
    np.testing.assert_allclose(val, ref, rtol=1e-6)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-5, atol=1e-7)
    assert np.any(np.asarray(grad) != 0)


def test_chunked_remat_stores_fewer_residuals():
    # With remat=k the backward pass keeps the state only at chunk boundaries: the saved
    # residuals of the forward pass shrink by about a factor k.
    # The input is one number per step, broadcast to 256 neurons inside the step, so that the
    # stored input does not hide the stored states.
    xs = jnp.ones((64, 1, 1))
    step = lambda x, s: lif_feed_forward_step(jnp.broadcast_to(x, (1, 256)), s)

    def residual_bytes(remat):
        f = lambda x: jnp.sum(run(step, None, x, remat=remat)[1])
        _, vjp = jax.vjp(f, xs)
        leaves = jax.tree_util.tree_leaves(vjp)
        return sum(l.size * l.dtype.itemsize for l in leaves if hasattr(l, "dtype"))

    plain, chunked = residual_bytes(False), residual_bytes(8)
    assert chunked * 4 < plain, (plain, chunked)


def test_bad_time_axis_and_options():
    with pytest.raises(ValueError, match=r"xs must have at least rank 1 .*got shape \(\)"):
        run(leaky_step, None, jnp.float32(1.0))
    with pytest.raises(ValueError, match=r"xs must share one time length on axis 0, got lengths \[3, 4\]"):
        run(lambda x, s: (x[0], s), 0.0, (jnp.ones((3, 2)), jnp.ones((4, 2))))
    with pytest.raises(ValueError, match=r"empty time axis"):
        run(leaky_step, None, jnp.ones((0, 2)))
    with pytest.raises(ValueError, match=r"remat must be a bool or a positive int.*got -2"):
        run(leaky_step, None, jnp.ones((3, 2)), remat=-2)
    with pytest.raises(ValueError, match=r"unroll must be a bool or a positive int, got 0"):
        run(leaky_step, None, jnp.ones((3, 2)), unroll=0)


def test_constant_input_with_length_equals_the_broadcast_sequence():
    x = jax.random.normal(jax.random.key(4), (3, 5)) * 2 + 1
    xs = jnp.broadcast_to(x, (12, 3, 5))
    for remat in (False, 5):
        for state in (None, "rest"):
            s0 = None if state is None else lif_feed_forward_step(x, None)[1]._replace(v=jnp.zeros((3, 5)), i=jnp.zeros((3, 5)))
            ref_state, ref = run(lif_feed_forward_step, s0, xs, remat=remat, record_states=True)
            got_state, got = run(lif_feed_forward_step, s0, x, length=12, remat=remat, record_states=True)
            np.testing.assert_array_equal(got, ref)
            np.testing.assert_allclose(got_state.v, ref_state.v, rtol=1e-6)
    grad_ref = jax.grad(lambda x: jnp.sum(run(lif_feed_forward_step, None, jnp.broadcast_to(x, (12, 3, 5)))[1]))(x)
    grad = jax.grad(lambda x: jnp.sum(run(lif_feed_forward_step, None, x, length=12)[1]))(x)
    np.testing.assert_allclose(grad, grad_ref, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match=r"length must be a positive int \(the number of steps\), got 0"):
        run(lif_feed_forward_step, None, x, length=0)
