import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from spikejax.functional import (
    LSNN_MODEL,
    LSNNFeedForwardState,
    LSNNParameters,
    LSNNState,
    lsnn_feed_forward_step,
    lsnn_step,
    run,
)

# Norse 1.1.0's SuperSpike backward ignores alpha (it is 1 / (|x| + 1)^2): alpha = 1 here.
NORSE_11 = LSNNParameters(alpha=1.0)
jit_run = jax.jit(run, static_argnums=0, static_argnames="record_states")


def _parameters(case, data):
    if not case.endswith("fast_adapt"):
        return NORSE_11
    fields = {k: np.float32(v) for k, v in data["fast_adapt_parameters"].items() if k != "alpha"}
    return LSNNParameters(**fields, alpha=1.0)


def _check_trajectory(ref, states, zs):
    np.testing.assert_array_equal(zs, ref["z"])
    for name in ("v", "i", "b"):
        np.testing.assert_allclose(getattr(states, name), ref[name], rtol=1e-5, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("case", ["feed_forward", "feed_forward_fast_adapt"])
def test_feed_forward_equals_norse(reference, case):
    data = reference("norse_adaptive")["lsnn"]
    ref, p = data[case], _parameters(case, data)
    xs = jnp.asarray(ref["xs"], jnp.float32)

    def loss(xs):
        states, zs = run(lambda x, s: lsnn_feed_forward_step(x, s, p), None, xs, record_states=True)
        return jnp.sum(zs) + jnp.sum(states.v) + jnp.sum(states.b), (states, zs)

    (_, (states, zs)), grad = jax.jit(jax.value_and_grad(loss, has_aux=True))(xs)
    _check_trajectory(ref, states, zs)
    # Norse's feed-forward step lets the gradient flow through the reset and the threshold jump.
    # Through that jump the gradient grows to O(1e5), and float32 rounding with it (Norse's and
    # ours differ from a float64 run by ~1e-4 relative), so the tolerance scales with the
    # largest entry.
    scale = np.abs(ref["grad_xs"]).max()
    np.testing.assert_allclose(grad, ref["grad_xs"], rtol=1e-4, atol=1e-4 * scale)


@pytest.mark.parametrize("case", ["recurrent", "recurrent_fast_adapt"])
def test_recurrent_equals_norse_including_the_detached_reset(reference, case):
    data = reference("norse_adaptive")["lsnn"]
    ref, p = data[case], _parameters(case, data)
    xs, w_in, w_rec = (jnp.asarray(ref[k], jnp.float32) for k in ("xs", "input_weights", "recurrent_weights"))

    def loss(xs, w_in, w_rec, detach_reset=True):
        step = lambda x, s: lsnn_step(x, s, w_in, w_rec, p, detach_reset=detach_reset)
        states, zs = run(step, None, xs, record_states=True)
        return jnp.sum(zs) + jnp.sum(states.v) + jnp.sum(states.b), (states, zs)

    value_and_grad = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True))
    (_, (states, zs)), grads = value_and_grad(xs, w_in, w_rec)
    _check_trajectory(ref, states, zs)
    np.testing.assert_array_equal(states.z, ref["z"])
    for g, name in zip(grads, ["grad_xs", "grad_input_weights", "grad_recurrent_weights"]):
        np.testing.assert_allclose(g, ref[name], rtol=1e-4, atol=1e-4, err_msg=name)
    # Without the detach (Norse's recurrent default) the gradient differs.
    other = jax.jit(jax.grad(lambda w: loss(xs, w, w_rec, detach_reset=False)[0]))(w_in)
    assert not np.allclose(other, grads[1], rtol=1e-3)


def test_input_enters_after_the_integration_step():
    # Norse's LSNN order: an input reaches v one step later than in LIF.
    x = jnp.array([[5.0, 0.5]])
    z, state = lsnn_feed_forward_step(x, None)
    np.testing.assert_array_equal(z, 0.0)
    np.testing.assert_array_equal(state.v, 0.0)
    np.testing.assert_array_equal(state.i, x)
    _, state = lsnn_feed_forward_step(jnp.zeros_like(x), state)
    np.testing.assert_allclose(state.v, 0.1 * x, rtol=1e-6)


def test_rest_state_has_the_threshold_at_v_th():
    p = LSNNParameters(v_th=jnp.array([1.0, 2.0]), v_leak=jnp.array([0.0, -0.5]))
    _, state = lsnn_feed_forward_step(jnp.zeros((3, 2)), None, p)
    # b starts at v_th, as Norse's modules initialise it, and stays there without spikes.
    np.testing.assert_allclose(state.b, np.tile([1.0, 2.0], (3, 1)), rtol=1e-6)
    np.testing.assert_allclose(state.v, np.tile([0.0, -0.5], (3, 1)), rtol=1e-6)
    rest = LSNN_MODEL.recurrent_state((3, 2), p, jnp.float32)
    assert isinstance(rest, LSNNState)
    np.testing.assert_array_equal(rest.b, np.tile([1.0, 2.0], (3, 1)))
    _, rstate = lsnn_step(jnp.zeros((3, 4)), None, jnp.ones((2, 4)), jnp.zeros((2, 2)), p)
    np.testing.assert_allclose(rstate.b, rest.b, rtol=1e-6)


