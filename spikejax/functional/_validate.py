"""Trace-time argument checks shared by every public entry point.

All checks look only at shapes and at concrete (non-traced) values, so they cost nothing
under ``jit``: shapes are static, and a traced parameter is simply not checked.
"""

from __future__ import annotations

from typing import Any, Sequence

import operator

import jax
import jax.numpy as jnp
import numpy as np


def is_concrete(value: Any) -> bool:
    """True when ``value`` is a number or array whose value is known at trace time."""
    if isinstance(value, jax.core.Tracer):
        return False
    return isinstance(value, (int, float, np.ndarray, np.generic, jax.Array)) and not isinstance(
        value, bool
    )


def check_positive(name: str, value: Any) -> None:
    """Raise ``ValueError`` if a concrete ``value`` has an entry that is not > 0."""
    if is_concrete(value) and not np.all(np.asarray(value) > 0):
        raise ValueError(f"{name} must be positive, got {_short(value)}")


def check_finite_value(name: str, value: Any) -> None:
    """Raise ``ValueError`` if a concrete ``value`` has a NaN or infinite entry.

    A parameter such as ``tau_mem_inv=inf`` or ``v_th=nan`` would otherwise run silently and
    fill the state with ``nan``.
    """
    if is_concrete(value):
        arr = np.asarray(value)
        if np.issubdtype(arr.dtype, np.inexact) and not np.all(np.isfinite(arr)):
            bad = arr[~np.isfinite(arr)]
            raise ValueError(
                f"{name} must be finite, got {_short(value)}"
                + (f" ({bad.size} non-finite entries, e.g. {bad.flat[0]})" if arr.size > 6 else "")
            )


def check_below(name: str, value: Any, limit_name: str, limit: Any, why: str = "") -> None:
    """Raise ``ValueError`` unless concrete ``value < limit`` everywhere (``why`` says what a
    violation would do, appended to the message)."""
    if is_concrete(value) and is_concrete(limit) and not np.all(np.less(value, limit)):
        raise ValueError(
            f"{name} must be below {limit_name}={_short(limit)}, got {_short(value)}"
            + (f" ({why})" if why else "")
        )


def check_non_negative(name: str, value: Any) -> None:
    """Raise ``ValueError`` if a concrete ``value`` has an entry that is < 0."""
    if is_concrete(value) and not np.all(np.asarray(value) >= 0):
        raise ValueError(f"{name} must be non-negative, got {_short(value)}")


def check_array(name: str, value: Any) -> None:
    """Raise ``TypeError`` unless ``value`` has a shape (an array or a tracer)."""
    if not hasattr(value, "shape"):
        raise TypeError(f"{name} must be an array, got {type(value).__name__}")


def check_rank(name: str, value: Any, ranks: int | Sequence[int], expected: str) -> None:
    """Raise ``ValueError`` if ``value.ndim`` is not one of ``ranks``.

    ``expected`` describes the layout, for example ``"(T, B, N)"``.
    """
    check_array(name, value)
    allowed = (ranks,) if isinstance(ranks, int) else tuple(ranks)
    if value.ndim not in allowed:
        raise ValueError(
            f"{name} must have rank {' or '.join(map(str, allowed))} with layout {expected}, "
            f"got shape {tuple(value.shape)} (rank {value.ndim})"
        )


def check_min_rank(name: str, value: Any, rank: int, expected: str) -> None:
    """Raise ``ValueError`` if ``value.ndim < rank``."""
    check_array(name, value)
    if value.ndim < rank:
        raise ValueError(
            f"{name} must have at least rank {rank} with layout {expected}, "
            f"got shape {tuple(value.shape)} (rank {value.ndim})"
        )


def check_shape(name: str, value: Any, shape: Sequence[int], what: str) -> None:
    """Raise ``ValueError`` unless ``value.shape == shape``; ``what`` says where ``shape`` comes from."""
    check_array(name, value)
    if tuple(value.shape) != tuple(shape):
        raise ValueError(f"{name} has shape {tuple(value.shape)}, expected {tuple(shape)} ({what})")


def check_state(name: str, state: Any, shape: Sequence[int], what: str) -> None:
    """Check that every array leaf of a neuron state has ``shape`` (or broadcasts to it).

    Leaves of rank 0 are allowed (a scalar state broadcasts); any other shape must match exactly,
    since a silently broadcast state would change the batch or layer size.
    """
    leaves = jax.tree_util.tree_leaves_with_path(state)
    for path, leaf in leaves:
        if not hasattr(leaf, "shape") or leaf.ndim == 0:
            continue
        if tuple(leaf.shape) != tuple(shape):
            field = jax.tree_util.keystr(path, simple=True, separator=".")
            raise ValueError(
                f"{name}.{field} has shape {tuple(leaf.shape)}, expected {tuple(shape)} ({what})"
            )


def _short(value: Any) -> str:
    arr = np.asarray(value)
    if arr.ndim == 0:
        return repr(arr.item())
    if arr.size <= 6:
        return repr(arr.tolist())
    return f"an array of shape {arr.shape} with min {arr.min()!r}"


def check_int(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` as an int, or a ``TypeError``/``ValueError`` naming ``name``."""
    try:
        if isinstance(value, bool):
            raise TypeError
        number = operator.index(value)
    except TypeError:
        raise TypeError(
            f"{name} must be a Python int (a static length), got {type(value).__name__} {value!r}"
        ) from None
    if number < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {number}")
    return number


def check_key(key: Any) -> None:
    """``TypeError`` unless ``key`` is a typed key or a raw ``uint32`` key array."""
    dtype = getattr(key, "dtype", None)
    typed = dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key) and key.ndim == 0
    raw = dtype == jnp.uint32 and getattr(key, "ndim", 0) == 1
    if not (typed or raw):
        got = f"an array of dtype {dtype} and shape {tuple(key.shape)}" if dtype is not None else (
            f"{type(key).__name__} {key!r}"
        )
        raise TypeError(f"key must be one jax.random key, e.g. jax.random.key(0), got {got}")


def check_range(name: str, value: Any, low: float, high: float) -> None:
    """``ValueError`` if a concrete array has entries outside ``[low, high]``."""
    if is_concrete(value) and value.size:
        smallest, largest = float(np.min(np.asarray(value))), float(np.max(np.asarray(value)))
        if smallest < low or largest > high:
            raise ValueError(
                f"{name} must lie in [{low}, {high}], got values in [{smallest}, {largest}]"
            )
