r"""Synaptic and axonal delays, fixed and learnable, on time-major sequences ``(T, B, N)``.

A **per-synapse delay** :math:`d_{ij} \in \{0, \dots, D - 1\}` makes the current of output
:math:`i` at step :math:`t`

.. math::
    I_i[t] = \sum_j W_{ij} \, x_j[t - d_{ij}]
           = \sum_{k=0}^{D-1} \sum_j K_{k j i} \, x_j[t - k],
    \qquad K_{k j i} = W_{ij} \, [d_{ij} = k],

a causal convolution over time with the ``(D, n_in, n_out)`` kernel :math:`K` ("taps").
:func:`~spikejax.functional.delay_conv` runs it as one ``lax.conv_general_dilated`` over the time axis: time
``O(T B n_in n_out D)`` and memory ``O(T B (n_in + n_out) + D n_in n_out)``; nothing of size
``T x n_in x n_out x D`` is ever made. Measured on the 2-core CPU (T=250, B=64, 32 -> 64, D=50,
float32; forward / forward+backward for the kernel): the convolution 20 / 39 ms, a ring buffer
of the last ``D`` inputs inside a ``lax.scan`` (one ``(D, B, n_in) x (D, n_in, n_out)``
contraction per step) 81 / 537 ms, ``D`` shifted matmuls 382 / 1030 ms: the convolution is the
one used. A ring buffer's only advantage, a memory independent of ``T``, is kept where it
matters: every function takes and returns the ``history`` (the last ``D - 1`` input steps), so
a long sequence can run in chunks with the same result as in one piece.

A **learnable delay** (Hammouamri, Khalfaoui-Hassani and Masquelier, ICLR 2024, "Learning
delays in SNNs using dilated convolutions with learnable spacings") is a real position
:math:`p_{ij} \in [0, D - 1]` spread over the taps by a kernel of width :math:`\sigma`,
normalised to sum to one over the taps:

.. math::
    K_{k j i} = W_{ij} \, \frac{g(k - p_{ij})}{\sum_{k'} g(k' - p_{ij})}, \qquad
    g(u) = e^{-u^2 / 2\sigma^2} \ \text{(Gaussian)} \quad\text{or}\quad
    \max(0, 1 - |u| / \sigma) \ \text{(triangle)}.

The gradient reaches :math:`p` through the kernel. Training starts wide (the paper: about
:math:`D / 2`) and shrinks :math:`\sigma` with :func:`~spikejax.functional.sigma_schedule`; at the end
:func:`~spikejax.functional.round_delays` gives the integer delays of the fixed layer, which a narrow kernel
(:math:`\sigma \lesssim 0.5`) already approximates closely.

An **axonal delay** :math:`d_j` delays every spike of neuron :math:`j` alike:
:math:`y_j[t] = x_j[t - d_j]` (:func:`~spikejax.functional.axonal_delay`).

Before the sequence, the history is zero (``history=None``): nothing arrives from before
:math:`t = 0`. Delays count steps (``dt`` each).
"""

from __future__ import annotations

from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._validate import check_array, check_int, check_rank, check_shape, is_concrete

__all__ = [
    "delay_conv",
    "delay_kernel",
    "delayed_linear",
    "learnable_delay_kernel",
    "learnable_delayed_linear",
    "axonal_delay",
    "round_delays",
    "sigma_schedule",
    "DELAY_KERNELS",
]

#: The shapes a learnable delay's kernel can take.
DELAY_KERNELS = ("gaussian", "triangle")


def _check_sequence(x: Any, features: Optional[int], what: str) -> None:
    check_rank("input_tensor", x, 3, "(T, B, n_in)")
    if features is not None and x.shape[-1] != features:
        raise ValueError(
            f"input_tensor has shape {tuple(x.shape)}, expected its last axis to be {features} ({what})"
        )


def _history(history: Any, x: jax.Array, max_delay: int) -> jax.Array:
    shape = (max_delay - 1,) + tuple(x.shape[1:])
    if history is None:
        return jnp.zeros(shape, x.dtype)
    check_shape("history", history, shape, f"the last max_delay - 1 = {max_delay - 1} steps of (T, B, n_in)")
    return history.astype(x.dtype)


