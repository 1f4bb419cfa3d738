r"""snnTorch's second-order leaky integrate-and-fire neuron (``snntorch.Synaptic``, ``RSynaptic``).

A discrete-time neuron with a synaptic current :math:`I^{\text{syn}}` that decays by
:math:`\alpha_{\text{syn}}` per step and feeds a :mod:`Leaky <spikejax.functional.leaky>`
membrane :math:`U` that decays by :math:`\beta`. Each step, as in snnTorch 1.0.0,

.. math::
    \begin{aligned}
        r_t &= \Theta(U_{t-1} - U_{\text{thr}}) \\
        I^{\text{syn}}_t &= \alpha_{\text{syn}} I^{\text{syn}}_{t-1} + I_t \\
        U_t &= \beta U_{t-1} + I^{\text{syn}}_t - r_t U_{\text{thr}}
            && \text{"subtract"} \\
        U_t &= (1 - r_t) (\beta U_{t-1} + I^{\text{syn}}_t)
            && \text{"zero"} \\
        U_t &= \beta U_{t-1} + I^{\text{syn}}_t
            && \text{"none"} \\
        S_t &= \Theta(U_t - U_{\text{thr}})
    \end{aligned}

The reset never touches :math:`I^{\text{syn}}`. :math:`\alpha_{\text{syn}}` and :math:`\beta`
are clipped to :math:`[0, 1]` in every step (see :func:`~spikejax.functional.clip_decay` for
the gradient). :math:`I_t` is the input (feed-forward) or
:math:`W_{\text{in}} x_t + W_{\text{rec}} S_{t-1}` (recurrent, RSynaptic with a bias-free
``nn.Linear`` recurrent connection). The membrane update, the delayed reset,
``reset_delay=False`` and the gradient of the reset (detached by default, as in snnTorch) are
those of :func:`spikejax.functional.leaky_dynamics` with the synaptic current as input; see
:mod:`spikejax.functional.leaky`.

Time is discrete: one call is one step. ``dt`` is accepted (and must be positive) so that every
model shares one signature, but it does not enter the equations. The rest state is
:math:`I^{\text{syn}} = U = 0`, :math:`S = 0`.

Naming: spikejax's ``alpha`` is the surrogate's sharpness in every model, so snnTorch's synaptic
decay ``alpha`` is called ``alpha_syn`` here. ``snn.Synaptic(alpha=a, beta=b, threshold=t,
spike_grad=surrogate.atan(alpha=k), reset_mechanism=m, reset_delay=d)`` is
``SynapticParameters(alpha_syn=a, beta=b, v_th=t, method="atan", alpha=k,
reset_mechanism=m, reset_delay=d)``: the threshold is ``v_th``, as in every spikejax model, and
snnTorch's ``threshold`` is accepted as an alias (``SynapticParameters(threshold=t)``,
``p.threshold``).

Note:
    snnTorch 1.0.0's ``RSynaptic`` ignores ``reset_delay=False`` (its immediate reset is written
    to a local variable and dropped; without an explicit ``spk`` argument it raises a
    ``TypeError``). :func:`synaptic_step` applies it as ``Synaptic`` does.

Defaults: ``alpha_syn=0.9``, ``beta=0.8`` (snnTorch has no defaults; these are its tutorial's
values), ``v_th=1``, ``reset_mechanism="subtract"``, ``method="atan"``, ``alpha=2``,
``reset_delay=True``.

Example:
    >>> import jax.numpy as jnp
    >>> from spikejax.functional import synaptic_feed_forward_step
    >>> state = None
    >>> for _ in range(3):
    ...     z, state = synaptic_feed_forward_step(jnp.full(2, 0.2), state)
    >>> state.syn, state.mem  # syn: 0.2, 0.38, 0.542; mem: 0.2, 0.54, 0.974
    (Array([0.542, 0.542], dtype=float32), Array([0.974, 0.974], dtype=float32))
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
from flax import struct

from ._model import (
    NeuronModel,
    feed_forward_state,
    parameters_dataclass,
    recurrent_input,
    recurrent_rest,
)
from .leaky import ResetParameters, clip_decay, leaky_dynamics
from .surrogate import SurrogateLike

__all__ = [
    "SynapticParameters",
    "SynapticState",
    "SynapticRecurrentState",
    "synaptic_step",
    "synaptic_feed_forward_step",
    "synaptic_feed_forward_state",
    "synaptic_state",
    "synaptic_dynamics",
    "SYNAPTIC_MODEL",
]


@parameters_dataclass
class SynapticParameters(ResetParameters):
    """Parameters of snnTorch's Synaptic neuron (discrete time; see the module docs).

    Attributes:
        alpha_syn: synaptic current decay per step, clipped to ``[0, 1]`` (snnTorch's ``alpha``).
        beta: membrane decay per step, clipped to ``[0, 1]`` (snnTorch's ``beta``).
        v_th: firing threshold, also the amount subtracted by the ``"subtract"`` reset (alias
            ``threshold``: snnTorch's spelling).
        reset_mechanism: ``"subtract"`` (default), ``"zero"`` or ``"none"`` (static).
        method: surrogate gradient, a name from :mod:`spikejax.functional.surrogate` or a callable.
        alpha: the surrogate's sharpness (not the synaptic decay; see ``alpha_syn``).
        reset_delay: ``True`` (default) resets in the step after a spike; ``False`` in the same
            step (static).

    Example:
        >>> from spikejax.functional import SynapticParameters
        >>> p = SynapticParameters(alpha_syn=0.8, beta=0.7)
        >>> p.alpha_syn, p.beta, p.v_th, p.alpha      # alpha is the surrogate's sharpness
        (0.8, 0.7, 1.0, 2.0)
    """

    alpha_syn: jax.typing.ArrayLike = 0.9
    beta: jax.typing.ArrayLike = 0.8
    v_th: jax.typing.ArrayLike = 1.0
    reset_mechanism: str = struct.field(pytree_node=False, default="subtract")
    method: SurrogateLike = struct.field(pytree_node=False, default="atan")
    alpha: jax.typing.ArrayLike = 2.0
    reset_delay: bool = struct.field(pytree_node=False, default=True)


class SynapticState(NamedTuple):
    """State of a feed-forward Synaptic neuron: synaptic current ``syn`` and membrane ``mem``.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import SynapticState, synaptic_feed_forward_step
        >>> state = SynapticState(syn=jnp.array([0.0, 1.0]), mem=jnp.zeros(2))
        >>> z, state = synaptic_feed_forward_step(jnp.zeros(2), state)
        >>> state.syn, state.mem      # syn decays by alpha_syn = 0.9 and drives mem
        (Array([0. , 0.9], dtype=float32), Array([0. , 0.9], dtype=float32))
    """

    syn: jax.Array
    mem: jax.Array


class SynapticRecurrentState(NamedTuple):
    """State of a recurrent Synaptic layer: last spikes ``z``, current ``syn``, membrane ``mem``.

    Example:
        >>> from spikejax.functional import SynapticRecurrentState, synaptic_state
        >>> state = synaptic_state((4, 2))
        >>> isinstance(state, SynapticRecurrentState), state._fields
        (True, ('z', 'syn', 'mem'))
    """

    z: jax.Array
    syn: jax.Array
    mem: jax.Array


def synaptic_feed_forward_state(
    shape, p: SynapticParameters = SynapticParameters(), dtype=jnp.float32
):
    """The rest state for inputs of ``shape``: ``syn = mem = 0``.

    Example:
        >>> from spikejax.functional import synaptic_feed_forward_state
        >>> state = synaptic_feed_forward_state((2,))
        >>> state.syn, state.mem
        (Array([0., 0.], dtype=float32), Array([0., 0.], dtype=float32))
    """
    return SynapticState(syn=jnp.zeros(shape, dtype), mem=jnp.zeros(shape, dtype))


def synaptic_state(shape, p: SynapticParameters = SynapticParameters(), dtype=jnp.float32):
    """The rest state of a recurrent layer with outputs of ``shape``: no spikes, zero currents.

    Example:
        >>> from spikejax.functional import synaptic_state
        >>> state = synaptic_state((8, 5))
        >>> state._fields, state.syn.shape
        (('z', 'syn', 'mem'), (8, 5))
    """
    return recurrent_rest(SynapticRecurrentState, synaptic_feed_forward_state, shape, p, dtype)


def synaptic_dynamics(input_current, syn, mem, p: SynapticParameters, *, detach_reset: bool):
    """One step of the Synaptic update; returns ``(spikes, syn_new, mem_new)``.

    Shared by the feed-forward and recurrent steps. The membrane update is
    :func:`~spikejax.functional.leaky_dynamics` driven by the new synaptic current; snnTorch's
    ``"zero"`` reset clears that whole new membrane.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import SynapticParameters, synaptic_dynamics
        >>> zeros = jnp.zeros(2)
        >>> p = SynapticParameters()
        >>> x = jnp.array([0.5, 1.0])
        >>> z, syn, mem = synaptic_dynamics(x, zeros, zeros, p, detach_reset=True)
        >>> syn, mem
        (Array([0.5, 1. ], dtype=float32), Array([0.5, 1. ], dtype=float32))
    """
    syn_new = clip_decay(p.alpha_syn) * syn + input_current
    z, mem_new = leaky_dynamics(
        syn_new, mem, p, detach_reset=detach_reset, zero_clears_input=True
    )
    return z, syn_new, mem_new


def synaptic_feed_forward_step(
    input_tensor: jax.Array,
    state: Optional[SynapticState] = None,
    p: SynapticParameters = SynapticParameters(),
    dt: float = 1e-3,
    *,
    detach_reset: bool = True,
) -> tuple[jax.Array, SynapticState]:
    """One step of a feed-forward Synaptic neuron (snnTorch's ``Synaptic``).

    Args:
        input_tensor: the input current, any shape (usually ``(B, N)``).
        state: the previous state, or ``None`` for the rest state.
        p: the neuron parameters.
        dt: accepted for a uniform signature and not used (the model is discrete in time).
        detach_reset: stop the gradient through the reset (snnTorch: ``True``).

    Returns:
        ``(z, state)``: the spikes and the new state.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import synaptic_feed_forward_step, run
        >>> _, zs = run(synaptic_feed_forward_step, None, jnp.full((20, 1), 0.1))
        >>> zs[:, 0]
        Array([0., 0., 0., 0., 0., 1., 0., 0., 1., 0., 1., 0., 1., 0., 1., 0., 1.,
               1., 0., 1.], dtype=float32)
    """
    state = feed_forward_state(input_tensor, state, p, dt, synaptic_feed_forward_state)
    z, syn, mem = synaptic_dynamics(
        input_tensor, state.syn, state.mem, p, detach_reset=detach_reset
    )
    return z, SynapticState(syn=syn, mem=mem)


def synaptic_step(
    input_tensor: jax.Array,
    state: Optional[SynapticRecurrentState],
    input_weights: jax.Array,
    recurrent_weights: jax.Array,
    p: SynapticParameters = SynapticParameters(),
    dt: float = 1e-3,
    *,
    detach_reset: bool = True,
) -> tuple[jax.Array, SynapticRecurrentState]:
    """One step of a recurrent Synaptic layer (snnTorch's ``RSynaptic`` with a linear recurrence).

    The input ``input_tensor @ input_weights.T + state.z @ recurrent_weights.T`` is added to the
    decayed synaptic current.

    Args:
        input_tensor: input ``(B, input)`` (or ``(input,)``).
        state: the previous :class:`SynapticRecurrentState`, leaves ``(B, hidden)``, or ``None``.
        input_weights: ``(hidden, input)``.
        recurrent_weights: ``(hidden, hidden)`` (RSynaptic's ``recurrent.weight``).
        p: the neuron parameters.
        dt: accepted for a uniform signature and not used (the model is discrete in time).
        detach_reset: stop the gradient through the reset (snnTorch: ``True``).

    Returns:
        ``(z, state)``: spikes ``(B, hidden)`` and the new state.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import synaptic_state, synaptic_step
        >>> w_in, w_rec = jnp.full((2, 3), 0.2), jnp.zeros((2, 2))
        >>> z, state = synaptic_step(jnp.ones((4, 3)), synaptic_state((4, 2)), w_in, w_rec)
        >>> z.shape, state.syn[0], state.mem[0]
        ((4, 2), Array([0.6, 0.6], dtype=float32), Array([0.6, 0.6], dtype=float32))
    """
    current, state = recurrent_input(
        input_tensor, state, input_weights, recurrent_weights, p, dt, synaptic_state
    )
    z, syn, mem = synaptic_dynamics(current, state.syn, state.mem, p, detach_reset=detach_reset)
    return z, SynapticRecurrentState(z=z, syn=syn, mem=mem)


SYNAPTIC_MODEL = NeuronModel(
    name="Synaptic",
    parameters=SynapticParameters,
    feed_forward_step=synaptic_feed_forward_step,
    feed_forward_state=synaptic_feed_forward_state,
    recurrent_step=synaptic_step,
    recurrent_state=synaptic_state,
    example_drive=0.1,
)
