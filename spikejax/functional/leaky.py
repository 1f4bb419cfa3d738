r"""snnTorch's first-order leaky integrate-and-fire neuron (``snntorch.Leaky`` and ``RLeaky``).

A discrete-time neuron: the membrane :math:`U` decays by the factor :math:`\beta` per step and
integrates the input :math:`I_t` directly (no synaptic current). Each step, as in snnTorch 1.0.0,
first computes the reset signal from the *previous* membrane,

.. math::
    r_t = \Theta(U_{t-1} - U_{\text{thr}}),

then updates the membrane with the chosen ``reset_mechanism``,

.. math::
    \begin{aligned}
        U_t &= \beta U_{t-1} + I_t - r_t U_{\text{thr}}
            && \text{"subtract"} \\
        U_t &= \beta (1 - r_t) U_{t-1} + I_t
            && \text{"zero", feed-forward (snnTorch's Leaky)} \\
        U_t &= (1 - r_t) (\beta U_{t-1} + I_t)
            && \text{"zero", recurrent (snnTorch's RLeaky)} \\
        U_t &= \beta U_{t-1} + I_t
            && \text{"none"}
    \end{aligned}

and spikes, :math:`S_t = \Theta(U_t - U_{\text{thr}})`, with a surrogate gradient. :math:`\beta`
is clipped to :math:`[0, 1]` in every step, with the gradient of snnTorch's ``clamp``: 1
strictly inside the interval, 0 elsewhere (a :math:`\beta` of exactly 1 does not learn).
:math:`I_t` is the input (feed-forward) or :math:`W_{\text{in}} x_t + W_{\text{rec}} S_{t-1}`
(recurrent, RLeaky with a bias-free ``nn.Linear`` recurrent connection).

The reset is therefore *delayed*: a spike at step :math:`t` lowers the membrane at step
:math:`t + 1`, and the returned :math:`U_t` may still lie above threshold. With
``reset_delay=False`` (snnTorch's option of that name) the membrane is reset in the same step,

.. math::
    U_t \leftarrow U_t - (S_t - r_t) U_{\text{thr}} \;\text{("subtract")}, \qquad
    U_t \leftarrow U_t - (S_t - r_t) U_t \;\text{("zero")}.

Gradients: snnTorch detaches :math:`r_t` (``mem_reset`` calls ``.detach()``); so does spikejax
unless ``detach_reset=False``. The spike :math:`S_t` in the immediate reset of
``reset_delay=False`` keeps its gradient, as in snnTorch.

Time is discrete: one call is one step. ``dt`` is accepted (and must be positive) so that every
model shares one signature, but it does not enter the equations; :math:`\beta` already is the
decay per step (:math:`\beta = e^{-\Delta t / \tau}` for a time constant :math:`\tau`).
The rest state is :math:`U = 0`, :math:`S = 0`.

Mapping from snnTorch: ``snn.Leaky(beta=b, threshold=t, spike_grad=surrogate.atan(alpha=a),
reset_mechanism=m, reset_delay=d)`` is ``LeakyParameters(beta=b, v_th=t, method="atan",
alpha=a, reset_mechanism=m, reset_delay=d)``; ``surrogate.fast_sigmoid(slope=k)`` is
``method="fast_sigmoid", alpha=k``. The threshold is ``v_th``, as in every spikejax model;
snnTorch's ``threshold`` is accepted as an alias (``LeakyParameters(threshold=t)``, and
``p.threshold`` reads ``p.v_th``). ``learn_beta`` / ``learn_threshold`` are the modules'
``learnable=("beta", "v_th")``. RLeaky's recurrent ``nn.Linear`` has self-connections: pass
``autapses=True`` to :class:`spikejax.nn.LeakyRecurrent` for the same connectivity. Not
reproduced: ``graded_spikes_factor``, ``inhibition``, ``state_quant``, the recurrent bias and
one-to-one or convolutional recurrence.

Defaults: ``beta=0.9`` (snnTorch has no default; 0.9 is a common tutorial value),
``v_th=1``, ``reset_mechanism="subtract"``, ``method="atan"``, ``alpha=2`` (snnTorch's
default surrogate), ``reset_delay=True``.

Example:
    >>> import jax.numpy as jnp
    >>> from spikejax.functional import leaky_feed_forward_step
    >>> state, spikes = None, []
    >>> for _ in range(3):
    ...     z, state = leaky_feed_forward_step(jnp.ones(2), state)
    ...     spikes.append(float(z[0]))
    >>> spikes, state.mem  # U: 1.0, 1.9, then 0.9 * 1.9 + 1 - 1
    ([0.0, 1.0, 1.0], Array([1.71, 1.71], dtype=float32))
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
)
from .surrogate import SurrogateLike, reset_to, threshold

__all__ = [
    "RESET_MECHANISMS",
    "LeakyParameters",
    "LeakyState",
    "LeakyRecurrentState",
    "leaky_step",
    "leaky_feed_forward_step",
    "leaky_feed_forward_state",
    "leaky_state",
    "leaky_dynamics",
    "clip_decay",
    "LEAKY_MODEL",
]

#: snnTorch's reset mechanisms, by the names it uses.
RESET_MECHANISMS = ("subtract", "zero", "none")


class ResetParameters(NeuronParameters):
    """Checks the static reset options shared by snnTorch-style neurons (Leaky, Synaptic)."""

    _aliases = {"threshold": ("v_th", "snnTorch")}

    def __post_init__(self):
        cls = type(self).__name__
        mechanism = self.reset_mechanism
        if not isinstance(mechanism, str) or mechanism not in RESET_MECHANISMS:
            raise ValueError(
                f"{cls}.reset_mechanism must be one of {', '.join(map(repr, RESET_MECHANISMS))}, "
                f"got {mechanism!r}"
            )
        if not isinstance(self.reset_delay, bool):
            raise TypeError(
                f"{cls}.reset_delay must be a bool, got {type(self.reset_delay).__name__}"
            )
        super().__post_init__()

    def positive_fields(self) -> tuple[str, ...]:
        # A reset to zero, or by subtracting the threshold, lowers the membrane below the
        # threshold only for a positive threshold; otherwise the neuron fires on every step.
        extra = ("v_th",) if self.reset_mechanism != "none" else ()
        return super().positive_fields() + extra


@parameters_dataclass
class LeakyParameters(ResetParameters):
    """Parameters of snnTorch's Leaky neuron (discrete time; see the module docs).

    Attributes:
        beta: membrane decay per step, clipped to ``[0, 1]`` in every step (snnTorch ``beta``).
        v_th: firing threshold :math:`U_{\\text{thr}}`, also the amount subtracted by the
            ``"subtract"`` reset (alias ``threshold``: snnTorch's spelling).
        reset_mechanism: ``"subtract"`` (default), ``"zero"`` or ``"none"`` (static).
        method: surrogate gradient, a name from :mod:`spikejax.functional.surrogate` or a callable.
        alpha: the surrogate's sharpness (snnTorch's ``surrogate.atan(alpha=2)``).
        reset_delay: ``True`` (default, snnTorch's too) resets in the step after a spike;
            ``False`` resets in the same step (static).

    Example:
        >>> from spikejax.functional import LeakyParameters
        >>> p = LeakyParameters(beta=0.95, reset_mechanism="zero")
        >>> p.beta, p.v_th, p.reset_mechanism, p.method
        (0.95, 1.0, 'zero', 'atan')
        >>> LeakyParameters(threshold=0.5).v_th        # snnTorch's spelling, the same field
        0.5
    """

    beta: jax.typing.ArrayLike = 0.9
    v_th: jax.typing.ArrayLike = 1.0
    reset_mechanism: str = struct.field(pytree_node=False, default="subtract")
    method: SurrogateLike = struct.field(pytree_node=False, default="atan")
    alpha: jax.typing.ArrayLike = 2.0
    reset_delay: bool = struct.field(pytree_node=False, default=True)


class LeakyState(NamedTuple):
    """State of a feed-forward Leaky neuron: the membrane ``mem``.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import LeakyState, leaky_feed_forward_step
        >>> z, state = leaky_feed_forward_step(jnp.zeros(2), LeakyState(mem=jnp.array([1.0, 2.0])))
        >>> z, state.mem              # beta * mem, less the threshold where mem was above it
        (Array([0., 0.], dtype=float32), Array([0.9       , 0.8], dtype=float32))
    """

    mem: jax.Array


class LeakyRecurrentState(NamedTuple):
    """State of a recurrent Leaky layer: the last spikes ``z`` and the membrane ``mem``.

    Example:
        >>> from spikejax.functional import LeakyRecurrentState, leaky_state
        >>> state = leaky_state((4, 2))
        >>> isinstance(state, LeakyRecurrentState), state._fields
        (True, ('z', 'mem'))
    """

    z: jax.Array
    mem: jax.Array


def leaky_feed_forward_state(shape, p: LeakyParameters = LeakyParameters(), dtype=jnp.float32):
    """The rest state for inputs of ``shape``: ``mem = 0`` (snnTorch's ``reset_mem``).

    Example:
        >>> from spikejax.functional import leaky_feed_forward_state
        >>> leaky_feed_forward_state((2,))
        LeakyState(mem=Array([0., 0.], dtype=float32))
    """
    return LeakyState(mem=jnp.zeros(shape, dtype))


def leaky_state(shape, p: LeakyParameters = LeakyParameters(), dtype=jnp.float32):
    """The rest state of a recurrent layer with outputs of ``shape``: no spikes, ``mem = 0``.

    Example:
        >>> from spikejax.functional import leaky_state
        >>> state = leaky_state((8, 5))
        >>> state._fields, state.mem.shape
        (('z', 'mem'), (8, 5))
    """
    return recurrent_rest(LeakyRecurrentState, leaky_feed_forward_state, shape, p, dtype)


def clip_decay(decay: jax.typing.ArrayLike) -> jax.Array:
    """``decay`` clipped to ``[0, 1]`` with the gradient of snnTorch's ``decay.clamp(0, 1)``.

    That gradient (torch 2.14) is 1 strictly inside ``(0, 1)`` and 0 elsewhere, the bounds
    included, so a decay of exactly 1 does not learn; ``jnp.clip`` would pass half of it there.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from spikejax.functional import clip_decay
        >>> clip_decay(jnp.array([-0.5, 0.9, 1.5]))
        Array([0. , 0.9, 1. ], dtype=float32)
        >>> jax.vmap(jax.grad(clip_decay))(jnp.array([0.9, 1.0]))
        Array([1., 0.], dtype=float32)
    """
    decay = jnp.asarray(decay)
    clipped = jax.lax.stop_gradient(jnp.clip(decay, 0, 1))
    return jnp.where((decay > 0) & (decay < 1), decay, clipped)


def leaky_dynamics(
    input_current,
    mem,
    p,
    *,
    detach_reset: bool,
    zero_clears_input: bool = False,
):
    """One step of the Leaky update; returns ``(spikes, mem_new)``.

    Shared by the feed-forward and recurrent Leaky steps and by the Synaptic neuron (whose
    membrane input is its synaptic current). ``p`` needs ``beta``, ``v_th``,
    ``reset_mechanism``, ``reset_delay``, ``method`` and ``alpha``.

    Args:
        input_current: the membrane's input this step.
        mem: the previous membrane.
        p: the parameters.
        detach_reset: stop the gradient through the reset signal of the previous membrane.
        zero_clears_input: for ``"zero"``, reset the new membrane, this step's input included
            (snnTorch's RLeaky, Synaptic and RSynaptic), instead of the previous membrane
            before it decays (snnTorch's Leaky).

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import LeakyParameters, leaky_dynamics
        >>> mem = jnp.array([0.5, 1.5])
        >>> leaky_dynamics(jnp.ones(2), mem, LeakyParameters(), detach_reset=True)
        (Array([1., 1.], dtype=float32), Array([1.45     , 1.35], dtype=float32))
    """
    reset = threshold(mem - p.v_th, p.method, p.alpha)
    if detach_reset:
        reset = jax.lax.stop_gradient(reset)
    beta = clip_decay(p.beta)
    mechanism = p.reset_mechanism
    if mechanism == "zero" and not zero_clears_input:
        mem_new = beta * reset_to(reset, mem, 0.0) + input_current
    else:
        mem_new = beta * mem + input_current
    if mechanism == "subtract":
        mem_new = mem_new - reset * p.v_th
    elif mechanism == "zero" and zero_clears_input:
        mem_new = reset_to(reset, mem_new, 0.0)
    z = threshold(mem_new - p.v_th, p.method, p.alpha)
    if not p.reset_delay and mechanism != "none":
        # snnTorch subtracts the delayed reset so that a neuron is not reset twice for one spike.
        immediate = z - reset
        mem_new = mem_new - immediate * (p.v_th if mechanism == "subtract" else mem_new)
    return z, mem_new


def leaky_feed_forward_step(
    input_tensor: jax.Array,
    state: Optional[LeakyState] = None,
    p: LeakyParameters = LeakyParameters(),
    dt: float = 1e-3,
    *,
    detach_reset: bool = True,
) -> tuple[jax.Array, LeakyState]:
    """One step of a feed-forward Leaky neuron (snnTorch's ``Leaky``).

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
        >>> from spikejax.functional import leaky_feed_forward_step, run
        >>> _, zs = run(leaky_feed_forward_step, None, jnp.full((20, 1), 0.5))
        >>> zs[:, 0]
        Array([0., 0., 1., 0., 1., 0., 0., 1., 0., 1., 0., 0., 1., 0., 1., 0., 1.,
               0., 0., 1.], dtype=float32)
    """
    state = feed_forward_state(input_tensor, state, p, dt, leaky_feed_forward_state)
    z, mem = leaky_dynamics(input_tensor, state.mem, p, detach_reset=detach_reset)
    return z, LeakyState(mem=mem)


def leaky_step(
    input_tensor: jax.Array,
    state: Optional[LeakyRecurrentState],
    input_weights: jax.Array,
    recurrent_weights: jax.Array,
    p: LeakyParameters = LeakyParameters(),
    dt: float = 1e-3,
    *,
    detach_reset: bool = True,
) -> tuple[jax.Array, LeakyRecurrentState]:
    """One step of a recurrent Leaky layer (snnTorch's ``RLeaky`` with a linear recurrence).

    The input is ``input_tensor @ input_weights.T + state.z @ recurrent_weights.T``; with
    ``reset_mechanism="zero"`` the reset clears all of it, as RLeaky does.

    Args:
        input_tensor: input ``(B, input)`` (or ``(input,)``).
        state: the previous :class:`LeakyRecurrentState` with leaves ``(B, hidden)``, or ``None``.
        input_weights: ``(hidden, input)``.
        recurrent_weights: ``(hidden, hidden)`` (RLeaky's ``recurrent.weight``).
        p: the neuron parameters.
        dt: accepted for a uniform signature and not used (the model is discrete in time).
        detach_reset: stop the gradient through the reset (snnTorch: ``True``).

    Returns:
        ``(z, state)``: spikes ``(B, hidden)`` and the new state.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import leaky_state, leaky_step
        >>> w_in, w_rec = jnp.full((2, 3), 0.2), jnp.zeros((2, 2))
        >>> z, state = leaky_step(jnp.ones((4, 3)), leaky_state((4, 2)), w_in, w_rec)
        >>> z.shape, state.mem[0]
        ((4, 2), Array([0.6, 0.6], dtype=float32))
    """
    current, state = recurrent_input(
        input_tensor, state, input_weights, recurrent_weights, p, dt, leaky_state
    )
    z, mem = leaky_dynamics(
        current, state.mem, p, detach_reset=detach_reset, zero_clears_input=True
    )
    return z, LeakyRecurrentState(z=z, mem=mem)


LEAKY_MODEL = NeuronModel(
    name="Leaky",
    parameters=LeakyParameters,
    feed_forward_step=leaky_feed_forward_step,
    feed_forward_state=leaky_feed_forward_state,
    recurrent_step=leaky_step,
    recurrent_state=leaky_state,
    example_drive=0.5,
)
