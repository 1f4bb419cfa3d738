"""spikejax.data: batches, split and normalize on small in-memory arrays."""

from __future__ import annotations

import numpy as np
import pytest

from spikejax import data


def _toy(count=10):
    return np.arange(count * 4, dtype=np.uint8).reshape(count, 2, 2), np.arange(count, dtype=np.int32)


def test_batches_sizes_and_drop_last():
    x, y = _toy(10)
    loader = data.batches(x, y, 4)
    assert len(loader) == 3 and [len(b) for _, b in loader] == [4, 4, 2]
    assert np.array_equal(np.concatenate([b for _, b in loader]), y)  # stored order without a seed
    for images, labels in loader:
        assert np.array_equal(images, x[labels])
    dropped = data.batches(x, y, 4, drop_last=True)
    assert len(dropped) == 2 and [len(b) for _, b in dropped] == [4, 4]
    assert len(data.batches(x, y, 5, drop_last=True)) == 2 and len(data.batches(x, y, 20)) == 1
    # A batch bigger than the data with drop_last would yield nothing: an error, not an empty epoch.
    with pytest.raises(ValueError, match=r"batch_size=20 with drop_last=True leaves no batch of the 10 examples; expected batch_size <= 10 or drop_last=False"):
        data.batches(x, y, 20, drop_last=True)
    assert len(data.batches(x, y, 10, drop_last=True)) == 1
    with pytest.raises(ValueError, match=r"leaves no batch of the 0 examples"):
        data.batches(x[:0], y[:0], 4)


def test_batches_shuffle_per_seed_and_epoch():
    x, y = _toy(50)

    def order(**kwargs):
        return np.concatenate([labels for _, labels in data.batches(x, y, 8, **kwargs)])

    first = order(shuffle_seed=3, epoch=0)
    assert sorted(first.tolist()) == list(range(50))  # each example once per epoch
    assert not np.array_equal(first, y)
    assert np.array_equal(first, order(shuffle_seed=3, epoch=0))  # reproducible
    loader = data.batches(x, y, 8, shuffle_seed=3, epoch=0)
    assert np.array_equal(np.concatenate([b for _, b in loader]), np.concatenate([b for _, b in loader]))
    assert not np.array_equal(first, order(shuffle_seed=3, epoch=1))  # epochs differ
    assert not np.array_equal(first, order(shuffle_seed=4, epoch=0))  # seeds differ
    kept = order(shuffle_seed=3, epoch=0, drop_last=True)
    assert len(kept) == 48 and len(set(kept.tolist())) == 48 and np.array_equal(kept, first[:48])
    for images, labels in data.batches(x, y, 8, shuffle_seed=3):
        assert np.array_equal(images, x[labels])


@pytest.mark.parametrize(
    "kwargs, error, pattern",
    [
        ({"batch_size": 0}, ValueError, r"batch_size must be >= 1, got 0"),
        ({"batch_size": 2.5}, TypeError, r"batch_size must be an int, got float 2.5"),
        ({"batch_size": 2, "shuffle_seed": -1}, ValueError, r"shuffle_seed must be >= 0, got -1"),
        ({"batch_size": 2, "epoch": -1}, ValueError, r"epoch must be >= 0, got -1"),
        ({"batch_size": 2, "labels": np.zeros(3)}, ValueError,
         r"images and labels must have the same leading length, got shapes \(10, 2, 2\) and \(3,\)"),
    ],
)
def test_batches_errors(kwargs, error, pattern):
    x, y = _toy(10)
    kwargs = {"images": x, "labels": y, **kwargs}
    with pytest.raises(error, match=pattern):
        data.batches(**kwargs)


def test_split():
    x, y = _toy(100)
    (xt, yt), (xv, yv) = data.split(x, y, validation=0.2, seed=1)
    assert len(yt) == 80 and len(yv) == 20 and len(xt) == 80 and len(xv) == 20
    assert set(yt.tolist()).isdisjoint(yv.tolist()) and sorted(yt.tolist() + yv.tolist()) == list(range(100))
    assert np.array_equal(xv, x[yv]) and np.all(np.diff(yt) > 0)
    (_, yt2), (_, yv2) = data.split(x, y, validation=0.2, seed=1)
    assert np.array_equal(yv, yv2) and np.array_equal(yt, yt2)
    assert not np.array_equal(yv, data.split(x, y, validation=0.2, seed=2)[1][1])
    assert len(data.split(x, y, validation=7)[1][1]) == 7


@pytest.mark.parametrize(
    "validation, error, pattern",
    [
        (0, ValueError, r"validation must be a count in 1..99 \(N=100\), got 0"),
        (100, ValueError, r"validation must be a count in 1..99 \(N=100\), got 100"),
        (1.0, ValueError, r"validation must be a fraction in \(0, 1\), got 1.0"),
        (0.001, ValueError, r"validation=0.001 of N=100 examples gives 0 validation examples"),
        (True, TypeError, r"validation must be an int or a float, got bool True"),
        ("10", TypeError, r"validation must be an int or a float, got str '10'"),
    ],
)
def test_split_errors(validation, error, pattern):
    with pytest.raises(error, match=pattern):
        data.split(*_toy(100), validation=validation)
    with pytest.raises(ValueError, match=r"seed must be >= 0, got -2"):
        data.split(*_toy(10), validation=2, seed=-2)


def test_normalize():
    pixels = np.array([[0, 51, 255]], np.uint8)
    np.testing.assert_allclose(data.normalize(pixels, 0.2, 0.5), [[-0.4, 0.0, 1.6]], rtol=1e-6, atol=1e-6)
    assert data.normalize(pixels).dtype == np.float32
    floats = pixels.astype(np.float64) / 255  # already on a 0-1 scale: not divided again
    np.testing.assert_allclose(data.normalize(floats, 0.2, 0.5), data.normalize(pixels, 0.2, 0.5), rtol=1e-6)
    with pytest.raises(TypeError, match=r"images must be uint8 \(0..255\) or floating point \(0..1\), got dtype int32"):
        data.normalize(pixels.astype(np.int32))
    with pytest.raises(ValueError, match=r"std must be positive, got 0.0"):
        data.normalize(pixels, 0.1, 0.0)
