r"""Exponential leaky integrate-and-fire (LIFEx) neuron, with Norse's equations and defaults.

The membrane voltage :math:`v` and the synaptic current :math:`i` follow

.. math::
    \begin{aligned}
        \dot{v} &= \tau_{\text{mem}}^{-1} \left(v_{\text{leak}} - v + i
                   + \Delta_T \exp\left(\frac{v - v_{\text{th}}}{\Delta_T}\right)\right) \\
        \dot{i} &= -\tau_{\text{syn}}^{-1} i
    \end{aligned}

integrated with one forward-Euler step of ``dt`` seconds (Fourcaud-Trocmé et al., 2003; see
Gerstner et al., *Neuronal Dynamics*, ch. 5.2). The exponential term makes the upswing towards
threshold self-accelerating; :math:`\Delta_T` sets how sharp it is. The neuron spikes when the
integrated voltage crosses the threshold, :math:`z = \Theta(v - v_{\text{th}})`, and then

.. math::
    v \leftarrow (1 - z) v + z v_{\text{reset}}

As in Norse 1.1, each step first adds the input current, :math:`i \leftarrow i + i_{\text{in}}`,
then integrates; the exponential is evaluated at the voltage *before* the step.
:math:`i_{\text{in}}` is the input current (feed-forward) or
:math:`W_{\text{in}} x + W_{\text{rec}} z_{t-1}` (recurrent). Norse 1.1 does not detach the spike
in either reset, so ``detach_reset`` defaults to ``False`` in both steps.

Units follow Norse's code: seconds for ``dt``, inverse seconds for the ``*_inv`` time constants;
voltages (and :math:`\Delta_T`) are dimensionless. (Norse's docstrings say mV and 1/ms, but its
code uses them with ``dt = 1e-3`` s, which is what spikejax reproduces.)

Defaults (Norse's ``LIFExParameters``): ``delta_T=0.5``, ``tau_syn_inv=200`` (5 ms),
``tau_mem_inv=100`` (10 ms), ``v_leak=0``, ``v_th=1``, ``v_reset=0``, ``method="super"``,
``alpha=100``.

Overflow guard (not in Norse):
    The exponent :math:`(v - v_{\text{th}}) / \Delta_T` is clamped from above at
    :data:`MAX_EXPONENT` (20; for float16, half the log of its largest value, about 5.5), so
    :math:`\Delta_T e^{x}` and the Euler update stay finite in every floating dtype. The states
    the dynamics produce never reach the clamp: after each step :math:`v \le v_{\text{th}}` (no
    spike) or :math:`v = v_{\text{reset}}` (spike), so the exponent is at most 0 whenever
    :math:`v_{\text{reset}} \le v_{\text{th}}`, and trajectories equal Norse's. Only a state
    supplied with :math:`v > v_{\text{th}} + 20 \Delta_T` (or :math:`v_{\text{reset}}` that far
    above threshold) is affected; there Norse's float32 arithmetic overflows to ``inf`` and then
    ``nan``. Above the clamp the exponential's gradient is zero.

Example:
    >>> import jax.numpy as jnp
    >>> from spikejax.functional import lif_ex_feed_forward_step
    >>> state = None
    >>> for _ in range(3):
    ...     z, state = lif_ex_feed_forward_step(jnp.ones(2), state)
    >>> state.v
    Array([0.512, 0.512], dtype=float32)
"""

from __future__ import annotations

import math
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
from flax import struct

from ._model import (
    parameters_dataclass,
    NeuronModel,
    NeuronParameters,
    feed_forward_state,
    recurrent_input,
    recurrent_rest,
    rest_like,
)
from .surrogate import SurrogateLike, reset_to, threshold

__all__ = [
    "LIFExParameters",
    "LIFExState",
    "LIFExFeedForwardState",
    "lif_ex_step",
    "lif_ex_feed_forward_step",
    "lif_ex_feed_forward_state",
    "lif_ex_state",
    "lif_ex_dynamics",
    "exponential_current",
    "MAX_EXPONENT",
    "LIF_EX_MODEL",
]

#: Upper clamp on the exponent :math:`(v - v_{\text{th}}) / \Delta_T` (see the module docs).
MAX_EXPONENT = 20.0


