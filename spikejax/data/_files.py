"""Where the IDX files live: the dataset table, the search order, checksums and downloads."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import pathlib
import tempfile
import urllib.error
import urllib.request
from typing import Mapping

__all__ = ["ChecksumError", "DATASETS", "find", "download", "cache_dir"]

ENV_VAR = "SPIKEJAX_DATA"


class ChecksumError(ValueError):
    """A data file's md5 differs from the published one (corrupt, truncated or the wrong file).

    Example:
        >>> import pathlib, tempfile
        >>> from spikejax.data import DATASETS, ChecksumError, load
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     for file in DATASETS["mnist"].files:      # files with the right names, wrong bytes
        ...         _ = (pathlib.Path(folder) / file).write_bytes(b"corrupt")
        ...     try:
        ...         load("mnist", "test", data_dir=folder)
        ...     except ChecksumError as error:
        ...         print(str(error)[:17])
        checksum mismatch
    """


@dataclasses.dataclass(frozen=True)
class Dataset:
    """What spikejax knows about one data set: its files, checksums, mirrors and classes."""

    name: str
    title: str
    files: Mapping[str, tuple[int, str]]  # file name -> (bytes, md5)
    mirrors: tuple[str, ...]
    classes: tuple[str, ...]
    mean_std: tuple  # of the train pixels on a 0-1 scale: (mean, std), per channel for colour images
    homepage: str = ""  # where the data set is published, named in "not found" errors

    def split_files(self, split: str) -> tuple[str, str]:
        prefix = "train" if split == "train" else "t10k"
        return f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz"


DATASETS: dict[str, Dataset] = {
    "mnist": Dataset(
        name="mnist",
        title="MNIST",
        files={
            "train-images-idx3-ubyte.gz": (9912422, "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
            "train-labels-idx1-ubyte.gz": (28881, "d53e105ee54ea40749a09fcbcd1e9432"),
            "t10k-images-idx3-ubyte.gz": (1648877, "9fb629c4189551a2d022fa330f9573f3"),
            "t10k-labels-idx1-ubyte.gz": (4542, "ec29112dd5afa0611ce80d1b7f02629c"),
        },
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        classes=tuple(str(digit) for digit in range(10)),
        mean_std=(0.1307, 0.3081),
        homepage="http://yann.lecun.com/exdb/mnist/",
    ),
    "fashion_mnist": Dataset(
        name="fashion_mnist",
        title="Fashion-MNIST",
        files={
            "train-images-idx3-ubyte.gz": (26421880, "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
            "train-labels-idx1-ubyte.gz": (29515, "25c81989df183df01b3e8a0aad5dffbe"),
            "t10k-images-idx3-ubyte.gz": (4422102, "bef4ecab320f06d8554ea6380940ec79"),
            "t10k-labels-idx1-ubyte.gz": (5148, "bb300cfdad3c16e7a12a480ee83cd310"),
        },
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ),
        classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                 "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        mean_std=(0.2860, 0.3530),
        homepage="https://github.com/zalandoresearch/fashion-mnist",
    ),
    # The "python version" archive; spikejax reads it without extracting (see _cifar.py).
    "cifar10": Dataset(
        name="cifar10",
        title="CIFAR-10",
        files={"cifar-10-python.tar.gz": (170498071, "c58f30108f718f92721af3b95e74349a")},
        mirrors=("https://www.cs.toronto.edu/~kriz/",),
        classes=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
        mean_std=((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),  # per channel, R G B
        homepage="https://www.cs.toronto.edu/~kriz/cifar.html",
    ),
}

SPLITS = ("train", "test")


def dataset(name: str) -> Dataset:
    """The table entry for ``name``; ``ValueError`` listing the valid names otherwise."""
    if not isinstance(name, str) or name not in DATASETS:
        raise ValueError(f"name must be one of {', '.join(map(repr, DATASETS))}, got {name!r}")
    return DATASETS[name]


def cache_dir() -> pathlib.Path:
    """The user cache, ``$XDG_CACHE_HOME/spikejax`` or ``~/.cache/spikejax``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base).expanduser() / "spikejax"


def repo_data_dir() -> pathlib.Path:
    """``data/`` beside the ``spikejax`` package (a source checkout holds MNIST and Fashion-MNIST there)."""
    import spikejax

    return pathlib.Path(spikejax.__file__).resolve().parents[1] / "data"


def _path(data_dir) -> pathlib.Path | None:
    if data_dir is None:
        return None
    if not isinstance(data_dir, (str, os.PathLike)):
        raise TypeError(f"data_dir must be a path (str or os.PathLike) or None, got {type(data_dir).__name__}")
    return pathlib.Path(data_dir).expanduser()


