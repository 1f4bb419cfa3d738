"""The fused kernel on a batch split over devices: one kernel per shard, inside ``jax.shard_map``.

A ``pallas_call`` is opaque to XLA's SPMD partitioner: given currents whose batch is split over
a mesh (data-parallel training, :func:`spikejax.train.data_parallel`), it gathers them onto
every device and runs the whole batch there. Every neuron of the kernel is independent of the
others, so each device can run the kernel on its own rows instead, forward and backward (the
custom VJP runs inside the ``shard_map``), and nothing is gathered. The numbers do not change.

Which mesh: the one being traced under (``jax.set_mesh`` / :func:`jax.sharding.use_abstract_mesh`),
else the mesh the currents live on (``jax.typeof(currents).sharding.mesh``: under ``jit`` the
mesh of the arguments they were computed from). The batch axis (axis 1 of ``(T, B, ...)``) is
split over the mesh's axes of more than one device that are not already manual (inside a
``shard_map``); an ``Explicit`` axis is used only where the currents' type says the batch is
split over it. Where the batch does not divide by the devices, the plain kernel runs (and XLA
gathers).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional

import jax
from jax.sharding import AxisType, PartitionSpec

__all__ = ["batch_split", "per_shard"]


def _mesh_of(currents):
    mesh = jax.sharding.get_abstract_mesh()
    if mesh.axis_names:
        return mesh
    try:
        sharding = jax.typeof(currents).sharding
    except (TypeError, AttributeError):  # not a JAX value: no mesh
        return None
    mesh = getattr(sharding, "mesh", None)
    return mesh if mesh is not None and mesh.axis_names else None


def batch_split(currents) -> Optional[tuple[Any, tuple[str, ...]]]:
    """``(mesh, axis names)`` to split the batch axis of ``currents`` ``(T, B, ...)`` over, or
    ``None`` when the kernel runs on the whole batch (one device, no mesh, or a batch that does
    not divide by the devices).

    Example:
        >>> import jax.numpy as jnp
        >>> from jax.sharding import AbstractMesh, use_abstract_mesh
        >>> from spikejax.kernels._sharded import batch_split
        >>> batch_split(jnp.ones((5, 8, 3))) is None         # no mesh
        True
        >>> with use_abstract_mesh(AbstractMesh((4,), ("batch",))):
        ...     batch_split(jnp.ones((5, 8, 3)))[1]
        ('batch',)
    """
    if len(currents.shape) < 2:
        return None
    mesh = _mesh_of(currents)
    if mesh is None:
        return None
    explicit = ()
    spec = getattr(getattr(jax.typeof(currents), "sharding", None), "spec", None)
    if spec is not None and len(spec) > 1 and spec[1] is not None:
        explicit = (spec[1],) if isinstance(spec[1], str) else tuple(spec[1])
    axes = tuple(
        name for name, kind in zip(mesh.axis_names, mesh.axis_types)
        if mesh.shape[name] > 1
        and (kind == AxisType.Auto or (kind == AxisType.Explicit and name in explicit))
    )
    devices = math.prod(mesh.shape[name] for name in axes)
    if not axes or currents.shape[1] % devices:
        return None
    return mesh, axes


def _is_static(leaf) -> bool:
    return isinstance(leaf, (bool, int, float, str)) or leaf is None


def per_shard(run: Callable, currents, state, p, dt):
    """``run(currents, state, p, dt) -> (outputs, final_state)`` on each device's rows of the
    batch when :func:`batch_split` finds a split, else on the whole batch.

    ``state`` has leaves of ``currents.shape[1:]``; array leaves of ``(p, dt)`` with the full
    rank of a neuron and more than one row are split with the batch, other array leaves are
    copied to every device (their gradients summed over them), and Python numbers stay constants.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.kernels._sharded import per_shard
        >>> run = lambda xs, s, p, dt: (xs * p, s + xs.sum(0))
        >>> out, final = per_shard(run, jnp.ones((2, 4, 3)), jnp.zeros((4, 3)), 2.0, 1e-3)
        >>> out.shape, float(final.sum())
        ((2, 4, 3), 24.0)
    """
    split = batch_split(currents)
    if split is None:
        return run(currents, state, p, dt)
    mesh, axes = split
    batch = PartitionSpec(axes)
    rank = len(currents.shape) - 1
    leaves, treedef = jax.tree_util.tree_flatten((p, dt))
    moving = [i for i, leaf in enumerate(leaves) if not _is_static(leaf)]

    def leaf_spec(leaf):
        shape = getattr(leaf, "shape", ())
        return batch if len(shape) == rank and shape[0] > 1 else PartitionSpec()

    def shard(xs, state, arrays):
        rebuilt = list(leaves)
        for index, value in zip(moving, arrays):
            rebuilt[index] = value
        p_shard, dt_shard = jax.tree_util.tree_unflatten(treedef, rebuilt)
        return run(xs, state, p_shard, dt_shard)

    arrays = [leaves[i] for i in moving]
    state_specs = jax.tree_util.tree_map(lambda _: batch, state)
    sequence = PartitionSpec(None, axes)
    return jax.shard_map(
        shard,
        mesh=mesh,
        in_specs=(sequence, state_specs, [leaf_spec(a) for a in arrays]),
        out_specs=(sequence, state_specs),
        axis_names=frozenset(axes),
        check_vma=False,
    )(currents, state, arrays)
