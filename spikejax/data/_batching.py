"""Mini-batches, train/validation splits and pixel normalisation for in-memory numpy data sets."""

from __future__ import annotations

import math
import numbers
from typing import Iterator

import numpy as np

__all__ = ["Batches", "batches", "split", "normalize"]


def _check_pair(images, labels) -> tuple[np.ndarray, np.ndarray]:
    images, labels = np.asarray(images), np.asarray(labels)
    if images.ndim < 1 or labels.ndim < 1 or len(images) != len(labels):
        raise ValueError(
            f"images and labels must have the same leading length, got shapes {images.shape} and {labels.shape}"
        )
    return images, labels


def _check_int(name: str, value, minimum: int) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


class Batches:
    """Mini-batches of ``(images, labels)``: iterable (again and again, same order) and ``len()``-able.

    Made by :func:`batches`; see there.

    Example:
        >>> import numpy as np
        >>> from spikejax.data import Batches
        >>> loader = Batches(np.zeros((5, 2)), np.arange(5), 2)
        >>> len(loader), [labels.tolist() for _, labels in loader]
        (3, [[0, 1], [2, 3], [4]])
        >>> loader
        Batches(n=5, batch_size=2, batches=3, shuffle_seed=None, epoch=0, drop_last=False)
    """

    def __init__(self, images, labels, batch_size, *, shuffle_seed=None, drop_last=False, epoch=0):
        self.images, self.labels = _check_pair(images, labels)
        self.batch_size = _check_int("batch_size", batch_size, 1)
        self.shuffle_seed = None if shuffle_seed is None else _check_int("shuffle_seed", shuffle_seed, 0)
        self.epoch = _check_int("epoch", epoch, 0)
        self.drop_last = bool(drop_last)
        count = len(self.labels)
        if count == 0 or (self.drop_last and self.batch_size > count):
            # An epoch without a single batch would train on nothing, silently.
            raise ValueError(
                f"batch_size={self.batch_size} with drop_last={self.drop_last} leaves no batch of "
                f"the {count} examples; expected batch_size <= {count}"
                + (" or drop_last=False" if count else " and at least one example")
            )

    def __len__(self) -> int:
        count = len(self.labels) / self.batch_size
        return math.floor(count) if self.drop_last else math.ceil(count)

    def order(self) -> np.ndarray | None:
        """The permutation this epoch uses, or None without a seed (the stored order)."""
        if self.shuffle_seed is None:
            return None
        # A SeedSequence of (seed, epoch) gives independent streams per epoch, stable across runs.
        return np.random.default_rng([self.shuffle_seed, self.epoch]).permutation(len(self.labels))

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        order = self.order()
        for index in range(len(self)):
            start = index * self.batch_size
            if order is None:
                chosen = slice(start, start + self.batch_size)
            else:
                chosen = order[start : start + self.batch_size]
            yield self.images[chosen], self.labels[chosen]

    def __repr__(self) -> str:
        return (
            f"Batches(n={len(self.labels)}, batch_size={self.batch_size}, batches={len(self)}, "
            f"shuffle_seed={self.shuffle_seed}, epoch={self.epoch}, drop_last={self.drop_last})"
        )


def batches(
    images,
    labels,
    batch_size: int,
    *,
    shuffle_seed: int | None = None,
    drop_last: bool = False,
    epoch: int = 0,
) -> Batches:
    """Split ``(images, labels)`` into mini-batches of ``batch_size`` along the first axis.

    Without ``shuffle_seed`` the batches follow the stored order (batches are views, no copy).
    With a seed, each epoch draws its own permutation from ``(shuffle_seed, epoch)``: epochs
    differ from each other, and the same ``(shuffle_seed, epoch)`` gives the same batches in every
    run, which makes resumed training see the same data. Every example appears exactly once per
    epoch, except that ``drop_last=True`` leaves out the last ``N % batch_size`` of that epoch's
    order (so the shapes stay static for ``jit``).

    Returns:
        A :class:`Batches`, which yields ``(images_batch, labels_batch)`` numpy arrays and has a
        ``len()``, the number of batches.

    Example:
        >>> import numpy as np
        >>> from spikejax.data import batches
        >>> x, y = np.zeros((10, 28, 28), np.uint8), np.arange(10)
        >>> loader = batches(x, y, 4, shuffle_seed=0, epoch=3)
        >>> len(loader), [len(labels) for _, labels in loader]
        (3, [4, 4, 2])
    """
    return Batches(images, labels, batch_size, shuffle_seed=shuffle_seed, drop_last=drop_last, epoch=epoch)


