"""spikejax.data: loading MNIST / Fashion-MNIST offline, search order, checksums, download, tfds."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import io
import os
import pathlib
import re
import shutil
import sys
import urllib.error
import urllib.request

import numpy as np
import pytest

import spikejax
from spikejax import data
from spikejax.data import _files
from spikejax.data._idx import write_idx

REPO = pathlib.Path(__file__).resolve().parents[2]
MNIST_DIR = REPO / "data" / "mnist"
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
FILES = list(_files.DATASETS["mnist"].files)


def _fashion_root() -> pathlib.Path | None:
    for root in (os.environ.get("SPIKEJAX_DATA"), REPO.parent / "shared" / "data", REPO / "data"):
        if root and (pathlib.Path(root) / "fashion_mnist" / FILES[0]).is_file():
            return pathlib.Path(root)
    return None


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No SPIKEJAX_DATA, an empty user cache and an empty repository data folder."""
    monkeypatch.delenv("SPIKEJAX_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(_files, "repo_data_dir", lambda: tmp_path / "repo_data")
    return tmp_path


def _synthetic(folder: pathlib.Path, label: int, count: int = 3) -> pathlib.Path:
    """Write four small valid IDX files whose labels are all ``label``."""
    folder.mkdir(parents=True, exist_ok=True)
    images = np.full((count, 28, 28), label, np.uint8)
    for prefix in ("train", "t10k"):
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", np.full(count, label, np.uint8))
    return folder


def _mnist_copy(folder: pathlib.Path) -> pathlib.Path:
    """A folder with MNIST: test files copied (to be damaged), train files symlinked."""
    folder.mkdir(parents=True)
    for file in FILES:
        if file.startswith("t10k"):
            shutil.copyfile(MNIST_DIR / file, folder / file)
        else:
            (folder / file).symlink_to(MNIST_DIR / file)
    return folder


@pytest.fixture(scope="module")
def mnist_train():
    return data.load("mnist", "train")


def test_mnist_train(mnist_train):
    images, labels = mnist_train
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (60000,) and labels.dtype == np.int32
    assert images.flags.writeable
    assert np.bincount(labels).tolist() == MNIST_TRAIN_COUNTS
    assert labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]


def test_mnist_test():
    images, labels = data.load("mnist", "test")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.dtype == np.int32 and np.bincount(labels).tolist() == MNIST_TEST_COUNTS


def test_normalize_mnist_train_statistics(mnist_train):
    x = data.normalize(mnist_train[0])
    assert x.dtype == np.float32 and x.shape == (60000, 28, 28)
    assert abs(float(x.mean())) < 1e-3 and abs(float(x.std()) - 1) < 1e-3


@pytest.mark.skipif(_fashion_root() is None, reason="Fashion-MNIST files not found (../shared/data or SPIKEJAX_DATA)")
def test_fashion_mnist():
    root = _fashion_root()
    for split, count in (("train", 6000), ("test", 1000)):
        images, labels = data.load("fashion_mnist", split, data_dir=root)
        assert images.shape == (10 * count, 28, 28) and images.dtype == np.uint8 and labels.dtype == np.int32
        assert np.bincount(labels).tolist() == [count] * 10
    mean, std = data.DATASETS["fashion_mnist"].mean_std
    x = data.normalize(images, mean, std)  # test split: close to, not exactly, 0 and 1
    assert abs(float(x.mean())) < 0.02 and abs(float(x.std()) - 1) < 0.02


def test_search_order(isolated, monkeypatch):
    tmp = isolated
    explicit = _synthetic(tmp / "explicit" / "mnist", 1)
    _synthetic(tmp / "env", 2)  # SPIKEJAX_DATA may be the folder itself
    repo = _synthetic(tmp / "repo_data" / "mnist", 3)
    cache = _synthetic(tmp / "xdg" / "spikejax" / "mnist", 4)
    monkeypatch.setenv("SPIKEJAX_DATA", str(tmp / "env"))

    def found(**kwargs):
        return int(data.load("mnist", "test", verify=False, **kwargs)[1][0])

    assert data.find("mnist", tmp / "explicit") == explicit.resolve()
    assert found(data_dir=tmp / "explicit") == 1  # data_dir beats SPIKEJAX_DATA
    assert found(data_dir=str(explicit)) == 1  # the folder itself
    assert found() == 2  # SPIKEJAX_DATA beats the repository copy
    assert found(data_dir=tmp / "nowhere") == 2  # a data_dir without the files falls through
    monkeypatch.delenv("SPIKEJAX_DATA")
    assert data.find("mnist") == repo.resolve() and found() == 3  # repository beats the cache
    shutil.rmtree(repo)
    assert data.find("mnist") == cache.resolve() and found() == 4