def _roots(data_dir) -> list[tuple[str, pathlib.Path | None, bool]]:
    """``(label, root, root_itself_may_hold_files)`` in search order; ``root`` None when unset."""
    env = os.environ.get(ENV_VAR) or None
    return [
        ("data_dir argument", _path(data_dir), True),
        (f"${ENV_VAR}", None if env is None else pathlib.Path(env).expanduser(), True),
        ("repository data folder", repo_data_dir(), False),
        ("user cache", cache_dir(), False),
    ]


def _why_not(folder: pathlib.Path, names) -> str | None:
    """None when ``folder`` holds every file in ``names``, else the reason it does not."""
    if not folder.is_dir():
        return "does not exist"
    missing = [n for n in names if not (folder / n).is_file()]
    return f"missing {', '.join(missing)}" if missing else None


def find(name: str, data_dir: str | os.PathLike | None = None) -> pathlib.Path:
    """The folder holding the files of ``name``: the four IDX ``.gz`` files of ``"mnist"`` or
    ``"fashion_mnist"``, the archive ``cifar-10-python.tar.gz`` of ``"cifar10"``.

    Searched in order; the first folder that holds all four files wins:

    1. ``data_dir``: ``data_dir/<name>/``, then ``data_dir`` itself;
    2. the environment variable ``SPIKEJAX_DATA``, with the same rule;
    3. the repository's ``data/<name>/`` (beside the ``spikejax`` package in a source checkout);
    4. the user cache ``$XDG_CACHE_HOME/spikejax/<name>/`` (default ``~/.cache/spikejax/<name>/``),
       where :func:`download` writes.

    Only file names are checked here; :func:`load` checks the contents.

    Raises:
        ValueError: ``name`` is not a known data set.
        FileNotFoundError: no folder holds the files; the message lists every place searched,
            in order, and how to get the files.

    Example:
        >>> import pathlib, tempfile
        >>> from spikejax.data import DATASETS, find
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     for file in DATASETS["mnist"].files:      # only the names are checked here
        ...         (pathlib.Path(folder) / file).touch()
        ...     print(find("mnist", data_dir=folder) == pathlib.Path(folder).resolve())
        True
    """
    info = dataset(name)
    searched, missing = [], set()
    for label, root, itself in _roots(data_dir):
        if root is None:
            searched.append(f"  - {label}: not {'given' if label.startswith('data_dir') else 'set'}")
            continue
        for folder in (root / name, root) if itself else (root / name,):
            reason = _why_not(folder, info.files)
            if reason is None:
                return folder.resolve()
            searched.append(f"  - {label}: {folder} ({reason})")
    files = list(info.files)
    urls = "\n".join(f"    {info.mirrors[0]}{file}" for file in files)
    mirrors = f"\n    (mirrors: {', '.join(info.mirrors[1:])})" if len(info.mirrors) > 1 else ""
    total = sum(size for size, _ in info.files.values())
    raise FileNotFoundError(
        f"{info.title} files not found: no folder holds {', '.join(files)} "
        f"(spikejax.data.find({name!r})). "
        f"Searched, in order:\n" + "\n".join(searched) + "\n"
        f"{info.title} is published at {info.homepage} ({total / 2**20:.1f} MiB). To get it:\n"
        f"  - download\n{urls}{mirrors}\n"
        f"    into one of the folders above ({cache_dir() / name} is searched by default), or into a "
        f"folder you pass as data_dir=<folder> (--data-dir in tasks) or set {ENV_VAR}=<folder>; or\n"
        f"  - call spikejax.data.download({name!r}) on a machine with network, which writes to "
        f"{cache_dir() / name} and checks the md5."
    )


# (resolved path, size, mtime_ns) -> md5 hex digest; a changed file gets a new key.
_md5_cache: dict[tuple[str, int, int], str] = {}


