r"""Izhikevich (2003) neuron, with Norse's equations, names, defaults and preset behaviours.

The membrane potential :math:`v` (mV) and the recovery variable :math:`u` follow

.. math::
    \begin{aligned}
        \dot{v} &= \tau^{-1} \left( s_q v^2 + m_n v + \text{bias} - u + I \right) \\
        \dot{u} &= \tau^{-1} a (b v - u)
    \end{aligned}

integrated with one forward-Euler step (both right-hand sides use the old :math:`v` and
:math:`u`, as Norse does). The neuron spikes when :math:`z = \Theta(v - v_{\text{th}})` and then

.. math::
    v \leftarrow (1 - z) v + z c, \qquad u \leftarrow u + z d

:math:`I` is the input current (feed-forward) or :math:`W_{\text{in}} x + W_{\text{rec}} z_{t-1}`
(recurrent). With the defaults ``sq=0.04``, ``mn=5``, ``bias=140`` this is Izhikevich's
:math:`\dot v = 0.04 v^2 + 5 v + 140 - u + I` in mV and ms.

Units: Izhikevich's model runs in milliseconds; Norse maps it onto ``dt`` in seconds with
``tau_inv`` (default 250), so one step advances the model by ``tau_inv * dt`` ms: 0.25 ms at the
default ``dt = 1e-3``. ``a`` is in 1/ms, ``c``, ``d`` and ``v_th`` in mV, ``I`` in mV/ms.

Defaults: Norse's ``IzhikevichParameters`` (``sq=0.04``, ``mn=5``, ``bias=140``, ``v_th=30``,
``tau_inv=250``, ``method="super"``, ``alpha=100``); Norse has no defaults for ``a, b, c, d``,
spikejax takes tonic spiking's (``a=0.02, b=0.2, c=-65, d=6``). The rest state is the model's
lower fixed point at zero input,

.. math::
    v^* = \frac{b - m_n - \sqrt{(m_n - b)^2 - 4 s_q\,\text{bias}}}{2 s_q}, \qquad u^* = b v^*

(-70 mV and -14 for the defaults: Norse's ``tonic_spiking`` state); where there is no fixed
point, the vertex :math:`v^* = (b - m_n) / (2 s_q)`, where :math:`\dot v` is smallest.

Presets: Izhikevich (2004), "Which model to use for cortical spiking neurons?", Fig. 1, as
Norse ships them: each is an :class:`IzhikevichSpikingBehavior` ``(p, s)`` of parameters and
initial state: ``tonic_spiking``, ``phasic_spiking``, ``tonic_bursting``, ``phasic_bursting``,
``mixed_mode``, ``spike_frequency_adaptation``, ``class_1_exc``, ``class_2_exc``,
``spike_latency``, ``subthreshold_oscillation``, ``resonator``, ``integrator``,
``rebound_spike``, ``rebound_burst``, ``threshold_variability``, ``bistability``, ``dap``,
``accomodation`` (Norse's spelling), ``inhibition_induced_spiking``,
``inhibition_induced_bursting``; :data:`IZHIKEVICH_PRESETS` lists them by name.

Note:
    Izhikevich's own code updates :math:`u` with the *new* :math:`v`, uses
    :math:`\dot u = a b (v + 65)` for accommodation and 0.5 ms steps for the inhibition-induced
    cells; Norse (and so spikejax) does none of these. Under the published protocols most presets
    still show their pattern (the tests check 17), but ``dap`` fires repeatedly instead of once,
    ``accomodation`` does not accommodate, ``inhibition_induced_bursting`` fires continuously,
    and ``bistability`` is switched off by a pulse at a different phase than in the paper.

Example:
    >>> import jax.numpy as jnp
    >>> from spikejax.functional import run, izhikevich_feed_forward_step, tonic_spiking
    >>> p, s = tonic_spiking
    >>> xs = jnp.full((400, 1, 1), 14.0)            # 100 ms of a 14 mV/ms step
    >>> step = lambda x, state: izhikevich_feed_forward_step(x, state, p)
    >>> _, zs = run(step, tonic_spiking.initial_state((1, 1)), xs)
    >>> int(zs.sum())
    5
"""

from __future__ import annotations

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
from ._validate import is_concrete
from .surrogate import SurrogateLike, reset_to, threshold

