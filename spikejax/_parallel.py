"""Data parallelism for :mod:`spikejax.train`: the batch split over devices, the model copied.

The public names (:class:`DataParallel`, :func:`data_parallel`, :func:`initialize_distributed`)
are re-exported from :mod:`spikejax.train`, whose steps take them as ``parallel=``.
"""

from __future__ import annotations

import os
from typing import Any, Optional, Sequence, Union

import jax
import numpy as np
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec

__all__ = ["DataParallel", "data_parallel", "initialize_distributed"]


def _is_key(x) -> bool:
    return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


class DataParallel:
    """How batches are split over devices and where the model lives; build it with :func:`data_parallel`.

    A one-axis mesh (axis ``axis_name``) over the devices. :meth:`shard` splits every leaf of
    a batch along its batch axis over the mesh (``NamedSharding(mesh, P(None, ..., axis_name))``)
    and copies leaves without one (scalars, a PRNG key) to every device; :meth:`replicate` copies
    a model's and an optimizer's state to every device. A jitted step given such inputs runs
    data-parallel: each device computes its part of the batch, and XLA sums the gradients over
    devices (an all-reduce) so that every copy of the parameters gets the same update.

    A layer that merges the batch axis with the time axis in ``(T, B)`` order (a reshape of
    ``(T, B, ...)`` to ``(T * B, ...)`` interleaves the devices' rows) makes XLA gather the whole
    batch onto every device: the numbers stay right, the speed-up is lost.
    ``spikejax.nn.Lift`` merges in ``(B, T)`` order inside the steps of :mod:`spikejax.train`
    built with ``parallel=``, which keeps the split.

    Args:
        mesh: a one-axis :class:`jax.sharding.Mesh`.
        batch_axis: the batch axis of the batch's leaves: an int for all of them (0 for
            ``(B, ...)`` arrays, 1 for time-major ``(T, B, ...)`` ones), or a pytree prefix of
            the batch with an int or ``None`` (replicate, no batch axis) per leaf or subtree, for
            example ``{"x": 1, "y": 0, "key": None}``. Leaves with no axis (scalars) are always
            replicated.

    Example:
        >>> import numpy as np
        >>> parallel = data_parallel(batch_axis={"x": 1, "y": 0})
        >>> batch = parallel.shard({"x": np.zeros((4, 8, 3)), "y": np.zeros(8, dtype=int)})
        >>> tuple(batch["x"].sharding.spec), tuple(batch["y"].sharding.spec)
        ((None, 'batch', None), ('batch',))
    """

    def __init__(self, mesh: jax.sharding.Mesh, *, batch_axis: Any = 0):
        if len(mesh.axis_names) != 1:
            raise ValueError(f"mesh must have one axis, got axes {mesh.axis_names}")
        self.mesh = mesh
        self.axis_name = mesh.axis_names[0]
        self.batch_axis = batch_axis
        self.replicated = NamedSharding(mesh, PartitionSpec())
        here = jax.process_index()
        # The devices this process feeds: its rows of the global batch are split over them.
        self.local_size = sum(d.process_index == here for d in mesh.devices.flat)

    @property
    def size(self) -> int:
        """The number of devices the batch is split over (all processes together)."""
        return self.mesh.devices.size

    def __repr__(self) -> str:
        return f"DataParallel({self.size} devices, axis {self.axis_name!r}, batch_axis={self.batch_axis!r})"

    def _flat(self, batch):
        """``(paths, leaves, axes, treedef)``: each leaf of ``batch`` with its batch axis (or None)."""
        return _leaf_axes(self.batch_axis, batch)

    def local_batch_size(self, batch) -> int:
        """The rows of ``batch`` (this process's part) along the batch axis, checked to split evenly.

        Raises:
            ValueError: when the leaves disagree on the batch size, a batch axis is out of range,
                or the size does not divide by the number of devices this process feeds.
        """
        return self._size(*self._flat(batch)[:3])

    def _size(self, paths, leaves, axes) -> int:
        size, first = _rows(paths, leaves, axes, self.batch_axis)
        if size % self.local_size:
            where = (f"the {self.local_size} devices of the mesh" if jax.process_count() == 1 else
                     f"this process's {self.local_size} devices (of {self.size} on {jax.process_count()} processes)")
            raise ValueError(
                f"batch size {size} ({first}) does not split evenly over {where}; "
                f"use a batch size that is a multiple of {self.local_size}"
            )
        return size

    def shard(self, batch):
        """``batch`` as global arrays split over the mesh along each leaf's batch axis.

        In one process the batch is the whole batch. With several processes
        (:func:`initialize_distributed`), every process passes its own rows (the same number in
        each, a multiple of its device count) and the global batch is their concatenation in the
        order of the processes on the mesh; leaves without a batch axis must be equal in all
        processes.

        Raises:
            ValueError: as :meth:`local_batch_size`.
        """
        paths, leaves, axes, treedef = self._flat(batch)
        self._size(paths, leaves, axes)
        return treedef.unflatten(
            [self._put(leaf, self._sharding(axis, np.ndim(leaf))) for leaf, axis in zip(leaves, axes)]
        )

    def _sharding(self, axis, ndim) -> NamedSharding:
        if axis is None or ndim == 0:
            return self.replicated
        spec = [None] * ndim
        spec[axis] = self.axis_name
        return NamedSharding(self.mesh, PartitionSpec(*spec))

    def _put(self, x, sharding):
        if isinstance(x, jax.Array) and x.sharding == sharding:
            return x
        if jax.process_count() == 1:
            return jax.device_put(x, sharding)
        # device_put cannot reach other processes' devices: assemble the global array from this
        # process's data (typed PRNG keys travel as their raw key data).
        if _is_key(x):
            data = self._put(jax.random.key_data(x), sharding)
            return jax.random.wrap_key_data(data, impl=jax.random.key_impl(x))
        return jax.make_array_from_process_local_data(sharding, np.asarray(x))

    def replicate(self, *objects) -> None:
        """Copy the state of NNX modules or optimizers to every device of the mesh, in place.

        Optional in one process (a step copies an unplaced model at its first call) and done
        by :func:`spikejax.train.fit` and :func:`spikejax.train.evaluate`; needed with several
        processes before calling a step directly. Each process must hold the same values (the
        same seed).
        """
        for obj in objects:
            state = nnx.state(obj)
            nnx.update(obj, jax.tree_util.tree_map(lambda x: self._put(x, self.replicated), state))



