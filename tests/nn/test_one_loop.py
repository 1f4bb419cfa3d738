"""SequentialState in one time loop (``steps=``, ``loop="one"``) against the layer-by-layer run."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from spikejax.functional import LeakyParameters, LIFParameters
from spikejax.nn import (
    LIF,
    Leaky,
    LIFCell,
    LIFRecurrent,
    Lift,
    SequentialState,
    StatefulModule,
)

T, B = 7, 3


def tutorial(rngs, *, record=True, **kwargs):
    p = LeakyParameters(beta=0.95)
    return SequentialState(
        Lift(nnx.Linear(12, 16, rngs=rngs)),
        Leaky(p),
        Lift(nnx.Linear(16, 5, rngs=rngs)),
        Leaky(p, record_states=record),
        **kwargs,
    )


def image(seed=0, shape=(B, 12), scale=3.0):
    return jnp.asarray(np.random.default_rng(seed).uniform(0, scale, shape), jnp.float32)


def broadcast(x, steps=T):
    return jnp.broadcast_to(x, (steps,) + x.shape)


def assert_trees_close(a, b, rtol=1e-6, atol=1e-6):
    la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    assert len(la) == len(lb) and la
    for x, y in zip(la, lb):
        assert x.shape == y.shape
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


def test_steps_equal_the_layer_by_layer_run_on_the_broadcast_input():
    net = tutorial(nnx.Rngs(0))
    x = image()
    spikes, state = net(x, steps=T)
    expected, expected_state = net(broadcast(x))
    assert 0 < float(spikes.sum()) < spikes.size  # some, not all, output neurons fire
    np.testing.assert_array_equal(spikes, expected)
    assert state[0] is None and state[2] is None
    assert state[3].mem.shape == (T, B, 5)  # recorded: every step's state
    assert_trees_close(state, expected_state)


def test_steps_compute_the_stateless_prefix_once_in_one_scan():
    net = tutorial(nnx.Rngs(0))
    jaxpr = str(jax.make_jaxpr(lambda x: net(x, steps=T)[0])(image()))
    assert jaxpr.count("scan[") == 1
    # The first Linear sees one step (B, 12), not T * B rows.
    assert f"f32[{B},16] = dot_general" in jaxpr
    assert f"f32[{T * B},16]" not in jaxpr


def test_gradients_equal_those_of_the_layer_by_layer_run():
    net = tutorial(nnx.Rngs(1))
    x = image(1)

    def loss(net, xs, steps):
        out, state = net(xs, steps=steps) if steps else net(xs)
        return jnp.sum(state[-1].mem ** 2) + jnp.sum(out)

    grads = nnx.grad(loss)(net, x, T)
    expected = nnx.grad(loss)(net, broadcast(x), None)
    assert_trees_close(nnx.to_pure_dict(grads), nnx.to_pure_dict(expected), rtol=1e-5, atol=1e-5)
    assert float(jnp.abs(grads["layers"][0]["module"]["kernel"][...]).sum()) > 0


def test_a_given_state_and_return_hidden_continue_as_layer_by_layer():
    net = tutorial(nnx.Rngs(2), record=False, return_hidden=True)
    x = image(2)
    _, state = net(x, steps=3)
    hidden, final = net(x, state, steps=T)
    expected_hidden, expected_final = net(broadcast(x), state)
    assert [h.shape for h in hidden] == [(T, B, 16), (T, B, 16), (T, B, 5), (T, B, 5)]
    assert_trees_close(hidden, expected_hidden)
    assert_trees_close(final, expected_final)


def test_loop_one_on_a_sequence_with_a_recurrent_layer_equals_layer_by_layer():
    rngs = nnx.Rngs(3)
    layers = lambda: (Lift(nnx.Linear(4, 6, rngs=rngs)), LIFRecurrent(6, 6, rngs=rngs),
                      Lift(nnx.Linear(6, 2, rngs=rngs)), LIF(LIFParameters(v_th=0.3)))
    per_layer = SequentialState(*layers())
    one = SequentialState(*per_layer.layers, loop="one", unroll=3)
    xs = image(3, (T, B, 4), 40.0)
    out, state = one(xs)
    expected, expected_state = per_layer(xs)
    assert float(expected.sum()) > 0
    np.testing.assert_array_equal(out, expected)
    assert_trees_close(state, expected_state, rtol=1e-5, atol=1e-5)
    assert str(jax.make_jaxpr(lambda x: one(x)[0])(xs)).count("scan[") == 1


def test_a_cell_stack_with_steps_runs_its_step_steps_times():
    rngs = nnx.Rngs(4)
    stack = SequentialState(nnx.Linear(12, 6, rngs=rngs), LIFCell(), nnx.Linear(6, 3, rngs=rngs), LIFCell())
    x = image(4, scale=30.0)
    out, state = stack(x, steps=T)
    expected, expected_state = Lift(stack)(broadcast(x))
    assert out.shape == (T, B, 3) and float(out.sum()) > 0
    np.testing.assert_array_equal(out, expected)
    assert_trees_close(state, expected_state)
    layers = SequentialState(*stack.layers, loop="layers")
    out_layers, state_layers = layers(x, steps=T)
    np.testing.assert_array_equal(out_layers, expected)
    assert_trees_close(state_layers, expected_state)


class Accumulator(StatefulModule):
    """A user's cell that builds its own state from ``None`` (no rest state to ask for)."""

    def __call__(self, x, state=None):
        total = x if state is None else state + x
        return total, total