_PRESET_NAMES = (
    "tonic_spiking", "phasic_spiking", "tonic_bursting", "phasic_bursting", "mixed_mode",
    "spike_frequency_adaptation", "class_1_exc", "class_2_exc", "spike_latency",
    "subthreshold_oscillation", "resonator", "integrator", "rebound_spike", "rebound_burst",
    "threshold_variability", "bistability", "dap", "accomodation", "inhibition_induced_spiking",
    "inhibition_induced_bursting",
)

__all__ = [
    "IzhikevichParameters",
    "IzhikevichState",
    "IzhikevichRecurrentState",
    "IzhikevichSpikingBehavior",
    "create_izhikevich_spiking_behavior",
    "izhikevich_feed_forward_step",
    "izhikevich_recurrent_step",
    "izhikevich_step",
    "izhikevich_feed_forward_state",
    "izhikevich_state",
    "izhikevich_dynamics",
    "IZHIKEVICH_PRESETS",
    "IZHIKEVICH_MODEL",
    *_PRESET_NAMES,
]


@parameters_dataclass
class IzhikevichParameters(NeuronParameters):
    """Parameters of an Izhikevich neuron (Norse's names and units; tonic spiking by default).

    Attributes:
        a: time scale of the recovery variable ``u`` in 1/ms (smaller: slower recovery).
        b: sensitivity of ``u`` to subthreshold fluctuations of ``v``.
        c: after-spike reset of ``v`` in mV.
        d: after-spike increment of ``u``.
        sq: coefficient of :math:`v^2` in 1/(mV ms).
        mn: coefficient of :math:`v` in 1/ms.
        bias: constant drive in mV/ms.
        v_th: spike cut-off (threshold) in mV.
        tau_inv: model milliseconds per second of ``dt`` (a step advances ``tau_inv * dt`` ms).
        method: surrogate gradient, a name from :mod:`spikejax.functional.surrogate` or a callable.
        alpha: the surrogate's sharpness.

    Example:
        >>> from spikejax.functional import IzhikevichParameters
        >>> p = IzhikevichParameters(a=0.1, d=2.0)           # fast spiking
        >>> p.a, p.b, p.c, p.d, p.tau_inv
        (0.1, 0.2, -65.0, 2.0, 250.0)
    """

    a: jax.typing.ArrayLike = 0.02
    b: jax.typing.ArrayLike = 0.2
    c: jax.typing.ArrayLike = -65.0
    d: jax.typing.ArrayLike = 6.0
    sq: jax.typing.ArrayLike = 0.04
    mn: jax.typing.ArrayLike = 5.0
    bias: jax.typing.ArrayLike = 140.0
    v_th: jax.typing.ArrayLike = 30.0
    tau_inv: jax.typing.ArrayLike = 250.0
    method: SurrogateLike = struct.field(pytree_node=False, default="super")
    alpha: jax.typing.ArrayLike = 100.0

    # sq > 0 makes the v^2 term a spike generator and the rest state well defined.
    _positive = ("tau_inv", "sq")
    # c is the reset, v_th the spike cut-off: a reset at or above it spikes on every step.
    _reset_below = (("c", "v_th"),)


class IzhikevichState(NamedTuple):
    """State of a feed-forward Izhikevich neuron: membrane ``v`` and recovery ``u``.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import IzhikevichState, izhikevich_feed_forward_step
        >>> state = IzhikevichState(v=jnp.array([-70.0, 35.0]), u=jnp.full(2, -14.0))
        >>> z, state = izhikevich_feed_forward_step(jnp.zeros(2), state)
        >>> z, state.v                # above v_th = 30 mV: a spike and a reset to c = -65 mV
        (Array([0., 1.], dtype=float32), Array([-70., -65.], dtype=float32))
    """

    v: jax.Array
    u: jax.Array


class IzhikevichRecurrentState(NamedTuple):
    """State of a recurrent Izhikevich neuron: last spikes ``z``, membrane ``v``, recovery ``u``.

    Example:
        >>> from spikejax.functional import IzhikevichRecurrentState, izhikevich_state
        >>> state = izhikevich_state((4, 2))
        >>> isinstance(state, IzhikevichRecurrentState), state._fields
        (True, ('z', 'v', 'u'))
    """

    z: jax.Array
    v: jax.Array
    u: jax.Array


