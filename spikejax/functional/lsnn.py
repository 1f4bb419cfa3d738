r"""LSNN (ALIF) neuron: LIF with an adaptive threshold, with Norse 1.1's equations and defaults.

The long short-term memory spiking neuron of Bellec et al. (2018): a current-based LIF neuron
whose threshold :math:`b` rises by :math:`\beta` at every spike and relaxes back to
:math:`v_{\text{th}}`:

.. math::
    \begin{aligned}
        \dot{v} &= \tau_{\text{mem}}^{-1} (v_{\text{leak}} - v + i) \\
        \dot{i} &= -\tau_{\text{syn}}^{-1} i \\
        \dot{b} &= \tau_{\text{adapt}}^{-1} (v_{\text{th}} - b)
    \end{aligned}

integrated with one forward-Euler step of ``dt`` seconds. The neuron spikes when the integrated
voltage crosses the integrated threshold, :math:`z = \Theta(v - b)`, and then

.. math::
    \begin{aligned}
        v &\leftarrow (1 - z) v + z v_{\text{reset}} \\
        b &\leftarrow b + \beta z \\
        i &\leftarrow i + i_{\text{in}}
    \end{aligned}

Order (Norse 1.1's code): unlike LIF, the step integrates with the *old* current, spikes and
resets, and only then adds the input current :math:`i_{\text{in}}` (feed-forward: the input;
recurrent: :math:`W_{\text{in}} x + W_{\text{rec}} z_{t-1}`), so an input first moves :math:`v`
one step later. Norse detaches the spike in the reset and in the threshold jump in its
recurrent step but not in its feed-forward step; ``detach_reset`` (which stops both) has those
defaults.

:math:`b` is the threshold itself, not an offset: Norse's docstrings write
:math:`z = \Theta(v - v_{\text{th}} + b)` with :math:`b` decaying to 0, but its code (which
spikejax follows) compares :math:`v` with :math:`b` and relaxes :math:`b` to :math:`v_{\text{th}}`.
The rest state is therefore ``v = v_leak``, ``i = 0``, ``b = v_th``, as Norse's modules
initialise it.

Units follow Norse: seconds for ``dt``, inverse seconds for the ``*_inv`` time constants;
voltages are dimensionless. Defaults (Norse's ``LSNNParameters``): ``tau_syn_inv=200`` (5 ms),
``tau_mem_inv=100`` (10 ms), ``tau_adapt_inv=1/800`` (800 s: with ``dt`` in seconds the
threshold barely relaxes within a run; Bellec et al. used hundreds of ms to seconds), ``v_leak=0``,
``v_th=1``, ``v_reset=0``, ``spike_increment=1.8``, ``method="super"``, ``alpha=100``. The threshold
jump :math:`\beta` is ``spike_increment``, as in ALIF (``beta`` is the membrane decay in Leaky
and Synaptic); Norse's ``beta`` is accepted as an alias (``LSNNParameters(beta=1.8)``, and
``p.beta`` reads ``p.spike_increment``).

Example:
    >>> import jax.numpy as jnp
    >>> from spikejax.functional import lsnn_feed_forward_step
    >>> state = None
    >>> for _ in range(7):
    ...     z, state = lsnn_feed_forward_step(jnp.ones(2), state)
    >>> z, state.v, state.b  # the 7th step spikes: v resets, the threshold rises by 1.8
    (Array([1., 1.], dtype=float32), Array([0., 0.], dtype=float32), Array([2.8, 2.8], dtype=float32))
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
    "LSNNParameters",
    "LSNNState",
    "LSNNFeedForwardState",
    "lsnn_step",
    "lsnn_feed_forward_step",
    "lsnn_feed_forward_state",
    "lsnn_state",
    "lsnn_dynamics",
    "LSNN_MODEL",
]


@parameters_dataclass
class LSNNParameters(NeuronParameters):
    """Parameters of an LSNN (adaptive-threshold LIF) neuron (Norse's units and defaults).

    Attributes:
        tau_syn_inv: inverse synaptic time constant :math:`1/\\tau_{\\text{syn}}` in 1/s.
        tau_mem_inv: inverse membrane time constant :math:`1/\\tau_{\\text{mem}}` in 1/s.
        tau_adapt_inv: inverse threshold-adaptation time constant
            :math:`1/\\tau_{\\text{adapt}}` in 1/s.
        v_leak: leak (resting) potential.
        v_th: the resting threshold, to which the adaptive threshold ``b`` relaxes.
        v_reset: reset potential.
        spike_increment: threshold jump :math:`\\beta` at each spike (alias ``beta``: Norse's
            spelling).
        method: surrogate gradient, a name from :mod:`spikejax.functional.surrogate` or a callable.
        alpha: the surrogate's sharpness.

    Example:
        >>> from spikejax.functional import LSNNParameters
        >>> p = LSNNParameters(spike_increment=0.5)
        >>> p.tau_adapt_inv, p.spike_increment, p.v_th
        (0.00125, 0.5, 1.0)
        >>> LSNNParameters(beta=0.7).spike_increment     # Norse's spelling, the same field
        0.7
    """

    tau_syn_inv: jax.typing.ArrayLike = 200.0
    tau_mem_inv: jax.typing.ArrayLike = 100.0
    tau_adapt_inv: jax.typing.ArrayLike = 1.0 / 800
    v_leak: jax.typing.ArrayLike = 0.0
    v_th: jax.typing.ArrayLike = 1.0
    v_reset: jax.typing.ArrayLike = 0.0
    spike_increment: jax.typing.ArrayLike = 1.8
    method: SurrogateLike = struct.field(pytree_node=False, default="super")
    alpha: jax.typing.ArrayLike = 100.0

    _positive = ("tau_syn_inv", "tau_mem_inv", "tau_adapt_inv")
    _reset_below = (("v_reset", "v_th"),)
    _aliases = {"beta": ("spike_increment", "Norse")}


class LSNNState(NamedTuple):
    """State of a recurrent LSNN neuron: last spikes ``z``, membrane ``v``, current ``i``,
    adaptive threshold ``b``.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import LSNNState, lsnn_step
        >>> zeros = jnp.zeros((1, 2))
        >>> state = LSNNState(z=zeros, v=jnp.array([[0.0, 0.99]]), i=zeros + 2.0, b=zeros + 1.0)
        >>> z, state = lsnn_step(jnp.ones((1, 1)), state, jnp.ones((2, 1)), jnp.zeros((2, 2)))
        >>> z, state.b                # a spike raises the threshold b by spike_increment = 1.8
        (Array([[0., 1.]], dtype=float32), Array([[1. , 2.8]], dtype=float32))
    """

    z: jax.Array
    v: jax.Array
    i: jax.Array
    b: jax.Array


class LSNNFeedForwardState(NamedTuple):
    """State of a feed-forward LSNN neuron: membrane ``v``, current ``i``, threshold ``b``.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import LSNNFeedForwardState, lsnn_feed_forward_step
        >>> state = LSNNFeedForwardState(v=jnp.zeros(2), i=jnp.ones(2), b=jnp.array([1.0, 0.05]))
        >>> z, state = lsnn_feed_forward_step(jnp.zeros(2), state)
        >>> z                         # only the neuron with the low threshold b fires
        Array([0., 1.], dtype=float32)
    """

    v: jax.Array
    i: jax.Array
    b: jax.Array


def lsnn_feed_forward_state(shape, p: LSNNParameters = LSNNParameters(), dtype=jnp.float32):
    """The rest state for inputs of ``shape``: ``v = v_leak``, ``i = 0``, ``b = v_th``.

    Example:
        >>> from spikejax.functional import lsnn_feed_forward_state
        >>> state = lsnn_feed_forward_state((2,))
        >>> state.v, state.i, state.b
        (Array([0., 0.], dtype=float32), Array([0., 0.], dtype=float32),
         Array([1., 1.], dtype=float32))
    """
    return LSNNFeedForwardState(
        v=rest_like(p.v_leak, shape, dtype),
        i=jnp.zeros(shape, dtype),
        b=rest_like(p.v_th, shape, dtype),
    )


def lsnn_state(shape, p: LSNNParameters = LSNNParameters(), dtype=jnp.float32):
    """The rest state of a recurrent layer with outputs of ``shape``: no spikes,
    ``v = v_leak``, ``i = 0``, ``b = v_th``.

    Example:
        >>> from spikejax.functional import lsnn_state
        >>> state = lsnn_state((8, 5))
        >>> state._fields, float(state.b[0, 0])
        (('z', 'v', 'i', 'b'), 1.0)
    """
    return recurrent_rest(LSNNState, lsnn_feed_forward_state, shape, p, dtype)


def lsnn_dynamics(input_current, v, i, b, p: LSNNParameters, dt, *, detach_reset: bool):
    """One Euler step of the LSNN equations; returns ``(z, v_new, i_new, b_new)``.

    As in Norse 1.1: integrate ``v``, ``i`` and ``b`` with the old current, spike where
    ``v > b``, reset ``v`` and raise ``b``, and only then add ``input_current`` to ``i``.
    ``detach_reset`` stops the gradient through the spike in both the reset and the threshold
    jump. Shared by the feed-forward and recurrent steps.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import LSNNParameters, lsnn_dynamics
        >>> one, zero = jnp.array(1.0), jnp.array(0.0)
        >>> p = LSNNParameters()
        >>> z, v, i, b = lsnn_dynamics(zero, zero, one, one, p, 1e-3, detach_reset=False)
        >>> [round(float(a), 4) for a in (z, v, i, b)]
        [0.0, 0.1, 0.8, 1.0]
    """
    v_decayed = v + dt * p.tau_mem_inv * ((p.v_leak - v) + i)
    i_decayed = i + (-dt * p.tau_syn_inv * i)
    b_decayed = b + dt * p.tau_adapt_inv * (p.v_th - b)
    z = threshold(v_decayed - b_decayed, p.method, p.alpha)
    z_state = jax.lax.stop_gradient(z) if detach_reset else z
    v_new = reset_to(z_state, v_decayed, p.v_reset)
    b_new = b_decayed + z_state * p.spike_increment
    return z, v_new, i_decayed + input_current, b_new


def lsnn_feed_forward_step(
    input_tensor: jax.Array,
    state: Optional[LSNNFeedForwardState] = None,
    p: LSNNParameters = LSNNParameters(),
    dt: float = 1e-3,
    *,
    detach_reset: bool = False,
) -> tuple[jax.Array, LSNNFeedForwardState]:
    """One Euler step of a feed-forward LSNN neuron driven by the current ``input_tensor``.

    Args:
        input_tensor: input current, any shape (usually ``(B, N)``); added to ``i`` at the end
            of the step.
        state: the previous state, or ``None`` for the rest state (``b = v_th``).
        p: the neuron parameters.
        dt: the integration step in seconds.
        detach_reset: stop the gradient through the spike in the reset and the threshold jump.
            Norse's feed-forward step does not (the default here); its recurrent step does.

    Returns:
        ``(z, state)``: the spikes and the new state.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import lsnn_feed_forward_step, run
        >>> xs = jnp.full((300, 1, 1), 1.0)
        >>> _, zs = run(lsnn_feed_forward_step, None, xs)
        >>> int(zs[:150].sum()), int(zs[150:].sum())     # the threshold adapts: fewer spikes later
        (3, 0)
    """
    state = feed_forward_state(input_tensor, state, p, dt, lsnn_feed_forward_state)
    z, v, i, b = lsnn_dynamics(
        input_tensor, state.v, state.i, state.b, p, dt, detach_reset=detach_reset
    )
    return z, LSNNFeedForwardState(v=v, i=i, b=b)


def lsnn_step(
    input_tensor: jax.Array,
    state: Optional[LSNNState],
    input_weights: jax.Array,
    recurrent_weights: jax.Array,
    p: LSNNParameters = LSNNParameters(),
    dt: float = 1e-3,
    *,
    detach_reset: bool = True,
) -> tuple[jax.Array, LSNNState]:
    """One Euler step of a recurrent LSNN layer.

    The input current ``input_tensor @ input_weights.T + state.z @ recurrent_weights.T`` is
    added to ``i`` after the integration step, as in Norse 1.1.

    Args:
        input_tensor: input ``(B, input)`` (or ``(input,)``).
        state: the previous :class:`LSNNState`, leaves of shape ``(B, hidden)``, or ``None``
            for the rest state (``b = v_th``).
        input_weights: ``(hidden, input)``.
        recurrent_weights: ``(hidden, hidden)``.
        p: the neuron parameters.
        dt: the integration step in seconds.
        detach_reset: stop the gradient through the spike in the reset and the threshold jump
            (Norse: ``True``).

    Returns:
        ``(z, state)``: spikes ``(B, hidden)`` and the new state.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import lsnn_state, lsnn_step
        >>> w_in, w_rec = jnp.full((2, 3), 0.2), jnp.zeros((2, 2))
        >>> z, state = lsnn_step(jnp.ones((4, 3)), lsnn_state((4, 2)), w_in, w_rec)
        >>> z.shape, state.i[0]       # the input current is added at the end of the step
        ((4, 2), Array([0.6, 0.6], dtype=float32))
    """
    current, state = recurrent_input(
        input_tensor, state, input_weights, recurrent_weights, p, dt, lsnn_state
    )
    z, v, i, b = lsnn_dynamics(current, state.v, state.i, state.b, p, dt, detach_reset=detach_reset)
    return z, LSNNState(z=z, v=v, i=i, b=b)


LSNN_MODEL = NeuronModel(
    name="LSNN",
    parameters=LSNNParameters,
    feed_forward_step=lsnn_feed_forward_step,
    feed_forward_state=lsnn_feed_forward_state,
    recurrent_step=lsnn_step,
    recurrent_state=lsnn_state,
    example_drive=1.0,
)
