"""``load``: a split of MNIST or Fashion-MNIST as numpy arrays, from the IDX files or through tfds."""

from __future__ import annotations

import importlib
import os
import pathlib

import numpy as np

from . import _cifar
from ._files import SPLITS, cache_dir, check_md5, dataset, find, private_tempdir
from ._idx import parse_idx

__all__ = ["load"]

SOURCES = ("idx", "tfds")


def load(
    name: str,
    split: str = "train",
    *,
    data_dir: str | os.PathLike | None = None,
    source: str = "idx",
    verify: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Load one split of MNIST, Fashion-MNIST or CIFAR-10.

    Args:
        name: ``"mnist"``, ``"fashion_mnist"`` or ``"cifar10"``.
        split: ``"train"`` (60000 examples; 50000 for CIFAR-10) or ``"test"`` (10000 examples).
        data_dir: a folder holding the ``.gz`` files, or holding ``<name>/`` with them; searched
            first (see :func:`find` for the whole search order).
        source: ``"idx"`` reads the original IDX files with numpy (fast, no extra dependency).
            ``"tfds"`` builds the tensorflow-datasets version offline from the same files, in
            ``<user cache>/tfds`` (the first build needs TensorFlow and takes about a minute;
            later loads only need tensorflow-datasets) and returns the same arrays, in the same
            order, as ``"idx"``. For CIFAR-10, ``"idx"`` reads the original python-version archive
            ``cifar-10-python.tar.gz`` (found like the IDX files) and ``"tfds"`` reads a tfds build
            already prepared in ``<user cache>/tfds`` (tfds downloads its own copy to build one).
        verify: check each file's md5 against the published value (cached per path, size and
            modification time, so repeated loads hash nothing). The ``"tfds"`` build always
            verifies, since tfds falls back to the network when its own checksum check fails.

    Returns:
        ``(images, labels)``: ``uint8`` of shape ``(N, 28, 28)`` (``(N, 32, 32, 3)`` for CIFAR-10,
        channels last) with values 0..255, and ``int32`` of shape ``(N,)`` with values 0..9, in
        the files' order.

    Raises:
        ValueError: unknown ``name``, ``split`` or ``source``, or a malformed IDX file.
        FileNotFoundError: the files are nowhere in the search order (the message lists it).
        ChecksumError: a file's md5 is wrong (the message names the file and both digests).
        ImportError: ``source="tfds"`` without tensorflow-datasets, or without TensorFlow for
            the first build.

    Example:
        >>> from spikejax.data import load
        >>> images, labels = load("mnist", "test")    # a source checkout ships MNIST in data/
        >>> images.shape, images.dtype, labels[:5]
        ((10000, 28, 28), dtype('uint8'), array([7, 2, 1, 0, 4], dtype=int32))
    """
    info = dataset(name)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(map(repr, SPLITS))}, got {split!r}")
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(map(repr, SOURCES))}, got {source!r}")
    if name == "cifar10":
        if source == "tfds":
            return _cifar.load_tfds(split)
        return _cifar.read_archive(find(name, data_dir) / _cifar.ARCHIVE, split, verify=verify)
    folder = find(name, data_dir)
    if source == "tfds":
        return _load_tfds(name, split, folder)
    image_file, label_file = info.split_files(split)
    images = _read(folder / image_file, name, ndim=3, verify=verify)
    labels = _read(folder / label_file, name, ndim=1, verify=verify)
    if images.shape[1:] != (28, 28):
        raise ValueError(f"{folder / image_file}: images have shape {images.shape}, expected (N, 28, 28)")
    if len(labels) != len(images):
        raise ValueError(
            f"{folder}: {image_file} holds {len(images)} images but {label_file} holds {len(labels)} labels"
        )
    return images, labels.astype(np.int32)


def _read(path: pathlib.Path, name: str, *, ndim: int, verify: bool) -> np.ndarray:
    data = path.read_bytes()
    if verify:
        check_md5(path, name, data=data)
    return parse_idx(data, ndim=ndim, source=str(path))


def _load_tfds(name: str, split: str, folder: pathlib.Path) -> tuple[np.ndarray, np.ndarray]:
    """Build (once, offline, from ``folder``) and read the tfds dataset ``name``."""
    try:
        tfds = importlib.import_module("tensorflow_datasets")
    except ImportError as error:
        raise ImportError(
            "source='tfds' needs tensorflow-datasets: pip install tensorflow-datasets importlib_resources "
            f"(or use source='idx', which reads the same files with numpy alone); import failed with: {error}"
        ) from error
    with private_tempdir():  # tfds leaves an empty temp folder behind otherwise
        return _read_tfds(tfds, name, split, folder)


def _read_tfds(tfds, name: str, split: str, folder: pathlib.Path) -> tuple[np.ndarray, np.ndarray]:
    # array_record builds can be read back without TensorFlow (through a data source).
    builder = tfds.builder(name, data_dir=str(cache_dir() / "tfds"), file_format="array_record")
    if not builder.is_prepared():
        try:
            importlib.import_module("tensorflow")  # download_and_prepare imports it anyway
        except ImportError as error:
            raise ImportError(
                f"source='tfds' needs TensorFlow to build {name!r} the first time (tfds' "
                "download_and_prepare imports it): pip install tensorflow-cpu, or use "
                f"source='idx', which reads the same files with numpy alone; import failed with: {error}"
            ) from error
        info = dataset(name)
        for file in info.files:
            # tfds retries the network for minutes when a manual file is bad: never hand it one.
            check_md5(folder / file, name)
        config = tfds.download.DownloadConfig(manual_dir=str(folder), try_download_gcs=False)
        builder.download_and_prepare(download_config=config)
    source = builder.as_data_source(split=split)
    records = source.__getitems__(list(range(len(source))))
    images = np.stack([record["image"][..., 0] for record in records]) if records else np.zeros((0, 28, 28), np.uint8)
    labels = np.fromiter((record["label"] for record in records), np.int32, len(records))
    if not builder.info.disable_shuffling:
        images, labels = _unshuffle(images, labels, split)
    _check_order(labels, folder / dataset(name).split_files(split)[1])
    return images.astype(np.uint8), labels


def _unshuffle(images: np.ndarray, labels: np.ndarray, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Undo tfds' write-time shuffle, which sorts examples by md5(split name + str(key)).

    MNIST's builder keys example ``i`` of the IDX file by ``i`` and salts with the split name; the
    hash is part of tfds' compatibility contract (changing it needs a major version bump).
    """
    from tensorflow_datasets.core import hashing

    hasher = hashing.Hasher(split)
    stored = sorted(range(len(labels)), key=hasher.hash_key)  # stored[j] = IDX index at position j
    original_images, original_labels = np.empty_like(images), np.empty_like(labels)
    original_images[stored], original_labels[stored] = images, labels
    return original_images, original_labels


def _check_order(labels: np.ndarray, label_file: pathlib.Path) -> None:
    """Compare with the IDX labels (a few kB) so a changed tfds order cannot go unnoticed."""
    expected = parse_idx(label_file.read_bytes(), ndim=1, source=str(label_file))
    if not np.array_equal(labels, expected):
        raise RuntimeError(
            f"the tfds build of {label_file.parent.name!r} does not list its examples in the IDX "
            "order this tensorflow-datasets version was expected to use; use source='idx'"
        )
