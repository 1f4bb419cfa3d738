import jax
import jax.numpy as jnp
import numpy as np
import pytest

from spikejax.functional.plasticity import (
    MSTDPParameters,
    mstdp_step,
    mstdpet_state,
    mstdpet_step,
    stdp_state,
)

VALUES = dict(tau_plus_inv=50.0, tau_minus_inv=40.0, tau_z_inv=30.0, a_plus=1.2, a_minus=-0.8,
              gamma=0.5)


def _numpy_reward(pre, post, rewards, v, dt, eligibility_trace, reduction="sum"):
    x_pre, x_post = np.zeros(pre.shape[1:]), np.zeros(post.shape[1:])
    e = np.zeros((pre.shape[1], post.shape[2], pre.shape[2]))
    reduce = {"mean": np.mean, "sum": np.sum}[reduction]
    out = []
    for z_pre, z_post, r in zip(pre, post, rewards):
        x_pre = x_pre * np.exp(-dt * v["tau_plus_inv"]) + z_pre
        x_post = x_post * np.exp(-dt * v["tau_minus_inv"]) + z_post
        zeta = (v["a_plus"] * z_post[:, :, None] * x_pre[:, None, :]
                + v["a_minus"] * x_post[:, :, None] * z_pre[:, None, :])
        if eligibility_trace:  # Florian 2007, MSTDPET
            e = e * np.exp(-dt * v["tau_z_inv"]) + zeta * v["tau_z_inv"]
            per_batch = v["gamma"] * r[:, None, None] * e * dt
        else:  # MSTDP
            per_batch = v["gamma"] * r[:, None, None] * zeta
        out.append(reduce(per_batch, axis=0))
    return np.stack(out)


@pytest.mark.parametrize("eligibility_trace,reduction", [(False, "sum"), (True, "sum"),
                                                         (True, "mean")])
def test_equals_the_formula_with_a_reward_per_batch_entry(eligibility_trace, reduction):
    rng = np.random.default_rng(7)
    pre = (rng.random((30, 3, 4)) < 0.3).astype(np.float32)
    post = (rng.random((30, 3, 2)) < 0.3).astype(np.float32)
    rewards = rng.normal(size=(30, 3)).astype(np.float32)
    p = MSTDPParameters(**VALUES, batch_reduction=reduction)
    w = jnp.zeros((2, 4))
    rule, state = (mstdpet_step, mstdpet_state((3, 4), (3, 2))) if eligibility_trace else (
        mstdp_step, stdp_state((3, 4), (3, 2)))

    @jax.jit
    def trajectory(pre, post, rewards):
        def step(state, xs):
            dw, state = rule(xs[0], xs[1], state, w, p, reward=xs[2])
            return state, dw

        return jax.lax.scan(step, state, (pre, post, rewards))[1]

    expected = _numpy_reward(pre, post, rewards, VALUES, 1e-3, eligibility_trace, reduction)
    np.testing.assert_allclose(trajectory(pre, post, rewards), expected, rtol=1e-5, atol=1e-6)


def test_a_scalar_reward_scales_the_update_and_no_reward_learns_nothing():
    p = MSTDPParameters(**VALUES)
    one, zero, w = jnp.ones((2, 1)), jnp.zeros((2, 1)), jnp.zeros((1, 1))
    step = jax.jit(lambda a, b, s, r: mstdpet_step(a, b, s, w, p, reward=r))
    _, s = step(one, zero, mstdpet_state((2, 1), (2, 1)), 0.0)
    dw0, _ = step(zero, one, s, 0.0)
    dw1, _ = step(zero, one, s, 1.0)
    dw2, _ = step(zero, one, s, -2.0)
    assert float(dw0[0, 0]) == 0.0 and float(dw1[0, 0]) > 0
    np.testing.assert_allclose(dw2, -2 * dw1, rtol=1e-6)


def test_bad_arguments():
    w = jnp.zeros((2, 4))
    with pytest.raises(ValueError, match=r"reward has shape \(2,\), expected \(\) or \(3,\)"):
        mstdp_step(jnp.ones((3, 4)), jnp.ones((3, 2)), None, w, reward=jnp.ones(2))
    with pytest.raises(ValueError, match=r"state.eligibility has shape \(2, 4\), expected \(3, 2, 4\)"):
        mstdpet_step(jnp.ones((3, 4)), jnp.ones((3, 2)), mstdpet_state((4,), (2,)), w, reward=1.0)
    with pytest.raises(ValueError, match="MSTDPParameters.tau_z_inv must be positive"):
        MSTDPParameters(tau_z_inv=-25.0)
    with pytest.raises(ValueError, match="MSTDPParameters.batch_reduction must be one of"):
        MSTDPParameters(batch_reduction="prod")
    with pytest.raises(TypeError, match="reward"):
        mstdp_step(jnp.ones((3, 4)), jnp.ones((3, 2)), None, w)
