r"""Encoders: values in, time-major spike trains ``(T, ...)`` out (population codes stay values).

Every random encoder takes an explicit ``jax.random`` key first: the same key gives the same
spikes. Lengths (``seq_length``, ``steps``, ``num_steps``) are static Python ints.

* Rate (Norse): :math:`z_t \sim \text{Bernoulli}(x f_{\max} \Delta t)` independently per step
  (:func:`poisson_encode`, :func:`signed_poisson_encode` with :math:`\operatorname{sign}(x)`).
* Homogeneous Poisson with a refractory period (Inferno): inter-spike intervals
  :math:`r + \text{Exp}`, so spikes are never closer than :math:`r`
  (:func:`homogeneous_poisson_encode`).
* Constant current (Norse): a LIF membrane without synaptic current driven by :math:`x`,
  :math:`v \leftarrow v + \Delta t \, \tau_{\text{mem}}^{-1} (v_{\text{leak}} - v + x)`, spiking
  at :math:`v > v_{\text{th}}` and resetting to :math:`v_{\text{reset}}`
  (:func:`lif_current_encoder`, :func:`constant_current_lif_encode`); keeping only the first
  spike gives a latency code (:func:`spike_latency_lif_encode`, :func:`spike_latency_encode`).
* Latency (snnTorch): one spike at :math:`t = \tau \ln \frac{x}{x - \theta}` (``"log"``) or
  :math:`t = \tau (1 - x)` (``"linear"``) steps (:func:`latency_encode`, :func:`latency_code`).
* Population (Norse): :math:`K(d(x, c_j) \cdot s)` for ``out_features`` centres :math:`c_j`
  evenly spaced on :math:`[0, s]` (:func:`population_encode`).
* Delta modulation (snnTorch): a spike where :math:`x_t - x_{t-1} \ge \theta`
  (:func:`delta_encode`).

Units: Norse's seconds (``dt=1e-3``) and hertz, except :func:`homogeneous_poisson_encode`,
which keeps Inferno's milliseconds for ``step_time`` and ``refrac``.

Inputs that would give silent spike trains are refused when they are concrete (outside ``jit``):
NaN or infinite values and rates (NaN never spikes), and negative intensities to the unsigned rate
codes (they never spike either; :func:`signed_poisson_encode` takes signed values).

Example:
    >>> import jax, jax.numpy as jnp
    >>> from spikejax.functional import poisson_encode, population_encode
    >>> spikes = poisson_encode(jax.random.key(0), jnp.full((2, 3), 0.5), seq_length=100)
    >>> spikes.shape
    (100, 2, 3)
    >>> population_encode(jnp.array([0.0, 0.5, 1.0]), out_features=3)[0].tolist()
    [1.0, 0.8825, 0.6065]
"""

from __future__ import annotations

import functools
import math
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from ._model import check_dt
from ._validate import (
    check_array,
    check_finite_value,
    check_int,
    check_key,
    check_non_negative,
    check_positive,
    is_concrete,
)

__all__ = [
    "poisson_encode",
    "poisson_encode_step",
    "signed_poisson_encode",
    "signed_poisson_encode_step",
    "homogeneous_poisson_encode",
    "gaussian_rbf",
    "euclidean_distance",
    "population_encode",
]

def _float_dtype(x: jax.Array):
    return x.dtype if jnp.issubdtype(x.dtype, jnp.floating) else jnp.dtype(jnp.float32)


def _check_rate_args(key, input_values, f_max, dt, signed: bool = False) -> None:
    check_key(key)
    check_array("input_values", input_values)
    check_finite_value("input_values", input_values)
    if not signed and is_concrete(input_values) and np.any(np.asarray(input_values) < 0):
        raise ValueError(
            f"input_values must be non-negative intensities (a negative one never spikes), got "
            f"a minimum of {np.min(np.asarray(input_values))}; use signed_poisson_encode for "
            f"signed values"
        )
    check_non_negative("f_max", f_max)
    check_finite_value("f_max", f_max)
    check_dt(dt)
    check_finite_value("dt", dt)


