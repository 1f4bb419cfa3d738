"""Readers for the published event data sets: SHD and SSC (HDF5), N-MNIST (binary records) and
DVS128 Gesture (through tonic). Nothing is downloaded: missing files are reported with where they
were looked for and where they are published."""

from __future__ import annotations

import dataclasses
import importlib
import os
import pathlib
import zipfile
from typing import Callable, Sequence

import numpy as np

from ._event_tensors import Events, pad_events
from ._files import ENV_VAR, _roots, cache_dir

__all__ = ["EVENT_DATASETS", "EventSet", "load_events", "read_hdf5_spikes", "write_hdf5_spikes", "read_nmnist"]


@dataclasses.dataclass(frozen=True)
class EventDataset:
    """What spikejax knows about one event data set: its files per split, sensor, and where it is published."""

    name: str
    title: str
    splits: dict  # split -> the paths (relative to the data set's folder) it needs
    sensor_shape: tuple[int, ...]
    num_classes: int
    homepage: str
    get: str  # how to get the files, for the "not found" error


EVENT_DATASETS: dict[str, EventDataset] = {
    "shd": EventDataset(
        "shd", "Spiking Heidelberg Digits (SHD)", {s: (f"shd_{s}.h5",) for s in ("train", "test")}, (700,), 20,
        "https://zenkelab.org/resources/spiking-heidelberg-datasets-shd/",
        "download https://zenkelab.org/datasets/shd_train.h5.zip and shd_test.h5.zip (or the .h5.gz "
        "files) and unpack them to shd_train.h5 and shd_test.h5"),
    "ssc": EventDataset(
        "ssc", "Spiking Speech Commands (SSC)", {s: (f"ssc_{s}.h5",) for s in ("train", "valid", "test")},
        (700,), 35, "https://zenkelab.org/resources/spiking-heidelberg-datasets-shd/",
        "download https://zenkelab.org/datasets/ssc_train.h5.zip, ssc_valid.h5.zip and ssc_test.h5.zip "
        "(or the .h5.gz files) and unpack them to ssc_train.h5, ssc_valid.h5 and ssc_test.h5"),
    "nmnist": EventDataset(
        "nmnist", "N-MNIST", {"train": ("Train",), "test": ("Test",)}, (34, 34, 2), 10,
        "https://www.garrickorchard.com/datasets/n-mnist",
        "download Train.zip and Test.zip from https://www.garrickorchard.com/datasets/n-mnist (mirror: "
        "https://data.mendeley.com/datasets/468j46mzdv/1); either keep the zip files or unpack them to "
        "the folders Train/<digit>/*.bin and Test/<digit>/*.bin"),
    "dvs_gesture": EventDataset(
        "dvs_gesture", "DVS128 Gesture", {
            "train": ("DVSGesture/ibmGestureTrain.tar.gz", "DVSGesture/ibmGestureTrain"),
            "test": ("DVSGesture/ibmGestureTest.tar.gz", "DVSGesture/ibmGestureTest")},
        (128, 128, 2), 11, "https://research.ibm.com/interactive/dvsgesture/",
        "download tonic's preprocessed archives https://figshare.com/ndownloader/files/38022171 "
        "(ibmGestureTrain.tar.gz) and https://figshare.com/ndownloader/files/38020584 "
        "(ibmGestureTest.tar.gz) into <folder>/DVSGesture/ and unpack them there (tonic needs both the "
        "archive and its folder: it would download again otherwise); reading needs tonic (pip install tonic)"),
}


def _dataset(name: str) -> EventDataset:
    if not isinstance(name, str) or name not in EVENT_DATASETS:
        raise ValueError(f"name must be one of {', '.join(map(repr, EVENT_DATASETS))}, got {name!r}")
    return EVENT_DATASETS[name]


def _present(folder: pathlib.Path, relative: str) -> bool:
    """A needed path is there: a file, a folder, or (N-MNIST) the folder's zip archive."""
    path = folder / relative
    return path.is_file() or path.is_dir() or (relative in ("Train", "Test") and path.with_suffix(".zip").is_file())


