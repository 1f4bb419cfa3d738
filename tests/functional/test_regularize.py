import jax
import jax.numpy as jnp
import numpy as np
import pytest

from spikejax.functional import (
    LIFFeedForwardState,
    firing_rate_loss,
    firing_rate_lower_bound_loss,
    firing_rate_upper_bound_loss,
    l1_activity_loss,
    l2_activity_loss,
    lif_feed_forward_step,
    regularize_step,
    spike_accumulator,
    voltage_accumulator,
)

T, B, N = 4, 2, 3
# Spike counts per (sample, neuron): [[4, 2, 0], [1, 3, 2]] over T = 4 steps.
COUNTS = np.array([[4, 2, 0], [1, 3, 2]])
SPIKES = (np.arange(T)[:, None, None] < COUNTS[None]).astype(np.float32)
RATES = COUNTS / T  # per-step probability
VOLTAGES = np.linspace(-1.0, 1.5, T * B * N, dtype=np.float32).reshape(T, B, N)


def test_firing_rate_loss_per_step_and_in_hz_by_hand():
    np.testing.assert_allclose(firing_rate_loss(SPIKES, 0.5, reduction="none"), (RATES - 0.5) ** 2)
    np.testing.assert_allclose(firing_rate_loss(SPIKES, 0.5), ((RATES - 0.5) ** 2).mean(), rtol=1e-6)
    # 2 ms steps: rates are COUNTS / (4 * 2e-3 s) = 125 Hz per spike.
    hz = COUNTS / (T * 2e-3)
    np.testing.assert_allclose(
        firing_rate_loss(SPIKES, 100.0, dt=2e-3, reduction="sum"), ((hz - 100.0) ** 2).sum(), rtol=1e-5
    )


def test_bounds_penalise_only_outside_by_hand():
    upper = firing_rate_upper_bound_loss(SPIKES, 0.5, reduction="none")
    np.testing.assert_allclose(upper, np.maximum(RATES - 0.5, 0) ** 2)
    assert np.count_nonzero(upper) == 2  # rates 1.0 and 0.75
    lower = firing_rate_lower_bound_loss(SPIKES, 0.4, power=1, reduction="none")
    np.testing.assert_allclose(lower, np.maximum(0.4 - RATES, 0), atol=1e-7)
    assert np.count_nonzero(lower) == 2  # rates 0 and 0.25


def test_batch_and_population_means_follow_zenke_and_vogels():
    # Lower bound on each neuron's batch-mean rate: [0.625, 0.625, 0.25].
    np.testing.assert_allclose(
        firing_rate_lower_bound_loss(SPIKES, 0.5, batch_mean=True, reduction="none"), [0, 0, 0.0625]
    )
    # Upper bound on each sample's population-mean rate: [0.5, 0.5].
    np.testing.assert_allclose(
        firing_rate_upper_bound_loss(SPIKES, 0.25, population_mean=True, reduction="none"), [0.0625, 0.0625]
    )
    both = firing_rate_loss(SPIKES, 0.0, batch_mean=True, population_mean=True, reduction="none")
    assert both.shape == () and float(both) == pytest.approx(0.25)


def test_rate_gradients_by_hand():
    spikes = jnp.asarray(SPIKES)
    grad = jax.grad(lambda s: firing_rate_loss(s, 0.5, reduction="sum"))(spikes)
    np.testing.assert_allclose(grad, np.broadcast_to(2 * (RATES - 0.5) / T, SPIKES.shape), atol=1e-7)
    grad = jax.grad(lambda s: firing_rate_upper_bound_loss(s, 0.5, reduction="sum"))(spikes)
    np.testing.assert_allclose(grad, np.broadcast_to(2 * np.maximum(RATES - 0.5, 0) / T, SPIKES.shape), atol=1e-7)
    grad = jax.grad(lambda s: firing_rate_lower_bound_loss(s, 400.0, dt=1e-3))(spikes)
    hz = RATES / 1e-3  # [[1000, 500, 0], [250, 750, 500]] Hz
    expected = -2 * np.maximum(400.0 - hz, 0) / (T * 1e-3) / (B * N)
    assert np.count_nonzero(expected) == 2
    np.testing.assert_allclose(grad, np.broadcast_to(expected, SPIKES.shape), rtol=1e-5)


