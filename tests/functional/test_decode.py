import jax
import jax.numpy as jnp
import numpy as np
import pytest

from spikejax.functional import (
    first_spike_time,
    last_membrane,
    max_decode,
    mean_decode,
    rate_decode,
    spike_count_decode,
    spikes_to_times,
    sum_decode,
)

# (T=4, B=2, N=3): neuron (0, 0) spikes at 1 and 3, (0, 1) at 0, (1, 2) at 2 and 3, others never.
SPIKES = np.zeros((4, 2, 3), np.float32)
SPIKES[[1, 3], 0, 0] = 1
SPIKES[0, 0, 1] = 1
SPIKES[[2, 3], 1, 2] = 1
SPIKES = jnp.asarray(SPIKES)
VOLTAGES = jnp.asarray(np.random.default_rng(0).normal(size=(4, 2, 3)), jnp.float32)


def test_sum_mean_rate_max_and_counts():
    np.testing.assert_array_equal(sum_decode(SPIKES), [[2, 1, 0], [0, 0, 2]])
    np.testing.assert_array_equal(mean_decode(SPIKES), [[0.5, 0.25, 0], [0, 0, 0.5]])
    np.testing.assert_allclose(rate_decode(SPIKES, dt=1e-3), [[500, 250, 0], [0, 0, 500]])
    np.testing.assert_allclose(rate_decode(SPIKES, dt=0.5e-3), [[1000, 500, 0], [0, 0, 1000]])
    np.testing.assert_array_equal(max_decode(VOLTAGES), np.max(np.asarray(VOLTAGES), axis=0))
    counts = spike_count_decode(SPIKES)
    assert counts.dtype == jnp.int32
    np.testing.assert_array_equal(counts, [[2, 1, 0], [0, 0, 2]])
    for decode in (sum_decode, mean_decode, max_decode, spike_count_decode):
        assert decode(SPIKES).shape == (2, 3)
        assert jax.jit(decode)(SPIKES[:, 0]).shape == (3,)  # unbatched (T, N) works too
    # Gradients of the float decoders reach every step.
    grad = jax.grad(lambda v: jnp.sum(mean_decode(v)))(VOLTAGES)
    np.testing.assert_allclose(grad, np.full((4, 2, 3), 0.25))


def test_last_membrane():
    out = last_membrane(VOLTAGES)
    assert out.shape == (2, 3)
    np.testing.assert_array_equal(out, VOLTAGES[3])
    grad = jax.grad(lambda v: jnp.sum(last_membrane(v)))(VOLTAGES)
    np.testing.assert_array_equal(grad[3], 1.0)
    np.testing.assert_array_equal(grad[:3], 0.0)


def test_spikes_to_times_and_first_spike_time():
    times = spikes_to_times(SPIKES, spike_count=2)
    assert times.shape == (2, 2, 3)
    inf = np.inf
    np.testing.assert_array_equal(times[:, 0], [[1, 0, inf], [3, inf, inf]])
    np.testing.assert_array_equal(times[:, 1], [[inf, inf, 2], [inf, inf, 3]])
    np.testing.assert_allclose(spikes_to_times(SPIKES, 1, dt=1e-3)[0, 0], [1e-3, 0, inf])
    assert spikes_to_times(SPIKES, spike_count=10).shape == (4, 2, 3)  # at most T times
    first = first_spike_time(SPIKES)
    assert first.shape == (2, 3)
    np.testing.assert_array_equal(first, [[1, 0, 4], [4, 4, 2]])     # T = 4 where none
    np.testing.assert_allclose(first_spike_time(SPIKES, dt=1e-3), np.asarray(first) * 1e-3, rtol=1e-6)
    np.testing.assert_array_equal(first_spike_time(SPIKES, fill=jnp.inf)[1], [inf, inf, 2])
    np.testing.assert_array_equal(jax.jit(first_spike_time)(SPIKES), first)


def test_spike_times_gradient_is_minus_one_at_returned_spikes():
    weights = jnp.arange(1.0, 7.0).reshape(1, 2, 3)
    grad = jax.grad(lambda s: jnp.sum(spikes_to_times(s, 1) * weights))(SPIKES)
    expected = np.zeros((4, 2, 3), np.float32)
    expected[1, 0, 0], expected[0, 0, 1], expected[2, 1, 2] = -1, -2, -6
    np.testing.assert_array_equal(grad, expected)
    # Only the first spike is returned, so the later ones get no gradient; none for fill values.
    grad = jax.grad(lambda s: jnp.sum(first_spike_time(s)))(SPIKES)
    np.testing.assert_array_equal(grad, -(expected != 0).astype(np.float32))


