import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from spikejax.functional import alif_feed_forward_step, run
from spikejax.nn import (
    DeltaCurrent,
    Dense,
    Direct,
    Lateral,
    constant_init,
    dense_current,
    direct_current,
    lateral_current,
    uniform_init,
)


def test_equal_to_inferno_with_delta_current_synapse(reference):
    ref = reference("inferno")["connections"]
    spikes = jnp.asarray(ref["spikes"], jnp.float32)
    dense = Dense(6, 3, synapse=DeltaCurrent(100.0))
    dense.weight[...] = jnp.asarray(ref["dense_weight"], jnp.float32)
    np.testing.assert_allclose(dense(spikes), ref["dense"], rtol=1e-5)
    lateral = Lateral(6, synapse=DeltaCurrent(100.0), weight_init=constant_init(-180.0))
    np.testing.assert_array_equal(lateral.weight[...], ref["lateral_weight"])
    np.testing.assert_allclose(lateral(spikes), ref["lateral"], rtol=1e-6)
    direct = Direct(6, synapse=DeltaCurrent(75.0), weight_init=constant_init(22.5))
    np.testing.assert_allclose(direct(spikes.astype(bool)), ref["direct"], rtol=1e-6)


def test_lateral_diagonal_stays_zero_under_updates_and_gradients():
    lateral = Lateral(4, rngs=nnx.Rngs(1))
    weight = np.asarray(lateral.weight[...])
    assert np.all(np.diag(weight) == 0) and np.all(weight[~np.eye(4, dtype=bool)] > 0)
    lateral.weight[...] = jnp.ones((4, 4))  # an optimizer writing the diagonal
    np.testing.assert_array_equal(lateral(jnp.eye(4)), 1 - np.eye(4))
    grads = nnx.grad(lambda m: jnp.sum(m(jnp.ones((2, 4))) ** 2))(lateral)
    assert np.all(np.diag(grads.weight[...]) == 0) and np.all(grads.weight[...][0, 1:] != 0)
    np.testing.assert_array_equal(lateral_current(jnp.eye(3), jnp.ones((3, 3))), 1 - np.eye(3))


def test_uniform_init_bounds_and_shapes():
    dense = Dense(200, 50, weight_init=uniform_init(0.0, 0.3), use_bias=True, rngs=nnx.Rngs(0))
    w = np.asarray(dense.weight[...])
    assert w.shape == (50, 200) and dense.bias[...].shape == (50,)
    assert w.min() >= 0.0 and w.max() < 0.3 and 0.14 < w.mean() < 0.16
    default = np.asarray(Dense(20, 30).weight[...])  # Inferno's default: uniform in [0, 1)
    assert default.min() >= 0 and default.max() < 1 and default.std() > 0.2
    other = Dense(200, 50, weight_init=uniform_init(0.0, 0.3), rngs=nnx.Rngs(1)).weight[...]
    assert not np.array_equal(w, other)
    assert Direct(5).weight[...].shape == (5,) and Lateral(5).weight[...].shape == (5, 5)


def test_batched_shapes_bias_dtype_and_pure_twins():
    dense = Dense(4, 3, use_bias=True, bias_init=constant_init(0.5), rngs=nnx.Rngs(2))
    z = (jax.random.uniform(jax.random.key(0), (5, 2, 4)) < 0.5).astype(jnp.float32)
    out = dense(z)
    assert out.shape == (5, 2, 3)
    np.testing.assert_allclose(out, np.asarray(z) @ np.asarray(dense.weight[...]).T + 0.5, rtol=1e-6)
    np.testing.assert_allclose(dense(z[0, 0]), out[0, 0], rtol=1e-6)  # unbatched (in,)
    np.testing.assert_allclose(dense_current(z, *dense.weights()), out)
    direct = Direct(4, weight_init=constant_init(2.0))
    np.testing.assert_array_equal(direct(z), 2 * z)
    np.testing.assert_array_equal(direct_current(z, direct.weight[...]), 2 * z)
    assert Dense(4, 3, dtype=jnp.bfloat16)(z).dtype == jnp.bfloat16
    assert DeltaCurrent(100.0)(jnp.ones(2), dt=0.5e-3).tolist() == [200.0, 200.0]


def test_diehl_cook_block_inside_scan_and_with_optax():
    # Input spikes -> Dense(DeltaCurrent) -> ALIF, all inside one lax.scan under jit.
    enc2exc = Dense(16, 4, synapse=DeltaCurrent(100.0), weight_init=uniform_init(0.0, 0.3))
    spikes = (jax.random.uniform(jax.random.key(1), (50, 2, 16)) < 0.5).astype(jnp.float32)

    @jax.jit
    def simulate(weight, spikes):
        step = lambda z, s: alif_feed_forward_step(dense_current(enc2exc.synapse(z), weight), s)
        return run(step, None, spikes)

    state, out = simulate(enc2exc.weight[...], spikes)
    assert out.shape == (50, 2, 4) and out.sum() > 0 and state.theta.max() > 0
    params = nnx.state(enc2exc, nnx.Param)
    updates = jax.tree.map(jnp.ones_like, params)
    new = optax.apply_updates(params, updates)
    nnx.update(enc2exc, new)
    assert float(enc2exc.weight[...].min()) >= 1.0


@pytest.mark.parametrize(
    "make,error,match",
    [
        (lambda: Dense(4, 3)(jnp.ones((2, 5))), ValueError, r"spikes has shape \(2, 5\), expected last axis 4"),
        (lambda: Direct(4)(jnp.ones(3)), ValueError, "expected last axis 4"),
        (lambda: Lateral(3)(jnp.ones((2, 4))), ValueError, "expected last axis 3"),
        (lambda: dense_current(jnp.ones(3), jnp.ones(3)), ValueError, "weight must have rank 2"),
        (lambda: lateral_current(jnp.ones(3), jnp.ones((3, 4))), ValueError, "expected a square"),
        (lambda: dense_current(jnp.ones(3), jnp.ones((2, 3)), jnp.ones(3)), ValueError,
         r"bias has shape \(3,\), expected \(2,\)"),
        (lambda: Dense(0, 3), ValueError, "in_features must be an int >= 1"),
        (lambda: Direct(2.5), TypeError, "features must be a Python int"),
        (lambda: uniform_init(1.0, 0.0), ValueError, "low <= high"),
        (lambda: Dense(2, 2, weight_init=lambda k, s, d: jnp.ones(3)), ValueError,
         r"weight_init returned shape \(3,\), expected \(2, 2\)"),
        (lambda: DeltaCurrent(0.0), ValueError, "spike_charge must be nonzero"),
        (lambda: Dense(2, 2, dt=-1.0), ValueError, "dt must be positive"),
        (lambda: Dense(2, 2, synapse=3.0), TypeError, "synapse must be None or callable"),
        (lambda: Dense(2, 2)([1.0, 2.0]), TypeError, "spikes must be an array"),
    ],
)
def test_validation(make, error, match):
    with pytest.raises(error, match=match):
        make()
