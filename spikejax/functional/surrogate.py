r"""Spike thresholds and surrogate gradients: a Heaviside forward pass, a smooth backward pass.

A spiking neuron emits :math:`z = \Theta(x)` with :math:`x = v - v_{\text{th}}` and

.. math::
    \Theta(x) = \begin{cases} 1, & x > 0 \\ 0, & x \le 0 \end{cases}

whose derivative is zero almost everywhere. Surrogate-gradient training replaces that derivative
by a smooth function :math:`\sigma'(x; \alpha)` in the backward pass only. One ``jax.custom_jvp``
serves every method; a method is a function ``grad(x, alpha)`` in a registry, looked up by name
or given directly as a callable.

Built-in methods (the derivative used in the backward pass, and the default ``alpha``):

==================== ===================================================================== =====
name                 backward :math:`\partial z / \partial x`                              alpha
==================== ===================================================================== =====
``super``            :math:`1 / (\alpha |x| + 1)^2` (SuperSpike, Norse)                    100
``triangle``         :math:`\alpha \max(0, 1 - |x|)` (Norse)                               0.3
``tanh``             :math:`1 - \tanh^2(\alpha x)` (Norse)                                 1
``circ``             :math:`\alpha^3 / (\alpha^2 + x^2)^{3/2}` (Norse)                     1
``heavi_erfc``       :math:`2 e^{-(\alpha x)^2} / \sqrt{\pi}` (Norse)                      1
``heaviside``        :math:`0` (no surrogate)                                              --
``atan``             :math:`\frac{\alpha}{2} / (1 + (\frac{\pi}{2}\alpha x)^2)` (snnTorch) 2
``sigmoid``          :math:`\alpha e^{-\alpha x} / (1 + e^{-\alpha x})^2` (snnTorch)       25
``fast_sigmoid``     :math:`1 / (\alpha |x| + 1)^2` (snnTorch)                             25
``straight_through`` :math:`1` (snnTorch)                                                  --
==================== ===================================================================== =====

Every ``alpha`` is a width or sharpness and must be positive (the parameter sets refuse
``alpha <= 0``). ``sigmoid`` is evaluated as :math:`\alpha e^{-|\alpha x|} / (1 +
e^{-|\alpha x|})^2` (the same even function), which stays finite far below threshold where
:math:`e^{-\alpha x}` overflows.

NaN and infinity:
    The threshold never hides a non-finite value. A ``nan`` distance to threshold (a ``nan``
    voltage, input or parameter) gives a ``nan`` spike, and a ``nan`` gradient, instead of
    "no spike": the ``nan`` reaches the spikes, the loss and the gradients, where training
    notices it (Norse's and snnTorch's ``x > 0`` would map it to 0 and let it hide in the
    state). ``+inf`` spikes (1) and ``-inf`` does not (0), as any finite distance of that sign;
    there every built-in surrogate gradient is 0 except ``straight_through`` (1). An infinite
    voltage that spikes becomes ``nan`` in the reset (``0 * inf``, see :func:`reset_to`), which
    the threshold then keeps: ``nan`` spikes from the next step on, never silence. To find
    where a non-finite value entered a forward pass, use
    :func:`~spikejax.functional.check_finite` or :func:`~spikejax.functional.find_nonfinite`.

Note:
    Norse 1.1.0's SuperSpike backward ignores ``alpha`` and computes :math:`1/(|x| + 1)^2`.
    spikejax follows the paper (Zenke & Ganguli, 2018) and Norse's documentation, where
    ``alpha`` scales :math:`|x|`; pass ``alpha=1`` to reproduce Norse 1.1.0's gradients exactly.

Example:
    >>> import jax, jax.numpy as jnp
    >>> from spikejax.functional import threshold
    >>> threshold(jnp.array([-0.5, 0.0, 0.5]))
    Array([0., 0., 1.], dtype=float32)
    >>> float(jax.grad(lambda x: threshold(x, "super", 100.0))(1.0))  # 1 / 101**2
    9.80296...e-05
    >>> threshold(jnp.array([jnp.nan, jnp.inf, -jnp.inf]))     # nan stays visible
    Array([nan,  1.,  0.], dtype=float32)
"""