@parameters_dataclass
class LIFExParameters(NeuronParameters):
    """Parameters of an exponential LIF neuron (Norse's units and defaults).

    Attributes:
        delta_T: sharpness :math:`\\Delta_T` of the exponential upswing (voltage units, > 0).
        tau_syn_inv: inverse synaptic time constant :math:`1/\\tau_{\\text{syn}}` in 1/s.
        tau_mem_inv: inverse membrane time constant :math:`1/\\tau_{\\text{mem}}` in 1/s.
        v_leak: leak (resting) potential.
        v_th: threshold potential; also where the exponential term equals :math:`\\Delta_T`.
        v_reset: reset potential.
        method: surrogate gradient, a name from :mod:`spikejax.functional.surrogate` or a callable.
        alpha: the surrogate's sharpness.

    Example:
        >>> from spikejax.functional import LIFExParameters
        >>> p = LIFExParameters(delta_T=0.2)
        >>> p.delta_T, p.tau_mem_inv, p.v_th
        (0.2, 100.0, 1.0)
    """

    delta_T: jax.typing.ArrayLike = 0.5
    tau_syn_inv: jax.typing.ArrayLike = 200.0
    tau_mem_inv: jax.typing.ArrayLike = 100.0
    v_leak: jax.typing.ArrayLike = 0.0
    v_th: jax.typing.ArrayLike = 1.0
    v_reset: jax.typing.ArrayLike = 0.0
    method: SurrogateLike = struct.field(pytree_node=False, default="super")
    alpha: jax.typing.ArrayLike = 100.0

    _positive = ("delta_T", "tau_syn_inv", "tau_mem_inv")
    _reset_below = (("v_reset", "v_th"),)


class LIFExState(NamedTuple):
    """State of a recurrent LIFEx neuron: last spikes ``z``, membrane ``v``, current ``i``.

    Example:
        >>> from spikejax.functional import LIFExState, lif_ex_state
        >>> state = lif_ex_state((4, 2))
        >>> isinstance(state, LIFExState), state._fields
        (True, ('z', 'v', 'i'))
    """

    z: jax.Array
    v: jax.Array
    i: jax.Array


class LIFExFeedForwardState(NamedTuple):
    """State of a feed-forward LIFEx neuron: membrane ``v`` and synaptic current ``i``.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import LIFExFeedForwardState, lif_ex_feed_forward_step
        >>> state = LIFExFeedForwardState(v=jnp.array([0.0, 1.5]), i=jnp.zeros(2))
        >>> z, state = lif_ex_feed_forward_step(jnp.zeros(2), state)
        >>> z, state.v                # above the threshold: a spike, and v is reset
        (Array([0., 1.], dtype=float32), Array([0.006767, 0.        ], dtype=float32))
    """

    v: jax.Array
    i: jax.Array


def lif_ex_feed_forward_state(shape, p: LIFExParameters = LIFExParameters(), dtype=jnp.float32):
    """The rest state for inputs of ``shape``: ``v = v_leak``, ``i = 0``.

    Example:
        >>> from spikejax.functional import lif_ex_feed_forward_state
        >>> lif_ex_feed_forward_state((2,))
        LIFExFeedForwardState(v=Array([0., 0.], dtype=float32),
         i=Array([0., 0.], dtype=float32))
    """
    return LIFExFeedForwardState(v=rest_like(p.v_leak, shape, dtype), i=jnp.zeros(shape, dtype))


def lif_ex_state(shape, p: LIFExParameters = LIFExParameters(), dtype=jnp.float32):
    """The rest state of a recurrent layer with outputs of ``shape``: no spikes, ``v = v_leak``.

    Example:
        >>> from spikejax.functional import lif_ex_state
        >>> state = lif_ex_state((8, 5))
        >>> state._fields, state.v.shape
        (('z', 'v', 'i'), (8, 5))
    """
    return recurrent_rest(LIFExState, lif_ex_feed_forward_state, shape, p, dtype)


def _max_exponent(dtype) -> float:
    # Half the log of the largest finite value leaves room for the factor delta_T and the
    # Euler sum; only float16 (log max ~ 11) needs a cap below MAX_EXPONENT.
    return min(MAX_EXPONENT, 0.5 * math.log(float(jnp.finfo(dtype).max)))


def exponential_current(v: jax.Array, p) -> jax.Array:
    r"""The spike-initiation current :math:`\Delta_T \exp((v - v_{\text{th}}) / \Delta_T)`.

    The exponent is clamped at :data:`MAX_EXPONENT` (see the module docs). ``p`` is any
    parameter set with ``delta_T`` and ``v_th`` (LIFEx, AdEx).

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import LIFExParameters, exponential_current
        >>> exponential_current(jnp.array([0.0, 1.0, 2.0]), LIFExParameters())   # delta_T at v_th
        Array([0.06767, 0.5       , 3.6945  ], dtype=float32)
    """
    exponent = (v - p.v_th) / p.delta_T
    exponent = jnp.minimum(exponent, _max_exponent(jnp.result_type(exponent)))
    return p.delta_T * jnp.exp(exponent)


