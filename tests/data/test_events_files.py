"""Event data readers on small files written here in each data set's published format."""

import importlib.util
import zipfile

import h5py
import numpy as np
import pytest

from spikejax.data import _files, events
from spikejax.data._event_files import find_event_files


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No SPIKEJAX_DATA, an empty user cache and an empty repository data folder."""
    monkeypatch.delenv("SPIKEJAX_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(_files, "repo_data_dir", lambda: tmp_path / "repo_data")
    return tmp_path


def _write_shd_layout(path, times, units, labels, *, keys=None, time_dtype=np.float16):
    """The published SHD/SSC layout, written with h5py directly (not with spikejax's writer):
    variable-length times (float16 in the published files) and units (uint16), uint8 labels."""
    with h5py.File(path, "w") as file:
        spikes = file.create_group("spikes")
        t = spikes.create_dataset("times", (len(times),), dtype=h5py.vlen_dtype(np.dtype(time_dtype)))
        u = spikes.create_dataset("units", (len(units),), dtype=h5py.vlen_dtype(np.dtype(np.uint16)))
        for index, (ti, ui) in enumerate(zip(times, units)):
            t[index], u[index] = np.asarray(ti, time_dtype), np.asarray(ui, np.uint16)
        file.create_dataset("labels", data=np.asarray(labels, np.uint8))
        if keys is not None:
            extra = file.create_group("extra")
            extra.create_dataset("keys", data=np.array([k.encode() for k in keys]))
            extra.create_dataset("speaker", data=np.zeros(len(labels), np.uint8))


def _samples(seed, count, channels=700):
    rng = np.random.default_rng(seed)
    times, units = [], []
    for _ in range(count):
        n = int(rng.integers(0, 40))
        times.append(np.sort(rng.uniform(0, 1.0, n)).astype(np.float32))
        units.append(rng.integers(0, channels, n).astype(np.uint16))
    return times, units, rng.integers(0, 20, count)


@pytest.mark.parametrize("name, split", [("shd", "train"), ("shd", "test"), ("ssc", "valid")])
def test_hdf5_reader_returns_the_published_layout(isolated, name, split):
    times, units, labels = _samples(1, 6)
    keys = [f"word-{i}" for i in range(35 if name == "ssc" else 20)]
    folder = isolated / "data" / name
    folder.mkdir(parents=True)
    _write_shd_layout(folder / f"{name}_{split}.h5", times, units, labels, keys=keys)
    data = events.load_events(name, split, data_dir=isolated / "data")
    assert len(data) == 6 and data.sensor_shape == (700,) and data.classes == tuple(keys)
    np.testing.assert_array_equal(data.labels, labels)
    assert data.labels.dtype == np.int32
    for index in range(6):
        t, u = data[index]
        assert t.dtype == np.float32 and u.dtype == np.int32
        np.testing.assert_array_equal(t, np.asarray(times[index], np.float16).astype(np.float32))
        np.testing.assert_array_equal(u, units[index])
    batch, batch_labels = data.batch([5, 0, 2], max_events=40)
    assert batch.times.shape == (3, 40)
    assert batch.mask.sum(1).tolist() == [len(times[i]) for i in (5, 0, 2)]
    np.testing.assert_array_equal(batch_labels, labels[[5, 0, 2]])


def test_hdf5_writer_matches_the_published_layout(tmp_path):
    times, units, labels = _samples(2, 4)
    events.write_hdf5_spikes(tmp_path / "ours.h5", times, units, labels, keys=["a", "b"])
    _write_shd_layout(tmp_path / "theirs.h5", times, units, labels, keys=["a", "b"], time_dtype=np.float32)
    ours, theirs = events.read_hdf5_spikes(tmp_path / "ours.h5"), events.read_hdf5_spikes(tmp_path / "theirs.h5")
    for index in range(4):
        for a, b in zip(ours[index], theirs[index]):
            np.testing.assert_array_equal(a, b)
    with h5py.File(tmp_path / "ours.h5") as mine, h5py.File(tmp_path / "theirs.h5") as published:
        for key in ("spikes/times", "spikes/units", "labels", "extra/keys"):
            assert mine[key].dtype == published[key].dtype and mine[key].shape == published[key].shape, key


def test_hdf5_reader_rejects_malformed_files(tmp_path):
    _write_shd_layout(tmp_path / "a.h5", [np.array([0.1, 0.2])], [np.array([1, 700])], [0])
    with pytest.raises(ValueError, match=r"sample 0 has units from 1 to 700, expected 0 to 699"):
        events.read_hdf5_spikes(tmp_path / "a.h5")
    with h5py.File(tmp_path / "b.h5", "w") as file:
        file.create_dataset("labels", data=np.zeros(2, np.uint8))
    with pytest.raises(ValueError, match=r"no dataset 'spikes/times'"):
        events.read_hdf5_spikes(tmp_path / "b.h5")
    _write_shd_layout(tmp_path / "c.h5", [np.array([0.1])], [np.array([1])], [0, 1])
    with pytest.raises(ValueError, match=r"spikes/times has 1 samples, spikes/units 1 and labels 2"):
        events.read_hdf5_spikes(tmp_path / "c.h5")


def test_missing_files_name_the_files_the_places_and_the_publisher(isolated, monkeypatch):
    (isolated / "env").mkdir()
    (isolated / "env" / "shd_train.h5.zip").write_bytes(b"")
    monkeypatch.setenv("SPIKEJAX_DATA", str(isolated / "env"))
    with pytest.raises(FileNotFoundError) as error:
        events.load_events("shd", "train", data_dir=isolated / "given")
    message = str(error.value)
    for text in ("shd_train.h5", f"data_dir argument: {isolated / 'given' / 'shd'} (does not exist)",
                 f"$SPIKEJAX_DATA: {isolated / 'env'} (missing shd_train.h5; it holds shd_train.h5.zip: unpack it",
                 f"repository data folder: {isolated / 'repo_data' / 'shd'}",
                 f"user cache: {isolated / 'xdg' / 'spikejax' / 'shd'}",
                 "https://zenkelab.org/datasets/shd_train.h5.zip", "--data-dir", "SPIKEJAX_DATA=<folder>",
                 "downloads nothing"):
        assert text in message, (text, message)
    with pytest.raises(FileNotFoundError, match=r"(?s)N-MNIST test files not found: no folder holds Test/ \(or Test.zip\).*garrickorchard"):
        events.load_events("nmnist", "test")
    with pytest.raises(ValueError, match=r"split of 'shd' must be one of 'train', 'test', got 'valid'"):
        events.load_events("shd", "valid")
    with pytest.raises(ValueError, match=r"name must be one of 'shd', 'ssc', 'nmnist', 'dvs_gesture', got 'mnist'"):
        events.load_events("mnist")


def _nmnist_record(x, y, p, t):
    """One 40-bit N-MNIST record, packed bit by bit as the data set's description gives it."""
    word = (x << 32) | (y << 24) | (p << 23) | t
    return word.to_bytes(5, "big")


def test_nmnist_records_and_overflow():
    t_max = 2**23 - 1
    data = b"".join([_nmnist_record(0, 0, 0, 5), _nmnist_record(33, 12, 1, t_max),
                     _nmnist_record(0, 240, 0, 0),  # a timestamp overflow marker: +2**13 us after it
                     _nmnist_record(7, 33, 1, 100)])
    decoded = events.read_nmnist(data)
    assert decoded["x"].tolist() == [0, 33, 7] and decoded["y"].tolist() == [0, 12, 33]
    assert decoded["p"].tolist() == [0, 1, 1] and decoded["t"].tolist() == [5, t_max, 100 + 2**13]
    with pytest.raises(ValueError, match=r"5-byte records, got 7 bytes"):
        events.read_nmnist(data[:7])


def _nmnist_samples(seed):
    rng = np.random.default_rng(seed)
    samples = {}
    for digit in (0, 3, 9):
        for number in range(2):
            n = int(rng.integers(1, 30))
            x, y, p = rng.integers(0, 34, n), rng.integers(0, 34, n), rng.integers(0, 2, n)
            t = np.sort(rng.integers(0, 300_000, n))
            samples[f"{digit}/{number:05d}.bin"] = (digit, x, y, p, t)
    return samples


def _expected(sample):
    digit, x, y, p, t = sample
    return digit, (t * 1e-6).astype(np.float32), ((y * 34 + x) * 2 + p).astype(np.int32)


@pytest.mark.parametrize("packed", ["folder", "zip"])
def test_nmnist_from_the_folder_or_the_zip(isolated, packed):
    samples = _nmnist_samples(0)
    files = {name: b"".join(_nmnist_record(*map(int, r)) for r in zip(x, y, p, t))
             for name, (_, x, y, p, t) in samples.items()}
    root = isolated / "nmnist"
    if packed == "folder":
        for name, content in files.items():
            (root / "Train" / name).parent.mkdir(parents=True, exist_ok=True)
            (root / "Train" / name).write_bytes(content)
    else:
        root.mkdir()
        with zipfile.ZipFile(root / "Train.zip", "w") as archive:
            for name, content in files.items():
                archive.writestr(f"Train/{name}", content)
    data = events.load_events("nmnist", "train", data_dir=isolated)
    assert len(data) == 6 and data.sensor_shape == (34, 34, 2)
    for index, name in enumerate(sorted(samples)):
        digit, times, units = _expected(samples[name])
        assert data.labels[index] == digit
        np.testing.assert_allclose(data[index][0], times, rtol=1e-6)
        np.testing.assert_array_equal(data[index][1], units)
    dense = events.events_to_dense(data.batch([0])[0], data.sensor_shape, dt=0.1, steps=3)
    _, x, y, p, t = samples[sorted(samples)[0]]
    expected = np.zeros((3, 34, 34, 2))
    np.add.at(expected, (t // 100_000, y, x, p), 1)
    np.testing.assert_array_equal(dense[:, 0], expected)


def _write_dvs_gesture(root, split_folder, samples):
    """tonic's preprocessed DVS128 Gesture layout: <root>/DVSGesture/<archive> beside its unpacked
    folder of user<NN>_<lighting>/<label>.npy arrays with columns x, y, p, t (milliseconds)."""
    base = root / "DVSGesture"
    (base / split_folder).mkdir(parents=True)
    (base / f"{split_folder}.tar.gz").write_bytes(b"")  # tonic only checks that the archive exists
    for (user, lighting, label), array in samples.items():
        folder = base / split_folder / f"user{user:02d}_{lighting}"
        folder.mkdir(exist_ok=True)
        np.save(folder / f"{label}.npy", array)


@pytest.mark.skipif(importlib.util.find_spec("tonic") is None,
                    reason="tonic is not installed (the 'events' extra): DVS128 Gesture is read through it")
def test_dvs_gesture_through_tonic(isolated):
    rng = np.random.default_rng(0)
    samples = {}
    for user in range(1, 11):  # tonic wants at least 100 .npy files before it believes the folder
        for label in range(10):
            n = int(rng.integers(1, 6))
            samples[(user, "fluorescent", label)] = np.stack([rng.integers(0, 128, n), rng.integers(0, 128, n),
                                                              rng.integers(0, 2, n), np.sort(rng.integers(0, 500, n))],
                                                             axis=1).astype(np.float64)
    _write_dvs_gesture(isolated / "dvs", "ibmGestureTest", samples)
    data = events.load_events("dvs_gesture", "test", data_dir=isolated / "dvs")
    assert len(data) == 100 and data.sensor_shape == (128, 128, 2) and len(data.classes) == 11
    seen = 0
    for index in range(len(data)):
        times, units = data[index]
        matches = [a for key, a in samples.items() if key[2] == data.labels[index] and len(a) == len(times)
                   and np.array_equal(((a[:, 1] * 128 + a[:, 0]) * 2 + a[:, 2]).astype(np.int32), units)]
        assert matches, index
        np.testing.assert_allclose(times, matches[0][:, 3] * 1e-3, rtol=1e-6)
        seen += 1
    assert seen == 100
    with pytest.raises(FileNotFoundError, match=r"DVSGesture/ibmGestureTrain.tar.gz, DVSGesture/ibmGestureTrain"):
        find_event_files("dvs_gesture", "train", isolated / "dvs")


def test_event_set_indexing():
    data = events.EventSet("toy", (4,), np.array([1, 2], np.int32), ("a", "b", "c"),
                           ([(np.array([0.5], np.float32), np.array([3], np.int32))] * 2).__getitem__)
    assert data[-1][1].tolist() == [3]
    with pytest.raises(IndexError, match=r"index 2 out of range for 2 samples of 'toy'"):
        data[2]
    assert data.max_events() == 1
