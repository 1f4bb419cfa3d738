import jax
import jax.numpy as jnp
import numpy as np
import pytest

from spikejax.learn import (
    MaxRateClassifier,
    MaxRateState,
    max_rate_assignments,
    max_rate_init,
    max_rate_logits,
    max_rate_occurrences,
    max_rate_predict,
    max_rate_proportions,
    max_rate_update,
)


def test_hand_built_assignments_and_predictions():
    # Neurons 0, 1 fire for class 0; neuron 2 for class 1; neuron 3 mostly for class 2.
    rates = jnp.array(
        [[4.0, 2.0, 0.0, 0.0], [0.0, 0.0, 3.0, 1.0], [0.0, 0.0, 0.0, 3.0], [0.0, 1.0, 0.0, 0.0]]
    )
    state = max_rate_update(max_rate_init(4, 3), rates, jnp.array([0, 1, 2, 0]))
    # class 0 has two samples: its rates are their mean
    np.testing.assert_allclose(state.rates, [[2, 0, 0], [1.5, 0, 0], [0, 3, 0], [0, 1, 3]])
    np.testing.assert_array_equal(max_rate_assignments(state), [0, 0, 1, 2])
    np.testing.assert_array_equal(max_rate_occurrences(state), [2, 1, 1])
    np.testing.assert_allclose(max_rate_proportions(state)[3], [0, 0.25, 0.75])
    sample = jnp.array([[1.0, 1.0, 0.0, 4.0], [0.0, 0.0, 2.0, 0.0]])
    # logits: class 0 = (1 + 1) / 2, class 1 = 0, class 2 = 4 * 0.75 / 1
    np.testing.assert_allclose(max_rate_logits(state, sample), [[1.0, 0.0, 3.0], [0.0, 2.0, 0.0]])
    np.testing.assert_allclose(max_rate_logits(state, sample, proportional=False)[0], [1, 0, 4])
    np.testing.assert_array_equal(max_rate_predict(state, sample), [2, 1])


def test_decay_forgets_per_sample_of_each_class():
    state = MaxRateState(rates=jnp.array([[1.0, 1.0, 1.0]]))
    rates, labels = jnp.array([[0.0], [0.0], [0.0]]), jnp.array([0, 0, 1])
    new = max_rate_update(state, rates, labels, decay=0.5)
    # two samples of class 0, one of class 1, none of class 2 (kept as it was)
    np.testing.assert_allclose(new.rates, [[np.exp(-1.0), np.exp(-0.5), 1.0]], rtol=1e-6)
    np.testing.assert_allclose(max_rate_update(state, rates, labels).rates, state.rates)


def test_equal_to_inferno(reference):
    ref = reference("inferno")["classifier"]
    state = max_rate_init(8, 3)
    for name in ("batch0", "batch1", "batch2"):
        batch = ref[name]
        rates, labels = jnp.asarray(batch["rates"], jnp.float32), jnp.asarray(batch["labels"], jnp.int32)
        np.testing.assert_allclose(max_rate_logits(state, rates), batch["logits_before"], atol=1e-6)
        if name != "batch0":
            # Inferno derives assignments and occurrences only on the first update, so before it
            # its unweighted logits are 0; here silent neurons count for class 0 from the start
            # (as they do in Inferno after any update).
            plain = max_rate_logits(state, rates, proportional=False)
            np.testing.assert_allclose(plain, batch["logits_plain_before"], atol=1e-6)
        state = max_rate_update(state, rates, labels, decay=0.05)
        np.testing.assert_allclose(state.rates, batch["state_rates"], rtol=1e-5, atol=1e-7)
        np.testing.assert_array_equal(max_rate_assignments(state), batch["assignments"])
        np.testing.assert_array_equal(max_rate_occurrences(state), batch["occurrences"])
        np.testing.assert_allclose(max_rate_proportions(state), batch["proportions"], rtol=1e-5)
        np.testing.assert_allclose(max_rate_logits(state, rates), batch["logits_after"], rtol=1e-5)
        np.testing.assert_array_equal(max_rate_predict(state, rates), batch["predictions_after"])


def test_shapes_jit_empty_classes_and_the_stateful_wrapper():
    state = max_rate_init(5, 4)
    assert state.rates.shape == (5, 4)
    # Nothing learned: every neuron goes to class 0, every logit is 0, prediction 0.
    np.testing.assert_array_equal(max_rate_assignments(state), np.zeros(5))
    np.testing.assert_array_equal(max_rate_predict(state, jnp.ones((2, 5))), [0, 0])
    rates = jax.random.uniform(jax.random.key(0), (6, 5))
    labels = jnp.array([0, 1, 2, 3, 0, 1])
    update = jax.jit(lambda s, r, y: max_rate_update(s, r, y, decay=1e-6))
    jitted = update(state, rates, labels)
    np.testing.assert_allclose(jitted.rates, max_rate_update(state, rates, labels, decay=1e-6).rates)
    assert jax.jit(max_rate_predict)(jitted, rates).shape == (6,)

    classifier = MaxRateClassifier(5, 4, decay=1e-6)
    spikes = (jax.random.uniform(jax.random.key(1), (7, 6, 5)) < 0.3).astype(jnp.float32)
    first = classifier(spikes, labels)  # (T, B, N): averaged over time, predicted, then learned
    np.testing.assert_array_equal(first, np.zeros(6))  # predicted before learning anything
    np.testing.assert_allclose(
        classifier.state.rates, max_rate_update(state, spikes.mean(0), labels, decay=1e-6).rates
    )
    np.testing.assert_array_equal(classifier.assignments, max_rate_assignments(classifier.state))
    np.testing.assert_array_equal(classifier(spikes.mean(0)), classifier.predict(spikes.mean(0)))


@pytest.mark.parametrize(
    "make,error,match",
    [
        (lambda: max_rate_update(max_rate_init(3, 2), jnp.ones((2, 3)), jnp.array([0, 2])),
         ValueError, r"labels must lie in \[0, 1\] \(n_classes=2\), got values in \[0, 2\]"),
        (lambda: max_rate_update(max_rate_init(3, 2), jnp.ones((2, 3)), jnp.array([-1, 0])),
         ValueError, "labels must lie in"),
        (lambda: max_rate_update(max_rate_init(3, 2), jnp.ones((2, 4)), jnp.array([0, 1])),
         ValueError, r"rates has shape \(2, 4\), expected \(B, 3\)"),
        (lambda: max_rate_update(max_rate_init(3, 2), jnp.ones((2, 3)), jnp.array([0, 1, 1])),
         ValueError, r"labels has shape \(3,\), expected \(2,\)"),
        (lambda: max_rate_update(max_rate_init(3, 2), jnp.ones((2, 3)), jnp.array([0.0, 1.0])),
         TypeError, "labels must be integers"),
        (lambda: max_rate_update(max_rate_init(3, 2), jnp.ones((1, 3)), jnp.array([0]), decay=-1.0),
         ValueError, "decay must be non-negative and finite"),
        (lambda: max_rate_predict(max_rate_init(3, 2), jnp.ones(3)), ValueError, "rates must have rank 2"),
        (lambda: max_rate_predict(jnp.ones((3, 2)), jnp.ones((1, 3))), TypeError, "state must be a MaxRateState"),
        (lambda: max_rate_init(0, 2), ValueError, "n_neurons must be an int >= 1"),
        (lambda: MaxRateClassifier(3, 2, decay=-0.1), ValueError, "decay must be a non-negative number"),
    ],
)
def test_validation(make, error, match):
    with pytest.raises(error, match=match):
        make()
