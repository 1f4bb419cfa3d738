import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from spikejax.functional import (
    heaviside,
    register_surrogate,
    resolve_surrogate,
    sign,
    surrogate_gradient,
    surrogate_names,
    threshold,
)

POINTS = jnp.array([-2.0, -0.7, -0.1, 0.0, 0.05, 0.3, 1.0, 2.5])


def formula(name, x, a):
    """The backward derivative of each surrogate, written out independently in numpy."""
    x = np.asarray(x, np.float64)
    return {
        "super": 1 / (a * np.abs(x) + 1) ** 2,
        "triangle": a * np.maximum(0, 1 - np.abs(x)),
        "tanh": 1 - np.tanh(a * x) ** 2,
        "circ": 2 * a * (1 / (2 * np.sqrt(a**2 + x**2)) - x**2 / (2 * (a**2 + x**2) ** 1.5))
        if a > 0
        else None,
        "heavi_erfc": 2 * np.exp(-((a * x) ** 2)) / np.sqrt(np.pi),
        "heaviside": np.zeros_like(x),
        "atan": a / 2 / (1 + (np.pi / 2 * a * x) ** 2),
        "sigmoid": a * np.exp(-a * x) / (np.exp(-a * x) + 1) ** 2,
        "fast_sigmoid": 1 / (a * np.abs(x) + 1) ** 2,
        "straight_through": np.ones_like(x),
    }[name]


def test_forward_is_heaviside_strictly_above_zero():
    for name in surrogate_names():
        z = threshold(POINTS, name)
        np.testing.assert_array_equal(z, (np.asarray(POINTS) > 0).astype(np.float32))
        assert z.dtype == jnp.float32


@pytest.mark.parametrize("alpha", [0.1, 1000.0])
def test_superspike_at_one(alpha):
    g = jax.grad(lambda x: threshold(x, "super", alpha))(1.0)
    assert math.isclose(float(g), 1 / (alpha + 1) ** 2, rel_tol=1e-6)


@pytest.mark.parametrize("name", sorted(surrogate_names()))
@pytest.mark.parametrize("alpha", [None, 0.5, 3.0])
def test_every_surrogate_matches_its_formula(name, alpha):
    a = resolve_surrogate(name).default_alpha if alpha is None else alpha
    grads = jax.vmap(jax.grad(lambda x: threshold(x, name, alpha)))(POINTS)
    np.testing.assert_allclose(grads, formula(name, POINTS, a), rtol=2e-5, atol=1e-7)
    np.testing.assert_allclose(surrogate_gradient(name, POINTS, alpha), grads, rtol=1e-6)


def test_default_alphas_follow_norse_and_snntorch():
    assert resolve_surrogate("super").default_alpha == 100.0
    assert resolve_surrogate("atan").default_alpha == 2.0
    assert resolve_surrogate("sigmoid").default_alpha == 25.0


def test_callable_and_registered_surrogates():
    def box(x, alpha):
        return (jnp.abs(x) < alpha).astype(x.dtype)

    g = jax.vmap(jax.grad(lambda x: threshold(x, box, 0.5)))(POINTS)
    np.testing.assert_array_equal(g, (np.abs(np.asarray(POINTS)) < 0.5).astype(np.float32))
    register_surrogate("box_test", box, default_alpha=0.5)
    g2 = jax.vmap(jax.grad(lambda x: threshold(x, "box_test")))(POINTS)
    np.testing.assert_array_equal(g, g2)


def test_unknown_surrogate_name_is_a_clear_error():
    with pytest.raises(ValueError, match=r"method must be one of .*'super'.*got unknown surrogate 'supr'"):
        threshold(POINTS, "supr")
    with pytest.raises(TypeError, match="method must be a surrogate name or a callable"):
        threshold(POINTS, 3)
    with pytest.raises(TypeError, match="grad must be callable"):
        register_surrogate("bad", 1.0)


def test_dtypes_jit_and_sign():
    x = POINTS.astype(jnp.bfloat16)
    z = jax.jit(lambda x: threshold(x, "atan"))(x)
    assert z.dtype == jnp.bfloat16
    g = jax.grad(lambda x: threshold(x, "super").sum())(x)
    assert g.dtype == jnp.bfloat16 and np.all(np.isfinite(np.asarray(g, np.float32)))
    np.testing.assert_array_equal(sign(POINTS), 2 * (np.asarray(POINTS) > 0) - 1)
    assert heaviside(jnp.array([1, 0, -1])).dtype == jnp.float32


