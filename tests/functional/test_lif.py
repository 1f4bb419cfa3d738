import jax
import jax.numpy as jnp
import numpy as np
import pytest

from spikejax.functional import (
    LIFFeedForwardState,
    LIFParameters,
    LIFState,
    lif_feed_forward_step,
    lif_step,
    run,
)

TRACE = [0.1, 0.27, 0.487, 0.7335, 0.9963, 0.0, 0.3951, 0.7717, 0.0]


def test_feed_forward_trace_from_rest():
    state, vs = None, []
    for _ in range(9):
        _, state = lif_feed_forward_step(jnp.ones(10), state)
        vs.append(state.v)
    np.testing.assert_allclose(np.stack(vs), np.repeat(np.array(TRACE)[:, None], 10, 1), atol=1e-4)


def test_feed_forward_trace_under_jit():
    step = jax.jit(lif_feed_forward_step)
    state = LIFFeedForwardState(v=jnp.zeros(10), i=jnp.zeros(10))
    for expected in TRACE:
        _, state = step(jnp.ones(10), state)
        np.testing.assert_allclose(state.v, expected, atol=1e-4)


def _ff_loss(xs, p):
    states, zs = run(lambda x, s: lif_feed_forward_step(x, s, p), None, xs, record_states=True)
    return jnp.sum(states.v) + jnp.sum(zs), (states, zs)


# Norse 1.1.0's SuperSpike backward ignores alpha: it is 1 / (|x| + 1)^2, our formula with
# alpha = 1. Its gradients are reproduced with that alpha (values do not depend on alpha).
NORSE_11 = LIFParameters(alpha=1.0)


def test_feed_forward_equals_norse(reference):
    ref = reference("norse_lif")["feed_forward"]
    xs = jnp.asarray(ref["xs"], jnp.float32)
    (_, (states, zs)), grad = jax.value_and_grad(_ff_loss, has_aux=True)(xs, NORSE_11)
    np.testing.assert_array_equal(zs, ref["z"])
    np.testing.assert_allclose(states.v, ref["v"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(states.i, ref["i"], rtol=1e-5, atol=1e-5)
    # Norse's feed-forward step lets the gradient flow through the reset: so does ours.
    np.testing.assert_allclose(grad, ref["grad_xs"], rtol=1e-4, atol=1e-5)


def test_recurrent_equals_norse_including_the_detached_reset(reference):
    ref = reference("norse_lif")["recurrent"]
    xs = jnp.asarray(ref["xs"], jnp.float32)
    w_in = jnp.asarray(ref["input_weights"], jnp.float32)
    w_rec = jnp.asarray(ref["recurrent_weights"], jnp.float32)

    def loss(xs, w_in, w_rec, detach_reset=True):
        step = lambda x, s: lif_step(x, s, w_in, w_rec, NORSE_11, detach_reset=detach_reset)
        states, zs = run(step, None, xs, record_states=True)
        return jnp.sum(states.v) + jnp.sum(zs), (states, zs)

    (_, (states, zs)), grads = jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True)(xs, w_in, w_rec)
    np.testing.assert_array_equal(zs, ref["z"])
    np.testing.assert_allclose(states.v, ref["v"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(states.i, ref["i"], rtol=1e-5, atol=1e-5)
    for g, name in zip(grads, ["grad_xs", "grad_input_weights", "grad_recurrent_weights"]):
        np.testing.assert_allclose(g, ref[name], rtol=1e-4, atol=1e-4, err_msg=name)
    # Without the detach the gradient differs: the option really changes the backward pass.
    other = jax.grad(lambda w: loss(xs, w, w_rec, detach_reset=False)[0])(w_in)
    assert not np.allclose(other, grads[1], rtol=1e-3)


def test_norse_recurrent_spike_pattern():
    # Norse's own test_lif_step: input ones(20), linspace weights.
    x = jnp.ones(20)
    state = LIFState(z=jnp.zeros(10), v=jnp.zeros(10), i=jnp.zeros(10))
    w_in = jnp.linspace(0, 0.5, 200).reshape(10, 20)
    w_rec = jnp.linspace(0, -2, 100).reshape(10, 10)
    spikes = []
    for _ in range(10):
        z, state = lif_step(x, state, w_in, w_rec)
        spikes.append(z)
    assert np.asarray(spikes).sum() > 0
    assert np.all(np.isin(np.asarray(spikes), [0.0, 1.0]))


def test_rest_state_uses_v_leak_and_parameters_broadcast():
    p = LIFParameters(v_leak=jnp.array([0.0, 0.5]), v_th=jnp.array([1.0, 2.0]))
    z, state = lif_feed_forward_step(jnp.zeros((3, 2)), None, p)
    np.testing.assert_allclose(state.v, np.tile([0.0, 0.5], (3, 1)))


def test_transforms_and_dtypes(model_checks):
    xs = jax.random.uniform(jax.random.key(0), (30, 4, 5)) * 3
    zs = model_checks.transforms(lambda x, s: lif_feed_forward_step(x, s), xs)
    assert np.asarray(zs).sum() > 0
    model_checks.dtypes(lambda x, s: lif_feed_forward_step(x, s), xs)


def test_validation_errors():
    with pytest.raises(ValueError, match=r"LIFParameters.tau_mem_inv must be positive, got -1.0"):
        LIFParameters(tau_mem_inv=-1.0)
    with pytest.raises(ValueError, match=r"LIFParameters.tau_syn_inv must be positive"):
        LIFParameters(tau_syn_inv=jnp.array([1.0, 0.0]))
    with pytest.raises(ValueError, match=r"method must be one of .*got unknown surrogate 'nope'"):
        LIFParameters(method="nope")
    with pytest.raises(ValueError, match=r"dt must be positive, got 0.0"):
        lif_feed_forward_step(jnp.ones(3), None, dt=0.0)
    state = LIFFeedForwardState(v=jnp.zeros((2, 4)), i=jnp.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"state.v has shape \(2, 4\), expected \(2, 3\) \(the shape of input_tensor\)"):
        lif_feed_forward_step(jnp.ones((2, 3)), state)
    with pytest.raises(ValueError, match=r"input_tensor has shape \(2, 5\), expected last axis 3"):
        lif_step(jnp.ones((2, 5)), None, jnp.ones((4, 3)), jnp.ones((4, 4)))
    with pytest.raises(ValueError, match=r"recurrent_weights has shape \(4, 3\), expected \(4, 4\)"):
        lif_step(jnp.ones((2, 3)), None, jnp.ones((4, 3)), jnp.ones((4, 3)))
    with pytest.raises(TypeError, match=r"input_tensor must be an array, got list"):
        lif_feed_forward_step([1.0, 2.0], None)


def test_validation_costs_nothing_under_jit():
    # A traced parameter is not checked (its value is unknown) and the step still compiles.
    f = jax.jit(lambda tau: lif_feed_forward_step(jnp.ones(3), None, LIFParameters(tau_mem_inv=tau))[1].v)
    np.testing.assert_allclose(f(100.0), 0.1, rtol=1e-6)
