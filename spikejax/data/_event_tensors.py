"""Padded event batches, their dense ``(T, B, ...)`` tensors, and event augmentations in pure JAX."""

from __future__ import annotations

import functools
import math
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["Events", "pad_events", "events_to_dense", "time_shift", "time_jitter", "channel_shift", "drop_events"]


class Events(NamedTuple):
    """A batch of event streams padded to one length ``N``: the arrays of every event function.

    A sensor of shape ``sensor_shape`` (``(700,)`` for SHD's cochlea channels, ``(H, W, P)`` for a
    camera with ``P`` polarities) numbers its units in C order: the unit of the camera event at
    ``(y, x, p)`` is ``(y * W + x) * P + p``.

    Attributes:
        times: ``(B, N)`` float event times in seconds.
        units: ``(B, N)`` int32 unit (channel) indices into the flattened sensor.
        mask: ``(B, N)`` bool, true for real events, false for padding and dropped events.

    Example:
        >>> import numpy as np
        >>> events = Events(np.array([[0.001, 0.002]]), np.array([[3, 5]]), np.array([[True, False]]))
        >>> events.times.shape, int(events.mask.sum())
        ((1, 2), 1)
    """

    times: jax.Array
    units: jax.Array
    mask: jax.Array


def pad_events(samples: Sequence[tuple[np.ndarray, np.ndarray]], max_events: int | None = None) -> Events:
    """Stack ragged event streams ``[(times, units), ...]`` into one padded :class:`Events` (numpy).

    Args:
        samples: one ``(times, units)`` pair of 1-D arrays of equal length per sample, times in
            seconds.
        max_events: the padded length ``N``: a fixed value gives every batch the same shape (one
            compilation of a jitted step); default: the longest sample of these.

    Returns:
        :class:`Events` of numpy arrays: float32 times, int32 units and the mask, padding zeros.

    Raises:
        ValueError: a sample whose arrays are not 1-D of the same length, or with more than
            ``max_events`` events (nothing is cut silently).

    Example:
        >>> import numpy as np
        >>> events = pad_events([(np.array([0.1, 0.2]), np.array([4, 7])), (np.array([0.3]), np.array([1]))])
        >>> events.units.tolist(), events.mask.tolist()
        ([[4, 7], [1, 0]], [[True, True], [True, False]])
    """
    samples, lengths = list(samples), []
    for index, (times, units) in enumerate(samples):
        times, units = np.asarray(times), np.asarray(units)
        if times.ndim != 1 or times.shape != units.shape:
            raise ValueError(f"samples[{index}]: times and units must be 1-D of the same length, got shapes "
                             f"{times.shape} and {units.shape}")
        lengths.append(len(times))
    longest = max(lengths, default=0)
    if max_events is None:
        max_events = longest
    elif isinstance(max_events, bool) or not isinstance(max_events, (int, np.integer)) or max_events < 0:
        raise ValueError(f"max_events must be a non-negative int or None, got {max_events!r}")
    elif longest > max_events:
        index = int(np.argmax(lengths))
        raise ValueError(f"samples[{index}] has {longest} events, more than max_events={max_events}; "
                         f"pass a larger max_events (or None for the longest sample)")
    shape = (len(lengths), int(max_events))
    times_out, units_out = np.zeros(shape, np.float32), np.zeros(shape, np.int32)
    mask = np.zeros(shape, bool)
    for row, ((times, units), length) in enumerate(zip(samples, lengths)):
        times_out[row, :length], units_out[row, :length], mask[row, :length] = times, units, True
    return Events(times_out, units_out, mask)


def _check_events(events, name: str = "events") -> Events:
    if not isinstance(events, tuple) or len(events) != 3:
        raise TypeError(f"{name} must be an Events(times, units, mask) tuple, got {type(events).__name__}")
    events = Events(*events)
    shapes = [jnp.shape(field) for field in events]
    if len(shapes[0]) != 2 or len(set(shapes)) != 1:
        raise ValueError(f"{name}.times, .units and .mask must all have the shape (B, N), got shapes "
                         f"{shapes[0]}, {shapes[1]} and {shapes[2]}")
    return events


def _check_sensor(sensor_shape) -> tuple[int, ...]:
    if isinstance(sensor_shape, (int, np.integer)):
        sensor_shape = (sensor_shape,)
    shape = tuple(sensor_shape) if isinstance(sensor_shape, (tuple, list)) else None
    if not shape or not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n > 0 for n in shape):
        raise ValueError(f"sensor_shape must be a positive int or a tuple of them, got {sensor_shape!r}")
    return tuple(int(n) for n in shape)


