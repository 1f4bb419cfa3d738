import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from spikejax.functional.plasticity import (
    InfernoSTDPParameters,
    bound_power,
    inferno_stdp_step,
    stdp_state,
)

REDUCE = {"mean": np.mean, "sum": np.sum, "max": np.max}


def _np_trace(x, z, tc_ms, dt_ms, mode):
    decayed = x * np.exp(-dt_ms / tc_ms)
    return decayed + z if mode == "cumulative" else np.where(z > 0, 1.0, decayed)


def _np_dense(post_like, pre_like):
    return post_like[:, :, None] * pre_like[:, None, :]


def _np_conv(post_like, pre_like, kernel, stride, padding, dilation):
    """sum over output positions of post_like[b, o, y, x] * padded pre_like at the tap."""
    b, c = pre_like.shape[:2]
    o, (h_out, w_out) = post_like.shape[1], post_like.shape[2:]
    padded = np.pad(pre_like, ((0, 0), (0, 0), (padding,) * 2, (padding,) * 2))
    out = np.zeros((b, o, c, kernel, kernel))
    for i in range(kernel):
        for j in range(kernel):
            rows = np.arange(h_out) * stride + i * dilation
            cols = np.arange(w_out) * stride + j * dilation
            taps = padded[:, :, rows][:, :, :, cols]  # (b, c, h_out, w_out)
            out[:, :, :, i, j] = np.einsum("boyx,bcyx->boc", post_like, taps)
    return out


def _numpy_inferno(pre, post, w, p, dt_ms, correlate=_np_dense, bound=None):
    x_pre, x_post, out = np.zeros(pre.shape[1:]), np.zeros(post.shape[1:]), []
    reduce = functools.partial(REDUCE[p["batch_reduction"]], axis=0)
    for z_pre, z_post in zip(pre, post):
        x_pre = _np_trace(x_pre, z_pre, p["tc_pre"], dt_ms, p["trace_mode"])
        x_post = _np_trace(x_post, z_post, p["tc_post"], dt_ms, p["trace_mode"])
        on_post = p["lr_post"] * reduce(correlate(z_post, x_pre))
        on_pre = p["lr_pre"] * reduce(correlate(x_post, z_pre))
        pos = np.maximum(on_post, 0) + np.maximum(on_pre, 0)
        neg = np.maximum(-on_post, 0) + np.maximum(-on_pre, 0)
        out.append(pos - neg if bound is None else bound(w, pos, neg))
    return np.stack(out)


def _run(p, pre, post, w, dt=1e-3, bound=None):
    @jax.jit
    def trajectory(pre, post):
        def step(state, spikes):
            dw, state = inferno_stdp_step(spikes[0], spikes[1], state, w, p, dt, bound=bound)
            return state, dw

        return jax.lax.scan(step, stdp_state(pre.shape[1:], post.shape[1:]), (pre, post))[1]

    return trajectory(pre, post)


@pytest.mark.parametrize("trace_mode", ["cumulative", "nearest"])
@pytest.mark.parametrize("batch_reduction", ["mean", "sum", "max"])
def test_equals_the_formula_with_ms_time_constants(trace_mode, batch_reduction):
    rng = np.random.default_rng(3)
    pre = (rng.random((20, 3, 4)) < 0.4).astype(np.float32)
    post = (rng.random((20, 3, 2)) < 0.4).astype(np.float32)
    w = np.full((2, 4), 0.5, np.float32)
    values = dict(lr_post=0.02, lr_pre=-0.015, tc_post=15.0, tc_pre=25.0,
                  trace_mode=trace_mode, batch_reduction=batch_reduction)
    p = InfernoSTDPParameters(**values)
    dws = _run(p, pre, post, w, dt=0.5e-3)  # dt in seconds: 0.5 ms
    np.testing.assert_allclose(dws, _numpy_inferno(pre, post, w, values, dt_ms=0.5),
                               rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    "lr_post,lr_pre,pre_post_sign,post_pre_sign",
    [(1.0, -1.0, 1, -1),   # Hebbian
     (-1.0, 1.0, -1, 1),   # anti-Hebbian
     (1.0, 1.0, 1, 1),     # LTP only
     (-1.0, -1.0, -1, -1)],  # LTD only
)
def test_signs_of_the_learning_rates_select_the_rule(lr_post, lr_pre, pre_post_sign, post_pre_sign):
    p = InfernoSTDPParameters(lr_post=lr_post, lr_pre=lr_pre)
    w, one, zero = jnp.zeros((1, 1)), jnp.ones((1, 1)), jnp.zeros((1, 1))
    step = jax.jit(lambda a, b, s: inferno_stdp_step(a, b, s, w, p))
    _, s = step(one, zero, None)  # pre first ...
    dw_pre_post, _ = step(zero, one, s)  # ... then post
    _, s = step(zero, one, None)
    dw_post_pre, _ = step(one, zero, s)
    assert np.sign(dw_pre_post[0, 0]) == pre_post_sign
    assert np.sign(dw_post_pre[0, 0]) == post_pre_sign
    np.testing.assert_allclose(abs(dw_pre_post[0, 0]), np.exp(-1 / 20), rtol=1e-6)


