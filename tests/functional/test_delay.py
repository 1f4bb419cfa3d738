import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from spikejax.functional import delay as F


def _spikes(key, shape, rate=0.2):
    return (jax.random.uniform(jax.random.key(key), shape) < rate).astype(jnp.float32)


def _reference(x, weights, delays):
    """sum_j W_ij x_j[t - d_ij], synapse by synapse."""
    x, weights, delays = map(np.asarray, (x, weights, delays))
    steps, batch, _ = x.shape
    out = np.zeros((steps, batch, weights.shape[0]))
    for i in range(weights.shape[0]):
        for j in range(weights.shape[1]):
            d = delays[i, j]
            out[d:, :, i] += weights[i, j] * x[: steps - d, :, j]
    return out


def test_delayed_linear_sums_each_synapse_at_its_own_delay():
    steps, batch, n_in, n_out, max_delay = 12, 3, 4, 5, 6
    x = _spikes(0, (steps, batch, n_in))
    weights = jax.random.normal(jax.random.key(1), (n_out, n_in))
    delays = jax.random.randint(jax.random.key(2), (n_out, n_in), 0, max_delay)
    assert len(np.unique(delays)) > 3
    out, history = F.delayed_linear(x, weights, delays, max_delay)
    np.testing.assert_allclose(out, _reference(x, weights, delays), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(history, x[-(max_delay - 1):])


@pytest.mark.slow  # CI time (7-11 s on the loaded 2-core machine); run with `pytest -m slow`
def test_chunks_with_the_history_equal_one_piece():
    x = _spikes(3, (20, 2, 3))
    weights = jax.random.normal(jax.random.key(4), (4, 3))
    delays = jax.random.randint(jax.random.key(5), (4, 3), 0, 7)
    whole, _ = F.delayed_linear(x, weights, delays, 7)
    first, history = F.delayed_linear(x[:5], weights, delays, 7)  # a chunk shorter than D
    second, history = F.delayed_linear(x[5:9], weights, delays, 7, history)
    third, _ = F.delayed_linear(x[9:], weights, delays, 7, history)
    np.testing.assert_allclose(jnp.concatenate([first, second, third]), whole, rtol=1e-6, atol=1e-6)
    axonal_delays = jnp.array([0, 3, 6])
    whole, _ = F.axonal_delay(x, axonal_delays, 7)
    first, history = F.axonal_delay(x[:4], axonal_delays, 7)
    second, _ = F.axonal_delay(x[4:], axonal_delays, 7, history)
    np.testing.assert_array_equal(jnp.concatenate([first, second]), whole)


def test_axonal_delay_shifts_each_neuron():
    x = _spikes(6, (10, 2, 3), rate=0.5)
    delays = jnp.array([2, 0, 4])
    out, _ = F.axonal_delay(x, delays, 5)
    for j, d in enumerate([2, 0, 4]):
        np.testing.assert_array_equal(out[d:, :, j], x[: 10 - d, :, j])
        np.testing.assert_array_equal(out[:d, :, j], 0)


def test_a_delay_of_zero_is_a_plain_linear_layer():
    x = _spikes(7, (5, 2, 3))
    weights = jax.random.normal(jax.random.key(8), (4, 3))
    out, history = F.delayed_linear(x, weights, jnp.zeros((4, 3), jnp.int32), 1)
    np.testing.assert_allclose(out, x @ weights.T, rtol=1e-6, atol=1e-6)
    assert history.shape == (0, 2, 3)


def test_nothing_grows_as_steps_times_synapses_times_taps():
    steps, batch, n_in, n_out, max_delay = 64, 2, 8, 8, 16
    x = jnp.zeros((steps, batch, n_in))
    weights, positions = jnp.ones((n_out, n_in)), jnp.full((n_out, n_in), 3.0)

    def loss(weights, positions):
        out, _ = F.learnable_delayed_linear(x, weights, positions, 2.0, max_delay)
        return out.sum()

    jaxpr = jax.make_jaxpr(jax.grad(loss, argnums=(0, 1)))(weights, positions)
    sizes = [math.prod(v.aval.shape) for eqn in jaxpr.jaxpr.eqns for v in eqn.outvars]
    # the largest arrays are the (T + D - 1, B, n) sequences and the (D, n_in, n_out) taps
    assert max(sizes) <= max((steps + max_delay) * batch * n_out, max_delay * n_in * n_out), max(sizes)
    assert max(sizes) < steps * n_in * n_out * max_delay // 8


def test_a_narrow_learnable_kernel_is_the_rounded_fixed_layer():
    x = _spikes(9, (16, 2, 3))
    weights = jax.random.normal(jax.random.key(10), (4, 3))
    positions = jnp.array(np.random.default_rng(0).integers(0, 6, (4, 3)) + 0.2, jnp.float32)
    learned, _ = F.learnable_delayed_linear(x, weights, positions, 0.1, 6)
    fixed, _ = F.delayed_linear(x, weights, F.round_delays(positions, 6), 6)
    np.testing.assert_allclose(learned, fixed, rtol=1e-4, atol=1e-4)
    # the triangle at its narrowest interpolates between the two nearest taps
    taps = F.learnable_delay_kernel(jnp.ones((1, 1)), jnp.array([[2.25]]), 0.1, 5, kernel="triangle")
    np.testing.assert_allclose(taps[:, 0, 0], [0, 0, 0.75, 0.25, 0], atol=1e-6)


@pytest.mark.parametrize("kernel", ["gaussian", "triangle"])
def test_kernel_taps_sum_to_the_weight_and_clip_the_position(kernel):
    weights = jnp.array([[2.0, -1.0, 0.5]])
    positions = jnp.array([[1.3, -4.0, 9.0]])
    taps = F.learnable_delay_kernel(weights, positions, 1.5, 5, kernel=kernel)
    np.testing.assert_allclose(taps.sum(axis=0)[:, 0], weights[0], rtol=1e-6)
    # clipped to the window: the peaks are at taps 0 and D - 1
    assert int(jnp.argmax(jnp.abs(taps[:, 1, 0]))) == 0 and int(jnp.argmax(taps[:, 2, 0])) == 4


@pytest.mark.parametrize("kernel", ["gaussian", pytest.param("triangle", marks=pytest.mark.slow)])
def test_gradients_match_finite_differences_in_float64(kernel):
    with jax.enable_x64(True):
        x = jax.random.uniform(jax.random.key(11), (10, 2, 3), jnp.float64)
        weights = jax.random.normal(jax.random.key(12), (2, 3), jnp.float64)
        # away from the triangle's kinks, at a distance of 1.45 from a tap
        positions = jnp.array([[0.7, 2.3, 4.6], [1.4, 3.2, 5.1]], jnp.float64)
        target = jax.random.normal(jax.random.key(13), (10, 2, 2), jnp.float64)

        def loss(weights, positions):
            out, _ = F.learnable_delayed_linear(x, weights, positions, 1.45, 7, kernel=kernel)
            return jnp.sum((out - target) ** 2 * jnp.arange(1, 11, dtype=jnp.float64)[:, None, None])

        loss = jax.jit(loss)
        grad_w, grad_p = jax.jit(jax.grad(loss, argnums=(0, 1)))(weights, positions)
        assert grad_w.dtype == jnp.float64 and float(jnp.abs(grad_p).max()) > 1e-3
        eps = 1e-6
        for (i, j) in [(0, 0), (0, 2), (1, 1), (1, 2)]:
            bump = jnp.zeros_like(positions).at[i, j].set(eps)
            numeric = (loss(weights, positions + bump) - loss(weights, positions - bump)) / (2 * eps)
            np.testing.assert_allclose(grad_p[i, j], numeric, rtol=1e-6, atol=1e-8)
            numeric = (loss(weights + bump, positions) - loss(weights - bump, positions)) / (2 * eps)
            np.testing.assert_allclose(grad_w[i, j], numeric, rtol=1e-6, atol=1e-8)


def test_sigma_schedule_kinds_start_and_end():
    for kind in ("exponential", "linear", "cosine"):
        values = [float(F.sigma_schedule(s, 10, 6.0, 0.5, kind=kind)) for s in range(13)]
        assert values[0] == pytest.approx(6.0) and values[10] == pytest.approx(0.5) == values[12], kind
        assert all(a >= b for a, b in zip(values, values[1:])), kind
    jitted = jax.jit(lambda s: F.sigma_schedule(s, 10, 6.0))(5)
    assert float(jitted) == pytest.approx(6.0 * (0.5 / 6.0) ** 0.5, rel=1e-6)


def test_errors_name_the_argument_what_was_got_and_expected():
    x = jnp.zeros((4, 2, 3))
    weights = jnp.ones((2, 3))
    with pytest.raises(ValueError, match=r"delays must be steps in \[0, max_delay - 1\] = \[0, 3\] \(max_delay=4\), got values in \[4, 4\]"):
        F.delayed_linear(x, weights, jnp.full((2, 3), 4), 4)
    with pytest.raises(TypeError, match="delays must be an integer array.*float32"):
        F.delayed_linear(x, weights, jnp.ones((2, 3)), 4)
    with pytest.raises(ValueError, match=r"delays has shape \(3, 2\), expected \(2, 3\)"):
        F.delayed_linear(x, weights, jnp.zeros((3, 2), jnp.int32), 4)
    with pytest.raises(ValueError, match=r"input_tensor has shape \(4, 2, 5\), expected its last axis to be 3"):
        F.delayed_linear(jnp.zeros((4, 2, 5)), weights, jnp.zeros((2, 3), jnp.int32), 4)
    with pytest.raises(ValueError, match=r"input_tensor must have rank 3 with layout \(T, B, n_in\)"):
        F.axonal_delay(jnp.zeros((4, 3)), jnp.zeros(3, jnp.int32), 2)
    with pytest.raises(ValueError, match=r"history has shape \(2, 2, 3\), expected \(3, 2, 3\)"):
        F.axonal_delay(x, jnp.zeros(3, jnp.int32), 4, jnp.zeros((2, 2, 3)))
    with pytest.raises(ValueError, match="sigma must be positive.*got 0.0"):
        F.learnable_delay_kernel(weights, jnp.zeros((2, 3)), 0.0, 4)
    with pytest.raises(ValueError, match="kernel must be one of"):
        F.learnable_delay_kernel(weights, jnp.zeros((2, 3)), 1.0, 4, kernel="box")
    with pytest.raises(ValueError, match="max_delay must be an int >= 1, got 0"):
        F.round_delays(jnp.zeros(2), 0)
    with pytest.raises(ValueError, match="kind must be"):
        F.sigma_schedule(0, 10, 2.0, kind="step")
