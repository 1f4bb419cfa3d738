r"""Temporal codes: when a spike comes carries the value.

* Constant current (Norse): a LIF membrane without synaptic current driven by :math:`x`,
  :math:`v \leftarrow v + \Delta t \, \tau_{\text{mem}}^{-1} (v_{\text{leak}} - v + x)`, spiking
  at :math:`v > v_{\text{th}}` and resetting to :math:`v_{\text{reset}}`
  (:func:`lif_current_encoder`, :func:`constant_current_lif_encode`); keeping only the first
  spike gives a latency code (:func:`spike_latency_lif_encode`, :func:`spike_latency_encode`).
* Latency (snnTorch): one spike at :math:`t = \tau \ln \frac{x}{x - \theta}` (``"log"``) or
  :math:`t = \tau (1 - x)` (``"linear"``) steps (:func:`latency_encode`, :func:`latency_code`).
* Delta modulation (snnTorch): a spike where :math:`x_t - x_{t-1} \ge \theta`
  (:func:`delta_encode`).

All are re-exported by :mod:`spikejax.functional.encode` and :mod:`spikejax.functional`.

Example:
    >>> import jax.numpy as jnp
    >>> from spikejax.functional import constant_current_lif_encode
    >>> constant_current_lif_encode(jnp.array([2.0]), seq_length=20).sum()
    Array(..., dtype=float32)
"""

from __future__ import annotations


import jax
import jax.numpy as jnp

from ._model import check_dt
from ._validate import (
    check_array,
    check_finite_value,
    check_int,
    check_min_rank,
    check_non_negative,
    check_positive,
    check_range,
    is_concrete,
)
from .integrate import run
from .lif import LIFParameters
from .surrogate import threshold as _spike

__all__ = [
    "lif_current_encoder",
    "constant_current_lif_encode",
    "spike_latency_lif_encode",
    "spike_latency_encode",
    "latency_code",
    "latency_encode",
    "LATENCY_METHODS",
    "delta_encode",
]

#: The latency codes of :func:`latency_encode`: snnTorch's logarithmic and linear codes.
LATENCY_METHODS = ("log", "linear")


def _float_dtype(x: jax.Array):
    return x.dtype if jnp.issubdtype(x.dtype, jnp.floating) else jnp.dtype(jnp.float32)


def lif_current_encoder(input_current, voltage, p: LIFParameters = LIFParameters(), dt=1e-3):
    r"""One Euler step of Norse's current encoder: a LIF membrane driven directly by the input.

    .. math::
        v \leftarrow v + \Delta t \, \tau_{\text{mem}}^{-1} (v_{\text{leak}} - v + i), \quad
        z = \Theta(v - v_{\text{th}}), \quad v \leftarrow v - z (v - v_{\text{reset}})

    Args:
        input_current: the input current :math:`i`, any shape.
        voltage: the membrane voltage, the shape of ``input_current``.
        p: LIF parameters (``tau_syn_inv`` is unused); the spike uses ``p.method``/``p.alpha``.
        dt: the step in seconds.

    Returns:
        ``(z, v)``: the spikes and the new voltage.

    Example:
        >>> import jax.numpy as jnp
        >>> z, v = lif_current_encoder(jnp.ones(2), jnp.zeros(2))
        >>> v
        Array([0.1, 0.1], dtype=float32)
    """
    check_array("input_current", input_current)
    check_array("voltage", voltage)
    check_dt(dt)
    if voltage.shape != input_current.shape:
        raise ValueError(
            f"voltage has shape {tuple(voltage.shape)}, expected {tuple(input_current.shape)} "
            f"(the shape of input_current)"
        )
    voltage = voltage + dt * p.tau_mem_inv * ((p.v_leak - voltage) + input_current)
    z = _spike(voltage - p.v_th, p.method, p.alpha)
    return z, voltage - z * (voltage - p.v_reset)