def test_bound_sees_potentiation_and_depression_separately():
    rng = np.random.default_rng(4)
    pre = (rng.random((12, 2, 3)) < 0.5).astype(np.float32)
    post = (rng.random((12, 2, 2)) < 0.5).astype(np.float32)
    w = rng.uniform(0.1, 0.9, (2, 3)).astype(np.float32)
    values = dict(lr_post=0.05, lr_pre=-0.04, tc_post=20.0, tc_pre=20.0,
                  trace_mode="cumulative", batch_reduction="mean")
    bound = functools.partial(bound_power, w_min=0.0, w_max=1.0, upper_power=2.0, lower_power=0.5)
    np_bound = lambda w, pos, neg: (1 - w) ** 2 * pos - w**0.5 * neg  # noqa: E731
    dws = _run(InfernoSTDPParameters(**values), pre, post, w, bound=bound)
    np.testing.assert_allclose(dws, _numpy_inferno(pre, post, w, values, 1.0, bound=np_bound),
                               rtol=1e-5, atol=1e-7)


def test_conv2d_equals_the_formula():
    rng = np.random.default_rng(5)
    stride, padding, dilation, k = 2, 1, 1, 3
    pre = (rng.random((5, 2, 2, 6, 6)) < 0.4).astype(np.float32)
    post = (rng.random((5, 2, 3, 3, 3)) < 0.4).astype(np.float32)
    w = np.zeros((3, 2, k, k), np.float32)
    values = dict(lr_post=0.1, lr_pre=-0.05, tc_post=10.0, tc_pre=30.0,
                  trace_mode="cumulative", batch_reduction="sum")
    p = InfernoSTDPParameters(**values, convolutional=True, stride=stride, padding=padding,
                              dilation=dilation)
    corr = functools.partial(_np_conv, kernel=k, stride=stride, padding=padding, dilation=dilation)
    np.testing.assert_allclose(_run(p, pre, post, w), _numpy_inferno(pre, post, w, values, 1.0, corr),
                               rtol=1e-5, atol=1e-6)


def test_ms_conversion_is_exposed():
    p = InfernoSTDPParameters(tc_post=20.0, tc_pre=40.0)
    assert p.tau_post_inv == 50.0 and p.tau_pre_inv == 25.0


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"InfernoSTDPParameters.tc_pre must be positive, got -1.0"):
        InfernoSTDPParameters(tc_pre=-1.0)
    with pytest.raises(ValueError, match="InfernoSTDPParameters.trace_mode must be one of"):
        InfernoSTDPParameters(trace_mode="norse")
    with pytest.raises(ValueError, match="InfernoSTDPParameters.batch_reduction must be one of"):
        InfernoSTDPParameters(batch_reduction="median")
    with pytest.raises(ValueError, match=r"pre has shape \(2, 3\), expected \(2, 4\)"):
        inferno_stdp_step(jnp.ones((2, 3)), jnp.ones((2, 2)), None, jnp.ones((2, 4)))
