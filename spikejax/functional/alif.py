r"""Adaptive LIF neuron with refractory voltage lock, as in Inferno's ``ALIF`` (Diehl & Cook).

The excitatory neuron of Diehl & Cook (2015), with the equations and units of Inferno's
``neural.ALIF``. Each step of :math:`\Delta t` first counts down the refractory time
:math:`t_{\text{ref}}` and masks the input current :math:`I` of refractory neurons:

.. math::
    \begin{aligned}
        t_{\text{ref}} &\leftarrow \max(t_{\text{ref}} - \Delta t, 0), \qquad
        a = [t_{\text{ref}} = 0] \\
        v' &= V_{\text{rest}} + (v - V_{\text{rest}} - R a I)\, e^{-\Delta t / \tau_m} + R a I
    \end{aligned}

The voltage of a refractory neuron stays where it was (the voltage lock,
:math:`v \leftarrow a v' + (1 - a) v`). An active neuron spikes when
:math:`v \ge V_{\text{th}} + \theta`, and then

.. math::
    v \leftarrow V_{\text{reset}}, \qquad t_{\text{ref}} \leftarrow T_{\text{ref}}

Last, the adaptive threshold :math:`\theta` decays, except while refractory (which includes the
step of a spike), and jumps by :math:`d` on a spike:

.. math::
    \theta \leftarrow [t_{\text{ref}} > 0]\, \theta + [t_{\text{ref}} = 0]\, \theta\,
    e^{-\Delta t / \tau_\theta} + d z

So after a spike, :math:`v` is held at :math:`V_{\text{reset}}` and the input ignored for
:math:`T_{\text{ref}} / \Delta t` steps counting the spike's own step, and the neuron can fire
again on the next one. The input :math:`I` is a current: with a delta-current synapse it is the
weighted input spikes of this step (see :mod:`spikejax.nn.connections`).

Units: ``dt`` in seconds, as in every spikejax model; the parameters keep Inferno's units
(milliseconds for times, millivolts for voltages, ``dt * 1000`` is Inferno's ``step_time``); the
state's ``refrac`` is in milliseconds. With ``spike_increment=0`` the model is Inferno's plain
``LIF`` (Diehl & Cook's inhibitory neuron): :meth:`ALIFParameters.inhibitory`.

Defaults (Diehl & Cook's excitatory neuron, Inferno's quickstart): ``v_leak=-65``,
``v_reset=-60``, ``v_th=-52`` (mV), ``refrac_t=5``, ``tc_membrane=100``,
``tc_adaptation=1e7`` (ms), ``spike_increment=0.05`` (mV), ``resistance=1``,
``method="super"``, ``alpha=10``.

Note:
    Inferno keeps one :math:`\theta` per neuron and averages its update over the batch; here
    :math:`\theta` has the shape of the input, so that batch entries are independent (``vmap``
    gives the same numbers). ``share_theta=True`` takes Inferno's batch mean each step; to carry
    :math:`\theta` from one sample to the next (Diehl & Cook do), start the next sample from
    :func:`alif_clear` of the last state. float32 is recommended: bfloat16 runs, but its spacing
    near -65 mV is 0.5 mV, coarser than one step's input.

Example:
    >>> import jax.numpy as jnp
    >>> from spikejax.functional import alif_feed_forward_step
    >>> state, zs = None, []
    >>> for _ in range(60):
    ...     z, state = alif_feed_forward_step(jnp.full(1, 1000.0), state)
    ...     zs.append(int(z[0]))
    >>> [t for t, z in enumerate(zs) if z]           # one spike every refrac_t / dt = 5 steps
    [1, 6, 11, 16, 21, 26, 31, 36, 41, 46, 51, 56]
    >>> round(float(state.theta[0]), 4)              # 12 spikes, each adding 0.05 mV
    0.6
"""

from __future__ import annotations

import math
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
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
from ._validate import check_below, is_concrete
from .surrogate import SurrogateLike, reset_to, threshold