@functools.partial(jax.jit, static_argnames=("shape", "signed"))
def _bernoulli(key, input_values, shape, probability_scale, signed: bool = False) -> jax.Array:
    # Uniforms and probabilities in float32 even for bfloat16 inputs: an 8-bit mantissa would
    # quantise small spike probabilities and bias the rate.
    x = jnp.asarray(input_values, jnp.float32)
    magnitude = jnp.abs(x) if signed else x
    hits = jax.random.uniform(key, shape, jnp.float32) < probability_scale * magnitude
    out = jnp.sign(x) * hits if signed else hits
    return out.astype(_float_dtype(input_values))


def poisson_encode(key, input_values, seq_length: int, f_max=100.0, dt=1e-3) -> jax.Array:
    """Norse's Poisson (Bernoulli) rate code: a spike with probability ``x * f_max * dt`` per step.

    Args:
        key: a ``jax.random`` key.
        input_values: intensities, usually in ``[0, 1]``, any shape (usually ``(B, ...)``).
        seq_length: the number of steps ``T``.
        f_max: the rate in Hz of an input of 1 (Norse: 100).
        dt: the step in seconds.

    Returns:
        Spikes (0 or 1) of shape ``(T, *input_values.shape)`` in the input's floating dtype.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> spikes = poisson_encode(jax.random.key(1), jnp.ones((4, 5)), 10, f_max=1000)
        >>> spikes.shape, float(spikes.mean())      # probability 1000 Hz * 1 ms = 1
        ((10, 4, 5), 1.0)
    """
    _check_rate_args(key, input_values, f_max, dt)
    length = check_int("seq_length", seq_length)
    return _bernoulli(key, input_values, (length,) + input_values.shape, dt * f_max)


def poisson_encode_step(key, input_values, f_max=1000.0, dt=1e-3) -> jax.Array:
    """One step of :func:`poisson_encode`, shape of ``input_values`` (Norse's default f_max=1000).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> poisson_encode_step(jax.random.key(0), jnp.array([0.0, 1.0]))
        Array([0., 1.], dtype=float32)
    """
    _check_rate_args(key, input_values, f_max, dt)
    return _bernoulli(key, input_values, input_values.shape, dt * f_max)


def signed_poisson_encode(key, input_values, seq_length: int, f_max=100.0, dt=1e-3) -> jax.Array:
    """Norse's signed rate code: ``sign(x)`` with probability ``|x| * f_max * dt`` per step.

    Args:
        key: a ``jax.random`` key.
        input_values: values, usually in ``[-1, 1]``, any shape.
        seq_length: the number of steps ``T``.
        f_max: the rate in Hz of an input of magnitude 1.
        dt: the step in seconds.

    Returns:
        Values in ``{-1, 0, 1}`` of shape ``(T, *input_values.shape)``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> signed_poisson_encode(jax.random.key(0), jnp.array([-1.0, 0.0, 1.0]), 2, f_max=1000)
        Array([[-1.,  0.,  1.],
               [-1.,  0.,  1.]], dtype=float32)
    """
    _check_rate_args(key, input_values, f_max, dt, signed=True)
    length = check_int("seq_length", seq_length)
    return _bernoulli(key, input_values, (length,) + input_values.shape, dt * f_max, signed=True)


def signed_poisson_encode_step(key, input_values, f_max=1000.0, dt=1e-3) -> jax.Array:
    """One step of :func:`signed_poisson_encode` (Norse's default f_max=1000).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from spikejax.functional import signed_poisson_encode_step
        >>> spikes = signed_poisson_encode_step(jax.random.key(0), jnp.array([-1.0, 0.0, 1.0]))
        >>> spikes.shape, bool(spikes[1] == 0)      # +-1 spikes with probability |x| f_max dt
        ((3,), True)
    """
    _check_rate_args(key, input_values, f_max, dt, signed=True)
    return _bernoulli(key, input_values, input_values.shape, dt * f_max, signed=True)


