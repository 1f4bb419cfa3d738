import jax
import jax.numpy as jnp
import numpy as np
import pytest

from spikejax.functional import (
    COBA_LIF_MODEL,
    CobaLIFFeedForwardState,
    CobaLIFParameters,
    CobaLIFState,
    coba_lif_feed_forward_step,
    coba_lif_state,
    coba_lif_step,
    run,
)
from spikejax.functional.coba_lif import default_bio_parameters, default_bio_state

# Norse 1.1.0's SuperSpike backward ignores alpha: it is 1 / (|x| + 1)^2, our formula with
# alpha = 1. Its gradients are reproduced with that alpha (values do not depend on alpha).
NORSE_11 = CobaLIFParameters(alpha=1.0)


def _check_fields(states, zs, ref, fields=("v", "g_e", "g_i")):
    np.testing.assert_array_equal(zs, ref["z"])
    for name in fields:
        np.testing.assert_allclose(getattr(states, name), ref[name], rtol=1e-5, atol=1e-4, err_msg=name)


def test_feed_forward_equals_norse(reference):
    ref = reference("norse_coba_izhikevich")["coba_feed_forward"]
    xs = jnp.asarray(ref["xs"], jnp.float32)

    def loss(xs):
        states, zs = run(lambda x, s: coba_lif_feed_forward_step(x, s, NORSE_11), None, xs, record_states=True)
        return jnp.sum(states.v) + jnp.sum(zs), (states, zs)

    (_, (states, zs)), grad = jax.value_and_grad(loss, has_aux=True)(xs)
    assert 0 < zs.sum() < zs.size
    _check_fields(states, zs, ref)
    np.testing.assert_allclose(grad, ref["grad_xs"], rtol=1e-4, atol=1e-3 * np.abs(ref["grad_xs"]).max())


def _recurrent_loss(xs, w_in, w_rec, detach_reset=False):
    step = lambda x, s: coba_lif_step(x, s, w_in, w_rec, NORSE_11, detach_reset=detach_reset)
    states, zs = run(step, None, xs, record_states=True)
    return jnp.sum(states.v) + jnp.sum(zs), (states, zs)


def test_recurrent_equals_norse_with_input_and_recurrent_jumps(reference):
    # Norse's own coba_lif_step, fed the input as extra recurrent spikes (see the generator).
    ref = reference("norse_coba_izhikevich")["coba_recurrent"]
    args = [jnp.asarray(ref[k], jnp.float32) for k in ("xs", "input_weights", "recurrent_weights")]
    (_, (states, zs)), grads = jax.value_and_grad(_recurrent_loss, argnums=(0, 1, 2), has_aux=True)(*args)
    assert zs.sum() > 0
    _check_fields(states, zs, ref)
    for g, name in zip(grads, ["grad_xs", "grad_input_weights", "grad_recurrent_weights"]):
        scale = np.abs(ref[name]).max()
        np.testing.assert_allclose(g, ref[name], rtol=1e-4, atol=1e-4 * scale, err_msg=name)
    # detach_reset changes the backward pass only.
    (_, (_, zs_detached)), other = jax.value_and_grad(
        lambda w: _recurrent_loss(args[0], w, args[2], detach_reset=True), has_aux=True
    )(args[1])
    np.testing.assert_array_equal(zs_detached, zs)
    assert not np.allclose(other, grads[1], rtol=1e-3)


def test_norse_110_recurrent_step_drops_its_input(reference):
    # Norse 1.1.0 overwrites the input jump with the recurrent one: its trajectory is ours
    # without input weights, whatever its input weights are.
    ref = reference("norse_coba_izhikevich")["coba_recurrent_as_is"]
    xs = jnp.asarray(ref["xs"], jnp.float32)
    w_rec = jnp.asarray(ref["recurrent_weights"], jnp.float32)
    w_in = jnp.zeros_like(jnp.asarray(ref["input_weights"], jnp.float32))
    zeros = jnp.zeros_like(w_rec[:2])
    g_e0 = jnp.asarray(ref["g_e0"], jnp.float32)
    state = CobaLIFState(z=zeros, v=jnp.full_like(zeros, -20.0), g_e=g_e0, g_i=zeros)
    states, zs = run(lambda x, s: coba_lif_step(x, s, w_in, w_rec), state, xs, record_states=True)
    assert zs.sum() > 0
    _check_fields(states, zs, ref)


def test_recurrent_step_splits_weights_by_sign():
    x = jnp.array([[1.0, 1.0]])
    w_in = jnp.array([[0.5, -2.0]])
    w_rec = jnp.array([[3.0]])
    state = CobaLIFState(z=jnp.ones((1, 1)), v=jnp.full((1, 1), -20.0), g_e=jnp.zeros((1, 1)), g_i=jnp.zeros((1, 1)))
    _, new = coba_lif_step(x, state, w_in, w_rec)
    decay = 1 - 1e-3 * 0.2
    np.testing.assert_allclose(new.g_e, [[(0.5 + 3.0) * decay]], rtol=1e-6)
    np.testing.assert_allclose(new.g_i, [[2.0 * decay]], rtol=1e-6)