def _check_delays(name: str, delays: Any, max_delay: int) -> None:
    check_array(name, delays)
    if not jnp.issubdtype(delays.dtype, jnp.integer):
        raise TypeError(f"{name} must be an integer array (steps), got dtype {delays.dtype}")
    if is_concrete(delays) and delays.size:
        low, high = int(np.min(np.asarray(delays))), int(np.max(np.asarray(delays)))
        if low < 0 or high > max_delay - 1:
            raise ValueError(
                f"{name} must be steps in [0, max_delay - 1] = [0, {max_delay - 1}] "
                f"(max_delay={max_delay}), got values in [{low}, {high}]"
            )


def delay_conv(input_tensor: jax.Array, kernel: jax.Array, history: Optional[jax.Array] = None):
    r"""The causal temporal convolution :math:`y[t] = \sum_k x[t - k] K_k`.

    Args:
        input_tensor: ``(T, B, n_in)``.
        kernel: ``(D, n_in, n_out)`` taps: ``kernel[k]`` weighs the input of ``k`` steps ago.
        history: ``(D - 1, B, n_in)``, the inputs before ``input_tensor`` (oldest first), or
            ``None`` for zeros.

    Returns:
        ``(output, history)``: ``(T, B, n_out)`` and the last ``D - 1`` input steps, to pass to
        the next chunk of the same sequence.

    Example:
        >>> import jax.numpy as jnp
        >>> x = jnp.zeros((5, 1, 1)).at[0, 0, 0].set(1.0)      # one spike at t = 0
        >>> kernel = jnp.array([0.0, 0.0, 2.0]).reshape(3, 1, 1)   # weight 2 at a delay of 2
        >>> y, history = delay_conv(x, kernel)
        >>> y[:, 0, 0].tolist(), history.shape
        ([0.0, 0.0, 2.0, 0.0, 0.0], (2, 1, 1))
    """
    check_rank("kernel", kernel, 3, "(D, n_in, n_out)")
    max_delay = kernel.shape[0]
    if max_delay < 1:
        raise ValueError(f"kernel must have at least one tap, got shape {tuple(kernel.shape)}")
    _check_sequence(input_tensor, kernel.shape[1], "kernel's n_in, kernel.shape[1]")
    past = _history(history, input_tensor, max_delay)
    padded = jnp.concatenate([past, input_tensor], axis=0)
    # XLA correlates: output[t] = sum_w padded[t + w] kernel'[w], and padded[t + w] is the
    # input of D - 1 - w steps before t, so kernel'[w] = kernel[D - 1 - w].
    output = lax.conv_general_dilated(
        padded, kernel[::-1].astype(input_tensor.dtype), window_strides=(1,), padding="VALID",
        dimension_numbers=("WNC", "WIO", "WNC"),
    )
    return output, padded[input_tensor.shape[0]:]


def delay_kernel(weights: jax.Array, delays: jax.Array, max_delay: int) -> jax.Array:
    """The taps ``(D, n_in, n_out)`` of per-synapse integer delays: ``weights[i, j]`` at tap ``delays[i, j]``.

    Args:
        weights: ``(n_out, n_in)`` (the layout of ``torch.nn.Linear`` and Norse).
        delays: ``(n_out, n_in)`` integers in ``[0, max_delay)``.
        max_delay: ``D``, the number of taps.

    Example:
        >>> import jax.numpy as jnp
        >>> taps = delay_kernel(jnp.array([[1.0, 2.0]]), jnp.array([[0, 2]]), 3)
        >>> taps.shape, taps[:, :, 0].tolist()
        ((3, 2, 1), [[1.0, 0.0], [0.0, 0.0], [0.0, 2.0]])
    """
    max_delay = check_int("max_delay", max_delay)
    check_rank("weights", weights, 2, "(n_out, n_in)")
    check_shape("delays", delays, weights.shape, "one delay per weight, (n_out, n_in)")
    _check_delays("delays", delays, max_delay)
    taps = jax.nn.one_hot(delays, max_delay, dtype=weights.dtype, axis=0)  # (D, n_out, n_in)
    return jnp.swapaxes(taps * weights, 1, 2)