__all__ = [
    "ALIFParameters",
    "ALIFState",
    "ALIFRecurrentState",
    "alif_feed_forward_step",
    "alif_step",
    "alif_feed_forward_state",
    "alif_state",
    "alif_clear",
    "alif_dynamics",
    "ALIF_MODEL",
]

_MS_PER_S = 1000.0


@parameters_dataclass
class ALIFParameters(NeuronParameters):
    """Parameters of Inferno's ALIF neuron (Inferno's units; Diehl & Cook's values).

    The potentials have spikejax's names, as in every model; Inferno's ``rest_v``, ``reset_v``
    and ``thresh_eq_v`` are accepted as aliases (in the constructor and ``replace``, and read as
    properties).

    Attributes:
        v_leak: resting potential :math:`V_{\\text{rest}}` in mV (alias ``rest_v``: Inferno's).
        v_reset: potential after a spike :math:`V_{\\text{reset}}` in mV (alias ``reset_v``).
        v_th: threshold at equilibrium :math:`V_{\\text{th}}` in mV; the neuron fires at
            ``v_th + theta`` (alias ``thresh_eq_v``: Inferno's).
        refrac_t: absolute refractory period :math:`T_{\\text{ref}}` in ms (>= 0).
        tc_membrane: membrane time constant :math:`\\tau_m` in ms.
        tc_adaptation: time constant :math:`\\tau_\\theta` of the threshold adaptation in ms
            (Diehl & Cook: 1e7 ms, practically no decay).
        spike_increment: threshold increase :math:`d` per spike in mV (0: no adaptation).
        resistance: membrane resistance :math:`R` in MΩ (input current in nA).
        method: surrogate gradient, a name from :mod:`spikejax.functional.surrogate` or a callable.
        alpha: the surrogate's sharpness per mV (10: Norse's 100 per unit threshold distance,
            for a threshold about 10 mV above rest).

    Example:
        >>> from spikejax.functional import ALIFParameters
        >>> p = ALIFParameters(spike_increment=0.1)
        >>> p.v_leak, p.v_th, p.refrac_t, p.spike_increment
        (-65.0, -52.0, 5.0, 0.1)
        >>> ALIFParameters(thresh_eq_v=-50.0).v_th           # Inferno's spelling
        -50.0
        >>> ALIFParameters.inhibitory().spike_increment    # Diehl & Cook's inhibitory neuron
        0.0
    """

    v_leak: jax.typing.ArrayLike = -65.0
    v_reset: jax.typing.ArrayLike = -60.0
    v_th: jax.typing.ArrayLike = -52.0
    refrac_t: jax.typing.ArrayLike = 5.0
    tc_membrane: jax.typing.ArrayLike = 100.0
    tc_adaptation: jax.typing.ArrayLike = 1e7
    spike_increment: jax.typing.ArrayLike = 0.05
    resistance: jax.typing.ArrayLike = 1.0
    method: SurrogateLike = struct.field(pytree_node=False, default="super")
    alpha: jax.typing.ArrayLike = 10.0

    _positive = ("tc_membrane", "tc_adaptation")
    _non_negative = ("refrac_t",)

    # Inferno's checks: a neuron just reset must sit below its threshold...
    _reset_below = (("v_reset", "v_th"),)
    _aliases = {
        "rest_v": ("v_leak", "Inferno"),
        "reset_v": ("v_reset", "Inferno"),
        "thresh_eq_v": ("v_th", "Inferno"),
    }

    def __post_init__(self):
        super().__post_init__()
        # ... and so must a neuron at rest (Inferno).
        check_below("ALIFParameters.v_leak", self.v_leak, "v_th", self.v_th)
        if is_concrete(self.resistance) and np.any(np.asarray(self.resistance) == 0):
            raise ValueError(f"ALIFParameters.resistance must be nonzero, got {self.resistance}")

    @classmethod
    def excitatory(cls, **changes) -> "ALIFParameters":
        """Diehl & Cook's excitatory neuron (the defaults), with ``changes`` applied."""
        return cls(**changes)

    @classmethod
    def inhibitory(cls, **changes) -> "ALIFParameters":
        """Diehl & Cook's inhibitory neuron, Inferno's plain ``LIF`` of the quickstart.

        ``v_leak=-60``, ``v_reset=-45``, ``v_th=-40`` (mV), ``refrac_t=2``,
        ``tc_membrane=75`` (ms) and no adaptation (``spike_increment=0``), with ``changes``.
        """
        values = dict(
            v_leak=-60.0, v_reset=-45.0, v_th=-40.0, refrac_t=2.0, tc_membrane=75.0,
            spike_increment=0.0,
        )
        return cls(**{**values, **changes})