def _shown(relative: str) -> str:
    return f"{relative}/ (or {relative}.zip)" if relative in ("Train", "Test") else relative


def find_event_files(name: str, split: str, data_dir=None) -> pathlib.Path:
    """The folder holding the files of one split of an event data set (searched like :func:`spikejax.data.find`)."""
    info = _dataset(name)
    if split not in info.splits:
        raise ValueError(f"split of {name!r} must be one of {', '.join(map(repr, info.splits))}, got {split!r}")
    needed = info.splits[split]
    searched = []
    for label, root, itself in _roots(data_dir):
        if root is None:
            searched.append(f"  - {label}: not {'given' if label.startswith('data_dir') else 'set'}")
            continue
        for folder in (root / name, root) if itself else (root / name,):
            missing = [_shown(relative) for relative in needed if not _present(folder, relative)]
            if not missing:
                return folder.resolve()
            reason = "does not exist" if not folder.is_dir() else f"missing {', '.join(missing)}"
            archives = [p.name for relative in needed for p in (folder / f"{relative}.zip", folder / f"{relative}.gz")
                        if p.is_file() and relative.endswith(".h5")]
            if archives:
                reason += f"; it holds {', '.join(archives)}: unpack it there"
            searched.append(f"  - {label}: {folder} ({reason})")
    raise FileNotFoundError(
        f"{info.title} {split} files not found: no folder holds {', '.join(map(_shown, needed))} "
        f"(spikejax.data.events.load_events({name!r}, {split!r})). Searched, in order:\n" + "\n".join(searched)
        + f"\n{info.title} is published at {info.homepage}. spikejax downloads nothing: {info.get}, into "
        f"one of the folders above ({cache_dir() / name} is searched by default), or into a folder you "
        f"pass as data_dir=<folder> (--data-dir in tasks) or set {ENV_VAR}=<folder>.")


@dataclasses.dataclass(frozen=True, eq=False)
class EventSet:
    """One split of an event data set: ``len``, ``events[i] -> (times, units)``, labels and padded batches.

    Attributes:
        name: the data set (``"shd"``, ``"ssc"``, ``"nmnist"``, ``"dvs_gesture"``, or a file's name).
        sensor_shape: the shape of one frame: ``(700,)`` channels, or ``(H, W, P)`` for a camera.
        labels: ``(N,)`` int32 class of each sample.
        classes: the class names.
        read: ``read(i) -> (times, units)``: sample ``i``'s event times in seconds (float32) and
            units (int32, indices into the flattened sensor), in time order.

    Example:
        >>> import numpy as np
        >>> samples = [(np.array([0.1, 0.2], np.float32), np.array([3, 4], np.int32))] * 2
        >>> data = EventSet("toy", (5,), np.array([0, 1], np.int32), ("a", "b"), samples.__getitem__)
        >>> len(data), data[1][1].tolist()
        (2, [3, 4])
        >>> events, labels = data.batch([1, 0], max_events=4)
        >>> events.times.shape, labels.tolist()
        ((2, 4), [1, 0])
    """

    name: str
    sensor_shape: tuple[int, ...]
    labels: np.ndarray
    classes: tuple[str, ...]
    read: Callable[[int], tuple[np.ndarray, np.ndarray]]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples of {self.name!r}")
        return self.read(int(index) % len(self))

    def batch(self, indices: Sequence[int], *, max_events: int | None = None) -> tuple[Events, np.ndarray]:
        """The samples ``indices`` as one padded :class:`Events` batch (see :func:`pad_events`) and their labels."""
        indices = np.asarray(indices, int)
        return pad_events([self[i] for i in indices], max_events), self.labels[indices]

    def max_events(self) -> int:
        """The largest number of events of any sample (reads every sample once)."""
        return max((len(self[i][0]) for i in range(len(self))), default=0)


def _h5py():
    try:
        return importlib.import_module("h5py")
    except ImportError as error:
        raise ModuleNotFoundError(
            'reading SHD and SSC needs h5py: pip install -e ".[events]" (from the repository\'s root), or '
            f"pip install h5py; import failed with: {error}", name="h5py") from error


