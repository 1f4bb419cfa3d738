import jax
import jax.numpy as jnp
import numpy as np
import pytest

from spikejax.functional import (
    MAX_EXPONENT,
    LIFExFeedForwardState,
    LIFExParameters,
    LIFExState,
    LIFParameters,
    exponential_current,
    lif_ex_feed_forward_step,
    lif_ex_step,
    lif_feed_forward_step,
    run,
)

# Norse 1.1.0's SuperSpike backward ignores alpha (it is 1 / (|x| + 1)^2): alpha = 1 here.
NORSE_11 = LIFExParameters(alpha=1.0)


def _ff(xs, init, p):
    states, zs = run(lambda x, s: lif_ex_feed_forward_step(x, s, p), init, xs, record_states=True)
    return jnp.sum(zs) + jnp.sum(states.v), (states, zs)


def _check_trajectory(ref, states, zs):
    np.testing.assert_array_equal(zs, ref["z"])
    np.testing.assert_allclose(states.v, ref["v"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(states.i, ref["i"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", ["feed_forward", "feed_forward_from_state"])
def test_feed_forward_equals_norse(reference, case):
    ref = reference("norse_adaptive")["lif_ex"][case]
    xs = jnp.asarray(ref["xs"], jnp.float32)
    init = None
    if "init_v" in ref:
        init = LIFExFeedForwardState(*(jnp.asarray(ref[f"init_{k}"], jnp.float32) for k in "vi"))
        # The supplied state sits above threshold: exponents up to ~5, beyond Norse's own
        # trajectories from rest, but below the overflow clamp, which must not act here.
        exponent = (np.asarray(init.v) - 1.0) / 0.5
        assert 3 < exponent.max() < MAX_EXPONENT
    value_and_grad = jax.jit(jax.value_and_grad(_ff, argnums=(0, 1), has_aux=True))
    (_, (states, zs)), grads = value_and_grad(xs, init, NORSE_11)
    _check_trajectory(ref, states, zs)
    # Norse lets the gradient flow through the reset; so does the default here.
    np.testing.assert_allclose(grads[0], ref["grad_xs"], rtol=1e-4, atol=1e-5)
    if init is not None:
        for name, g in zip("vi", grads[1]):
            np.testing.assert_allclose(g, ref[f"grad_init_{name}"], rtol=1e-4, atol=1e-5, err_msg=name)


def test_recurrent_equals_norse(reference):
    ref = reference("norse_adaptive")["lif_ex"]["recurrent"]
    xs, w_in, w_rec = (jnp.asarray(ref[k], jnp.float32) for k in ("xs", "input_weights", "recurrent_weights"))

    def loss(xs, w_in, w_rec, detach_reset=False):
        step = lambda x, s: lif_ex_step(x, s, w_in, w_rec, NORSE_11, detach_reset=detach_reset)
        states, zs = run(step, None, xs, record_states=True)
        return jnp.sum(zs) + jnp.sum(states.v), (states, zs)

    value_and_grad = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True))
    (_, (states, zs)), grads = value_and_grad(xs, w_in, w_rec)
    _check_trajectory(ref, states, zs)
    np.testing.assert_array_equal(states.z, ref["z"])
    for g, name in zip(grads, ["grad_xs", "grad_input_weights", "grad_recurrent_weights"]):
        np.testing.assert_allclose(g, ref[name], rtol=1e-4, atol=1e-4, err_msg=name)
    # detach_reset=True is not Norse's choice for LIFEx, and really changes the backward pass.
    detached = jax.jit(jax.grad(lambda w: loss(xs, w, w_rec, detach_reset=True)[0]))(w_in)
    assert not np.allclose(detached, grads[1], rtol=1e-3)


def test_exponential_upswing_and_sharp_limit_is_lif():
    xs = jnp.full((60, 1, 4), 0.4) * jnp.array([1.0, 1.5, 2.0, 3.0])
    sharp = LIFExParameters(delta_T=1e-3)

    @jax.jit
    def trajectories(xs):
        steps = (
            lif_ex_feed_forward_step,
            lif_feed_forward_step,
            lambda x, s: lif_ex_feed_forward_step(x, s, sharp),
        )
        return [run(step, None, xs, record_states=True) for step in steps]

    (_, z_ex), (lif_states, z_lif), (states, z_sharp) = trajectories(xs)
    # The exponential current adds drive below threshold: at least as many spikes as LIF,
    # strictly more for some input.
    assert np.all(z_ex.sum(0) >= z_lif.sum(0)) and np.any(z_ex.sum(0) > z_lif.sum(0))
    # As delta_T -> 0 the exponential vanishes below threshold and LIFEx becomes LIF.
    np.testing.assert_array_equal(z_sharp, z_lif)
    np.testing.assert_allclose(states.v, lif_states.v, atol=1e-5)


def test_exponential_current_is_exact_below_the_clamp_and_finite_above():
    p = LIFExParameters()
    v = jnp.array([-3.0, 0.0, 1.0, 3.0, 1.0 + 0.5 * (MAX_EXPONENT - 0.5)])
    expected = 0.5 * np.exp((np.asarray(v, np.float64) - 1.0) / 0.5)
    np.testing.assert_allclose(exponential_current(v, p), expected, rtol=2e-6)
    far = jnp.array([30.0, 1e4, jnp.inf])
    for dtype in (jnp.float32, jnp.bfloat16, jnp.float16):
        out = exponential_current(far.astype(dtype), p)
        assert out.dtype == dtype
        assert np.all(np.isfinite(np.asarray(out, np.float32))), dtype
    np.testing.assert_allclose(exponential_current(far, p), 0.5 * np.exp(MAX_EXPONENT), rtol=1e-6)
    # float16 overflows at exp(11.1): its clamp is lower.
    assert float(exponential_current(jnp.float16(30.0), p)) < 65504 / 100
    # Without the clamp, Norse's formula overflows in float32 for such a state.
    with np.errstate(over="ignore"):
        assert np.isinf(np.float32(0.5) * np.exp(np.float32((30.0 - 1.0) / 0.5) * np.float32(2.0)))
    # Above the clamp the exponential's gradient is zero, and finite.
    grad = jax.grad(lambda v: exponential_current(v, p))
    assert float(grad(30.0)) == 0.0 and float(grad(1.0)) == pytest.approx(1.0)


def test_a_supplied_state_far_above_threshold_stays_finite():
    state = LIFExFeedForwardState(v=jnp.full((2, 3), 60.0), i=jnp.zeros((2, 3)))
    for dtype in (jnp.float32, jnp.bfloat16, jnp.float16):
        s = jax.tree_util.tree_map(lambda a: a.astype(dtype), state)
        final, zs = jax.jit(run, static_argnums=0)(lif_ex_feed_forward_step, s, jnp.ones((5, 2, 3), dtype))
        assert np.all(np.asarray(zs[0]) == 1), dtype  # spikes at once, then resets
        assert np.all(np.isfinite(np.asarray(final.v, np.float32))), dtype


def test_rest_state_and_parameter_arrays_broadcast():
    p = LIFExParameters(v_leak=jnp.array([0.0, 0.5]), delta_T=jnp.array([0.5, 1.0]))
    _, state = lif_ex_feed_forward_step(jnp.zeros((3, 2)), None, p)
    # From rest without input only the exponential current moves v: 0.1 * delta_T * exp(...).
    expected = np.array([0.0, 0.5]) + 0.1 * np.array([0.5 * np.exp(-2.0), 1.0 * np.exp(-0.5)])
    np.testing.assert_allclose(state.v, np.tile(expected, (3, 1)), rtol=1e-5)
    z, rstate = lif_ex_step(jnp.zeros((3, 4)), None, jnp.ones((2, 4)), jnp.zeros((2, 2)), p)
    assert isinstance(rstate, LIFExState) and rstate.z.shape == (3, 2)


def test_transforms_and_dtypes(model_checks):
    xs = jax.random.uniform(jax.random.key(0), (30, 4, 5)) * 2
    zs = model_checks.transforms(lambda x, s: lif_ex_feed_forward_step(x, s), xs)
    assert np.asarray(zs).sum() > 0
    model_checks.dtypes(lambda x, s: lif_ex_feed_forward_step(x, s), xs)
    # A strong drive (20x the example) in bfloat16 and float32: no NaN or inf anywhere.
    for dtype in (jnp.float32, jnp.bfloat16):
        state, out = jax.jit(run, static_argnums=0)(lif_ex_feed_forward_step, None, (xs * 20).astype(dtype))
        for leaf in jax.tree_util.tree_leaves((state, out)):
            assert np.all(np.isfinite(np.asarray(leaf, np.float32))), dtype


def test_validation_errors():
    assert set(LIFExParameters._positive) == {"delta_T", "tau_syn_inv", "tau_mem_inv"}
    for name in LIFExParameters._positive:  # every time constant (and delta_T) must be > 0
        with pytest.raises(ValueError, match=rf"LIFExParameters.{name} must be positive, got -2.0"):
            LIFExParameters(**{name: -2.0})
    with pytest.raises(ValueError, match=r"LIFExParameters.delta_T must be positive, got 0.0"):
        LIFExParameters(delta_T=0.0)
    with pytest.raises(ValueError, match=r"LIFExParameters.tau_mem_inv must be positive"):
        LIFExParameters(tau_mem_inv=jnp.array([1.0, -1.0]))
    with pytest.raises(ValueError, match=r"method must be one of .*got unknown surrogate 'nope'"):
        LIFExParameters(method="nope")
    with pytest.raises(ValueError, match=r"dt must be positive, got -0.001"):
        lif_ex_feed_forward_step(jnp.ones(3), None, dt=-1e-3)
    state = LIFExFeedForwardState(v=jnp.zeros((2, 3)), i=jnp.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"state.i has shape \(2, 4\), expected \(2, 3\) \(the shape of input_tensor\)"):
        lif_ex_feed_forward_step(jnp.ones((2, 3)), state)
    with pytest.raises(ValueError, match=r"recurrent_weights has shape \(4, 3\), expected \(4, 4\)"):
        lif_ex_step(jnp.ones((2, 3)), None, jnp.ones((4, 3)), jnp.ones((4, 3)))
    with pytest.raises(TypeError, match=r"input_tensor must be an array, got list"):
        lif_ex_feed_forward_step([1.0], None)


def test_lif_parameters_are_rejected_by_the_modules():
    from spikejax.nn import LIFExCell

    with pytest.raises(TypeError, match=r"p must be a LIFExParameters for LIFExCell, got LIFParameters"):
        LIFExCell(LIFParameters())