def test_repository_copy_is_found_by_default(monkeypatch, tmp_path):
    monkeypatch.delenv("SPIKEJAX_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    expected = pathlib.Path(spikejax.__file__).resolve().parents[1] / "data" / "mnist"
    assert data.find("mnist") == expected == MNIST_DIR


def test_not_found_lists_every_place(isolated, monkeypatch):
    tmp = isolated
    monkeypatch.setenv("SPIKEJAX_DATA", str(tmp / "env"))
    partial = _synthetic(tmp / "given" / "mnist", 0)
    (partial / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError) as info:
        data.load("mnist", data_dir=tmp / "given")
    message = str(info.value)
    places = [
        f"data_dir argument: {tmp / 'given' / 'mnist'} (missing t10k-labels-idx1-ubyte.gz)",
        f"data_dir argument: {tmp / 'given'} (missing train-images-idx3-ubyte.gz",
        f"$SPIKEJAX_DATA: {tmp / 'env' / 'mnist'} (does not exist)",
        f"$SPIKEJAX_DATA: {tmp / 'env'} (does not exist)",
        f"repository data folder: {tmp / 'repo_data' / 'mnist'} (does not exist)",
        f"user cache: {tmp / 'xdg' / 'spikejax' / 'mnist'} (does not exist)",
    ]
    positions = [message.index(place) for place in places]
    assert positions == sorted(positions)
    assert "spikejax.data.download('mnist')" in message
    assert "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz" in message
    monkeypatch.delenv("SPIKEJAX_DATA")
    with pytest.raises(FileNotFoundError, match=r"data_dir argument: not given\n  - \$SPIKEJAX_DATA: not set"):
        data.find("mnist")


def test_corrupt_file_raises_checksum_error(tmp_path):
    folder = _mnist_copy(tmp_path / "mnist")
    target = folder / "t10k-images-idx3-ubyte.gz"
    raw = bytearray(target.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    target.write_bytes(bytes(raw))
    actual = hashlib.md5(raw).hexdigest()
    pattern = rf"checksum mismatch for {re.escape(str(target))}: expected md5 9fb629c4189551a2d022fa330f9573f3, got {actual}"
    with pytest.raises(data.ChecksumError, match=pattern):
        data.load("mnist", "test", data_dir=tmp_path)
    assert issubclass(data.ChecksumError, ValueError)
    # Without verification the gzip CRC still catches it, naming the file.
    with pytest.raises(ValueError, match=rf"{re.escape(str(target))}: cannot decompress"):
        data.load("mnist", "test", data_dir=tmp_path, verify=False)


def test_files_of_the_other_data_set_are_named(tmp_path):
    folder = _mnist_copy(tmp_path / "fashion_mnist")  # MNIST files where Fashion-MNIST belongs
    with pytest.raises(data.ChecksumError, match=r"that is the md5 of MNIST's t10k-images-idx3-ubyte.gz.*bytes, expected 4422102"):
        data.load("fashion_mnist", "test", data_dir=folder)


def test_verification_is_cached_until_the_file_changes(tmp_path, monkeypatch):
    folder = _mnist_copy(tmp_path / "mnist")
    data.load("mnist", "test", data_dir=folder)
    calls = []
    real_md5 = hashlib.md5
    monkeypatch.setattr(_files.hashlib, "md5", lambda *a: calls.append(a) or real_md5(*a))
    data.load("mnist", "test", data_dir=folder)
    assert calls == []
    target = folder / "t10k-labels-idx1-ubyte.gz"
    stat = target.stat()
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    data.load("mnist", "test", data_dir=folder)
    assert len(calls) == 1


_HEADER_4 = bytes((0, 0, 8, 3)) + (4).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2  # 4 images


@pytest.mark.parametrize(
    "labels, images, pattern",
    [
        (np.zeros((4, 1, 1), np.uint8), None,
         r"not a 1-dimensional IDX file of unsigned bytes: magic number 00 00 08 03, expected 00 00 08 01"),
        (np.zeros(5, np.uint8), None, r"holds 4 images but t10k-labels-idx1-ubyte.gz holds 5 labels"),
        (None, np.zeros((4, 27, 27), np.uint8), r"images have shape \(4, 27, 27\), expected \(N, 28, 28\)"),
        (None, _HEADER_4 + bytes(3 * 784), r"header says shape \(4, 28, 28\) = 3136 bytes of data, the file holds 2352"),
        (None, bytes((0, 0, 8)), r"magic number 00 00 08, expected 00 00 08 03"),
        (None, _HEADER_4[:6], r"IDX header is truncated \(6 of 16 bytes\)"),
        (None, b"not gzip", r"t10k-images-idx3-ubyte.gz: cannot decompress"),
    ],
)
def test_malformed_idx_files(tmp_path, labels, images, pattern):
    folder = _synthetic(tmp_path / "mnist", 0, count=4)
    for array, file in ((labels, "t10k-labels-idx1-ubyte.gz"), (images, "t10k-images-idx3-ubyte.gz")):
        if isinstance(array, np.ndarray):
            write_idx(folder / file, array)
        elif array == b"not gzip":
            (folder / file).write_bytes(array)
        elif array is not None:
            (folder / file).write_bytes(gzip.compress(array))
    with pytest.raises(ValueError, match=pattern):
        data.load("mnist", "test", data_dir=folder, verify=False)
    with pytest.raises(TypeError, match="array must have dtype uint8, got int64"):
        write_idx(folder / "x.gz", np.zeros(3, np.int64))


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"name": "cifar100"}, r"name must be one of 'mnist', 'fashion_mnist', 'cifar10', got 'cifar100'"),
        ({"name": "mnist", "split": "validation"}, r"split must be one of 'train', 'test', got 'validation'"),
        ({"name": "mnist", "source": "torch"}, r"source must be one of 'idx', 'tfds', got 'torch'"),
    ],
)
def test_unknown_names(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        data.load(**kwargs)
    if kwargs["name"] == "cifar100":
        with pytest.raises(ValueError, match=pattern):
            data.find("cifar100")
        with pytest.raises(ValueError, match=pattern):
            data.download("cifar100")


def test_data_dir_must_be_a_path():
    for call in (data.find, data.download, data.load):
        with pytest.raises(TypeError, match=r"data_dir must be a path \(str or os.PathLike\) or None, got int"):
            call("mnist", data_dir=3)


class _FakeNetwork:
    """Serves ``files[name]`` for any mirror in ``good`` and junk for ``bad``; others are unreachable."""

    def __init__(self, files, *, good=(), bad=()):
        self.files, self.good, self.bad, self.requests = files, good, bad, []

    def __call__(self, request, timeout=None):
        url = request.full_url
        self.requests.append((url, timeout))
        mirror, name = url.rsplit("/", 1)
        if mirror + "/" in self.good:
            return io.BytesIO(self.files[name])
        if mirror + "/" in self.bad:
            return io.BytesIO(b"<html>not the file</html>")
        raise urllib.error.URLError("unreachable (fake)")


@pytest.fixture(scope="module")
def mnist_bytes():
    return {file: (MNIST_DIR / file).read_bytes() for file in FILES}


def test_download_writes_verified_files(tmp_path, monkeypatch, mnist_bytes):
    first, second, _ = _files.DATASETS["mnist"].mirrors
    fake = _FakeNetwork(mnist_bytes, good=[second], bad=[first])
    monkeypatch.setattr(urllib.request, "urlopen", fake)
    folder = data.download("mnist", tmp_path, timeout=7)
    assert folder == (tmp_path / "mnist").resolve()
    assert sorted(p.name for p in folder.iterdir()) == sorted(FILES)  # no temporary files left
    assert [url for url, _ in fake.requests[:2]] == [first + FILES[0], second + FILES[0]]
    assert {timeout for _, timeout in fake.requests} == {7}
    assert np.bincount(data.load("mnist", "test", data_dir=tmp_path)[1]).tolist() == MNIST_TEST_COUNTS
    fake.requests.clear()
    data.download("mnist", tmp_path)  # files present and correct: nothing fetched
    assert fake.requests == []


def test_download_into_the_cache(isolated, monkeypatch, mnist_bytes):
    monkeypatch.setattr(urllib.request, "urlopen", _FakeNetwork(mnist_bytes, good=_files.DATASETS["mnist"].mirrors[:1]))
    folder = data.download("mnist")
    assert folder == (isolated / "xdg" / "spikejax" / "mnist").resolve() == data.find("mnist")


def test_download_with_wrong_checksum(tmp_path, monkeypatch, mnist_bytes):
    mirrors = _files.DATASETS["mnist"].mirrors
    monkeypatch.setattr(urllib.request, "urlopen", _FakeNetwork(mnist_bytes, bad=mirrors))
    junk_md5 = hashlib.md5(b"<html>not the file</html>").hexdigest()
    pattern = (rf"could not download MNIST's train-images-idx3-ubyte.gz; tried:\n  {re.escape(mirrors[0])}\S+: "
               rf"expected md5 f68b3c2dcbeaaa9fbdd348bbdeb94873, got {junk_md5}")
    with pytest.raises(data.ChecksumError, match=pattern):
        data.download("mnist", tmp_path)
    assert list((tmp_path / "mnist").iterdir()) == []  # neither the bad file nor a temporary one


def test_download_unreachable(tmp_path, monkeypatch, mnist_bytes):
    monkeypatch.setattr(urllib.request, "urlopen", _FakeNetwork(mnist_bytes))
    with pytest.raises(ConnectionError, match=r"(?s)could not download MNIST's .*URLError: <urlopen error unreachable \(fake\)>"):
        data.download("mnist", tmp_path)
    with pytest.raises(ValueError, match=r"timeout must be a positive number of seconds, got 0"):
        data.download("mnist", tmp_path, timeout=0)


class _BlockTensorFlow:
    """A meta-path finder that makes ``import tensorflow`` fail as if it were not installed."""

    @staticmethod
    def blocked(name):
        return name == "tensorflow" or name.startswith("tensorflow.")

    def find_spec(self, name, path=None, target=None):
        if self.blocked(name):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)")