def test_forward_mode_and_second_use_under_scan():
    # custom_jvp supports forward mode (jvp) as well as reverse mode.
    _, tangent = jax.jvp(lambda x: threshold(x, "tanh", 2.0), (POINTS,), (jnp.ones_like(POINTS),))
    np.testing.assert_allclose(tangent, formula("tanh", POINTS, 2.0), rtol=1e-5, atol=1e-7)


# ---- NaN and infinity (issue 14) ----


@pytest.mark.parametrize("name", ["super", "atan", "straight_through", "heaviside", "sigmoid"])
def test_nan_gives_a_nan_spike_and_a_nan_gradient(name):
    x = jnp.array([jnp.nan, -0.5, 0.5])
    z = threshold(x, name)
    assert np.isnan(z[0]) and np.asarray(z[1:]).tolist() == [0.0, 1.0]
    g = jax.grad(lambda x: threshold(x, name).sum())(x)
    assert np.isnan(g[0])
    # Elsewhere the surrogate gradient is unchanged.
    np.testing.assert_allclose(g[1:], surrogate_gradient(name, x[1:]), rtol=1e-6)
    # sign() and jit keep the nan too.
    assert np.isnan(sign(x, name)[0]) and np.isnan(jax.jit(threshold, static_argnums=1)(x, name)[0])


@pytest.mark.parametrize("name", sorted(set(surrogate_names()) - {"straight_through"}))
def test_infinities_spike_like_any_distance_of_their_sign_with_zero_gradient(name):
    x = jnp.array([jnp.inf, -jnp.inf])
    np.testing.assert_array_equal(threshold(x, name), [1.0, 0.0])
    np.testing.assert_array_equal(jax.grad(lambda x: threshold(x, name).sum())(x), [0.0, 0.0])


def test_straight_through_passes_one_at_infinity():
    x = jnp.array([jnp.inf, -jnp.inf])
    np.testing.assert_array_equal(jax.grad(lambda x: threshold(x, "straight_through").sum())(x), [1, 1])


def test_sigmoid_surrogate_is_finite_far_below_threshold():
    # exp(-alpha x) overflowed for alpha x < -88 and the gradient was inf / inf = nan.
    x = jnp.array([-10.0, -4.0, 4.0, 10.0])
    g = jax.grad(lambda x: threshold(x, "sigmoid", 25.0).sum())(x)
    assert np.all(np.isfinite(g))
    expected = 25 * np.exp(-25 * np.abs(np.float64(x))) / (1 + np.exp(-25 * np.abs(np.float64(x)))) ** 2
    np.testing.assert_allclose(g, expected, rtol=1e-5, atol=1e-30)
    np.testing.assert_allclose(surrogate_gradient("sigmoid", x[::-1], 25.0), g, rtol=1e-6)  # even


def test_reset_to_is_the_product_form_with_its_gradient():
    from spikejax.functional import reset_to

    z = jnp.array([0.0, 1.0, 1.0, 0.0])
    v = jnp.array([0.4, 1.3, jnp.inf, -jnp.inf])
    out = reset_to(z, v, -0.2)
    # 0 * inf = nan where an infinite voltage spikes (loud, and the threshold keeps it).
    np.testing.assert_array_equal(out, np.float32([0.4, -0.2, np.nan, -np.inf]))
    assert np.isnan(reset_to(jnp.array(jnp.nan), 0.5, 0.0))

    def product(z, v, target):
        return (1 - z) * v + z * target

    finite = (jnp.array([0.0, 1.0]), jnp.array([0.4, 1.3]), jnp.array([-0.2, 0.1]))
    for argnum in range(3):
        got = jax.grad(lambda *a: reset_to(*a).sum(), argnums=argnum)(*finite)
        want = jax.grad(lambda *a: product(*a).sum(), argnums=argnum)(*finite)
        np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=f"argument {argnum}")
    # Through a surrogate spike the gradient of the reset is target - v.
    spike_reset = lambda x: reset_to(threshold(x, "straight_through"), x + 1.0, 0.0)
    assert float(jax.grad(spike_reset)(0.5)) == -1.5


def test_the_threshold_function_and_its_module_are_both_reachable():
    # The module of thresholds and surrogates is spikejax.functional.surrogate; the name
    # spikejax.functional.threshold is the function, which no module of that name hides.
    import importlib
    import types

    import spikejax.functional as F

    module = importlib.import_module("spikejax.functional.surrogate")
    assert isinstance(F.surrogate, types.ModuleType) and F.surrogate is module
    assert callable(F.threshold) and not isinstance(F.threshold, types.ModuleType)
    assert F.threshold is module.threshold and F.threshold.__module__ == module.__name__
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("spikejax.functional.threshold")
    # Every public name of the module is re-exported under the same object.
    assert all(getattr(F, name) is getattr(module, name) for name in module.__all__)
