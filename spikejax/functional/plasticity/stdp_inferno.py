r"""Pair STDP with Inferno's parameterisation: signed learning rates, ms time constants.

Inferno's ``STDP`` trainer keeps a presynaptic trace :math:`x_{\text{pre}}` (time constant
``tc_pre``) and a postsynaptic trace :math:`x_{\text{post}}` (``tc_post``), each advanced
*including* this step's spikes (``trace_mode``: ``"cumulative"`` adds 1 per spike,
``"nearest"`` resets to 1; see :func:`~spikejax.functional.plasticity.trace_step`), then

.. math::
    \Delta w_{ij} = \eta_{\text{post}}\, R_b\!\left[z^{\text{post}}_{b,i} x^{\text{pre}}_{b,j}\right]
                  + \eta_{\text{pre}}\,  R_b\!\left[x^{\text{post}}_{b,i} z^{\text{pre}}_{b,j}\right]

where :math:`R_b` reduces over the batch (``batch_reduction``: ``"mean"``, Inferno's default,
``"sum"`` or ``"max"``). The first term is triggered by postsynaptic spikes, the second by
presynaptic ones. Inferno scales its traces by :math:`|\eta|` instead and applies the signs
afterwards; the result is the same. The signs of the learning rates select the rule:

=================  ========================  =======================  ==========================  ==========================
Mode               sign :math:`\eta_{post}`  sign :math:`\eta_{pre}`  potentiation (LTP) terms    depression (LTD) terms
=================  ========================  =======================  ==========================  ==========================
Hebbian            :math:`+`                 :math:`-`                :math:`\eta_{\text{post}}`  :math:`\eta_{\text{pre}}`
Anti-Hebbian       :math:`-`                 :math:`+`                :math:`\eta_{\text{pre}}`   :math:`\eta_{\text{post}}`
LTP only           :math:`+`                 :math:`+`                both                        none
LTD only           :math:`-`                 :math:`-`                none                        both
=================  ========================  =======================  ==========================  ==========================

The LTP terms form :math:`U_+ \ge 0` and the LTD terms :math:`U_- \ge 0`; an optional
``bound(w, U_+, U_-)`` (see :mod:`~spikejax.functional.plasticity.bounds`) makes the update
weight dependent, as Inferno's updater bounding does; without one, :math:`\Delta w = U_+ - U_-`.

Units: Inferno gives ``tc_post`` and ``tc_pre`` in **milliseconds**; they are kept in ms here
and converted at use (:math:`\tau^{-1} = 1000 / \text{tc}` in 1/s), while ``dt`` is in seconds
like everywhere in spikejax (Inferno's ``dt=1.0`` ms is ``dt=1e-3``).

Example:
    >>> import jax.numpy as jnp
    >>> from spikejax.functional.plasticity import InfernoSTDPParameters, inferno_stdp_step
    >>> p = InfernoSTDPParameters(lr_post=0.1, lr_pre=-0.05, tc_post=20.0, tc_pre=20.0)
    >>> w = jnp.zeros((1, 1))
    >>> dw, s = inferno_stdp_step(jnp.ones((1, 1)), jnp.zeros((1, 1)), None, w, p)
    >>> dw, s = inferno_stdp_step(jnp.zeros((1, 1)), jnp.ones((1, 1)), s, w, p)
    >>> dw  # 0.1 * exp(-1 / 20)
    Array([[0.09512]], dtype=float32)
"""

from __future__ import annotations

from typing import Callable, Optional

import jax
from flax import struct

from .._model import NeuronParameters, parameters_dataclass, check_dt
from ._common import (
    check_finite_fields,
    REDUCTIONS,
    apply_bound,
    check_choice,
    check_geometry,
    check_spikes,
    check_trace_state,
    correlate,
    float_dtype,
    geometry_of,
    split_signed,
    with_batch,
)
from .stdp import STDPState, stdp_state
from .traces import advance

__all__ = ["InfernoSTDPParameters", "inferno_stdp_step", "INFERNO_TRACE_MODES"]

#: Inferno's trace modes.
INFERNO_TRACE_MODES = ("cumulative", "nearest")


