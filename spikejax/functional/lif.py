r"""Current-based leaky integrate-and-fire (LIF) neuron, with Norse's equations and defaults.

The membrane voltage :math:`v` and the synaptic current :math:`i` follow

.. math::
    \begin{aligned}
        \dot{v} &= \tau_{\text{mem}}^{-1} (v_{\text{leak}} - v + i) \\
        \dot{i} &= -\tau_{\text{syn}}^{-1} i
    \end{aligned}

integrated with one forward-Euler step of ``dt`` seconds. The neuron spikes when the decayed
voltage crosses the threshold, :math:`z = \Theta(v - v_{\text{th}})`, and then

.. math::
    v \leftarrow (1 - z) v + z v_{\text{reset}}

Each step first adds the input current, :math:`i \leftarrow i + i_{\text{in}}`, then integrates
(the order of Norse 1.1). :math:`i_{\text{in}}` is the input current (feed-forward), or
:math:`W_{\text{in}} x + W_{\text{rec}} z_{t-1}` (recurrent). Units follow Norse: seconds for
``dt`` and inverse seconds for the ``*_inv`` time constants; voltages are dimensionless.

Defaults (Norse's ``LIFParameters``): ``tau_syn_inv=200`` (5 ms), ``tau_mem_inv=100`` (10 ms),
``v_leak=0``, ``v_th=1``, ``v_reset=0``, ``method="super"``, ``alpha=100``.

Example:
    >>> import jax.numpy as jnp
    >>> from spikejax.functional import lif_feed_forward_step
    >>> state = None
    >>> for _ in range(3):
    ...     z, state = lif_feed_forward_step(jnp.ones(2), state)
    >>> state.v
    Array([0.487, 0.487], dtype=float32)
"""

from __future__ import annotations

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
    "LIFParameters",
    "LIFState",
    "LIFFeedForwardState",
    "lif_step",
    "lif_feed_forward_step",
    "lif_feed_forward_state",
    "lif_state",
    "lif_dynamics",
    "LIF_MODEL",
]


@parameters_dataclass
class LIFParameters(NeuronParameters):
    """Parameters of a current-based LIF neuron (Norse's units and defaults).

    Attributes:
        tau_syn_inv: inverse synaptic time constant :math:`1/\\tau_{\\text{syn}}` in 1/s.
        tau_mem_inv: inverse membrane time constant :math:`1/\\tau_{\\text{mem}}` in 1/s.
        v_leak: leak (resting) potential.
        v_th: threshold potential.
        v_reset: reset potential.
        method: surrogate gradient, a name from :mod:`spikejax.functional.surrogate` or a callable.
        alpha: the surrogate's sharpness.

    Example:
        >>> from spikejax.functional import LIFParameters
        >>> p = LIFParameters(tau_mem_inv=50.0, method="atan", alpha=2.0)   # a 20 ms membrane
        >>> p.tau_mem_inv, p.tau_syn_inv, p.v_th
        (50.0, 200.0, 1.0)
        >>> p.replace(v_th=0.5).v_th
        0.5
    """

    tau_syn_inv: jax.typing.ArrayLike = 200.0
    tau_mem_inv: jax.typing.ArrayLike = 100.0
    v_leak: jax.typing.ArrayLike = 0.0
    v_th: jax.typing.ArrayLike = 1.0
    v_reset: jax.typing.ArrayLike = 0.0
    method: SurrogateLike = struct.field(pytree_node=False, default="super")
    alpha: jax.typing.ArrayLike = 100.0

    _positive = ("tau_syn_inv", "tau_mem_inv")
    _reset_below = (("v_reset", "v_th"),)


class LIFState(NamedTuple):
    """State of a recurrent LIF neuron: last spikes ``z``, membrane ``v``, current ``i``.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import LIFState, lif_step
        >>> zeros = jnp.zeros((1, 2))
        >>> state = LIFState(z=zeros, v=jnp.array([[0.0, 0.99]]), i=zeros)
        >>> z, state = lif_step(jnp.ones((1, 3)), state, jnp.ones((2, 3)), jnp.zeros((2, 2)))
        >>> z
        Array([[0., 1.]], dtype=float32)
    """

    z: jax.Array
    v: jax.Array
    i: jax.Array


class LIFFeedForwardState(NamedTuple):
    """State of a feed-forward LIF neuron: membrane ``v`` and synaptic current ``i``.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import LIFFeedForwardState, lif_feed_forward_step
        >>> state = LIFFeedForwardState(v=jnp.array([0.0, 0.99]), i=jnp.zeros(2))
        >>> z, state = lif_feed_forward_step(jnp.full(2, 2.0), state)
        >>> z
        Array([0., 1.], dtype=float32)
    """

    v: jax.Array
    i: jax.Array


def lif_feed_forward_state(shape, p: LIFParameters = LIFParameters(), dtype=jnp.float32):
    """The rest state for inputs of ``shape``: ``v = v_leak``, ``i = 0``.

    Example:
        >>> from spikejax.functional import lif_feed_forward_state
        >>> lif_feed_forward_state((2,))
        LIFFeedForwardState(v=Array([0., 0.], dtype=float32), i=Array([0., 0.], dtype=float32))
    """
    return LIFFeedForwardState(v=rest_like(p.v_leak, shape, dtype), i=jnp.zeros(shape, dtype))


