import jax
import jax.numpy as jnp
import numpy as np
import pytest

from spikejax.functional import (
    accuracy,
    accuracy_first_spike,
    accuracy_max_membrane,
    accuracy_rate,
    ce_count_loss,
    ce_first_spike_loss,
    ce_max_membrane_loss,
    ce_rate_loss,
    cross_entropy,
    first_spike_time_surrogate,
    mse_count_loss,
)

T, B, C = 5, 3, 4
RNG = np.random.default_rng(0)
SPIKES = (RNG.random((T, B, C)) < 0.4).astype(np.float32)
VOLTAGES = RNG.normal(size=(T, B, C)).astype(np.float32)
LABELS = np.array([0, 3, 1])
ONE_HOT = np.eye(C, dtype=np.float32)[LABELS]


def np_ce(logits, labels):
    """Per-sample cross-entropy, log-sum-exp minus the true logit."""
    logits = np.asarray(logits, np.float64)
    top = logits.max(-1, keepdims=True)
    lse = np.log(np.exp(logits - top).sum(-1)) + top[:, 0]
    return lse - logits[np.arange(len(labels)), labels]


def np_softmax(logits):
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_cross_entropy_by_hand_with_each_reduction_and_one_hot_labels():
    logits = np.array([[1.0, 2.0, 0.0], [0.5, -1.0, 3.0]], np.float32)
    labels = np.array([1, 0])
    # log(e + e^2 + 1) - 2 and log(e^0.5 + e^-1 + e^3) - 0.5
    by_hand = np.array(
        [np.log(np.e + np.e**2 + 1) - 2, np.log(np.exp(0.5) + np.exp(-1) + np.exp(3)) - 0.5]
    )
    np.testing.assert_allclose(cross_entropy(logits, labels, reduction="none"), by_hand, rtol=1e-6)
    np.testing.assert_allclose(cross_entropy(logits, labels), by_hand.mean(), rtol=1e-6)
    np.testing.assert_allclose(cross_entropy(logits, labels, reduction="sum"), by_hand.sum(), rtol=1e-6)
    one_hot = np.eye(3, dtype=np.float32)[labels]
    np.testing.assert_allclose(cross_entropy(logits, one_hot), by_hand.mean(), rtol=1e-6)


def test_ce_rate_loss_value_and_gradient():
    scale = 3.0
    expected = np_ce(scale * SPIKES.mean(0), LABELS)
    np.testing.assert_allclose(
        ce_rate_loss(SPIKES, LABELS, scale=scale, reduction="none"), expected, rtol=1e-5
    )
    grad = jax.grad(lambda s: ce_rate_loss(s, LABELS, scale=scale))(jnp.asarray(SPIKES))
    # d mean_b CE / d z_tbc = scale / T * (softmax - onehot) / B at every step.
    dlogits = (np_softmax(scale * SPIKES.mean(0)) - ONE_HOT) / B
    np.testing.assert_allclose(grad, np.broadcast_to(scale / T * dlogits, SPIKES.shape), atol=1e-6)


def test_ce_rate_loss_per_step_is_snntorchs_mean_of_per_step_cross_entropies():
    per_step = np.stack([np_ce(2.0 * SPIKES[t], LABELS) for t in range(T)])
    np.testing.assert_allclose(
        ce_rate_loss(SPIKES, LABELS, scale=2.0, per_step=True, reduction="none"),
        per_step.mean(0),
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        ce_rate_loss(SPIKES, LABELS, per_step=True), np.mean([np_ce(s, LABELS) for s in SPIKES]), rtol=1e-5
    )
    grad = jax.grad(lambda s: ce_rate_loss(s, LABELS, per_step=True))(jnp.asarray(SPIKES))
    expected = np.stack([(np_softmax(s) - ONE_HOT) / (B * T) for s in SPIKES])
    np.testing.assert_allclose(grad, expected, atol=1e-6)


