r"""LIF neuron with an absolute refractory period (Norse's ``lif_refrac``).

Each step first takes one step of the current-based LIF neuron of
:mod:`spikejax.functional.lif` (same equations, same parameters ``p.lif``), giving spikes
:math:`z'` and voltage :math:`v'` from the previous voltage :math:`v`. A refractory counter
:math:`\rho` (in steps) then masks that step while it is positive:

.. math::
    \begin{aligned}
        m &= \Theta(\rho) \\
        v &\leftarrow (1 - m)\, v' + m\, v \\
        z &= (1 - m)\, z' \\
        \rho &\leftarrow (1 - z) \max(\rho - m, 0) + z\, \rho_{\text{reset}}
    \end{aligned}

So after a spike the voltage stays where the reset put it, and the neuron cannot fire, for
:math:`\rho_{\text{reset}}` steps; the synaptic current keeps integrating its input meanwhile.
As in Norse, :math:`m` uses the LIF surrogate (``p.lif.method``, ``p.lif.alpha``) in the
backward pass, and neither :math:`m` nor :math:`z` is detached in these updates;
``detach_reset`` applies to the LIF reset only, with Norse's defaults (``False`` feed-forward,
``True`` recurrent). Units: seconds for ``dt``, inverse seconds for the LIF time constants,
steps for :math:`\rho`.

Defaults (Norse's ``LIFRefracParameters``): ``lif=LIFParameters()`` (see
:mod:`spikejax.functional.lif`) and ``rho_reset=5`` (5 steps, 5 ms at ``dt=1e-3``).

Example:
    >>> import jax.numpy as jnp
    >>> from spikejax.functional import lif_refrac_feed_forward_step
    >>> state, zs = None, []
    >>> for _ in range(14):
    ...     z, state = lif_refrac_feed_forward_step(jnp.full(1, 4.0), state)
    ...     zs.append(int(z[0]))
    >>> zs                        # after each spike, 5 silent steps however strong the input
    [0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1]
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
from flax import struct

from ._model import (
    NeuronModel,
    NeuronParameters,
    feed_forward_state,
    parameters_dataclass,
    recurrent_input,
)
from .lif import (
    LIFFeedForwardState,
    LIFParameters,
    LIFState,
    lif_dynamics,
    lif_feed_forward_state,
    lif_state,
)
from .surrogate import threshold

__all__ = [
    "LIFRefracParameters",
    "LIFRefracState",
    "LIFRefracFeedForwardState",
    "lif_refrac_step",
    "lif_refrac_feed_forward_step",
    "lif_refrac_feed_forward_state",
    "lif_refrac_state",
    "compute_refractory_update",
    "LIF_REFRAC_MODEL",
]


@parameters_dataclass
class LIFRefracParameters(NeuronParameters):
    """Parameters of a LIF neuron with an absolute refractory period (Norse's layout).

    Attributes:
        lif: the :class:`~spikejax.functional.LIFParameters` of the LIF integration.
        rho_reset: refractory period in steps, the value of the counter after a spike.

    Example:
        >>> from spikejax.functional import LIFParameters, LIFRefracParameters
        >>> p = LIFRefracParameters(lif=LIFParameters(tau_mem_inv=50.0), rho_reset=10.0)
        >>> p.lif.tau_mem_inv, p.rho_reset
        (50.0, 10.0)
    """

    lif: LIFParameters = struct.field(default_factory=LIFParameters)
    rho_reset: jax.typing.ArrayLike = 5.0

    _non_negative = ("rho_reset",)

    def __post_init__(self):
        super().__post_init__()
        if not isinstance(self.lif, LIFParameters):
            raise TypeError(
                f"LIFRefracParameters.lif must be a LIFParameters, got {type(self.lif).__name__}"
            )


class LIFRefracState(NamedTuple):
    """State of a recurrent refractory LIF neuron: the ``lif`` state and the counter ``rho``.

    Example:
        >>> from spikejax.functional import LIFRefracState, lif_refrac_state
        >>> state = lif_refrac_state((4, 2))
        >>> isinstance(state, LIFRefracState), state.lif._fields, state.rho.shape
        (True, ('z', 'v', 'i'), (4, 2))
    """

    lif: LIFState
    rho: jax.Array


class LIFRefracFeedForwardState(NamedTuple):
    """State of a feed-forward refractory LIF neuron: the ``lif`` state and the counter ``rho``.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import LIFFeedForwardState, LIFRefracFeedForwardState
        >>> from spikejax.functional import lif_refrac_feed_forward_step
        >>> lif = LIFFeedForwardState(v=jnp.full(2, 0.5), i=jnp.full(2, 10.0))
        >>> state = LIFRefracFeedForwardState(lif=lif, rho=jnp.array([0.0, 3.0]))
        >>> z, state = lif_refrac_feed_forward_step(jnp.zeros(2), state)
        >>> z, state.rho              # the second neuron is refractory: no spike, counter down by 1
        (Array([1., 0.], dtype=float32), Array([5., 2.], dtype=float32))
    """

    lif: LIFFeedForwardState
    rho: jax.Array


def lif_refrac_feed_forward_state(
    shape, p: LIFRefracParameters = LIFRefracParameters(), dtype=jnp.float32
):
    """The rest state for inputs of ``shape``: LIF at rest and ``rho = 0`` (not refractory).

    Example:
        >>> from spikejax.functional import lif_refrac_feed_forward_state
        >>> state = lif_refrac_feed_forward_state((2,))
        >>> state.lif.v, state.rho
        (Array([0., 0.], dtype=float32), Array([0., 0.], dtype=float32))
    """
    lif = lif_feed_forward_state(shape, p.lif, dtype)
    return LIFRefracFeedForwardState(lif=lif, rho=jnp.zeros(shape, dtype))


def lif_refrac_state(shape, p: LIFRefracParameters = LIFRefracParameters(), dtype=jnp.float32):
    """The rest state of a recurrent layer with outputs of ``shape``: LIF at rest, ``rho = 0``.

    Example:
        >>> from spikejax.functional import lif_refrac_state
        >>> state = lif_refrac_state((8, 5))
        >>> state._fields, state.lif._fields
        (('lif', 'rho'), ('z', 'v', 'i'))
    """
    return LIFRefracState(lif=lif_state(shape, p.lif, dtype), rho=jnp.zeros(shape, dtype))


def compute_refractory_update(rho, v_old, z_new, v_new, p: LIFRefracParameters):
    """Mask a LIF step by the refractory counter; returns ``(v, z, rho)`` (Norse's name).

    Args:
        rho: the counter before the step.
        v_old: the voltage before the LIF step, kept while refractory.
        z_new: the spikes the LIF step produced.
        v_new: the voltage the LIF step produced.
        p: the parameters.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import LIFRefracParameters, compute_refractory_update
        >>> rho = jnp.array([0.0, 2.0])                        # the second neuron is refractory
        >>> v, z, rho = compute_refractory_update(rho, jnp.array([0.3, 0.3]), jnp.array([1.0, 1.0]),
        ...                                       jnp.array([0.0, 0.0]), LIFRefracParameters())
        >>> v, z, rho
        (Array([0. , 0.3], dtype=float32), Array([1., 0.], dtype=float32),
         Array([5., 1.], dtype=float32))
    """
    refractory = threshold(rho, p.lif.method, p.lif.alpha)
    v = (1 - refractory) * v_new + refractory * v_old
    z = (1 - refractory) * z_new
    rho_new = (1 - z) * jax.nn.relu(rho - refractory) + z * p.rho_reset
    return v, z, rho_new


def _refrac_dynamics(current, previous, rho, p: LIFRefracParameters, dt, detach_reset):
    z, v, i = lif_dynamics(current, previous.v, previous.i, p.lif, dt, detach_reset=detach_reset)
    v, z, rho = compute_refractory_update(rho, previous.v, z, v, p)
    return z, v, i, rho


def lif_refrac_feed_forward_step(
    input_tensor: jax.Array,
    state: Optional[LIFRefracFeedForwardState] = None,
    p: LIFRefracParameters = LIFRefracParameters(),
    dt: float = 1e-3,
    *,
    detach_reset: bool = False,
) -> tuple[jax.Array, LIFRefracFeedForwardState]:
    """One Euler step of a feed-forward LIF neuron with a refractory period.

    Args:
        input_tensor: input current, any shape (usually ``(B, N)``).
        state: the previous state, or ``None`` for the rest state.
        p: the neuron parameters.
        dt: the integration step in seconds.
        detach_reset: stop the gradient through the spike in the LIF reset (Norse: ``False``).

    Returns:
        ``(z, state)``: the spikes and the new state.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import LIFRefracParameters, run
        >>> from spikejax.functional import lif_feed_forward_step, lif_refrac_feed_forward_step
        >>> xs = jnp.full((100, 1), 2.0)
        >>> p = LIFRefracParameters(rho_reset=10.0)
        >>> _, refractory = run(lambda x, s: lif_refrac_feed_forward_step(x, s, p), None, xs)
        >>> _, plain = run(lif_feed_forward_step, None, xs)
        >>> int(refractory.sum()), int(plain.sum())          # the refractory period slows it down
        (9, 49)
    """
    state = feed_forward_state(input_tensor, state, p, dt, lif_refrac_feed_forward_state)
    z, v, i, rho = _refrac_dynamics(input_tensor, state.lif, state.rho, p, dt, detach_reset)
    return z, LIFRefracFeedForwardState(lif=LIFFeedForwardState(v=v, i=i), rho=rho)


def lif_refrac_step(
    input_tensor: jax.Array,
    state: Optional[LIFRefracState],
    input_weights: jax.Array,
    recurrent_weights: jax.Array,
    p: LIFRefracParameters = LIFRefracParameters(),
    dt: float = 1e-3,
    *,
    detach_reset: bool = True,
) -> tuple[jax.Array, LIFRefracState]:
    """One Euler step of a recurrent LIF layer with a refractory period.

    The input current is ``input_tensor @ input_weights.T + state.lif.z @ recurrent_weights.T``;
    ``state.lif.z`` holds the spikes after the refractory mask.

    Args:
        input_tensor: input ``(B, input)`` (or ``(input,)``).
        state: the previous :class:`LIFRefracState`, leaves of shape ``(B, hidden)``, or
            ``None`` for the rest state.
        input_weights: ``(hidden, input)``.
        recurrent_weights: ``(hidden, hidden)``.
        p: the neuron parameters.
        dt: the integration step in seconds.
        detach_reset: stop the gradient through the spike in the LIF reset (Norse: ``True``).

    Returns:
        ``(z, state)``: spikes ``(B, hidden)`` and the new state.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import lif_refrac_state, lif_refrac_step
        >>> w_in, w_rec = jnp.full((2, 3), 0.2), jnp.zeros((2, 2))
        >>> z, state = lif_refrac_step(jnp.ones((4, 3)), lif_refrac_state((4, 2)), w_in, w_rec)
        >>> z.shape, state.lif.i[0], state.rho[0]
        ((4, 2), Array([0.48, 0.48], dtype=float32), Array([0., 0.], dtype=float32))
    """
    current, state = recurrent_input(
        input_tensor, state, input_weights, recurrent_weights, p, dt, lif_refrac_state,
        spikes="lif.z",
    )
    z, v, i, rho = _refrac_dynamics(current, state.lif, state.rho, p, dt, detach_reset)
    return z, LIFRefracState(lif=LIFState(z=z, v=v, i=i), rho=rho)


LIF_REFRAC_MODEL = NeuronModel(
    name="LIFRefrac",
    parameters=LIFRefracParameters,
    feed_forward_step=lif_refrac_feed_forward_step,
    feed_forward_state=lif_refrac_feed_forward_state,
    recurrent_step=lif_refrac_step,
    recurrent_state=lif_refrac_state,
    example_drive=1.0,
)
