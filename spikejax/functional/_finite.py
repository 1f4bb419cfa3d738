"""Finding NaN and infinity in a forward pass: :func:`check_finite` and :func:`find_nonfinite`.

The threshold turns a ``nan`` into a ``nan`` spike (see :mod:`spikejax.functional.surrogate`),
so a non-finite value reaches the loss; these functions say where it came from: which leaf of a
state (or of any pytree) and which step.
"""

from __future__ import annotations

from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import checkify

__all__ = ["check_finite", "find_nonfinite"]


def _is_float(leaf: Any) -> bool:
    dtype = getattr(leaf, "dtype", None)
    if dtype is None:
        return isinstance(leaf, float)
    return jnp.issubdtype(dtype, jnp.inexact)


def _path(name: str, path) -> str:
    keys = jax.tree_util.keystr(path, simple=True, separator=".")
    return f"{name}.{keys}" if keys else name


def find_nonfinite(tree: Any) -> Any:
    """A pytree of booleans: ``True`` for each leaf of ``tree`` that holds a NaN or infinity.

    Works under ``jit``, ``vmap`` and ``scan`` (it only computes), so it can go into a jitted
    training step or a scanned forward pass; leaves that are not floating point give ``False``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from spikejax.functional import LIFFeedForwardState, find_nonfinite
        >>> state = LIFFeedForwardState(v=jnp.array([0.1, jnp.nan]), i=jnp.zeros(2))
        >>> jax.jit(find_nonfinite)(state)
        LIFFeedForwardState(v=Array(True, dtype=bool), i=Array(False, dtype=bool))
        >>> any(jax.tree.leaves(find_nonfinite(state)))
        True
    """

    def bad(leaf):
        if not _is_float(leaf):
            return jnp.asarray(False)
        return jnp.logical_not(jnp.all(jnp.isfinite(leaf)))

    return jax.tree.map(bad, tree)


def check_finite(
    tree: Any, name: str = "tree", *, time_axis: Optional[int] = None, step: Any = None
) -> Any:
    """Raise ``FloatingPointError`` naming the first leaf of ``tree`` that is not finite.

    Call it on a neuron state after a step, on the recorded states of a sequence, or on any
    pytree (parameters, gradients). The message names the leaf (``state.v``), the kind of value
    (``nan``, ``inf`` or ``-inf``), its index and the step: ``step`` when given (the step of a
    loop the caller counts), else, with ``time_axis`` (``0`` for time-major recordings
    ``(T, B, ...)``), the first step along that axis that holds a non-finite value; the leaf
    reported is the one whose non-finite value comes first in time.

    Under ``jit`` (or inside ``scan``) the check is a :func:`jax.experimental.checkify.check`:
    wrap the jitted function in ``checkify.checkify`` and call ``err.throw()`` on its error to
    raise it (see the example), or use :func:`find_nonfinite`, which needs no wrapper.

    Args:
        tree: any pytree; leaves that are not floating-point arrays are skipped.
        name: what ``tree`` is, the start of every path in the message (``"state"``).
        time_axis: the axis of the leaves that counts steps, or ``None``.
        step: the step number to report (an int, or a traced int inside ``scan``).

    Returns:
        ``tree`` unchanged, so that the call can wrap an expression.

    Raises:
        FloatingPointError: a leaf holds a NaN or infinity (eagerly).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from spikejax.functional import check_finite, lif_feed_forward_step, run
        >>> xs = jnp.ones((5, 1, 2)).at[3, 0, 1].set(jnp.nan)          # (T, B, N)
        >>> final, zs = run(lif_feed_forward_step, None, xs)
        >>> check_finite(zs, "spikes", time_axis=0)
        Traceback (most recent call last):
            ...
        FloatingPointError: spikes is not finite: nan at step 3 (index (3, 0, 1)), 2 of 10 entries
        >>> _ = check_finite(jnp.ones(3), "x")                          # finite: no error
        >>> from jax.experimental import checkify
        >>> def forward(xs):
        ...     return check_finite(run(lif_feed_forward_step, None, xs)[0], "state")
        >>> err, _ = checkify.checkify(jax.jit(forward))(xs)
        >>> err.throw()
        Traceback (most recent call last):
            ...
        jax...JaxRuntimeError: state.v is not finite ...
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    leaves = [
        (path, leaf) for path, leaf in jax.tree_util.tree_leaves_with_path(tree) if _is_float(leaf)
    ]
    if any(isinstance(leaf, jax.core.Tracer) for _, leaf in leaves) or isinstance(
        step, jax.core.Tracer
    ):
        _check_traced(leaves, name, time_axis, step)
        return tree
    found = []
    for path, leaf in leaves:
        arr = np.asarray(leaf)
        bad = ~np.isfinite(arr)
        if not bad.any():
            continue
        if time_axis is not None and arr.ndim:
            axis = time_axis % arr.ndim
            others = tuple(a for a in range(arr.ndim) if a != axis)
            first_step = int(np.argmax(bad.any(axis=others)))
        else:
            first_step = 0
        found.append((first_step, len(found), path, arr, bad))
    if not found:
        return tree
    first_step, _, path, arr, bad = min(found, key=lambda item: item[:2])
    if time_axis is not None and arr.ndim:
        axis = time_axis % arr.ndim
        in_step = np.take(bad, first_step, axis=axis)
        rest = np.unravel_index(int(np.argmax(in_step)), in_step.shape)
        index = tuple(int(i) for i in rest[:axis]) + (first_step,) + tuple(
            int(i) for i in rest[axis:]
        )
    else:
        index = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), bad.shape))
    value = arr[index] if index else arr.item()
    kind = "nan" if np.isnan(value) else ("inf" if value > 0 else "-inf")
    where = ""
    if step is not None:
        where = f" at step {int(step)}"
    elif time_axis is not None and arr.ndim:
        where = f" at step {first_step}"
    location = f" (index {index})" if index else ""
    others = [_path(name, p) for _, _, p, _, _ in found if p is not path]
    also = f"; also not finite: {', '.join(others)}" if others else ""
    raise FloatingPointError(
        f"{_path(name, path)} is not finite: {kind}{where}{location}, "
        f"{int(bad.sum())} of {bad.size} entries{also}"
    )


def _check_traced(leaves, name, time_axis, step):
    for path, leaf in leaves:
        leaf = jnp.asarray(leaf)
        bad = jnp.logical_not(jnp.isfinite(leaf))
        label = _path(name, path)
        if step is not None:
            checkify.check(
                jnp.logical_not(jnp.any(bad)), f"{label} is not finite at step {{step}}",
                step=jnp.asarray(step),
            )
        elif time_axis is not None and leaf.ndim:
            axis = time_axis % leaf.ndim
            per_step = jnp.any(bad, axis=tuple(a for a in range(leaf.ndim) if a != axis))
            checkify.check(
                jnp.logical_not(jnp.any(per_step)), f"{label} is not finite at step {{step}}",
                step=jnp.argmax(per_step),
            )
        else:
            checkify.check(
                jnp.logical_not(jnp.any(bad)),
                f"{label} is not finite at flat index {{index}}",
                index=jnp.argmax(jnp.ravel(bad)),
            )
