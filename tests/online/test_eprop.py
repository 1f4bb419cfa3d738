"""e-prop against autodiff: the online gradient equals the gradient of the same network with the
previous spikes stopped where they enter the recurrent current (all else kept), for several
neuron models, input and recurrent weights, symmetric and random feedback; full BPTT differs."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import pytest

from spikejax import functional as F
from spikejax.online import eprop_gradients, eprop_init, eprop_step, li_readout

T, B, I, H, K = 50, 2, 3, 5, 2

# name -> (recurrent step, parameters, rest state, input scale, recurrent scale)
MODELS = {
    # LIF: Norse's recurrent default detaches the reset.
    "lif": (F.lif_step, F.LIFParameters(v_th=0.3, alpha=5.0), F.lif_state, 4.0, 3.0),
    # LSNN: the threshold jump (and reset) keep their gradient: the neuron's own dependence.
    "lsnn": (functools.partial(F.lsnn_step, detach_reset=False),
             F.LSNNParameters(v_th=0.3, beta=0.5, tau_adapt_inv=50.0, alpha=5.0), F.lsnn_state, 6.0, 3.0),
    # ALIF: reset detached, adaptation (theta += d z) kept: the combination the paper uses.
    "alif": (F.alif_step, F.ALIFParameters(spike_increment=2.0, tc_membrane=10.0, refrac_t=0.0,
                                           tc_adaptation=50.0, alpha=1.0),
             F.alif_state, 150.0, 40.0),
    # AdEx: subthreshold and spike-triggered adaptation current.
    "adex": (F.lif_adex_step, F.LIFAdExParameters(v_th=0.5, adaptation_spike=0.5, tau_ada_inv=50.0,
                                                    alpha=5.0), F.lif_adex_state, 6.0, 3.0),
    # Izhikevich (mV, its own reset to c and recovery jump d).
    "izhikevich": (F.izhikevich_recurrent_step, F.IzhikevichParameters(alpha=0.5), F.izhikevich_state,
                   150.0, 30.0),
}


def network(dtype, input_scale, recurrent_scale, seed=1):
    keys = jax.random.split(jax.random.key(seed), 5)
    params = {
        "input_weights": jax.random.normal(keys[0], (H, I), dtype) * input_scale,
        "recurrent_weights": jax.random.normal(keys[1], (H, H), dtype) * recurrent_scale,
        "readout_weights": jax.random.normal(keys[2], (K, H), dtype),
        "readout_bias": jax.random.normal(keys[3], (K,), dtype),
    }
    xs = jax.random.bernoulli(keys[4], 0.4, (T, B, I)).astype(dtype)
    targets = jax.random.normal(jax.random.key(seed + 7), (T, B, K), dtype)
    return params, xs, targets


def squared_error(y, target):
    return 0.5 * jnp.sum((y - target) ** 2)


def autodiff_gradient(params, xs, targets, step, p, neuron_state, *, eprop_graph=True,
                      readout_step=None, feedback=None):
    """jax.grad of the summed loss; with ``eprop_graph`` the previous spikes are stopped where
    they enter the recurrent current (passed as extra inputs of weights [W_in, W_rec])."""
    readout_step = readout_step or li_readout()

    def loss_fn(params):
        w_in, w_rec = params["input_weights"], params["recurrent_weights"]
        w_both = jnp.concatenate([w_in, w_rec], axis=1)

        def body(carry, inputs):
            state, readout = carry
            x, target = inputs
            if eprop_graph:
                x_both = jnp.concatenate([x, jax.lax.stop_gradient(state.z)], axis=-1)
                z, state = step(x_both, state, w_both, jnp.zeros_like(w_rec), p, 1e-3)
            else:
                z, state = step(x, state, w_in, w_rec, p, 1e-3)
            u = read(z, params["readout_weights"], feedback) + params["readout_bias"]
            y, readout = readout_step(u, readout)
            return (state, readout), squared_error(y, target)

        rest = readout_step(jnp.zeros((B, K), xs.dtype), None)[1]
        _, losses = jax.lax.scan(body, (neuron_state, rest), (xs, targets))
        return losses.sum()

    return jax.grad(loss_fn)(params)


def read(z, w_out, feedback):
    return z @ w_out.T if feedback is None else feedback_readout(z, w_out, feedback)


@jax.custom_vjp
def feedback_readout(z, w_out, feedback):
    """``z @ w_out.T`` whose backward pass carries the error to ``z`` through ``feedback``."""
    return z @ w_out.T


def _feedback_forward(z, w_out, feedback):
    return z @ w_out.T, (z, feedback)


def _feedback_backward(residuals, g):
    z, feedback = residuals
    return g @ feedback, g.T @ z, jnp.zeros_like(feedback)


feedback_readout.defvjp(_feedback_forward, _feedback_backward)


def relative_error(a, b):
    return float(jnp.linalg.norm(a - b) / jnp.linalg.norm(b))


def compare(name, dtype, tolerance, feedback_seed=None):
    step, p, rest, input_scale, recurrent_scale = MODELS[name]
    params, xs, targets = network(dtype, input_scale, recurrent_scale)
    neuron_state = rest((B, H), p, dtype)
    feedback = None
    if feedback_seed is not None:
        feedback = jax.random.normal(jax.random.key(feedback_seed), (K, H), dtype)
    online = eprop_gradients(params, xs, targets, step=step, p=p, loss_step=squared_error,
                             neuron_state=neuron_state, feedback=feedback)
    exact = autodiff_gradient(params, xs, targets, step, p, neuron_state, feedback=feedback)
    full = autodiff_gradient(params, xs, targets, step, p, neuron_state, eprop_graph=False,
                             feedback=feedback)
    # Not vacuous: the neurons spike, and full BPTT (the recurrent dependencies kept) differs.
    spikes = jax.lax.scan(lambda s, x: step(x, s, params["input_weights"],
                                            params["recurrent_weights"], p, 1e-3)[::-1],
                          neuron_state, xs)[1]
    assert 0.05 < float(spikes.mean()) < 0.7, f"{name}: spike rate {float(spikes.mean())}"
    for key in exact:
        error = relative_error(online.grads[key], exact[key])
        assert error < tolerance, f"{name} {key}: e-prop vs autodiff relative error {error:.2e}"
    for key in ("input_weights", "recurrent_weights"):
        assert relative_error(full[key], exact[key]) > 1e-2, f"{name} {key}: BPTT equals e-prop"
    return online, exact


@pytest.mark.parametrize("name", [
    pytest.param(name, marks=() if name == "lsnn" else pytest.mark.slow) for name in sorted(MODELS)])
def test_eprop_equals_autodiff_with_stopped_recurrence_float32(name):
    compare(name, jnp.float32, 1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MODELS))
def test_eprop_equals_autodiff_with_stopped_recurrence_float64(name):
    with jax.enable_x64(True):
        compare(name, jnp.float64, 1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lsnn", "alif"])
def test_random_feedback_equals_autodiff_of_a_feedback_readout(name):
    online, exact = compare(name, jnp.float32, 1e-5, feedback_seed=3)
    symmetric, _ = compare(name, jnp.float32, 1e-5)
    # The feedback matrix changes the learning signal, so the hidden weights' gradient.
    assert relative_error(online.grads["input_weights"], symmetric.grads["input_weights"]) > 0.1
