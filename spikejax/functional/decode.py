r"""Decoders: time-major sequences ``(T, ...)`` in, one value per neuron out.

All of them reduce the leading time axis:

* :func:`sum_decode` :math:`\sum_t x_t` (Norse's ``sum_decode``), :func:`mean_decode`
  :math:`\frac{1}{T}\sum_t x_t`, :func:`rate_decode` :math:`\frac{1}{T \Delta t}\sum_t z_t` in Hz,
  :func:`max_decode` :math:`\max_t x_t`, :func:`spike_count_decode` (integer counts);
* :func:`last_membrane`: :math:`v_T`, the final voltage of a leaky-integrator readout;
* :func:`spikes_to_times` (Norse's ``ToSpikeTimes``): the first ``spike_count`` spike times,
  ``inf`` where a neuron spiked less often, with Norse's gradient (``-1`` at each returned spike);
  :func:`first_spike_time`: the first one, with a finite value where there is none.

A sequence of ``T = 0`` steps has no mean, maximum, last value or spike time: those decoders raise
a ``ValueError`` naming the argument and its shape rather than return NaN or fail inside JAX.
:func:`sum_decode` and :func:`spike_count_decode` return zeros for it (nothing summed, no spikes).

Example:
    >>> import jax.numpy as jnp
    >>> from spikejax.functional import sum_decode, first_spike_time
    >>> spikes = jnp.array([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])     # (T=3, N=2)
    >>> sum_decode(spikes)
    Array([2., 1.], dtype=float32)
    >>> first_spike_time(spikes)
    Array([1., 0.], dtype=float32)
"""

from __future__ import annotations

import functools
from typing import Optional

import jax
import jax.numpy as jnp

from ._model import check_dt
from ._validate import check_min_rank, check_rank, is_concrete
from ._validate import check_int

__all__ = [
    "sum_decode",
    "mean_decode",
    "rate_decode",
    "max_decode",
    "spike_count_decode",
    "last_membrane",
    "spikes_to_times",
    "first_spike_time",
]

_SEQUENCE = "(T, ...)"


def _check_steps(name: str, tensor, layout: str = _SEQUENCE) -> None:
    """``ValueError`` for ``T = 0``, where the decoder's result would be NaN or undefined."""
    if tensor.shape[0] == 0:
        raise ValueError(
            f"{name} has shape {tuple(tensor.shape)} with layout {layout}: T = 0 steps, expected "
            f"at least one step to decode"
        )


def sum_decode(tensor) -> jax.Array:
    """The sum over time (axis 0) of a ``(T, ...)`` sequence, e.g. spike counts as floats.

    Example:
        >>> import jax.numpy as jnp
        >>> sum_decode(jnp.ones((4, 2, 3))).shape
        (2, 3)
    """
    check_min_rank("tensor", tensor, 1, _SEQUENCE)
    return jnp.sum(tensor, axis=0)


def mean_decode(tensor) -> jax.Array:
    """The mean over time of a ``(T, ...)`` sequence: spikes per step for a spike train.

    Example:
        >>> import jax.numpy as jnp
        >>> mean_decode(jnp.array([[1.0], [0.0], [0.0], [1.0]]))
        Array([0.5], dtype=float32)
    """
    check_min_rank("tensor", tensor, 1, _SEQUENCE)
    _check_steps("tensor", tensor)
    return jnp.mean(tensor, axis=0)


def rate_decode(spikes, dt=1e-3) -> jax.Array:
    """The firing rate in Hz of a ``(T, ...)`` spike train with steps of ``dt`` seconds.

    Example:
        >>> import jax.numpy as jnp
        >>> rate_decode(jnp.array([[1.0], [0.0], [0.0], [1.0]]), dt=1e-3)
        Array([500.], dtype=float32)
    """
    check_min_rank("spikes", spikes, 1, _SEQUENCE)
    _check_steps("spikes", spikes)
    check_dt(dt)
    return jnp.mean(spikes, axis=0) / dt


def max_decode(tensor) -> jax.Array:
    """The maximum over time of a ``(T, ...)`` sequence (e.g. of a readout's voltage).

    Example:
        >>> import jax.numpy as jnp
        >>> max_decode(jnp.array([[0.1, 0.5], [0.3, -1.0]]))
        Array([0.3, 0.5], dtype=float32)
    """
    check_min_rank("tensor", tensor, 1, _SEQUENCE)
    _check_steps("tensor", tensor)
    return jnp.max(tensor, axis=0)


def spike_count_decode(spikes) -> jax.Array:
    """The number of spikes (positive entries) per neuron over time, as ``int32`` (no gradient).

    Example:
        >>> import jax.numpy as jnp
        >>> spike_count_decode(jnp.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))
        Array([2, 1], dtype=int32)
    """
    check_min_rank("spikes", spikes, 1, _SEQUENCE)
    return jnp.sum(spikes > 0, axis=0, dtype=jnp.int32)


