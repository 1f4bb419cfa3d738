import jax
import jax.numpy as jnp
import numpy as np
import pytest

from spikejax.functional.plasticity import trace_step


def _numpy_trace(zs, tau_inv, a, dt, mode):
    x, out = np.zeros(zs.shape[1:]), []
    for z in zs:
        if mode == "norse":
            x = x + dt * tau_inv * (-x + a * z)
        elif mode == "cumulative":
            x = x * np.exp(-dt * tau_inv) + a * z
        else:
            x = np.where(z > 0, a, x * np.exp(-dt * tau_inv))
        out.append(x)
    return np.stack(out)


def test_norse_trace_after_a_spike_and_a_silent_step():
    x = trace_step(jnp.ones(3), jnp.zeros(3), 20.0)
    np.testing.assert_allclose(x, 0.02, atol=1e-7)
    np.testing.assert_allclose(trace_step(jnp.zeros(3), x, 20.0), 0.0196, atol=1e-7)


@pytest.mark.parametrize("mode", ["norse", "cumulative", "nearest"])
def test_modes_equal_their_formula_under_jit_and_scan(mode):
    zs = (np.random.default_rng(0).random((30, 2, 4)) < 0.3).astype(np.float32)
    tau_inv, a, dt = 40.0, 0.7, 2e-3

    @jax.jit
    def trajectory(zs):
        def step(x, z):
            x = trace_step(z, x, tau_inv, a, dt, mode=mode)
            return x, x

        return jax.lax.scan(step, jnp.zeros((2, 4)), zs)[1]

    np.testing.assert_allclose(trajectory(zs), _numpy_trace(zs, tau_inv, a, dt, mode),
                               rtol=1e-5, atol=1e-6)


def test_nearest_keeps_only_the_latest_spike_and_cumulative_adds():
    zs = jnp.array([[1.0], [1.0]])
    near = trace_step(zs[1], trace_step(zs[0], jnp.zeros(1), 10.0, mode="nearest"), 10.0,
                      mode="nearest")
    cum = trace_step(zs[1], trace_step(zs[0], jnp.zeros(1), 10.0, mode="cumulative"), 10.0,
                     mode="cumulative")
    np.testing.assert_allclose(near, 1.0)
    np.testing.assert_allclose(cum, 1.0 + np.exp(-0.01), rtol=1e-6)


def test_bfloat16_trace_keeps_its_dtype():
    x = trace_step(jnp.ones(2, jnp.bfloat16), jnp.zeros(2, jnp.bfloat16), 20.0, mode="cumulative")
    assert x.dtype == jnp.bfloat16 and np.all(np.isfinite(np.asarray(x, np.float32)))


def test_bad_arguments():
    with pytest.raises(ValueError, match="mode must be one of 'norse', 'cumulative', 'nearest'"):
        trace_step(jnp.ones(2), jnp.zeros(2), 20.0, mode="exact")
    with pytest.raises(ValueError, match=r"tau_inv must be positive, got -1.0"):
        trace_step(jnp.ones(2), jnp.zeros(2), -1.0)
    with pytest.raises(ValueError, match=r"z has shape \(3,\), expected \(2,\)"):
        trace_step(jnp.ones(3), jnp.zeros(2), 20.0)
    with pytest.raises(ValueError, match="dt must be positive"):
        trace_step(jnp.ones(2), jnp.zeros(2), 20.0, dt=0.0)
    with pytest.raises(TypeError, match="trace must be an array"):
        trace_step(jnp.ones(2), 0.0, 20.0)
