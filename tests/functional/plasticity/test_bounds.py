import jax
import jax.numpy as jnp
import numpy as np
import pytest

from spikejax.functional.plasticity import (
    bound_multiplicative,
    bound_power,
    bound_sharp,
    clamp_update,
    split_update,
)

W = np.array([0.0, 0.2, 0.5, 0.9, 1.0], np.float32)
POS = np.array([0.3, 0.1, 0.2, 0.4, 0.5], np.float32)
NEG = np.array([0.1, 0.2, 0.0, 0.3, 0.2], np.float32)


def test_power_multiplicative_and_sharp_equal_their_formulas():
    got = jax.jit(lambda w, a, b: bound_power(w, a, b, w_min=0.0, w_max=1.0, upper_power=0.5,
                                              lower_power=2.0))(W, POS, NEG)
    np.testing.assert_allclose(got, (1 - W) ** 0.5 * POS - W**2 * NEG, rtol=1e-6)
    got = bound_multiplicative(W, POS, NEG, w_min=0.0, w_max=1.0)
    np.testing.assert_allclose(got, (1 - W) * POS - W * NEG, rtol=1e-6, atol=1e-7)
    # Sharp: no potentiation at the upper bound, no depression at the lower one.
    got = bound_sharp(W, POS, NEG, w_min=0.0, w_max=1.0)
    np.testing.assert_allclose(got, (W < 1) * POS - (W > 0) * NEG, rtol=1e-6)


def test_one_sided_bounds_leave_the_other_side_alone():
    np.testing.assert_allclose(bound_multiplicative(W, POS, NEG, w_max=1.0), (1 - W) * POS - NEG,
                               rtol=1e-6)
    np.testing.assert_allclose(bound_sharp(W, POS, NEG, w_min=0.0), POS - (W > 0) * NEG, rtol=1e-6)


def test_clamp_and_split():
    update = np.array([-0.5, 0.5, 0.1, 0.3, -0.1], np.float32)
    np.testing.assert_allclose(W + clamp_update(W, update, w_min=0.0, w_max=1.0),
                               np.clip(W + update, 0, 1), atol=1e-7)
    np.testing.assert_allclose(W + clamp_update(W, update, w_min=0.0), np.maximum(W + update, 0),
                               atol=1e-7)
    pos, neg = split_update(jnp.asarray(update))
    np.testing.assert_allclose(pos - neg, update)
    assert np.all(np.asarray(pos) >= 0) and np.all(np.asarray(neg) >= 0)


def test_bfloat16_keeps_the_weight_dtype():
    w = jnp.asarray(W, jnp.bfloat16)
    out = bound_power(w, jnp.asarray(POS), jnp.asarray(NEG), w_min=0.0, w_max=1.0)
    assert out.dtype == jnp.bfloat16


def test_bad_arguments():
    with pytest.raises(ValueError, match="w_max must be greater than w_min, got w_min=1.0 and w_max=0.0"):
        bound_power(W, POS, NEG, w_min=1.0, w_max=0.0)
    with pytest.raises(ValueError, match="w_max must be greater than w_min"):
        clamp_update(W, POS, w_min=0.5, w_max=0.5)
    with pytest.raises(ValueError, match="upper_power must be non-negative"):
        bound_power(W, POS, NEG, w_max=1.0, upper_power=-1.0)