def read_hdf5_spikes(path: str | os.PathLike, *, num_channels: int = 700, name: str | None = None) -> EventSet:
    """Read an SHD or SSC HDF5 file (``spikes/times``, ``spikes/units``, ``labels``; ``extra/keys``).

    The published files hold, per sample, a variable-length array of spike times in seconds
    (``spikes/times``) and one of the channels that fired (``spikes/units``, 0 to 699), and one
    integer label per sample (``labels``); ``extra/keys`` names the classes when present.

    Args:
        path: the ``.h5`` file.
        num_channels: the channels of the sensor (700 for SHD and SSC); units must be below it.
        name: the :class:`EventSet`'s name (default: the file's name).

    Returns:
        An :class:`EventSet` of sensor ``(num_channels,)``, read into memory.

    Raises:
        ValueError: a dataset missing from the file, samples whose times and units differ in
            length, lengths that differ between the datasets, or units out of range.

    Example:
        >>> import pathlib, tempfile, numpy as np
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = pathlib.Path(folder) / "shd_test.h5"
        ...     write_hdf5_spikes(path, [np.array([0.01, 0.02])], [np.array([5, 699])], [3])
        ...     data = read_hdf5_spikes(path)
        >>> len(data), data.labels.tolist(), data[0][1].tolist()
        (1, [3], [5, 699])
    """
    h5py, path = _h5py(), pathlib.Path(path)
    with h5py.File(path, "r") as file:
        for key in ("spikes/times", "spikes/units", "labels"):
            if key not in file:
                raise ValueError(f"{path}: no dataset {key!r}; an SHD/SSC file holds spikes/times, spikes/units "
                                 f"and labels, got {sorted(file.keys())}")
        times = [np.asarray(t, np.float32) for t in file["spikes/times"][:]]
        units = [np.asarray(u, np.int32) for u in file["spikes/units"][:]]
        labels = np.asarray(file["labels"][:], np.int32)
        keys = file["extra/keys"][:] if "extra/keys" in file else None
    if not len(times) == len(units) == len(labels):
        raise ValueError(f"{path}: spikes/times has {len(times)} samples, spikes/units {len(units)} and labels "
                         f"{len(labels)}; expected the same number")
    for index, (t, u) in enumerate(zip(times, units)):
        if t.shape != u.shape:
            raise ValueError(f"{path}: sample {index} has {t.shape[0]} times but {u.shape[0]} units")
        if u.size and (u.min() < 0 or u.max() >= num_channels):
            raise ValueError(f"{path}: sample {index} has units from {u.min()} to {u.max()}, expected 0 to "
                             f"{num_channels - 1} (num_channels={num_channels})")
    if keys is None:
        classes = tuple(str(c) for c in range(int(labels.max(initial=-1)) + 1))
    else:
        classes = tuple(k.decode() if isinstance(k, bytes) else str(k) for k in keys)
    return EventSet(name or path.name, (num_channels,), labels, classes, lambda i: (times[i], units[i]))


def write_hdf5_spikes(path: str | os.PathLike, times: Sequence[np.ndarray], units: Sequence[np.ndarray],
                      labels: Sequence[int], *, keys: Sequence[str] | None = None) -> None:
    """Write samples in the SHD/SSC HDF5 layout (for generated data and tests; :func:`read_hdf5_spikes` reads it).

    Args:
        path: the ``.h5`` file to write.
        times: per sample, spike times in seconds (stored as variable-length float32).
        units: per sample, the channel of each spike (stored as variable-length uint16).
        labels: one class per sample (stored as uint8).
        keys: class names for ``extra/keys`` (optional).

    Example:
        >>> import pathlib, tempfile, numpy as np
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     write_hdf5_spikes(pathlib.Path(folder) / "a.h5", [np.array([0.5])], [np.array([1])], [0])
        ...     print(read_hdf5_spikes(pathlib.Path(folder) / "a.h5")[0][0].tolist())
        [0.5]
    """
    h5py = _h5py()
    if not len(times) == len(units) == len(labels):
        raise ValueError(f"times, units and labels must have one entry per sample, got {len(times)}, "
                         f"{len(units)} and {len(labels)}")
    with h5py.File(pathlib.Path(path), "w") as file:
        for key, values, dtype in (("spikes/times", times, np.float32), ("spikes/units", units, np.uint16)):
            data = file.create_dataset(key, (len(values),), dtype=h5py.vlen_dtype(np.dtype(dtype)))
            for index, value in enumerate(values):
                data[index] = np.asarray(value, dtype)
        file.create_dataset("labels", data=np.asarray(labels, np.uint8))
        if keys is not None:
            file.create_dataset("extra/keys", data=np.array([k.encode() for k in keys]))


