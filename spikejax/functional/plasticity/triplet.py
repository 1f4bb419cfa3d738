r"""Triplet STDP (Pfister & Gerstner 2006): pair terms plus spike-triplet terms.

Four traces follow the spikes: presynaptic :math:`r_1` (:math:`\tau_+`) and :math:`r_2`
(:math:`\tau_x`), postsynaptic :math:`o_1` (:math:`\tau_-`) and :math:`o_2` (:math:`\tau_y`).
Each step decays them exactly over ``dt``, then updates the weights from the *decayed* traces
(the values just before this step's spikes, the :math:`t - \epsilon` of the paper, so
simultaneous spikes do not pair), then adds this step's spikes:

.. math::
    \begin{aligned}
        \Delta w_{ij} &= R_b\!\left[z^{\text{post}}_{b,i}\, r_{1,bj}
                          \left(A_2^+ + A_3^+ o_{2,bi}\right)\right]
                       - R_b\!\left[z^{\text{pre}}_{b,j}\, o_{1,bi}
                          \left(A_2^- + A_3^- r_{2,bj}\right)\right] \\
        r_{1,2} &\leftarrow r_{1,2} + z^{\text{pre}}, \qquad
        o_{1,2} \leftarrow o_{1,2} + z^{\text{post}}
    \end{aligned}

(``trace_mode="nearest"`` sets a trace to 1 on a spike instead: the paper's nearest-spike
model.) :math:`R_b` reduces over the batch (``batch_reduction``, default ``"mean"``). The
potentiation and depression magnitudes go through an optional ``bound(w, pos, neg)`` (see
:mod:`~spikejax.functional.plasticity.bounds`). Dense weights ``(post, pre)`` only.

With :math:`A_3^\pm = 0` this is pair STDP with exponential traces. Defaults: the all-to-all
fit to hippocampal data of the paper (as NEST's ``stdp_triplet_synapse`` examples):
:math:`\tau_+ = 16.8` ms, :math:`\tau_x = 101` ms, :math:`\tau_- = 33.7` ms,
:math:`\tau_y = 125` ms, :math:`A_2^+ = 7.5 \cdot 10^{-10}`, :math:`A_3^+ = 9.3 \cdot 10^{-3}`,
:math:`A_2^- = 7 \cdot 10^{-3}`, :math:`A_3^- = 2.3 \cdot 10^{-4}`; inverse time constants in
1/s, ``dt`` in s.

Example:
    >>> import jax.numpy as jnp
    >>> from spikejax.functional.plasticity import TripletSTDPParameters, triplet_stdp_step
    >>> p = TripletSTDPParameters(a2_plus=1.0, a3_plus=0.0, tau_plus_inv=1000.0)
    >>> w = jnp.zeros((1, 1))
    >>> dw, s = triplet_stdp_step(jnp.ones((1, 1)), jnp.zeros((1, 1)), None, w, p)
    >>> dw, s = triplet_stdp_step(jnp.zeros((1, 1)), jnp.ones((1, 1)), s, w, p)
    >>> dw  # a2_plus * exp(-1)
    Array([[0.36788]], dtype=float32)
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
from flax import struct

from .._model import NeuronParameters, check_dt
from ._common import (
    check_finite_fields,
    REDUCTIONS,
    Geometry,
    apply_bound,
    check_choice,
    check_spikes,
    check_trace_state,
    correlate,
    float_dtype,
    with_batch,
)
from .stdp_inferno import INFERNO_TRACE_MODES

__all__ = ["TripletSTDPParameters", "TripletSTDPState", "triplet_stdp_state", "triplet_stdp_step"]

_DENSE = Geometry(False)


@struct.dataclass
class TripletSTDPParameters(NeuronParameters):
    """Parameters of triplet STDP (Pfister & Gerstner 2006), inverse time constants in 1/s.

    Attributes:
        tau_plus_inv: presynaptic pair trace :math:`r_1`, 1/s.
        tau_x_inv: presynaptic triplet trace :math:`r_2`, 1/s.
        tau_minus_inv: postsynaptic pair trace :math:`o_1`, 1/s.
        tau_y_inv: postsynaptic triplet trace :math:`o_2`, 1/s.
        a2_plus: pair potentiation amplitude (non-negative).
        a3_plus: triplet potentiation amplitude (non-negative).
        a2_minus: pair depression amplitude (non-negative).
        a3_minus: triplet depression amplitude (non-negative).
        trace_mode: ``"cumulative"`` (all-to-all, default) or ``"nearest"`` (static).
        batch_reduction: ``"mean"`` (default), ``"sum"`` or ``"max"`` (static).

    Example:
        >>> from spikejax.functional.plasticity import TripletSTDPParameters
        >>> p = TripletSTDPParameters(a3_plus=0.0)       # pair rule only
        >>> p.a2_plus, p.a3_plus, p.trace_mode
        (7.5e-10, 0.0, 'cumulative')
    """

    tau_plus_inv: jax.typing.ArrayLike = 1.0 / 16.8e-3
    tau_x_inv: jax.typing.ArrayLike = 1.0 / 101e-3
    tau_minus_inv: jax.typing.ArrayLike = 1.0 / 33.7e-3
    tau_y_inv: jax.typing.ArrayLike = 1.0 / 125e-3
    a2_plus: jax.typing.ArrayLike = 7.5e-10
    a3_plus: jax.typing.ArrayLike = 9.3e-3
    a2_minus: jax.typing.ArrayLike = 7e-3
    a3_minus: jax.typing.ArrayLike = 2.3e-4
    trace_mode: str = struct.field(pytree_node=False, default="cumulative")
    batch_reduction: str = struct.field(pytree_node=False, default="mean")

    _positive = ("tau_plus_inv", "tau_x_inv", "tau_minus_inv", "tau_y_inv")
    _non_negative = ("a2_plus", "a3_plus", "a2_minus", "a3_minus")

    def __post_init__(self):
        NeuronParameters.__post_init__(self)
        check_finite_fields(self)
        check_choice("TripletSTDPParameters.trace_mode", self.trace_mode, INFERNO_TRACE_MODES)
        check_choice("TripletSTDPParameters.batch_reduction", self.batch_reduction, REDUCTIONS)


class TripletSTDPState(NamedTuple):
    """Traces of triplet STDP: ``r1``, ``r2`` (shape of ``pre``) and ``o1``, ``o2`` (of ``post``).

    Example:
        >>> from spikejax.functional.plasticity import TripletSTDPState, triplet_stdp_state
        >>> state = triplet_stdp_state((4, 3), (4, 2))
        >>> isinstance(state, TripletSTDPState), state._fields
        (True, ('r1', 'r2', 'o1', 'o2'))
    """

    r1: jax.Array
    r2: jax.Array
    o1: jax.Array
    o2: jax.Array


def triplet_stdp_state(pre_shape, post_shape, dtype=jnp.float32) -> TripletSTDPState:
    """Empty traces for spikes of ``pre_shape`` and ``post_shape``.

    Example:
        >>> from spikejax.functional.plasticity import triplet_stdp_state
        >>> state = triplet_stdp_state((4, 3), (4, 2))   # (B, pre), (B, post)
        >>> state.r1.shape, state.o1.shape
        ((4, 3), (4, 2))
    """
    pre, post = jnp.zeros(pre_shape, dtype), jnp.zeros(post_shape, dtype)
    return TripletSTDPState(pre, pre, post, post)


def _decay(x, tau_inv, dt):
    return (x * jnp.exp(-dt * jnp.asarray(tau_inv, x.dtype))).astype(x.dtype)


def _spike(z, decayed, mode):
    new = decayed + z if mode == "cumulative" else jnp.where(z > 0, 1, decayed)
    return new.astype(decayed.dtype)


def triplet_stdp_step(
    pre: jax.Array,
    post: jax.Array,
    state: Optional[TripletSTDPState],
    w: jax.Array,
    p: TripletSTDPParameters = TripletSTDPParameters(),
    dt: float = 1e-3,
    *,
    bound: Optional[Callable] = None,
) -> tuple[jax.Array, TripletSTDPState]:
    """One step of triplet STDP; see the module docstring.

    Args:
        pre: presynaptic spikes ``(B, pre)`` or ``(pre,)``.
        post: postsynaptic spikes ``(B, post)`` or ``(post,)``.
        state: the previous :class:`TripletSTDPState`, or ``None`` for empty traces.
        w: weights ``(post, pre)``.
        p: the parameters.
        dt: the step in seconds.
        bound: optional weight dependence ``bound(w, pos, neg) -> dw``.

    Returns:
        ``(dw, state)``: the weight update and the new traces.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional.plasticity import triplet_stdp_step
        >>> w = jnp.full((1, 2), 0.5)
        >>> _, state = triplet_stdp_step(jnp.array([[1.0, 0.0]]), jnp.zeros((1, 1)), None, w)
        >>> dw, state = triplet_stdp_step(jnp.zeros((1, 2)), jnp.ones((1, 1)), state, w)
        >>> (dw > 0).tolist()        # pre-before-post potentiates the weight from input 0
        [[True, False]]
    """
    check_spikes(pre, post, w, _DENSE)
    check_dt(dt)
    if state is None:
        state = triplet_stdp_state(pre.shape, post.shape, float_dtype(pre))
    check_trace_state(state, pre, post, ("r1", "o1"))
    check_trace_state(state, pre, post, ("r2", "o2"))
    r1, r2 = _decay(state.r1, p.tau_plus_inv, dt), _decay(state.r2, p.tau_x_inv, dt)
    o1, o2 = _decay(state.o1, p.tau_minus_inv, dt), _decay(state.o2, p.tau_y_inv, dt)
    z_pre, z_post = pre.astype(r1.dtype), post.astype(o1.dtype)
    post_factor = with_batch(z_post * (p.a2_plus + p.a3_plus * o2), _DENSE)
    pre_factor = with_batch(z_pre * (p.a2_minus + p.a3_minus * r2), _DENSE)
    pos = correlate(post_factor, with_batch(r1, _DENSE), w.shape, _DENSE, p.batch_reduction)
    neg = correlate(with_batch(o1, _DENSE), pre_factor, w.shape, _DENSE, p.batch_reduction)
    dw = apply_bound(bound, w, pos, neg)
    mode = p.trace_mode
    new_state = TripletSTDPState(
        _spike(z_pre, r1, mode), _spike(z_pre, r2, mode),
        _spike(z_post, o1, mode), _spike(z_post, o2, mode),
    )
    return dw.astype(w.dtype), new_state
