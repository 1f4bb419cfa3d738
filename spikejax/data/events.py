"""Event data: readers for SHD, SSC, N-MNIST and DVS128 Gesture, dense time-binned tensors, augmentations.

Neuromorphic data sets record *when* each unit (a cochlea channel, a camera pixel and polarity)
fires. :func:`load_events` reads one split of a published data set from local files (nothing is
downloaded; a missing file is reported with the folders searched and where the data set is
published) into an :class:`EventSet`; :meth:`EventSet.batch` pads a batch of samples into
:class:`Events` arrays of one shape; :func:`events_to_dense` bins them into a time-major
``(T, B, C)`` (or ``(T, B, H, W, P)``) tensor of counts. The augmentations that SHD results rely
on (:func:`time_shift`, :func:`time_jitter`, :func:`channel_shift`, :func:`drop_events`) are pure
JAX functions of a PRNG key, so they run inside a jitted training step and the same key gives
the same bits.

==============  ===============================  ===============================================================
data set        reader                           published at
==============  ===============================  ===============================================================
SHD, SSC        HDF5 (h5py)                      https://zenkelab.org/resources/spiking-heidelberg-datasets-shd/
N-MNIST         40-bit binary records            https://www.garrickorchard.com/datasets/n-mnist
DVS128 Gesture  tonic (``pip install tonic``)    https://research.ibm.com/interactive/dvsgesture/
==============  ===============================  ===============================================================

Example:
    >>> import pathlib, tempfile, jax, numpy as np
    >>> from spikejax.data import events
    >>> with tempfile.TemporaryDirectory() as folder:      # a tiny file in SHD's layout
    ...     events.write_hdf5_spikes(pathlib.Path(folder) / "shd_train.h5",
    ...                              [np.array([0.0012, 0.0031]), np.array([0.0005])],
    ...                              [np.array([10, 11]), np.array([699])], [3, 7])
    ...     data = events.load_events("shd", "train", data_dir=folder)
    >>> batch, labels = data.batch([0, 1], max_events=4)
    >>> batch = events.drop_events(jax.random.key(0), batch, 0.0)   # inside a jitted step as well
    >>> dense = events.events_to_dense(batch, data.sensor_shape, dt=1e-3, steps=5)
    >>> dense.shape, float(dense.sum()), labels.tolist()
    ((5, 2, 700), 3.0, [3, 7])
"""

from ._event_files import EVENT_DATASETS, EventSet, load_events, read_hdf5_spikes, read_nmnist, write_hdf5_spikes
from ._event_tensors import (Events, channel_shift, drop_events, events_to_dense, pad_events, time_jitter,
                             time_shift)

__all__ = [
    "load_events",
    "EventSet",
    "Events",
    "pad_events",
    "events_to_dense",
    "time_shift",
    "time_jitter",
    "channel_shift",
    "drop_events",
    "read_hdf5_spikes",
    "write_hdf5_spikes",
    "read_nmnist",
    "EVENT_DATASETS",
]
