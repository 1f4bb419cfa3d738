import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from spikejax.learn import normalize, normalize_weights


def test_equal_to_inferno(reference):
    ref = reference("inferno")["normalization"]
    w = jnp.asarray(ref["w"], jnp.float32)
    np.testing.assert_allclose(normalize_weights(w, 1, 78.4), ref["l1_rows"], rtol=1e-6)
    np.testing.assert_allclose(normalize_weights(w, 2, 3.0), ref["l2_rows"], rtol=1e-6)
    np.testing.assert_allclose(normalize_weights(w, 1, 5.0, None), ref["l1_all"], rtol=1e-6)


def test_rows_sum_to_scale_other_axes_and_norms():
    w = jax.random.uniform(jax.random.key(0), (10, 784), maxval=0.3)  # Diehl & Cook: (out, in)
    out = normalize_weights(w)
    np.testing.assert_allclose(out.sum(axis=1), 78.4, rtol=1e-5)
    np.testing.assert_allclose(out / w, (78.4 / w.sum(axis=1))[:, None] * np.ones_like(w), rtol=1e-5)
    cols = normalize_weights(w, scale=2.0, axis=0)
    np.testing.assert_allclose(cols.sum(axis=0), 2.0, rtol=1e-5)
    signed = jnp.array([[3.0, -4.0], [0.0, 0.0]])
    np.testing.assert_allclose(normalize_weights(signed, 2, 1.0), [[0.6, -0.8], [0.0, 0.0]])
    np.testing.assert_allclose(normalize_weights(signed, math.inf, 2.0)[0], [1.5, -2.0])
    assert normalize_weights(w.astype(jnp.bfloat16)).dtype == jnp.bfloat16
    np.testing.assert_allclose(jax.jit(normalize_weights)(w), out, rtol=1e-6)


def _plus(delta):
    """A stand-in plasticity rule taking this step's spikes as an extra argument, like STDP."""

    def update(updates, state, params=None, *, pre):
        return jax.tree.map(lambda u: u + delta * pre.sum(), updates), state

    return optax.GradientTransformationExtraArgs(lambda params: optax.EmptyState(), update)


def test_transformation_chains_after_an_update():
    w = {"enc2exc": jax.random.uniform(jax.random.key(1), (5, 40), maxval=0.3)}
    tx = optax.chain(_plus(0.01), normalize(order=1, scale=78.4))
    state = tx.init(w)

    @jax.jit
    def step(w, state, pre):
        updates, state = tx.update(jax.tree.map(jnp.zeros_like, w), state, w, pre=pre)
        return optax.apply_updates(w, updates), state

    for t in range(3):
        w, state = step(w, state, jnp.full(4, float(t + 1)))
        np.testing.assert_allclose(w["enc2exc"].sum(axis=1), 78.4, rtol=1e-5)
    # One more step equals the rule's raw result (0.01 * 4 added), then normalised; the raw
    # result alone would not keep the sums.
    updates, _ = tx.update(jax.tree.map(jnp.zeros_like, w), state, w, pre=jnp.ones(4))
    raw = w["enc2exc"] + 0.04
    assert not np.allclose(raw.sum(axis=1), 78.4)
    chained = optax.apply_updates(w, updates)["enc2exc"]
    np.testing.assert_allclose(chained, normalize_weights(raw), rtol=1e-5)


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: normalize_weights(jnp.ones((2, 2)), scale=0.0), "scale must be a positive number"),
        (lambda: normalize(scale=-78.4), "scale must be a positive number"),
        (lambda: normalize_weights(jnp.ones((2, 2)), order=0), "order must be a positive number"),
        (lambda: normalize(epsilon=-1.0), "epsilon must be a finite non-negative number, got -1.0"),
        (lambda: normalize_weights(jnp.ones((2, 2)), axis=2), "axis 2 is out of range for weights of rank 2"),
        (lambda: normalize().update(jnp.ones(2), optax.EmptyState()), "normalize needs the current params"),
    ],
)
def test_validation(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_validation_of_the_weights_type():
    with pytest.raises(TypeError, match="w must be an array"):
        normalize_weights([1.0, 2.0])
