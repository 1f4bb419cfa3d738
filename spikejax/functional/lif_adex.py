r"""Adaptive exponential leaky integrate-and-fire (AdEx) neuron, with Norse's equations and defaults.

The exponential LIF (:mod:`spikejax.functional.lif_ex`) with an adaptation current :math:`a`
(Brette & Gerstner, 2005):

.. math::
    \begin{aligned}
        \dot{v} &= \tau_{\text{mem}}^{-1} \left(v_{\text{leak}} - v + i
                   + \Delta_T \exp\left(\frac{v - v_{\text{th}}}{\Delta_T}\right) - a\right) \\
        \dot{i} &= -\tau_{\text{syn}}^{-1} i \\
        \dot{a} &= \tau_{\text{ada}}^{-1} \left(a_{\text{current}} (v - v_{\text{leak}}) - a\right)
    \end{aligned}

integrated with one forward-Euler step of ``dt`` seconds. The neuron spikes when the integrated
voltage crosses the threshold, :math:`z = \Theta(v - v_{\text{th}})`, and then

.. math::
    \begin{aligned}
        v &\leftarrow (1 - z) v + z v_{\text{reset}} \\
        a &\leftarrow a + a_{\text{spike}} z
    \end{aligned}

As in Norse 1.1, each step first adds the input current, :math:`i \leftarrow i + i_{\text{in}}`,
then integrates :math:`v`, :math:`i` and :math:`a`; the exponential and :math:`\dot a` are
evaluated at the voltage *before* the step. :math:`i_{\text{in}}` is the input current
(feed-forward) or :math:`W_{\text{in}} x + W_{\text{rec}} z_{t-1}` (recurrent). Norse 1.1 lets
the gradient flow through the spike in the reset and in the adaptation jump, in both steps, so
``detach_reset`` (which stops both) defaults to ``False``.

Units follow Norse's code: seconds for ``dt``, inverse seconds for the ``*_inv`` time constants;
voltages, currents and :math:`a` are dimensionless. (Norse's docstrings quote PyNN's units, nS,
nA, mV and 1/ms, but its code uses these numbers with ``dt = 1e-3`` s; spikejax reproduces the
code.)

Defaults (Norse's ``LIFAdExParameters``): ``adaptation_current=4``, ``adaptation_spike=0.02``,
``delta_T=0.5``, ``tau_adapt_inv=2`` (0.5 s), ``tau_syn_inv=200`` (5 ms), ``tau_mem_inv=100``
(10 ms), ``v_leak=0``, ``v_th=1``, ``v_reset=0``, ``method="super"``, ``alpha=100``. The rest
state is ``v = v_leak``, ``i = 0``, ``a = 0`` (a fixed point without input, and Norse's
modules' initial state). The adaptation time constant is ``tau_adapt_inv``, as in LSNN;
Norse's ``tau_ada_inv`` is accepted as an alias (``LIFAdExParameters(tau_ada_inv=2.0)``, and
``p.tau_ada_inv`` reads ``p.tau_adapt_inv``).

The exponent is clamped from above exactly as in LIFEx (see
:func:`spikejax.functional.exponential_current`): never reached by the states the dynamics
produce, so trajectories equal Norse's; it only keeps a supplied state far above threshold from
overflowing to ``inf``/``nan``.

Example:
    >>> import jax.numpy as jnp
    >>> from spikejax.functional import lif_adex_feed_forward_step
    >>> state = None
    >>> for _ in range(3):
    ...     z, state = lif_adex_feed_forward_step(jnp.ones(2), state)
    >>> state.v, state.a
    (Array([0.5119, 0.5119], dtype=float32), Array([0.0031, 0.0031], dtype=float32))
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
from .lif_ex import lif_ex_dynamics
from .surrogate import SurrogateLike

__all__ = [
    "LIFAdExParameters",
    "LIFAdExState",
    "LIFAdExFeedForwardState",
    "lif_adex_step",
    "lif_adex_feed_forward_step",
    "lif_adex_feed_forward_state",
    "lif_adex_state",
    "lif_adex_dynamics",
    "LIF_ADEX_MODEL",
]


@parameters_dataclass
class LIFAdExParameters(NeuronParameters):
    """Parameters of an adaptive exponential LIF neuron (Norse's units and defaults).

    Attributes:
        adaptation_current: coupling :math:`a_{\\text{current}}` of the adaptation to the
            voltage (subthreshold adaptation).
        adaptation_spike: jump :math:`a_{\\text{spike}}` of the adaptation at each spike.
        delta_T: sharpness :math:`\\Delta_T` of the exponential upswing (voltage units, > 0).
        tau_adapt_inv: inverse adaptation time constant :math:`1/\\tau_{\\text{ada}}` in 1/s
            (alias ``tau_ada_inv``: Norse's spelling).
        tau_syn_inv: inverse synaptic time constant :math:`1/\\tau_{\\text{syn}}` in 1/s.
        tau_mem_inv: inverse membrane time constant :math:`1/\\tau_{\\text{mem}}` in 1/s.
        v_leak: leak (resting) potential.
        v_th: threshold potential.
        v_reset: reset potential.
        method: surrogate gradient, a name from :mod:`spikejax.functional.surrogate` or a callable.
        alpha: the surrogate's sharpness.

    Example:
        >>> from spikejax.functional import LIFAdExParameters
        >>> p = LIFAdExParameters(adaptation_spike=2.0)
        >>> p.adaptation_current, p.adaptation_spike, p.tau_adapt_inv
        (4.0, 2.0, 2.0)
        >>> LIFAdExParameters(tau_ada_inv=4.0).tau_adapt_inv     # Norse's spelling
        4.0
    """

    adaptation_current: jax.typing.ArrayLike = 4.0
    adaptation_spike: jax.typing.ArrayLike = 0.02
    delta_T: jax.typing.ArrayLike = 0.5
    tau_adapt_inv: jax.typing.ArrayLike = 2.0
    tau_syn_inv: jax.typing.ArrayLike = 200.0
    tau_mem_inv: jax.typing.ArrayLike = 100.0
    v_leak: jax.typing.ArrayLike = 0.0
    v_th: jax.typing.ArrayLike = 1.0
    v_reset: jax.typing.ArrayLike = 0.0
    method: SurrogateLike = struct.field(pytree_node=False, default="super")
    alpha: jax.typing.ArrayLike = 100.0

    _positive = ("delta_T", "tau_adapt_inv", "tau_syn_inv", "tau_mem_inv")
    _reset_below = (("v_reset", "v_th"),)
    _aliases = {"tau_ada_inv": ("tau_adapt_inv", "Norse")}


class LIFAdExState(NamedTuple):
    """State of a recurrent AdEx neuron: last spikes ``z``, membrane ``v``, current ``i``,
    adaptation ``a``.

    Example:
        >>> from spikejax.functional import LIFAdExState, lif_adex_state
        >>> state = lif_adex_state((4, 2))
        >>> isinstance(state, LIFAdExState), state._fields
        (True, ('z', 'v', 'i', 'a'))
    """

    z: jax.Array
    v: jax.Array
    i: jax.Array
    a: jax.Array


class LIFAdExFeedForwardState(NamedTuple):
    """State of a feed-forward AdEx neuron: membrane ``v``, current ``i``, adaptation ``a``.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import LIFAdExFeedForwardState, lif_adex_feed_forward_step
        >>> state = LIFAdExFeedForwardState(v=jnp.zeros(2), i=jnp.zeros(2), a=jnp.array([0.0, 5.0]))
        >>> z, state = lif_adex_feed_forward_step(jnp.zeros(2), state)
        >>> state.v                   # the adaptation current a pulls the membrane down
        Array([ 0.006767, -0.4932], dtype=float32)
    """

    v: jax.Array
    i: jax.Array
    a: jax.Array


def lif_adex_feed_forward_state(
    shape, p: LIFAdExParameters = LIFAdExParameters(), dtype=jnp.float32
):
    """The rest state for inputs of ``shape``: ``v = v_leak``, ``i = 0``, ``a = 0``.

    Example:
        >>> from spikejax.functional import lif_adex_feed_forward_state
        >>> state = lif_adex_feed_forward_state((2,))
        >>> state.v, state.a
        (Array([0., 0.], dtype=float32), Array([0., 0.], dtype=float32))
    """
    zeros = jnp.zeros(shape, dtype)
    return LIFAdExFeedForwardState(v=rest_like(p.v_leak, shape, dtype), i=zeros, a=zeros)


def lif_adex_state(shape, p: LIFAdExParameters = LIFAdExParameters(), dtype=jnp.float32):
    """The rest state of a recurrent layer with outputs of ``shape``: no spikes, ``v = v_leak``,
    ``i = 0``, ``a = 0``.

    Example:
        >>> from spikejax.functional import lif_adex_state
        >>> state = lif_adex_state((8, 5))
        >>> state._fields, state.a.shape
        (('z', 'v', 'i', 'a'), (8, 5))
    """
    return recurrent_rest(LIFAdExState, lif_adex_feed_forward_state, shape, p, dtype)


def lif_adex_dynamics(input_current, v, i, a, p: LIFAdExParameters, dt, *, detach_reset: bool):
    """One Euler step of the AdEx equations; returns ``(z, v_new, i_new, a_new)``.

    The voltage and current follow :func:`~spikejax.functional.lif_ex_dynamics` with ``a``
    subtracted from the drive; ``a`` relaxes towards ``adaptation_current * (v - v_leak)``
    (at the old ``v``) and jumps by ``adaptation_spike`` at a spike. ``detach_reset`` stops the
    gradient through the spike in both the voltage reset and the adaptation jump.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import LIFAdExParameters, lif_adex_dynamics
        >>> zero = jnp.array(0.0)
        >>> z, v, i, a = lif_adex_dynamics(zero, jnp.array(1.5), zero, zero, LIFAdExParameters(),
        ...                                1e-3, detach_reset=False)
        >>> [round(float(x), 4) for x in (z, v, i, a)]   # above threshold: spike, reset, a jumps
        [1.0, 0.0, 0.0, 0.032]
    """
    a_decayed = a + dt * p.tau_adapt_inv * (p.adaptation_current * (v - p.v_leak) - a)
    z, v_new, i_new = lif_ex_dynamics(
        input_current, v, i, p, dt, detach_reset=detach_reset, adaptation=a
    )
    z_jump = jax.lax.stop_gradient(z) if detach_reset else z
    a_new = a_decayed + z_jump * p.adaptation_spike
    return z, v_new, i_new, a_new


def lif_adex_feed_forward_step(
    input_tensor: jax.Array,
    state: Optional[LIFAdExFeedForwardState] = None,
    p: LIFAdExParameters = LIFAdExParameters(),
    dt: float = 1e-3,
    *,
    detach_reset: bool = False,
) -> tuple[jax.Array, LIFAdExFeedForwardState]:
    """One Euler step of a feed-forward AdEx neuron driven by the current ``input_tensor``.

    Args:
        input_tensor: input current, any shape (usually ``(B, N)``).
        state: the previous state, or ``None`` for the rest state.
        p: the neuron parameters.
        dt: the integration step in seconds.
        detach_reset: stop the gradient through the spike in the reset and the adaptation
            jump (Norse: ``False``).

    Returns:
        ``(z, state)``: the spikes and the new state.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import LIFAdExParameters, lif_adex_feed_forward_step, run
        >>> p = LIFAdExParameters(adaptation_spike=0.5)
        >>> step = lambda x, state: lif_adex_feed_forward_step(x, state, p)
        >>> _, zs = run(step, None, jnp.full((200, 1, 1), 1.0))
        >>> int(zs[:100].sum()), int(zs[100:].sum())     # adaptation: fewer spikes later
        (10, 1)
    """
    state = feed_forward_state(input_tensor, state, p, dt, lif_adex_feed_forward_state)
    z, v, i, a = lif_adex_dynamics(
        input_tensor, state.v, state.i, state.a, p, dt, detach_reset=detach_reset
    )
    return z, LIFAdExFeedForwardState(v=v, i=i, a=a)


def lif_adex_step(
    input_tensor: jax.Array,
    state: Optional[LIFAdExState],
    input_weights: jax.Array,
    recurrent_weights: jax.Array,
    p: LIFAdExParameters = LIFAdExParameters(),
    dt: float = 1e-3,
    *,
    detach_reset: bool = False,
) -> tuple[jax.Array, LIFAdExState]:
    """One Euler step of a recurrent AdEx layer.

    The input current is ``input_tensor @ input_weights.T + state.z @ recurrent_weights.T``,
    added to ``i`` before the integration step, as in Norse 1.1.

    Args:
        input_tensor: input ``(B, input)`` (or ``(input,)``).
        state: the previous :class:`LIFAdExState`, leaves of shape ``(B, hidden)``, or ``None``
            for the rest state.
        input_weights: ``(hidden, input)``.
        recurrent_weights: ``(hidden, hidden)``.
        p: the neuron parameters.
        dt: the integration step in seconds.
        detach_reset: stop the gradient through the spike in the reset and the adaptation
            jump (Norse: ``False``).

    Returns:
        ``(z, state)``: spikes ``(B, hidden)`` and the new state.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import lif_adex_state, lif_adex_step
        >>> w_in, w_rec = jnp.full((2, 3), 0.2), jnp.zeros((2, 2))
        >>> z, state = lif_adex_step(jnp.ones((4, 3)), lif_adex_state((4, 2)), w_in, w_rec)
        >>> z.shape, state.v[0]
        ((4, 2), Array([0.06677, 0.06677], dtype=float32))
    """
    current, state = recurrent_input(
        input_tensor, state, input_weights, recurrent_weights, p, dt, lif_adex_state
    )
    z, v, i, a = lif_adex_dynamics(
        current, state.v, state.i, state.a, p, dt, detach_reset=detach_reset
    )
    return z, LIFAdExState(z=z, v=v, i=i, a=a)


LIF_ADEX_MODEL = NeuronModel(
    name="LIFAdEx",
    parameters=LIFAdExParameters,
    feed_forward_step=lif_adex_feed_forward_step,
    feed_forward_state=lif_adex_feed_forward_state,
    recurrent_step=lif_adex_step,
    recurrent_state=lif_adex_state,
    example_drive=1.0,
)
