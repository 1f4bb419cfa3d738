"""MNIST, Fashion-MNIST and CIFAR-10 as numpy arrays, offline, plus batching, splitting and normalisation.

:func:`load` reads the original IDX ``.gz`` files (the layout LeCun's and Zalando's sites use) with
numpy, checks their md5 against the published values and returns ``uint8`` images ``(N, 28, 28)``
and ``int32`` labels ``(N,)``. It never touches the network. The files are looked for, in order, in

1. the ``data_dir`` argument (``data_dir/<name>/`` or ``data_dir`` itself),
2. the environment variable ``SPIKEJAX_DATA`` (same rule),
3. the repository's ``data/<name>/`` (a source checkout ships MNIST and Fashion-MNIST there),
4. the user cache ``$XDG_CACHE_HOME/spikejax/<name>/`` (default ``~/.cache/spikejax/<name>/``).

:func:`download` fetches missing files into the cache, only when called. ``source="tfds"``
builds the same data through tensorflow-datasets (offline, from the same files) instead.

==================  ======  =====  =======================================  =============
name                train   test   classes                                  mean, std
==================  ======  =====  =======================================  =============
``mnist``           60000   10000  digits 0-9                               0.1307, 0.3081
``fashion_mnist``   60000   10000  T-shirt/top, Trouser, ..., Ankle boot    0.2860, 0.3530
``cifar10``         50000   10000  airplane, automobile, ..., truck         per channel
==================  ======  =====  =======================================  =============

Event data sets (SHD, SSC, N-MNIST, DVS128 Gesture), their time binning and augmentations are
in :mod:`spikejax.data.events`.

CIFAR-10 comes from the original "python version" archive ``cifar-10-python.tar.gz`` (searched like
the IDX files, read without extracting) as ``uint8`` images ``(N, 32, 32, 3)``, channels last.

(mean and std of the train pixels on a 0-1 scale; ``DATASETS[name]`` holds files, md5s, mirrors,
class names and these statistics.)

Example:
    >>> from spikejax import data
    >>> images, labels = data.load("mnist", "test")
    >>> images.shape, images.dtype, labels.dtype
    ((10000, 28, 28), dtype('uint8'), dtype('int32'))
    >>> (train_x, train_y), (val_x, val_y) = data.split(images, labels, validation=1000, seed=0)
    >>> loader = data.batches(train_x, train_y, 256, shuffle_seed=0, epoch=0, drop_last=True)
    >>> len(loader)
    35
    >>> x, y = next(iter(loader))
    >>> data.normalize(x).shape, data.normalize(x).dtype
    ((256, 28, 28), dtype('float32'))
"""

from ._batching import Batches, batches, normalize, split
from ._files import DATASETS, ChecksumError, download, find
from ._load import load
from . import events  # event data sets (SHD, SSC, N-MNIST, DVS128 Gesture): spikejax.data.events

__all__ = [
    "load",
    "batches",
    "split",
    "normalize",
    "find",
    "download",
    "ChecksumError",
    "DATASETS",
    "Batches",
]