def test_spikes_to_times_equal_norse(reference):
    ref = reference("norse_encode")["decode"]
    spikes = jnp.asarray(ref["spikes"], jnp.float32)
    np.testing.assert_array_equal(spikes_to_times(spikes, 1), ref["times1"])
    np.testing.assert_array_equal(spikes_to_times(spikes, 3), ref["times3"])
    dense = jnp.asarray(ref["dense"], jnp.float32)
    weights = jnp.asarray(ref["dense_weights"], jnp.float32)
    times, grad = jax.value_and_grad(lambda s: jnp.sum(spikes_to_times(s, 2) * weights))(dense)
    np.testing.assert_array_equal(spikes_to_times(dense, 2), ref["dense_times2"])
    np.testing.assert_allclose(grad, ref["dense_grad"], rtol=1e-6)


BAD_CALLS = [
    (
        lambda: sum_decode(jnp.float32(1.0)),
        ValueError,
        r"tensor must have at least rank 1 with layout \(T, \.\.\.\), got shape \(\) \(rank 0\)",
    ),
    (lambda: sum_decode([1.0, 2.0]), TypeError, r"tensor must be an array, got list"),
    (lambda: mean_decode(jnp.float32(1.0)), ValueError, r"tensor must have at least rank 1"),
    (lambda: rate_decode(SPIKES, dt=0.0), ValueError, r"dt must be positive, got 0.0"),
    (lambda: rate_decode(jnp.float32(1.0)), ValueError, r"spikes must have at least rank 1"),
    (lambda: max_decode(jnp.float32(1.0)), ValueError, r"tensor must have at least rank 1"),
    (lambda: spike_count_decode(jnp.float32(1.0)), ValueError, r"spikes must have at least rank 1"),
    (
        lambda: last_membrane(VOLTAGES[0]),
        ValueError,
        r"voltages must have rank 3 with layout \(T, B, N\), got shape \(2, 3\) \(rank 2\)",
    ),
    (lambda: spikes_to_times(SPIKES, 0), ValueError, r"spike_count must be an int >= 1, got 0"),
    (lambda: spikes_to_times(SPIKES, 1.5), TypeError, r"spike_count must be a Python int .*float 1.5"),
    (lambda: spikes_to_times(SPIKES, dt=-1.0), ValueError, r"dt must be positive, got -1.0"),
    (lambda: spikes_to_times(jnp.float32(1.0)), ValueError, r"spikes must have at least rank 1"),
    (lambda: first_spike_time(SPIKES, fill=jnp.nan), ValueError, r"fill must be a number \(or inf\), got nan"),
    (lambda: first_spike_time(SPIKES, dt=0.0), ValueError, r"dt must be positive"),
]


@pytest.mark.parametrize("call, error, message", BAD_CALLS, ids=[m[:40] for _, _, m in BAD_CALLS])
def test_bad_arguments_raise_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


# --- empty sequences (issue 14) ---------------------------------------------------------------


@pytest.mark.parametrize(
    "decode, argument",
    [
        (mean_decode, "tensor"),                     # was NaN
        (lambda s: rate_decode(s, dt=1e-3), "spikes"),  # was NaN
        (max_decode, "tensor"),                      # was a JAX reduction error
        (last_membrane, "voltages"),                 # was an IndexError
        (spikes_to_times, "spikes"),                 # was an empty (0, ...) result
        (first_spike_time, "spikes"),                # was an IndexError
    ],
)
def test_decoders_refuse_an_empty_sequence_naming_the_argument(decode, argument):
    with pytest.raises(ValueError, match=rf"^{argument} has shape \(0, 2, 3\) with layout .*: T = 0 steps, expected at least one step"):
        decode(SPIKES[:0])


def test_sums_and_counts_over_no_steps_are_zero():
    np.testing.assert_array_equal(sum_decode(SPIKES[:0]), np.zeros((2, 3)))
    counts = spike_count_decode(SPIKES[:0])
    assert counts.dtype == jnp.int32
    np.testing.assert_array_equal(counts, np.zeros((2, 3)))


def test_rate_and_spike_times_follow_dt_against_numpy():
    # Non-default dt and spike_count, checked against the spike indices found by numpy.
    spikes = np.asarray(SPIKES)
    np.testing.assert_allclose(rate_decode(SPIKES, dt=2.5e-3), spikes.mean(0) / 2.5e-3, rtol=1e-6)
    times = np.full((3,) + spikes.shape[1:], np.inf)
    for index in np.ndindex(spikes.shape[1:]):
        steps = np.flatnonzero(spikes[(slice(None),) + index])[:3]
        times[(slice(0, len(steps)),) + index] = steps * 0.5e-3
    np.testing.assert_allclose(spikes_to_times(SPIKES, 3, dt=0.5e-3), times, rtol=1e-6)
    first = np.where(np.isinf(times[0]), -1.0, times[0])
    np.testing.assert_allclose(first_spike_time(SPIKES, dt=0.5e-3, fill=-1.0), first, rtol=1e-6)