def test_ce_count_loss_value_and_gradient():
    counts = SPIKES.sum(0)
    np.testing.assert_allclose(ce_count_loss(SPIKES, LABELS, reduction="sum"), np_ce(counts, LABELS).sum(), rtol=1e-5)
    grad = jax.grad(lambda s: ce_count_loss(s, LABELS, scale=0.5))(jnp.asarray(SPIKES))
    dlogits = 0.5 * (np_softmax(0.5 * counts) - ONE_HOT) / B
    np.testing.assert_allclose(grad, np.broadcast_to(dlogits, SPIKES.shape), atol=1e-6)


def test_ce_max_membrane_loss_value_and_gradient_at_the_maximum_only():
    np.testing.assert_allclose(
        ce_max_membrane_loss(VOLTAGES, LABELS), np_ce(VOLTAGES.max(0), LABELS).mean(), rtol=1e-5
    )
    grad = np.asarray(jax.grad(lambda v: ce_max_membrane_loss(v, LABELS))(jnp.asarray(VOLTAGES)))
    at_max = VOLTAGES == VOLTAGES.max(0, keepdims=True)
    dlogits = (np_softmax(VOLTAGES.max(0)) - ONE_HOT) / B
    np.testing.assert_allclose(grad, np.where(at_max, dlogits, 0.0), atol=1e-6)
    # Central differences agree (the maximum is unique with random voltages).
    eps, (t, b, c) = 1e-2, np.unravel_index(np.argmax(at_max), at_max.shape)
    bump = np.zeros_like(VOLTAGES)
    bump[t, b, c] = eps
    fd = (ce_max_membrane_loss(VOLTAGES + bump, LABELS) - ce_max_membrane_loss(VOLTAGES - bump, LABELS)) / (2 * eps)
    np.testing.assert_allclose(fd, grad[t, b, c], rtol=1e-2, atol=1e-4)


def test_mse_count_loss_matches_snntorch_semantics_by_hand():
    # T = 5: targets int(5 * 0.7) = 3 for the true class and int(5 * 0.3) = 1 for the others.
    targets = np.where(ONE_HOT > 0, 3.0, 1.0)
    entries = (SPIKES.sum(0) - targets) ** 2 / T
    loss = lambda s, **kw: mse_count_loss(s, LABELS, correct_rate=0.7, incorrect_rate=0.3, **kw)
    np.testing.assert_allclose(loss(SPIKES, reduction="none"), entries, rtol=1e-6)
    np.testing.assert_allclose(loss(SPIKES), entries.mean(), rtol=1e-6)
    np.testing.assert_allclose(loss(SPIKES, reduction="sum"), entries.sum(), rtol=1e-6)
    grad = jax.grad(loss)(jnp.asarray(SPIKES))
    expected = 2 * (SPIKES.sum(0) - targets) / T / (B * C)
    np.testing.assert_allclose(grad, np.broadcast_to(expected, SPIKES.shape), atol=1e-6)
    np.testing.assert_allclose(
        mse_count_loss(SPIKES, ONE_HOT, correct_rate=0.7, incorrect_rate=0.3), entries.mean(), rtol=1e-6
    )


FIRST = np.array([[0, 1, 0, 1], [0, 0, 0, 1], [1, 0, 0, 1], [0, 0, 0, 0]], np.float32)  # (T, N)


@pytest.mark.parametrize("method", ["survival", "straight_through"])
def test_first_spike_time_value_with_silent_neurons_at_T(method):
    np.testing.assert_array_equal(first_spike_time_surrogate(FIRST, method=method), [2, 0, 4, 0])


def test_survival_gradient_is_the_exact_change_when_one_spike_flips():
    grad = np.asarray(jax.grad(lambda s: first_spike_time_surrogate(s).sum())(jnp.asarray(FIRST)))
    base = np.asarray(first_spike_time_surrogate(FIRST))
    for t, n in np.ndindex(FIRST.shape):
        flipped = FIRST.copy()
        flipped[t, n] = 1.0 - flipped[t, n]
        # Multilinear: the derivative is the difference from z=0 to z=1 in that one entry.
        change = np.asarray(first_spike_time_surrogate(flipped))[n] - base[n]
        np.testing.assert_allclose(grad[t, n], change if FIRST[t, n] == 0 else -change, err_msg=(t, n))