@parameters_dataclass
class InfernoSTDPParameters(NeuronParameters):
    """Parameters of Inferno's ``STDP`` trainer (time constants in ms, as Inferno).

    Attributes:
        lr_post: learning rate of updates on postsynaptic spikes, :math:`\\eta_{\\text{post}}`.
        lr_pre: learning rate of updates on presynaptic spikes, :math:`\\eta_{\\text{pre}}`
            (negative for Hebbian depression).
        tc_post: time constant of the postsynaptic trace, **ms** (positive).
        tc_pre: time constant of the presynaptic trace, **ms** (positive).
        trace_mode: ``"cumulative"`` (default) or ``"nearest"`` (static).
        batch_reduction: ``"mean"`` (default), ``"sum"`` or ``"max"`` (static).
        convolutional: weights are conv2d kernels, as in
            :class:`~spikejax.functional.plasticity.STDPParameters` (static).
        stride: convolution stride (static).
        padding: convolution zero padding on each side (static).
        dilation: convolution dilation (static).

    Example:
        >>> from spikejax.functional.plasticity import InfernoSTDPParameters
        >>> p = InfernoSTDPParameters(lr_post=1e-2, lr_pre=-1e-4)
        >>> p.tc_post, p.tc_pre, p.trace_mode        # time constants in ms
        (20.0, 20.0, 'cumulative')
    """

    lr_post: jax.typing.ArrayLike = 1e-3
    lr_pre: jax.typing.ArrayLike = -1e-3
    tc_post: jax.typing.ArrayLike = 20.0
    tc_pre: jax.typing.ArrayLike = 20.0
    trace_mode: str = struct.field(pytree_node=False, default="cumulative")
    batch_reduction: str = struct.field(pytree_node=False, default="mean")
    convolutional: bool = struct.field(pytree_node=False, default=False)
    stride: int = struct.field(pytree_node=False, default=1)
    padding: int = struct.field(pytree_node=False, default=0)
    dilation: int = struct.field(pytree_node=False, default=1)

    _positive = ("tc_post", "tc_pre")

    def __post_init__(self):
        NeuronParameters.__post_init__(self)
        check_finite_fields(self)
        check_choice("InfernoSTDPParameters.trace_mode", self.trace_mode, INFERNO_TRACE_MODES)
        check_choice("InfernoSTDPParameters.batch_reduction", self.batch_reduction, REDUCTIONS)
        check_geometry("InfernoSTDPParameters", geometry_of(self))

    @property
    def tau_post_inv(self):
        """The postsynaptic inverse time constant in 1/s, ``1000 / tc_post``."""
        return 1000.0 / self.tc_post

    @property
    def tau_pre_inv(self):
        """The presynaptic inverse time constant in 1/s, ``1000 / tc_pre``."""
        return 1000.0 / self.tc_pre


def inferno_stdp_step(
    pre: jax.Array,
    post: jax.Array,
    state: Optional[STDPState],
    w: jax.Array,
    p: InfernoSTDPParameters = InfernoSTDPParameters(),
    dt: float = 1e-3,
    *,
    bound: Optional[Callable] = None,
) -> tuple[jax.Array, STDPState]:
    """One step of Inferno-style pair STDP; see the module docstring.

    Args:
        pre: presynaptic spikes ``(B, pre)`` (conv2d: ``(B, C_in, H, W)``).
        post: postsynaptic spikes ``(B, post)`` (conv2d: ``(B, C_out, H', W')``).
        state: the previous :class:`~spikejax.functional.plasticity.STDPState` (unit-amplitude
            traces ``t_pre``, ``t_post``), or ``None`` for empty traces.
        w: weights ``(post, pre)`` (conv2d: ``(C_out, C_in, kh, kw)``).
        p: the parameters.
        dt: the step in **seconds**.
        bound: optional weight dependence ``bound(w, pos, neg) -> dw``, e.g.
            ``functools.partial(bound_power, w_min=0.0, w_max=1.0)``.

    Returns:
        ``(dw, state)``: the weight update and the new traces.

    Example:
        >>> import functools
        >>> import jax.numpy as jnp
        >>> from spikejax.functional.plasticity import bound_power, inferno_stdp_step
        >>> w = jnp.full((1, 2), 0.5)
        >>> bound = functools.partial(bound_power, w_min=0.0, w_max=1.0)
        >>> pre, post = jnp.array([[1.0, 0.0]]), jnp.ones((1, 1))
        >>> _, state = inferno_stdp_step(pre, 0 * post, None, w, bound=bound)   # input 0 spikes
        >>> dw, state = inferno_stdp_step(0 * pre, post, state, w, bound=bound)  # then the output
        >>> dw                       # (w_max - w) * lr_post * trace
        Array([[0.0004756, 0.        ]], dtype=float32)
    """
    g = geometry_of(p)
    check_spikes(pre, post, w, g)
    check_dt(dt)
    if state is None:
        state = stdp_state(pre.shape, post.shape, float_dtype(pre))
    check_trace_state(state, pre, post)
    t_pre = advance(pre, state.t_pre, p.tau_pre_inv, 1.0, dt, p.trace_mode)
    t_post = advance(post, state.t_post, p.tau_post_inv, 1.0, dt, p.trace_mode)
    pre_b = with_batch(pre, g).astype(t_pre.dtype)
    post_b = with_batch(post, g).astype(t_post.dtype)
    on_post = p.lr_post * correlate(post_b, with_batch(t_pre, g), w.shape, g, p.batch_reduction)
    on_pre = p.lr_pre * correlate(with_batch(t_post, g), pre_b, w.shape, g, p.batch_reduction)
    pos, neg = split_signed(on_post, on_pre)
    dw = apply_bound(bound, w, pos, neg)
    return dw.astype(w.dtype), STDPState(t_pre, t_post)