class ALIFState(NamedTuple):
    """State of a feed-forward ALIF neuron: membrane ``v`` (mV), remaining refractory time
    ``refrac`` (ms) and threshold adaptation ``theta`` (mV).

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import ALIFState, alif_feed_forward_step
        >>> refrac = jnp.array([0.0, 3.0])                    # ms; the second neuron is refractory
        >>> state = ALIFState(v=jnp.full(2, -55.0), refrac=refrac, theta=jnp.zeros(2))
        >>> z, state = alif_feed_forward_step(jnp.full(2, 1000.0), state)
        >>> z, state.refrac, state.theta
        (Array([1., 0.], dtype=float32), Array([5., 2.], dtype=float32),
         Array([0.05, 0.  ], dtype=float32))
    """

    v: jax.Array
    refrac: jax.Array
    theta: jax.Array


class ALIFRecurrentState(NamedTuple):
    """State of a recurrent ALIF layer: last spikes ``z`` and the fields of :class:`ALIFState`.

    Example:
        >>> from spikejax.functional import ALIFRecurrentState, alif_state
        >>> state = alif_state((4, 2))
        >>> isinstance(state, ALIFRecurrentState), state._fields
        (True, ('z', 'v', 'refrac', 'theta'))
    """

    z: jax.Array
    v: jax.Array
    refrac: jax.Array
    theta: jax.Array


def alif_feed_forward_state(shape, p: ALIFParameters = ALIFParameters(), dtype=jnp.float32):
    """The rest state for inputs of ``shape``: ``v = v_leak``, not refractory, ``theta = 0``.

    Example:
        >>> from spikejax.functional import alif_feed_forward_state
        >>> state = alif_feed_forward_state((2,))
        >>> state.v, state.refrac, state.theta
        (Array([-65., -65.], dtype=float32), Array([0., 0.], dtype=float32),
         Array([0., 0.], dtype=float32))
    """
    zeros = jnp.zeros(shape, dtype)
    return ALIFState(v=rest_like(p.v_leak, shape, dtype), refrac=zeros, theta=zeros)


def alif_state(shape, p: ALIFParameters = ALIFParameters(), dtype=jnp.float32):
    """The rest state of a recurrent layer with outputs of ``shape``: no spikes, at rest.

    Example:
        >>> from spikejax.functional import alif_state
        >>> state = alif_state((8, 5))
        >>> state._fields, float(state.v[0, 0])
        (('z', 'v', 'refrac', 'theta'), -65.0)
    """
    return recurrent_rest(ALIFRecurrentState, alif_feed_forward_state, shape, p, dtype)


def alif_clear(state, p: ALIFParameters = ALIFParameters(), *, keep_theta: bool = True):
    """The state to start the next sample from: at rest and not refractory, ``theta`` kept.

    Inferno's ``ALIF.clear(keep_adaptations=True)``: between samples Diehl & Cook reset the
    voltage but keep the learned threshold adaptation. Works for both state types.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import alif_clear, alif_feed_forward_step, run
        >>> state, zs = run(alif_feed_forward_step, None, jnp.full((10, 1), 1000.0))
        >>> int(zs.sum()), state
        (2, ALIFState(v=Array([-60.], dtype=float32), refrac=Array([2.], dtype=float32),
         theta=Array([0.1], dtype=float32)))
        >>> alif_clear(state)         # at rest again, theta kept
        ALIFState(v=Array([-65.], dtype=float32), refrac=Array([0.], dtype=float32),
         theta=Array([0.1], dtype=float32))
    """
    v = rest_like(p.v_leak, state.v.shape, state.v.dtype)
    theta = state.theta if keep_theta else jnp.zeros_like(state.theta)
    cleared = state._replace(v=v, refrac=jnp.zeros_like(state.refrac), theta=theta)
    if isinstance(state, ALIFRecurrentState):
        cleared = cleared._replace(z=jnp.zeros_like(state.z))
    return cleared