def learnable_delay_kernel(
    weights: jax.Array, positions: jax.Array, sigma: Any, max_delay: int, *, kernel: str = "gaussian"
) -> jax.Array:
    r"""The taps ``(D, n_in, n_out)`` of learnable delays: each weight spread around its position.

    Each position is clipped to ``[0, D - 1]`` (no gradient beyond), the kernel
    :math:`g(k - p)` is evaluated at the taps ``k = 0 .. D - 1`` and normalised to sum to one.

    Args:
        weights: ``(n_out, n_in)``.
        positions: ``(n_out, n_in)`` real delays (steps).
        sigma: the width (a positive scalar, may be traced: a schedule's value).
        max_delay: ``D``.
        kernel: ``"gaussian"`` or ``"triangle"`` (half-width ``max(sigma, 1)``: at its narrowest,
            linear interpolation between the two nearest taps, as in the paper's DCLS).

    Example:
        >>> import jax.numpy as jnp
        >>> taps = learnable_delay_kernel(jnp.ones((1, 1)), jnp.array([[1.0]]), 0.3, 3)
        >>> [round(float(v), 3) for v in taps[:, 0, 0]]          # narrow: all at tap 1
        [0.004, 0.992, 0.004]
        >>> taps = learnable_delay_kernel(jnp.ones((1, 1)), jnp.array([[0.5]]), 1.0, 3, kernel="triangle")
        >>> taps[:, 0, 0].tolist()                                 # half-way between taps 0 and 1
        [0.5, 0.5, 0.0]
    """
    max_delay = check_int("max_delay", max_delay)
    if kernel not in DELAY_KERNELS:
        raise ValueError(f"kernel must be one of {list(DELAY_KERNELS)}, got {kernel!r}")
    check_rank("weights", weights, 2, "(n_out, n_in)")
    check_shape("positions", positions, weights.shape, "one delay position per weight, (n_out, n_in)")
    if is_concrete(sigma) and not float(np.min(np.asarray(sigma))) > 0:
        raise ValueError(f"sigma must be positive (the kernel's width in steps), got {sigma!r}")
    dtype = jnp.result_type(weights.dtype, positions.dtype)
    taps = jnp.arange(max_delay, dtype=dtype)[:, None, None]
    distance = taps - jnp.clip(positions.astype(dtype), 0, max_delay - 1)[None]
    sigma = jnp.asarray(sigma, dtype)
    if kernel == "gaussian":
        # Shifted by the nearest tap's distance so that a narrow kernel never underflows to 0/0.
        nearest = jnp.min(jnp.abs(distance), axis=0, keepdims=True)
        shape = jnp.exp(-0.5 * (jnp.square(distance) - jnp.square(nearest)) / jnp.square(sigma))
    else:
        shape = jnp.maximum(0.0, 1.0 - jnp.abs(distance) / jnp.maximum(sigma, 1.0))
    shape = shape / jnp.sum(shape, axis=0, keepdims=True)
    return jnp.swapaxes(shape * weights.astype(dtype)[None], 1, 2)


def delayed_linear(
    input_tensor: jax.Array, weights: jax.Array, delays: jax.Array, max_delay: int,
    history: Optional[jax.Array] = None,
):
    r"""A linear layer with an integer delay per synapse: :math:`y_i[t] = \sum_j W_{ij} x_j[t - d_{ij}]`.

    Args:
        input_tensor: ``(T, B, n_in)``.
        weights: ``(n_out, n_in)``.
        delays: ``(n_out, n_in)`` integers in ``[0, max_delay)``.
        max_delay: ``D``.
        history: ``(D - 1, B, n_in)`` inputs before this chunk, or ``None`` (zeros).

    Returns:
        ``(output (T, B, n_out), history)``.

    Example:
        >>> import jax.numpy as jnp
        >>> x = jnp.zeros((4, 1, 2)).at[0].set(1.0)                 # both inputs spike at t = 0
        >>> y, _ = delayed_linear(x, jnp.array([[1.0, 10.0]]), jnp.array([[1, 3]]), 4)
        >>> y[:, 0, 0].tolist()
        [0.0, 1.0, 0.0, 10.0]
    """
    return delay_conv(input_tensor, delay_kernel(weights, delays, max_delay), history)