def homogeneous_poisson_encode(
    key, input_values, steps: int, step_time: float, frequency, *, refrac=None, compensate=True
) -> jax.Array:
    r"""Inferno's homogeneous Poisson encoder: exponential intervals plus a refractory period.

    Spike times follow a renewal process whose intervals, in steps, are
    :math:`r + \lambda'^{-1} E` with :math:`E \sim \text{Exp}(1)`, where :math:`\lambda = f x \Delta t`
    is the requested number of spikes per step and :math:`r` the refractory period in steps. With
    ``compensate=True`` the underlying rate is raised to :math:`\lambda' = \lambda / (1 - \lambda r)`
    so that the mean interval is :math:`1/\lambda` and the effective rate is the requested
    :math:`f x`; otherwise :math:`\lambda' = \lambda` and the effective rate is
    :math:`f x / (1 + f x \cdot \text{refrac})`. Each event falls in step
    :math:`\lfloor t \rfloor`; as in Inferno the first interval also starts with :math:`r`, so
    no spike comes before step :math:`r`.

    Units are Inferno's: ``step_time`` and ``refrac`` in milliseconds, ``frequency`` in Hz. In
    Norse's units, ``dt = step_time / 1000`` seconds and ``f_max = frequency``.

    Args:
        key: a ``jax.random`` key.
        input_values: intensities in ``[0, 1]`` (non-negative), any shape; the rate is
            ``frequency * input_values``.
        steps: the number of steps ``T``.
        step_time: the step :math:`\Delta t` in ms.
        frequency: the rate in Hz of an input of 1.
        refrac: the refractory period in ms; ``None`` means one step. A step holds at most one
            spike, so it is rounded up to whole steps (at least one): two spikes are never
            closer than ``refrac``. (Inferno 0.x ignores a given ``refrac`` and always uses
            ``step_time``; this follows its documentation.)
        compensate: raise the underlying rate so that the effective rate is the requested one.
            Needs ``frequency * input_values * refrac < 1000`` (Hz times ms); under ``jit``, where
            this cannot be checked, larger rates saturate at one spike per refractory period.

    Returns:
        Spikes (0 or 1) of shape ``(T, *input_values.shape)``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> spikes = homogeneous_poisson_encode(jax.random.key(0), jnp.ones(3), 1000, 1.0, 100.0,
        ...                                     refrac=5.0)
        >>> spikes.shape
        (1000, 3)
        >>> bool(jnp.all(jnp.diff(jnp.nonzero(spikes[:, 0])[0]) >= 5))
        True
    """
    check_key(key)
    check_array("input_values", input_values)
    length = check_int("steps", steps)
    if not is_concrete(step_time):
        raise TypeError(f"step_time must be a concrete number of ms, got {type(step_time).__name__}")
    check_positive("step_time", step_time)
    check_finite_value("step_time", step_time)
    check_non_negative("frequency", frequency)
    check_finite_value("frequency", frequency)
    check_finite_value("input_values", input_values)
    check_non_negative("input_values", input_values)
    if refrac is not None:
        if not is_concrete(refrac):
            raise TypeError(f"refrac must be a concrete number of ms or None, got {type(refrac).__name__}")
        check_non_negative("refrac", refrac)
        check_finite_value("refrac", refrac)
    ratio = 1.0 if refrac is None else float(refrac) / float(step_time)
    # Round up (bar float noise such as 0.3 / 0.1 = 3.0000000000000004) so spikes keep refrac apart.
    refrac_steps = max(1, math.ceil(ratio - 1e-9))
    if compensate and is_concrete(frequency) and is_concrete(input_values) and input_values.size:
        top = float(np.max(np.asarray(frequency))) * float(np.max(np.asarray(input_values)))
        if top * refrac_steps * float(step_time) >= 1000.0:
            raise ValueError(
                f"frequency * input_values * refrac must be below 1000 (Hz times ms) with "
                f"compensate=True, got a rate of {top} Hz and refrac {refrac_steps * float(step_time)}"
                f" ms ({refrac_steps} steps); lower the rate or refrac, or pass compensate=False"
            )
    return _renewal_spikes(
        key, input_values, frequency, float(step_time), length, refrac_steps, bool(compensate)
    )


