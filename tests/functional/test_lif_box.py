import jax
import jax.numpy as jnp
import numpy as np
import pytest

from spikejax.functional import (
    LIF_BOX_MODEL,
    LIFBoxFeedForwardState,
    LIFBoxParameters,
    LIFBoxState,
    lif_box_feed_forward_step,
    lif_box_step,
    run,
)
from spikejax.nn import LIFBox, LIFBoxRecurrent

# Norse 1.1.0's SuperSpike backward ignores alpha (it is ours with alpha = 1).
NORSE_11 = LIFBoxParameters(alpha=1.0)


def test_norse_feed_forward_trace():
    # Norse's own test_lif_box: starts at v = 10 (so it spikes at once), input 1 then 0.
    state = LIFBoxFeedForwardState(v=jnp.asarray(10.0))
    expected = [0.0, 0.1, 0.19, 0.271, 0.3439, 0.3095, 0.2786]
    for x, v in zip([1, 1, 1, 1, 1, 0, 0], expected):
        _, state = lif_box_feed_forward_step(jnp.asarray(float(x)), state)
        np.testing.assert_allclose(state.v, v, atol=1e-4)


def _ff_loss(xs, p, detach_reset=False):
    step = lambda x, s: lif_box_feed_forward_step(x, s, p, detach_reset=detach_reset)
    states, zs = run(step, None, xs, record_states=True)
    return jnp.sum(states.v) + jnp.sum(zs), (states, zs)


