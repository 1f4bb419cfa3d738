r"""Spike traces: low-pass filtered spike trains that plasticity rules read.

A trace :math:`x` follows a spike train :math:`z \in \{0, 1\}` with inverse time constant
:math:`\tau^{-1}` (in 1/s) and amplitude :math:`a`. Three discretisations over a step of
``dt`` seconds are offered:

``mode="norse"`` (Norse's ``STDPState.decay``, one forward-Euler step):

.. math::
    x \leftarrow x + \Delta t\, \tau^{-1} (-x + a z)

so a lone spike lifts the trace by :math:`a \Delta t \tau^{-1}` (0.02 for 1 ms and 20 ms).

``mode="cumulative"`` (Inferno's cumulative trace; exact decay, every spike adds :math:`a`):

.. math::
    x \leftarrow x\, e^{-\Delta t \tau^{-1}} + a z

``mode="nearest"`` (Inferno's nearest-spike trace; a spike resets the trace to :math:`a`,
so only the latest spike counts):

.. math::
    x \leftarrow \begin{cases} a & z > 0 \\ x\, e^{-\Delta t \tau^{-1}} & z = 0 \end{cases}

Inferno gives its time constants in ms: :math:`\tau^{-1} = 1000 / \tau_{\text{ms}}`.

Example:
    >>> import jax.numpy as jnp
    >>> from spikejax.functional.plasticity import trace_step
    >>> x = trace_step(jnp.ones(2), jnp.zeros(2), 20.0)
    >>> trace_step(jnp.zeros(2), x, 20.0)
    Array([0.0196, 0.0196], dtype=float32)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .._model import check_dt
from .._validate import check_array, check_positive
from ._common import check_choice

__all__ = ["TRACE_MODES", "trace_step"]

#: The trace discretisations :func:`trace_step` knows.
TRACE_MODES = ("norse", "cumulative", "nearest")


def trace_step(
    z: jax.Array,
    trace: jax.Array,
    tau_inv: jax.typing.ArrayLike,
    a: jax.typing.ArrayLike = 1.0,
    dt: float = 1e-3,
    *,
    mode: str = "norse",
) -> jax.Array:
    """One step of a spike trace; see the module docstring for the three ``mode``\\ s.

    Args:
        z: spikes of this step (0 or 1), the shape of ``trace``.
        trace: the previous trace.
        tau_inv: inverse time constant in 1/s (positive).
        a: the trace amplitude.
        dt: the step in seconds.
        mode: ``"norse"`` (Euler, the default), ``"cumulative"`` or ``"nearest"``.

    Returns:
        The new trace, in the dtype of ``trace``.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional.plasticity import trace_step
        >>> trace = jnp.zeros(3)
        >>> for z in ([1.0, 1.0, 0.0], [0.0, 1.0, 0.0]):
        ...     trace = trace_step(jnp.array(z), trace, tau_inv=100.0, mode="cumulative")
        >>> trace                    # times exp(-dt * tau_inv) per step, +1 per spike
        Array([0.9048, 1.9048, 0.       ], dtype=float32)
        >>> trace_step(jnp.ones(3), trace, tau_inv=100.0, mode="nearest")   # reset to a on a spike
        Array([1., 1., 1.], dtype=float32)
    """
    check_choice("mode", mode, TRACE_MODES)
    check_array("z", z)
    check_array("trace", trace)
    check_positive("tau_inv", tau_inv)
    check_dt(dt)
    if jnp.shape(z) != jnp.shape(trace):
        raise ValueError(
            f"z has shape {tuple(jnp.shape(z))}, expected {tuple(jnp.shape(trace))} "
            "(the shape of trace)"
        )
    return advance(z, trace, tau_inv, a, dt, mode)


def advance(z, trace, tau_inv, a, dt, mode: str) -> jax.Array:
    """:func:`trace_step` without the argument checks (for rules that checked already)."""
    z = z.astype(trace.dtype)
    if mode == "norse":
        new = trace + dt * tau_inv * (-trace + a * z)
    else:
        decayed = trace * jnp.exp(-dt * jnp.asarray(tau_inv, trace.dtype))
        if mode == "cumulative":
            new = decayed + a * z
        else:
            new = jnp.where(z > 0, jnp.asarray(a, trace.dtype), decayed)
    return new.astype(trace.dtype)
