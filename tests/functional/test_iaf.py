import jax
import jax.numpy as jnp
import numpy as np
import pytest

from spikejax.functional import (
    IAF_MODEL,
    IAFFeedForwardState,
    IAFParameters,
    IAFState,
    iaf_feed_forward_step,
    iaf_step,
    run,
)
from spikejax.nn import IAFCell

# Norse 1.1.0's SuperSpike backward ignores alpha (it is ours with alpha = 1).
NORSE_11 = IAFParameters(alpha=1.0)


def test_integrates_without_leak_and_resets():
    state, zs, vs = None, [], []
    for x in [0.4, 0.0, 0.0, 0.4, 0.4, 0.0]:
        z, state = iaf_feed_forward_step(jnp.asarray([x]), state)
        zs.append(float(z[0]))
        vs.append(float(state.v[0]))
    assert zs == [0, 0, 0, 0, 1, 0]
    np.testing.assert_allclose(vs, [0.4, 0.4, 0.4, 0.8, 0.0, 0.0], atol=1e-6)
    # The rest state is v_reset (Norse's modules), and dt plays no part.
    p = IAFParameters(v_reset=-0.5)
    _, a = iaf_feed_forward_step(jnp.zeros(2), None, p, dt=1e-3)
    _, b = iaf_feed_forward_step(jnp.zeros(2), None, p, dt=0.5)
    np.testing.assert_array_equal(a.v, [-0.5, -0.5])
    np.testing.assert_array_equal(a.v, b.v)


def test_feed_forward_equals_norse(reference):
    ref = reference("norse_lif_family")["iaf"]["feed_forward"]
    xs = jnp.asarray(ref["xs"], jnp.float32)

    def loss(xs, detach_reset=False):
        step = lambda x, s: iaf_feed_forward_step(x, s, NORSE_11, detach_reset=detach_reset)
        states, zs = run(step, None, xs, record_states=True)
        return jnp.sum(states.v) + jnp.sum(zs), (states, zs)

    (_, (states, zs)), grad = jax.value_and_grad(loss, has_aux=True)(xs)
    assert ref["out"].sum() > 5
    np.testing.assert_array_equal(zs, ref["out"])
    np.testing.assert_allclose(states.v, ref["v"], rtol=1e-5, atol=1e-5)
    # Norse does not detach the reset, and neither do we by default.
    np.testing.assert_allclose(grad, ref["grad_xs"], rtol=1e-4, atol=1e-4)
    detached = jax.grad(lambda x: loss(x, detach_reset=True)[0])(xs)
    assert not np.allclose(detached, grad, rtol=1e-3)


def test_recurrent_equals_norse(reference):
    ref = reference("norse_lif_family")["iaf"]["recurrent"]
    xs = jnp.asarray(ref["xs"], jnp.float32)
    w_in = jnp.asarray(ref["input_weights"], jnp.float32)
    w_rec = jnp.asarray(ref["recurrent_weights"], jnp.float32)

    def loss(xs, w_in, w_rec):
        step = lambda x, s: iaf_step(x, s, w_in, w_rec, NORSE_11)
        states, zs = run(step, None, xs, record_states=True)
        return jnp.sum(states.v) + jnp.sum(zs), (states, zs)

    (_, (states, zs)), grads = jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True)(xs, w_in, w_rec)
    assert ref["out"].sum() > 5
    np.testing.assert_array_equal(zs, ref["out"])
    np.testing.assert_array_equal(states.z, ref["z"])
    np.testing.assert_allclose(states.v, ref["v"], rtol=1e-5, atol=1e-5)
    # The undetached reset chains gradients through every spike: large values, relative check.
    for g, name in zip(grads, ["grad_xs", "grad_input_weights", "grad_recurrent_weights"]):
        np.testing.assert_allclose(g, ref[name], rtol=1e-4, atol=1e-3, err_msg=name)


def test_cell_module_and_parameter_broadcast():
    p = IAFParameters(v_th=jnp.array([0.5, 1.5]))
    cell, state = IAFCell(p), None
    outs = []
    for _ in range(3):
        z, state = cell(jnp.full((1, 2), 0.6), state)
        outs.append(np.asarray(z[0]))
    np.testing.assert_array_equal(outs, [[1, 0], [1, 0], [1, 1]])


def test_transforms_and_dtypes(model_checks):
    xs = jax.random.uniform(jax.random.key(0), (20, 3, 4)) * 2 * IAF_MODEL.example_drive
    zs = model_checks.transforms(lambda x, s: iaf_feed_forward_step(x, s), xs)
    assert np.asarray(zs).sum() > 0
    model_checks.dtypes(lambda x, s: iaf_feed_forward_step(x, s), xs)


def test_validation_errors():
    with pytest.raises(ValueError, match=r"method must be one of .*got unknown surrogate 'nope'"):
        IAFParameters(method="nope")
    with pytest.raises(ValueError, match=r"dt must be positive, got 0.0"):
        iaf_feed_forward_step(jnp.ones(3), None, dt=0.0)
    with pytest.raises(TypeError, match=r"input_tensor must be an array, got float"):
        iaf_feed_forward_step(1.0, None)
    state = IAFFeedForwardState(v=jnp.zeros((3,)))
    with pytest.raises(ValueError, match=r"state.v has shape \(3,\), expected \(2, 3\) \(the shape of input_tensor\)"):
        iaf_feed_forward_step(jnp.ones((2, 3)), state)
    with pytest.raises(ValueError, match=r"recurrent_weights has shape \(4, 3\), expected \(4, 4\)"):
        iaf_step(jnp.ones((2, 3)), None, jnp.ones((4, 3)), jnp.ones((4, 3)))
    with pytest.raises(TypeError, match=r"input_weights must be an array, got list"):
        iaf_step(jnp.ones((2, 3)), None, [[1.0, 1.0, 1.0]], jnp.ones((1, 1)))
    bad = IAFState(z=jnp.zeros((2, 4)), v=jnp.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"state.v has shape \(2, 5\), expected \(2, 4\) \(the shape of the recurrent current\)"):
        iaf_step(jnp.ones((2, 3)), bad, jnp.ones((4, 3)), jnp.ones((4, 4)))