def alif_dynamics(
    current, v, refrac, theta, p: ALIFParameters, dt, *, detach_reset: bool, adapt: bool,
    share_theta: bool,
):
    """One step of the ALIF equations; returns ``(z, v_new, refrac_new, theta_new)``.

    Shared by the feed-forward and recurrent steps; the order is Inferno's (module docs).

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import ALIFParameters, alif_dynamics
        >>> v, refrac, theta = jnp.full(2, -55.0), jnp.zeros(2), jnp.zeros(2)
        >>> z, v, refrac, theta = alif_dynamics(jnp.array([10.0, 1000.0]), v, refrac, theta,
        ...                                     ALIFParameters(), 1e-3, detach_reset=False,
        ...                                     adapt=True, share_theta=False)
        >>> z, v, refrac, theta       # the second neuron spikes, resets and becomes refractory
        (Array([0., 1.], dtype=float32), Array([-55., -60.], dtype=float32),
         Array([0., 5.], dtype=float32), Array([0.  , 0.05], dtype=float32))
    """
    dtypes = (v.dtype, refrac.dtype, theta.dtype)
    step_ms = dt * _MS_PER_S
    refrac = jnp.maximum(refrac - step_ms, 0)
    # A nan counter is neither refractory nor active: it stays nan (and so do the spikes) rather
    # than silencing the neuron for good, as (nan == 0) = False would.
    active = jnp.where(jnp.isnan(refrac), refrac, (refrac == 0)).astype(v.dtype)
    drive = p.resistance * (active * current)
    integrated = p.v_leak + (v - p.v_leak - drive) * _decay(step_ms, p.tc_membrane) + drive
    v = active * integrated + (1 - active) * v
    # Inferno fires at v >= threshold, so spike unless the threshold is strictly above v; the
    # surrogates are even functions, so the gradient is the one of threshold(v - th).
    z = active * (1 - threshold(p.v_th + theta - v, p.method, p.alpha))
    z_reset = jax.lax.stop_gradient(z) if detach_reset else z
    v = reset_to(z_reset, v, p.v_reset)
    refrac = (1 - z_reset) * refrac + z_reset * p.refrac_t
    if adapt:
        decayed = theta * _decay(step_ms, p.tc_adaptation)
        theta = jnp.where(refrac > 0, theta, decayed) + p.spike_increment * z
        if share_theta and theta.ndim >= 2:
            theta = jnp.broadcast_to(jnp.mean(theta, axis=0, keepdims=True), theta.shape)
    v, refrac, theta = (x.astype(d) for x, d in zip((v, refrac, theta), dtypes))
    return z, v, refrac, theta


def _decay(step_ms, time_constant):
    # Python numbers give Inferno's factor exactly (computed in double, rounded once).
    if all(isinstance(x, (int, float)) for x in (step_ms, time_constant)):
        return math.exp(-step_ms / time_constant)
    return jnp.exp(-step_ms / jnp.asarray(time_constant))