def read_nmnist(data: bytes | str | os.PathLike) -> np.ndarray:
    """Decode one N-MNIST (or N-Caltech101) ``.bin`` file: 40-bit event records.

    Each record is 5 bytes: x (8 bits), y (8 bits), then the polarity (1 bit) and a 23-bit
    timestamp in microseconds. A record with y = 240 is a timestamp overflow: it adds
    ``2 ** 13`` microseconds to every later timestamp and is not an event (as in the data set's
    own Matlab reader and tonic).

    Args:
        data: the file's bytes, or its path.

    Returns:
        A structured array with fields ``x``, ``y`` (uint8), ``t`` (int64, microseconds) and ``p``
        (uint8, 1 for ON).

    Example:
        >>> record = bytes([3, 7, 0x80 | 0x01, 0x02, 0x03])       # x 3, y 7, ON, t = 0x010203 us
        >>> event = read_nmnist(record)[0]
        >>> int(event["x"]), int(event["y"]), int(event["t"]), int(event["p"])
        (3, 7, 66051, 1)
    """
    if not isinstance(data, (bytes, bytearray)):
        data = pathlib.Path(data).read_bytes()
    if len(data) % 5:
        raise ValueError(f"an N-MNIST file holds 5-byte records, got {len(data)} bytes (not a multiple of 5)")
    raw = np.frombuffer(bytes(data), np.uint8).reshape(-1, 5).astype(np.int64)
    t = ((raw[:, 2] & 0x7F) << 16) | (raw[:, 3] << 8) | raw[:, 4]
    overflow = raw[:, 1] == 240
    t = t + np.cumsum(overflow) * 2**13
    keep = ~overflow
    out = np.empty(int(keep.sum()), np.dtype([("x", np.uint8), ("y", np.uint8), ("t", np.int64), ("p", np.uint8)]))
    out["x"], out["y"], out["t"], out["p"] = raw[keep, 0], raw[keep, 1], t[keep], raw[keep, 2] >> 7
    return out


def _camera_events(x, y, p, t_us, sensor_shape) -> tuple[np.ndarray, np.ndarray]:
    height, width, polarities = sensor_shape
    units = (np.asarray(y, np.int64) * width + np.asarray(x, np.int64)) * polarities + np.asarray(p, np.int64)
    return np.asarray(t_us, np.float64).astype(np.float32) * np.float32(1e-6), units.astype(np.int32)


def _load_nmnist(folder: pathlib.Path, split: str, info: EventDataset) -> EventSet:
    member = info.splits[split][0]
    if (folder / member).is_dir():
        files = sorted((folder / member).glob("[0-9]/*.bin"))
        labels = np.array([int(path.parent.name) for path in files], np.int32)
        read_bytes = lambda i: files[i].read_bytes()  # noqa: E731
    else:
        archive = zipfile.ZipFile(folder / f"{member}.zip")
        names = sorted(n for n in archive.namelist()
                       if n.endswith(".bin") and n.count("/") >= 1 and n.split("/")[-2].isdigit())
        labels = np.array([int(n.split("/")[-2]) for n in names], np.int32)
        read_bytes = lambda i: archive.read(names[i])  # noqa: E731

    def read(index):
        events = read_nmnist(read_bytes(index))
        return _camera_events(events["x"], events["y"], events["p"], events["t"], info.sensor_shape)

    return EventSet("nmnist", info.sensor_shape, labels, tuple(str(d) for d in range(10)), read)