def _cache_key(path: pathlib.Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


def _known_as(md5: str) -> str:
    """Name the file a digest belongs to, to explain a mix-up of data sets."""
    for info in DATASETS.values():
        for file, (_, known) in info.files.items():
            if known == md5:
                return f" (that is the md5 of {info.title}'s {file})"
    return ""


def check_md5(path: pathlib.Path, name: str, *, data: bytes | None = None) -> None:
    """Raise :class:`ChecksumError` unless ``path`` has the published md5 for ``name``.

    ``data`` is the file's content when the caller has already read it. A file that passed once is
    not hashed again while its size and modification time stay the same.
    """
    size, expected = DATASETS[name].files[path.name]
    key = _cache_key(path)
    actual = _md5_cache.get(key)
    if actual is None:
        actual = hashlib.md5(path.read_bytes() if data is None else data).hexdigest()
    if actual != expected:
        _md5_cache.pop(key, None)
        note = f"; it has {key[1]} bytes, expected {size}" if key[1] != size else ""
        raise ChecksumError(
            f"checksum mismatch for {path}: expected md5 {expected}, got {actual}{_known_as(actual)}"
            f"{note}. The file is corrupt, incomplete or from another data set: replace it (copy it "
            f"again, or delete it and call spikejax.data.download({name!r}))."
        )
    _md5_cache[key] = actual


def download(name: str, data_dir: str | os.PathLike | None = None, *, timeout: float = 30) -> pathlib.Path:
    """Download the files of ``name`` into ``data_dir/<name>/`` (default: the user cache).

    Each file is fetched from the first mirror that answers with the published md5 (see
    ``DATASETS[name].mirrors``), written to a temporary file and renamed into place, so an
    interrupted download never leaves a partial file under the final name. Files already present
    with the right md5 are kept. Never called implicitly: :func:`load` only reads local files.

    Args:
        name: ``"mnist"``, ``"fashion_mnist"`` or ``"cifar10"``.
        data_dir: the root to write under; the files go to ``data_dir/<name>/``. Default: the user
            cache (``$XDG_CACHE_HOME/spikejax`` or ``~/.cache/spikejax``), which :func:`find` searches.
        timeout: seconds to wait for each connection (passed to ``urllib.request.urlopen``).

    Returns:
        The folder holding the files.

    Raises:
        ChecksumError: a file could not be fetched from any mirror and at least one mirror served
            bytes with the wrong md5.
        ConnectionError: no mirror could be reached for a file.

    Example:
        Files already in place with the published md5 are kept, so this fetches nothing:

        >>> import pathlib, tempfile
        >>> from spikejax.data import DATASETS, download, find
        >>> with tempfile.TemporaryDirectory() as root:
        ...     (pathlib.Path(root) / "mnist").mkdir()
        ...     for file in DATASETS["mnist"].files:      # links to the copy find() sees
        ...         (pathlib.Path(root) / "mnist" / file).symlink_to(find("mnist") / file)
        ...     print(download("mnist", data_dir=root).name)
        mnist
    """
    info = dataset(name)
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    folder = (_path(data_dir) or cache_dir()) / name
    folder.mkdir(parents=True, exist_ok=True)
    for file, (_, md5) in info.files.items():
        target = folder / file
        if target.is_file():
            try:
                check_md5(target, name)
                continue
            except ChecksumError:
                pass  # replaced below
        failures, corrupt = [], False
        for mirror in info.mirrors:
            url = mirror + file
            try:
                _fetch(url, target, md5, timeout)
                break
            except ChecksumError as error:
                corrupt = True
                failures.append(f"  {url}: {error}")
            except (OSError, urllib.error.URLError) as error:
                failures.append(f"  {url}: {type(error).__name__}: {error}")
        else:
            kind = ChecksumError if corrupt else ConnectionError
            raise kind(f"could not download {info.title}'s {file}; tried:\n" + "\n".join(failures))
    return folder.resolve()


def _fetch(url: str, target: pathlib.Path, md5: str, timeout: float) -> None:
    """Stream ``url`` into a temporary file beside ``target``; rename it there if the md5 matches."""
    request = urllib.request.Request(url, headers={"User-Agent": "spikejax"})
    digest = hashlib.md5()
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(request, timeout=timeout) as response:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != md5:
            raise ChecksumError(f"expected md5 {md5}, got {digest.hexdigest()}{_known_as(digest.hexdigest())}")
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


@contextlib.contextmanager
def private_tempdir():
    """Within this context, ``tempfile`` makes its files in a folder that is removed after.

    tensorflow-datasets leaves an empty ``tmp...tfds`` folder in the system temp folder each time
    it builds dataset info offline (``DatasetInfo.initialize_from_bucket`` makes it, finds no GCS
    files and returns); spikejax's tfds calls run in here so that nothing of theirs is left behind.

    Example:
        >>> import os, tempfile
        >>> with private_tempdir() as folder:
        ...     inside = tempfile.mkdtemp()
        >>> os.path.dirname(inside) == folder, os.path.exists(inside)
        (True, False)
    """
    with tempfile.TemporaryDirectory(prefix="spikejax-tfds-") as folder:
        before = tempfile.tempdir
        tempfile.tempdir = folder
        try:
            yield folder
        finally:
            tempfile.tempdir = before

