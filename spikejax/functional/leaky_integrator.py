r"""Leaky integrator (LI): a LIF membrane that never spikes, used as a readout.

The membrane voltage :math:`v` and the synaptic current :math:`i` follow

.. math::
    \begin{aligned}
        \dot{v} &= \tau_{\text{mem}}^{-1} (v_{\text{leak}} - v + i) \\
        \dot{i} &= -\tau_{\text{syn}}^{-1} i
    \end{aligned}

integrated with one forward-Euler step of ``dt`` seconds. Each step first adds the input current,
:math:`i \leftarrow i + i_{\text{in}}`, then integrates (Norse 1.1's order); the output is the
new membrane voltage :math:`v`. :math:`i_{\text{in}}` is the input (feed-forward,
:func:`li_feed_forward_step`) or :math:`W_{\text{in}} x` (:func:`li_step`). There is no
threshold and no recurrent form. Units follow Norse: seconds for ``dt`` and inverse seconds for
the ``*_inv`` time constants; voltages are dimensionless. Under a constant input :math:`I` the
current settles at :math:`I / (\tau_{\text{syn}}^{-1} dt)` (``5 I`` with the defaults) and the
voltage at :math:`v_{\text{leak}}` plus that current.

Defaults (Norse's ``LIParameters``): ``tau_syn_inv=200`` (5 ms), ``tau_mem_inv=100`` (10 ms),
``v_leak=0``.

Example:
    >>> import jax.numpy as jnp
    >>> from spikejax.functional import li_feed_forward_step
    >>> state = None
    >>> for _ in range(3):
    ...     v, state = li_feed_forward_step(jnp.ones(2), state)
    >>> v
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
    check_input_weights,
    feed_forward_state,
    rest_like,
)
from ._validate import check_array

__all__ = [
    "LIParameters",
    "LIState",
    "li_step",
    "li_feed_forward_step",
    "li_feed_forward_state",
    "li_dynamics",
    "LI_MODEL",
]


@parameters_dataclass
class LIParameters(NeuronParameters):
    """Parameters of a leaky integrator (Norse's units and defaults).

    Attributes:
        tau_syn_inv: inverse synaptic time constant :math:`1/\\tau_{\\text{syn}}` in 1/s.
        tau_mem_inv: inverse membrane time constant :math:`1/\\tau_{\\text{mem}}` in 1/s.
        v_leak: leak (resting) potential.

    Example:
        >>> from spikejax.functional import LIParameters
        >>> p = LIParameters(tau_mem_inv=50.0)
        >>> p.tau_syn_inv, p.tau_mem_inv, p.v_leak
        (200.0, 50.0, 0.0)
    """

    tau_syn_inv: jax.typing.ArrayLike = 200.0
    tau_mem_inv: jax.typing.ArrayLike = 100.0
    v_leak: jax.typing.ArrayLike = 0.0

    _positive = ("tau_syn_inv", "tau_mem_inv")


class LIState(NamedTuple):
    """State of a leaky integrator: membrane ``v`` and synaptic current ``i``.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import LIState, li_feed_forward_step
        >>> state = LIState(v=jnp.zeros(2), i=jnp.array([0.0, 1.0]))
        >>> v, state = li_feed_forward_step(jnp.zeros(2), state)
        >>> v
        Array([0. , 0.1], dtype=float32)
    """

    v: jax.Array
    i: jax.Array


def li_feed_forward_state(shape, p: LIParameters = LIParameters(), dtype=jnp.float32):
    """The rest state for inputs (or outputs) of ``shape``: ``v = v_leak``, ``i = 0``.

    Example:
        >>> from spikejax.functional import li_feed_forward_state
        >>> li_feed_forward_state((2,))
        LIState(v=Array([0., 0.], dtype=float32), i=Array([0., 0.], dtype=float32))
    """
    return LIState(v=rest_like(p.v_leak, shape, dtype), i=jnp.zeros(shape, dtype))


def li_dynamics(input_current, v, i, p: LIParameters, dt):
    """One Euler step of the leaky integrator; returns ``(v_new, i_new)``.

    The input current jumps first, then ``v`` and ``i`` are integrated (Norse 1.1's order).

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import LIParameters, li_dynamics
        >>> v, i = li_dynamics(jnp.array(1.0), jnp.array(0.0), jnp.array(0.0), LIParameters(), 1e-3)
        >>> float(v), float(i)
        (0.1, 0.8)
    """
    i_jump = i + input_current
    v_new = v + dt * p.tau_mem_inv * ((p.v_leak - v) + i_jump)
    i_decayed = i_jump + (-dt * p.tau_syn_inv * i_jump)
    return v_new, i_decayed


def li_feed_forward_step(
    input_tensor: jax.Array,
    state: Optional[LIState] = None,
    p: LIParameters = LIParameters(),
    dt: float = 1e-3,
) -> tuple[jax.Array, LIState]:
    """One Euler step of a leaky integrator driven by the current ``input_tensor``.

    Args:
        input_tensor: input current, any shape (usually ``(B, N)``).
        state: the previous state, or ``None`` for the rest state.
        p: the parameters.
        dt: the integration step in seconds.

    Returns:
        ``(v, state)``: the new membrane voltage and the new state.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import li_feed_forward_step, run
        >>> spikes = jnp.zeros((30, 1, 1)).at[0].set(1.0)    # one input spike at t = 0
        >>> final, vs = run(li_feed_forward_step, None, spikes)
        >>> int(vs[:, 0, 0].argmax())                         # the membrane peaks 5 steps later
        5
    """
    state = feed_forward_state(input_tensor, state, p, dt, li_feed_forward_state)
    v, i = li_dynamics(input_tensor, state.v, state.i, p, dt)
    return v, LIState(v=v, i=i)


def li_step(
    input_tensor: jax.Array,
    state: Optional[LIState],
    input_weights: jax.Array,
    p: LIParameters = LIParameters(),
    dt: float = 1e-3,
) -> tuple[jax.Array, LIState]:
    """One Euler step of a leaky integrator behind a linear layer: ``i_in = x @ input_weights.T``.

    Args:
        input_tensor: input ``(B, input)`` (or ``(input,)``), usually spikes.
        state: the previous :class:`LIState`, leaves of shape ``(B, hidden)``, or ``None``
            for the rest state.
        input_weights: ``(hidden, input)``, as ``torch.nn.Linear`` and Norse.
        p: the parameters.
        dt: the integration step in seconds.

    Returns:
        ``(v, state)``: the new membrane voltage ``(B, hidden)`` and the new state.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import li_feed_forward_state, li_step
        >>> w = jnp.ones((10, 3))                     # 3 inputs read out into 10 classes
        >>> v, state = li_step(jnp.ones((4, 3)), li_feed_forward_state((4, 10)), w)
        >>> v.shape, float(state.i[0, 0])
        ((4, 10), 2.4)
    """
    check_array("input_tensor", input_tensor)
    check_input_weights(input_tensor, input_weights)
    current = input_tensor @ input_weights.T
    state = feed_forward_state(
        current, state, p, dt, li_feed_forward_state, name="the weighted input"
    )
    v, i = li_dynamics(current, state.v, state.i, p, dt)
    return v, LIState(v=v, i=i)


LI_MODEL = NeuronModel(
    name="LI",
    parameters=LIParameters,
    feed_forward_step=li_feed_forward_step,
    feed_forward_state=li_feed_forward_state,
    recurrent_step=None,
    recurrent_state=None,
    output_dtype_spikes=False,
    example_drive=1.0,
)
