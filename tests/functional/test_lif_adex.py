import jax
import jax.numpy as jnp
import numpy as np
import pytest

from spikejax.functional import (
    LIF_ADEX_MODEL,
    LIFAdExFeedForwardState,
    LIFAdExParameters,
    LIFAdExState,
    LIFExParameters,
    lif_adex_feed_forward_step,
    lif_adex_step,
    lif_ex_feed_forward_step,
    run,
)

# Norse 1.1.0's SuperSpike backward ignores alpha (it is 1 / (|x| + 1)^2): alpha = 1 here.
NORSE_11 = LIFAdExParameters(alpha=1.0)
jit_run = jax.jit(run, static_argnums=0, static_argnames="record_states")


def _parameters(ref_params):
    fields = {k: np.float32(v) for k, v in ref_params.items() if k != "alpha"}
    return LIFAdExParameters(**fields, alpha=1.0)


def _ff(xs, init, p):
    states, zs = run(lambda x, s: lif_adex_feed_forward_step(x, s, p), init, xs, record_states=True)
    return jnp.sum(zs) + jnp.sum(states.v) + jnp.sum(states.a), (states, zs)


def _check_trajectory(ref, states, zs):
    np.testing.assert_array_equal(zs, ref["z"])
    for name in ("v", "i", "a"):
        np.testing.assert_allclose(getattr(states, name), ref[name], rtol=1e-5, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("case", ["feed_forward", "feed_forward_fast_adapt", "feed_forward_from_state"])
def test_feed_forward_equals_norse(reference, case):
    data = reference("norse_adaptive")["lif_adex"]
    ref = data[case]
    p = _parameters(data["fast_adapt_parameters"]) if case.endswith("fast_adapt") else NORSE_11
    xs = jnp.asarray(ref["xs"], jnp.float32)
    init = None
    if "init_v" in ref:
        # A supplied state above threshold, where the exponential term is large (below the clamp).
        init = LIFAdExFeedForwardState(*(jnp.asarray(ref[f"init_{k}"], jnp.float32) for k in "via"))
    value_and_grad = jax.jit(jax.value_and_grad(_ff, argnums=(0, 1), has_aux=True))
    (_, (states, zs)), grads = value_and_grad(xs, init, p)
    _check_trajectory(ref, states, zs)
    # Norse lets the gradient flow through the reset and the adaptation jump: so does the default.
    np.testing.assert_allclose(grads[0], ref["grad_xs"], rtol=1e-4, atol=1e-5)
    if init is not None:
        for name, g in zip("via", grads[1]):
            np.testing.assert_allclose(g, ref[f"grad_init_{name}"], rtol=1e-4, atol=1e-5, err_msg=name)


def test_recurrent_equals_norse(reference):
    ref = reference("norse_adaptive")["lif_adex"]["recurrent"]
    xs, w_in, w_rec = (jnp.asarray(ref[k], jnp.float32) for k in ("xs", "input_weights", "recurrent_weights"))

    def loss(xs, w_in, w_rec, detach_reset=False):
        step = lambda x, s: lif_adex_step(x, s, w_in, w_rec, NORSE_11, detach_reset=detach_reset)
        states, zs = run(step, None, xs, record_states=True)
        return jnp.sum(zs) + jnp.sum(states.v) + jnp.sum(states.a), (states, zs)

    value_and_grad = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True))
    (_, (states, zs)), grads = value_and_grad(xs, w_in, w_rec)
    _check_trajectory(ref, states, zs)
    for g, name in zip(grads, ["grad_xs", "grad_input_weights", "grad_recurrent_weights"]):
        np.testing.assert_allclose(g, ref[name], rtol=1e-4, atol=1e-4, err_msg=name)
    detached = jax.jit(jax.grad(lambda w: loss(xs, w, w_rec, detach_reset=True)[0]))(w_in)
    assert not np.allclose(detached, grads[1], rtol=1e-3)


def test_without_adaptation_adex_is_lifex():
    # The two models share one voltage equation: with a = 0 and no adaptation they agree
    # exactly, spikes, voltages and gradients.
    xs = jax.random.uniform(jax.random.key(1), (25, 2, 3)) * 2
    p = LIFAdExParameters(adaptation_current=0.0, adaptation_spike=0.0, delta_T=0.7)
    p_ex = LIFExParameters(delta_T=0.7)

    @jax.jit
    def both(xs):
        def loss(step, xs):
            states, zs = run(step, None, xs, record_states=True)
            return jnp.sum(zs * jnp.arange(3)) + jnp.sum(states.v), (states, zs)

        adex = jax.value_and_grad(loss, argnums=1, has_aux=True)(
            lambda x, s: lif_adex_feed_forward_step(x, s, p), xs
        )
        ex = jax.value_and_grad(loss, argnums=1, has_aux=True)(
            lambda x, s: lif_ex_feed_forward_step(x, s, p_ex), xs
        )
        return adex, ex

    ((_, (states, zs)), grad), ((_, (ex_states, ex_zs)), ex_grad) = both(xs)
    assert np.asarray(zs).sum() > 0
    np.testing.assert_array_equal(zs, ex_zs)
    np.testing.assert_array_equal(states.v, ex_states.v)
    np.testing.assert_array_equal(states.a, 0.0)
    np.testing.assert_array_equal(grad, ex_grad)


