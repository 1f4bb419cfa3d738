"""CIFAR-10 from the original "python version" archive (``cifar-10-python.tar.gz``), or through tfds.

The archive holds ``cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}``: pickles of
``{b"data": uint8 (10000, 3072), b"labels": [...]}`` with each row the red, green and blue 32x32
planes. They are read straight from the archive (nothing is extracted) with an unpickler that only
rebuilds numpy arrays, so a tampered file cannot run code even when ``verify=False``.
"""

from __future__ import annotations

import importlib
import io
import pathlib
import pickle
import tarfile

import numpy as np

from ._files import cache_dir, check_md5, private_tempdir

__all__ = ["ARCHIVE", "FOLDER", "read_archive", "load_tfds"]

ARCHIVE = "cifar-10-python.tar.gz"
FOLDER = "cifar-10-batches-py"
BATCHES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}

# What the CIFAR pickles (written by Python 2's cPickle, or numpy 2) may name: numpy's array
# reconstruction and nothing that can run code.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"): ("numpy", "ndarray"),
    ("numpy", "dtype"): ("numpy", "dtype"),
    # Protocol-2 pickles written by Python 3 carry byte strings through _codecs.encode.
    ("_codecs", "encode"): ("_codecs", "encode"),
}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(
                f"CIFAR-10 batch refers to {module}.{name}; only numpy arrays are expected in these files"
            )
        module, name = _ALLOWED[module, name]
        return getattr(importlib.import_module(module), name)


def _batch(archive: tarfile.TarFile, member: str, source: pathlib.Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        handle = archive.extractfile(f"{FOLDER}/{member}")
    except KeyError:
        handle = None
    if handle is None:
        raise ValueError(f"{source}: no {FOLDER}/{member} in the archive; is it CIFAR-10's python version?")
    batch = _ArrayUnpickler(io.BytesIO(handle.read()), encoding="bytes").load()
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise ValueError(f"{source}: {member} is not a CIFAR-10 batch (expected b'data' and b'labels')")
    data, labels = np.asarray(batch[b"data"], np.uint8), np.asarray(batch[b"labels"], np.int32)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise ValueError(
            f"{source}: {member} holds data of shape {data.shape} and {len(labels)} labels, "
            f"expected (N, 3072) and N labels"
        )
    # Rows are the R, G, B planes of 32x32: to (N, 32, 32, 3), channels last as flax convolutions want.
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def read_archive(path: pathlib.Path, split: str, *, verify: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 (N, 32, 32, 3), labels int32 (N,))`` of ``split`` from the archive at ``path``.

    Example:
        >>> from spikejax.data import _cifar
        >>> _cifar.BATCHES["test"]
        ('test_batch',)
    """
    if verify:
        check_md5(path, "cifar10")
    with tarfile.open(path, "r:gz") as archive:
        parts = [_batch(archive, member, path) for member in BATCHES[split]]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def load_tfds(split: str) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 through tensorflow-datasets, from a build already prepared in the user cache.

    tfds builds CIFAR-10 from the binary archive it downloads itself, so a first build needs the
    network (``tfds build cifar10 --data_dir <user cache>/tfds``); this function never downloads.

    Example:
        >>> from spikejax.data import _cifar
        >>> callable(_cifar.load_tfds)
        True
    """
    try:
        tfds = importlib.import_module("tensorflow_datasets")
    except ImportError as error:
        raise ImportError(
            "source='tfds' needs tensorflow-datasets: pip install tensorflow-datasets (or use the "
            f"python archive {ARCHIVE}, source='idx'); import failed with: {error}"
        ) from error
    data_dir = cache_dir() / "tfds"
    with private_tempdir():  # tfds leaves an empty temp folder behind otherwise
        builder = tfds.builder("cifar10", data_dir=str(data_dir))
    if not builder.is_prepared():
        raise FileNotFoundError(
            f"tfds has no prepared cifar10 in {data_dir}. Build it once where the network is "
            f"reachable (tfds build cifar10 --data_dir {data_dir}), or put {ARCHIVE} where "
            "spikejax.data.find('cifar10') looks and use source='idx'."
        )
    records = list(builder.as_data_source(split=split))
    images = np.stack([record["image"] for record in records]).astype(np.uint8)
    return images, np.fromiter((record["label"] for record in records), np.int32, len(records))
