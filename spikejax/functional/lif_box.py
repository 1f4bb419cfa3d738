r"""Boxed leaky integrate-and-fire (LIFBox) neuron: LIF without a synaptic current.

The input current acts on the membrane directly, for one step only (a "current box"):

.. math::
    \dot{v} = \tau_{\text{mem}}^{-1} (v_{\text{leak}} - v + i_{\text{in}})

integrated with one forward-Euler step of ``dt`` seconds. The neuron spikes when the new voltage
crosses the threshold, :math:`z = \Theta(v - v_{\text{th}})`, and then resets, by value
(``reset_mechanism="value"``, Norse's default) or by subtraction (``"subtract"``):

.. math::
    v \leftarrow (1 - z) v + z v_{\text{reset}}
    \qquad \text{or} \qquad
    v \leftarrow (1 - z) v + z (v - v_{\text{th}})

:math:`i_{\text{in}}` is the input (feed-forward), or :math:`W_{\text{in}} x + W_{\text{rec}}
z_{t-1}` (recurrent). Norse 1.1 has only the feed-forward step; the recurrent step here is built
the way Norse builds ``lif_step``, detaching the spike in the reset by default. Units follow
Norse: seconds for ``dt``, inverse seconds for ``tau_mem_inv``; voltages are dimensionless.
With a constant input :math:`I` the membrane settles at :math:`v_{\text{leak}} + I`, so the
default neuron fires only for :math:`I > 1`.

Defaults (Norse's ``LIFBoxParameters``): ``tau_mem_inv=100`` (10 ms), ``v_leak=0``, ``v_th=1``,
``v_reset=0``, ``method="super"``, ``alpha=100``, ``reset_mechanism="value"``. The reset rule is
``reset_mechanism``, as in Leaky and Synaptic; Norse's ``reset_method`` is accepted as an alias
(``LIFBoxParameters(reset_method="subtract")``, and ``p.reset_method`` reads it).

Example:
    >>> import jax.numpy as jnp
    >>> from spikejax.functional import lif_box_feed_forward_step
    >>> state = None
    >>> for _ in range(3):
    ...     z, state = lif_box_feed_forward_step(jnp.ones(2), state)
    >>> state.v                                      # 1 - 0.9**3
    Array([0.271, 0.271], dtype=float32)
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional, Union

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
    "LIFBoxParameters",
    "LIFBoxState",
    "LIFBoxFeedForwardState",
    "lif_box_step",
    "lif_box_feed_forward_step",
    "lif_box_feed_forward_state",
    "lif_box_state",
    "lif_box_dynamics",
    "LIF_BOX_MODEL",
]

ResetMethod = Callable[[jax.Array, jax.Array, jax.Array, jax.Array], jax.Array]

# Norse's functional/reset.py: reset(z, v, v_reset, v_th) -> v after the spike.
_RESETS: dict[str, ResetMethod] = {
# Written with reset_to: the same values and gradients, without 0 * inf = nan (threshold.py).
    "value": lambda z, v, v_reset, v_th: reset_to(z, v, v_reset),
    "subtract": lambda z, v, v_reset, v_th: reset_to(z, v, v - v_th),
}


def _resolve_reset(reset_mechanism: Union[str, ResetMethod]) -> ResetMethod:
    if isinstance(reset_mechanism, str):
        try:
            return _RESETS[reset_mechanism]
        except KeyError:
            raise ValueError(
                f"reset_mechanism must be one of {sorted(_RESETS)} or a callable "
                f"reset(z, v, v_reset, v_th), got unknown reset {reset_mechanism!r}"
            ) from None
    if callable(reset_mechanism):
        return reset_mechanism
    raise TypeError(
        f"reset_mechanism must be a reset name or a callable reset(z, v, v_reset, v_th), "
        f"got {type(reset_mechanism).__name__}"
    )


@parameters_dataclass
class LIFBoxParameters(NeuronParameters):
    """Parameters of a boxed LIF neuron (Norse's units and defaults).

    Attributes:
        tau_mem_inv: inverse membrane time constant :math:`1/\\tau_{\\text{mem}}` in 1/s.
        v_leak: leak (resting) potential.
        v_th: threshold potential.
        v_reset: reset potential (used by ``reset_mechanism="value"``).
        method: surrogate gradient, a name from :mod:`spikejax.functional.surrogate` or a callable.
        alpha: the surrogate's sharpness.
        reset_mechanism: ``"value"`` (to ``v_reset``), ``"subtract"`` (``v_th`` is subtracted), or
            a callable ``reset(z, v, v_reset, v_th)`` (alias ``reset_method``: Norse's spelling).

    Example:
        >>> from spikejax.functional import LIFBoxParameters
        >>> p = LIFBoxParameters(tau_mem_inv=50.0, reset_mechanism="subtract")
        >>> p.tau_mem_inv, p.v_th, p.reset_mechanism
        (50.0, 1.0, 'subtract')
    """

    tau_mem_inv: jax.typing.ArrayLike = 100.0
    v_leak: jax.typing.ArrayLike = 0.0
    v_th: jax.typing.ArrayLike = 1.0
    v_reset: jax.typing.ArrayLike = 0.0
    method: SurrogateLike = struct.field(pytree_node=False, default="super")
    alpha: jax.typing.ArrayLike = 100.0
    reset_mechanism: Union[str, ResetMethod] = struct.field(pytree_node=False, default="value")

    _positive = ("tau_mem_inv",)
    _aliases = {"reset_method": ("reset_mechanism", "Norse")}

    def __post_init__(self):
        _resolve_reset(self.reset_mechanism)
        super().__post_init__()

    def positive_fields(self) -> tuple[str, ...]:
        # Subtracting a threshold <= 0 does not lower the voltage: the neuron would fire forever.
        extra = ("v_th",) if self.reset_mechanism == "subtract" else ()
        return super().positive_fields() + extra

    def reset_pairs(self) -> tuple:
        return (("v_reset", "v_th"),) if self.reset_mechanism == "value" else ()


class LIFBoxState(NamedTuple):
    """State of a recurrent boxed LIF neuron: last spikes ``z`` and membrane ``v``.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import LIFBoxState, lif_box_step
        >>> state = LIFBoxState(z=jnp.zeros((1, 2)), v=jnp.array([[0.0, 0.95]]))
        >>> w_in, w_rec = jnp.full((2, 1), 3.0), jnp.zeros((2, 2))
        >>> z, state = lif_box_step(jnp.ones((1, 1)), state, w_in, w_rec)
        >>> z
        Array([[0., 1.]], dtype=float32)
    """

    z: jax.Array
    v: jax.Array


class LIFBoxFeedForwardState(NamedTuple):
    """State of a feed-forward boxed LIF neuron: membrane ``v``.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import LIFBoxFeedForwardState, lif_box_feed_forward_step
        >>> state = LIFBoxFeedForwardState(v=jnp.array([0.0, 0.95]))
        >>> z, state = lif_box_feed_forward_step(jnp.full(2, 3.0), state)
        >>> z, state.v
        (Array([0., 1.], dtype=float32), Array([0.3, 0. ], dtype=float32))
    """

    v: jax.Array


def lif_box_feed_forward_state(shape, p: LIFBoxParameters = LIFBoxParameters(), dtype=jnp.float32):
    """The rest state for inputs of ``shape``: ``v = v_leak``.

    Example:
        >>> from spikejax.functional import lif_box_feed_forward_state
        >>> lif_box_feed_forward_state((2,))
        LIFBoxFeedForwardState(v=Array([0., 0.], dtype=float32))
    """
    return LIFBoxFeedForwardState(v=rest_like(p.v_leak, shape, dtype))


def lif_box_state(shape, p: LIFBoxParameters = LIFBoxParameters(), dtype=jnp.float32):
    """The rest state of a recurrent layer with outputs of ``shape``: no spikes, ``v = v_leak``.

    Example:
        >>> from spikejax.functional import lif_box_state
        >>> state = lif_box_state((8, 5))
        >>> state._fields, state.z.shape
        (('z', 'v'), (8, 5))
    """
    return recurrent_rest(LIFBoxState, lif_box_feed_forward_state, shape, p, dtype)


def lif_box_dynamics(input_current, v, p: LIFBoxParameters, dt, *, detach_reset: bool):
    """One Euler step of the boxed LIF equations; returns ``(z, v_new)``.

    Shared by the feed-forward and recurrent steps.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import LIFBoxParameters, lif_box_dynamics
        >>> z, v = lif_box_dynamics(jnp.array(2.0), jnp.array(0.5), LIFBoxParameters(), 1e-3,
        ...                         detach_reset=False)
        >>> float(z), float(v)        # v += dt * tau_mem_inv * (v_leak - v + x) = 0.15
        (0.0, 0.65)
    """
    # Norse's order of operations, so that float32 results agree bit for bit where possible.
    v_decayed = v + dt * p.tau_mem_inv * (input_current + p.v_leak - v)
    z = threshold(v_decayed - p.v_th, p.method, p.alpha)
    z_reset = jax.lax.stop_gradient(z) if detach_reset else z
    v_new = _resolve_reset(p.reset_mechanism)(z_reset, v_decayed, p.v_reset, p.v_th)
    return z, v_new


def lif_box_feed_forward_step(
    input_tensor: jax.Array,
    state: Optional[LIFBoxFeedForwardState] = None,
    p: LIFBoxParameters = LIFBoxParameters(),
    dt: float = 1e-3,
    *,
    detach_reset: bool = False,
) -> tuple[jax.Array, LIFBoxFeedForwardState]:
    """One Euler step of a feed-forward boxed LIF neuron driven by the current ``input_tensor``.

    Args:
        input_tensor: input current, any shape (usually ``(B, N)``).
        state: the previous state, or ``None`` for the rest state.
        p: the neuron parameters.
        dt: the integration step in seconds.
        detach_reset: stop the gradient through the spike in the reset. Norse's feed-forward
            step does not (the default here).

    Returns:
        ``(z, state)``: the spikes and the new state.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import lif_box_feed_forward_step, run
        >>> final, zs = run(lif_box_feed_forward_step, None, jnp.full((100, 1, 2), 2.0))
        >>> zs.sum(axis=0)            # spikes in 0.1 s
        Array([[14., 14.]], dtype=float32)
    """
    state = feed_forward_state(input_tensor, state, p, dt, lif_box_feed_forward_state)
    z, v = lif_box_dynamics(input_tensor, state.v, p, dt, detach_reset=detach_reset)
    return z, LIFBoxFeedForwardState(v=v)


def lif_box_step(
    input_tensor: jax.Array,
    state: Optional[LIFBoxState],
    input_weights: jax.Array,
    recurrent_weights: jax.Array,
    p: LIFBoxParameters = LIFBoxParameters(),
    dt: float = 1e-3,
    *,
    detach_reset: bool = True,
) -> tuple[jax.Array, LIFBoxState]:
    """One Euler step of a recurrent boxed LIF layer.

    The input current is ``input_tensor @ input_weights.T + state.z @ recurrent_weights.T``;
    it drives the membrane for this step only.

    Args:
        input_tensor: input ``(B, input)`` (or ``(input,)``).
        state: the previous :class:`LIFBoxState`, leaves of shape ``(B, hidden)``, or ``None``
            for the rest state.
        input_weights: ``(hidden, input)``.
        recurrent_weights: ``(hidden, hidden)``.
        p: the neuron parameters.
        dt: the integration step in seconds.
        detach_reset: stop the gradient through the spike in the reset (``True``, as Norse's
            recurrent ``lif_step``).

    Returns:
        ``(z, state)``: spikes ``(B, hidden)`` and the new state.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import lif_box_state, lif_box_step
        >>> w_in, w_rec = jnp.full((2, 3), 1.0), jnp.zeros((2, 2))
        >>> z, state = lif_box_step(jnp.ones((4, 3)), lif_box_state((4, 2)), w_in, w_rec)
        >>> z.shape, state.v[0]
        ((4, 2), Array([0.3, 0.3], dtype=float32))
    """
    current, state = recurrent_input(
        input_tensor, state, input_weights, recurrent_weights, p, dt, lif_box_state
    )
    z, v = lif_box_dynamics(current, state.v, p, dt, detach_reset=detach_reset)
    return z, LIFBoxState(z=z, v=v)


LIF_BOX_MODEL = NeuronModel(
    name="LIFBox",
    parameters=LIFBoxParameters,
    feed_forward_step=lif_box_feed_forward_step,
    feed_forward_state=lif_box_feed_forward_state,
    recurrent_step=lif_box_step,
    recurrent_state=lif_box_state,
    # The membrane settles at the input, so the mean drive must exceed v_th = 1.
    example_drive=2.0,
)