class IzhikevichSpikingBehavior(NamedTuple):
    """A preset: parameters ``p`` and the initial state ``s`` (scalars), unpacked as ``p, s``.

    Example:
        >>> from spikejax.functional import IZHIKEVICH_PRESETS, IzhikevichSpikingBehavior
        >>> p, s = IZHIKEVICH_PRESETS["phasic_bursting"]
        >>> isinstance(IZHIKEVICH_PRESETS["phasic_bursting"], IzhikevichSpikingBehavior)
        True
        >>> (p.a, p.b, p.c, p.d), s
        ((0.02, 0.25, -55.0, 0.05), IzhikevichState(v=-64.0, u=-16.0))
    """

    p: IzhikevichParameters
    s: IzhikevichState

    def initial_state(self, shape, dtype=jnp.float32) -> IzhikevichState:
        """``s`` broadcast to ``shape``, ready for :func:`~spikejax.functional.run`."""
        v, u = (rest_like(value, shape, dtype) for value in self.s)
        return IzhikevichState(v=v, u=u)

    def recurrent_state(self, shape, dtype=jnp.float32) -> IzhikevichRecurrentState:
        """``s`` broadcast to ``shape`` with no spikes, for :func:`izhikevich_recurrent_step`."""
        v, u = self.initial_state(shape, dtype)
        return IzhikevichRecurrentState(z=jnp.zeros(shape, dtype), v=v, u=u)


def create_izhikevich_spiking_behavior(
    a: float, b: float, c: float, d: float, v_rest: float, u_rest: float, tau_inv: float = 250.0
) -> IzhikevichSpikingBehavior:
    """A custom preset, as in Norse: the initial state is ``v = v_rest`` and ``u = b * u_rest``.

    Note that ``u_rest`` is scaled by ``b`` (Norse's convention), so ``u_rest = v_rest`` starts
    on the ``u``-nullcline.

    Example:
        >>> from spikejax.functional import create_izhikevich_spiking_behavior
        >>> fast = create_izhikevich_spiking_behavior(0.1, 0.2, -65.0, 2.0, -70.0, u_rest=-70.0)
        >>> fast.p.a, fast.s.v, fast.s.u
        (0.1, -70.0, -14.0)
    """
    p = IzhikevichParameters(a=a, b=b, c=c, d=d, tau_inv=tau_inv)
    return IzhikevichSpikingBehavior(p=p, s=IzhikevichState(v=float(v_rest), u=float(u_rest) * b))


def _preset(v, a, b, c, d, *, tau_inv=250.0, u=None, **extra) -> IzhikevichSpikingBehavior:
    p = IzhikevichParameters(a=a, b=b, c=c, d=d, tau_inv=tau_inv, **extra)
    return IzhikevichSpikingBehavior(p=p, s=IzhikevichState(v=v, u=b * v if u is None else u))


# Norse 1.1.0's presets: Izhikevich (2004), Fig. 1 (A) to (T), with his initial states and step
# sizes (tau_inv = 1000 * his tau); the class 1 and integrator cells use 0.04 v^2 + 4.1 v + 108.
tonic_spiking = _preset(-70.0, 0.02, 0.2, -65.0, 6.0)
phasic_spiking = _preset(-64.0, 0.02, 0.25, -65.0, 6.0)
tonic_bursting = _preset(-70.0, 0.02, 0.2, -50.0, 2.0)
phasic_bursting = _preset(-64.0, 0.02, 0.25, -55.0, 0.05, tau_inv=200.0)
mixed_mode = _preset(-70.0, 0.02, 0.2, -55.0, 4.0)
spike_frequency_adaptation = _preset(-70.0, 0.01, 0.2, -65.0, 8.0)
class_1_exc = _preset(-60.0, 0.02, -0.1, -55.0, 6.0, mn=4.1, bias=108.0)
class_2_exc = _preset(-64.0, 0.2, 0.26, -65.0, 0.0)
spike_latency = _preset(-70.0, 0.02, 0.2, -65.0, 6.0)
subthreshold_oscillation = _preset(-62.0, 0.05, 0.26, -60.0, 0.0)
resonator = _preset(-62.0, 0.1, 0.26, -60.0, -1.0)
integrator = _preset(-60.0, 0.02, -0.1, -55.0, 6.0, mn=4.1, bias=108.0)
rebound_spike = _preset(-64.0, 0.03, 0.25, -60.0, 4.0, tau_inv=200.0)
rebound_burst = _preset(-64.0, 0.03, 0.25, -52.0, 0.0, tau_inv=200.0)
threshold_variability = _preset(-64.0, 0.03, 0.25, -60.0, 4.0)
bistability = _preset(-61.0, 0.1, 0.26, -60.0, 0.0)
dap = _preset(-70.0, 1.0, 0.2, -60.0, -21.0, tau_inv=100.0)
# Izhikevich's accommodation cell uses u' = a b (v + 65); Norse keeps the standard u' = a (b v - u).
accomodation = _preset(-65.0, 0.02, 1.0, -55.0, 4.0, tau_inv=500.0, u=-16.0)
inhibition_induced_spiking = _preset(-63.8, -0.02, -1.0, -60.0, 8.0)
inhibition_induced_bursting = _preset(-63.8, -0.026, -1.0, -45.0, -2.0)