@functools.partial(jax.jit, static_argnums=(4, 5, 6))
def _renewal_spikes(key, input_values, frequency, step_time, length, refrac_steps, compensate):
    """The spikes of :func:`homogeneous_poisson_encode` (arguments already checked)."""
    rate = jnp.asarray(frequency, jnp.float32) * jnp.asarray(input_values, jnp.float32)
    rate = rate * (step_time / 1000.0)  # expected spikes per step
    active = rate > 0
    mean_interval = 1.0 / jnp.where(active, rate, 1.0)
    scale = jnp.maximum(mean_interval - refrac_steps, 0.0) if compensate else mean_interval
    # At most one spike per refractory period fits, so this many intervals cover all steps.
    count = max(1, length // refrac_steps)
    jitter = jnp.cumsum(jax.random.exponential(key, (count,) + rate.shape) * scale, axis=0)
    # The integer refractory part is added exactly; cummax guards against non-monotone float
    # prefix sums, so consecutive spikes stay at least refrac_steps apart.
    jitter = jax.lax.cummax(jnp.floor(jnp.minimum(jitter, float(length))), axis=0)
    dead = (jnp.arange(1, count + 1) * refrac_steps).reshape((count,) + (1,) * rate.ndim)
    index = jnp.where(active, jnp.minimum(dead + jitter, float(length)), float(length))
    flat = index.astype(jnp.int32).reshape(count, -1)
    spikes = jnp.zeros((length + 1, flat.shape[1]), _float_dtype(input_values))
    spikes = spikes.at[flat, jnp.arange(flat.shape[1])].set(1)[:-1]
    return spikes.reshape((length,) + rate.shape)


def gaussian_rbf(tensor, sigma=1.0) -> jax.Array:
    r"""Gaussian radial basis kernel of a distance :math:`d`: :math:`\exp(-d / (2\sigma^2))`.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import gaussian_rbf
        >>> gaussian_rbf(jnp.array([0.0, 2.0]), sigma=1.0)    # exp(-d / 2)
        Array([1.        , 0.3679], dtype=float32)
    """
    check_positive("sigma", sigma)
    return jnp.exp(-tensor / (2 * sigma**2))


def euclidean_distance(x, y) -> jax.Array:
    """Norse's ``euclidean_distance``: the squared difference ``(x - y) ** 2``.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import euclidean_distance
        >>> euclidean_distance(jnp.array([1.0, 3.0]), jnp.array([0.0, 1.0]))
        Array([1., 4.], dtype=float32)
    """
    return (x - y) ** 2


def population_encode(
    input_values,
    out_features: int,
    scale=None,
    kernel: Callable = gaussian_rbf,
    distance_function: Callable = euclidean_distance,
) -> jax.Array:
    r"""Norse's population code: each value becomes ``out_features`` receptive-field activations.

    .. math::
        y_{\dots j} = K\bigl(d(x, c_j) \, s\bigr), \qquad c_j = \frac{j s}{F - 1}

    with :math:`F` = ``out_features`` centres on :math:`[0, s]`. As in Norse the distance is
    also multiplied by the scale :math:`s`. The result holds values, not spikes: feed it to
    :func:`poisson_encode` for spikes.

    Args:
        input_values: values, any shape.
        out_features: the number of centres :math:`F`.
        scale: :math:`s`, a positive number or an array broadcastable to ``input_values``
            (one scale per sample); ``None`` takes the maximum of ``input_values``.
        kernel: maps scaled distances to activations (:func:`gaussian_rbf`).
        distance_function: ``d(x, centres)`` (:func:`euclidean_distance`).

    Returns:
        Activations of shape ``(*input_values.shape, out_features)``.

    Example:
        >>> import jax.numpy as jnp
        >>> population_encode(jnp.array([0.0, 0.5, 1.0]), out_features=3).tolist()
        [[1.0, 0.8825, 0.6065],
         [0.8825, 1.0, 0.8825],
         [0.6065, 0.8825, 1.0]]
    """
    check_array("input_values", input_values)
    features = check_int("out_features", out_features)
    for name, fn in (("kernel", kernel), ("distance_function", distance_function)):
        if not callable(fn):
            raise TypeError(f"{name} must be callable, got {type(fn).__name__}")
    x = jnp.asarray(input_values, _float_dtype(input_values))
    if scale is None:
        scale = jnp.max(x)
    else:
        check_positive("scale", scale)
        scale = jnp.asarray(scale, x.dtype)
        try:
            fits = jnp.broadcast_shapes(scale.shape, x.shape) == x.shape
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(
                f"scale has shape {tuple(scale.shape)}, expected a shape broadcastable to "
                f"{tuple(x.shape)} (the shape of input_values)"
            )
    scale = scale[..., None]
    centres = jnp.linspace(0.0, 1.0, features, dtype=x.dtype) * scale
    return kernel(distance_function(x[..., None], centres) * scale)


# The temporal codes live in their own module; they are part of this module's interface too.
from .temporal_encode import *  # noqa: E402,F401,F403
from .temporal_encode import __all__ as _temporal_all  # noqa: E402

__all__ += _temporal_all
