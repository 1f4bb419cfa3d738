import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from spikejax.functional.plasticity import (
    STDPParameters,
    STDPState,
    stdp_state,
    stdp_step,
    stdp_step_conv2d,
    stdp_step_linear,
)

ALGORITHMS = [
    ("additive", 0.0, 0.0),
    ("additive_step", 0.0, 0.0),
    ("multiplicative_pow", 0.75, 0.75),
    ("multiplicative_relu", 0.0, 1.0),  # Norse's relu rule is mu = 1 whatever mu says
]


@pytest.mark.parametrize("algorithm,mu,effective_mu", ALGORITHMS)
def test_norse_case_traces_and_first_updates(algorithm, mu, effective_mu):
    """Norse's test_stdp.py case: pre [1, 0, 1], post [0, 1, 0], weights 0.5 (3 x 2)."""
    p = STDPParameters(eta_plus=0.3, eta_minus=0.1, stdp_algorithm=algorithm, mu=mu)
    z_pre = jnp.array([[[1.0, 1.0]], [[0.0, 0.0]], [[1.0, 1.0]]])
    z_post = jnp.array([[[0.0, 0.0, 0.0]], [[1.0, 1.0, 1.0]], [[0.0, 0.0, 0.0]]])
    w, state = jnp.full((3, 2), 0.5), STDPState(jnp.zeros((1, 2)), jnp.zeros((1, 3)))
    ws = [w]
    for t in range(3):
        w, state = stdp_step_linear(z_pre[t], z_post[t], w, state, p, dt=1e-3)
        ws.append(w)
        if t == 1:
            np.testing.assert_allclose(state.t_pre, 0.0196, atol=1e-7)
        if t == 2:
            np.testing.assert_allclose(state.t_post, 0.0196, atol=1e-7)
    np.testing.assert_allclose(ws[1], ws[0], atol=1e-7)
    potentiation = 0.3 * 0.0196 * (1.0 - ws[1]) ** effective_mu
    np.testing.assert_allclose(ws[2] - ws[1], potentiation, atol=1e-6, rtol=0)
    depression = 0.1 * 0.0196 * ws[2] ** effective_mu
    np.testing.assert_allclose(ws[2] - ws[3], depression, atol=1e-6, rtol=0)
    assert state.t_pre.shape == (1, 2) and state.t_post.shape == (1, 3) and w.shape == (3, 2)


def _numpy_stdp(pre, post, w, p, algorithm, mu, dt=1e-3):
    """Norse's linear STDP step by step, in numpy, with the hard bound off."""
    t_pre, t_post, out = np.zeros(pre.shape[1:]), np.zeros(post.shape[1:]), []
    for z_pre, z_post in zip(pre, post):
        t_pre = t_pre + dt * p["tau_pre_inv"] * (-t_pre + p["a_pre"] * z_pre)
        t_post = t_post + dt * p["tau_post_inv"] * (-t_post + p["a_post"] * z_post)
        up, down = p["w_max"] - w, w - p["w_min"]
        if algorithm == "additive":
            a_plus, a_minus = p["eta_plus"], p["eta_minus"]
        elif algorithm == "additive_step":
            a_plus, a_minus = p["eta_plus"] * (up > 0), p["eta_minus"] * (down > 0)
        elif algorithm == "multiplicative_pow":
            a_plus, a_minus = p["eta_plus"] * up**mu, p["eta_minus"] * down**mu
        else:
            a_plus, a_minus = p["eta_plus"] * np.maximum(up, 0), p["eta_minus"] * np.maximum(down, 0)
        w = w + a_plus * (z_post.T @ t_pre) - a_minus * (t_post.T @ z_pre)
        out.append(w)
    return np.stack(out)


