r"""Weight dependence ("bounding") of plasticity updates, as in Inferno's ``functional.bounding``.

A rule produces, for every synapse, a potentiation magnitude :math:`U_+ \ge 0` and a
depression magnitude :math:`U_- \ge 0`. A bound scales each by how far the weight :math:`w` is
from the bound it moves towards and returns the net update :math:`\Delta w`:

.. math::
    \begin{aligned}
        \text{power (soft):}\quad
            \Delta w &= (w_{\max} - w)^{\mu_+} U_+ - (w - w_{\min})^{\mu_-} U_- \\
        \text{multiplicative (soft):}\quad
            \Delta w &= (w_{\max} - w) U_+ - (w - w_{\min}) U_- \\
        \text{sharp (hard):}\quad
            \Delta w &= \Theta(w_{\max} - w) U_+ - \Theta(w - w_{\min}) U_- \\
        \text{clamp:}\quad
            \Delta w &= \operatorname{clip}(w + \Delta w_0, w_{\min}, w_{\max}) - w
    \end{aligned}

with :math:`\Theta(x) = 1` for :math:`x > 0` and 0 otherwise (as ``torch.heaviside(x, 0)`` in
Inferno and Norse's ``heaviside``). A bound given as ``None`` leaves its side unscaled. The
power form with a fractional exponent is NaN for weights beyond the bound (as in Inferno and
Norse); combine it with :func:`clamp_update` or keep the learning rate small.

The bound functions share the signature ``bound(w, pos, neg, *, w_min, w_max, ...)`` and can
be bound with :func:`functools.partial` and passed as ``bound=`` to the rules in this package.
:func:`split_update` turns a signed update into ``(pos, neg)``.

Example:
    >>> import jax.numpy as jnp
    >>> from spikejax.functional.plasticity import bound_multiplicative
    >>> bound_multiplicative(jnp.array([0.25]), jnp.array([1.0]), jnp.array([0.5]),
    ...                      w_min=0.0, w_max=1.0)
    Array([0.625], dtype=float32)
"""

from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp

from .._validate import check_non_negative
from ._common import check_bounds

__all__ = [
    "bound_power",
    "bound_multiplicative",
    "bound_sharp",
    "clamp_update",
    "split_update",
]

Bound = Optional[jax.typing.ArrayLike]


def split_update(update: jax.Array) -> tuple[jax.Array, jax.Array]:
    """A signed update as magnitudes ``(pos, neg)``: ``max(update, 0)`` and ``max(-update, 0)``.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional.plasticity import split_update
        >>> split_update(jnp.array([0.5, -0.25]))
        (Array([0.5, 0. ], dtype=float32), Array([0.  , 0.25], dtype=float32))
    """
    return jnp.maximum(update, 0), jnp.maximum(-update, 0)


def bound_power(
    w: jax.Array,
    pos: jax.Array,
    neg: jax.Array,
    *,
    w_min: Bound = None,
    w_max: Bound = None,
    upper_power: jax.typing.ArrayLike = 1.0,
    lower_power: jax.typing.ArrayLike = 1.0,
) -> jax.Array:
    """Soft (power) weight dependence: ``(w_max - w)**upper_power * pos - (w - w_min)**lower_power * neg``.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional.plasticity import bound_power
        >>> w = jnp.array([0.0, 0.5, 1.0])
        >>> bound_power(w, jnp.ones(3), jnp.zeros(3), w_min=0.0, w_max=1.0, upper_power=2.0)
        Array([1.  , 0.25, 0.  ], dtype=float32)
    """
    check_bounds("w_min", w_min, "w_max", w_max)
    check_non_negative("upper_power", upper_power)
    check_non_negative("lower_power", lower_power)
    if w_max is not None:
        pos = (w_max - w) ** upper_power * pos
    if w_min is not None:
        neg = (w - w_min) ** lower_power * neg
    return (pos - neg).astype(w.dtype)


def bound_multiplicative(
    w: jax.Array, pos: jax.Array, neg: jax.Array, *, w_min: Bound = None, w_max: Bound = None
) -> jax.Array:
    """Soft multiplicative weight dependence: ``(w_max - w) * pos - (w - w_min) * neg``.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional.plasticity import bound_multiplicative
        >>> w = jnp.array([0.0, 0.5, 1.0])
        >>> bound_multiplicative(w, jnp.ones(3), jnp.zeros(3), w_max=1.0)   # potentiation slows
        Array([1. , 0.5, 0. ], dtype=float32)
        >>> bound_multiplicative(w, jnp.zeros(3), jnp.ones(3), w_min=0.0)   # depression slows
        Array([ 0. , -0.5, -1. ], dtype=float32)
    """
    return bound_power(w, pos, neg, w_min=w_min, w_max=w_max)


def bound_sharp(
    w: jax.Array, pos: jax.Array, neg: jax.Array, *, w_min: Bound = None, w_max: Bound = None
) -> jax.Array:
    """Hard (step) weight dependence: potentiate only below ``w_max``, depress only above ``w_min``.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional.plasticity import bound_sharp
        >>> w = jnp.array([0.0, 0.5, 1.0])
        >>> bound_sharp(w, jnp.ones(3), jnp.zeros(3), w_min=0.0, w_max=1.0)
        Array([1., 1., 0.], dtype=float32)
    """
    check_bounds("w_min", w_min, "w_max", w_max)
    if w_max is not None:
        pos = jnp.where(w_max - w > 0, pos, 0)
    if w_min is not None:
        neg = jnp.where(w - w_min > 0, neg, 0)
    return (pos - neg).astype(w.dtype)


def clamp_update(
    w: jax.Array, update: jax.Array, *, w_min: Bound = None, w_max: Bound = None
) -> jax.Array:
    """The update that takes ``w`` to ``clip(w + update, w_min, w_max)``.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional.plasticity import clamp_update
        >>> w = jnp.array([0.2, 0.9])
        >>> clamp_update(w, jnp.array([0.5, 0.5]), w_min=0.0, w_max=1.0)    # w + update <= 1
        Array([0.5       , 0.1], dtype=float32)
    """
    check_bounds("w_min", w_min, "w_max", w_max)
    return (jnp.clip(w + update, w_min, w_max) - w).astype(w.dtype)