def test_conductances_pull_towards_their_reversal_potentials():
    p = CobaLIFParameters(v_th=1e3)  # never spike: watch v settle
    xs = jnp.zeros((3000, 2))
    state = CobaLIFFeedForwardState(v=jnp.full(2, -20.0), g_e=jnp.array([50.0, 0.0]), g_i=jnp.array([0.0, 50.0]))
    final, _ = run(lambda x, s: coba_lif_feed_forward_step(x, s, p), state, xs)
    # With g >> g_l, v approaches the reversal potential (60 excitatory, -100 inhibitory).
    np.testing.assert_allclose(final.v, [60.0 - 0.3, -100.0 + 0.4], atol=0.5)


def test_rest_state_is_v_rest_and_stays_there():
    p = CobaLIFParameters(v_rest=jnp.array([-20.0, -30.0]))
    final, zs = run(lambda x, s: coba_lif_feed_forward_step(x, s, p), None, jnp.zeros((50, 3, 2)))
    np.testing.assert_allclose(final.v, np.tile([-20.0, -30.0], (3, 1)))
    assert zs.sum() == 0
    state = coba_lif_state((3, 4))
    assert state.z.shape == (3, 4) and float(state.v[0, 0]) == -20.0


def test_norse_bio_parameters_and_scalar_state():
    assert float(default_bio_parameters.v_rest) == -65.0 and float(default_bio_parameters.e_rev_E) == 0.0
    x = jnp.ones((2, 3))
    z, state = coba_lif_step(x, default_bio_state, jnp.full((4, 3), 2.0), jnp.zeros((4, 4)), default_bio_parameters)
    assert z.shape == (2, 4) and state.v.shape == (2, 4)
    np.testing.assert_allclose(state.g_e, 6.0 * (1 - 1e-3 / 0.3), rtol=1e-6)


def test_transforms_and_dtypes(model_checks):
    xs = jax.random.uniform(jax.random.key(0), (30, 4, 5), minval=-0.5, maxval=2 * COBA_LIF_MODEL.example_drive)
    step = lambda x, s: coba_lif_feed_forward_step(x, s)
    zs = model_checks.transforms(step, xs)
    assert np.asarray(zs).sum() > 0
    model_checks.dtypes(step, xs)


def test_validation_errors():
    with pytest.raises(ValueError, match=r"CobaLIFParameters.c_m_inv must be positive, got -1.0"):
        CobaLIFParameters(c_m_inv=-1.0)
    with pytest.raises(ValueError, match=r"CobaLIFParameters.tau_syn_exc_inv must be positive"):
        CobaLIFParameters(tau_syn_exc_inv=jnp.array([1.0, 0.0]))
    with pytest.raises(ValueError, match=r"CobaLIFParameters.tau_syn_inh_inv must be positive, got 0.0"):
        CobaLIFParameters(tau_syn_inh_inv=0.0)
    with pytest.raises(ValueError, match=r"CobaLIFParameters.g_l must be non-negative, got -0.5"):
        CobaLIFParameters(g_l=-0.5)
    with pytest.raises(ValueError, match=r"method must be one of .*got unknown surrogate 'nope'"):
        CobaLIFParameters(method="nope")
    with pytest.raises(ValueError, match=r"dt must be positive, got 0.0"):
        coba_lif_feed_forward_step(jnp.ones(3), None, dt=0.0)
    state = CobaLIFFeedForwardState(v=jnp.zeros((2, 4)), g_e=jnp.zeros((2, 4)), g_i=jnp.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"state.v has shape \(2, 4\), expected \(2, 3\) \(the shape of input_tensor\)"):
        coba_lif_feed_forward_step(jnp.ones((2, 3)), state)
    with pytest.raises(TypeError, match=r"input_tensor must be an array, got list"):
        coba_lif_feed_forward_step([1.0, 2.0], None)
    with pytest.raises(ValueError, match=r"input_weights must have rank 2 with layout \(hidden, input\), got shape \(3,\)"):
        coba_lif_step(jnp.ones((2, 3)), None, jnp.ones(3), jnp.ones((4, 4)))
    with pytest.raises(ValueError, match=r"input_tensor has shape \(2, 5\), expected last axis 3"):
        coba_lif_step(jnp.ones((2, 5)), None, jnp.ones((4, 3)), jnp.ones((4, 4)))
    with pytest.raises(ValueError, match=r"recurrent_weights has shape \(4, 3\), expected \(4, 4\)"):
        coba_lif_step(jnp.ones((2, 3)), None, jnp.ones((4, 3)), jnp.ones((4, 3)))
    bad = CobaLIFState(z=jnp.zeros((2, 4)), v=jnp.zeros((2, 5)), g_e=jnp.zeros((2, 4)), g_i=jnp.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"state.v has shape \(2, 5\), expected \(2, 4\) \(the shape of the recurrent conductance jump\)"):
        coba_lif_step(jnp.ones((2, 3)), bad, jnp.ones((4, 3)), jnp.ones((4, 4)))


def test_validation_costs_nothing_under_jit():
    f = jax.jit(lambda c: coba_lif_feed_forward_step(jnp.ones(3), None, CobaLIFParameters(c_m_inv=c))[1].v)
    expected = -20.0 + 1e-3 * 5.0 * (1.0 - 1e-3 * 0.2) * 80.0
    np.testing.assert_allclose(f(5.0), expected, rtol=1e-6)
