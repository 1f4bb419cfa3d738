"""Checks that every neuron model's modules must pass; new models are picked up automatically."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import importlib
from spikejax.functional import MODELS
from spikejax.nn import MODULES

surrogate_module = importlib.import_module("spikejax.functional.surrogate")
T, B, N_IN, N = 100, 2, 3, 4


def drive(model, shape, seed=0):
    return jax.random.uniform(jax.random.key(seed), shape) * 2 * MODELS[model].example_drive


def build(model, kind, **kwargs):
    cls = MODULES[model][kind]
    if kind in ("RecurrentCell", "Recurrent"):
        return cls(N_IN, N, rngs=nnx.Rngs(0), **kwargs)
    return cls(**kwargs)


def cases():
    for model, classes in sorted(MODULES.items()):
        for kind in ("Layer", "Recurrent"):
            if kind in classes:
                yield pytest.param(model, kind, id=f"{model}-{kind}")


def test_every_model_has_its_module_variants():
    assert set(MODULES) == set(MODELS)
    for name, model in MODELS.items():
        expected = {"Cell", "Layer"} | ({"RecurrentCell", "Recurrent"} if model.recurrent_step else set())
        assert set(MODULES[name]) == expected, name


@pytest.mark.parametrize("model,kind", list(cases()))
def test_gradients_over_100_steps_are_finite_and_nonzero(model, kind):
    module = build(model, kind)
    n_in = N_IN if kind == "Recurrent" else N
    xs = drive(model, (T, B, n_in))

    def loss(module, xs):
        out, state = module(xs)
        return jnp.sum(out * jnp.linspace(0.5, 1.5, out.shape[-1]))

    grads, x_grad = nnx.grad(loss, argnums=(0, 1))(module, xs)
    leaves = [x_grad] + jax.tree_util.tree_leaves(grads)
    for leaf in leaves:
        assert np.all(np.isfinite(np.asarray(leaf)))
    assert np.any(np.asarray(x_grad) != 0), "no gradient reaches the input"
    if kind == "Recurrent":
        assert np.any(np.asarray(grads.recurrent_weights[...]) != 0)


def _relaxed(x, alpha, grad_fn):
    # A smooth stand-in for the Heaviside forward: then autodiff gives the exact gradient,
    # which finite differences can check.
    return 0.5 * (1 + jnp.tanh(3.0 * x))


@pytest.mark.parametrize("model,kind", list(cases()))
def test_gradients_match_finite_differences_of_a_smooth_relaxation(model, kind, monkeypatch):
    monkeypatch.setattr(surrogate_module, "_spike", _relaxed)
    step = MODELS[model].recurrent_step if kind == "Recurrent" else MODELS[model].feed_forward_step
    # The true gradient of the relaxed model lets gradients flow through the reset.
    options = {"detach_reset": False} if "detach_reset" in inspect.signature(step).parameters else {}
    module = build(model, kind, **options)
    n_in = N_IN if kind == "Recurrent" else N
    with jax.enable_x64(True):
        xs = np.asarray(drive(model, (T, B, n_in)), np.float64)
        direction = np.asarray(jax.random.normal(jax.random.key(3), xs.shape), np.float64)

        def loss(xs):
            out, _ = module(jnp.asarray(xs))
            return jnp.sum(out * jnp.linspace(0.5, 1.5, out.shape[-1])) / out.size

        grad = np.asarray(jax.grad(loss)(jnp.asarray(xs)))
        eps = 1e-6
        fd = (float(loss(xs + eps * direction)) - float(loss(xs - eps * direction))) / (2 * eps)
        analytic = float(np.sum(grad * direction))
    assert abs(analytic) > 1e-8, "the directional derivative is zero: nothing is tested"
    np.testing.assert_allclose(analytic, fd, rtol=1e-4, atol=1e-9)