def test_straight_through_gradient_is_minus_one_at_the_first_spike_or_last_step():
    grad = jax.grad(lambda s: first_spike_time_surrogate(s, method="straight_through").sum())(jnp.asarray(FIRST))
    expected = np.zeros_like(FIRST)
    expected[2, 0] = expected[0, 1] = expected[3, 2] = expected[0, 3] = -1.0
    np.testing.assert_array_equal(grad, expected)


@pytest.mark.parametrize("method", ["survival", "straight_through"])
def test_ce_first_spike_loss_value_and_gradient(method):
    spikes = jnp.asarray(SPIKES)
    times = np.asarray(first_spike_time_surrogate(spikes))
    np.testing.assert_allclose(
        ce_first_spike_loss(spikes, LABELS, scale=0.5, method=method, reduction="none"),
        np_ce(-0.5 * times, LABELS),
        rtol=1e-5,
    )
    grad = jax.grad(lambda s: ce_first_spike_loss(s, LABELS, scale=0.5, method=method))(spikes)
    time_grad = jax.jacrev(lambda s: first_spike_time_surrogate(s, method=method))(spikes)  # (B, C, T, B, C)
    dtimes = -0.5 * (np_softmax(-0.5 * times) - ONE_HOT) / B
    np.testing.assert_allclose(grad, np.einsum("bc,bctxy->txy", dtimes, time_grad), atol=1e-6)
    assert np.any(np.asarray(grad) != 0)


def test_accuracy_helpers_by_hand():
    spikes = np.zeros((3, 2, 3), np.float32)
    spikes[:, 0, 2] = 1  # sample 0: class 2 fires most, at t=0
    spikes[2, 0, 0] = 1
    spikes[1, 1, 1] = 1  # sample 1: class 1 alone
    labels = np.array([2, 0])
    assert float(accuracy_rate(spikes, labels)) == 0.5
    assert float(accuracy_first_spike(spikes, labels)) == 0.5
    assert float(accuracy_first_spike(spikes, np.array([2, 1]))) == 1.0
    np.testing.assert_allclose(accuracy_max_membrane(VOLTAGES, VOLTAGES.max(0).argmax(-1)), 1.0)
    logits = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]], np.float32)
    assert float(accuracy(logits, np.array([1, 1, 1]))) == pytest.approx(2 / 3)
    assert float(accuracy(logits, np.eye(2)[[1, 0, 0]])) == pytest.approx(2 / 3)
    # Silent outputs tie at T: the lowest class index wins, as in snnTorch.
    assert float(accuracy_first_spike(np.zeros((3, 1, 2)), np.array([0]))) == 1.0