@pytest.fixture
def without_tensorflow(monkeypatch):
    """TensorFlow looks uninstalled: find_spec gives None and importing it fails."""
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, p=None: None if _BlockTensorFlow.blocked(n) else find_spec(n, p))
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    gpath = sys.modules.get("etils.epath.gpath")  # etils caches "is TensorFlow installed"
    clear = getattr(getattr(gpath, "_is_tf_installed", None), "cache_clear", lambda: None)
    clear()
    blocker = _BlockTensorFlow()
    # Insert in place: finders that imports add meanwhile (six.moves adds one) must stay.
    sys.meta_path.insert(0, blocker)
    try:
        yield
    finally:
        sys.meta_path.remove(blocker)
        clear()


def test_tfds_without_tensorflow(isolated, without_tensorflow):
    expected = "needs TensorFlow" if importlib.util.find_spec("tensorflow_datasets") else "needs tensorflow-datasets"
    with pytest.raises(ImportError, match=rf"{expected}.*source='idx'"):
        data.load("mnist", "test", data_dir=MNIST_DIR, source="tfds")
    assert not (isolated / "xdg" / "spikejax" / "tfds" / "mnist").exists()  # nothing half-built


def test_tfds_without_tensorflow_datasets(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)
    with pytest.raises(ImportError, match=r"needs tensorflow-datasets: pip install tensorflow-datasets importlib_resources \(or use source='idx'"):
        data.load("mnist", "test", source="tfds")


@pytest.mark.slow
@pytest.mark.parametrize("name, splits", [("mnist", ("test", "train")), ("fashion_mnist", ("test",))])
def test_tfds_equals_idx(name, splits, isolated):
    """Builds in a fresh cache (about a minute each); reading 60000 examples through tfds is slow too."""
    if importlib.util.find_spec("tensorflow") is None or importlib.util.find_spec("tensorflow_datasets") is None:
        pytest.skip("needs tensorflow and tensorflow-datasets (pip install tensorflow-cpu tensorflow-datasets)")
    root = REPO / "data" if name == "mnist" else _fashion_root()
    if root is None:
        pytest.skip("Fashion-MNIST files not found")
    for split in splits:
        expected = data.load(name, split, data_dir=root)
        got = data.load(name, split, data_dir=root, source="tfds")
        assert got[0].dtype == np.uint8 and got[1].dtype == np.int32
        np.testing.assert_array_equal(got[0], expected[0])
        np.testing.assert_array_equal(got[1], expected[1])