def alif_feed_forward_step(
    input_tensor: jax.Array,
    state: Optional[ALIFState] = None,
    p: ALIFParameters = ALIFParameters(),
    dt: float = 1e-3,
    *,
    detach_reset: bool = False,
    adapt: bool = True,
    share_theta: bool = False,
) -> tuple[jax.Array, ALIFState]:
    """One step of a feed-forward ALIF neuron driven by the current ``input_tensor`` (nA).

    Args:
        input_tensor: input current, any shape (usually ``(B, N)``).
        state: the previous state, or ``None`` for the rest state.
        p: the neuron parameters.
        dt: the integration step in seconds (Inferno's ``step_time`` is ``1000 * dt`` ms).
        detach_reset: stop the gradient through the spike in the reset.
        adapt: update ``theta``; ``False`` freezes it (Inferno's ALIF in eval mode, used when
            testing a trained network).
        share_theta: average the ``theta`` update over axis 0 (the batch), as Inferno does.

    Returns:
        ``(z, state)``: the spikes and the new state.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import alif_feed_forward_step, run
        >>> _, zs = run(alif_feed_forward_step, None, jnp.full((100, 1, 1), 40.0))
        >>> int(zs.sum())             # spikes in 0.1 s under 40 nA (MOhm * nA = mV)
        2
    """
    state = feed_forward_state(input_tensor, state, p, dt, alif_feed_forward_state)
    z, v, refrac, theta = alif_dynamics(
        input_tensor, state.v, state.refrac, state.theta, p, dt,
        detach_reset=detach_reset, adapt=adapt, share_theta=share_theta,
    )
    return z, ALIFState(v=v, refrac=refrac, theta=theta)


def alif_step(
    input_tensor: jax.Array,
    state: Optional[ALIFRecurrentState],
    input_weights: jax.Array,
    recurrent_weights: jax.Array,
    p: ALIFParameters = ALIFParameters(),
    dt: float = 1e-3,
    *,
    detach_reset: bool = True,
    adapt: bool = True,
    share_theta: bool = False,
) -> tuple[jax.Array, ALIFRecurrentState]:
    """One step of a recurrent ALIF layer.

    The input current is ``input_tensor @ input_weights.T + state.z @ recurrent_weights.T``, so a
    recurrent weight of -180 off the diagonal is Diehl & Cook's lateral inhibition without the
    inhibitory layer.

    Args:
        input_tensor: input ``(B, input)`` (or ``(input,)``).
        state: the previous :class:`ALIFRecurrentState`, leaves ``(B, hidden)``, or ``None``.
        input_weights: ``(hidden, input)``.
        recurrent_weights: ``(hidden, hidden)``.
        p: the neuron parameters.
        dt: the integration step in seconds.
        detach_reset: stop the gradient through the spike in the reset (Norse's recurrent default).
        adapt: update ``theta``; ``False`` freezes it (as in :func:`alif_feed_forward_step`).
        share_theta: average the ``theta`` update over the batch (axis 0), as Inferno does.

    Returns:
        ``(z, state)``: spikes ``(B, hidden)`` and the new state.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import alif_state, alif_step
        >>> w_in = jnp.full((2, 3), 400.0)
        >>> w_rec = jnp.array([[0.0, -180.0], [-180.0, 0.0]])   # lateral inhibition
        >>> state = alif_state((4, 2))
        >>> for _ in range(2):
        ...     z, state = alif_step(jnp.ones((4, 3)), state, w_in, w_rec)
        >>> z[0], state.refrac[0]
        (Array([1., 1.], dtype=float32), Array([5., 5.], dtype=float32))
    """
    current, state = recurrent_input(
        input_tensor, state, input_weights, recurrent_weights, p, dt, alif_state
    )
    z, v, refrac, theta = alif_dynamics(
        current, state.v, state.refrac, state.theta, p, dt,
        detach_reset=detach_reset, adapt=adapt, share_theta=share_theta,
    )
    return z, ALIFRecurrentState(z=z, v=v, refrac=refrac, theta=theta)


ALIF_MODEL = NeuronModel(
    name="ALIF",
    parameters=ALIFParameters,
    feed_forward_step=alif_feed_forward_step,
    feed_forward_state=alif_feed_forward_state,
    recurrent_step=alif_step,
    recurrent_state=alif_state,
    # Steady state v_leak + R I: 40 nA settles 40 mV above rest, crossing the threshold
    # 13 mV above rest in about 40 steps.
    example_drive=40.0,
)