@pytest.mark.parametrize("algorithm,mu,_", ALGORITHMS)
def test_linear_equals_the_formula_at_and_beyond_the_bounds(algorithm, mu, _):
    rng = np.random.default_rng(1)
    pre = (rng.random((15, 3, 4)) < 0.4).astype(np.float32)
    post = (rng.random((15, 3, 2)) < 0.4).astype(np.float32)
    # Weights at the bounds and beyond them check the steps' and relus' edges.
    w0 = np.array([[0.0, 1.0, 0.5, 0.25], [1.0, 0.0, 0.75, 0.1]], np.float32)
    if algorithm != "multiplicative_pow":
        w0[0, 2], w0[1, 2] = -0.1, 1.2
    values = dict(a_pre=0.8, a_post=1.2, tau_pre_inv=30.0, tau_post_inv=60.0, w_min=0.0,
                  w_max=1.0, eta_plus=0.02, eta_minus=0.03)
    p = STDPParameters(stdp_algorithm=algorithm, mu=mu, hardbound=False, **values)

    @jax.jit
    def trajectory(pre, post, w):
        def step(carry, spikes):
            w, state = carry
            dw, state = stdp_step(spikes[0], spikes[1], state, w, p)
            return (w + dw, state), w + dw

        return jax.lax.scan(step, (w, stdp_state((3, 4), (3, 2))), (pre, post))[1]

    expected = _numpy_stdp(pre, post, w0.astype(np.float64), values, algorithm, mu)
    np.testing.assert_allclose(trajectory(pre, post, w0), expected, rtol=1e-5, atol=1e-6)


def test_linear_uses_its_dt():
    """The traces step by dt * tau_inv: at dt = 0.25 ms the trajectory is the formula's, not 1 ms's."""
    rng = np.random.default_rng(4)
    pre = (rng.random((12, 2, 4)) < 0.5).astype(np.float32)
    post = (rng.random((12, 2, 3)) < 0.5).astype(np.float32)
    w0 = np.full((3, 4), 0.5, np.float32)
    values = dict(a_pre=1.0, a_post=1.0, tau_pre_inv=40.0, tau_post_inv=40.0, w_min=0.0,
                  w_max=1.0, eta_plus=0.5, eta_minus=0.4)
    p = STDPParameters(hardbound=False, **values)
    state, w, ws = None, jnp.asarray(w0), []
    for z_pre, z_post in zip(pre, post):
        dw, state = stdp_step(z_pre, z_post, state, w, p, 0.25e-3)
        w = w + dw
        ws.append(w)
    expected = _numpy_stdp(pre, post, w0.astype(np.float64), values, "additive", 0.0, dt=0.25e-3)
    np.testing.assert_allclose(np.stack(ws), expected, rtol=1e-5, atol=1e-6)
    default_dt = _numpy_stdp(pre, post, w0.astype(np.float64), values, "additive", 0.0)
    assert np.abs(expected - default_dt).max() > 1e-3


def test_multiplicative_pow_stays_finite_at_the_hard_bounds():
    """w + dw lands a rounding error beyond w_min; a fractional power of that was NaN."""
    p = STDPParameters(stdp_algorithm="multiplicative_pow", mu=0.5, eta_plus=0.0,
                       eta_minus=7.0, w_min=0.1, w_max=0.7)
    w = jnp.asarray(np.random.default_rng(0).uniform(0.1, 0.7, (3, 4)).astype(np.float32))
    state = None
    pre, post = jnp.ones((2, 4)), jnp.ones((2, 3))
    for _ in range(30):  # strong depression: every weight reaches w_min and stays there
        dw, state = stdp_step(pre, post, state, w, p)
        w = w + dw
    assert np.all(np.isfinite(np.asarray(w)))
    np.testing.assert_allclose(w, 0.1, atol=1e-6)


def _params(ref, **extra):
    values = {k: v for k, v in ref["params"].items()}
    return STDPParameters(stdp_algorithm=ref["algorithm"], **values, **extra)