def constant_current_lif_encode(
    input_current, seq_length: int, p: LIFParameters = LIFParameters(), dt=1e-3
) -> jax.Array:
    """Norse's constant-current encoder: :func:`lif_current_encoder` for ``seq_length`` steps.

    The membrane starts at 0 (as in Norse, whatever ``v_leak``). Differentiable through the
    surrogate in ``p``.

    Args:
        input_current: the constant input current, any shape.
        seq_length: the number of steps ``T``.
        p: LIF parameters.
        dt: the step in seconds.

    Returns:
        Spikes of shape ``(T, *input_current.shape)``.

    Example:
        >>> import jax.numpy as jnp
        >>> constant_current_lif_encode(jnp.array([2.0, 4.0, 8.0, 16.0]), seq_length=2)
        Array([[0., 0., 0., 1.],
               [0., 0., 1., 1.]], dtype=float32)
    """
    check_array("input_current", input_current)
    check_finite_value("input_current", input_current)
    length = check_int("seq_length", seq_length)
    check_dt(dt)
    current = jnp.asarray(input_current, _float_dtype(input_current))
    step = lambda x, v: lif_current_encoder(x, v, p, dt)
    _, spikes = run(step, jnp.zeros_like(current), jnp.broadcast_to(current, (length,) + current.shape))
    return spikes


def spike_latency_lif_encode(
    input_current, seq_length: int, p: LIFParameters = LIFParameters(), dt=1e-3
) -> jax.Array:
    """Norse's LIF latency code: the first spike of :func:`constant_current_lif_encode` only.

    Example:
        >>> import jax.numpy as jnp
        >>> spike_latency_lif_encode(jnp.array([8.0, 16.0]), seq_length=3)
        Array([[0., 1.],
               [1., 0.],
               [0., 0.]], dtype=float32)
    """
    return spike_latency_encode(constant_current_lif_encode(input_current, seq_length, p, dt))


def spike_latency_encode(input_spikes) -> jax.Array:
    """Norse's latency filter: keep each neuron's first spike (first positive entry), drop the rest.

    Args:
        input_spikes: spikes ``(T, ...)``.

    Returns:
        Spikes of the same shape with at most one spike per neuron.

    Example:
        >>> import jax.numpy as jnp
        >>> spike_latency_encode(jnp.array([[0, 1, 1], [1, 1, 1]]))
        Array([[0, 1, 1],
               [1, 0, 0]], dtype=int32)
    """
    check_min_rank("input_spikes", input_spikes, 1, "(T, ...)")
    fired = jnp.cumsum(input_spikes > 0, axis=0) - (input_spikes > 0)
    return jnp.where(fired > 0, jnp.zeros_like(input_spikes), input_spikes)


def latency_code(
    input_values,
    num_steps: int,
    *,
    method: str = "log",
    tau=1.0,
    threshold=0.01,
    first_spike_time: int = 0,
    normalize: bool = False,
    epsilon=1e-7,
) -> jax.Array:
    r"""snnTorch's spike times (in steps, not rounded) of :func:`latency_encode`.

    ``"log"``: :math:`t = \tau \ln \frac{x}{x - \theta}` with :math:`x` raised to at least
    :math:`\theta + \epsilon`; ``normalize`` rescales so that the largest time in the whole array
    is ``num_steps - 1``. ``"linear"``: :math:`t = \tau (1 - \max(x, \theta))`; ``normalize``
    sets :math:`\tau` to ``num_steps - 1 - first_spike_time``. Both add ``first_spike_time``.

    Example:
        >>> import jax.numpy as jnp
        >>> latency_code(jnp.array([0.02, 0.5, 1.0]), 5, method="linear", normalize=True)
        Array([3.92, 2.  , 0.  ], dtype=float32)
    """
    check_array("input_values", input_values)
    length = check_int("num_steps", num_steps)
    if method not in LATENCY_METHODS:
        raise ValueError(f"method must be one of {LATENCY_METHODS}, got {method!r}")
    check_positive("tau", tau)
    if is_concrete(threshold) and not 0 < float(threshold) < 1:
        raise ValueError(f"threshold must lie in (0, 1) (exclusive), got {threshold!r}")
    start = check_int("first_spike_time", first_spike_time, minimum=0)
    if start > length - 1:
        raise ValueError(f"first_spike_time must be <= num_steps - 1 = {length - 1}, got {start}")
    check_finite_value("input_values", input_values)  # NaN passes a range check
    check_range("input_values", input_values, 0.0, 1.0)
    x = jnp.asarray(input_values, jnp.float32)
    if method == "linear":
        slope = length - 1 - start if normalize else tau
        return jnp.minimum(-slope * (x - 1), -slope * (threshold - 1)) + start
    x = jnp.maximum(x, threshold + epsilon)
    times = tau * jnp.log(x / (x - threshold))
    if normalize:
        return times * (length - start - 1) / jnp.max(times) + start
    return times + start