#: Every preset by name, in the order of Izhikevich (2004), Fig. 1.
IZHIKEVICH_PRESETS: dict[str, IzhikevichSpikingBehavior] = {
    name: globals()[name] for name in _PRESET_NAMES
}


def _rest_voltage(p: IzhikevichParameters):
    # The lower root of sq v^2 + (mn - b) v + bias = 0 (where v' = u' = 0 at zero input); the
    # discriminant is clipped at a tiny positive value, which gives the vertex when there is no
    # root and keeps the gradient finite (sqrt' is infinite at 0). The discriminant cancels
    # badly (23.04 - 22.4 for the defaults), so concrete parameters are solved in float64.
    fields = (p.mn, p.b, p.sq, p.bias)
    xp = np if all(is_concrete(x) for x in fields) else jnp
    mn, b, sq, bias = (xp.asarray(x) for x in fields)
    discriminant = xp.maximum((mn - b) ** 2 - 4 * sq * bias, 1e-12)
    return (b - mn - xp.sqrt(discriminant)) / (2 * sq)


def izhikevich_feed_forward_state(
    shape, p: IzhikevichParameters = IzhikevichParameters(), dtype=jnp.float32
) -> IzhikevichState:
    """The rest state for inputs of ``shape``: the lower fixed point (see the module docs).

    Example:
        >>> from spikejax.functional import izhikevich_feed_forward_state
        >>> izhikevich_feed_forward_state((2,))             # the lower fixed point
        IzhikevichState(v=Array([-70., -70.], dtype=float32),
         u=Array([-14., -14.], dtype=float32))
    """
    v = _rest_voltage(p)
    return IzhikevichState(v=rest_like(v, shape, dtype), u=rest_like(p.b * v, shape, dtype))


def izhikevich_state(
    shape, p: IzhikevichParameters = IzhikevichParameters(), dtype=jnp.float32
) -> IzhikevichRecurrentState:
    """The rest state of a recurrent layer with outputs of ``shape``: no spikes, the fixed point.

    Example:
        >>> from spikejax.functional import izhikevich_state
        >>> state = izhikevich_state((8, 5))
        >>> state._fields, float(state.v[0, 0]), float(state.u[0, 0])
        (('z', 'v', 'u'), -70.0, -14.0)
    """
    return recurrent_rest(IzhikevichRecurrentState, izhikevich_feed_forward_state, shape, p, dtype)


def izhikevich_dynamics(input_current, v, u, p: IzhikevichParameters, dt, *, detach_reset: bool):
    """One Euler step of the Izhikevich equations; returns ``(z, v_new, u_new)``.

    Shared by the feed-forward and recurrent steps; the operation order is Norse 1.1's.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import IzhikevichParameters, izhikevich_dynamics
        >>> v, u = jnp.array([-70.0, 35.0]), jnp.full(2, -14.0)
        >>> z, v, u = izhikevich_dynamics(jnp.zeros(2), v, u, IzhikevichParameters(), 1e-3,
        ...                               detach_reset=False)
        >>> z, v, u                   # the spiking neuron resets v to c and raises u by d
        (Array([0., 1.], dtype=float32), Array([-70., -65.], dtype=float32),
         Array([-14.       ,  -7.895], dtype=float32))
    """
    v_new = v + p.tau_inv * dt * (p.sq * v**2 + p.mn * v + p.bias - u + input_current)
    u_new = u + p.tau_inv * dt * p.a * (p.b * v - u)
    z = threshold(v_new - p.v_th, p.method, p.alpha)
    z_reset = jax.lax.stop_gradient(z) if detach_reset else z
    v_new = reset_to(z_reset, v_new, p.c)
    u_new = u_new + z_reset * p.d
    return z, v_new, u_new