@pytest.mark.parametrize(
    "case", ["additive", "additive_step", "multiplicative_pow", "multiplicative_relu", "custom"]
)
def test_linear_equals_norse(reference, case):
    ref = reference("norse_stdp")["linear"][case]
    p = _params(ref)

    @jax.jit
    def trajectory(pre, post, w):
        def step(carry, spikes):
            w, state = stdp_step_linear(spikes[0], spikes[1], *carry, p)
            return (w, state), (w, state.t_pre, state.t_post)

        state = stdp_state(pre.shape[1:], post.shape[1:])
        return jax.lax.scan(step, (w, state), (pre, post))[1]

    ws, t_pre, t_post = trajectory(ref["pre"], ref["post"], jnp.asarray(ref["w0"], jnp.float32))
    np.testing.assert_allclose(t_pre, ref["t_pre"], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(t_post, ref["t_post"], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ws, ref["w"], rtol=1e-5, atol=1e-6)
    if case == "custom":  # the hard bounds were reached, so the clip is exercised
        assert np.isclose(ref["w"].min(), -0.2) and np.isclose(ref["w"].max(), 0.9)


@pytest.mark.parametrize("case", ["plain_relu", "strided_padded_additive", "dilated_pow_unbounded"])
def test_conv2d_equals_norse(reference, case):
    ref = reference("norse_stdp")["conv2d"][case]
    opts = dict(ref["options"])
    geometry = {k: int(opts.pop(k)) for k in ("stride", "padding", "dilation")}
    hardbound = bool(opts.pop("hardbound", True))
    p = STDPParameters(eta_plus=3e-3, eta_minus=2e-3, convolutional=True, hardbound=hardbound,
                       stdp_algorithm=opts.pop("stdp_algorithm"), **opts, **geometry)

    @functools.partial(jax.jit, static_argnums=3)
    def trajectory(pre, post, w, use_update):
        def step(carry, spikes):
            w, state = carry
            if use_update:  # the DESIGN signature: (dw, state)
                dw, state = stdp_step(spikes[0], spikes[1], state, w, p)
                w = w + dw
            else:
                w, state = stdp_step_conv2d(spikes[0], spikes[1], w, state, p)
            return (w, state), w

        state = stdp_state(pre.shape[1:], post.shape[1:])
        return jax.lax.scan(step, (w, state), (pre, post))[1]

    w0 = jnp.asarray(ref["w0"], jnp.float32)
    for use_update in (False, True):
        ws = trajectory(ref["pre"], ref["post"], w0, use_update)
        np.testing.assert_allclose(ws, ref["w"], rtol=1e-5, atol=1e-6)


def test_vmap_over_independent_layers_and_bfloat16():
    p = STDPParameters(eta_plus=0.1, eta_minus=0.05)
    rng = np.random.default_rng(2)
    pre = jnp.asarray(rng.random((3, 2, 4)) < 0.5, jnp.float32)
    post = jnp.asarray(rng.random((3, 2, 2)) < 0.5, jnp.float32)
    w = jnp.full((3, 2, 4), 0.5)
    one = jax.jit(lambda a, b, c: stdp_step(a, b, None, c, p))
    dws, _ = jax.jit(jax.vmap(one))(pre, post, w)
    for k in range(3):
        np.testing.assert_allclose(dws[k], one(pre[k], post[k], w[k])[0])
    bf16 = [x[0].astype(jnp.bfloat16) for x in (pre, post, w)]
    dw, state = one(*bf16)
    assert dw.dtype == jnp.bfloat16 and state.t_pre.dtype == jnp.bfloat16
    assert np.all(np.isfinite(np.asarray(dw, np.float32)))


def test_unbatched_spikes_equal_a_batch_of_one():
    p = STDPParameters(eta_plus=0.1)
    pre, post, w = jnp.array([1.0, 0.0, 1.0]), jnp.array([1.0, 1.0]), jnp.full((2, 3), 0.5)
    dw, state = stdp_step(pre, post, None, w, p)
    dw_b, _ = stdp_step(pre[None], post[None], None, w, p)
    np.testing.assert_allclose(dw, dw_b)
    assert state.t_pre.shape == (3,)


def test_bad_parameters():
    with pytest.raises(ValueError, match=r"STDPParameters.tau_pre_inv must be positive, got -5.0"):
        STDPParameters(tau_pre_inv=-5.0)
    with pytest.raises(ValueError, match="STDPParameters.eta_minus must be non-negative"):
        STDPParameters(eta_minus=-1.0)
    with pytest.raises(ValueError, match="STDPParameters.w_max must be greater than STDPParameters.w_min"):
        STDPParameters(w_min=1.0, w_max=0.5)
    with pytest.raises(ValueError, match="STDPParameters.stdp_algorithm must be one of 'additive'"):
        STDPParameters(stdp_algorithm="multiplicative")
    with pytest.raises(ValueError, match="STDPParameters.stride must be an int >= 1, got 0"):
        STDPParameters(stride=0)


def test_bad_shapes():
    w = jnp.full((3, 4), 0.5)
    with pytest.raises(ValueError, match=r"pre has shape \(2, 5\), expected \(2, 4\)"):
        stdp_step(jnp.ones((2, 5)), jnp.ones((2, 3)), None, w)
    with pytest.raises(ValueError, match=r"post has shape \(2, 2\), expected \(2, 3\)"):
        stdp_step(jnp.ones((2, 4)), jnp.ones((2, 2)), None, w)
    with pytest.raises(ValueError, match=r"post has shape \(1, 3\), expected \(2, 3\)"):
        stdp_step(jnp.ones((2, 4)), jnp.ones((1, 3)), None, w)
    with pytest.raises(ValueError, match=r"w must have rank 2 with layout \(post, pre\)"):
        stdp_step(jnp.ones((2, 4)), jnp.ones((2, 3)), None, jnp.ones((3, 4, 1)))
    with pytest.raises(ValueError, match=r"pre must have layout \(B, pre\) or \(pre,\)"):
        stdp_step(jnp.ones((1, 2, 4)), jnp.ones((2, 3)), None, w)
    with pytest.raises(ValueError, match=r"state.t_pre has shape \(1, 4\), expected \(2, 4\)"):
        stdp_step(jnp.ones((2, 4)), jnp.ones((2, 3)), stdp_state((1, 4), (2, 3)), w)
    with pytest.raises(ValueError, match="dt must be positive"):
        stdp_step(jnp.ones((2, 4)), jnp.ones((2, 3)), None, w, STDPParameters(), -1e-3)
    conv = STDPParameters(convolutional=True)
    kernel = jnp.ones((2, 1, 3, 3))
    with pytest.raises(ValueError, match=r"w must have rank 4 with layout \(C_out, C_in, kh, kw\)"):
        stdp_step(jnp.ones((1, 1, 5, 5)), jnp.ones((1, 2, 3, 3)), None, w, conv)
    with pytest.raises(ValueError, match=r"too small for the kernel \(3, 3\)"):
        stdp_step(jnp.ones((1, 1, 2, 2)), jnp.ones((1, 2, 1, 1)), None, kernel, conv)
    with pytest.raises(ValueError, match=r"post has shape \(1, 2, 5, 5\), expected \(1, 2, 3, 3\)"):
        stdp_step(jnp.ones((1, 1, 5, 5)), jnp.ones((1, 2, 5, 5)), None, kernel, conv)


def test_parameter_pytrees_rebuilt_by_jax_are_not_validated():
    # Negated time constants (a gradient or an optimizer state can hold such values) must rebuild
    # without the checks that user-written parameters get.
    import jax

    from spikejax.functional.plasticity import (
        AdaptiveThresholdParameters,
        InfernoSTDPParameters,
        MSTDPParameters,
        STDPParameters,
        TsodyksMakramParameters,
    )

    for cls in (STDPParameters, InfernoSTDPParameters, MSTDPParameters, AdaptiveThresholdParameters,
                TsodyksMakramParameters):
        negated = jax.tree.map(lambda x: -x - 1.0, cls())
        assert type(negated) is cls
        with pytest.raises(ValueError, match=cls.__name__):
            jax.tree.map(lambda x: -x - 1.0, cls()).__class__(**{
                name: getattr(negated, name) for name in cls.__dataclass_fields__
            })
