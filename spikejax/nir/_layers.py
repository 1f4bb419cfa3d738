"""Stateless layers that NIR has and Flax lacks, in spikejax's channels-last layout.

NIR (like PyTorch) lays a sample out channels first, ``(C, H, W)``; Flax convolutions work
channels last, ``(B, H, W, C)``. spikejax keeps its own layout everywhere and converts at the
boundary: every per-sample array of rank 2 or more (a feature map, a per-neuron parameter) has
its last axis moved to the front on the way to NIR and back on the way in. :class:`Flatten`
is the one layer where the order shows in the result; it flattens in NIR's order, so the
weights of a following linear layer are the same numbers in spikejax, NIR and PyTorch.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence, Union

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from ..functional._validate import check_array, check_int, check_min_rank, check_rank
from ..functional.surrogate import SurrogateLike, resolve_surrogate, threshold

__all__ = ["Flatten", "SumPool2d", "AvgPool2d", "Scale", "Threshold", "to_nir_layout", "from_nir_layout"]

Pair = Union[int, Sequence[int]]


def to_nir_layout(value: Any) -> np.ndarray:
    """A per-sample array (no batch axis) from spikejax's channels-last to NIR's channels-first
    layout; ranks 0 and 1 are unchanged."""
    value = np.asarray(value)
    return np.moveaxis(value, -1, 0) if value.ndim >= 2 else value


def from_nir_layout(value: Any) -> np.ndarray:
    """A per-sample array from NIR's channels-first to spikejax's channels-last layout."""
    value = np.asarray(value)
    return np.moveaxis(value, 0, -1) if value.ndim >= 2 else value


def nir_shape(shape: Sequence[int]) -> tuple[int, ...]:
    """A per-sample shape in NIR's layout."""
    shape = tuple(int(n) for n in shape)
    return shape[-1:] + shape[:-1] if len(shape) >= 2 else shape


def pair(name: str, value: Pair, minimum: int = 1) -> tuple[int, int]:
    """``value`` (an int or two ints, an array from a NIR file included) as two ints."""
    values = np.asarray(value).reshape(-1).tolist()
    if len(values) == 1:
        values = values * 2
    if len(values) != 2:
        raise ValueError(f"{name} must be an int or two ints (height, width), got {value!r}")
    return tuple(check_int(name, v, minimum) for v in values)  # type: ignore[return-value]


class Flatten(nnx.Module):
    """Flatten the axes ``start_dim`` to ``end_dim`` of every sample, in NIR's order.

    The axes count per sample (without the batch axis) in NIR's channels-first view, as in
    ``nir.Flatten`` and ``torch.flatten(x, start_dim + 1, end_dim + 1)``: a channels-last batch
    ``(B, H, W, C)`` comes out as ``(B, C * H * W)`` ordered channel first, so a linear layer
    after it has the weights of the PyTorch (Norse, snnTorch) network. A result of rank 2 or
    more per sample is returned channels-last again.

    Args:
        start_dim: first per-sample axis to flatten (``0``: the channel axis).
        end_dim: last per-sample axis to flatten (``-1``: the last one).

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.nir import Flatten
        >>> x = jnp.arange(8.0).reshape(1, 2, 2, 2)       # (B, H, W, C)
        >>> Flatten()(x)                                    # channel 0 first, then channel 1
        Array([[0., 2., 4., 6., 1., 3., 5., 7.]], dtype=float32)
    """

    def __init__(self, start_dim: int = 0, end_dim: int = -1):
        self.start_dim = check_int("start_dim", start_dim, minimum=-(2**31))
        self.end_dim = check_int("end_dim", end_dim, minimum=-(2**31))

    def __call__(self, x: jax.Array) -> jax.Array:
        check_min_rank("x", x, 2, "(B, ...)")
        y = jnp.moveaxis(x, -1, 1) if x.ndim >= 3 else x
        rank = y.ndim - 1
        start = self.start_dim + rank if self.start_dim < 0 else self.start_dim
        end = self.end_dim + rank if self.end_dim < 0 else self.end_dim
        if not 0 <= start <= end < rank:
            raise ValueError(
                f"Flatten(start_dim={self.start_dim}, end_dim={self.end_dim}) needs "
                f"0 <= start_dim <= end_dim < {rank} for samples of shape {nir_shape(x.shape[1:])} "
                f"(channels first), got x of shape {tuple(x.shape)}"
            )
        flat = math.prod(y.shape[1 + start : 2 + end])
        y = y.reshape(y.shape[: 1 + start] + (flat,) + y.shape[2 + end :])
        return jnp.moveaxis(y, 1, -1) if y.ndim >= 3 else y