def test_l1_and_l2_activity_by_hand_and_gradients():
    np.testing.assert_allclose(l1_activity_loss(SPIKES, reduction="sum"), COUNTS.sum())  # snnTorch l1_rate_sparsity
    np.testing.assert_allclose(l2_activity_loss(SPIKES, reduction="none"), COUNTS**2)
    summed = VOLTAGES.sum(0)
    np.testing.assert_allclose(l1_activity_loss(VOLTAGES), np.abs(summed).mean(), rtol=1e-5)
    np.testing.assert_allclose(l1_activity_loss(VOLTAGES, per_step=True), np.abs(VOLTAGES).mean(), rtol=1e-5)
    np.testing.assert_allclose(l2_activity_loss(VOLTAGES, per_step=True, reduction="sum"), (VOLTAGES**2).sum(), rtol=1e-5)
    v = jnp.asarray(VOLTAGES)
    grad = jax.grad(lambda x: l2_activity_loss(x, reduction="sum"))(v)
    np.testing.assert_allclose(grad, np.broadcast_to(2 * summed, VOLTAGES.shape), rtol=1e-5)
    grad = jax.grad(lambda x: l1_activity_loss(x, per_step=True))(v)
    np.testing.assert_allclose(grad, np.sign(VOLTAGES) / VOLTAGES.size)


def test_regularisers_run_under_jit_and_in_bfloat16():
    spikes = jnp.asarray(SPIKES)
    for loss in (
        lambda s: firing_rate_loss(s, 0.3),
        lambda s: firing_rate_upper_bound_loss(s, 0.3, dt=1e-3),
        lambda s: firing_rate_lower_bound_loss(s, 0.3, batch_mean=True),
        l1_activity_loss,
        l2_activity_loss,
    ):
        np.testing.assert_allclose(jax.jit(loss)(spikes), loss(spikes), rtol=1e-6)
        low = spikes.astype(jnp.bfloat16)
        assert np.isfinite(loss(low)) and np.all(np.isfinite(np.asarray(jax.grad(loss)(low), np.float32)))


def test_norse_accumulators_count_spikes_and_sum_voltages_over_a_run():
    xs = jnp.full((9, 2), 1.0)  # spikes at step 5 (see test_lif.py)
    state, count, volts = None, None, None
    expected_count, expected_v = 0.0, 0.0
    for x in xs:
        z, state = lif_feed_forward_step(x, state)
        z, count = regularize_step(z, state, state=count)
        _, volts = regularize_step(z, state, voltage_accumulator, volts)
        expected_count += float(z.sum())
        expected_v = expected_v + np.asarray(state.v)
    assert expected_count > 0 and float(count) == expected_count
    np.testing.assert_allclose(volts, expected_v, rtol=1e-6)
    assert float(spike_accumulator(jnp.ones((2, 3)), None, 4.0)) == 10.0


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: firing_rate_loss(SPIKES[0], 0.1), ValueError, r"spikes must have at least rank 3 with layout \(T, B, N...\), got shape \(2, 3\)"),
        (lambda: firing_rate_upper_bound_loss(SPIKES[:, 0], 0.1), ValueError, r"spikes must have at least rank 3 .* got shape \(4, 3\)"),
        (lambda: firing_rate_lower_bound_loss(SPIKES[0, 0], 0.1), ValueError, r"spikes must have at least rank 3 .* \(rank 1\)"),
        (lambda: firing_rate_loss(SPIKES, -1.0), ValueError, r"target_rate must be non-negative, got -1.0"),
        (lambda: firing_rate_upper_bound_loss(SPIKES, -0.5), ValueError, r"bound must be non-negative, got -0.5"),
        (lambda: firing_rate_lower_bound_loss(SPIKES, 0.1, power=0), ValueError, r"power must be positive, got 0"),
        (lambda: firing_rate_loss(SPIKES, 0.1, dt=0.0), ValueError, r"dt must be positive, got 0.0"),
        (lambda: firing_rate_loss(SPIKES, 0.1, reduction="avg"), ValueError, r"reduction must be one of \('mean', 'sum', 'none'\), got 'avg'"),
        (lambda: l1_activity_loss(jnp.float32(1.0)), ValueError, r"x must have at least rank 1 with layout \(T, ...\), got shape \(\)"),
        (lambda: l2_activity_loss(1.0), TypeError, r"x must be an array, got float"),
        (lambda: l2_activity_loss(SPIKES, reduction=None), ValueError, r"reduction must be one of .*got None"),
        (lambda: spike_accumulator([1, 0], None), TypeError, r"z must be an array, got list"),
        (lambda: voltage_accumulator(SPIKES[0], SPIKES[0]), TypeError, r"cell_state must be a neuron state with a voltage field `v`, got ndarray"),
        (
            lambda: voltage_accumulator(None, LIFFeedForwardState(v=jnp.zeros(3), i=jnp.zeros(3)), jnp.zeros(2)),
            ValueError,
            r"state has shape \(2,\), expected \(3,\) \(the shape of cell_state.v\)",
        ),
        (lambda: regularize_step(SPIKES[0], None, "spikes"), TypeError, r"accumulator must be callable, got str"),
    ],
)
def test_bad_arguments_raise_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


