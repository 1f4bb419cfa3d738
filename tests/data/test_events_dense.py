"""Events to dense time-binned tensors, and the augmentations as pure, jittable, key-driven functions."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from spikejax.data import events


def _random_batch(seed=0, batch=3, max_events=50, channels=20, duration=0.1):
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(batch):
        n = int(rng.integers(5, max_events))
        samples.append((np.sort(rng.uniform(0, duration, n)), rng.integers(0, channels, n)))
    return samples, events.pad_events(samples, max_events)


def _counts(samples, channels, dt, steps):
    """The dense tensor by a plain loop over events."""
    out = np.zeros((steps, len(samples), channels))
    for b, (times, units) in enumerate(samples):
        for t, u in zip(times, units):
            k = int(np.floor(np.float32(t) / np.float32(dt)))
            if 0 <= k < steps:
                out[k, b, u] += 1
    return out


def test_dense_counts_equal_a_loop_over_events():
    samples, batch = _random_batch()
    dense = events.events_to_dense(batch, (20,), dt=0.01, steps=8)  # the last 2 bins of 10 are cut
    assert dense.shape == (8, 3, 20) and dense.dtype == jnp.float32
    np.testing.assert_array_equal(dense, _counts(samples, 20, 0.01, 8))
    binary = events.events_to_dense(batch, 20, dt=0.01, steps=8, binary=True, dtype=jnp.bfloat16)
    assert binary.dtype == jnp.bfloat16
    np.testing.assert_array_equal(np.asarray(binary, np.float32), np.minimum(_counts(samples, 20, 0.01, 8), 1))


def test_dense_camera_layout_and_t_start():
    # (y, x, p) flattened in C order: unit = (y * W + x) * P + p
    height, width = 3, 4
    units = np.array([(2 * width + 1) * 2 + 1, (0 * width + 3) * 2 + 0, 5])
    batch = events.pad_events([(np.array([0.105, 0.115, 0.095]), units)])
    dense = events.events_to_dense(batch, (height, width, 2), dt=0.01, steps=2, t_start=0.1)
    assert dense.shape == (2, 1, height, width, 2) and float(dense.sum()) == 2  # 0.095 is before t_start
    assert dense[0, 0, 2, 1, 1] == 1 and dense[1, 0, 0, 3, 0] == 1


def test_dense_leaves_out_masked_padding_and_out_of_range_units():
    batch = events.Events(np.array([[0.001, 0.001, 0.001, 0.0]]), np.array([[0, 5, -1, 0]]),
                          np.array([[True, True, True, False]]))
    dense = events.events_to_dense(batch, (5,), dt=0.01, steps=1)
    assert dense[0, 0].tolist() == [1, 0, 0, 0, 0]


def test_dense_jit_equals_eager_and_argument_errors():
    samples, batch = _random_batch(1)
    to_dense = jax.jit(events.events_to_dense, static_argnames=("sensor_shape", "steps"))
    np.testing.assert_array_equal(to_dense(batch, (20,), dt=0.01, steps=10),
                                  events.events_to_dense(batch, (20,), dt=0.01, steps=10))
    with pytest.raises(ValueError, match=r"steps must be a positive int, got 0"):
        events.events_to_dense(batch, (20,), dt=0.01, steps=0)
    with pytest.raises(ValueError, match=r"dt must be a positive number of seconds, got -0.1"):
        events.events_to_dense(batch, (20,), dt=-0.1, steps=3)
    with pytest.raises(ValueError, match=r"sensor_shape must be a positive int or a tuple of them, got \(0,\)"):
        events.events_to_dense(batch, (0,), dt=0.01, steps=3)
    with pytest.raises(ValueError, match=r"must all have the shape \(B, N\), got shapes \(3, 50\), \(3, 49\)"):
        events.events_to_dense(batch._replace(units=batch.units[:, :49]), (20,), dt=0.01, steps=3)
    with pytest.raises(TypeError, match=r"events must be an Events\(times, units, mask\) tuple, got ndarray"):
        events.events_to_dense(batch.times, (20,), dt=0.01, steps=3)


def test_pad_events_checks():
    with pytest.raises(ValueError, match=r"samples\[1\] has 3 events, more than max_events=2"):
        events.pad_events([(np.zeros(1), np.zeros(1)), (np.zeros(3), np.zeros(3))], 2)
    with pytest.raises(ValueError, match=r"samples\[0\]: times and units must be 1-D of the same length, got shapes"):
        events.pad_events([(np.zeros(2), np.zeros(3))])
    empty = events.pad_events([(np.zeros(0), np.zeros(0))], 4)
    assert empty.times.shape == (1, 4) and not empty.mask.any()


AUGMENTATIONS = {
    "time_shift": lambda key, batch: events.time_shift(key, batch, 0.02),
    "time_jitter": lambda key, batch: events.time_jitter(key, batch, 0.002),
    "channel_shift": lambda key, batch: events.channel_shift(key, batch, 5, 20),
    "drop_events": lambda key, batch: events.drop_events(key, batch, 0.3),
}


@pytest.mark.parametrize("name", sorted(AUGMENTATIONS))
def test_augmentation_same_key_same_bits_different_key_different_jit_equals_eager(name):
    augment = AUGMENTATIONS[name]
    _, batch = _random_batch(2, batch=4)
    first, again = augment(jax.random.key(0), batch), augment(jax.random.key(0), batch)
    other = augment(jax.random.key(1), batch)
    jitted = jax.jit(augment)(jax.random.key(0), batch)
    for a, b, c, d in zip(first, again, other, jitted):
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes()
        assert np.asarray(a).tobytes() == np.asarray(d).tobytes()
    assert any(np.asarray(a).tobytes() != np.asarray(c).tobytes() for a, c in zip(first, other))
    assert any(np.asarray(a).tobytes() != np.asarray(b).tobytes() for a, b in zip(first, batch)), "changes nothing"


def test_augmentations_do_what_they_say():
    _, batch = _random_batch(3, batch=64, max_events=40)
    mask = np.asarray(batch.mask)
    shifted = events.time_shift(jax.random.key(0), batch, 0.02)
    delta = np.asarray(shifted.times) - batch.times
    assert np.allclose(delta, delta[:, :1], atol=1e-6), "one shift per sample"
    assert np.abs(delta).max() <= 0.02 + 1e-6 and np.std(delta[:, 0]) > 0.005
    jitter = np.asarray(events.time_jitter(jax.random.key(0), batch, 0.002).times) - batch.times
    assert abs(np.std(jitter[mask]) - 0.002) < 2e-4, "independent noise of the given std"
    channels = events.channel_shift(jax.random.key(0), batch, 5, 20)
    change = np.asarray(channels.units) - batch.units
    assert np.all(change == change[:, :1]) and set(np.unique(change)) <= set(range(-5, 6))
    inside = (np.asarray(channels.units) >= 0) & (np.asarray(channels.units) < 20)
    np.testing.assert_array_equal(np.asarray(channels.mask), mask & inside)
    kept = np.asarray(events.drop_events(jax.random.key(0), batch, 0.3).mask)
    assert not (kept & ~mask).any() and abs(kept.sum() / mask.sum() - 0.7) < 0.05
    assert events.drop_events(jax.random.key(0), batch, 0.0).mask.sum() == mask.sum()
    with pytest.raises(ValueError, match=r"rate must be a probability in \[0, 1\], got 1.5"):
        events.drop_events(jax.random.key(0), batch, 1.5)
    with pytest.raises(ValueError, match=r"max_shift must be an int >= 0, got 2.5"):
        events.channel_shift(jax.random.key(0), batch, 2.5, 20)


def test_augment_and_bin_inside_one_jitted_step():
    samples, batch = _random_batch(4)

    @jax.jit
    def step(key, batch):
        keys = jax.random.split(key, 3)
        batch = events.time_jitter(keys[0], batch, 1e-3)
        batch = events.channel_shift(keys[1], batch, 2, 20)
        batch = events.drop_events(keys[2], batch, 0.1)
        return events.events_to_dense(batch, (20,), dt=0.01, steps=10).sum()

    total = step(jax.random.key(0), batch)
    assert total == step(jax.random.key(0), batch) and 0 < total <= sum(len(t) for t, _ in samples)