def test_losses_under_jit_and_in_bfloat16():
    spikes = jnp.asarray(SPIKES)
    for loss in (ce_rate_loss, ce_count_loss, ce_first_spike_loss, mse_count_loss, ce_max_membrane_loss):
        eager = loss(spikes, LABELS)
        np.testing.assert_allclose(jax.jit(loss)(spikes, jnp.asarray(LABELS)), eager, rtol=1e-6)
        low = loss(spikes.astype(jnp.bfloat16), LABELS)
        assert low.dtype == jnp.float32 and np.isfinite(low)
        grad = jax.grad(lambda s: loss(s, LABELS))(spikes.astype(jnp.bfloat16))
        assert grad.dtype == jnp.bfloat16 and np.all(np.isfinite(np.asarray(grad, np.float32)))


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: ce_count_loss(SPIKES[0], LABELS), ValueError, r"spikes must have rank 3 with layout \(T, B, C\), got shape \(3, 4\)"),
        (lambda: ce_max_membrane_loss(VOLTAGES[None], LABELS), ValueError, r"voltages must have rank 3 .* got shape \(1, 5, 3, 4\)"),
        (lambda: ce_rate_loss(SPIKES, LABELS[:2]), ValueError, r"labels has shape \(2,\), expected \(3,\) \(\(B,\): one class index"),
        (lambda: ce_rate_loss(SPIKES, LABELS, per_step=True, reduction="max"), ValueError, r"reduction must be one of .*'max'"),
        (lambda: ce_count_loss(SPIKES, np.array([0, 4, 1])), ValueError, r"labels must be class indices in \[0, 3\] for 4 classes .*got labels\[1\] = 4$"),
        (lambda: ce_count_loss(SPIKES, np.array([0, -1, 1])), ValueError, r"got labels\[1\] = -1$"),
        (lambda: ce_count_loss(SPIKES, LABELS.astype(np.float32)), TypeError, r"labels of shape \(B,\) must be integer class indices, got dtype float32"),
        (lambda: ce_count_loss(SPIKES, ONE_HOT[:, :3]), ValueError, r"labels has shape \(3, 3\), expected \(3, 4\) \(\(B, C\) of the predictions\)"),
        (lambda: ce_count_loss(SPIKES, ONE_HOT[None]), ValueError, r"labels must have rank 1 or 2 .* got shape \(1, 3, 4\)"),
        (lambda: ce_count_loss(SPIKES, [0, 1, 2]), TypeError, r"labels must be an array, got list"),
        (lambda: cross_entropy(SPIKES, LABELS), ValueError, r"logits must have rank 2 with layout \(B, C\), got shape \(5, 3, 4\)"),
        (lambda: accuracy(SPIKES[0, 0], LABELS), ValueError, r"logits must have rank 2 .* got shape \(4,\)"),
        (lambda: accuracy_rate(SPIKES[0], LABELS), ValueError, r"spikes must have rank 3"),
        (lambda: accuracy_max_membrane(VOLTAGES[0], LABELS), ValueError, r"voltages must have rank 3"),
        (lambda: accuracy_first_spike(SPIKES, LABELS[:1]), ValueError, r"labels has shape \(1,\), expected \(3,\)"),
        (lambda: mse_count_loss(SPIKES, LABELS, correct_rate=1.5), ValueError, r"correct_rate must be a fraction of steps in \[0, 1\], got 1.5"),
        (lambda: mse_count_loss(SPIKES, LABELS, incorrect_rate=-0.1), ValueError, r"incorrect_rate must be non-negative, got -0.1"),
        (lambda: mse_count_loss(SPIKES[0], LABELS), ValueError, r"spikes must have rank 3"),
        (lambda: first_spike_time_surrogate(SPIKES, method="softmin"), ValueError, r"method must be one of \('survival', 'straight_through'\), got 'softmin'"),
        (lambda: first_spike_time_surrogate(jnp.float32(1.0)), ValueError, r"spikes must have at least rank 1 with layout \(T, ...\), got shape \(\)"),
        (lambda: ce_first_spike_loss(SPIKES[0], LABELS), ValueError, r"spikes must have rank 3"),
    ],
)
def test_bad_arguments_raise_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


# --- labels out of range under jit, empty batches and records (issue 14) ----------------------

LABEL_LOSSES = {
    "cross_entropy": lambda s, y, **kw: cross_entropy(s.sum(0), y, **kw),
    "ce_rate_loss": ce_rate_loss,
    "ce_rate_loss_per_step": lambda s, y, **kw: ce_rate_loss(s, y, per_step=True, **kw),
    "ce_count_loss": ce_count_loss,
    "ce_max_membrane_loss": ce_max_membrane_loss,
    "ce_first_spike_loss": ce_first_spike_loss,
    "mse_count_loss": mse_count_loss,
}
ACCURACIES = {
    "accuracy": lambda s, y: accuracy(s.sum(0), y),
    "accuracy_rate": accuracy_rate,
    "accuracy_max_membrane": accuracy_max_membrane,
    "accuracy_first_spike": accuracy_first_spike,
}
BAD_LABELS = np.array([0, C, -1])      # sample 0 valid, 1 and 2 out of [0, C)