def events_to_dense(
    events: Events,
    sensor_shape: int | Sequence[int],
    *,
    dt: float,
    steps: int,
    t_start: float = 0.0,
    binary: bool = False,
    dtype=jnp.float32,
) -> jax.Array:
    """Count the events of each unit in time bins of ``dt``: a time-major ``(T, B, *sensor_shape)`` tensor.

    Bin ``k`` holds the events with ``t_start + k * dt <= t < t_start + (k + 1) * dt`` (an event
    on a bin edge can land on either side by float rounding), for ``k < steps``. Events outside
    the ``steps`` bins, with a unit outside the sensor, or masked out are left out. Pure and
    jittable (``sensor_shape``, ``steps``, ``binary`` and ``dtype`` static; ``dt`` and
    ``t_start`` may be traced).

    Args:
        events: a padded batch (:class:`Events`), ``(B, N)`` each.
        sensor_shape: the shape of one frame, ``(C,)`` (or ``C``) for channels, ``(H, W, P)`` for
            a camera; units index it flattened in C order.
        dt: bin width in seconds.
        steps: number of bins ``T``.
        t_start: time of the first bin's start, in seconds.
        binary: 1 where a bin holds at least one event instead of the count.
        dtype: the output dtype.

    Returns:
        ``(steps, B, *sensor_shape)`` counts (or 0/1 with ``binary``).

    Example:
        >>> import numpy as np
        >>> events = pad_events([(np.array([0.0005, 0.0007, 0.0025]), np.array([1, 1, 2]))])
        >>> dense = events_to_dense(events, (3,), dt=1e-3, steps=3)
        >>> dense.shape, dense[:, 0].tolist()
        ((3, 1, 3), [[0.0, 2.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    """
    times, units, mask = _check_events(events)
    sensor_shape = _check_sensor(sensor_shape)
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if isinstance(dt, (int, float)) and not dt > 0:
        raise ValueError(f"dt must be a positive number of seconds, got {dt!r}")
    return _to_dense(times, units, mask, dt, t_start, sensor_shape=sensor_shape, steps=int(steps),
                     binary=bool(binary), dtype=jnp.dtype(dtype))


# The functions below run as one compiled program whether called eagerly or inside a jitted step,
# so both give the same bits (op-by-op, XLA would round some fused products differently).
@functools.partial(jax.jit, static_argnames=("sensor_shape", "steps", "binary", "dtype"))
def _to_dense(times, units, mask, dt, t_start, *, sensor_shape, steps, binary, dtype):
    batch, _ = times.shape
    size = math.prod(sensor_shape)
    bins = jnp.floor((jnp.asarray(times, jnp.float32) - t_start) / dt)
    keep = mask & (bins >= 0) & (bins < steps) & (units >= 0) & (units < size)
    rows = jnp.arange(batch, dtype=jnp.int32)[:, None]
    flat = (jnp.where(keep, bins, 0).astype(jnp.int32) * batch + rows) * size + jnp.where(keep, units, 0)
    counts = jnp.zeros(steps * batch * size, dtype).at[flat.ravel()].add(keep.ravel().astype(dtype))
    if binary:
        counts = (counts > 0).astype(dtype)
    return counts.reshape(steps, batch, *sensor_shape)


@jax.jit
def _shift_times(key, times, max_shift):
    shift = jax.random.uniform(key, (times.shape[0], 1), jnp.float32, -1.0, 1.0) * max_shift
    return times + shift.astype(times.dtype)


@jax.jit
def _jitter_times(key, times, std):
    return times + (jax.random.normal(key, times.shape, jnp.float32) * std).astype(times.dtype)


@jax.jit
def _shift_units(key, units, mask, max_shift, num_channels):
    shift = jax.random.randint(key, (units.shape[0], 1), -max_shift, max_shift + 1, jnp.int32)
    shifted = units.astype(jnp.int32) + shift
    return shifted, mask & (shifted >= 0) & (shifted < num_channels)


@jax.jit
def _drop(key, mask, rate):
    return mask & (jax.random.uniform(key, mask.shape) >= rate)