def test_a_user_cell_without_a_rest_state_runs_in_the_loop():
    net = SequentialState(Lift(nnx.Linear(12, 4, rngs=nnx.Rngs(5))), Lift(Accumulator()), Leaky())
    x = image(5)
    out, state = net(x, steps=T)
    expected, expected_state = net(broadcast(x))
    np.testing.assert_array_equal(out, expected)
    assert_trees_close(state, expected_state)
    np.testing.assert_allclose(state[1], T * net[0].module(x), rtol=1e-5)


def test_a_kernel_layer_runs_layer_by_layer_with_the_same_numbers():
    rngs = nnx.Rngs(6)
    net = SequentialState(Lift(nnx.Linear(12, 8, rngs=rngs)), LIF(implementation="pallas"))
    x = image(6, scale=60.0)
    out, state = net(x, steps=T)
    expected, _ = SequentialState(net[0], LIF(implementation="scan"))(broadcast(x))
    assert float(out.sum()) > 0
    np.testing.assert_array_equal(out, expected)
    with pytest.raises(ValueError, match=r"loop='one' .*layers\[1\] \(LIF\) runs as a kernel"):
        SequentialState(*net.layers, loop="one")(broadcast(x))


def test_bad_arguments_name_what_they_got():
    net = tutorial(nnx.Rngs(7))
    for steps in (0, -2, 2.5, True):
        with pytest.raises(ValueError, match=rf"steps must be a positive int .*got {steps!r}"):
            net(image(), steps=steps)
    with pytest.raises(ValueError, match=r"loop must be one of .*got 'fused'"):
        SequentialState(LIFCell(), loop="fused")
    with pytest.raises(ValueError, match=r"unroll must be None, a bool or a positive int, got 0"):
        SequentialState(LIFCell(), unroll=0)
    mismatched = SequentialState(Lift(nnx.Linear(12, 9, rngs=nnx.Rngs(0))), Leaky(),
                                 Lift(nnx.Linear(16, 2, rngs=nnx.Rngs(0))))
    with pytest.raises(ValueError, match=r"layers\[2\] \(Lift\) expects inputs of shape \(\.\.\., 16\)"):
        mismatched(image(), steps=T)


def test_bfloat16_neurons_keep_their_dtype_in_the_loop():
    rngs = nnx.Rngs(8)
    net = SequentialState(Lift(nnx.Linear(12, 6, rngs=rngs)), Leaky(dtype=jnp.bfloat16),
                          Lift(nnx.Linear(6, 2, rngs=rngs)), Leaky(dtype=jnp.bfloat16))
    x = image(8)
    out, state = net(x, steps=T)
    expected, expected_state = net(broadcast(x))
    assert out.dtype == jnp.bfloat16 and state[1].mem.dtype == jnp.bfloat16
    np.testing.assert_array_equal(np.asarray(out, np.float32), np.asarray(expected, np.float32))
    assert_trees_close(jax.tree_util.tree_map(lambda a: a.astype(jnp.float32), state),
                       jax.tree_util.tree_map(lambda a: a.astype(jnp.float32), expected_state))


class Counter(Accumulator):
    """The same cell, saying its rest state: the whole loop then stays one scan."""

    def initial_state(self, x):
        return jnp.zeros(x.shape, x.dtype)


def test_a_user_cell_with_initial_state_keeps_every_step_in_the_scan():
    for cell, scans_with_first_step_outside in ((Accumulator(), True), (Counter(), False)):
        net = SequentialState(Lift(nnx.Linear(12, 4, rngs=nnx.Rngs(5))), Lift(cell), Leaky())
        x = image(5)
        out, state = net(x, steps=T)
        np.testing.assert_allclose(state[1], T * net[0].module(x), rtol=1e-5)
        jaxpr = str(jax.make_jaxpr(lambda x: net(x, steps=T)[0])(x))
        assert ("concatenate" in jaxpr) == scans_with_first_step_outside