def latency_encode(
    input_values,
    num_steps: int,
    *,
    method: str = "log",
    tau=1.0,
    threshold=0.01,
    first_spike_time: int = 0,
    normalize: bool = False,
    clip: bool = False,
    on_target=1.0,
    off_target=0.0,
    epsilon=1e-7,
) -> jax.Array:
    """snnTorch's latency code (``spikegen.latency``): one spike per input at its spike time.

    Strong inputs spike early. Each input spikes once, at step ``round(t)`` with ``t`` from
    :func:`latency_code`; inputs below ``threshold`` spike at their (late) time, or never with
    ``clip=True``. Spikes later than the last step are dropped (snnTorch's ``bypass=True``;
    without it snnTorch raises). The output is ``max(spike * on_target, off_target)``.

    Args:
        input_values: intensities in ``[0, 1]``, any shape.
        num_steps: the number of steps ``T``.
        method: ``"log"`` (snnTorch's default, an RC neuron charging) or ``"linear"``.
        tau: the time constant in steps.
        threshold: in ``(0, 1)``; inputs below it get the latest time.
        first_spike_time: the earliest spike step.
        normalize: stretch the code so that the latest spike is at ``num_steps - 1``.
        clip: drop the spikes of inputs below ``threshold``.
        on_target: the value at the spike.
        off_target: the value away from the spike.
        epsilon: keeps the logarithm finite at the threshold.

    Returns:
        Spikes of shape ``(T, *input_values.shape)``.

    Example:
        >>> import jax.numpy as jnp
        >>> latency_encode(jnp.array([0.02, 0.5, 1.0]), 5, method="linear", normalize=True)
        Array([[0., 0., 1.],
               [0., 0., 0.],
               [0., 1., 0.],
               [0., 0., 0.],
               [1., 0., 0.]], dtype=float32)
    """
    times = latency_code(
        input_values, num_steps, method=method, tau=tau, threshold=threshold,
        first_spike_time=first_spike_time, normalize=normalize, epsilon=epsilon,
    )
    step = jnp.round(jnp.minimum(times, num_steps - 1))
    keep = jnp.round(times) <= num_steps - 1
    if clip:
        keep = keep & ~(jnp.asarray(input_values) < threshold)
    grid = jnp.arange(num_steps, dtype=step.dtype).reshape((num_steps,) + (1,) * step.ndim)
    spikes = ((grid == step) & keep).astype(_float_dtype(input_values))
    return jnp.maximum(spikes * on_target, off_target).astype(spikes.dtype)


def delta_encode(data, threshold=0.1, *, padding: bool = False, off_spike: bool = False) -> jax.Array:
    """snnTorch's delta modulation: spike where a value rises by ``threshold`` over one step.

    The first step is compared with zeros, or with itself when ``padding=True`` (no spike).

    Args:
        data: a sequence ``(T, ...)``.
        threshold: the non-negative change that makes a spike.
        padding: compare the first step with itself instead of with zeros.
        off_spike: also emit ``-1`` where the value falls by ``threshold`` or more.

    Returns:
        Spikes in ``{0, 1}`` (or ``{-1, 0, 1}``) of the shape of ``data``.

    Example:
        >>> import jax.numpy as jnp
        >>> delta_encode(jnp.array([1.0, 2.0, 0.0, 2.0, 2.9]), threshold=1.0, off_spike=True)
        Array([ 1.,  1., -1.,  1.,  0.], dtype=float32)
    """
    check_min_rank("data", data, 1, "(T, ...)")
    check_finite_value("data", data)
    check_non_negative("threshold", threshold)
    first = data[:1] if padding else jnp.zeros_like(data[:1])
    change = data - jnp.concatenate([first, data[:-1]])
    spikes = (change >= threshold).astype(_float_dtype(data))
    if off_spike:
        spikes = spikes - (change <= -threshold).astype(spikes.dtype)
    return spikes