def last_membrane(voltages) -> jax.Array:
    """The final membrane voltage ``v[T - 1]`` of a leaky-integrator readout ``(T, B, N)``.

    Example:
        >>> import jax.numpy as jnp
        >>> last_membrane(jnp.arange(12.0).reshape(2, 2, 3))
        Array([[ 6.,  7.,  8.],
               [ 9., 10., 11.]], dtype=float32)
    """
    check_rank("voltages", voltages, 3, "(T, B, N)")
    _check_steps("voltages", voltages, "(T, B, N)")
    return voltages[-1]


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _spike_indices(spikes, count):
    return _spike_indices_fwd(spikes, count)[0]


def _spike_indices_fwd(spikes, count):
    steps = spikes.shape[0]
    dtype = jnp.result_type(spikes.dtype, jnp.float32)
    index = jnp.arange(steps, dtype=dtype).reshape((steps,) + (1,) * (spikes.ndim - 1))
    index = jnp.where(spikes > 0, index, jnp.inf)
    times = jnp.min(index, axis=0, keepdims=True) if count == 1 else jnp.sort(index, axis=0)[:count]
    # A zero-size array carries the number of steps and the dtype of spikes into the backward.
    return times, (times, jnp.zeros((steps, 0), spikes.dtype))


def _spike_indices_bwd(count, residuals, grad):
    # Norse's ToSpikeTimes: each returned spike gets the gradient -1 (times the incoming one).
    times, like = residuals
    steps = like.shape[0]
    rows = jnp.where(jnp.isfinite(times), times, steps).astype(jnp.int32).reshape(times.shape[0], -1)
    columns = jnp.arange(rows.shape[1])
    flat = jnp.zeros((steps, rows.shape[1]), grad.dtype)
    flat = flat.at[rows, columns].set(-grad.reshape(rows.shape), mode="drop")
    return (flat.reshape((steps,) + times.shape[1:]).astype(like.dtype),)


_spike_indices.defvjp(_spike_indices_fwd, _spike_indices_bwd)


def spikes_to_times(spikes, spike_count: int = 1, *, dt: Optional[float] = None) -> jax.Array:
    """Norse's ``ToSpikeTimes``: the times of each neuron's first ``spike_count`` spikes.

    Args:
        spikes: spikes ``(T, ...)``; a spike is a positive entry.
        spike_count: how many spike times to return per neuron (at most ``T`` are).
        dt: ``None`` returns step indices; a step in seconds returns times ``index * dt``
            (Norse's ``SpikesToTimesDecoder`` with ``convert_indices_to_times=True``).

    Returns:
        Ascending times ``(min(spike_count, T), ...)`` in float32 (or wider), ``inf`` where a
        neuron spiked fewer times. The gradient with respect to ``spikes`` is ``-1`` at every
        returned spike and 0 elsewhere, as in Norse.

    Example:
        >>> import jax.numpy as jnp
        >>> spikes_to_times(jnp.array([[0.0, 0.0], [1.0, 0.0], [1.0, 0.0]]), spike_count=2)
        Array([[ 1., inf],
               [ 2., inf]], dtype=float32)
    """
    check_min_rank("spikes", spikes, 1, _SEQUENCE)
    _check_steps("spikes", spikes)
    count = min(check_int("spike_count", spike_count), spikes.shape[0])
    if dt is not None:
        check_dt(dt)
    times = _spike_indices(spikes, count)
    return times if dt is None else times * dt


def first_spike_time(spikes, *, dt: Optional[float] = None, fill=None) -> jax.Array:
    """The time of each neuron's first spike, or ``fill`` where it never spiked.

    Args:
        spikes: spikes ``(T, ...)``; a spike is a positive entry.
        dt: ``None`` for step indices, or a step in seconds for times ``index * dt``.
        fill: the value for neurons without a spike; ``None`` means ``T`` (one step past the
            end: ``T`` steps, or ``T * dt`` seconds), which keeps losses finite. Pass
            ``jnp.inf`` for Norse's convention.

    Returns:
        Times of shape ``spikes.shape[1:]``, with the gradient of :func:`spikes_to_times`.

    Example:
        >>> import jax.numpy as jnp
        >>> first_spike_time(jnp.array([[0.0, 0.0], [1.0, 0.0]]), dt=1e-3)
        Array([0.001, 0.002], dtype=float32)
    """
    check_min_rank("spikes", spikes, 1, _SEQUENCE)
    _check_steps("spikes", spikes)
    if dt is not None:
        check_dt(dt)
    if fill is None:
        fill = spikes.shape[0] * (1.0 if dt is None else dt)
    elif is_concrete(fill) and jnp.any(jnp.isnan(jnp.asarray(fill))):
        raise ValueError(f"fill must be a number (or inf), got {fill!r}")
    times = spikes_to_times(spikes, 1, dt=dt)[0]
    return jnp.where(jnp.isinf(times), jnp.asarray(fill, times.dtype), times)