def _leaf_axes(batch_axis: Any, batch):
    """``(paths, leaves, axes, treedef)``: each leaf of ``batch`` with its batch axis (or None)."""
    with_paths, treedef = jax.tree_util.tree_flatten_with_path(batch)
    try:
        axes = jax.tree_util.tree_map(
            lambda axis, sub: jax.tree_util.tree_map(lambda _: axis, sub),
            batch_axis, batch, is_leaf=lambda x: x is None,
        )
        axes = treedef.flatten_up_to(axes)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"batch_axis must be an int, None or a prefix of the batch's structure, got "
            f"{batch_axis!r} for a batch of structure {treedef}"
        ) from error
    paths = ["batch" + jax.tree_util.keystr(path) for path, _ in with_paths]
    return paths, [leaf for _, leaf in with_paths], axes, treedef


def _rows(paths, leaves, axes, batch_axis) -> tuple[int, str]:
    """``(size, name)``: the rows along the batch axes, the same for every leaf that has one."""
    size, first = None, None
    for name, leaf, axis in zip(paths, leaves, axes):
        ndim = np.ndim(leaf)
        if axis is None or ndim == 0:
            continue
        if not isinstance(axis, int) or not -ndim <= axis < ndim:
            raise ValueError(f"{name} has shape {np.shape(leaf)}, which has no batch axis {axis!r}")
        rows = np.shape(leaf)[axis]
        if size is None:
            size, first = rows, name
        elif rows != size:
            raise ValueError(
                f"{name} has {rows} rows along its batch axis {axis} but {first} has {size}; "
                f"set batch_axis (got {batch_axis!r}) to each leaf's batch axis"
            )
    if size is None:
        raise ValueError("a batch must contain an array with a batch axis, got only scalars")
    return size, first


