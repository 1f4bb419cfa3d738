r"""Conductance-based leaky integrate-and-fire (CobaLIF) neuron: Norse's equations and defaults.

The membrane voltage :math:`v` is driven by an excitatory and an inhibitory synaptic conductance,
:math:`g_e` and :math:`g_i`, each pulling it towards its reversal potential:

.. math::
    \begin{aligned}
        \dot{v} &= c_m^{-1} \big( g_l (v_{\text{rest}} - v) + g_e (E_{\text{rev},E} - v)
                   + g_i (E_{\text{rev},I} - v) \big) \\
        \dot{g}_e &= -\tau_{\text{syn,exc}}^{-1} g_e \\
        \dot{g}_i &= -\tau_{\text{syn,inh}}^{-1} g_i
    \end{aligned}

Each step first lets the conductances jump, then decays them with one forward-Euler step of
``dt`` seconds, then integrates :math:`v` with the *decayed* conductances and the old :math:`v`
(Norse 1.1's order). The neuron spikes when :math:`z = \Theta(v - v_{\text{thresh}})` and then
:math:`v \leftarrow (1 - z) v + z v_{\text{reset}}`.

The sign of the input decides which conductance it opens:

.. math::
    \begin{aligned}
        \text{feed-forward:}\quad
        g_e &\leftarrow g_e + [x]_+, \qquad g_i \leftarrow g_i + [-x]_+ \\
        \text{recurrent:}\quad
        g_e &\leftarrow g_e + [W_{\text{in}}]_+ x + [W_{\text{rec}}]_+ z_{t-1} \\
        g_i &\leftarrow g_i + [-W_{\text{in}}]_+ x + [-W_{\text{rec}}]_+ z_{t-1}
    \end{aligned}

with :math:`[\cdot]_+ = \operatorname{relu}(\cdot)` elementwise: a positive weight is an excitatory
synapse and a negative weight an inhibitory one.

Note:
    Norse 1.1.0's ``coba_lif_step`` computes the input jump and then overwrites it with the
    recurrent jump (``g_e = state.g_e + ...`` twice), so its input spikes never reach the neuron.
    spikejax adds both jumps, as Norse's ``CobaLIFCell`` documents; with ``input_weights = 0``
    the two agree exactly (the tests check both).

Units follow Norse: ``dt`` in seconds, ``*_inv`` in 1/s; voltages in mV, conductances and
``c_m_inv`` in Norse's (unnamed) consistent units. Defaults (Norse's ``CobaLIFParameters``):
``tau_syn_exc_inv=0.2``, ``tau_syn_inh_inv=0.2`` (5 s: the conductances barely decay at
``dt = 1 ms``), ``c_m_inv=5`` (0.2), ``g_l=0.25`` (1/20 * 1/0.2), ``e_rev_I=-100``,
``e_rev_E=60``, ``v_leak=-20``, ``v_reset=-70``, ``v_th=-10``, ``method="super"``,
``alpha=100``. The rest state is ``v = v_leak`` and no conductance (Norse's module starts from
``v = 0`` instead, above threshold). ``default_bio_parameters`` and ``default_bio_state`` in
this module are Norse's biological set (``v_leak = -65`` mV, ``v_th = -50`` mV, ...).

Naming: the resting potential is ``v_leak`` and the threshold ``v_th``, as in every spikejax
model; Norse's ``v_rest`` and ``v_thresh`` are accepted as aliases
(``CobaLIFParameters(v_thresh=-50.0)``, and ``p.v_thresh`` reads ``p.v_th``).

Example:
    >>> import jax.numpy as jnp
    >>> from spikejax.functional import coba_lif_feed_forward_step
    >>> state = None
    >>> for _ in range(3):
    ...     z, state = coba_lif_feed_forward_step(jnp.array([1.0, -1.0]), state)
    >>> state.v   # excitation depolarises, inhibition hyperpolarises
    Array([-17.6..., -22.4...], dtype=float32)
    >>> state.g_e
    Array([2.9988, 0.    ], dtype=float32)
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
    check_step_input,
    feed_forward_state,
    recurrent_current,
    recurrent_rest,
    recurrent_state_and_spikes,
    rest_like,
)
from .surrogate import SurrogateLike, reset_to, threshold

__all__ = [
    "CobaLIFParameters",
    "CobaLIFState",
    "CobaLIFFeedForwardState",
    "coba_lif_step",
    "coba_lif_feed_forward_step",
    "coba_lif_feed_forward_state",
    "coba_lif_state",
    "coba_lif_dynamics",
    "COBA_LIF_MODEL",
]


@parameters_dataclass
class CobaLIFParameters(NeuronParameters):
    """Parameters of a conductance-based LIF neuron (Norse's names, units and defaults).

    Attributes:
        tau_syn_exc_inv: inverse excitatory synaptic time constant in 1/s.
        tau_syn_inh_inv: inverse inhibitory synaptic time constant in 1/s.
        c_m_inv: inverse membrane capacitance.
        g_l: leak conductance.
        e_rev_I: inhibitory reversal potential.
        e_rev_E: excitatory reversal potential.
        v_leak: resting (leak) potential (alias ``v_rest``: Norse's spelling).
        v_reset: reset potential.
        v_th: threshold potential (alias ``v_thresh``: Norse's spelling).
        method: surrogate gradient, a name from :mod:`spikejax.functional.surrogate` or a callable.
        alpha: the surrogate's sharpness.

    Example:
        >>> from spikejax.functional import CobaLIFParameters
        >>> p = CobaLIFParameters(v_th=-20.0)
        >>> p.v_leak, p.v_th, p.e_rev_E, p.e_rev_I
        (-20.0, -20.0, 60.0, -100.0)
        >>> CobaLIFParameters(v_thresh=-30.0).v_th      # Norse's spelling, the same field
        -30.0
    """

    tau_syn_exc_inv: jax.typing.ArrayLike = 1.0 / 5
    tau_syn_inh_inv: jax.typing.ArrayLike = 1.0 / 5
    c_m_inv: jax.typing.ArrayLike = 1 / 0.2
    g_l: jax.typing.ArrayLike = 1 / 20 * 1 / 0.2
    e_rev_I: jax.typing.ArrayLike = -100.0
    e_rev_E: jax.typing.ArrayLike = 60.0
    v_leak: jax.typing.ArrayLike = -20.0
    v_reset: jax.typing.ArrayLike = -70.0
    v_th: jax.typing.ArrayLike = -10.0
    method: SurrogateLike = struct.field(pytree_node=False, default="super")
    alpha: jax.typing.ArrayLike = 100.0

    _positive = ("tau_syn_exc_inv", "tau_syn_inh_inv", "c_m_inv")
    _non_negative = ("g_l",)
    _reset_below = (("v_reset", "v_th"),)
    _aliases = {"v_rest": ("v_leak", "Norse"), "v_thresh": ("v_th", "Norse")}


class CobaLIFState(NamedTuple):
    """State of a recurrent CobaLIF neuron: last spikes ``z``, membrane ``v``, conductances.

    Example:
        >>> from spikejax.functional import CobaLIFState, coba_lif_state
        >>> state = coba_lif_state((4, 2))
        >>> isinstance(state, CobaLIFState), state._fields
        (True, ('z', 'v', 'g_e', 'g_i'))
    """

    z: jax.Array
    v: jax.Array
    g_e: jax.Array
    g_i: jax.Array


class CobaLIFFeedForwardState(NamedTuple):
    """State of a feed-forward CobaLIF neuron: membrane ``v`` and the two conductances.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import CobaLIFFeedForwardState, coba_lif_feed_forward_step
        >>> v, zero = jnp.full(2, -20.0), jnp.zeros(2)
        >>> state = CobaLIFFeedForwardState(v=v, g_e=jnp.array([0.0, 1.0]), g_i=zero)
        >>> z, state = coba_lif_feed_forward_step(jnp.zeros(2), state)
        >>> state.v                   # the excitatory conductance pulls v towards e_rev_E
        Array([-20.     , -19.6001], dtype=float32)
    """

    v: jax.Array
    g_e: jax.Array
    g_i: jax.Array


#: Norse's biological parameters (mV): reversal potentials 0 and -70, rest and reset -65.
default_bio_parameters = CobaLIFParameters(
    tau_syn_exc_inv=1 / 0.3,
    tau_syn_inh_inv=1 / 0.5,
    e_rev_E=0.0,
    e_rev_I=-70.0,
    v_th=-50.0,
    v_reset=-65.0,
    v_leak=-65.0,
)
#: Norse's initial state for :data:`default_bio_parameters` (scalars; they broadcast in a step).
default_bio_state = CobaLIFState(z=0.0, v=-65.0, g_e=0.0, g_i=0.0)


def coba_lif_feed_forward_state(
    shape, p: CobaLIFParameters = CobaLIFParameters(), dtype=jnp.float32
):
    """The rest state for inputs of ``shape``: ``v = v_leak``, no conductance.

    Example:
        >>> from spikejax.functional import coba_lif_feed_forward_state
        >>> state = coba_lif_feed_forward_state((2,))
        >>> state.v, state.g_e
        (Array([-20., -20.], dtype=float32), Array([0., 0.], dtype=float32))
    """
    zeros = jnp.zeros(shape, dtype)
    return CobaLIFFeedForwardState(v=rest_like(p.v_leak, shape, dtype), g_e=zeros, g_i=zeros)


def coba_lif_state(shape, p: CobaLIFParameters = CobaLIFParameters(), dtype=jnp.float32):
    """The rest state of a recurrent layer with outputs of ``shape``: no spikes, ``v = v_leak``.

    Example:
        >>> from spikejax.functional import coba_lif_state
        >>> state = coba_lif_state((8, 5))
        >>> state._fields, float(state.v[0, 0])
        (('z', 'v', 'g_e', 'g_i'), -20.0)
    """
    return recurrent_rest(CobaLIFState, coba_lif_feed_forward_state, shape, p, dtype)


def coba_lif_dynamics(
    excitation, inhibition, v, g_e, g_i, p: CobaLIFParameters, dt, *, detach_reset: bool
):
    """One Euler step of the CobaLIF equations; returns ``(z, v_new, g_e_new, g_i_new)``.

    ``excitation`` and ``inhibition`` are the (non-negative) conductance jumps of this step.
    Shared by the feed-forward and recurrent steps; the operation order is Norse 1.1's.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import CobaLIFParameters, coba_lif_dynamics
        >>> p, zero = CobaLIFParameters(), jnp.zeros(2)
        >>> z, v, g_e, g_i = coba_lif_dynamics(jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0]),
        ...                                    jnp.full(2, -20.0), zero, zero, p, 1e-3,
        ...                                    detach_reset=False)
        >>> v, g_e, g_i               # excitation depolarises, inhibition hyperpolarises
        (Array([-19.6001, -20.3999], dtype=float32),
         Array([0.9998, 0.    ], dtype=float32), Array([0.    , 0.9998], dtype=float32))
    """
    g_e = g_e + excitation
    g_i = g_i + inhibition
    g_e = g_e + (-dt * p.tau_syn_exc_inv * g_e)
    g_i = g_i + (-dt * p.tau_syn_inh_inv * g_i)
    drive = p.g_l * (p.v_leak - v) + g_e * (p.e_rev_E - v) + g_i * (p.e_rev_I - v)
    v = v + dt * p.c_m_inv * drive
    z = threshold(v - p.v_th, p.method, p.alpha)
    z_reset = jax.lax.stop_gradient(z) if detach_reset else z
    v = reset_to(z_reset, v, p.v_reset)
    return z, v, g_e, g_i


def coba_lif_feed_forward_step(
    input_tensor: jax.Array,
    state: Optional[CobaLIFFeedForwardState] = None,
    p: CobaLIFParameters = CobaLIFParameters(),
    dt: float = 1e-3,
    *,
    detach_reset: bool = False,
) -> tuple[jax.Array, CobaLIFFeedForwardState]:
    """One Euler step of a feed-forward CobaLIF neuron.

    Args:
        input_tensor: synaptic input, any shape (usually ``(B, N)``); its positive part opens
            the excitatory and its negative part the inhibitory conductance.
        state: the previous state, or ``None`` for the rest state.
        p: the neuron parameters.
        dt: the integration step in seconds.
        detach_reset: stop the gradient through the spike in the reset (Norse does not).

    Returns:
        ``(z, state)``: the spikes and the new state.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import coba_lif_feed_forward_step, run
        >>> _, zs = run(coba_lif_feed_forward_step, None, jnp.full((100, 1, 2), 2.0))
        >>> zs.sum(axis=0)            # spikes in 0.1 s
        Array([[70., 70.]], dtype=float32)
    """
    state = feed_forward_state(input_tensor, state, p, dt, coba_lif_feed_forward_state)
    z, v, g_e, g_i = coba_lif_dynamics(
        jax.nn.relu(input_tensor), jax.nn.relu(-input_tensor), state.v, state.g_e, state.g_i, p, dt,
        detach_reset=detach_reset,
    )
    return z, CobaLIFFeedForwardState(v=v, g_e=g_e, g_i=g_i)


def coba_lif_step(
    input_tensor: jax.Array,
    state: Optional[CobaLIFState],
    input_weights: jax.Array,
    recurrent_weights: jax.Array,
    p: CobaLIFParameters = CobaLIFParameters(),
    dt: float = 1e-3,
    *,
    detach_reset: bool = False,
) -> tuple[jax.Array, CobaLIFState]:
    """One Euler step of a recurrent CobaLIF layer.

    Positive weights feed the excitatory conductance and negative weights the inhibitory one:
    ``g_e += x @ relu(W_in).T + z @ relu(W_rec).T`` and
    ``g_i += x @ relu(-W_in).T + z @ relu(-W_rec).T`` (see the module note on Norse 1.1.0,
    which drops the input term).

    Args:
        input_tensor: input (spikes) ``(B, input)`` or ``(input,)``.
        state: the previous :class:`CobaLIFState`, leaves of shape ``(B, hidden)``, or ``None``
            for the rest state.
        input_weights: ``(hidden, input)``.
        recurrent_weights: ``(hidden, hidden)``.
        p: the neuron parameters.
        dt: the integration step in seconds.
        detach_reset: stop the gradient through the spike in the reset (Norse does not).

    Returns:
        ``(z, state)``: spikes ``(B, hidden)`` and the new state.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import coba_lif_state, coba_lif_step
        >>> w_in = jnp.array([[1.0, 1.0], [1.0, -1.0]])   # the second input inhibits neuron 1
        >>> w_rec = jnp.zeros((2, 2))
        >>> z, state = coba_lif_step(jnp.ones((4, 2)), coba_lif_state((4, 2)), w_in, w_rec)
        >>> state.g_e[0], state.g_i[0]
        (Array([1.9996, 0.9998], dtype=float32), Array([0.    , 0.9998], dtype=float32))
    """
    # A scalar state (such as default_bio_state) broadcasts, as check_step_input allows.
    state, z = recurrent_state_and_spikes(
        input_tensor, state, input_weights, recurrent_weights, p, dt, coba_lif_state,
        scalar_state=True,
    )
    relu = jax.nn.relu
    excitation = recurrent_current(input_tensor, z, relu(input_weights), relu(recurrent_weights))
    inhibition = recurrent_current(input_tensor, z, relu(-input_weights), relu(-recurrent_weights))
    check_step_input("the recurrent conductance jump", excitation, state)
    z, v, g_e, g_i = coba_lif_dynamics(
        excitation, inhibition, state.v, state.g_e, state.g_i, p, dt, detach_reset=detach_reset
    )
    return z, CobaLIFState(z=z, v=v, g_e=g_e, g_i=g_i)


COBA_LIF_MODEL = NeuronModel(
    name="CobaLIF",
    parameters=CobaLIFParameters,
    feed_forward_step=coba_lif_feed_forward_step,
    feed_forward_state=coba_lif_feed_forward_state,
    recurrent_step=coba_lif_step,
    recurrent_state=coba_lif_state,
    # Strong enough that v crosses v_th within one step: a crossing spread over several
    # steps makes a smooth relaxation of the spike chaotic (mV voltages vs. a 0.3 mV wide tanh).
    example_drive=2.0,
)
