r"""Connections: spikes in, currents out (Inferno's ``LinearDense``, ``LinearDirect`` and
``LinearLateral``, with a ``DeltaCurrent`` synapse).

A connection turns presynaptic spikes :math:`z` (``(..., in)``, any leading batch axes) into
postsynaptic currents :math:`I` (``(..., out)``) that a neuron such as
:class:`~spikejax.nn.ALIFCell` takes as its input. As in Inferno, the synapse acts on the spikes
first and the weights :math:`W` (layout ``(out, in)``, as in Norse and ``torch.nn.Linear``)
after:

.. math::
    \begin{aligned}
        \text{Dense:} \quad & I = s(z) W^\top + b \\
        \text{Direct:} \quad & I = s(z) \odot w + b \qquad (\text{one to one}) \\
        \text{Lateral:} \quad & I = s(z) \left(W \odot (1 - \mathrm{Id})\right)^\top + b
        \qquad (\text{all to all but self})
    \end{aligned}

The synapse :math:`s` is memoryless. ``synapse=None`` passes the spikes through, so the current
is the weighted spikes of this step; :class:`DeltaCurrent` is Inferno's delta synapse, a current
:math:`Q / \Delta t` (nA, for a charge :math:`Q` in pC and :math:`\Delta t` in ms) during the step
of each spike, so ``DeltaCurrent(100.0)`` at ``dt=1e-3`` multiplies the spikes by 100.

The lateral mask is applied when the weights are made and again at every use, so the diagonal
stays zero (and gets zero gradient) whatever an optimizer writes into the stored parameter.

Every module has a pure twin taking the weights as arguments (:func:`dense_current`,
:func:`direct_current`, :func:`lateral_current`), for use inside ``lax.scan`` or a plasticity
rule; the modules hold only ``nnx.Param`` s and no state.

Initialisers (``init(key, shape, dtype)``, like ``jax.nn.initializers``): :func:`uniform_init`
(Inferno's default, uniform in ``[0, 1)``; Diehl & Cook's input weights: ``uniform_init(0, 0.3)``)
and :func:`constant_init` (Diehl & Cook: -180 for the lateral inhibition, 22.5 one-to-one).

Example:
    >>> import jax.numpy as jnp
    >>> from flax import nnx
    >>> from spikejax.nn import Dense, DeltaCurrent, Lateral, constant_init, uniform_init
    >>> enc2exc = Dense(784, 100, synapse=DeltaCurrent(100.0),
    ...                 weight_init=uniform_init(0.0, 0.3), rngs=nnx.Rngs(0))
    >>> enc2exc(jnp.ones((2, 784))).shape
    (2, 100)
    >>> inhibit = Lateral(3, weight_init=constant_init(-180.0))
    >>> inhibit(jnp.array([1.0, 0.0, 0.0]))          # a neuron does not inhibit itself
    Array([   0., -180., -180.], dtype=float32)
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
from flax import nnx

from ..functional._model import check_dt
from ..functional._validate import check_array, check_int, check_min_rank, check_rank, is_concrete

__all__ = [
    "DeltaCurrent",
    "Dense",
    "Direct",
    "Lateral",
    "dense_current",
    "direct_current",
    "lateral_current",
    "uniform_init",
    "constant_init",
]

Initializer = Callable[..., jax.Array]


def uniform_init(low: float = 0.0, high: float = 1.0) -> Initializer:
    """An initialiser drawing uniformly from ``[low, high)`` (Inferno's default is ``[0, 1)``).

    Example:
        >>> import jax
        >>> from spikejax.nn import uniform_init
        >>> w = uniform_init(0.0, 0.1)(jax.random.key(0), (3, 4), "float32")
        >>> w.shape, bool((w >= 0).all() and (w < 0.1).all())
        ((3, 4), True)
    """
    if is_concrete(low) and is_concrete(high) and not float(low) <= float(high):
        raise ValueError(f"uniform_init needs low <= high, got low={low}, high={high}")

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, minval=low, maxval=high)

    return init


def constant_init(value: float) -> Initializer:
    """An initialiser filling every weight with ``value``.

    Example:
        >>> import jax
        >>> from spikejax.nn import constant_init
        >>> constant_init(0.5)(jax.random.key(0), (2,), "float32")
        Array([0.5, 0.5], dtype=float32)
    """

    def init(key, shape, dtype=jnp.float32):
        return jnp.full(shape, value, dtype)

    return init


@dataclasses.dataclass(frozen=True)
class DeltaCurrent:
    """Inferno's memoryless delta synapse: a current ``spike_charge / dt`` in the step of a spike.

    Attributes:
        spike_charge: charge :math:`Q` carried by one spike, in pC (nonzero).

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.nn import DeltaCurrent
        >>> DeltaCurrent(spike_charge=2.0)(jnp.array([0.0, 1.0]), dt=1e-3)   # 2 pC in 1 ms: 2 nA
        Array([0., 2.], dtype=float32)
    """

    spike_charge: float = 1.0

    def __post_init__(self):
        if is_concrete(self.spike_charge) and float(self.spike_charge) == 0:
            raise ValueError(f"DeltaCurrent.spike_charge must be nonzero, got {self.spike_charge}")

    def __call__(self, spikes: jax.Array, dt: float = 1e-3) -> jax.Array:
        """The current (nA) of ``spikes`` over a step of ``dt`` seconds (``dt * 1000`` ms)."""
        check_dt(dt)
        return spikes * (self.spike_charge / (dt * 1000.0))


def _check_spikes(spikes, n_in: int, weight_shape) -> None:
    check_min_rank("spikes", spikes, 1, "(..., in)")
    if spikes.shape[-1] != n_in:
        raise ValueError(
            f"spikes has shape {tuple(spikes.shape)}, expected last axis {n_in} (the input size "
            f"of weight {tuple(weight_shape)})"
        )


def _add_bias(current, bias, n_out: int):
    if bias is None:
        return current
    if tuple(bias.shape) != (n_out,):
        raise ValueError(f"bias has shape {tuple(bias.shape)}, expected {(n_out,)}")
    return current + bias


def dense_current(spikes: jax.Array, weight: jax.Array, bias: Optional[jax.Array] = None):
    """All-to-all current ``spikes @ weight.T (+ bias)``; ``weight`` is ``(out, in)``.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.nn import dense_current
        >>> weight = jnp.array([[1.0, 2.0], [3.0, 4.0]])       # (out, in)
        >>> dense_current(jnp.array([1.0, 1.0]), weight, bias=jnp.array([0.5, 0.0]))
        Array([3.5, 7. ], dtype=float32)
    """
    check_rank("weight", weight, 2, "(out, in)")
    _check_spikes(spikes, weight.shape[1], weight.shape)
    return _add_bias(spikes @ weight.T, bias, weight.shape[0])


def direct_current(spikes: jax.Array, weight: jax.Array, bias: Optional[jax.Array] = None):
    """One-to-one current ``spikes * weight (+ bias)``; ``weight`` is ``(N,)``.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.nn import direct_current
        >>> direct_current(jnp.array([1.0, 0.0, 1.0]), jnp.array([2.0, 3.0, 4.0]))
        Array([2., 0., 4.], dtype=float32)
    """
    check_rank("weight", weight, 1, "(N,)")
    _check_spikes(spikes, weight.shape[0], weight.shape)
    return _add_bias(spikes * weight, bias, weight.shape[0])


def lateral_current(spikes: jax.Array, weight: jax.Array, bias: Optional[jax.Array] = None):
    """All-to-all-but-self current: :func:`dense_current` with the diagonal of ``weight`` masked.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.nn import lateral_current
        >>> weight = jnp.full((3, 3), -1.0)                    # inhibit the others, not oneself
        >>> lateral_current(jnp.array([1.0, 0.0, 0.0]), weight)
        Array([ 0., -1., -1.], dtype=float32)
    """
    check_rank("weight", weight, 2, "(N, N)")
    if weight.shape[0] != weight.shape[1]:
        raise ValueError(f"weight has shape {tuple(weight.shape)}, expected a square (N, N)")
    return dense_current(spikes, _masked(weight), bias)


def _masked(weight):
    # where, not a product with 1 - eye: the diagonal becomes +0 also for negative weights.
    return jnp.where(jnp.eye(weight.shape[0], dtype=bool), 0, weight)


class _Connection(nnx.Module):
    """Shared construction: synapse, step, dtypes, and initialised ``weight`` (and ``bias``)."""

    current_fn: Callable

    def __init__(self, weight_shape, n_out, *, synapse, dt, use_bias, weight_init, bias_init,
                 rngs, dtype, param_dtype):
        if synapse is not None and not callable(synapse):
            raise TypeError(
                f"synapse must be None or callable synapse(spikes, dt), e.g. DeltaCurrent(100.0), "
                f"got {type(synapse).__name__}"
            )
        check_dt(dt)
        rngs = nnx.Rngs(0) if rngs is None else rngs
        self.synapse = synapse
        self.dt = dt
        self.dtype = dtype
        self.weight = nnx.Param(self._init("weight", weight_init, rngs, weight_shape, param_dtype))
        bias = self._init("bias", bias_init, rngs, (n_out,), param_dtype) if use_bias else None
        self.bias = None if bias is None else nnx.Param(bias)

    @staticmethod
    def _init(name, init, rngs, shape, dtype):
        value = jnp.asarray(init(rngs.params(), shape, dtype), dtype)
        if value.shape != tuple(shape):
            raise ValueError(f"{name}_init returned shape {value.shape}, expected {tuple(shape)}")
        return value

    def weights(self) -> tuple[jax.Array, Optional[jax.Array]]:
        """``(weight, bias)`` as the pure function takes them (``bias`` is ``None`` without one)."""
        return self.weight[...], None if self.bias is None else self.bias[...]

    def __call__(self, spikes: jax.Array) -> jax.Array:
        """The postsynaptic current of ``spikes`` ``(..., in)``: shape ``(..., out)``."""
        check_array("spikes", spikes)
        weight, bias = self.weights()
        if self.synapse is not None:
            spikes = self.synapse(spikes, self.dt)
        if self.dtype is not None:
            spikes, weight = spikes.astype(self.dtype), weight.astype(self.dtype)
            bias = None if bias is None else bias.astype(self.dtype)
        return type(self).current_fn(spikes, weight, bias)


_ARGS = """
    Args:
        synapse: ``None`` (the current is the weighted spikes) or a synapse such as
            :class:`DeltaCurrent`, called as ``synapse(spikes, dt)`` before the weights.
        dt: the step in seconds, for the synapse.
        use_bias: add a bias (Inferno: ``bias=False``, the default).
        weight_init: initialiser ``init(key, shape, dtype)`` of the weights; Inferno's default,
            uniform in ``[0, 1)``.
        bias_init: initialiser of the bias, the same kind; uniform in ``[0, 1)`` by default.
        rngs: ``nnx.Rngs`` for the initialisers (default ``nnx.Rngs(0)``).
        dtype: the dtype of the computation (default: promote spikes and weights).
        param_dtype: the dtype of the parameters.
"""


class Dense(_Connection):
    __doc__ = (
        """All-to-all connection (Inferno's ``LinearDense``): ``I = s(z) W^T + b``, ``W`` is
    ``(out_features, in_features)``; pure twin :func:`dense_current`.
    """
        + _ARGS
        + """
    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.nn import DeltaCurrent, Dense, constant_init
        >>> layer = Dense(3, 2, weight_init=constant_init(0.5))
        >>> layer(jnp.array([1.0, 0.0, 1.0]))
        Array([1., 1.], dtype=float32)
        >>> layer = Dense(3, 2, synapse=DeltaCurrent(2.0), weight_init=constant_init(0.5))
        >>> layer(jnp.ones((4, 3))).shape                # (B, in) -> (B, out)
        (4, 2)
    """
    )

    current_fn = staticmethod(dense_current)

    def __init__(self, in_features: int, out_features: int, *, synapse=None, dt: float = 1e-3,
                 use_bias: bool = False, weight_init: Initializer = uniform_init(),
                 bias_init: Initializer = uniform_init(), rngs: Optional[nnx.Rngs] = None,
                 dtype: Any = None, param_dtype: Any = jnp.float32):
        self.in_features = check_int("in_features", in_features)
        self.out_features = check_int("out_features", out_features)
        super().__init__((out_features, in_features), out_features, synapse=synapse, dt=dt,
                         use_bias=use_bias, weight_init=weight_init, bias_init=bias_init,
                         rngs=rngs, dtype=dtype, param_dtype=param_dtype)


class Direct(_Connection):
    __doc__ = (
        """One-to-one connection (Inferno's ``LinearDirect``): ``I = s(z) * w + b``, ``w`` is
    ``(features,)``; pure twin :func:`direct_current`.
    """
        + _ARGS
        + """
    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.nn import Direct, constant_init
        >>> Direct(3, weight_init=constant_init(2.0))(jnp.array([1.0, 0.0, 1.0]))
        Array([2., 0., 2.], dtype=float32)
    """
    )

    current_fn = staticmethod(direct_current)

    def __init__(self, features: int, *, synapse=None, dt: float = 1e-3, use_bias: bool = False,
                 weight_init: Initializer = uniform_init(), bias_init: Initializer = uniform_init(),
                 rngs: Optional[nnx.Rngs] = None, dtype: Any = None,
                 param_dtype: Any = jnp.float32):
        self.features = check_int("features", features)
        super().__init__((features,), features, synapse=synapse, dt=dt, use_bias=use_bias,
                         weight_init=weight_init, bias_init=bias_init, rngs=rngs, dtype=dtype,
                         param_dtype=param_dtype)


class Lateral(_Connection):
    __doc__ = (
        """All-to-all-but-self connection (Inferno's ``LinearLateral``): ``I = s(z) (W * (1 -
    eye))^T + b``, ``W`` is ``(features, features)`` with a diagonal kept at zero; pure twin
    :func:`lateral_current`.
    """
        + _ARGS
        + """
    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.nn import Lateral, constant_init
        >>> layer = Lateral(3, weight_init=constant_init(-1.0))   # mutual inhibition
        >>> layer.weight[...]
        Array([[ 0., -1., -1.],
               [-1.,  0., -1.],
               [-1., -1.,  0.]], dtype=float32)
        >>> layer(jnp.array([1.0, 0.0, 0.0]))
        Array([ 0., -1., -1.], dtype=float32)
    """
    )

    # weights() masks the diagonal, so the plain dense product is lateral_current.
    current_fn = staticmethod(dense_current)

    def __init__(self, features: int, *, synapse=None, dt: float = 1e-3, use_bias: bool = False,
                 weight_init: Initializer = uniform_init(), bias_init: Initializer = uniform_init(),
                 rngs: Optional[nnx.Rngs] = None, dtype: Any = None,
                 param_dtype: Any = jnp.float32):
        self.features = check_int("features", features)
        super().__init__((features, features), features, synapse=synapse, dt=dt,
                         use_bias=use_bias, weight_init=weight_init, bias_init=bias_init,
                         rngs=rngs, dtype=dtype, param_dtype=param_dtype)
        self.weight[...] = _masked(self.weight[...])

    def weights(self) -> tuple[jax.Array, Optional[jax.Array]]:
        """``(weight, bias)`` with the diagonal of ``weight`` masked to zero."""
        weight, bias = super().weights()
        return _masked(weight), bias