def batch_rows(batch, batch_axis: Any = 0) -> int:
    """The number of examples in ``batch``: its rows along each leaf's ``batch_axis``.

    ``batch_axis`` is as in :class:`DataParallel`: an int for every leaf (1 for time-major
    ``(T, B, ...)``), or a pytree prefix of the batch with an int or ``None`` per leaf.

    Raises:
        ValueError: when leaves disagree on the size, or an axis is out of range.

    Example:
        >>> import numpy as np
        >>> batch_rows({"x": np.zeros((25, 8, 3)), "y": np.zeros(8)}, {"x": 1, "y": 0})
        8
    """
    paths, leaves, axes, _ = _leaf_axes(batch_axis, batch)
    return _rows(paths, leaves, axes, batch_axis)[0]

def data_parallel(
    devices: Union[None, int, Sequence[jax.Device]] = None,
    *,
    batch_axis: Any = 0,
    axis_name: str = "batch",
) -> DataParallel:
    """A :class:`DataParallel` over ``devices``: pass it as ``parallel=`` to the train and eval steps.

    Args:
        devices: ``None`` for every device (of every process, after
            :func:`initialize_distributed`), an int ``n`` for the first ``n`` of ``jax.devices()``,
            or a sequence of devices.
        batch_axis: each leaf's batch axis (see :class:`DataParallel`): 0 for ``(B, ...)``
            arrays, 1 for time-major ``(T, B, ...)`` ones, or a dict such as ``{"x": 1, "y": 0}``.
        axis_name: the name of the mesh axis.

    Example:
        >>> parallel = data_parallel()
        >>> parallel.size == jax.device_count()
        True
    """
    available = jax.devices()
    if devices is None:
        chosen = available
    elif isinstance(devices, int) and not isinstance(devices, bool):
        if not 1 <= devices <= len(available):
            raise ValueError(f"devices must be between 1 and {len(available)} (the devices there are), got {devices}")
        chosen = available[:devices]
    else:
        chosen = list(devices)
        if not chosen:
            raise ValueError("devices must name at least one device, got an empty sequence")
    mesh = jax.make_mesh((len(chosen),), (axis_name,), axis_types=(jax.sharding.AxisType.Auto,), devices=chosen)
    return DataParallel(mesh, batch_axis=batch_axis)


def initialize_distributed(
    coordinator_address: Optional[str] = None,
    num_processes: Optional[int] = None,
    process_id: Optional[int] = None,
    **kwargs,
) -> int:
    """Join a multi-process run (``jax.distributed.initialize``); a no-op for one process.

    Call it first, before anything else touches JAX. With ``num_processes`` of 1, or no
    coordinator (neither ``coordinator_address`` nor ``$JAX_COORDINATOR_ADDRESS``) and no
    ``num_processes``, nothing happens; otherwise the arguments (and ``kwargs``, e.g.
    ``local_device_ids``) go to ``jax.distributed.initialize``. Afterwards ``jax.devices()``
    lists the devices of all processes, :func:`data_parallel` spans them, and each process
    feeds its own ``1 / num_processes`` share of every global batch (see
    :meth:`DataParallel.shard`). On clusters that JAX detects by itself (SLURM, TPU pods,
    ...), call ``jax.distributed.initialize()`` with no arguments instead.

    Returns:
        This process's index (0 when nothing happened).

    Example:
        >>> initialize_distributed()
        0
    """
    if num_processes is not None and (not isinstance(num_processes, int) or num_processes < 1):
        raise ValueError(f"num_processes must be a positive int or None, got {num_processes!r}")
    alone = num_processes == 1 or (
        num_processes is None and coordinator_address is None and not os.environ.get("JAX_COORDINATOR_ADDRESS")
    )
    if alone:
        return 0
    if not jax.distributed.is_initialized():
        jax.distributed.initialize(coordinator_address, num_processes, process_id, **kwargs)
    return jax.process_index()
