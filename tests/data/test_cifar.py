"""CIFAR-10 from a small archive in the original "python version" format (conftest's cifar_archive)."""

import os
import pickle

import numpy as np
import pytest

from spikejax import data
from spikejax.data import ChecksumError


def test_loads_both_splits_channels_last_in_file_order(tmp_path, cifar_archive):
    batches = cifar_archive(tmp_path / "cifar10", per_batch=3, test=2)
    images, labels = data.load("cifar10", "train", data_dir=tmp_path, verify=False)
    assert images.shape == (15, 32, 32, 3) and images.dtype == np.uint8 and labels.dtype == np.int32
    expected = np.concatenate([batches[f"data_batch_{i}"][b"labels"] for i in range(1, 6)])
    np.testing.assert_array_equal(labels, expected)
    # Row = red plane, then green, then blue, each 32x32 row-major.
    row = batches["data_batch_1"][b"data"][1]
    np.testing.assert_array_equal(images[1, :, :, 0], row[:1024].reshape(32, 32))
    np.testing.assert_array_equal(images[1, 5, 7, 2], row[2048 + 5 * 32 + 7])
    test_images, test_labels = data.load("cifar10", "test", data_dir=tmp_path / "cifar10", verify=False)
    assert test_images.shape == (2, 32, 32, 3)
    np.testing.assert_array_equal(test_labels, batches["test_batch"][b"labels"])


def test_a_file_that_is_not_the_published_archive_fails_the_checksum(tmp_path, cifar_archive):
    cifar_archive(tmp_path)
    with pytest.raises(ChecksumError, match=r"cifar-10-python.tar.gz: expected md5 c58f30108f718f92721af3b95e74349a"):
        data.load("cifar10", "test", data_dir=tmp_path)


def test_missing_archive_lists_the_places_searched(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("SPIKEJAX_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match=r"CIFAR-10 files not found(.|\n)*data_dir argument(.|\n)*"
                                                 r"cifar-10-python.tar.gz"):
        data.load("cifar10", "train", data_dir=tmp_path / "nowhere")


def test_a_batch_that_names_anything_but_numpy_arrays_is_refused(tmp_path, cifar_archive):
    class Evil:
        def __reduce__(self):
            return (os.getcwd, ())

    def poison(contents):
        contents["test_batch"] = pickle.dumps({b"data": Evil(), b"labels": []}, protocol=2)
        return contents

    cifar_archive(tmp_path, members=poison)
    with pytest.raises(pickle.UnpicklingError, match=r"refers to posix.getcwd|refers to os.getcwd|refers to nt.getcwd"):
        data.load("cifar10", "test", data_dir=tmp_path, verify=False)


@pytest.mark.parametrize(
    "members, message",
    [
        (lambda c: {k: v for k, v in c.items() if k != "test_batch"}, r"no cifar-10-batches-py/test_batch in the archive"),
        (lambda c: {**c, "test_batch": pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]})},
         r"test_batch holds data of shape \(2, 100\) and 2 labels, expected \(N, 3072\)"),
        (lambda c: {**c, "test_batch": pickle.dumps([1, 2])}, r"test_batch is not a CIFAR-10 batch"),
    ],
)
def test_malformed_archives_give_clear_errors(tmp_path, cifar_archive, members, message):
    cifar_archive(tmp_path, members=members)
    with pytest.raises(ValueError, match=message):
        data.load("cifar10", "test", data_dir=tmp_path, verify=False)


def test_per_channel_normalisation():
    mean, std = data.DATASETS["cifar10"].mean_std
    images = np.full((2, 32, 32, 3), 255, np.uint8)
    out = data.normalize(images, mean, std)
    np.testing.assert_allclose(out[0, 0, 0], (1 - np.array(mean)) / np.array(std), rtol=1e-6)
    with pytest.raises(ValueError, match=r"mean must be a number or one value per channel \(the last axis, \(3,\)\), got shape \(2,\)"):
        data.normalize(images, (0.5, 0.5), 0.5)
