import jax
import jax.numpy as jnp
import numpy as np
import pytest

from spikejax.functional.plasticity import (
    AdaptiveThresholdParameters,
    AdaptiveThresholdState,
    adaptive_threshold_step,
)


@pytest.mark.parametrize("reduction", [None, "mean", "max"])
def test_equals_the_formula_under_jit_and_scan(reduction):
    zs = (np.random.default_rng(9).random((40, 3, 4)) < 0.3).astype(np.float32)
    p = AdaptiveThresholdParameters(alpha=0.1, tau_theta_inv=20.0)
    shape = (3, 4) if reduction is None else (4,)

    @jax.jit
    def trajectory(zs):
        def step(s, z):
            s = adaptive_threshold_step(z, s, p, batch_reduction=reduction)
            return s, s.theta

        return jax.lax.scan(step, AdaptiveThresholdState(jnp.zeros(shape)), zs)[1]

    theta, expected = np.zeros(shape), []
    for z in zs:
        spikes = z if reduction is None else {"mean": np.mean, "max": np.max}[reduction](z, axis=0)
        theta = theta * np.exp(-1e-3 * 20.0) + 0.1 * spikes
        expected.append(theta)
    np.testing.assert_allclose(trajectory(zs), np.stack(expected), rtol=1e-5, atol=1e-7)


def test_diehl_and_cook_defaults_barely_decay():
    s = adaptive_threshold_step(jnp.ones(2), None)
    s = adaptive_threshold_step(jnp.zeros(2), s)
    np.testing.assert_allclose(s.theta, 0.05 * np.exp(-1e-7), rtol=1e-7)


def test_bad_arguments():
    with pytest.raises(ValueError, match="AdaptiveThresholdParameters.tau_theta_inv must be positive"):
        AdaptiveThresholdParameters(tau_theta_inv=0.0)
    with pytest.raises(ValueError, match="batch_reduction must be one of 'sum', 'mean', 'max'"):
        adaptive_threshold_step(jnp.ones((2, 3)), None, batch_reduction="min")
    with pytest.raises(ValueError, match=r"state.theta has shape \(2, 3\), expected \(3,\)"):
        adaptive_threshold_step(jnp.ones((2, 3)), AdaptiveThresholdState(jnp.zeros((2, 3))),
                                batch_reduction="mean")


def test_sum_reduction_and_dt():
    zs = (np.random.default_rng(12).random((30, 4, 3)) < 0.4).astype(np.float32)
    p = AdaptiveThresholdParameters(alpha=0.2, tau_theta_inv=50.0)

    def formula(dt):
        theta = np.zeros(3)
        for z in zs:
            theta = theta * np.exp(-dt * 50.0) + 0.2 * z.sum(0)
        return theta

    state = None
    for z in zs:
        state = adaptive_threshold_step(jnp.asarray(z), state, p, 4e-3, batch_reduction="sum")
    np.testing.assert_allclose(state.theta, formula(4e-3), rtol=1e-5)
    assert np.abs(formula(4e-3) - formula(1e-3)).max() > 1e-2
