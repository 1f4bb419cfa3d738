r"""Reward-modulated STDP: MSTDP and MSTDPET (Florian 2007).

Both rules keep unit-amplitude spike traces :math:`x_{\text{pre}}` (:math:`\tau_+`) and
:math:`x_{\text{post}}` (:math:`\tau_-`), advanced *including* this step's spikes
(``trace_mode``: ``"cumulative"``, Florian's all-to-all, or ``"nearest"``), and form the STDP
eligibility of every synapse and batch entry :math:`b`:

.. math::
    \zeta_{b,ij} = A_+\, z^{\text{post}}_{b,i}\, x^{\text{pre}}_{b,j}
                 + A_-\, x^{\text{post}}_{b,i}\, z^{\text{pre}}_{b,j}

(:math:`A_- < 0` makes post-before-pre depressing). With the reward :math:`r_b` of this step
(a scalar, or one per batch entry), MSTDP updates immediately,

.. math::
    \Delta w_{ij} = R_b\!\left[\gamma\, r_b\, \zeta_{b,ij}\right]

and MSTDPET low-pass filters the eligibility into a trace :math:`e` with :math:`\tau_z`
(Florian's discrete form, which Inferno's ``MSTDPET`` also uses) and updates from it:

.. math::
    \begin{aligned}
        e_{b,ij} &\leftarrow e_{b,ij}\, e^{-\Delta t / \tau_z} + \zeta_{b,ij} / \tau_z \\
        \Delta w_{ij} &= R_b\!\left[\gamma\, r_b\, e_{b,ij}\, \Delta t\right]
    \end{aligned}

:math:`R_b` reduces over the batch (``batch_reduction``, default ``"sum"`` as Inferno's
reward-modulated trainers). Per batch entry the update is split by sign into potentiation and
depression before the reduction, so an optional ``bound(w, pos, neg)`` (see
:mod:`~spikejax.functional.plasticity.bounds`) sees magnitudes, as with reward-sign switching
in Inferno. Units: inverse time constants in 1/s and ``dt`` in s (:math:`\Delta t / \tau_z`
is the same number as Inferno's ms ratio, so :math:`\gamma` carries over). Dense weights
``(post, pre)`` only.

Defaults (Florian 2007): :math:`\tau_\pm = 20` ms, :math:`\tau_z = 25` ms, :math:`A_+ = 1`,
:math:`A_- = -1`, :math:`\gamma = 0.01`.

Example:
    >>> import jax.numpy as jnp
    >>> from spikejax.functional.plasticity import MSTDPParameters, mstdp_step
    >>> w = jnp.zeros((1, 1))
    >>> dw, s = mstdp_step(jnp.ones((1, 1)), jnp.zeros((1, 1)), None, w, reward=1.0)
    >>> dw, s = mstdp_step(jnp.zeros((1, 1)), jnp.ones((1, 1)), s, w, reward=-2.0)
    >>> dw  # gamma * reward * A+ * exp(-1 / 20)
    Array([[-0.019025]], dtype=float32)
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
from flax import struct

from .._model import NeuronParameters, parameters_dataclass, check_dt
from ._common import (
    check_finite_fields,
    REDUCTIONS,
    Geometry,
    apply_bound,
    check_choice,
    check_spikes,
    check_trace_state,
    correlate_batched,
    float_dtype,
    reduce_batch,
    with_batch,
)
from .stdp import STDPState, stdp_state
from .stdp_inferno import INFERNO_TRACE_MODES
from .traces import advance

__all__ = [
    "MSTDPParameters",
    "MSTDPETState",
    "mstdp_step",
    "mstdpet_state",
    "mstdpet_step",
]

_DENSE = Geometry(False)


@parameters_dataclass
class MSTDPParameters(NeuronParameters):
    """Parameters of MSTDP and MSTDPET (Florian 2007), inverse time constants in 1/s.

    Attributes:
        tau_plus_inv: inverse time constant of the presynaptic trace, 1/s.
        tau_minus_inv: inverse time constant of the postsynaptic trace, 1/s.
        tau_z_inv: inverse time constant of the eligibility trace (MSTDPET), 1/s.
        a_plus: amplitude of pre-before-post pairs.
        a_minus: amplitude of post-before-pre pairs (negative for Hebbian STDP).
        gamma: learning rate (non-negative; the reward gives the sign).
        trace_mode: ``"cumulative"`` (default) or ``"nearest"`` (static).
        batch_reduction: ``"sum"`` (default), ``"mean"`` or ``"max"`` (static).

    Example:
        >>> from spikejax.functional.plasticity import MSTDPParameters
        >>> p = MSTDPParameters(gamma=0.1)
        >>> p.a_plus, p.a_minus, p.gamma, p.batch_reduction
        (1.0, -1.0, 0.1, 'sum')
    """

    tau_plus_inv: jax.typing.ArrayLike = 1.0 / 20e-3
    tau_minus_inv: jax.typing.ArrayLike = 1.0 / 20e-3
    tau_z_inv: jax.typing.ArrayLike = 1.0 / 25e-3
    a_plus: jax.typing.ArrayLike = 1.0
    a_minus: jax.typing.ArrayLike = -1.0
    gamma: jax.typing.ArrayLike = 0.01
    trace_mode: str = struct.field(pytree_node=False, default="cumulative")
    batch_reduction: str = struct.field(pytree_node=False, default="sum")

    _positive = ("tau_plus_inv", "tau_minus_inv", "tau_z_inv")
    _non_negative = ("gamma",)  # the sign of learning comes from the reward and a_plus/a_minus

    def __post_init__(self):
        NeuronParameters.__post_init__(self)
        check_finite_fields(self)
        check_choice("MSTDPParameters.trace_mode", self.trace_mode, INFERNO_TRACE_MODES)
        check_choice("MSTDPParameters.batch_reduction", self.batch_reduction, REDUCTIONS)


class MSTDPETState(NamedTuple):
    """State of MSTDPET: traces ``t_pre``, ``t_post`` and eligibility ``(*batch, post, pre)``.

    Example:
        >>> from spikejax.functional.plasticity import MSTDPETState, mstdpet_state
        >>> state = mstdpet_state((4, 3), (4, 2))
        >>> isinstance(state, MSTDPETState), state.eligibility.shape   # (B, post, pre)
        (True, (4, 2, 3))
    """

    t_pre: jax.Array
    t_post: jax.Array
    eligibility: jax.Array


def mstdpet_state(pre_shape, post_shape, dtype=jnp.float32) -> MSTDPETState:
    """Empty traces and eligibility for spikes of ``pre_shape`` and ``post_shape``.

    Example:
        >>> from spikejax.functional.plasticity import mstdpet_state
        >>> state = mstdpet_state((3,), (2,))            # unbatched spikes
        >>> state.t_pre.shape, state.t_post.shape, state.eligibility.shape
        ((3,), (2,), (2, 3))
    """
    traces = stdp_state(pre_shape, post_shape, dtype)
    eligibility = jnp.zeros(tuple(pre_shape[:-1]) + (post_shape[-1], pre_shape[-1]), dtype)
    return MSTDPETState(traces.t_pre, traces.t_post, eligibility)


def _eligibility(pre, post, state, w, p, dt):
    """New traces and the batched eligibility ``zeta`` ``(B, post, pre)``."""
    check_trace_state(state, pre, post)
    t_pre = advance(pre, state.t_pre, p.tau_plus_inv, 1.0, dt, p.trace_mode)
    t_post = advance(post, state.t_post, p.tau_minus_inv, 1.0, dt, p.trace_mode)
    pre_b = with_batch(pre, _DENSE).astype(t_pre.dtype)
    post_b = with_batch(post, _DENSE).astype(t_post.dtype)
    zeta = p.a_plus * correlate_batched(post_b, with_batch(t_pre, _DENSE), w.shape, _DENSE)
    zeta = zeta + p.a_minus * correlate_batched(with_batch(t_post, _DENSE), pre_b, w.shape, _DENSE)
    return t_pre, t_post, zeta


def _reward(reward, pre) -> jax.Array:
    """The reward as ``(B, 1, 1)`` against the batched ``(B, post, pre)`` update."""
    reward = jnp.asarray(reward)
    batch = tuple(pre.shape[:-1])
    if reward.ndim and tuple(reward.shape) != batch:
        raise ValueError(
            f"reward has shape {tuple(reward.shape)}, expected () or {batch} (one per batch "
            f"entry of pre {tuple(pre.shape)})"
        )
    return jnp.reshape(reward, (-1, 1, 1))


def _modulated(update_b, w, p, bound):
    pos = reduce_batch(jnp.maximum(update_b, 0), p.batch_reduction)
    neg = reduce_batch(jnp.maximum(-update_b, 0), p.batch_reduction)
    return apply_bound(bound, w, pos, neg).astype(w.dtype)


def mstdp_step(
    pre: jax.Array,
    post: jax.Array,
    state: Optional[STDPState],
    w: jax.Array,
    p: MSTDPParameters = MSTDPParameters(),
    dt: float = 1e-3,
    *,
    reward: jax.typing.ArrayLike,
    bound: Optional[Callable] = None,
) -> tuple[jax.Array, STDPState]:
    """One step of MSTDP: ``dw = R_b[gamma * reward_b * zeta_b]``.

    Args:
        pre: presynaptic spikes ``(B, pre)`` or ``(pre,)``.
        post: postsynaptic spikes ``(B, post)`` or ``(post,)``.
        state: the previous traces (an :class:`~spikejax.functional.plasticity.STDPState`), or
            ``None``.
        w: weights ``(post, pre)``.
        p: the parameters.
        dt: the step in seconds.
        reward: the reward of this step, a scalar or one per batch entry ``(B,)``.
        bound: optional weight dependence ``bound(w, pos, neg) -> dw``.

    Returns:
        ``(dw, state)``.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional.plasticity import mstdp_step
        >>> w, pre, post = jnp.full((1, 2), 0.5), jnp.array([[1.0, 0.0]]), jnp.ones((1, 1))
        >>> dw, _ = mstdp_step(pre, post, None, w, reward=1.0)
        >>> dw_punished, _ = mstdp_step(pre, post, None, w, reward=-1.0)
        >>> bool((dw == -dw_punished).all())            # the reward sets the sign
        True
    """
    check_spikes(pre, post, w, _DENSE)
    check_dt(dt)
    if state is None:
        state = stdp_state(pre.shape, post.shape, float_dtype(pre))
    t_pre, t_post, zeta = _eligibility(pre, post, state, w, p, dt)
    update_b = p.gamma * _reward(reward, pre).astype(zeta.dtype) * zeta
    return _modulated(update_b, w, p, bound), STDPState(t_pre, t_post)


def mstdpet_step(
    pre: jax.Array,
    post: jax.Array,
    state: Optional[MSTDPETState],
    w: jax.Array,
    p: MSTDPParameters = MSTDPParameters(),
    dt: float = 1e-3,
    *,
    reward: jax.typing.ArrayLike,
    bound: Optional[Callable] = None,
) -> tuple[jax.Array, MSTDPETState]:
    """One step of MSTDPET: the eligibility trace, then ``dw = R_b[gamma * reward_b * e_b * dt]``.

    Arguments as :func:`mstdp_step`; ``state`` is an :class:`MSTDPETState` (or ``None``) whose
    eligibility has shape ``(B, post, pre)`` (``(post, pre)`` for unbatched spikes).

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional.plasticity import mstdpet_step
        >>> w, pre, post = jnp.full((1, 2), 0.5), jnp.array([[1.0, 0.0]]), jnp.ones((1, 1))
        >>> dw, state = mstdpet_step(pre, 0 * post, None, w, reward=0.0)    # input 0 spikes
        >>> dw, state = mstdpet_step(0 * pre, post, state, w, reward=0.0)   # then the output
        >>> dw, state.eligibility > 0        # no reward, no change; but an eligibility trace
        (Array([[0., 0.]], dtype=float32), Array([[[ True, False]]], dtype=bool))
        >>> dw, state = mstdpet_step(0 * pre, 0 * post, state, w, reward=1.0)
        >>> (dw > 0).tolist()                # a later reward turns it into a change
        [[True, False]]
    """
    check_spikes(pre, post, w, _DENSE)
    check_dt(dt)
    if state is None:
        state = mstdpet_state(pre.shape, post.shape, float_dtype(pre))
    expected = tuple(pre.shape[:-1]) + tuple(w.shape)
    if tuple(jnp.shape(state.eligibility)) != expected:
        raise ValueError(
            f"state.eligibility has shape {tuple(jnp.shape(state.eligibility))}, expected "
            f"{expected} (the batch of pre {tuple(pre.shape)} and w {tuple(w.shape)})"
        )
    t_pre, t_post, zeta = _eligibility(pre, post, state, w, p, dt)
    e = state.eligibility.reshape(zeta.shape)
    decay = jnp.exp(-dt * jnp.asarray(p.tau_z_inv, e.dtype))
    e = (e * decay + zeta * p.tau_z_inv).astype(e.dtype)
    update_b = p.gamma * _reward(reward, pre).astype(e.dtype) * e * dt
    new_state = MSTDPETState(t_pre, t_post, e.reshape(expected))
    return _modulated(update_b, w, p, bound), new_state
