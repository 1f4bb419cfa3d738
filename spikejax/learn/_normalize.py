r"""Weight normalisation: Inferno's ``Normalization`` hook as a pure function and an optax step.

Each slice of the weights along ``axis`` is rescaled to a fixed :math:`p`-norm:

.. math::
    w \leftarrow s \, \frac{w}{\max(\lVert w \rVert_p, \epsilon)}, \qquad
    \lVert w \rVert_p = \Big(\sum |w_i|^p\Big)^{1/p}

exactly Inferno's ``normalize`` (``scale * torch.nn.functional.normalize(w, p, dim, eps)``). For
weights laid out ``(out, in)`` and ``axis=-1``, every postsynaptic neuron's incoming weights get
the same norm: Diehl & Cook keep the sum of each excitatory neuron's 784 input weights at 78.4
(``order=1, scale=78.4``; with non-negative weights the 1-norm is the sum).

:func:`normalize` is an optax ``GradientTransformation`` whose update ``u`` makes ``params + u``
normalised, so it chains after a plasticity rule (``optax.chain(stdp, normalize(1, 78.4))``);
use ``optax.masked`` to normalise only some parameters.

(The module is private, ``_normalize``, so that ``spikejax.learn.normalize`` is always the
transformation and never this module.)

Example:
    >>> import jax.numpy as jnp, optax
    >>> from spikejax.learn import normalize, normalize_weights
    >>> w = jnp.array([[1.0, 3.0], [2.0, 2.0]])
    >>> normalize_weights(w, order=1, scale=2.0)
    Array([[0.5, 1.5],
           [1. , 1. ]], dtype=float32)
    >>> tx = normalize(order=1, scale=2.0)
    >>> updates, _ = tx.update(jnp.ones_like(w), tx.init(w), w)   # a dummy plasticity update
    >>> optax.apply_updates(w, updates).sum(axis=-1)
    Array([2., 2.], dtype=float32)
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence, Union

import jax
import jax.numpy as jnp
import optax

from ..functional._validate import check_array

__all__ = ["normalize_weights", "normalize"]

Axis = Optional[Union[int, Sequence[int]]]


def _check_options(order, scale, epsilon) -> None:
    for name, value in (("order", order), ("scale", scale)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
            raise ValueError(f"{name} must be a positive number, got {value!r}")
    if math.isinf(scale):
        raise ValueError(f"scale must be a finite positive number, got {scale!r}")
    if (not isinstance(epsilon, (int, float)) or isinstance(epsilon, bool) or not epsilon >= 0
            or math.isinf(epsilon)):
        # An infinite epsilon would divide every slice by inf: all weights silently zero.
        raise ValueError(f"epsilon must be a finite non-negative number, got {epsilon!r}")


def _axes(axis: Axis, ndim: int) -> Optional[tuple[int, ...]]:
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    for a in axes:
        if not isinstance(a, int) or not -ndim <= a < ndim:
            raise ValueError(
                f"axis {axis!r} is out of range for weights of rank {ndim}; expected integers "
                f"in [{-ndim}, {ndim - 1}] or None (all axes)"
            )
    return axes


def normalize_weights(
    w: jax.Array,
    order: float = 1,
    scale: float = 78.4,
    axis: Axis = -1,
    *,
    epsilon: float = 1e-12,
) -> jax.Array:
    """Rescale ``w`` so its ``order``-norm along ``axis`` is ``scale`` (Inferno's ``normalize``).

    Args:
        w: the weights, e.g. ``(out, in)``.
        order: the :math:`p` of the norm, a positive number or ``math.inf`` (max-norm).
        scale: the norm every slice gets (> 0); Diehl & Cook: 78.4 with ``order=1``.
        axis: the axis or axes of one slice (default ``-1``: each row of ``(out, in)`` weights,
            i.e. each postsynaptic neuron), ``None`` for the whole array.
        epsilon: the smallest norm divided by, so all-zero slices stay zero.

    Returns:
        The normalised weights, with the shape and dtype of ``w``.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.learn import normalize_weights
        >>> w = jnp.array([[1.0, 3.0], [0.0, 0.0]])
        >>> normalize_weights(w, order=1, scale=2.0)     # each row sums to 2; zero rows stay zero
        Array([[0.5, 1.5],
               [0. , 0. ]], dtype=float32)
    """
    check_array("w", w)
    _check_options(order, scale, epsilon)
    axes = _axes(axis, w.ndim)
    magnitude = jnp.abs(w)
    if math.isinf(order):
        norm = jnp.max(magnitude, axis=axes, keepdims=True)
    elif order == 1:
        norm = jnp.sum(magnitude, axis=axes, keepdims=True)
    else:
        norm = jnp.sum(magnitude**order, axis=axes, keepdims=True) ** (1.0 / order)
    return (scale * (w / jnp.maximum(norm, epsilon))).astype(w.dtype)


def normalize(
    order: float = 1,
    scale: float = 78.4,
    axis: Axis = -1,
    *,
    epsilon: float = 1e-12,
) -> optax.GradientTransformation:
    """An optax transformation whose updates make ``params + updates`` normalised.

    Every parameter leaf is normalised as :func:`normalize_weights` does (same arguments); chain
    it after the rule that proposes the change, e.g. ``optax.chain(stdp, normalize(1, 78.4))``.
    ``update`` needs ``params``.

    Example:
        >>> import jax.numpy as jnp, optax
        >>> from spikejax.learn import normalize
        >>> tx = normalize(order=1, scale=1.0)
        >>> w = jnp.array([[1.0, 3.0]])
        >>> updates, _ = tx.update(jnp.zeros_like(w), tx.init(w), w)
        >>> optax.apply_updates(w, updates)
        Array([[0.25, 0.75]], dtype=float32)
    """
    _check_options(order, scale, epsilon)

    def init_fn(params: Any) -> optax.EmptyState:
        del params
        return optax.EmptyState()

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError(
                "normalize needs the current params: call update(updates, state, params)"
            )

        def one(u, p):
            target = normalize_weights(p + u, order, scale, axis, epsilon=epsilon)
            return (target - p).astype(u.dtype)

        return jax.tree.map(one, updates, params), state

    return optax.GradientTransformation(init_fn, update_fn)