class _Pool2d(nnx.Module):
    def __init__(self, kernel_size: Pair, stride: Optional[Pair] = None, padding: Pair = 0):
        self.kernel_size = pair("kernel_size", kernel_size)
        self.stride = self.kernel_size if stride is None else pair("stride", stride)
        self.padding = pair("padding", padding, minimum=0)

    def _sum(self, x: jax.Array) -> jax.Array:
        check_rank("x", x, 4, "(B, H, W, C)")
        (ph, pw) = self.padding
        return jax.lax.reduce_window(
            x,
            jnp.zeros((), x.dtype),
            jax.lax.add,
            (1, *self.kernel_size, 1),
            (1, *self.stride, 1),
            ((0, 0), (ph, ph), (pw, pw), (0, 0)),
        )


_POOL_ARGS = """
    Args:
        kernel_size: window ``(height, width)``, or one int for both.
        stride: step of the window (default: ``kernel_size``).
        padding: zeros added on each side, ``(height, width)`` or one int.
"""


class SumPool2d(_Pool2d):
    __doc__ = (
        """Sum over windows of a channels-last batch ``(B, H, W, C)`` (``nir.SumPool2d``).
"""
        + _POOL_ARGS
        + """
    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.nir import SumPool2d
        >>> SumPool2d(2)(jnp.ones((1, 4, 4, 3))).shape
        (1, 2, 2, 3)
    """
    )

    def __call__(self, x: jax.Array) -> jax.Array:
        return self._sum(x)


class AvgPool2d(_Pool2d):
    __doc__ = (
        """Mean over windows of a channels-last batch ``(B, H, W, C)`` (``nir.AvgPool2d``).

    The sum is divided by the window size, padded zeros included (PyTorch's default
    ``count_include_pad=True``; NIR defines AvgPool2d as SumPool2d followed by a scale).
"""
        + _POOL_ARGS
        + """
    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.nir import AvgPool2d
        >>> AvgPool2d(2)(jnp.ones((1, 4, 4, 3)))[0, 0, 0]
        Array([1., 1., 1.], dtype=float32)
    """
    )

    def __call__(self, x: jax.Array) -> jax.Array:
        return self._sum(x) / math.prod(self.kernel_size)


class Scale(nnx.Module):
    """Multiply elementwise by ``scale`` (``nir.Scale``), a trainable ``nnx.Param``.

    :func:`~spikejax.nir.from_nir` puts one before a neuron whose NIR input gain
    (``w_in``, ``r``) is not the one spikejax's step implies.

    Args:
        scale: the factor, broadcast against a sample (channels-last).

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.nir import Scale
        >>> Scale(jnp.array([1.0, 2.0]))(jnp.ones((3, 2)))[0]
        Array([1., 2.], dtype=float32)
    """

    def __init__(self, scale: Any, *, param_dtype: Any = jnp.float32):
        check_array("scale", jnp.asarray(scale))
        self.scale = nnx.Param(jnp.asarray(scale, param_dtype))

    def __call__(self, x: jax.Array) -> jax.Array:
        check_array("x", x)
        return x * self.scale[...]


class Threshold(nnx.Module):
    """A spike where the input exceeds ``threshold`` (``nir.Threshold``), with a surrogate gradient.

    Computes ``spikejax.functional.threshold(x - threshold, method, alpha)``: ``1`` where
    ``x > threshold``, else ``0``. NIR has no surrogate, so ``method`` and ``alpha`` are not
    exported.

    Args:
        threshold: the threshold, broadcast against a sample (channels-last); an ``nnx.Param``.
        method: surrogate gradient, a name from :mod:`spikejax.functional.surrogate` or a callable.
        alpha: the surrogate's sharpness (default: the method's own default).

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.nir import Threshold
        >>> Threshold(0.5)(jnp.array([[0.2, 0.5, 0.9]]))
        Array([[0., 0., 1.]], dtype=float32)
    """

    def __init__(
        self,
        threshold: Any = 1.0,
        *,
        method: SurrogateLike = "super",
        alpha: Optional[float] = None,
        param_dtype: Any = jnp.float32,
    ):
        resolve_surrogate(method)
        self.threshold = nnx.Param(jnp.asarray(threshold, param_dtype))
        self.method = method
        self.alpha = alpha

    def __call__(self, x: jax.Array) -> jax.Array:
        check_array("x", x)
        return threshold(x - self.threshold[...], self.method, self.alpha)
