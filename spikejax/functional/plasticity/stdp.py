r"""Pair-based spike-timing-dependent plasticity (STDP), with Norse 1.1's equations and names.

Each step first advances the presynaptic trace :math:`x_{\text{pre}}` and the postsynaptic
trace :math:`x_{\text{post}}` by one Euler step (Norse's ``STDPState.decay``; see
:func:`~spikejax.functional.plasticity.trace_step` with ``mode="norse"``):

.. math::
    x \leftarrow x + \Delta t\, \tau^{-1} (-x + a z)

then updates every synapse from presynaptic neuron :math:`j` to postsynaptic neuron :math:`i`
with the *new* traces, summed over the batch :math:`b`:

.. math::
    \Delta w_{ij} = A_+(w_{ij}) \sum_b z^{\text{post}}_{b,i} x^{\text{pre}}_{b,j}
                  - A_-(w_{ij}) \sum_b x^{\text{post}}_{b,i} z^{\text{pre}}_{b,j}

A presynaptic spike shortly before a postsynaptic one potentiates, the reverse order depresses.
The weight dependences :math:`A_\pm` (``stdp_algorithm``) are Norse's:

============================  =====================================  ======================================
``stdp_algorithm``            :math:`A_+(w)`                          :math:`A_-(w)`
============================  =====================================  ======================================
``"additive"``                :math:`\eta_+`                          :math:`\eta_-`
``"additive_step"``           :math:`\eta_+ \Theta(w_{\max} - w)`     :math:`\eta_- \Theta(w - w_{\min})`
``"multiplicative_pow"``      :math:`\eta_+ (w_{\max} - w)^{\mu}`     :math:`\eta_- (w - w_{\min})^{\mu}`
``"multiplicative_relu"``     :math:`\eta_+ [w_{\max} - w]_+`         :math:`\eta_- [w - w_{\min}]_+`
============================  =====================================  ======================================

(:math:`\Theta(x) = 1` for :math:`x > 0`, else 0; ``mu`` is used by ``"multiplicative_pow"`` only.)
With ``hardbound=True`` the new weight is clipped to :math:`[w_{\min}, w_{\max}]`, and
``"multiplicative_pow"`` takes a distance beyond a bound as 0 (the weights of the update form
``w + dw`` can land a rounding error beyond it, where a fractional power is NaN); without the
hard bound a weight beyond a bound gives NaN there, as in Norse.

Weights are ``(post, pre)`` as in ``torch.nn.Linear``; with ``convolutional=True`` they are
``(C_out, C_in, kh, kw)`` and spikes NCHW, and the sums also run over the output positions, the
presynaptic side unfolded into patches (Norse's ``stdp_step_conv2d``). Units follow Norse:
``dt`` in s, inverse time constants in 1/s.

Defaults (Norse's ``STDPParameters``): ``a_pre=a_post=1``, ``tau_pre_inv=tau_post_inv=20``
(50 ms), ``w_min=0``, ``w_max=1``, ``eta_plus=eta_minus=1e-3``, ``"additive"``, ``mu=0``,
``hardbound=True``.

Example:
    >>> import jax.numpy as jnp
    >>> from spikejax.functional.plasticity import STDPParameters, stdp_step
    >>> p = STDPParameters(eta_plus=0.3, tau_pre_inv=20.0)
    >>> w = jnp.full((1, 1), 0.5)
    >>> dw, state = stdp_step(jnp.ones((1, 1)), jnp.zeros((1, 1)), None, w, p)
    >>> dw, state = stdp_step(jnp.zeros((1, 1)), jnp.ones((1, 1)), state, w + dw, p)
    >>> dw  # eta_plus * x_pre = 0.3 * 0.0196
    Array([[0.00588]], dtype=float32)
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
from flax import struct

from .._model import NeuronParameters, parameters_dataclass, check_dt
from ._common import (
    check_finite_fields,
    Geometry,
    check_bounds,
    check_choice,
    check_geometry,
    check_spikes,
    check_trace_state,
    correlate,
    float_dtype,
    geometry_of,
    with_batch,
)
from .traces import advance

__all__ = [
    "STDP_ALGORITHMS",
    "STDPParameters",
    "STDPState",
    "stdp_state",
    "stdp_step",
    "stdp_step_linear",
    "stdp_step_conv2d",
]

#: The weight dependences Norse's ``STDPParameters.stdp_algorithm`` accepts.
STDP_ALGORITHMS = ("additive", "additive_step", "multiplicative_pow", "multiplicative_relu")


@parameters_dataclass
class STDPParameters(NeuronParameters):
    """Parameters of pair STDP (Norse's names, units and defaults).

    Attributes:
        a_pre: contribution of a presynaptic spike to its trace.
        a_post: contribution of a postsynaptic spike to its trace.
        tau_pre_inv: inverse time constant of the presynaptic trace, 1/s.
        tau_post_inv: inverse time constant of the postsynaptic trace, 1/s.
        w_min: lower weight bound (below ``w_max``).
        w_max: upper weight bound.
        eta_plus: potentiation learning rate (non-negative).
        eta_minus: depression learning rate (non-negative).
        stdp_algorithm: the weight dependence, one of :data:`STDP_ALGORITHMS` (static).
        mu: exponent of ``"multiplicative_pow"`` (non-negative).
        hardbound: clip the new weights to ``[w_min, w_max]`` (static).
        convolutional: weights are conv2d kernels (static; :func:`stdp_step` only).
        stride: convolution stride (static).
        padding: convolution zero padding on each side (static).
        dilation: convolution dilation (static).

    Example:
        >>> from spikejax.functional.plasticity import STDPParameters
        >>> p = STDPParameters(eta_plus=1e-2, eta_minus=1e-2, stdp_algorithm="multiplicative_pow")
        >>> p.tau_pre_inv, p.w_min, p.w_max, p.stdp_algorithm
        (20.0, 0.0, 1.0, 'multiplicative_pow')
    """

    a_pre: jax.typing.ArrayLike = 1.0
    a_post: jax.typing.ArrayLike = 1.0
    tau_pre_inv: jax.typing.ArrayLike = 1.0 / 50e-3
    tau_post_inv: jax.typing.ArrayLike = 1.0 / 50e-3
    w_min: jax.typing.ArrayLike = 0.0
    w_max: jax.typing.ArrayLike = 1.0
    eta_plus: jax.typing.ArrayLike = 1e-3
    eta_minus: jax.typing.ArrayLike = 1e-3
    stdp_algorithm: str = struct.field(pytree_node=False, default="additive")
    mu: jax.typing.ArrayLike = 0.0
    hardbound: bool = struct.field(pytree_node=False, default=True)
    convolutional: bool = struct.field(pytree_node=False, default=False)
    stride: int = struct.field(pytree_node=False, default=1)
    padding: int = struct.field(pytree_node=False, default=0)
    dilation: int = struct.field(pytree_node=False, default=1)

    _positive = ("tau_pre_inv", "tau_post_inv")
    _non_negative = ("eta_plus", "eta_minus", "mu")

    def __post_init__(self):
        NeuronParameters.__post_init__(self)
        check_finite_fields(self)
        check_choice("STDPParameters.stdp_algorithm", self.stdp_algorithm, STDP_ALGORITHMS)
        check_bounds("STDPParameters.w_min", self.w_min, "STDPParameters.w_max", self.w_max)
        check_geometry("STDPParameters", geometry_of(self))


class STDPState(NamedTuple):
    """Traces of pair STDP: presynaptic ``t_pre`` (shape of ``pre``), postsynaptic ``t_post``.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional.plasticity import STDPState, stdp_step
        >>> state = STDPState(t_pre=jnp.ones((1, 2)), t_post=jnp.zeros((1, 1)))  # inputs spiked
        >>> w = jnp.full((1, 2), 0.5)
        >>> dw, state = stdp_step(jnp.zeros((1, 2)), jnp.ones((1, 1)), state, w)
        >>> dw > 0                   # post after pre: potentiation
        Array([[ True,  True]], dtype=bool)
    """

    t_pre: jax.Array
    t_post: jax.Array


def stdp_state(pre_shape, post_shape, dtype=jnp.float32) -> STDPState:
    """Empty traces for spikes of ``pre_shape`` and ``post_shape``.

    Example:
        >>> from spikejax.functional.plasticity import stdp_state
        >>> state = stdp_state((8, 3), (8, 2))           # (B, pre), (B, post)
        >>> state.t_pre.shape, state.t_post.shape
        ((8, 3), (8, 2))
    """
    return STDPState(jnp.zeros(pre_shape, dtype), jnp.zeros(post_shape, dtype))


def _amplitudes(w: jax.Array, p: STDPParameters):
    algorithm = p.stdp_algorithm
    if algorithm == "additive":
        return p.eta_plus, p.eta_minus
    if algorithm == "additive_step":
        return (
            p.eta_plus * (p.w_max - w > 0).astype(w.dtype),
            p.eta_minus * (w - p.w_min > 0).astype(w.dtype),
        )
    if algorithm == "multiplicative_pow":
        up, down = p.w_max - w, w - p.w_min
        if p.hardbound:
            # The weights are inside the bounds, but w + dw can round to a hair beyond one
            # (w + (w_min - w) != w_min in floating point), and a fractional power of that
            # tiny negative distance is NaN: count it as zero, as Norse's exact weights do.
            up, down = jnp.maximum(up, 0), jnp.maximum(down, 0)
        return p.eta_plus * up**p.mu, p.eta_minus * down**p.mu
    return p.eta_plus * jax.nn.relu(p.w_max - w), p.eta_minus * jax.nn.relu(w - p.w_min)


def _stdp(pre, post, state, w, p: STDPParameters, dt, g: Geometry):
    """New weights and traces; the shared core of the three public steps."""
    check_spikes(pre, post, w, g)
    check_dt(dt)
    if state is None:
        state = stdp_state(pre.shape, post.shape, float_dtype(pre))
    check_trace_state(state, pre, post)
    t_pre = advance(pre, state.t_pre, p.tau_pre_inv, p.a_pre, dt, "norse")
    t_post = advance(post, state.t_post, p.tau_post_inv, p.a_post, dt, "norse")
    a_plus, a_minus = _amplitudes(w, p)
    pre_b, post_b = with_batch(pre, g).astype(t_pre.dtype), with_batch(post, g).astype(t_post.dtype)
    dw_plus = a_plus * correlate(post_b, with_batch(t_pre, g), w.shape, g)
    dw_minus = a_minus * correlate(with_batch(t_post, g), pre_b, w.shape, g)
    new_w = w + (dw_plus - dw_minus)
    if p.hardbound:
        new_w = jnp.clip(new_w, p.w_min, p.w_max)
    return new_w.astype(w.dtype), STDPState(t_pre, t_post)


def stdp_step(
    pre: jax.Array,
    post: jax.Array,
    state: Optional[STDPState],
    w: jax.Array,
    p: STDPParameters = STDPParameters(),
    dt: float = 1e-3,
) -> tuple[jax.Array, STDPState]:
    """One step of pair STDP as an update: ``w + dw`` is Norse's new weight.

    Dense or conv2d according to ``p.convolutional``.

    Args:
        pre: presynaptic spikes ``(B, pre)`` (conv2d: ``(B, C_in, H, W)``); unbatched works too.
        post: postsynaptic spikes ``(B, post)`` (conv2d: ``(B, C_out, H', W')``).
        state: the previous :class:`STDPState`, or ``None`` for empty traces.
        w: weights ``(post, pre)`` (conv2d: ``(C_out, C_in, kh, kw)``).
        p: the rule's parameters.
        dt: the step in seconds.

    Returns:
        ``(dw, state)``: the weight update (hard bound included) and the new traces.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional.plasticity import stdp_step
        >>> w = jnp.full((1, 2), 0.5)                    # (post, pre)
        >>> one, zero = jnp.ones((1, 1)), jnp.zeros((1, 1))
        >>> _, state = stdp_step(jnp.array([[1.0, 0.0]]), zero, None, w)   # input 0 spikes first
        >>> dw, state = stdp_step(jnp.zeros((1, 2)), one, state, w)        # then the output
        >>> (dw > 0).tolist()        # only the weight from input 0 grows
        [[True, False]]
    """
    new_w, state = _stdp(pre, post, state, w, p, dt, geometry_of(p))
    return new_w - w, state


def stdp_step_linear(
    z_pre: jax.Array,
    z_post: jax.Array,
    w: jax.Array,
    state_stdp: Optional[STDPState],
    p_stdp: STDPParameters = STDPParameters(),
    dt: float = 1e-3,
) -> tuple[jax.Array, STDPState]:
    """Norse's ``stdp_step_linear``: returns the new weights ``(post, pre)`` and traces.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional.plasticity import stdp_state, stdp_step_linear
        >>> w = jnp.full((1, 2), 0.5)
        >>> state = stdp_state((1, 2), (1, 1))
        >>> w, state = stdp_step_linear(jnp.array([[1.0, 0.0]]), jnp.zeros((1, 1)), w, state)
        >>> w, state = stdp_step_linear(jnp.zeros((1, 2)), jnp.ones((1, 1)), w, state)
        >>> (w > 0.5).tolist()       # the new weights, not the update
        [[True, False]]
    """
    return _stdp(z_pre, z_post, state_stdp, w, p_stdp, dt, Geometry(False))


def stdp_step_conv2d(
    z_pre: jax.Array,
    z_post: jax.Array,
    w: jax.Array,
    state_stdp: Optional[STDPState],
    p_stdp: STDPParameters = STDPParameters(),
    dt: float = 1e-3,
) -> tuple[jax.Array, STDPState]:
    """Norse's ``stdp_step_conv2d``: new kernels ``(C_out, C_in, kh, kw)`` and traces.

    Uses ``p_stdp.stride``, ``padding`` and ``dilation`` whatever ``p_stdp.convolutional`` says,
    as Norse does.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional.plasticity import stdp_state, stdp_step_conv2d
        >>> w = jnp.full((2, 1, 3, 3), 0.5)             # (C_out, C_in, kh, kw)
        >>> pre, post = jnp.ones((1, 1, 5, 5)), jnp.ones((1, 2, 3, 3))
        >>> w_new, state = stdp_step_conv2d(pre, post, w, stdp_state(pre.shape, post.shape))
        >>> w_new.shape, state.t_post.shape
        ((2, 1, 3, 3), (1, 2, 3, 3))
    """
    g = geometry_of(p_stdp)._replace(convolutional=True)
    return _stdp(z_pre, z_post, state_stdp, w, p_stdp, dt, g)