@pytest.mark.parametrize("name", list(LABEL_LOSSES))
def test_out_of_range_labels_give_nan_under_jit_and_an_error_when_concrete(name):
    # Before: one_hot gave an all-zero target row, so the loss of those samples was 0.
    loss = LABEL_LOSSES[name]
    per_sample = jax.jit(lambda s, y: loss(s, y, reduction="none"))(SPIKES, BAD_LABELS)
    per_sample = np.asarray(per_sample).reshape(B, -1)
    assert np.all(np.isfinite(per_sample[0])) and np.all(np.isnan(per_sample[1:]))
    assert np.isnan(jax.jit(loss)(SPIKES, BAD_LABELS))
    np.testing.assert_allclose(jax.jit(loss)(SPIKES, LABELS), loss(SPIKES, LABELS), rtol=1e-6)
    with pytest.raises(ValueError) as info:
        loss(SPIKES, BAD_LABELS)
    assert str(info.value) == (
        "labels must be class indices in [0, 3] for 4 classes (the last axis of the predictions), "
        "got labels[1] = 4, labels[2] = -1"
    )


@pytest.mark.parametrize("name", list(ACCURACIES))
def test_out_of_range_labels_give_a_nan_accuracy_under_jit(name):
    metric = ACCURACIES[name]
    assert np.isnan(jax.jit(metric)(SPIKES, BAD_LABELS))
    np.testing.assert_allclose(jax.jit(metric)(SPIKES, LABELS), metric(SPIKES, LABELS))
    with pytest.raises(ValueError, match=r"got labels\[1\] = 4, labels\[2\] = -1"):
        metric(SPIKES, BAD_LABELS)


def test_many_bad_labels_are_summarised():
    labels = np.arange(-4, 6)             # 7 of 10 outside [0, 2]: the first 5 are shown
    with pytest.raises(ValueError, match=r"got labels\[0\] = -4, .*, labels\[7\] = 3 and 2 more$"):
        cross_entropy(jnp.zeros((10, 3)), labels)


@pytest.mark.parametrize("name", list(LABEL_LOSSES))
def test_an_empty_batch_is_an_error_for_the_mean_and_valid_for_sum_and_none(name):
    loss = LABEL_LOSSES[name]
    empty, no_labels = SPIKES[:, :0], LABELS[:0]
    with pytest.raises(ValueError, match=r"has shape \((5, )?0, 4\) with layout .*an empty batch \(B = 0\), whose mean is NaN"):
        loss(empty, no_labels)
    assert float(loss(empty, no_labels, reduction="sum")) == 0.0
    assert loss(empty, no_labels, reduction="none").shape[0] == 0


@pytest.mark.parametrize("name", list(ACCURACIES))
def test_the_accuracy_of_an_empty_batch_is_an_error(name):
    with pytest.raises(ValueError, match=r"an empty batch \(B = 0\), whose mean is NaN; expected at least one sample$"):
        ACCURACIES[name](SPIKES[:, :0], LABELS[:0])


@pytest.mark.parametrize("name", [n for n in LABEL_LOSSES if n != "cross_entropy"])
def test_records_without_steps_or_classes_are_errors(name):
    loss = LABEL_LOSSES[name]
    argument = "voltages" if "membrane" in name else "spikes"
    with pytest.raises(ValueError, match=rf"^{argument} has shape \(0, 3, 4\) with layout \(T, B, C\): T = 0"):
        loss(SPIKES[:0], LABELS)
    with pytest.raises(ValueError, match=rf"^{argument} has shape \(5, 3, 0\) with layout \(T, B, C\): C = 0"):
        loss(SPIKES[..., :0], np.zeros((B, 0), np.float32))
