import jax
import jax.numpy as jnp
import numpy as np
import pytest

from spikejax.functional import (
    LeakyParameters,
    LeakyRecurrentState,
    LeakyState,
    clip_decay,
    leaky_feed_forward_step,
    leaky_step,
    run,
)

FEED_FORWARD = ["subtract", "zero", "none", "subtract/no_delay", "zero/no_delay"]


def _params(case, name, **extra):
    options = name.split("/")
    return LeakyParameters(
        beta=jnp.asarray(case["beta"], jnp.float32),
        v_th=jnp.asarray(case["threshold"], jnp.float32),  # snnTorch's threshold
        reset_mechanism=options[0],
        reset_delay="no_delay" not in options,
        **extra,
    )


def _jit_grad(loss, argnums, **jit_options):
    # One compiled program is several times cheaper than differentiating the scan eagerly.
    return jax.jit(jax.value_and_grad(loss, argnums, has_aux=True), **jit_options)


def _loss(step, xs, *args):
    states, zs = run(lambda x, s: step(x, s, *args), None, xs, record_states=True)
    return jnp.sum(states.mem) + jnp.sum(zs), (states, zs)


def _compare(ref, states, zs, grads):
    np.testing.assert_array_equal(zs, ref["spk"])
    np.testing.assert_allclose(states.mem, ref["mem"], rtol=1e-5, atol=1e-5)
    for name, value in grads.items():
        np.testing.assert_allclose(value, ref[f"grad_{name}"], rtol=1e-4, atol=1e-4, err_msg=name)


@pytest.mark.parametrize("name", FEED_FORWARD + ["clip_fast_sigmoid"])
def test_feed_forward_equals_snntorch(reference, name):
    ref = reference("snntorch")[f"leaky/{name}"]
    if name == "clip_fast_sigmoid":
        # Per-neuron beta 0.5, 1.0 (clamp's bound) and 1.3 (clipped): gradients g, 0 and 0.
        p = _params(ref, "subtract", method="fast_sigmoid", alpha=25.0)
    else:
        p = _params(ref, name)
    xs = jnp.asarray(ref["xs"], jnp.float32)
    loss = lambda xs, p: _loss(leaky_feed_forward_step, xs, p)
    (_, (states, zs)), (g_xs, g_p) = _jit_grad(loss, (0, 1))(xs, p)
    assert 0 < float(zs.mean()) < 1
    _compare(ref, states, zs, {"xs": g_xs, "beta": g_p.beta, "threshold": g_p.v_th})


@pytest.mark.parametrize("name", FEED_FORWARD)
def test_recurrent_equals_snntorch_rleaky(reference, name):
    ref = reference("snntorch")[f"rleaky/{name}"]
    p = _params(ref, name)
    xs, w_in, w_rec = (jnp.asarray(ref[k], jnp.float32) for k in ("xs", "input_weights", "recurrent_weights"))
    loss = lambda xs, w_in, w_rec, p: _loss(leaky_step, xs, w_in, w_rec, p)
    (_, (states, zs)), grads = _jit_grad(loss, (0, 1, 2, 3))(xs, w_in, w_rec, p)
    np.testing.assert_array_equal(states.z, zs)
    _compare(ref, states, zs, {
        "xs": grads[0], "input_weights": grads[1], "recurrent_weights": grads[2],
        "beta": grads[3].beta, "threshold": grads[3].v_th,
    })


def test_detach_reset_changes_only_the_gradient(reference):
    ref = reference("snntorch")["leaky/subtract"]
    xs, p = jnp.asarray(ref["xs"], jnp.float32), _params(ref, "subtract")

    def loss(xs, detach_reset):
        step = lambda x, s, p: leaky_feed_forward_step(x, s, p, detach_reset=detach_reset)
        return _loss(step, xs, p)

    (_, (_, z_detached)), detached = _jit_grad(loss, 0, static_argnums=1)(xs, True)
    (_, (_, z_attached)), attached = _jit_grad(loss, 0, static_argnums=1)(xs, False)
    np.testing.assert_array_equal(z_detached, z_attached)
    np.testing.assert_allclose(detached, ref["grad_xs"], rtol=1e-4, atol=1e-4)
    assert not np.allclose(attached, detached, rtol=1e-3)


def test_zero_reset_keeps_the_input_feed_forward_and_clears_it_recurrent():
    # snnTorch's Leaky zeroes the previous membrane; RLeaky zeroes the new one, input included.
    p = LeakyParameters(reset_mechanism="zero")
    mem, x = jnp.array([[1.5, 0.5]]), jnp.array([[0.3, 0.3]])
    _, ff = leaky_feed_forward_step(x, LeakyState(mem), p)
    eye, none = jnp.eye(2), jnp.zeros((2, 2))
    _, rec = leaky_step(x, LeakyRecurrentState(jnp.zeros_like(mem), mem), eye, none, p)
    np.testing.assert_allclose(ff.mem, [[0.3, 0.9 * 0.5 + 0.3]], rtol=1e-6)
    np.testing.assert_allclose(rec.mem, [[0.0, 0.9 * 0.5 + 0.3]], rtol=1e-6)