def split(images, labels, *, validation: int | float, seed: int = 0):
    """Hold out a random validation set.

    Args:
        images: the examples, ``N`` along the leading axis.
        labels: their labels, with the same leading length ``N``.
        validation: the number of validation examples (an int, ``0 < validation < N``) or the
            fraction of ``N`` (a float, ``0 < validation < 1``, rounded to the nearest count).
        seed: the seed of the permutation that picks them.

    Returns:
        ``((train_images, train_labels), (val_images, val_labels))``, disjoint, together all ``N``
        examples, each part in the original relative order.

    Example:
        >>> import numpy as np
        >>> from spikejax.data import split
        >>> (x_train, y_train), (x_val, y_val) = split(np.zeros((100, 2)), np.arange(100), validation=0.1)
        >>> len(y_train), len(y_val)
        (90, 10)
    """
    images, labels = _check_pair(images, labels)
    total = len(labels)
    if isinstance(validation, bool) or not isinstance(validation, numbers.Real):
        raise TypeError(f"validation must be an int or a float, got {type(validation).__name__} {validation!r}")
    if isinstance(validation, numbers.Integral):
        count = int(validation)
        if not 0 < count < total:
            raise ValueError(f"validation must be a count in 1..{total - 1} (N={total}), got {validation}")
    else:
        if not 0.0 < validation < 1.0:
            raise ValueError(f"validation must be a fraction in (0, 1), got {validation}")
        count = round(total * float(validation))
        if not 0 < count < total:
            raise ValueError(
                f"validation={validation} of N={total} examples gives {count} validation examples, "
                "expected at least one in each part"
            )
    seed = _check_int("seed", seed, 0)
    order = np.random.default_rng(seed).permutation(total)
    val_index, train_index = np.sort(order[:count]), np.sort(order[count:])
    return (images[train_index], labels[train_index]), (images[val_index], labels[val_index])


def normalize(images, mean=0.1307, std=0.3081) -> np.ndarray:
    """Scale pixels to ``(x / 255 - mean) / std`` as ``float32``, keeping the shape.

    The defaults are MNIST's train-set statistics (on a 0-1 scale). Fashion-MNIST has its own,
    ``mean=0.2860, std=0.3530``; both are in ``DATASETS[name].mean_std``.

    Args:
        images: ``uint8`` pixels in 0..255, or floats already on a 0-1 scale (not divided again).
        mean: the mean on the 0-1 scale; a sequence gives one value per channel (the last
            axis), as CIFAR-10's ``DATASETS["cifar10"].mean_std``.
        std: the standard deviation on the 0-1 scale, positive; one value or one per channel.

    Example:
        >>> import numpy as np
        >>> from spikejax.data import normalize
        >>> normalize(np.array([[0, 255]], np.uint8), mean=0.5, std=0.5)
        array([[-1.,  1.]], dtype=float32)
    """
    images = np.asarray(images)
    if images.dtype == np.uint8:
        scaled = images.astype(np.float32) / np.float32(255)
    elif np.issubdtype(images.dtype, np.floating):
        scaled = images.astype(np.float32)
    else:
        raise TypeError(
            f"images must be uint8 (0..255) or floating point (0..1), got dtype {images.dtype}"
        )
    mean, std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
    if not np.all(std > 0):
        raise ValueError(f"std must be positive, got {std.tolist()!r}")
    for label, value in (("mean", mean), ("std", std)):
        if value.ndim > 1 or (value.ndim == 1 and (scaled.ndim == 0 or value.shape[0] != scaled.shape[-1])):
            raise ValueError(
                f"{label} must be a number or one value per channel (the last axis, "
                f"{scaled.shape[-1:] if scaled.ndim else ()}), got shape {value.shape}"
            )
    return (scaled - mean) / std
