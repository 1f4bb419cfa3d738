r"""Integrate-and-fire (IAF) neuron without leak, with Norse's equations and defaults.

The membrane voltage adds up the input and keeps it (there is no leak and no time constant):

.. math::
    v \leftarrow v + i_{\text{in}}

then the neuron spikes when the voltage crosses the threshold,
:math:`z = \Theta(v - v_{\text{th}})`, and resets:

.. math::
    v \leftarrow (1 - z) v + z v_{\text{reset}}

:math:`i_{\text{in}}` is the input (feed-forward) or :math:`W_{\text{in}} x + W_{\text{rec}}
z_{t-1}` (recurrent). The step does not depend on ``dt`` (Norse takes it for a common signature
only); voltages are dimensionless. The rest state is :math:`v = v_{\text{reset}}`, as in Norse's
modules. Norse lets the gradient flow through the spike in the reset in both steps, so
``detach_reset`` defaults to ``False`` in both.

Defaults (Norse's ``IAFParameters``): ``v_th=1``, ``v_reset=0``, ``method="super"``,
``alpha=100``.

Example:
    >>> import jax.numpy as jnp
    >>> from spikejax.functional import iaf_feed_forward_step
    >>> state, zs = None, []
    >>> for _ in range(4):
    ...     z, state = iaf_feed_forward_step(jnp.full(1, 0.3), state)
    ...     zs.append(float(z[0]))
    >>> zs
    [0.0, 0.0, 0.0, 1.0]
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
    "IAFParameters",
    "IAFState",
    "IAFFeedForwardState",
    "iaf_step",
    "iaf_feed_forward_step",
    "iaf_feed_forward_state",
    "iaf_state",
    "iaf_dynamics",
    "IAF_MODEL",
]


@parameters_dataclass
class IAFParameters(NeuronParameters):
    """Parameters of an integrate-and-fire neuron (Norse's defaults).

    Attributes:
        v_th: threshold potential.
        v_reset: reset potential, also the rest state.
        method: surrogate gradient, a name from :mod:`spikejax.functional.surrogate` or a callable.
        alpha: the surrogate's sharpness.

    Example:
        >>> from spikejax.functional import IAFParameters
        >>> p = IAFParameters(v_th=2.0)
        >>> p.v_th, p.v_reset, p.method
        (2.0, 0.0, 'super')
    """

    v_th: jax.typing.ArrayLike = 1.0
    v_reset: jax.typing.ArrayLike = 0.0
    method: SurrogateLike = struct.field(pytree_node=False, default="super")
    alpha: jax.typing.ArrayLike = 100.0

    _reset_below = (("v_reset", "v_th"),)


class IAFState(NamedTuple):
    """State of a recurrent integrate-and-fire neuron: last spikes ``z`` and membrane ``v``.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import IAFState, iaf_step
        >>> state = IAFState(z=jnp.zeros((1, 2)), v=jnp.array([[0.0, 0.5]]))
        >>> z, state = iaf_step(jnp.ones((1, 1)), state, jnp.full((2, 1), 0.6), jnp.zeros((2, 2)))
        >>> z, state.v
        (Array([[0., 1.]], dtype=float32), Array([[0.6, 0. ]], dtype=float32))
    """

    z: jax.Array
    v: jax.Array


class IAFFeedForwardState(NamedTuple):
    """State of a feed-forward integrate-and-fire neuron: membrane ``v``.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import IAFFeedForwardState, iaf_feed_forward_step
        >>> state = IAFFeedForwardState(v=jnp.array([0.0, 0.5]))
        >>> z, state = iaf_feed_forward_step(jnp.full(2, 0.6), state)
        >>> z, state.v
        (Array([0., 1.], dtype=float32), Array([0.6, 0. ], dtype=float32))
    """

    v: jax.Array


def iaf_feed_forward_state(shape, p: IAFParameters = IAFParameters(), dtype=jnp.float32):
    """The rest state for inputs of ``shape``: ``v = v_reset`` (Norse's modules).

    Example:
        >>> from spikejax.functional import iaf_feed_forward_state
        >>> iaf_feed_forward_state((2,))
        IAFFeedForwardState(v=Array([0., 0.], dtype=float32))
    """
    return IAFFeedForwardState(v=rest_like(p.v_reset, shape, dtype))


def iaf_state(shape, p: IAFParameters = IAFParameters(), dtype=jnp.float32):
    """The rest state of a recurrent layer with outputs of ``shape``: no spikes, ``v = v_reset``.

    Example:
        >>> from spikejax.functional import iaf_state
        >>> state = iaf_state((8, 5))
        >>> state._fields, state.v.shape
        (('z', 'v'), (8, 5))
    """
    return recurrent_rest(IAFState, iaf_feed_forward_state, shape, p, dtype)


def iaf_dynamics(input_current, v, p: IAFParameters, *, detach_reset: bool):
    """One integrate-and-fire step; returns ``(z, v_new)``. Shared by both steps.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import IAFParameters, iaf_dynamics
        >>> v = jnp.array([0.5, 0.5])
        >>> iaf_dynamics(jnp.array([0.3, 0.6]), v, IAFParameters(), detach_reset=False)
        (Array([0., 1.], dtype=float32), Array([0.8, 0. ], dtype=float32))
    """
    v_integrated = v + input_current
    z = threshold(v_integrated - p.v_th, p.method, p.alpha)
    z_reset = jax.lax.stop_gradient(z) if detach_reset else z
    v_new = reset_to(z_reset, v_integrated, p.v_reset)
    return z, v_new


def iaf_feed_forward_step(
    input_tensor: jax.Array,
    state: Optional[IAFFeedForwardState] = None,
    p: IAFParameters = IAFParameters(),
    dt: float = 1e-3,
    *,
    detach_reset: bool = False,
) -> tuple[jax.Array, IAFFeedForwardState]:
    """One step of a feed-forward integrate-and-fire neuron driven by ``input_tensor``.

    Args:
        input_tensor: input, any shape (usually ``(B, N)``), added to ``v`` as it is.
        state: the previous state, or ``None`` for the rest state.
        p: the neuron parameters.
        dt: the integration step in seconds; checked but unused, as in Norse.
        detach_reset: stop the gradient through the spike in the reset (Norse: ``False``).

    Returns:
        ``(z, state)``: the spikes and the new state.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import iaf_feed_forward_step, run
        >>> final, zs = run(iaf_feed_forward_step, None, jnp.full((12, 1), 0.25))
        >>> zs[:, 0]                   # no leak: four inputs of 0.25 reach the threshold 1
        Array([0., 0., 0., 0., 1., 0., 0., 0., 0., 1., 0., 0.], dtype=float32)
    """
    state = feed_forward_state(input_tensor, state, p, dt, iaf_feed_forward_state)
    z, v = iaf_dynamics(input_tensor, state.v, p, detach_reset=detach_reset)
    return z, IAFFeedForwardState(v=v)


def iaf_step(
    input_tensor: jax.Array,
    state: Optional[IAFState],
    input_weights: jax.Array,
    recurrent_weights: jax.Array,
    p: IAFParameters = IAFParameters(),
    dt: float = 1e-3,
    *,
    detach_reset: bool = False,
) -> tuple[jax.Array, IAFState]:
    """One step of a recurrent integrate-and-fire layer.

    The input is ``input_tensor @ input_weights.T + state.z @ recurrent_weights.T``.

    Args:
        input_tensor: input ``(B, input)`` (or ``(input,)``).
        state: the previous :class:`IAFState`, leaves of shape ``(B, hidden)``, or ``None``
            for the rest state.
        input_weights: ``(hidden, input)``.
        recurrent_weights: ``(hidden, hidden)``.
        p: the neuron parameters.
        dt: the integration step in seconds; checked but unused, as in Norse.
        detach_reset: stop the gradient through the spike in the reset (Norse: ``False``).

    Returns:
        ``(z, state)``: spikes ``(B, hidden)`` and the new state.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import iaf_state, iaf_step
        >>> w_in, w_rec = jnp.full((2, 3), 0.5), jnp.zeros((2, 2))
        >>> z, state = iaf_step(jnp.ones((4, 3)), iaf_state((4, 2)), w_in, w_rec)
        >>> z[0], state.v[0]       # 1.5 crosses the threshold 1: spike and reset to 0
        (Array([1., 1.], dtype=float32), Array([0., 0.], dtype=float32))
    """
    current, state = recurrent_input(
        input_tensor, state, input_weights, recurrent_weights, p, dt, iaf_state
    )
    z, v = iaf_dynamics(current, state.v, p, detach_reset=detach_reset)
    return z, IAFState(z=z, v=v)


IAF_MODEL = NeuronModel(
    name="IAF",
    parameters=IAFParameters,
    feed_forward_step=iaf_feed_forward_step,
    feed_forward_state=iaf_feed_forward_state,
    recurrent_step=iaf_step,
    recurrent_state=iaf_state,
    # Without leak every input adds up: a mean drive of 0.25 reaches v_th in about 4 steps.
    example_drive=0.25,
)
