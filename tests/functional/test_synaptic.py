import jax
import jax.numpy as jnp
import numpy as np
import pytest

from spikejax.functional import (
    LeakyParameters,
    SynapticParameters,
    SynapticRecurrentState,
    SynapticState,
    leaky_feed_forward_step,
    run,
    synaptic_feed_forward_step,
    synaptic_step,
)

MECHANISMS = ["subtract", "zero", "none"]


def _params(case, name):
    options = name.split("/")
    return SynapticParameters(
        alpha_syn=jnp.asarray(case["alpha_syn"], jnp.float32),
        beta=jnp.asarray(case["beta"], jnp.float32),
        v_th=jnp.asarray(case["threshold"], jnp.float32),  # snnTorch's threshold
        reset_mechanism=options[0],
        reset_delay="no_delay" not in options,
    )


def _jit_grad(loss, argnums, **jit_options):
    # One compiled program is several times cheaper than differentiating the scan eagerly.
    return jax.jit(jax.value_and_grad(loss, argnums, has_aux=True), **jit_options)


def _loss(step, xs, *args):
    states, zs = run(lambda x, s: step(x, s, *args), None, xs, record_states=True)
    return jnp.sum(states.mem) + jnp.sum(zs), (states, zs)


def _compare(ref, states, zs, grads, p_grad):
    np.testing.assert_array_equal(zs, ref["spk"])
    assert 0 < float(zs.mean()) < 1
    np.testing.assert_allclose(states.syn, ref["syn"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(states.mem, ref["mem"], rtol=1e-5, atol=1e-5)
    grads = dict(grads, alpha_syn=p_grad.alpha_syn, beta=p_grad.beta, threshold=p_grad.v_th)
    for name, value in grads.items():
        np.testing.assert_allclose(value, ref[f"grad_{name}"], rtol=1e-4, atol=1e-4, err_msg=name)


@pytest.mark.parametrize("name", MECHANISMS + ["subtract/no_delay", "zero/no_delay"])
def test_feed_forward_equals_snntorch(reference, name):
    ref = reference("snntorch")[f"synaptic/{name}"]
    xs, p = jnp.asarray(ref["xs"], jnp.float32), _params(ref, name)
    loss = lambda xs, p: _loss(synaptic_feed_forward_step, xs, p)
    (_, (states, zs)), (g_xs, g_p) = _jit_grad(loss, (0, 1))(xs, p)
    _compare(ref, states, zs, {"xs": g_xs}, g_p)


@pytest.mark.parametrize("name", MECHANISMS)
def test_recurrent_equals_snntorch_rsynaptic(reference, name):
    ref = reference("snntorch")[f"rsynaptic/{name}"]
    p = _params(ref, name)
    xs, w_in, w_rec = (jnp.asarray(ref[k], jnp.float32) for k in ("xs", "input_weights", "recurrent_weights"))
    loss = lambda xs, w_in, w_rec, p: _loss(synaptic_step, xs, w_in, w_rec, p)
    (_, (states, zs)), grads = _jit_grad(loss, (0, 1, 2, 3))(xs, w_in, w_rec, p)
    np.testing.assert_array_equal(states.z, zs)
    names = ("xs", "input_weights", "recurrent_weights")
    _compare(ref, states, zs, dict(zip(names, grads[:3])), grads[3])


def test_detach_reset_changes_only_the_gradient(reference):
    ref = reference("snntorch")["synaptic/zero"]
    xs, p = jnp.asarray(ref["xs"], jnp.float32), _params(ref, "zero")

    def loss(xs, detach_reset):
        step = lambda x, s, p: synaptic_feed_forward_step(x, s, p, detach_reset=detach_reset)
        return _loss(step, xs, p)

    (_, (_, z_detached)), detached = _jit_grad(loss, 0, static_argnums=1)(xs, True)
    (_, (_, z_attached)), attached = _jit_grad(loss, 0, static_argnums=1)(xs, False)
    np.testing.assert_array_equal(z_detached, z_attached)
    assert not np.allclose(attached, detached, rtol=1e-3)


def test_zero_reset_clears_the_membrane_but_not_the_current():
    p = SynapticParameters(reset_mechanism="zero")
    state = SynapticState(syn=jnp.array([0.5, 0.5]), mem=jnp.array([1.5, 0.5]))
    _, new = synaptic_feed_forward_step(jnp.array([0.1, 0.1]), state, p)
    np.testing.assert_allclose(new.syn, [0.55, 0.55], rtol=1e-6)
    np.testing.assert_allclose(new.mem, [0.0, 0.8 * 0.5 + 0.55], rtol=1e-6)


def test_without_synaptic_memory_it_is_a_leaky_neuron_driven_by_its_input():
    # alpha_syn = 0 makes syn = input; for "subtract" the membrane is then exactly Leaky's.
    xs = jax.random.uniform(jax.random.key(2), (25, 2, 3)) * 0.6
    _, z_syn = run(lambda x, s: synaptic_feed_forward_step(x, s, SynapticParameters(alpha_syn=0.0)), None, xs)
    _, z_leaky = run(lambda x, s: leaky_feed_forward_step(x, s, LeakyParameters(beta=0.8)), None, xs)
    assert 0 < float(z_syn.mean()) < 1
    np.testing.assert_array_equal(z_syn, z_leaky)


def test_dt_is_ignored():
    xs = jax.random.uniform(jax.random.key(1), (20, 2, 3)) * 0.2
    runs = [run(lambda x, s: synaptic_feed_forward_step(x, s, dt=dt), None, xs) for dt in (1e-3, 0.5)]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    np.testing.assert_array_equal(runs[0][0].mem, runs[1][0].mem)


def test_transforms_and_dtypes(model_checks):
    xs = jax.random.uniform(jax.random.key(0), (30, 4, 5)) * 0.2
    zs = model_checks.transforms(synaptic_feed_forward_step, xs)
    assert 0 < float(np.asarray(zs).mean()) < 1
    model_checks.dtypes(synaptic_feed_forward_step, xs)
    p = SynapticParameters(reset_mechanism="zero", reset_delay=False)
    model_checks.dtypes(lambda x, s: synaptic_feed_forward_step(x, s, p), xs)


def test_validation_errors():
    with pytest.raises(ValueError, match=r"SynapticParameters.reset_mechanism must be one of 'subtract', 'zero', 'none', got 'Zero'"):
        SynapticParameters(reset_mechanism="Zero")
    with pytest.raises(TypeError, match=r"SynapticParameters.reset_delay must be a bool, got str"):
        SynapticParameters(reset_delay="yes")
    with pytest.raises(ValueError, match=r"method must be one of .*got unknown surrogate 'nope'"):
        SynapticParameters(method="nope")
    with pytest.raises(ValueError, match=r"dt must be positive, got -1.0"):
        synaptic_feed_forward_step(jnp.ones(3), None, dt=-1.0)
    with pytest.raises(ValueError, match=r"state.syn has shape \(3,\), expected \(2, 3\) \(the shape of input_tensor\)"):
        synaptic_feed_forward_step(jnp.ones((2, 3)), SynapticState(jnp.zeros(3), jnp.zeros((2, 3))))
    with pytest.raises(ValueError, match=r"input_tensor has shape \(2, 5\), expected last axis 3"):
        synaptic_step(jnp.ones((2, 5)), None, jnp.ones((4, 3)), jnp.ones((4, 4)))
    with pytest.raises(ValueError, match=r"input_weights must have rank 2 with layout \(hidden, input\)"):
        synaptic_step(jnp.ones((2, 3)), None, jnp.ones((1, 4, 3)), jnp.ones((4, 4)))
    state = SynapticRecurrentState(jnp.zeros((2, 4)), jnp.zeros((2, 4)), jnp.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"state.mem has shape \(2, 5\), expected \(2, 4\) \(the shape of the recurrent current\)"):
        synaptic_step(jnp.ones((2, 3)), state, jnp.ones((4, 3)), jnp.ones((4, 4)))
    with pytest.raises(TypeError, match=r"input_tensor must be an array, got tuple"):
        synaptic_feed_forward_step((1.0, 2.0), None)
