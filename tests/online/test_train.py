"""The online train steps: their updates are the functional gradients applied by the optimizer
(per sequence or per window), truncated BPTT through a whole sequence is BPTT, and fit with
checkpoints runs them."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from spikejax import train
from spikejax.nn import LIFRecurrent, LSNNRecurrent
from spikejax.online import (RecurrentReadout, eprop_gradients, make_eprop_train_step,
                             make_tbptt_train_step, truncated_bptt)

T, B, I, H, K = 12, 2, 3, 4, 2
LR = 0.1


def squared_error(y, target):
    return 0.5 * jnp.sum((y - target) ** 2)


def setup(feedback="symmetric", layer=LSNNRecurrent):
    net = RecurrentReadout(layer(I, H, detach_reset=False, rngs=nnx.Rngs(1)), K, feedback=feedback,
                           rngs=nnx.Rngs(2))
    net.recurrent.input_weights[...] = net.recurrent.input_weights[...] * 4.0
    keys = jax.random.split(jax.random.key(0), 2)
    xs = jax.random.bernoulli(keys[0], 0.5, (T, B, I)).astype(jnp.float32)
    targets = jax.random.normal(keys[1], (T, B, K))
    return net, nnx.Optimizer(net, optax.sgd(LR), wrt=nnx.Param), xs, targets


def functional_gradients(net, xs, targets, state=None):
    step, p, dt = net.step_function()
    feedback = None if net.feedback is None else net.feedback[...]
    return eprop_gradients(net.arrays(), xs, targets, step=step, p=p, dt=dt, loss_step=squared_error,
                           readout_step=net.readout_step(), feedback=feedback, state=state)


def sgd(params, grads):
    return {k: params[k] - LR * grads[k] for k in params}


def assert_params(net, expected):
    actual = net.arrays()
    for key in expected:
        np.testing.assert_allclose(actual[key], expected[key], rtol=1e-5, atol=1e-6, err_msg=key)


@pytest.mark.slow  # CI time (13 s on the loaded 2-core machine); the exactness tests stay in the default run
@pytest.mark.parametrize("feedback", ["symmetric", "random"])
def test_eprop_step_applies_the_sequence_gradient(feedback):
    net, optimizer, xs, targets = setup(feedback)
    result = functional_gradients(net, xs, targets)
    expected = sgd(net.arrays(), result.grads)
    expected["recurrent_weights"] = expected["recurrent_weights"] * (1 - jnp.eye(H))  # no autapses
    assert float(jnp.abs(result.grads["recurrent_weights"]).sum()) > 0
    metrics = make_eprop_train_step(squared_error, jit=False)(net, optimizer, (xs, targets))
    np.testing.assert_allclose(metrics["loss"], result.loss, rtol=1e-6)
    assert_params(net, expected)
    assert np.all(np.diag(net.recurrent.weights()[1]) == 0), "no autapses: the diagonal stays zero"


@pytest.mark.slow
def test_eprop_updates_every_window_continue_the_traces():
    net, optimizer, xs, targets = setup()
    window = T // 3
    reference, _, _, _ = setup()
    state = None
    for k in range(3):
        part = slice(k * window, (k + 1) * window)
        result = functional_gradients(reference, xs[part], targets[part], state)
        new = sgd(reference.arrays(), result.grads)
        new["recurrent_weights"] = new["recurrent_weights"] * (1 - jnp.eye(H))
        reference.recurrent.input_weights[...] = new["input_weights"]
        reference.recurrent.recurrent_weights[...] = new["recurrent_weights"]
        reference.readout_weights[...] = new["readout_weights"]
        reference.readout_bias[...] = new["readout_bias"]
        state = result.state
    make_eprop_train_step(squared_error, update_every=window)(net, optimizer, {"x": xs, "target": targets})
    assert int(optimizer.step[...]) == 3
    assert_params(net, reference.arrays())


@pytest.mark.slow
def test_tbptt_through_the_whole_sequence_is_bptt():
    net, optimizer, xs, targets = setup(layer=LIFRecurrent)

    def loss_fn(net):
        ys, _ = net(xs)
        return jax.vmap(squared_error)(ys, targets).sum()

    grads = nnx.grad(loss_fn)(net)
    before = nnx.state(net, nnx.Param)
    expected = jax.tree_util.tree_map(lambda p, g: p - LR * g, before, nnx.state(grads, nnx.Param))
    make_tbptt_train_step(squared_error, window=T)(net, optimizer, (xs, targets))
    for (path, a), (_, b) in zip(jax.tree_util.tree_leaves_with_path(nnx.state(net, nnx.Param)),
                                 jax.tree_util.tree_leaves_with_path(expected)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=jax.tree_util.keystr(path))


def test_truncated_bptt_stops_the_gradient_at_window_starts():
    # h_t = a h_{t-1} + w x_t, loss = sum_t h_t: within a window of n steps from a stopped carry,
    # d h_t / d w = sum_{s <= t in the window} a^(t - s) x_s.
    a, xs = 0.5, jnp.arange(1.0, 7.0)

    def window_loss(w, h, xs, targets):
        def body(h, x):
            h = a * h + w * x
            return h, h
        h, hs = jax.lax.scan(body, h, xs)
        return jnp.sum(hs), (h, hs)

    loss, grad, h, hs = truncated_bptt(window_loss, 2.0, 0.0, xs, jnp.zeros(6), window=3)
    expected = sum(a ** (t - s) * xs[s] for start in (0, 3) for t in range(start, start + 3)
                   for s in range(start, t + 1))
    np.testing.assert_allclose(grad, expected, rtol=1e-6)
    full = jax.grad(lambda w: window_loss(w, 0.0, xs, None)[0])(2.0)
    assert abs(float(full) - expected) > 1.0
    np.testing.assert_allclose(hs, window_loss(2.0, 0.0, xs, None)[1][1], rtol=1e-6)
    with pytest.raises(ValueError, match="window must be a positive int that divides the sequence length 6, got 4"):
        truncated_bptt(window_loss, 2.0, 0.0, xs, jnp.zeros(6), window=4)


@pytest.mark.slow
def test_fit_trains_and_checkpoints_with_eprop(tmp_path):
    net, _, xs, targets = setup()
    optimizer = nnx.Optimizer(net, optax.adam(2e-2), wrt=nnx.Param)
    step = make_eprop_train_step(squared_error)
    before = float(step(net, optimizer, (xs, targets))["loss"])
    checkpointer = train.Checkpointer(tmp_path / "ckpt")
    history = train.fit(net, optimizer, step, lambda epoch: [(xs, targets)] * 10, epochs=2,
                        checkpointer=checkpointer, progress=False, log=None)
    checkpointer.close()
    assert history[-1]["train"]["loss"] < before
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir() if p.name.isdigit()) == ["1", "2"]


def test_errors_name_the_argument():
    net, optimizer, xs, targets = setup()
    with pytest.raises(ValueError, match="update_every must be a positive int that divides the sequence length 12, got 5"):
        make_eprop_train_step(squared_error, update_every=5, jit=False)(net, optimizer, (xs, targets))
    with pytest.raises(ValueError, match="feedback must be 'symmetric' or 'random', got 'x'"):
        RecurrentReadout(LIFRecurrent(I, H), K, feedback="x", rngs=nnx.Rngs(0))
    with pytest.raises(TypeError, match="recurrent must be a recurrent layer"):
        RecurrentReadout(nnx.Linear(I, H, rngs=nnx.Rngs(0)), K, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"xs has shape \(12, 3\), expected \(T, B, 3\)"):
        functional_gradients(net, xs[:, 0], targets)