def test_threshold_adaptation_slows_the_spikes_and_relaxes_back():
    p = LSNNParameters(tau_adapt_inv=20.0, spike_increment=0.5)
    xs = jnp.concatenate([jnp.full((150, 1, 1), 0.6), jnp.zeros((250, 1, 1))])
    states, zs = jit_run(lambda x, s: lsnn_feed_forward_step(x, s, p), None, xs, record_states=True)
    intervals = np.diff(np.flatnonzero(np.asarray(zs[:150, 0, 0])))
    assert len(intervals) >= 5 and intervals[-1] > intervals[0]
    b = np.asarray(states.b[:, 0, 0])
    assert b[149] > 1.5  # raised by the spikes
    assert abs(b[-1] - 1.0) < 0.01  # relaxed back to v_th (tau = 50 ms) once the input stops
    # Default parameters (tau_adapt_inv = 1/800 per second): each spike raises b for good.
    states, zs = jit_run(lsnn_feed_forward_step, None, xs[:150], record_states=True)
    n = float(zs.sum())
    assert n >= 2
    np.testing.assert_allclose(states.b[-1, 0, 0], 1.0 + 1.8 * n, rtol=1e-3)


def test_transforms_and_dtypes(model_checks):
    xs = jax.random.uniform(jax.random.key(0), (30, 4, 5)) * 3
    zs = model_checks.transforms(lambda x, s: lsnn_feed_forward_step(x, s), xs)
    assert np.asarray(zs).sum() > 0
    model_checks.dtypes(lambda x, s: lsnn_feed_forward_step(x, s), xs)


def test_validation_errors():
    assert set(LSNNParameters._positive) == {"tau_syn_inv", "tau_mem_inv", "tau_adapt_inv"}
    for name in LSNNParameters._positive:  # every time constant (and delta_T) must be > 0
        with pytest.raises(ValueError, match=rf"LSNNParameters.{name} must be positive, got -2.0"):
            LSNNParameters(**{name: -2.0})
    with pytest.raises(ValueError, match=r"LSNNParameters.tau_adapt_inv must be positive, got -1.0"):
        LSNNParameters(tau_adapt_inv=-1.0)
    with pytest.raises(ValueError, match=r"LSNNParameters.tau_syn_inv must be positive"):
        LSNNParameters(tau_syn_inv=jnp.array([1.0, 0.0]))
    with pytest.raises(ValueError, match=r"method must be one of .*got unknown surrogate 'nope'"):
        LSNNParameters(method="nope")
    with pytest.raises(ValueError, match=r"dt must be positive, got 0.0"):
        lsnn_feed_forward_step(jnp.ones(3), None, dt=0.0)
    state = LSNNFeedForwardState(v=jnp.zeros((2, 3)), i=jnp.zeros((2, 3)), b=jnp.ones((2, 4)))
    with pytest.raises(ValueError, match=r"state.b has shape \(2, 4\), expected \(2, 3\) \(the shape of input_tensor\)"):
        lsnn_feed_forward_step(jnp.ones((2, 3)), state)
    with pytest.raises(ValueError, match=r"recurrent_weights has shape \(4, 3\), expected \(4, 4\)"):
        lsnn_step(jnp.ones((2, 3)), None, jnp.ones((4, 3)), jnp.ones((4, 3)))
    rstate = LSNNState(z=jnp.zeros((2, 5)), v=jnp.zeros((2, 4)), i=jnp.zeros((2, 4)), b=jnp.ones((2, 4)))
    with pytest.raises(ValueError, match=r"state.z has shape \(2, 5\), expected \(2, 4\)"):
        lsnn_step(jnp.ones((2, 3)), rstate, jnp.ones((4, 3)), jnp.ones((4, 4)))
    with pytest.raises(TypeError, match=r"input_tensor must be an array, got tuple"):
        lsnn_feed_forward_step((1.0, 2.0), None)


def test_recurrent_module_equals_the_functional_step():
    from spikejax.nn import LSNNRecurrent

    xs = jax.random.uniform(jax.random.key(2), (12, 2, 3)) * 3
    layer = LSNNRecurrent(3, 4)
    out, state = nnx.jit(lambda module, xs: module(xs))(layer, xs)
    w_in, w_rec = layer.weights()
    ref_state, ref_out = jit_run(lambda x, s: lsnn_step(x, s, w_in, w_rec), None, xs)
    np.testing.assert_array_equal(out, ref_out)
    assert isinstance(state, LSNNState)
    np.testing.assert_array_equal(state.b, ref_state.b)