def test_reset_delay_false_resets_in_the_spiking_step():
    x = jnp.array([1.9])
    z, delayed = leaky_feed_forward_step(x, None)
    _, immediate = leaky_feed_forward_step(x, None, LeakyParameters(reset_delay=False))
    assert float(z[0]) == 1.0
    np.testing.assert_allclose(delayed.mem, [1.9])
    np.testing.assert_allclose(immediate.mem, [0.9], rtol=1e-6)
    # The next step does not reset again: the membrane was already lowered.
    _, after = leaky_feed_forward_step(jnp.zeros(1), immediate, LeakyParameters(reset_delay=False))
    np.testing.assert_allclose(after.mem, [0.81], rtol=1e-6)


def test_dt_is_ignored():
    xs = jax.random.uniform(jax.random.key(1), (20, 2, 3))
    runs = [run(lambda x, s: leaky_feed_forward_step(x, s, dt=dt), None, xs) for dt in (1e-3, 0.5)]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    np.testing.assert_array_equal(runs[0][0].mem, runs[1][0].mem)


def test_clip_decay_has_torch_clamp_gradient():
    beta = jnp.array([-0.2, 0.0, 0.4, 1.0, 1.3])
    np.testing.assert_allclose(clip_decay(beta), [0.0, 0.0, 0.4, 1.0, 1.0])
    # torch 2.14's clamp passes no gradient at the bounds; neither does clip_decay.
    np.testing.assert_allclose(jax.grad(lambda b: clip_decay(b).sum())(beta), [0, 0, 1, 0, 0])


def test_transforms_and_dtypes(model_checks):
    xs = jax.random.uniform(jax.random.key(0), (30, 4, 5))
    zs = model_checks.transforms(leaky_feed_forward_step, xs)
    assert 0 < float(np.asarray(zs).mean()) < 1
    model_checks.dtypes(leaky_feed_forward_step, xs)
    # The other branches of the reset, in bfloat16 too.
    p = LeakyParameters(reset_mechanism="zero", reset_delay=False)
    model_checks.dtypes(lambda x, s: leaky_feed_forward_step(x, s, p), xs)


def test_validation_errors():
    with pytest.raises(ValueError, match=r"LeakyParameters.reset_mechanism must be one of 'subtract', 'zero', 'none', got 'reset'"):
        LeakyParameters(reset_mechanism="reset")
    with pytest.raises(ValueError, match=r"LeakyParameters.reset_mechanism must be one of .*got None"):
        LeakyParameters(reset_mechanism=None)
    with pytest.raises(TypeError, match=r"LeakyParameters.reset_delay must be a bool, got int"):
        LeakyParameters(reset_delay=0)
    with pytest.raises(ValueError, match=r"method must be one of .*got unknown surrogate 'nope'"):
        LeakyParameters(method="nope")
    with pytest.raises(ValueError, match=r"dt must be positive, got 0.0"):
        leaky_feed_forward_step(jnp.ones(3), None, dt=0.0)
    with pytest.raises(ValueError, match=r"state.mem has shape \(2, 4\), expected \(2, 3\) \(the shape of input_tensor\)"):
        leaky_feed_forward_step(jnp.ones((2, 3)), LeakyState(jnp.zeros((2, 4))))
    with pytest.raises(ValueError, match=r"input_weights must have rank 2 with layout \(hidden, input\), got shape \(4,\)"):
        leaky_step(jnp.ones((2, 3)), None, jnp.ones(4), jnp.ones((4, 4)))
    with pytest.raises(ValueError, match=r"recurrent_weights has shape \(4, 3\), expected \(4, 4\)"):
        leaky_step(jnp.ones((2, 3)), None, jnp.ones((4, 3)), jnp.ones((4, 3)))
    with pytest.raises(ValueError, match=r"state.z has shape \(2, 5\), expected \(2, 4\)"):
        leaky_step(jnp.ones((2, 3)), LeakyRecurrentState(jnp.zeros((2, 5)), jnp.zeros((2, 5))),
                   jnp.ones((4, 3)), jnp.ones((4, 4)))
    with pytest.raises(TypeError, match=r"input_tensor must be an array, got list"):
        leaky_feed_forward_step([1.0, 2.0], None)


def test_parameters_are_traceable():
    # A traced beta is not checked and the step still compiles; 0.5 * 1.5 + 1 - 1 (subtract).
    state = LeakyState(jnp.full(3, 1.5))
    f = jax.jit(lambda beta: leaky_feed_forward_step(jnp.ones(3), state, LeakyParameters(beta=beta))[1].mem)
    np.testing.assert_allclose(f(0.5), 0.75, rtol=1e-6)