from __future__ import annotations

import functools
import math
from typing import Callable, NamedTuple, Union

import jax
import jax.numpy as jnp

__all__ = [
    "Surrogate",
    "SurrogateLike",
    "heaviside",
    "threshold",
    "sign",
    "surrogate_gradient",
    "register_surrogate",
    "surrogate_names",
    "resolve_surrogate",
    "reset_to",
]

GradFn = Callable[[jax.Array, jax.Array], jax.Array]


class Surrogate(NamedTuple):
    """A named surrogate: ``grad(x, alpha)`` is the backward derivative.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import Surrogate, threshold
        >>> box = Surrogate("box", lambda x, alpha: (jnp.abs(x) < alpha).astype(x.dtype), 0.5)
        >>> threshold(jnp.array([-1.0, 1.0]), box)
        Array([0., 1.], dtype=float32)
    """

    name: str
    grad: GradFn
    default_alpha: float


#: What a ``method`` argument accepts: the name of a registered surrogate (``"super"``,
#: ``"triangle"``, ...: :func:`surrogate_names` lists them), a :class:`Surrogate`, or a
#: function ``grad(x, alpha)`` that gives the backward derivative.
SurrogateLike = Union[str, Surrogate, Callable[[jax.Array, jax.Array], jax.Array]]


def heaviside(x: jax.Array) -> jax.Array:
    """Heaviside step, ``1`` where ``x > 0`` and ``0`` elsewhere, in ``x``'s dtype (no gradient).

    A plain comparison: ``nan`` gives ``0`` here, unlike :func:`threshold`, which keeps it.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import heaviside
        >>> heaviside(jnp.array([-1.0, 0.0, 2.0]))
        Array([0., 0., 1.], dtype=float32)
    """
    x = jnp.asarray(x)
    return (x > 0).astype(x.dtype if jnp.issubdtype(x.dtype, jnp.floating) else jnp.float32)


def _super(x, alpha):
    return 1.0 / (alpha * jnp.abs(x) + 1.0) ** 2


def _triangle(x, alpha):
    return alpha * jax.nn.relu(1.0 - jnp.abs(x))


def _tanh(x, alpha):
    # 1 - tanh^2 written as 1 / cosh^2: the same function, without float32 cancellation
    # near saturation (cosh overflows to inf there, giving the correct 0).
    return 1.0 / jnp.cosh(x * alpha) ** 2


def _circ(x, alpha):
    # Norse writes this as 2a * (1 / (2 sqrt(a^2 + x^2)) - x^2 / (2 (a^2 + x^2)^1.5)).
    # Divided through by alpha^3: 1 / (1 + (x / alpha)^2)^1.5, s^1.5 as s * sqrt(s). Inside a
    # Pallas kernel alpha is a constant, and Pallas' Triton lowering (jax 0.10) fails on
    # alpha**3, an integer power of a constant.
    s = 1.0 + (x / alpha) ** 2
    return 1.0 / (s * jnp.sqrt(s))


def _heavi_erfc(x, alpha):
    return 2.0 * jnp.exp(-((alpha * x) ** 2)) / math.sqrt(math.pi)


def _no_gradient(x, alpha):
    return jnp.zeros_like(x)


def _atan(x, alpha):
    return alpha / 2.0 / (1.0 + (math.pi / 2.0 * alpha * x) ** 2)


def _sigmoid(x, alpha):
    # alpha s(ax) s(-ax), written with exp(-|ax|) <= 1: exp(-ax) overflows for ax < -88 in
    # float32 and gave inf / inf = nan far below threshold.
    e = jnp.exp(-jnp.abs(alpha * x))
    return alpha * e / (e + 1.0) ** 2


def _straight_through(x, alpha):
    return jnp.ones_like(x)


_REGISTRY: dict[str, Surrogate] = {}


