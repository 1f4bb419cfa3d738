"""NaN and infinity in the dynamics (issue 14): nothing non-finite hides in the state.

* a NaN input gives NaN spikes in every model, so a loss over the spikes is NaN (it used to be
  finite while the gradients, and so the parameters, turned NaN);
* an infinite input spikes, and a finite reset value never turns it into NaN by ``0 * inf``;
  afterwards the neuron fires on every step or its spikes are NaN, never silently 0;
* :func:`check_finite` and :func:`find_nonfinite` tell where a non-finite value entered.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import checkify

from spikejax import functional as F

SPIKING = sorted(name for name, m in F.MODELS.items() if m.output_dtype_spikes)


def _run(model, xs, p=None):
    p = model.parameters() if p is None else p
    return F.run(lambda x, s: model.feed_forward_step(x, s, p), None, xs, record_states=True)


def test_one_nan_in_a_batch_makes_the_loss_nan_not_just_the_gradients():
    key_w, key_x = jax.random.split(jax.random.key(0))
    w = jax.random.normal(key_w, (4, 3)) * 0.8
    xs = jax.random.uniform(key_x, (30, 5, 3)) * 4.0
    xs = xs.at[7, 2, 1].set(jnp.nan)  # one bad pixel in one sample
    target = jnp.full((5, 4), 3.0)

    def loss(w):
        _, zs = F.run(F.lif_feed_forward_step, None, xs @ w.T)
        return jnp.mean((zs.sum(axis=0) - target) ** 2)

    value, grad = jax.jit(jax.value_and_grad(loss))(w)
    assert np.isnan(value), "the NaN must reach the loss, where training notices it"
    assert np.isnan(grad).any()
    # The other samples of the batch are untouched: their spikes stay 0 or 1.
    _, zs = F.run(F.lif_feed_forward_step, None, xs @ w.T)
    clean = np.delete(np.asarray(zs), 2, axis=1)
    assert set(np.unique(clean)) <= {0.0, 1.0}
    assert np.isnan(np.asarray(zs)[7:, 2]).all()


@pytest.mark.parametrize("name", SPIKING)
def test_a_nan_input_gives_nan_spikes_from_then_on_in_every_model(name):
    model = F.MODELS[name]
    xs = jnp.full((8, 2), model.example_drive).at[2, 0].set(jnp.nan)
    _, zs = jax.jit(lambda xs: _run(model, xs))(xs)
    zs = np.asarray(zs)
    assert not np.isnan(zs[:2]).any() and not np.isnan(zs[:, 1]).any()
    # LSNN adds its input current after the spike, so the NaN shows one step later.
    first = 3 if name == "LSNN" else 2
    assert np.isnan(zs[first:, 0]).all(), zs[:, 0]


@pytest.mark.parametrize("name", SPIKING)
def test_an_infinite_input_spikes_and_is_never_silenced(name):
    # +inf used to give one spike, then 0 * inf = NaN in the reset, then "no spike" forever.
    model = F.MODELS[name]
    xs = jnp.full((6, 1), jnp.inf)
    _, zs = jax.jit(lambda xs: _run(model, xs))(xs)
    zs = np.asarray(zs[:, 0])
    first = 1 if name == "LSNN" else 0  # LSNN's input reaches v one step later
    assert zs[first] == 1.0 or np.isnan(zs[first]), zs
    # From then on: a spike on every step or NaN spikes (loud), never a silent 0.
    assert np.all((zs[first:] == 1.0) | np.isnan(zs[first:])), zs


@pytest.mark.parametrize("name", ["LIFBox", "IAF", "LIF"])
def test_an_infinite_voltage_turns_nan_in_the_reset_and_stays_loud(name):
    # The reset is the plain product form (a select would cost ~20 % of a layer's time): a
    # spiking infinite voltage becomes nan (0 * inf), and the threshold keeps it from then on.
    model = F.MODELS[name]
    states, zs = _run(model, jnp.full((5, 2), jnp.inf))
    zs = np.asarray(zs)
    assert (zs[0] == 1.0).all(), zs
    assert np.isnan(zs[2:]).all(), zs
    assert np.isnan(np.asarray(states.v)).all()


def test_the_gradient_through_a_reset_at_infinity_is_nan_not_silently_finite():
    def f(v0):
        state = F.IAFFeedForwardState(v=v0)
        z, state = F.iaf_feed_forward_step(jnp.zeros(2), state, F.IAFParameters(method="atan"))
        return state.v.sum()

    g = np.asarray(jax.grad(f)(jnp.array([0.2, jnp.inf])))
    assert np.isfinite(g[0]) and np.isnan(g[1])


# ---- finding where a non-finite value came from ----


def test_check_finite_names_the_leaf_the_value_and_the_step():
    xs = jnp.ones((10, 2, 3)).at[4, 1, 2].set(jnp.inf)
    states, zs = F.run(F.lif_feed_forward_step, None, xs, record_states=True)
    with pytest.raises(FloatingPointError) as info:
        F.check_finite(states, "states", time_axis=0)
    message = str(info.value)
    # i jumps to inf at step 4 (inf - inf = nan after the decay) and v spikes there, resetting to
    # 0 * inf = nan: both at step 4, v named first.
    assert message.startswith("states.v is not finite: nan at step 4 (index (4, 1, 2))"), message
    assert "also not finite: states.i" in message
    finite_part = jax.tree.map(lambda a: a[:4], states)
    assert F.check_finite(finite_part, "states", time_axis=0) is finite_part


def test_check_finite_reports_the_earliest_step_across_leaves():
    tree = {"a": jnp.zeros((6, 2)).at[5, 0].set(jnp.nan), "b": jnp.zeros((6, 2)).at[2, 1].set(-jnp.inf)}
    with pytest.raises(FloatingPointError, match=r"^state\.b is not finite: -inf at step 2 \(index \(2, 1\)\)"):
        F.check_finite(tree, "state", time_axis=0)
    with pytest.raises(FloatingPointError, match=r"^state\.a is not finite: nan \(index \(5, 0\)\)"):
        F.check_finite(tree, "state")  # without a time axis: the first leaf in tree order
    with pytest.raises(FloatingPointError, match=r"^x is not finite: inf at step 17, 1 of 1 entries$"):
        F.check_finite(jnp.array(jnp.inf), "x", step=17)


def test_check_finite_passes_finite_trees_and_skips_non_float_leaves():
    tree = {"v": jnp.ones(3), "count": jnp.arange(3), "name": "lif", "n": 4}
    assert F.check_finite(tree, "state") is tree
    with pytest.raises(TypeError, match=r"name must be a str, got int"):
        F.check_finite(tree, 3)


def test_check_finite_under_jit_is_a_checkify_check():
    def forward(xs):
        final, zs = F.run(F.lif_feed_forward_step, None, xs)
        F.check_finite(final, "final")
        return zs

    xs = jnp.ones((5, 1, 2))
    err, _ = checkify.checkify(jax.jit(forward))(xs)
    assert err.get() is None
    err, _ = checkify.checkify(jax.jit(forward))(xs.at[2, 0, 1].set(jnp.nan))
    assert err.get().startswith("final.v is not finite at flat index 1")


def test_check_finite_inside_a_scan_names_the_step():
    def step(state, x):
        z, state = F.lif_feed_forward_step(x[1], state)
        F.check_finite(state, "state", step=x[0])
        return state, z

    xs = jnp.ones((6, 2)).at[3, 1].set(jnp.nan)
    run = checkify.checkify(lambda xs: jax.lax.scan(step, F.lif_feed_forward_state((2,)), (jnp.arange(6), xs)))
    err, _ = jax.jit(run)(xs)
    assert "is not finite at step 3" in err.get()


def test_find_nonfinite_works_under_jit_and_vmap():
    state = F.LIFFeedForwardState(v=jnp.array([[0.1, jnp.nan], [0.1, 0.2]]), i=jnp.zeros((2, 2)))
    found = jax.jit(F.find_nonfinite)(state)
    assert isinstance(found, F.LIFFeedForwardState)
    assert bool(found.v) and not bool(found.i)
    per_sample = jax.vmap(F.find_nonfinite)(state)
    np.testing.assert_array_equal(per_sample.v, [True, False])
    assert jax.tree.leaves(F.find_nonfinite({"k": jnp.arange(3)})) == [False]