def _load_dvs_gesture(folder: pathlib.Path, split: str, info: EventDataset) -> EventSet:
    try:
        tonic = importlib.import_module("tonic")
    except ImportError as error:
        raise ModuleNotFoundError(
            'reading DVS128 Gesture needs tonic: pip install -e ".[events]" (from the repository\'s root), or '
            f"pip install tonic; import failed with: {error}", name="tonic") from error
    # find_event_files checked the archive and the folder, so tonic's own check passes and it downloads nothing.
    dataset = tonic.datasets.DVSGesture(str(folder), train=split == "train")
    labels = np.asarray(dataset.targets, np.int32)

    def read(index):
        events, _ = dataset[index]
        return _camera_events(events["x"], events["y"], events["p"], events["t"], info.sensor_shape)

    return EventSet("dvs_gesture", info.sensor_shape, labels, tuple(dataset.classes), read)


def load_events(name: str, split: str = "train", *, data_dir: str | os.PathLike | None = None) -> EventSet:
    """Load one split of SHD, SSC, N-MNIST or DVS128 Gesture from local files.

    =================  ===========================  ===============  =======  ================================
    name               splits                       sensor           classes  files (per split)
    =================  ===========================  ===============  =======  ================================
    ``"shd"``          train, test                  ``(700,)``       20       ``shd_<split>.h5``
    ``"ssc"``          train, valid, test           ``(700,)``       35       ``ssc_<split>.h5``
    ``"nmnist"``       train, test                  ``(34, 34, 2)``  10       ``Train/`` or ``Train.zip``
    ``"dvs_gesture"``  train, test (through tonic)  ``(128,128,2)``  11       ``DVSGesture/ibmGesture*``
    =================  ===========================  ===============  =======  ================================

    The folder is searched like :func:`spikejax.data.find`'s: ``data_dir/<name>/`` then
    ``data_dir``, ``$SPIKEJAX_DATA/<name>/`` then ``$SPIKEJAX_DATA``, the repository's
    ``data/<name>/``, the user cache ``~/.cache/spikejax/<name>/``. SHD and SSC are read into
    memory; N-MNIST and DVS128 Gesture samples are read when indexed.

    Args:
        name: ``"shd"``, ``"ssc"``, ``"nmnist"`` or ``"dvs_gesture"``.
        split: a split of that data set (above).
        data_dir: a folder searched first.

    Returns:
        An :class:`EventSet`; camera units index ``(y, x, polarity)`` flattened, times in seconds.

    Raises:
        ValueError: unknown ``name`` or ``split``, or a malformed file.
        FileNotFoundError: the files are nowhere in the search order; the message lists the files,
            every folder searched and where the data set is published (nothing is downloaded).
        ModuleNotFoundError: h5py (SHD, SSC) or tonic (DVS128 Gesture) is not installed.

    Example:
        >>> import pathlib, tempfile, numpy as np
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     write_hdf5_spikes(pathlib.Path(folder) / "shd_test.h5", [np.array([0.1])], [np.array([7])], [4])
        ...     data = load_events("shd", "test", data_dir=folder)
        >>> len(data), data.sensor_shape, data.labels.tolist()
        (1, (700,), [4])
    """
    info = _dataset(name)
    folder = find_event_files(name, split, data_dir)
    if name in ("shd", "ssc"):
        data = read_hdf5_spikes(folder / info.splits[split][0], num_channels=info.sensor_shape[0], name=name)
        if len(data.classes) < info.num_classes:  # a file without extra/keys: name the classes by number
            data = dataclasses.replace(data, classes=tuple(str(c) for c in range(info.num_classes)))
        return data
    if name == "nmnist":
        return _load_nmnist(folder, split, info)
    return _load_dvs_gesture(folder, split, info)
