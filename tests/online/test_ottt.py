"""OTTT against its own definition: the gradient of the summed loss in which every step's states
are constants and each weight's current differentiates to the presynaptic trace instead of the
presynaptic spikes (the spatial path through the spikes kept)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from spikejax.functional import LIFParameters, li_feed_forward_step, lif_feed_forward_step
from spikejax.online import ottt_gradients

T, B, SIZES = 30, 2, (4, 6, 5, 3)
DECAY = 0.9
P = LIFParameters(v_th=0.3, alpha=5.0)
STEPS = [lambda i, s: lif_feed_forward_step(i, s, P), lambda i, s: lif_feed_forward_step(i, s, P),
         lambda i, s: li_feed_forward_step(i, s)]


def squared_error(y, target):
    return 0.5 * jnp.sum((y - target) ** 2)


def problem(steps=T, seed=0):
    keys = jax.random.split(jax.random.key(seed), 5)
    weights = [jax.random.normal(k, (n_out, n_in)) * 2.0
               for k, n_in, n_out in zip(keys, SIZES[:-1], SIZES[1:])]
    xs = jax.random.bernoulli(keys[3], 0.5, (steps, B, SIZES[0])).astype(jnp.float32)
    targets = jax.random.normal(keys[4], (steps, B, SIZES[-1]))
    return weights, xs, targets


def rest_states(xs):
    return [step(jnp.zeros((xs.shape[1], n)), None)[1] for step, n in zip(STEPS, SIZES[1:])]


def run_forward(weights, xs):
    """Every layer's input spikes at every step (a plain forward pass)."""
    def body(states, x):
        inputs, new, s = [], [], x
        for w, step, state in zip(weights, STEPS, states):
            inputs.append(s)
            s, state = step(s @ w.T, state)
            new.append(state)
        return new, inputs
    return jax.lax.scan(body, rest_states(xs), xs)[1]


def by_definition(weights, xs, targets, decay):
    presynaptic = run_forward(weights, xs)
    steps = xs.shape[0]
    kernel = jnp.tril(decay ** (jnp.arange(steps)[:, None] - jnp.arange(steps)[None, :]))
    traces = [jnp.einsum("ts,sbn->tbn", kernel, s) for s in presynaptic]  # closed form

    def loss_fn(weights):
        def body(states, inputs):
            x, target, step_traces = inputs
            new, s = [], x
            for w, step, state, trace in zip(weights, STEPS, states, step_traces):
                fixed = jax.lax.stop_gradient(w)
                # dI/ds = W (spatial path), dI/dW = the trace; the value is s @ W.T.
                current = s @ fixed.T + trace @ w.T - jax.lax.stop_gradient(trace @ w.T)
                s, state = step(current, state)
                new.append(state)
            return jax.lax.stop_gradient(new), squared_error(s, target)
        return jax.lax.scan(body, rest_states(xs), (xs, targets, traces))[1].sum()

    return jax.grad(loss_fn)(weights)


def bptt(weights, xs, targets):
    def loss_fn(weights):
        def body(states, inputs):
            x, target = inputs
            new, s = [], x
            for w, step, state in zip(weights, STEPS, states):
                s, state = step(s @ w.T, state)
                new.append(state)
            return new, squared_error(s, target)
        return jax.lax.scan(body, rest_states(xs), (xs, targets))[1].sum()
    return jax.grad(loss_fn)(weights)


def relative_error(a, b):
    return float(jnp.linalg.norm(a - b) / jnp.linalg.norm(b))


@pytest.mark.slow
def test_ottt_equals_its_definition_and_differs_from_bptt():
    weights, xs, targets = problem()
    result = ottt_gradients(weights, xs, targets, steps=STEPS, loss_step=squared_error, trace_decay=DECAY)
    expected = by_definition(weights, xs, targets, DECAY)
    full = bptt(weights, xs, targets)
    spikes = run_forward(weights, xs)[1:]
    assert all(0.05 < float(s.mean()) < 0.8 for s in spikes), [float(s.mean()) for s in spikes]
    for layer, (g, e, f) in enumerate(zip(result.grads, expected, full)):
        assert relative_error(g, e) < 1e-5, layer
        assert relative_error(f, e) > 1e-2, layer  # OTTT drops the temporal dependencies
    assert result.outputs.shape == (T, B, SIZES[-1])


@pytest.mark.slow
def test_one_step_is_backpropagation_and_the_trace_decay_matters():
    weights, xs, targets = problem(steps=1)
    one = ottt_gradients(weights, xs, targets, steps=STEPS, loss_step=squared_error, trace_decay=DECAY)
    for g, f in zip(one.grads, bptt(weights, xs, targets)):
        np.testing.assert_allclose(g, f, rtol=1e-5, atol=1e-6)
    weights, xs, targets = problem()
    slow, fast = (ottt_gradients(weights, xs, targets, steps=STEPS, loss_step=squared_error,
                                 trace_decay=decay).grads for decay in (DECAY, 0.0))
    assert relative_error(fast[0], slow[0]) > 0.05


def test_ottt_errors_name_the_argument():
    weights, xs, targets = problem(steps=2)
    with pytest.raises(ValueError, match=r"weights\[1\] has shape \(3, 5\), expected \(out, 6\)"):
        ottt_gradients([weights[0], weights[2]], xs, targets, steps=STEPS[:2], loss_step=squared_error,
                       trace_decay=DECAY)
    with pytest.raises(ValueError, match="weights and steps must be lists of the same positive length"):
        ottt_gradients(weights, xs, targets, steps=STEPS[:2], loss_step=squared_error, trace_decay=DECAY)


@pytest.mark.slow  # CI time (7-11 s on the loaded 2-core machine); run with `pytest -m slow`
def test_ottt_train_step_applies_the_ottt_gradient():
    import optax
    from flax import nnx

    from spikejax.nn import LICell, LIFCell
    from spikejax.online import SpikingStack, make_ottt_train_step

    net = SpikingStack((4, 6, 3), [LIFCell(P), LICell()], rngs=nnx.Rngs(0))
    weights = [w[...] * 2.0 for w in net.weights]
    for param, value in zip(net.weights, weights):
        param[...] = value
    keys = jax.random.split(jax.random.key(1), 2)
    xs = jax.random.bernoulli(keys[0], 0.5, (8, B, 4))
    targets = jax.random.normal(keys[1], (8, B, 3))
    steps = net.steps()
    expected = ottt_gradients(weights, xs, targets, steps=steps, loss_step=squared_error, trace_decay=DECAY)
    assert float(jnp.abs(expected.grads[0]).sum()) > 0
    np.testing.assert_allclose(net(xs), expected.outputs, rtol=1e-6)
    optimizer = nnx.Optimizer(net, optax.sgd(0.1), wrt=nnx.Param)
    step = make_ottt_train_step(squared_error, trace_decay=DECAY, jit=False)
    metrics = step(net, optimizer, {"x": xs, "target": targets})
    np.testing.assert_allclose(metrics["loss"], expected.loss, rtol=1e-6)
    for param, w, g in zip(net.weights, weights, expected.grads):
        np.testing.assert_allclose(param[...], w - 0.1 * g, rtol=1e-5, atol=1e-6)
    with pytest.raises(TypeError, match="cells must be neuron cells of spikejax.nn"):
        SpikingStack((4, 3), [nnx.Linear(4, 3, rngs=nnx.Rngs(0))], rngs=nnx.Rngs(0))