@pytest.mark.parametrize("case,reset", [("feed_forward", "value"), ("subtract", "subtract")])
def test_feed_forward_equals_norse(reference, case, reset):
    ref = reference("norse_lif_family")["lif_box"][case]
    xs = jnp.asarray(ref["xs"], jnp.float32)
    p = NORSE_11.replace(reset_mechanism=reset)
    (_, (states, zs)), grad = jax.value_and_grad(_ff_loss, has_aux=True)(xs, p)
    assert ref["out"].sum() > 5
    np.testing.assert_array_equal(zs, ref["out"])
    np.testing.assert_allclose(states.v, ref["v"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(grad, ref["grad_xs"], rtol=1e-4, atol=1e-5)
    detached = jax.grad(lambda x: _ff_loss(x, p, detach_reset=True)[0])(xs)
    assert not np.allclose(detached, grad, rtol=1e-3)


def test_subtract_reset_keeps_the_excess():
    p = LIFBoxParameters(reset_mechanism="subtract", tau_mem_inv=1000.0)  # dt * tau = 1: v = input
    z, state = lif_box_feed_forward_step(jnp.array([1.5, 0.5]), None, p)
    np.testing.assert_array_equal(z, [1.0, 0.0])
    np.testing.assert_allclose(state.v, [0.5, 0.5], rtol=1e-6)
    custom = p.replace(reset_mechanism=lambda z, v, v_reset, v_th: v - 2 * z)
    _, state = lif_box_feed_forward_step(jnp.array([1.5, 0.5]), None, custom)
    np.testing.assert_allclose(state.v, [-0.5, 0.5], rtol=1e-6)


def test_recurrent_equals_norse_equations_with_detached_reset(reference):
    ref = reference("norse_lif_family")["lif_box"]["recurrent"]
    xs = jnp.asarray(ref["xs"], jnp.float32)
    w_in = jnp.asarray(ref["input_weights"], jnp.float32)
    w_rec = jnp.asarray(ref["recurrent_weights"], jnp.float32)

    def loss(xs, w_in, w_rec):
        step = lambda x, s: lif_box_step(x, s, w_in, w_rec, NORSE_11)
        states, zs = run(step, None, xs, record_states=True)
        return jnp.sum(states.v) + jnp.sum(zs), (states, zs)

    (_, (states, zs)), grads = jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True)(xs, w_in, w_rec)
    assert ref["out"].sum() > 5
    np.testing.assert_array_equal(zs, ref["out"])
    np.testing.assert_array_equal(states.z, ref["z"])
    np.testing.assert_allclose(states.v, ref["v"], rtol=1e-5, atol=1e-5)
    for g, name in zip(grads, ["grad_xs", "grad_input_weights", "grad_recurrent_weights"]):
        np.testing.assert_allclose(g, ref[name], rtol=1e-4, atol=1e-4, err_msg=name)


def test_recurrent_layer_module_matches_functional():
    layer = LIFBoxRecurrent(3, 4)
    xs = jax.random.uniform(jax.random.key(1), (8, 2, 3)) * 4
    zs, final = layer(xs)
    w_in, w_rec = layer.weights()
    state, outs = None, []
    for x in xs:
        z, state = lif_box_step(x, state, w_in, w_rec)
        outs.append(z)
    np.testing.assert_array_equal(zs, np.stack(outs))
    assert isinstance(final, LIFBoxState) and final.v.shape == (2, 4)
    assert np.asarray(zs).sum() > 0


def test_sequence_module_and_rest_state():
    p = LIFBoxParameters(v_leak=jnp.array([0.0, 0.5]))
    _, state = lif_box_feed_forward_step(jnp.zeros((3, 2)), None, p)
    np.testing.assert_allclose(state.v, np.tile([0.0, 0.5], (3, 1)))
    zs, final = LIFBox(p)(jnp.zeros((5, 3, 2)))
    assert np.asarray(zs).sum() == 0
    np.testing.assert_allclose(final.v, np.tile([0.0, 0.5], (3, 1)), rtol=1e-6)


def test_transforms_and_dtypes(model_checks):
    xs = jax.random.uniform(jax.random.key(0), (20, 3, 4)) * 2 * LIF_BOX_MODEL.example_drive
    zs = model_checks.transforms(lambda x, s: lif_box_feed_forward_step(x, s), xs)
    assert np.asarray(zs).sum() > 0
    model_checks.dtypes(lambda x, s: lif_box_feed_forward_step(x, s), xs)


def test_validation_errors():
    with pytest.raises(ValueError, match=r"LIFBoxParameters.tau_mem_inv must be positive, got 0.0"):
        LIFBoxParameters(tau_mem_inv=0.0)
    with pytest.raises(ValueError, match=r"reset_mechanism must be one of \['subtract', 'value'\].*got unknown reset 'zero'"):
        LIFBoxParameters(reset_mechanism="zero")
    with pytest.raises(TypeError, match=r"reset_mechanism must be a reset name or a callable .* got int"):
        LIFBoxParameters(reset_mechanism=3)
    with pytest.raises(ValueError, match=r"method must be one of .*got unknown surrogate 'nope'"):
        LIFBoxParameters(method="nope")
    with pytest.raises(ValueError, match=r"dt must be positive, got -0.001"):
        lif_box_feed_forward_step(jnp.ones(3), None, dt=-1e-3)
    state = LIFBoxFeedForwardState(v=jnp.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"state.v has shape \(2, 4\), expected \(2, 3\) \(the shape of input_tensor\)"):
        lif_box_feed_forward_step(jnp.ones((2, 3)), state)
    with pytest.raises(TypeError, match=r"input_tensor must be an array, got list"):
        lif_box_feed_forward_step([1.0], None)
    with pytest.raises(ValueError, match=r"input_tensor has shape \(2, 5\), expected last axis 3"):
        lif_box_step(jnp.ones((2, 5)), None, jnp.ones((4, 3)), jnp.ones((4, 4)))
    with pytest.raises(ValueError, match=r"input_weights must have rank 2 with layout \(hidden, input\), got shape \(3,\)"):
        lif_box_step(jnp.ones((2, 3)), None, jnp.ones(3), jnp.ones((4, 4)))
    bad = LIFBoxState(z=jnp.zeros((2, 5)), v=jnp.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"state.z has shape \(2, 5\), expected \(2, 4\)"):
        lif_box_step(jnp.ones((2, 3)), bad, jnp.ones((4, 3)), jnp.ones((4, 4)))