def learnable_delayed_linear(
    input_tensor: jax.Array, weights: jax.Array, positions: jax.Array, sigma: Any, max_delay: int,
    history: Optional[jax.Array] = None, *, kernel: str = "gaussian",
):
    """A linear layer with a learnable delay per synapse (see :func:`~spikejax.functional.learnable_delay_kernel`).

    Returns ``(output (T, B, n_out), history)``; differentiable in ``weights`` and ``positions``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> x = jnp.zeros((6, 1, 1)).at[0].set(1.0)
        >>> def late_current(position):            # the current at t = 4 grows as the delay nears 4
        ...     y, _ = learnable_delayed_linear(x, jnp.ones((1, 1)), position, 1.0, 6)
        ...     return y[4, 0, 0]
        >>> bool(jax.grad(late_current)(jnp.array([[2.0]]))[0, 0] > 0)
        True
    """
    taps = learnable_delay_kernel(weights, positions, sigma, max_delay, kernel=kernel)
    return delay_conv(input_tensor, taps, history)


def axonal_delay(
    input_tensor: jax.Array, delays: jax.Array, max_delay: int, history: Optional[jax.Array] = None
):
    r"""Delay each neuron's output by its own integer delay: :math:`y_j[t] = x_j[t - d_j]`.

    Args:
        input_tensor: ``(T, B, N)``.
        delays: ``(N,)`` integers in ``[0, max_delay)``.
        max_delay: ``D``.
        history: ``(D - 1, B, N)`` inputs before this chunk, or ``None`` (zeros).

    Returns:
        ``(output (T, B, N), history)``.

    Example:
        >>> import jax.numpy as jnp
        >>> x = jnp.zeros((4, 1, 2)).at[0].set(1.0)
        >>> y, _ = axonal_delay(x, jnp.array([0, 2]), 3)
        >>> y[:, 0].tolist()
        [[1.0, 0.0], [0.0, 0.0], [0.0, 1.0], [0.0, 0.0]]
    """
    max_delay = check_int("max_delay", max_delay)
    check_rank("delays", delays, 1, "(N,)")
    _check_sequence(input_tensor, delays.shape[0], "one delay per neuron, delays.shape[0]")
    _check_delays("delays", delays, max_delay)
    past = _history(history, input_tensor, max_delay)
    padded = jnp.concatenate([past, input_tensor], axis=0)
    steps = input_tensor.shape[0]
    index = jnp.arange(steps)[:, None] + (max_delay - 1) - delays[None, :]  # (T, N)
    index = jnp.broadcast_to(index[:, None, :], input_tensor.shape)
    return jnp.take_along_axis(padded, index, axis=0), padded[steps:]


def round_delays(positions: jax.Array, max_delay: int) -> jax.Array:
    """Learnable positions as the integer delays of a fixed layer: rounded, clipped to ``[0, D)``.

    Example:
        >>> import jax.numpy as jnp
        >>> round_delays(jnp.array([[-0.7, 1.4, 2.6, 9.0]]), 4).tolist()
        [[0, 1, 3, 3]]
    """
    max_delay = check_int("max_delay", max_delay)
    check_array("positions", positions)
    return jnp.clip(jnp.round(positions), 0, max_delay - 1).astype(jnp.int32)


def sigma_schedule(step: Any, total_steps: int, start: float, end: float = 0.5, *, kind: str = "exponential"):
    """The kernel width after ``step`` of ``total_steps``: from ``start`` to ``end``, then ``end``.

    Pure (``step`` may be traced). ``kind="exponential"`` decays geometrically,
    ``start * (end / start) ** (step / total_steps)``; ``"linear"`` interpolates; ``"cosine"``
    follows half a cosine. The paper starts near ``D / 2`` and ends at 0.5 or below.

    Example:
        >>> [round(float(sigma_schedule(s, 4, 8.0, 0.5)), 3) for s in range(6)]
        [8.0, 4.0, 2.0, 1.0, 0.5, 0.5]
        >>> float(sigma_schedule(1, 2, 3.0, 1.0, kind="linear"))
        2.0
    """
    total_steps = check_int("total_steps", total_steps)
    if not (start > 0 and end > 0):
        raise ValueError(f"start and end must be positive widths, got start={start}, end={end}")
    fraction = jnp.clip(jnp.asarray(step, jnp.float32) / total_steps, 0.0, 1.0)
    if kind == "exponential":
        return start * (end / start) ** fraction
    if kind == "linear":
        return start + (end - start) * fraction
    if kind == "cosine":
        return end + (start - end) * 0.5 * (1 + jnp.cos(jnp.pi * fraction))
    raise ValueError(f"kind must be 'exponential', 'linear' or 'cosine', got {kind!r}")
