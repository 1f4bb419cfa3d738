r"""Homeostasis: an adaptive threshold that rises with every spike and slowly relaxes (Diehl & Cook 2015).

Each neuron keeps a threshold offset :math:`\theta`, added to its firing threshold. Over a step
of ``dt`` seconds it decays exactly towards 0 and jumps by :math:`\alpha` per spike:

.. math::
    \theta \leftarrow \theta\, e^{-\Delta t\, \tau_\theta^{-1}} + \alpha z

so a neuron that fires a lot becomes harder to excite, which spreads the work over a layer
(Diehl & Cook's ``theta``; Inferno's threshold homeostasis). Use it with a neuron model by
raising the threshold, e.g. ``p.replace(v_th=v_th + state.theta)``.

With ``batch_reduction`` (``"mean"``, ``"sum"`` or ``"max"``) one :math:`\theta` is shared by
all batch entries (shape ``z.shape[1:]``), driven by the spikes reduced over the batch axis;
with ``None`` (default) :math:`\theta` has the shape of ``z``.

Defaults (Diehl & Cook 2015): :math:`\alpha = 0.05` (their ``theta_plus``, in mV there; here
in the units of the voltage), :math:`\tau_\theta = 10^7` ms, so ``tau_theta_inv = 1e-4`` 1/s.

Example:
    >>> import jax.numpy as jnp
    >>> from spikejax.functional.plasticity import adaptive_threshold_step
    >>> state = adaptive_threshold_step(jnp.array([1.0, 0.0]), None)
    >>> state.theta
    Array([0.05, 0.  ], dtype=float32)
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp

from .._model import NeuronParameters, parameters_dataclass, check_dt
from .._validate import check_array
from ._common import REDUCTIONS, check_choice, check_finite_fields, float_dtype, reduce_batch

__all__ = ["AdaptiveThresholdParameters", "AdaptiveThresholdState", "adaptive_threshold_step"]


@parameters_dataclass
class AdaptiveThresholdParameters(NeuronParameters):
    """Parameters of the adaptive threshold.

    Attributes:
        alpha: threshold increase per spike (non-negative).
        tau_theta_inv: inverse time constant of the decay, 1/s.

    Example:
        >>> from spikejax.functional.plasticity import AdaptiveThresholdParameters
        >>> p = AdaptiveThresholdParameters(alpha=0.1)
        >>> p.alpha, p.tau_theta_inv
        (0.1, 0.0001)
    """

    alpha: jax.typing.ArrayLike = 0.05
    tau_theta_inv: jax.typing.ArrayLike = 1.0 / 1e4

    _positive = ("tau_theta_inv",)
    _non_negative = ("alpha",)

    def __post_init__(self):
        NeuronParameters.__post_init__(self)
        check_finite_fields(self)


class AdaptiveThresholdState(NamedTuple):
    """The threshold offset ``theta``.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import plasticity as pl
        >>> state = pl.AdaptiveThresholdState(theta=jnp.array([0.0, 1.0]))
        >>> p = pl.AdaptiveThresholdParameters(tau_theta_inv=100.0)
        >>> pl.adaptive_threshold_step(jnp.zeros(2), state, p).theta   # decays without spikes
        Array([0.       , 0.9048], dtype=float32)
    """

    theta: jax.Array


def adaptive_threshold_step(
    z: jax.Array,
    state: Optional[AdaptiveThresholdState],
    p: AdaptiveThresholdParameters = AdaptiveThresholdParameters(),
    dt: float = 1e-3,
    *,
    batch_reduction: Optional[str] = None,
) -> AdaptiveThresholdState:
    """One step of the adaptive threshold; returns the new state.

    Args:
        z: spikes ``(B, N)`` (or any shape).
        state: the previous state, or ``None`` for ``theta = 0``.
        p: the parameters.
        dt: the step in seconds.
        batch_reduction: ``None`` (a ``theta`` per batch entry) or ``"mean"``, ``"sum"``,
            ``"max"`` (one ``theta`` of shape ``z.shape[1:]`` shared by the batch).

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional.plasticity import adaptive_threshold_step
        >>> z = jnp.array([[1.0, 0.0], [1.0, 1.0]])      # (B, N)
        >>> adaptive_threshold_step(z, None).theta       # one theta per batch entry
        Array([[0.05, 0.  ],
               [0.05, 0.05]], dtype=float32)
        >>> adaptive_threshold_step(z, None, batch_reduction="mean").theta   # shared
        Array([0.05 , 0.025], dtype=float32)
    """
    check_array("z", z)
    check_dt(dt)
    if batch_reduction is not None:
        check_choice("batch_reduction", batch_reduction, REDUCTIONS)
        if z.ndim < 1:
            raise ValueError("z must have a batch axis when batch_reduction is given, got a scalar")
        if z.shape[0] == 0:
            # A mean over no entries is NaN (and a max has no value): theta would be lost.
            raise ValueError(
                f"z has shape {tuple(z.shape)}: an empty batch (B = 0), expected at least one "
                f"batch entry for batch_reduction={batch_reduction!r}"
            )
    shape = tuple(z.shape if batch_reduction is None else z.shape[1:])
    if state is None:
        state = AdaptiveThresholdState(jnp.zeros(shape, float_dtype(z)))
    if tuple(jnp.shape(state.theta)) != shape:
        raise ValueError(
            f"state.theta has shape {tuple(jnp.shape(state.theta))}, expected {shape} (from z "
            f"{tuple(z.shape)} with batch_reduction={batch_reduction!r})"
        )
    theta = state.theta
    spikes = z.astype(theta.dtype)
    if batch_reduction is not None:
        spikes = reduce_batch(spikes, batch_reduction)
    decay = jnp.exp(-dt * jnp.asarray(p.tau_theta_inv, theta.dtype))
    return AdaptiveThresholdState((theta * decay + p.alpha * spikes).astype(theta.dtype))