def lif_state(shape, p: LIFParameters = LIFParameters(), dtype=jnp.float32):
    """The rest state of a recurrent layer with outputs of ``shape``: no spikes, ``v = v_leak``.

    Example:
        >>> from spikejax.functional import lif_state
        >>> state = lif_state((8, 5))
        >>> state._fields, state.z.shape
        (('z', 'v', 'i'), (8, 5))
    """
    return recurrent_rest(LIFState, lif_feed_forward_state, shape, p, dtype)


def lif_dynamics(input_current, v, i, p: LIFParameters, dt, *, detach_reset: bool):
    """One Euler step of the LIF equations; returns ``(z, v_new, i_new)``.

    As in Norse 1.1, the input current jumps first, then ``v`` and ``i`` are integrated, then
    the neuron spikes and resets. Shared by the feed-forward and recurrent steps.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import LIFParameters, lif_dynamics
        >>> z, v, i = lif_dynamics(jnp.array(1.0), jnp.array(0.0), jnp.array(0.0), LIFParameters(),
        ...                        1e-3, detach_reset=False)
        >>> [float(a) for a in (z, v, i)]  # v += dt * tau_mem_inv * i; i -= dt * tau_syn_inv * i
        [0.0, 0.1, 0.8]
    """
    i_jump = i + input_current
    v_decayed = v + dt * p.tau_mem_inv * ((p.v_leak - v) + i_jump)
    i_decayed = i_jump + (-dt * p.tau_syn_inv * i_jump)
    z = threshold(v_decayed - p.v_th, p.method, p.alpha)
    z_reset = jax.lax.stop_gradient(z) if detach_reset else z
    v_new = reset_to(z_reset, v_decayed, p.v_reset)
    return z, v_new, i_decayed


def lif_feed_forward_step(
    input_tensor: jax.Array,
    state: Optional[LIFFeedForwardState] = None,
    p: LIFParameters = LIFParameters(),
    dt: float = 1e-3,
    *,
    detach_reset: bool = False,
) -> tuple[jax.Array, LIFFeedForwardState]:
    """One Euler step of a feed-forward LIF neuron driven by the current ``input_tensor``.

    Args:
        input_tensor: input current, any shape (usually ``(B, N)``).
        state: the previous state, or ``None`` for the rest state.
        p: the neuron parameters.
        dt: the integration step in seconds.
        detach_reset: stop the gradient through the spike in the reset. Norse's feed-forward
            step does not (the default here); its recurrent step does.

    Returns:
        ``(z, state)``: the spikes and the new state.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import lif_feed_forward_step, run
        >>> xs = jnp.full((100, 1, 2), 0.5)   # 100 steps (0.1 s), batch 1, 2 neurons
        >>> final, zs = run(lif_feed_forward_step, None, xs)
        >>> zs.shape, zs.sum(axis=0)
        ((100, 1, 2), Array([[19., 19.]], dtype=float32))
    """
    state = feed_forward_state(input_tensor, state, p, dt, lif_feed_forward_state)
    z, v, i = lif_dynamics(input_tensor, state.v, state.i, p, dt, detach_reset=detach_reset)
    return z, LIFFeedForwardState(v=v, i=i)


def lif_step(
    input_tensor: jax.Array,
    state: LIFState,
    input_weights: jax.Array,
    recurrent_weights: jax.Array,
    p: LIFParameters = LIFParameters(),
    dt: float = 1e-3,
    *,
    detach_reset: bool = True,
) -> tuple[jax.Array, LIFState]:
    """One Euler step of a recurrent LIF layer.

    The input current is ``input_tensor @ input_weights.T + state.z @ recurrent_weights.T``,
    added to ``i`` before the integration step, as in Norse 1.1.

    Args:
        input_tensor: input ``(B, input)`` (or ``(input,)``).
        state: the previous :class:`LIFState`, leaves of shape ``(B, hidden)``.
        input_weights: ``(hidden, input)``.
        recurrent_weights: ``(hidden, hidden)``.
        p: the neuron parameters.
        dt: the integration step in seconds.
        detach_reset: stop the gradient through the spike in the reset (Norse: ``True``).

    Returns:
        ``(z, state)``: spikes ``(B, hidden)`` and the new state.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import lif_state, lif_step
        >>> x = jnp.ones((4, 3))                     # batch 4, 3 inputs
        >>> w_in = jnp.full((2, 3), 0.2)             # 2 neurons
        >>> w_rec = jnp.zeros((2, 2))
        >>> z, state = lif_step(x, lif_state((4, 2)), w_in, w_rec)
        >>> z.shape, state.i[0]
        ((4, 2), Array([0.48, 0.48], dtype=float32))
    """
    current, state = recurrent_input(
        input_tensor, state, input_weights, recurrent_weights, p, dt, lif_state
    )
    z, v, i = lif_dynamics(current, state.v, state.i, p, dt, detach_reset=detach_reset)
    return z, LIFState(z=z, v=v, i=i)


LIF_MODEL = NeuronModel(
    name="LIF",
    parameters=LIFParameters,
    feed_forward_step=lif_feed_forward_step,
    feed_forward_state=lif_feed_forward_state,
    recurrent_step=lif_step,
    recurrent_state=lif_state,
)
