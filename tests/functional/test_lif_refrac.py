import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from spikejax.functional import (
    LIF_REFRAC_MODEL,
    LIFFeedForwardState,
    LIFParameters,
    LIFRefracFeedForwardState,
    LIFRefracParameters,
    LIFRefracState,
    lif_feed_forward_step,
    lif_refrac_feed_forward_step,
    lif_refrac_step,
    run,
)
from spikejax.nn import LIFRefrac, LIFRefracRecurrentCell

# Norse 1.1.0's SuperSpike backward ignores alpha (it is ours with alpha = 1); the refractory
# mask uses the same surrogate.
NORSE_11 = LIFRefracParameters(lif=LIFParameters(alpha=1.0))


def _loss(states, zs):
    return jnp.sum(states.lif.v) + jnp.sum(zs) + 0.1 * jnp.sum(states.rho)


def test_feed_forward_equals_norse(reference):
    ref = reference("norse_lif_family")["lif_refrac"]["feed_forward"]
    xs = jnp.asarray(ref["xs"], jnp.float32)

    def loss(xs, detach_reset=False):
        step = lambda x, s: lif_refrac_feed_forward_step(x, s, NORSE_11, detach_reset=detach_reset)
        states, zs = run(step, None, xs, record_states=True)
        return _loss(states, zs), (states, zs)

    (_, (states, zs)), grad = jax.value_and_grad(loss, has_aux=True)(xs)
    assert ref["out"].sum() > 5 and ref["rho"].max() == 5
    np.testing.assert_array_equal(zs, ref["out"])
    np.testing.assert_allclose(states.lif.v, ref["v"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(states.lif.i, ref["i"], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(states.rho, ref["rho"])
    np.testing.assert_allclose(grad, ref["grad_xs"], rtol=1e-4, atol=1e-4)
    detached = jax.grad(lambda x: loss(x, detach_reset=True)[0])(xs)
    assert not np.allclose(detached, grad, rtol=1e-3)


def test_recurrent_equals_norse(reference):
    ref = reference("norse_lif_family")["lif_refrac"]["recurrent"]
    xs = jnp.asarray(ref["xs"], jnp.float32)
    w_in = jnp.asarray(ref["input_weights"], jnp.float32)
    w_rec = jnp.asarray(ref["recurrent_weights"], jnp.float32)

    def loss(xs, w_in, w_rec):
        step = lambda x, s: lif_refrac_step(x, s, w_in, w_rec, NORSE_11)
        states, zs = run(step, None, xs, record_states=True)
        return _loss(states, zs), (states, zs)

    (_, (states, zs)), grads = jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True)(xs, w_in, w_rec)
    assert ref["out"].sum() > 5 and ref["rho"].max() == 5
    np.testing.assert_array_equal(zs, ref["out"])
    np.testing.assert_array_equal(states.lif.z, ref["z"])
    np.testing.assert_allclose(states.lif.v, ref["v"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(states.lif.i, ref["i"], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(states.rho, ref["rho"])
    for g, name in zip(grads, ["grad_xs", "grad_input_weights", "grad_recurrent_weights"]):
        np.testing.assert_allclose(g, ref[name], rtol=1e-4, atol=1e-3, err_msg=name)


def test_refractory_period_silences_and_holds_the_membrane():
    p = LIFRefracParameters(rho_reset=3.0)
    xs = jnp.full((12, 1, 1), 4.0)
    states, zs = run(lambda x, s: lif_refrac_feed_forward_step(x, s, p), None, xs, record_states=True)
    zs, v, i = np.asarray(zs[:, 0, 0]), np.asarray(states.lif.v[:, 0, 0]), np.asarray(states.lif.i[:, 0, 0])
    first = int(np.argmax(zs))
    assert zs[first] == 1 and np.all(zs[first + 1 : first + 4] == 0)
    np.testing.assert_array_equal(v[first : first + 4], 0.0)  # held at v_reset
    assert np.all(np.diff(i[first : first + 4]) > 0)  # the current keeps integrating
    # The strong current fires again as soon as the period ends.
    np.testing.assert_array_equal(states.rho[first : first + 5, 0, 0], [3, 2, 1, 0, 3])
    assert zs[first + 4] == 1


def test_zero_refractory_period_is_plain_lif():
    xs = jax.random.uniform(jax.random.key(0), (25, 2, 3)) * 3
    p = LIFRefracParameters(rho_reset=0.0)
    states, zs = run(lambda x, s: lif_refrac_feed_forward_step(x, s, p), None, xs)
    lif_state, lif_zs = run(lif_feed_forward_step, None, xs)
    assert np.asarray(zs).sum() > 0
    np.testing.assert_array_equal(zs, lif_zs)
    np.testing.assert_allclose(states.lif.v, lif_state.v, rtol=1e-6)


def test_modules_and_learnable_rho_reset():
    layer = LIFRefrac(learnable=("rho_reset",))
    xs = jax.random.uniform(jax.random.key(1), (10, 2, 3)) * 3
    zs, final = layer(xs)
    assert isinstance(final, LIFRefracFeedForwardState) and final.rho.shape == (2, 3)
    grads = nnx.grad(lambda m: jnp.sum(m(xs)[1].rho))(layer)
    assert float(grads.rho_reset[...]) > 0

    cell = LIFRefracRecurrentCell(3, 4)
    z, state = cell(xs[0])
    assert isinstance(state, LIFRefracState) and z.shape == (2, 4) and state.lif.z.shape == (2, 4)


def test_transforms_and_dtypes(model_checks):
    xs = jax.random.uniform(jax.random.key(0), (20, 3, 4)) * 2 * LIF_REFRAC_MODEL.example_drive
    zs = model_checks.transforms(lambda x, s: lif_refrac_feed_forward_step(x, s), xs)
    assert np.asarray(zs).sum() > 0
    model_checks.dtypes(lambda x, s: lif_refrac_feed_forward_step(x, s), xs)


def test_validation_errors():
    with pytest.raises(ValueError, match=r"LIFRefracParameters.rho_reset must be non-negative, got -1.0"):
        LIFRefracParameters(rho_reset=-1.0)
    with pytest.raises(TypeError, match=r"LIFRefracParameters.lif must be a LIFParameters, got dict"):
        LIFRefracParameters(lif={})
    with pytest.raises(ValueError, match=r"LIFParameters.tau_mem_inv must be positive"):
        LIFRefracParameters(lif=LIFParameters(tau_mem_inv=0.0))
    with pytest.raises(ValueError, match=r"dt must be positive, got 0.0"):
        lif_refrac_feed_forward_step(jnp.ones(3), None, dt=0.0)
    state = LIFRefracFeedForwardState(
        lif=LIFFeedForwardState(v=jnp.zeros((2, 3)), i=jnp.zeros((2, 4))), rho=jnp.zeros((2, 3))
    )
    with pytest.raises(ValueError, match=r"state.lif.i has shape \(2, 4\), expected \(2, 3\) \(the shape of input_tensor\)"):
        lif_refrac_feed_forward_step(jnp.ones((2, 3)), state)
    with pytest.raises(ValueError, match=r"input_tensor has shape \(2, 5\), expected last axis 3"):
        lif_refrac_step(jnp.ones((2, 5)), None, jnp.ones((4, 3)), jnp.ones((4, 4)))
    with pytest.raises(TypeError, match=r"p must be a LIFRefracParameters for LIFRefrac, got LIFParameters"):
        LIFRefrac(LIFParameters())