# --- empty records (issue 14) -------------------------------------------------------------------

RATE_LOSSES = [
    lambda s, **kw: firing_rate_loss(s, 0.1, **kw),
    lambda s, **kw: firing_rate_upper_bound_loss(s, 0.1, **kw),
    lambda s, **kw: firing_rate_lower_bound_loss(s, 0.1, **kw),
]


@pytest.mark.parametrize("loss", RATE_LOSSES)
def test_rates_over_no_steps_or_a_mean_over_no_samples_are_errors(loss):
    # Before: NaN (a mean over zero steps, or over zero samples).
    with pytest.raises(ValueError, match=r"^spikes has shape \(0, 2, 3\) with layout \(T, B, N...\): T = 0"):
        loss(SPIKES[:0], reduction="sum")
    with pytest.raises(ValueError, match=r"^spikes has shape \(4, 0, 3\) .*an empty batch \(B = 0\), whose mean is NaN"):
        loss(SPIKES[:, :0])
    with pytest.raises(ValueError, match=r"an empty batch \(B = 0\)"):
        loss(SPIKES[:, :0], batch_mean=True, reduction="sum")
    with pytest.raises(ValueError, match=r"^spikes has shape \(4, 2, 0\) .*no neurons"):
        loss(SPIKES[..., :0], population_mean=True, reduction="none")
    assert loss(SPIKES[:, :0], reduction="none").shape == (0, 3)      # nothing averaged: valid


@pytest.mark.parametrize("loss", [l1_activity_loss, l2_activity_loss])
def test_activity_means_over_nothing_are_errors_and_sums_are_zero(loss):
    with pytest.raises(ValueError, match=r"^x has shape \(4, 0, 3\) with layout \(T, \.\.\.\): the mean over its neurons and samples is the mean of nothing"):
        loss(SPIKES[:, :0])
    with pytest.raises(ValueError, match=r"^x has shape \(0, 2, 3\) .*the mean over its entries"):
        loss(SPIKES[:0], per_step=True)
    np.testing.assert_array_equal(loss(SPIKES[:0], reduction="none"), np.zeros((2, 3)))  # no activity
    assert float(loss(SPIKES[:, :0], reduction="sum")) == 0.0


def np_rates(dt=None, batch_mean=False, population_mean=False):
    rates = RATES / dt if dt else RATES.copy()
    if batch_mean:
        rates = rates.mean(axis=0)
    if population_mean:
        rates = rates.mean(axis=-1)
    return rates


@pytest.mark.parametrize("dt", [None, 2e-3])
@pytest.mark.parametrize("batch_mean, population_mean", [(False, False), (True, False), (False, True)])
def test_every_rate_loss_follows_every_option_against_numpy(dt, batch_mean, population_mean):
    # Each loss with each averaging option, a non-default power and Hz units: a loss that dropped
    # one of them (all three share the rate helper) would fail here.
    rates = np_rates(dt, batch_mean, population_mean)
    target = 0.3 if dt is None else 300.0
    options = dict(dt=dt, batch_mean=batch_mean, population_mean=population_mean, reduction="none")
    np.testing.assert_allclose(firing_rate_loss(SPIKES, target, **options), (rates - target) ** 2, rtol=1e-5)
    np.testing.assert_allclose(
        firing_rate_upper_bound_loss(SPIKES, target, power=3.0, **options),
        np.maximum(rates - target, 0) ** 3, rtol=1e-5,
    )
    np.testing.assert_allclose(
        firing_rate_lower_bound_loss(SPIKES, target, power=1.5, **options),
        np.maximum(target - rates, 0) ** 1.5, rtol=1e-5,
    )