def izhikevich_feed_forward_step(
    input_current: jax.Array,
    state: Optional[IzhikevichState] = None,
    p: IzhikevichParameters = IzhikevichParameters(),
    dt: float = 1e-3,
    *,
    detach_reset: bool = False,
) -> tuple[jax.Array, IzhikevichState]:
    """One Euler step of a feed-forward Izhikevich neuron driven by ``input_current`` (mV/ms).

    Args:
        input_current: input current, any shape (usually ``(B, N)``).
        state: the previous state (scalar leaves broadcast, so a preset's ``s`` works), or
            ``None`` for the rest state.
        p: the neuron parameters.
        dt: the integration step in seconds (``tau_inv * dt`` model milliseconds).
        detach_reset: stop the gradient through the spike in the reset (Norse does not).

    Returns:
        ``(z, state)``: the spikes and the new state.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import izhikevich_feed_forward_step, run
        >>> _, zs = run(izhikevich_feed_forward_step, None, jnp.full((400, 1, 1), 14.0))
        >>> int(zs.sum())             # tonic spiking for 100 ms of a 14 mV/ms step
        5
    """
    state = feed_forward_state(
        input_current, state, p, dt, izhikevich_feed_forward_state, name="input_current"
    )
    z, v, u = izhikevich_dynamics(input_current, state.v, state.u, p, dt, detach_reset=detach_reset)
    return z, IzhikevichState(v=v, u=u)


def izhikevich_recurrent_step(
    input_current: jax.Array,
    state: Optional[IzhikevichRecurrentState],
    input_weights: jax.Array,
    recurrent_weights: jax.Array,
    p: IzhikevichParameters = IzhikevichParameters(),
    dt: float = 1e-3,
    *,
    detach_reset: bool = False,
) -> tuple[jax.Array, IzhikevichRecurrentState]:
    """One Euler step of a recurrent Izhikevich layer (also exported as ``izhikevich_step``).

    The current is ``input_current @ input_weights.T + state.z @ recurrent_weights.T``.

    Args:
        input_current: input ``(B, input)`` or ``(input,)``.
        state: the previous :class:`IzhikevichRecurrentState`, leaves ``(B, hidden)`` or
            scalars, or ``None`` for the rest state.
        input_weights: ``(hidden, input)``.
        recurrent_weights: ``(hidden, hidden)``.
        p: the neuron parameters.
        dt: the integration step in seconds.
        detach_reset: stop the gradient through the spike in the reset (Norse does not).

    Returns:
        ``(z, state)``: spikes ``(B, hidden)`` and the new state.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import izhikevich_state, izhikevich_step
        >>> w_in, w_rec = jnp.full((2, 3), 5.0), jnp.zeros((2, 2))
        >>> z, state = izhikevich_step(jnp.ones((4, 3)), izhikevich_state((4, 2)), w_in, w_rec)
        >>> z.shape, state.v[0]
        ((4, 2), Array([-66.25, -66.25], dtype=float32))
    """
    # A scalar state (a preset's) broadcasts, as check_step_input allows.
    current, state = recurrent_input(
        input_current, state, input_weights, recurrent_weights, p, dt, izhikevich_state,
        name="input_current", scalar_state=True,
    )
    z, v, u = izhikevich_dynamics(current, state.v, state.u, p, dt, detach_reset=detach_reset)
    return z, IzhikevichRecurrentState(z=z, v=v, u=u)


#: The spikejax name of the recurrent step (``lif_step``, ``coba_lif_step``, ...).
izhikevich_step = izhikevich_recurrent_step

IZHIKEVICH_MODEL = NeuronModel(
    name="Izhikevich",
    parameters=IzhikevichParameters,
    feed_forward_step=izhikevich_feed_forward_step,
    feed_forward_state=izhikevich_feed_forward_state,
    recurrent_step=izhikevich_recurrent_step,
    recurrent_state=izhikevich_state,
    # Not Izhikevich's 14: v jumps tens of mV per step near a spike, and at 20 (unlike 14) some
    # crossings land within the ~0.3 mV wide tanh that the generic finite-difference test uses.
    example_drive=20.0,
)