def test_spike_frequency_adaptation():
    # Under a constant drive the adaptation current builds up and the spikes slow down.
    p = LIFAdExParameters(adaptation_current=0.5, adaptation_spike=0.3, tau_adapt_inv=10.0)
    xs = jnp.full((300, 1, 1), 0.6)
    states, zs = jit_run(lambda x, s: lif_adex_feed_forward_step(x, s, p), None, xs, record_states=True)
    intervals = np.diff(np.flatnonzero(np.asarray(zs[:, 0, 0])))
    assert len(intervals) >= 10
    assert intervals[-1] >= 2 * intervals[0]
    assert float(states.a[-1, 0, 0]) > 1.0
    # Without the spike-triggered jump (and the coupling) the rhythm stays regular.
    p_off = p.replace(adaptation_current=0.0, adaptation_spike=0.0)
    _, zs_off = jit_run(lambda x, s: lif_adex_feed_forward_step(x, s, p_off), None, xs)
    intervals_off = np.diff(np.flatnonzero(np.asarray(zs_off[:, 0, 0])))
    assert intervals_off.max() - intervals_off.min() <= 1


def test_rest_state_and_recurrent_rest_state():
    p = LIFAdExParameters(v_leak=jnp.array([0.0, -0.5]))
    z, state = lif_adex_feed_forward_step(jnp.zeros((3, 2)), None, p)
    # At rest a = 0 and v = v_leak; only the exponential current moves v, and a follows it.
    np.testing.assert_allclose(state.v[:, 1], -0.5 + 0.1 * 0.5 * np.exp(-3.0), rtol=1e-5)
    np.testing.assert_array_equal(state.a, 0.0)  # a integrates the old v, which equals v_leak
    rest = LIF_ADEX_MODEL.recurrent_state((3, 4), LIFAdExParameters(v_leak=0.2), jnp.bfloat16)
    assert isinstance(rest, LIFAdExState) and rest.a.dtype == jnp.bfloat16
    np.testing.assert_array_equal(np.asarray(rest.v, np.float32), np.float32(jnp.bfloat16(0.2)))


def test_a_supplied_state_far_above_threshold_stays_finite():
    state = LIFAdExFeedForwardState(v=jnp.full((2, 3), 60.0), i=jnp.zeros((2, 3)), a=jnp.zeros((2, 3)))
    for dtype in (jnp.float32, jnp.bfloat16, jnp.float16):
        s = jax.tree_util.tree_map(lambda x: x.astype(dtype), state)
        final, zs = jit_run(lif_adex_feed_forward_step, s, jnp.ones((5, 2, 3), dtype))
        assert np.all(np.asarray(zs[0]) == 1), dtype
        for leaf in final:
            assert np.all(np.isfinite(np.asarray(leaf, np.float32))), dtype


def test_transforms_and_dtypes(model_checks):
    xs = jax.random.uniform(jax.random.key(0), (30, 4, 5)) * 2
    zs = model_checks.transforms(lambda x, s: lif_adex_feed_forward_step(x, s), xs)
    assert np.asarray(zs).sum() > 0
    model_checks.dtypes(lambda x, s: lif_adex_feed_forward_step(x, s), xs)
    # A strong drive (20x the example) in bfloat16 and float32: no NaN or inf anywhere.
    for dtype in (jnp.float32, jnp.bfloat16):
        state, out = jit_run(lif_adex_feed_forward_step, None, (xs * 20).astype(dtype))
        for leaf in jax.tree_util.tree_leaves((state, out)):
            assert np.all(np.isfinite(np.asarray(leaf, np.float32))), dtype


def test_validation_errors():
    assert set(LIFAdExParameters._positive) == {"delta_T", "tau_adapt_inv", "tau_syn_inv", "tau_mem_inv"}
    for name in LIFAdExParameters._positive:  # every time constant (and delta_T) must be > 0
        with pytest.raises(ValueError, match=rf"LIFAdExParameters.{name} must be positive, got -2.0"):
            LIFAdExParameters(**{name: -2.0})
    with pytest.raises(ValueError, match=r"LIFAdExParameters.delta_T must be positive, got -0.5"):
        LIFAdExParameters(delta_T=-0.5)
    with pytest.raises(ValueError, match=r"LIFAdExParameters.tau_adapt_inv must be positive, got 0.0"):
        LIFAdExParameters(tau_adapt_inv=0.0)
    with pytest.raises(ValueError, match=r"method must be one of .*got unknown surrogate 'nope'"):
        LIFAdExParameters(method="nope")
    with pytest.raises(ValueError, match=r"dt must be positive, got 0.0"):
        lif_adex_feed_forward_step(jnp.ones(3), None, dt=0.0)
    state = LIFAdExFeedForwardState(v=jnp.zeros((2, 3)), i=jnp.zeros((2, 3)), a=jnp.zeros(3))
    with pytest.raises(ValueError, match=r"state.a has shape \(3,\), expected \(2, 3\) \(the shape of input_tensor\)"):
        lif_adex_feed_forward_step(jnp.ones((2, 3)), state)
    rstate = LIFAdExState(*(jnp.zeros((2, 4)),) * 3, a=jnp.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"state.a has shape \(2, 5\), expected \(2, 4\) \(the shape of the recurrent current\)"):
        lif_adex_step(jnp.ones((2, 3)), rstate, jnp.ones((4, 3)), jnp.ones((4, 4)))
    with pytest.raises(ValueError, match=r"input_tensor has shape \(2, 5\), expected last axis 3"):
        lif_adex_step(jnp.ones((2, 5)), None, jnp.ones((4, 3)), jnp.ones((4, 4)))
