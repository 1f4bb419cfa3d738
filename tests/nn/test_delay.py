import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from spikejax.functional import delay as F
from spikejax.nn import (
    AxonalDelay,
    DelayedLinear,
    DelaySteps,
    DelayWidth,
    Leaky,
    LearnableDelayedLinear,
    SequentialState,
    set_delay_width,
)


def _spikes(key, shape, rate=0.3):
    return (jax.random.uniform(jax.random.key(key), shape) < rate).astype(jnp.float32)


def test_modules_compute_the_functions_and_add_the_bias():
    x = _spikes(0, (9, 2, 3))
    fixed = DelayedLinear(3, 4, 5, use_bias=True, rngs=nnx.Rngs(0))
    fixed.bias[...] = jnp.arange(4.0)
    out, history = fixed(x)
    expected, _ = F.delayed_linear(x, fixed.weight[...], fixed.delays[...], 5)
    np.testing.assert_allclose(out, expected + jnp.arange(4.0), rtol=1e-6)
    assert history.shape == (4, 2, 3) and isinstance(fixed.delays, DelaySteps)
    learnable = LearnableDelayedLinear(3, 4, 5, sigma=1.5, kernel="triangle", rngs=nnx.Rngs(1))
    expected, _ = F.learnable_delayed_linear(x, learnable.weight[...], learnable.position[...], 1.5, 5,
                                             kernel="triangle")
    np.testing.assert_allclose(learnable(x)[0], expected, rtol=1e-6)
    axonal = AxonalDelay(3, 4, rngs=nnx.Rngs(2))
    np.testing.assert_array_equal(axonal(x)[0], F.axonal_delay(x, axonal.delays[...], 4)[0])


@pytest.mark.slow  # CI time (7-11 s on the loaded 2-core machine); run with `pytest -m slow`
def test_in_sequential_state_chunks_equal_the_whole_sequence():
    net = SequentialState(LearnableDelayedLinear(3, 6, 8, rngs=nnx.Rngs(0)), Leaky(), AxonalDelay(6, 3, rngs=nnx.Rngs(1)))
    x = _spikes(3, (16, 2, 3)) * 4.0
    whole, _ = net(x)
    first, state = net(x[:5])
    second, _ = net(x[5:], state)
    assert float(whole.sum()) > 0
    np.testing.assert_allclose(jnp.concatenate([first, second]), whole, atol=1e-6)
    with pytest.raises(ValueError, match=r"layers\[0\] \(LearnableDelayedLinear\) expects inputs of shape \(\.\.\., 3\)"):
        net(jnp.ones((4, 2, 5)))


def test_to_fixed_rounds_the_positions_and_keeps_weights_and_bias():
    positions = jnp.array([[0.2, 3.9, 6.1], [2.0, 5.3, 1.8]])
    layer = LearnableDelayedLinear(3, 2, 7, sigma=0.1, positions=positions, use_bias=True, rngs=nnx.Rngs(0))
    layer.bias[...] = jnp.array([0.5, -0.5])
    fixed = layer.to_fixed()
    np.testing.assert_array_equal(fixed.delays[...], [[0, 4, 6], [2, 5, 2]])
    np.testing.assert_array_equal(fixed.weight[...], layer.weight[...])
    x = _spikes(4, (12, 2, 3))
    np.testing.assert_allclose(fixed(x)[0], layer(x)[0], atol=1e-4)


def test_an_optax_optimizer_moves_the_delay_to_the_target_and_leaves_sigma_alone():
    # One input spike at t = 0; the target is a current at t = 6: the delay must grow from 1 to 6.
    x = jnp.zeros((10, 1, 1)).at[0].set(1.0)
    target = jnp.zeros((10, 1, 1)).at[6].set(1.0)
    layer = LearnableDelayedLinear(1, 1, 10, sigma=3.0, positions=jnp.array([[1.0]]), weights=jnp.ones((1, 1)))
    optimizer = nnx.Optimizer(layer, optax.adam(0.1), wrt=nnx.Param)
    traces = []

    @nnx.jit
    def step(layer, optimizer):
        traces.append(1)

        def loss(layer):
            return jnp.sum((layer(x)[0] - target) ** 2)

        value, grads = nnx.value_and_grad(loss)(layer)
        optimizer.update(layer, grads)
        return value

    first = float(step(layer, optimizer))
    for index in range(150):
        set_delay_width(layer, F.sigma_schedule(index, 150, 3.0, 0.4))
        last = float(step(layer, optimizer))
    assert len(traces) == 1, "a new width is state, not a new trace"
    assert last < 0.1 * first, (first, last)
    assert layer.delays().tolist() == [[6]], layer.position[...]
    assert float(layer.sigma[...]) == pytest.approx(float(F.sigma_schedule(149, 150, 3.0, 0.4)), rel=1e-6) and isinstance(layer.sigma, DelayWidth)


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"delays has shape \(3,\), expected \(2, 3\)"):
        DelayedLinear(3, 2, 4, delays=jnp.zeros(3, jnp.int32), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"delays must be steps in \[0, max_delay - 1\] = \[0, 3\]"):
        AxonalDelay(2, 4, delays=jnp.array([0, 4]))
    with pytest.raises(TypeError, match="delays must be an integer array"):
        AxonalDelay(2, 4, delays=jnp.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="delays=None draws random delays and needs rngs"):
        AxonalDelay(2, 4)
    with pytest.raises(ValueError, match="sigma must be positive.*got -1.0"):
        LearnableDelayedLinear(2, 2, 4, sigma=-1.0, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"weights has shape \(2, 2\), expected \(2, 3\)"):
        DelayedLinear(3, 2, 4, weights=jnp.ones((2, 2)), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="sigma must be positive"):
        set_delay_width(LearnableDelayedLinear(2, 2, 4, rngs=nnx.Rngs(0)), 0.0)


def test_a_constant_input_given_with_steps_runs_as_the_broadcast_sequence():
    net = SequentialState(DelayedLinear(3, 4, 5, rngs=nnx.Rngs(0)), Leaky())
    x = jnp.full((2, 3), 2.0)
    once, state = net(x, steps=7)
    broadcast, _ = net(jnp.broadcast_to(x, (7, 2, 3)))
    np.testing.assert_array_equal(once, broadcast)
    assert state[0].shape == (4, 2, 3) and float(once.sum()) > 0