def register_surrogate(name: str, grad: GradFn, default_alpha: float = 1.0) -> Surrogate:
    """Register a surrogate gradient under ``name`` so that parameters can refer to it by name.

    Args:
        name: the name used in ``method=...``.
        grad: ``grad(x, alpha) -> array``, the derivative used in the backward pass.
        default_alpha: the ``alpha`` used when none is given.

    Returns:
        The registered :class:`Surrogate`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from spikejax.functional import LIFParameters, register_surrogate, threshold
        >>> gaussian = lambda x, alpha: jnp.exp(-((alpha * x) ** 2))
        >>> register_surrogate("my_gaussian", gaussian, default_alpha=2.0).name
        'my_gaussian'
        >>> p = LIFParameters(method="my_gaussian")            # now usable by name
        >>> float(jax.grad(lambda x: threshold(x, "my_gaussian"))(1.0))   # exp(-4)
        0.01832
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty string, got {name!r}")
    if not callable(grad):
        raise TypeError(f"grad must be callable grad(x, alpha), got {type(grad).__name__}")
    surrogate = Surrogate(name, grad, float(default_alpha))
    _REGISTRY[name] = surrogate
    return surrogate


for _name, _fn, _alpha in [
    ("super", _super, 100.0),
    ("triangle", _triangle, 0.3),
    ("tanh", _tanh, 1.0),
    ("circ", _circ, 1.0),
    ("heavi_erfc", _heavi_erfc, 1.0),
    ("heaviside", _no_gradient, 0.0),
    ("atan", _atan, 2.0),
    ("sigmoid", _sigmoid, 25.0),
    ("fast_sigmoid", _super, 25.0),
    ("straight_through", _straight_through, 1.0),
]:
    register_surrogate(_name, _fn, _alpha)


def surrogate_names() -> tuple[str, ...]:
    """Names of all registered surrogate methods.

    Example:
        >>> from spikejax.functional import surrogate_names
        >>> "super" in surrogate_names() and "atan" in surrogate_names()
        True
    """
    return tuple(_REGISTRY)


def resolve_surrogate(method: SurrogateLike) -> Surrogate:
    """Turn a method name, :class:`Surrogate` or callable ``grad(x, alpha)`` into a :class:`Surrogate`.

    Raises:
        ValueError: for an unknown name, listing the known ones.
        TypeError: for anything that is neither a string nor callable.

    Example:
        >>> from spikejax.functional import resolve_surrogate
        >>> resolve_surrogate("atan").name, resolve_surrogate("atan").default_alpha
        ('atan', 2.0)
        >>> resolve_surrogate("nope")
        Traceback (most recent call last):
            ...
        ValueError: method must be one of [...] or a callable ..., got unknown surrogate 'nope'
    """
    if isinstance(method, Surrogate):
        return method
    if isinstance(method, str):
        try:
            return _REGISTRY[method]
        except KeyError:
            raise ValueError(
                f"method must be one of {sorted(_REGISTRY)} or a callable grad(x, alpha), "
                f"got unknown surrogate {method!r}"
            ) from None
    if callable(method):
        return Surrogate(getattr(method, "__name__", "custom"), method, 1.0)
    raise TypeError(
        f"method must be a surrogate name or a callable grad(x, alpha), got {type(method).__name__}"
    )


def _spikes(x):
    # heaviside, except that nan stays nan (see "NaN and infinity" in the module docs).
    return jnp.where(jnp.isnan(x), x, heaviside(x))


@functools.partial(jax.custom_jvp, nondiff_argnums=(2,))
def _spike(x, alpha, grad_fn):
    return _spikes(x)


@_spike.defjvp
def _spike_jvp(grad_fn, primals, tangents):
    x, alpha = primals
    dx, _ = tangents
    slope = grad_fn(x, alpha).astype(x.dtype)
    # A nan distance gets a nan slope whatever the surrogate (a bounded one such as
    # straight_through would otherwise turn it into a finite gradient).
    slope = jnp.where(jnp.isnan(x), x, slope)
    return _spikes(x), slope * dx


def threshold(x: jax.Array, method: SurrogateLike = "super", alpha=None) -> jax.Array:
    """Heaviside spike ``x > 0`` whose gradient is the surrogate ``method`` with parameter ``alpha``.

    Args:
        x: the distance to threshold, usually ``v - v_th``; any shape, a floating dtype.
        method: a registered name (see the module docs), a :class:`Surrogate`, or a callable
            ``grad(x, alpha)`` giving the backward derivative.
        alpha: the surrogate's sharpness; ``None`` takes the method's default.

    Returns:
        Spikes (0 or 1) with the shape and dtype of ``x``; ``nan`` where ``x`` is ``nan`` (see
        "NaN and infinity" in the module docs).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from spikejax.functional import threshold
        >>> x = jnp.array([-0.1, 0.0, 0.1])
        >>> threshold(x)
        Array([0., 0., 1.], dtype=float32)
        >>> jax.grad(lambda x: threshold(x, "atan", 2.0).sum())(x)   # the surrogate's derivative
        Array([0.9102, 1.       , 0.9102], dtype=float32)
    """
    surrogate = resolve_surrogate(method)
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.float32)
    alpha = jnp.asarray(surrogate.default_alpha if alpha is None else alpha, dtype=x.dtype)
    return _spike(x, alpha, surrogate.grad)


def reset_to(z: jax.Array, v: jax.Array, target) -> jax.Array:
    """The voltage after a reset, ``(1 - z) * v + z * target``: the reset of every spikejax model.

    ``target`` where ``z`` spiked, ``v`` elsewhere, with the gradient of the product form
    (``target - v`` with respect to ``z``, ``1 - z`` with respect to ``v``, ``z`` with respect
    to ``target``), also for spikes other than 0 and 1 (a smooth relaxation, say).

    An infinite voltage gives ``0 * inf = nan`` here, on purpose: a select that kept the state
    finite cost 17-26 % of a LIF layer's forward and backward time on the CPU (measured
    with ``lax.scan`` over ``(100, 16, 256..1024)``), and the ``nan`` is loud, since the threshold
    keeps it (a ``nan`` spike from the next step on), so the loss turns ``nan`` and
    :func:`spikejax.train.fit` stops naming the step. Check inputs with :func:`check_finite`.

    Args:
        z: spikes (0 or 1, with their surrogate gradient; ``jax.lax.stop_gradient`` them to
            detach the reset).
        v: the voltage before the reset.
        target: the reset value (a parameter such as ``v_reset``, or ``v - v_th`` for a reset
            by subtraction).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from spikejax.functional import reset_to
        >>> reset_to(jnp.array([0.0, 1.0, 1.0]), jnp.array([0.5, 1.2, jnp.inf]), -0.1)
        Array([ 0.5, -0.1,  nan], dtype=float32)
        >>> float(jax.grad(lambda z: reset_to(z, 1.2, -0.1))(1.0))    # target - v
        -1.3
    """
    return (1 - z) * v + z * target


def sign(x: jax.Array, method: SurrogateLike = "super", alpha=None) -> jax.Array:
    """Signed spike ``2 * threshold(x) - 1`` (values -1 or 1) with the same surrogate.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import sign
        >>> sign(jnp.array([-0.5, 0.5]))
        Array([-1.,  1.], dtype=float32)
    """
    return 2 * threshold(x, method, alpha) - 1


def surrogate_gradient(method: SurrogateLike, x: jax.Array, alpha=None) -> jax.Array:
    """The backward derivative of ``method`` at ``x`` (what ``grad(threshold)`` returns per element).

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import surrogate_gradient
        >>> surrogate_gradient("triangle", jnp.array([0.0, 0.5, 2.0]), 0.3)  # alpha max(0, 1 - |x|)
        Array([0.3 , 0.15, 0.  ], dtype=float32)
    """
    surrogate = resolve_surrogate(method)
    x = jnp.asarray(x, dtype=jnp.result_type(x, jnp.float32))
    alpha = jnp.asarray(surrogate.default_alpha if alpha is None else alpha, dtype=x.dtype)
    return surrogate.grad(x, alpha)