def _float_times(times):
    times = jnp.asarray(times)
    return times if jnp.issubdtype(times.dtype, jnp.floating) else times.astype(jnp.float32)


def _check_scale(name: str, value) -> None:
    if isinstance(value, (int, float)) and not value >= 0:
        raise ValueError(f"{name} must be a non-negative number, got {value!r}")


def time_shift(key: jax.Array, events: Events, max_shift: float) -> Events:
    """Shift every sample's events by one random time, uniform in ``[-max_shift, max_shift]`` seconds.

    A sample moves as a whole: the intervals between its events stay the same. Events shifted
    before the first bin or after the last are left out by :func:`events_to_dense`.

    Args:
        key: a ``jax.random`` key; the same key gives the same shifts.
        events: a padded batch (:class:`Events`).
        max_shift: the largest shift in seconds.

    Returns:
        The batch with shifted ``times``.

    Example:
        >>> import jax, numpy as np
        >>> events = pad_events([(np.array([0.1, 0.2]), np.array([0, 1]))])
        >>> shifted = time_shift(jax.random.key(0), events, 0.05)
        >>> round(float(shifted.times[0, 1] - shifted.times[0, 0]), 6)
        0.1
    """
    times, units, mask = _check_events(events)
    _check_scale("max_shift", max_shift)
    return Events(_shift_times(key, _float_times(times), max_shift), units, mask)


def time_jitter(key: jax.Array, events: Events, std: float) -> Events:
    """Add independent Gaussian noise of standard deviation ``std`` seconds to every event time.

    Args:
        key: a ``jax.random`` key; the same key gives the same noise.
        events: a padded batch (:class:`Events`).
        std: standard deviation in seconds.

    Returns:
        The batch with jittered ``times``.

    Example:
        >>> import jax, numpy as np
        >>> events = pad_events([(np.array([0.1, 0.2]), np.array([0, 1]))])
        >>> jittered = time_jitter(jax.random.key(0), events, 1e-3)
        >>> bool(abs(jittered.times - events.times).max() < 0.01)
        True
    """
    times, units, mask = _check_events(events)
    _check_scale("std", std)
    return Events(_jitter_times(key, _float_times(times), std), units, mask)


def channel_shift(key: jax.Array, events: Events, max_shift: int, num_channels: int) -> Events:
    """Shift every sample's channels by one random integer in ``[-max_shift, max_shift]``.

    SHD's channels are ordered by cochlear position (frequency), so a shift is a small change
    of pitch. Events pushed outside ``[0, num_channels)`` are masked out.

    Args:
        key: a ``jax.random`` key; the same key gives the same shifts.
        events: a padded batch (:class:`Events`) of a 1-D sensor.
        max_shift: the largest shift in channels.
        num_channels: the number of channels (700 for SHD and SSC).

    Returns:
        The batch with shifted ``units`` and the ``mask`` of the events still on the sensor.

    Example:
        >>> import jax, numpy as np
        >>> events = pad_events([(np.array([0.1, 0.2]), np.array([3, 5]))])
        >>> shifted = channel_shift(jax.random.key(0), events, 2, 700)
        >>> int(shifted.units[0, 1] - shifted.units[0, 0])
        2
    """
    times, units, mask = _check_events(events)
    for name, value, least in (("max_shift", max_shift, 0), ("num_channels", num_channels, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
            raise ValueError(f"{name} must be an int >= {least}, got {value!r}")
    return Events(times, *_shift_units(key, units, mask, max_shift, num_channels))


def drop_events(key: jax.Array, events: Events, rate: float) -> Events:
    """Drop every event independently with probability ``rate`` (clears its ``mask``).

    Args:
        key: a ``jax.random`` key; the same key drops the same events.
        events: a padded batch (:class:`Events`).
        rate: the probability of dropping an event, in ``[0, 1]``.

    Returns:
        The batch with the dropped events masked out.

    Example:
        >>> import jax, numpy as np
        >>> events = pad_events([(np.linspace(0, 1, 1000), np.zeros(1000, int))])
        >>> kept = drop_events(jax.random.key(0), events, 0.25).mask.mean()
        >>> bool(0.7 < kept < 0.8)
        True
    """
    times, units, mask = _check_events(events)
    if isinstance(rate, (int, float)) and not 0 <= rate <= 1:
        raise ValueError(f"rate must be a probability in [0, 1], got {rate!r}")
    return Events(times, units, _drop(key, mask, rate))