def lif_ex_dynamics(
    input_current, v, i, p: LIFExParameters, dt, *, detach_reset: bool, adaptation=None
):
    """One Euler step of the LIFEx equations; returns ``(z, v_new, i_new)``.

    As in Norse 1.1, the input current jumps first, then ``v`` and ``i`` are integrated (the
    exponential at the old ``v``), then the neuron spikes and resets. ``adaptation`` is an
    extra current subtracted in the voltage equation: the AdEx model
    (:mod:`spikejax.functional.lif_adex`) passes its adaptation current ``a`` here.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import LIFExParameters, lif_ex_dynamics
        >>> zero = jnp.array(0.0)
        >>> z, v, i = lif_ex_dynamics(jnp.array(1.0), zero, zero, LIFExParameters(), 1e-3,
        ...                           detach_reset=False)
        >>> [round(float(a), 4) for a in (z, v, i)]
        [0.0, 0.1068, 0.8]
    """
    i_jump = i + input_current
    drive = (p.v_leak - v) + exponential_current(v, p) + i_jump
    if adaptation is not None:
        drive = drive - adaptation
    v_decayed = v + dt * p.tau_mem_inv * drive
    i_decayed = i_jump + (-dt * p.tau_syn_inv * i_jump)
    z = threshold(v_decayed - p.v_th, p.method, p.alpha)
    z_reset = jax.lax.stop_gradient(z) if detach_reset else z
    v_new = reset_to(z_reset, v_decayed, p.v_reset)
    return z, v_new, i_decayed


def lif_ex_feed_forward_step(
    input_tensor: jax.Array,
    state: Optional[LIFExFeedForwardState] = None,
    p: LIFExParameters = LIFExParameters(),
    dt: float = 1e-3,
    *,
    detach_reset: bool = False,
) -> tuple[jax.Array, LIFExFeedForwardState]:
    """One Euler step of a feed-forward LIFEx neuron driven by the current ``input_tensor``.

    Args:
        input_tensor: input current, any shape (usually ``(B, N)``).
        state: the previous state, or ``None`` for the rest state.
        p: the neuron parameters.
        dt: the integration step in seconds.
        detach_reset: stop the gradient through the spike in the reset (Norse: ``False``).

    Returns:
        ``(z, state)``: the spikes and the new state.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import lif_ex_feed_forward_step, run
        >>> _, zs = run(lif_ex_feed_forward_step, None, jnp.full((100, 1, 2), 0.5))
        >>> zs.sum(axis=0)            # spikes in 0.1 s
        Array([[19., 19.]], dtype=float32)
    """
    state = feed_forward_state(input_tensor, state, p, dt, lif_ex_feed_forward_state)
    z, v, i = lif_ex_dynamics(input_tensor, state.v, state.i, p, dt, detach_reset=detach_reset)
    return z, LIFExFeedForwardState(v=v, i=i)


def lif_ex_step(
    input_tensor: jax.Array,
    state: Optional[LIFExState],
    input_weights: jax.Array,
    recurrent_weights: jax.Array,
    p: LIFExParameters = LIFExParameters(),
    dt: float = 1e-3,
    *,
    detach_reset: bool = False,
) -> tuple[jax.Array, LIFExState]:
    """One Euler step of a recurrent LIFEx layer.

    The input current is ``input_tensor @ input_weights.T + state.z @ recurrent_weights.T``,
    added to ``i`` before the integration step, as in Norse 1.1.

    Args:
        input_tensor: input ``(B, input)`` (or ``(input,)``).
        state: the previous :class:`LIFExState`, leaves of shape ``(B, hidden)``, or ``None``
            for the rest state.
        input_weights: ``(hidden, input)``.
        recurrent_weights: ``(hidden, hidden)``.
        p: the neuron parameters.
        dt: the integration step in seconds.
        detach_reset: stop the gradient through the spike in the reset (Norse: ``False``).

    Returns:
        ``(z, state)``: spikes ``(B, hidden)`` and the new state.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import lif_ex_state, lif_ex_step
        >>> w_in, w_rec = jnp.full((2, 3), 0.2), jnp.zeros((2, 2))
        >>> z, state = lif_ex_step(jnp.ones((4, 3)), lif_ex_state((4, 2)), w_in, w_rec)
        >>> z.shape, state.v[0]
        ((4, 2), Array([0.06677, 0.06677], dtype=float32))
    """
    current, state = recurrent_input(
        input_tensor, state, input_weights, recurrent_weights, p, dt, lif_ex_state
    )
    z, v, i = lif_ex_dynamics(current, state.v, state.i, p, dt, detach_reset=detach_reset)
    return z, LIFExState(z=z, v=v, i=i)


LIF_EX_MODEL = NeuronModel(
    name="LIFEx",
    parameters=LIFExParameters,
    feed_forward_step=lif_ex_feed_forward_step,
    feed_forward_state=lif_ex_feed_forward_state,
    recurrent_step=lif_ex_step,
    recurrent_state=lif_ex_state,
    example_drive=1.0,
)
