r"""Classification losses and accuracy metrics for time-major spiking outputs.

Every loss reads the output layer's record over time, ``(T, B, C)`` spikes or membrane voltages
for ``T`` steps, ``B`` samples and ``C`` classes, turns it into logits :math:`y \in
\mathbb{R}^{B \times C}`, and applies the cross-entropy

.. math::
    \ell_b = -\sum_c q_{bc} \log \operatorname{softmax}(y_b)_c

against the target distribution :math:`q_b` (one-hot of the integer label, or the given row).

============================ ============================================================ =======
loss                         logits :math:`y_{bc}`                                        peer
============================ ============================================================ =======
``ce_rate_loss``             :math:`\text{scale} \cdot \frac{1}{T} \sum_t z_{tbc}`          --
``ce_count_loss``            :math:`\text{scale} \cdot \sum_t z_{tbc}`                      snnTorch
``ce_max_membrane_loss``     :math:`\max_t v_{tbc}`                                        Norse, snnTorch
``ce_first_spike_loss``      :math:`-\text{scale} \cdot t^{\text{first}}_{bc}`              snnTorch
============================ ============================================================ =======

``ce_rate_loss(..., per_step=True)`` is snnTorch's ``ce_rate_loss`` instead: the cross-entropy
of each step's spikes, averaged over time. ``ce_max_membrane_loss`` is the decoding of Norse's
MNIST task (max over time of a leaky-integrator readout, ``log_softmax``, ``nll_loss``).
``mse_count_loss`` is snnTorch's: spike counts against the targets
:math:`\lfloor T \cdot \text{correct\_rate} \rfloor` (true class) and
:math:`\lfloor T \cdot \text{incorrect\_rate} \rfloor` (other classes),

.. math::
    \ell_{bc} = \frac{1}{T} \Big(\sum_t z_{tbc} - \text{target}_{bc}\Big)^2 .

First-spike times are in steps, :math:`t^{\text{first}} \in \{0, \dots, T\}`, where :math:`T`
(one step past the window) marks a neuron that never spiked; see
:func:`first_spike_time_surrogate` for the two gradients on offer.

Labels are integer class indices ``(B,)`` or one-hot (or any probability) rows ``(B, C)``.
Concrete integer labels are range-checked (a ``ValueError`` names the bad values and their
positions); under ``jit``, where they cannot be, a sample with an index outside ``[0, C)`` gets a
NaN loss (as optax's integer-label cross-entropy does) and a NaN accuracy, never a silent 0.
Averaging over an empty batch (``B = 0`` with ``reduction="mean"``, or any accuracy) and records
of ``T = 0`` steps or ``C = 0`` classes raise a ``ValueError`` naming the argument and its shape
instead of returning NaN. Losses are computed in float32 (or float64 for
float64 inputs), so bfloat16 records do not lose the softmax's precision. ``reduction`` is
``"mean"`` over the batch (default), ``"sum"``, or ``"none"`` (one value per sample, or per
sample and class for ``mse_count_loss``).

Example:
    >>> import jax.numpy as jnp
    >>> from spikejax.functional import ce_count_loss, accuracy_rate
    >>> spikes = jnp.zeros((4, 2, 3)).at[:, 0, 1].set(1.0).at[:2, 1, 2].set(1.0)  # (T, B, C)
    >>> labels = jnp.array([1, 0])
    >>> ce_count_loss(spikes, labels)   # mean of log(1 + 2 e^-4) and log(2 + e^2)
    Array(1.1378, dtype=float32)
    >>> accuracy_rate(spikes, labels)
    Array(0.5, dtype=float32)
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._validate import (
    check_min_rank,
    check_non_negative,
    check_rank,
    check_shape,
    is_concrete,
)

__all__ = [
    "cross_entropy",
    "ce_rate_loss",
    "ce_count_loss",
    "ce_max_membrane_loss",
    "ce_first_spike_loss",
    "mse_count_loss",
    "first_spike_time_surrogate",
    "accuracy",
    "accuracy_rate",
    "accuracy_max_membrane",
    "accuracy_first_spike",
]

REDUCTIONS = ("mean", "sum", "none")
FIRST_SPIKE_METHODS = ("survival", "straight_through")
_RECORD = "(T, B, C)"


def _check_reduction(reduction: Any) -> None:
    """Raise ``ValueError`` unless ``reduction`` is one of :data:`REDUCTIONS`."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _reduce(values: jax.Array, reduction: str) -> jax.Array:
    """Apply a checked ``reduction`` over all entries of ``values``."""
    if reduction == "mean":
        return jnp.mean(values)
    if reduction == "sum":
        return jnp.sum(values)
    return values


def _as_float(x: jax.Array) -> jax.Array:
    """``x`` in float32, or wider if it already is: losses keep the softmax's precision."""
    return jnp.asarray(x).astype(jnp.promote_types(x.dtype, jnp.float32))


def _check_record(name: str, record: Any, reduction: str = "none", hint: str | None = None) -> None:
    """A ``(T, B, C)`` record with steps and classes (and samples, for a mean over them)."""
    check_rank(name, record, 3, _RECORD)
    _check_not_empty(name, record, {0: "T", 2: "C"}, _RECORD)
    if reduction == "mean":
        _check_batch(name, record, 1, _RECORD, *(() if hint is None else (hint,)))


def _check_not_empty(name: str, value: Any, axes: dict, layout: str) -> None:
    """``ValueError`` if one of ``axes`` (``{axis: its letter}``) of ``value`` has length 0.

    A loss or decoder over zero steps or classes would return NaN or a number that means nothing.
    """
    for axis, letter in axes.items():
        if value.shape[axis] == 0:
            raise ValueError(
                f"{name} has shape {tuple(value.shape)} with layout {layout}: {letter} = 0, "
                f"expected at least one entry along {letter} (nothing to compute the result from)"
            )


def _check_batch(
    name: str, value: Any, axis: int, layout: str, hint: str = " (or reduction='sum' or 'none')"
) -> None:
    """``ValueError`` for an empty batch, whose mean (a loss or an accuracy) would be NaN."""
    if value.shape[axis] == 0:
        raise ValueError(
            f"{name} has shape {tuple(value.shape)} with layout {layout}: an empty batch (B = 0), "
            f"whose mean is NaN; expected at least one sample{hint}"
        )


def _check_label_indices(labels: Any, classes: int) -> None:
    """``ValueError`` naming the out-of-range class indices among concrete ``labels``."""
    values = np.asarray(labels)
    bad = np.flatnonzero((values < 0) | (values >= classes))
    if bad.size:
        shown = ", ".join(f"labels[{i}] = {values[i]}" for i in bad[:5])
        more = f" and {bad.size - 5} more" if bad.size > 5 else ""
        raise ValueError(
            f"labels must be class indices in [0, {classes - 1}] for {classes} classes (the last "
            f"axis of the predictions), got {shown}{more}"
        )


def _invalid_labels(labels: jax.Array, classes: int) -> jax.Array | None:
    """Under ``jit``: the mask of out-of-range integer labels ``(B,)``; ``None`` when they are
    concrete (and already checked) or one-hot rows."""
    if labels.ndim != 1 or is_concrete(labels):
        return None
    return (labels < 0) | (labels >= classes)


def _targets(labels: Any, batch: int, classes: int, dtype) -> jax.Array:
    """Labels as ``(B, C)`` target rows, after checking them against the predictions' shape.

    Traced integer labels out of ``[0, classes)`` give a row of NaN (a NaN loss for that sample)
    where ``one_hot`` alone would give zeros (a loss of 0, silently).
    """
    check_rank("labels", labels, (1, 2), "(B,) class indices or (B, C) one-hot rows")
    if labels.ndim == 2:
        check_shape("labels", labels, (batch, classes), "(B, C) of the predictions")
        return jnp.asarray(labels).astype(dtype)
    check_shape("labels", labels, (batch,), "(B,): one class index per sample of the predictions")
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise TypeError(
            f"labels of shape (B,) must be integer class indices, got dtype {labels.dtype}"
        )
    if is_concrete(labels):
        _check_label_indices(labels, classes)
    targets = jax.nn.one_hot(labels, classes, dtype=dtype)
    invalid = _invalid_labels(labels, classes)
    if invalid is not None:
        targets = jnp.where(invalid[:, None], jnp.asarray(jnp.nan, dtype), targets)
    return targets


def _label_indices(labels: Any, batch: int, classes: int) -> jax.Array:
    """Labels as ``(B,)`` class indices (the argmax of one-hot rows)."""
    targets = _targets(labels, batch, classes, jnp.float32)
    return labels if labels.ndim == 1 else jnp.argmax(targets, axis=-1)


def cross_entropy(logits: jax.Array, labels: jax.Array, *, reduction: str = "mean") -> jax.Array:
    """Softmax cross-entropy of ``(B, C)`` logits against integer or one-hot ``labels``.

    Equal to PyTorch's ``nll_loss(log_softmax(logits), labels)`` for integer labels.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import cross_entropy
        >>> logits = jnp.array([[2.0, 0.0], [0.0, 0.0]])
        >>> cross_entropy(logits, jnp.array([0, 1]), reduction="none")   # -log softmax
        Array([0.1269, 0.6931 ], dtype=float32)
    """
    check_rank("logits", logits, 2, "(B, C)")
    _check_reduction(reduction)
    _check_not_empty("logits", logits, {1: "C"}, "(B, C)")
    if reduction == "mean":
        _check_batch("logits", logits, 0, "(B, C)")
    logits = _as_float(logits)
    targets = _targets(labels, *logits.shape, logits.dtype)
    losses = -jnp.sum(targets * jax.nn.log_softmax(logits, axis=-1), axis=-1)
    return _reduce(losses, reduction)


def ce_rate_loss(
    spikes: jax.Array,
    labels: jax.Array,
    *,
    scale: float = 1.0,
    per_step: bool = False,
    reduction: str = "mean",
) -> jax.Array:
    """Cross-entropy of the firing rates, ``scale * mean_t spikes``, as logits.

    With ``per_step=True``, the cross-entropy of ``scale * spikes[t]`` averaged over the ``T``
    steps instead (snnTorch's ``ce_rate_loss``, which has ``scale=1``).

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import ce_rate_loss
        >>> spikes = jnp.zeros((10, 2, 3)).at[:, 0, 0].set(1.0).at[:, 1, 2].set(1.0)  # (T, B, C)
        >>> ce_rate_loss(spikes, jnp.array([0, 2]), scale=5.0)          # right classes fire: low
        Array(0.01339, dtype=float32)
        >>> ce_rate_loss(spikes, jnp.array([1, 1]), scale=5.0)          # wrong classes: high
        Array(5.0134, dtype=float32)
    """
    _check_reduction(reduction)
    _check_record("spikes", spikes, reduction)
    spikes = _as_float(spikes)
    if not per_step:
        return cross_entropy(scale * jnp.mean(spikes, axis=0), labels, reduction=reduction)
    targets = _targets(labels, *spikes.shape[1:], spikes.dtype)
    log_probs = jax.nn.log_softmax(scale * spikes, axis=-1)
    losses = -jnp.mean(jnp.sum(targets * log_probs, axis=-1), axis=0)
    return _reduce(losses, reduction)


def ce_count_loss(
    spikes: jax.Array, labels: jax.Array, *, scale: float = 1.0, reduction: str = "mean"
) -> jax.Array:
    """Cross-entropy of the spike counts, ``scale * sum_t spikes``, as logits (snnTorch's).

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import ce_count_loss
        >>> spikes = jnp.zeros((10, 1, 3)).at[:3, 0, 1].set(1.0)      # class 1 spikes 3 times
        >>> ce_count_loss(spikes, jnp.array([1]))                       # logits (0, 3, 0)
        Array(0.09492, dtype=float32)
    """
    _check_reduction(reduction)
    _check_record("spikes", spikes, reduction)
    return cross_entropy(scale * jnp.sum(_as_float(spikes), axis=0), labels, reduction=reduction)


def ce_max_membrane_loss(
    voltages: jax.Array, labels: jax.Array, *, reduction: str = "mean"
) -> jax.Array:
    """Cross-entropy of the maximum membrane voltage over time, ``max_t v``, as logits.

    The decoding of Norse's MNIST task and snnTorch's ``ce_max_membrane_loss``; the gradient
    reaches each neuron's voltage at its maximum step only.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import ce_max_membrane_loss
        >>> voltages = jnp.zeros((5, 1, 2)).at[2, 0, 0].set(4.0)      # (T, B, C) readout voltages
        >>> ce_max_membrane_loss(voltages, jnp.array([0]))              # logits max_t v = (4, 0)
        Array(0.01815, dtype=float32)
    """
    _check_reduction(reduction)
    _check_record("voltages", voltages, reduction)
    return cross_entropy(jnp.max(_as_float(voltages), axis=0), labels, reduction=reduction)


def mse_count_loss(
    spikes: jax.Array,
    labels: jax.Array,
    *,
    correct_rate: float = 1.0,
    incorrect_rate: float = 0.0,
    reduction: str = "mean",
) -> jax.Array:
    """Squared error between spike counts and target counts, divided by ``T`` (snnTorch's).

    The target count is ``floor(T * correct_rate)`` for the true class and
    ``floor(T * incorrect_rate)`` for the others (snnTorch truncates with ``int``); rates are
    fractions of steps in ``[0, 1]``. One-hot label rows mix the two targets linearly.
    ``reduction="none"`` gives the ``(B, C)`` entries, ``"mean"`` their mean (as snnTorch).

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import mse_count_loss
        >>> spikes = jnp.zeros((10, 1, 2)).at[:, 0, 0].set(1.0)      # class 0 fires every step
        >>> mse_count_loss(spikes, jnp.array([0]), correct_rate=0.8, incorrect_rate=0.2)
        Array(0.4, dtype=float32)
    """
    _check_reduction(reduction)
    _check_record("spikes", spikes, reduction)
    for name, rate in (("correct_rate", correct_rate), ("incorrect_rate", incorrect_rate)):
        check_non_negative(name, rate)
        if is_concrete(rate) and np.any(np.asarray(rate) > 1):
            raise ValueError(f"{name} must be a fraction of steps in [0, 1], got {rate!r}")
    spikes = _as_float(spikes)
    steps = spikes.shape[0]
    on = jnp.floor(steps * jnp.asarray(correct_rate, spikes.dtype))
    off = jnp.floor(steps * jnp.asarray(incorrect_rate, spikes.dtype))
    targets = off + (on - off) * _targets(labels, *spikes.shape[1:], spikes.dtype)
    return _reduce((jnp.sum(spikes, axis=0) - targets) ** 2 / steps, reduction)


def first_spike_time_surrogate(spikes: jax.Array, *, method: str = "survival") -> jax.Array:
    r"""Each neuron's first spike step, ``(T, ...) -> (...)``, with a usable gradient.

    The value is exact for binary spikes: the index of the first nonzero step, or ``T`` for a
    neuron that never spiked. The gradient with respect to ``spikes`` depends on ``method``:

    ``"survival"`` (default) computes the time as the sum of survival products,

    .. math::
        t^{\text{first}} = \sum_{t=0}^{T-1} \prod_{k \le t} (1 - z_k),

    which counts the steps before the first spike. It is multilinear in the spikes, so its
    gradient is the exact change of :math:`t^{\text{first}}` when one spike flips: adding a spike
    at :math:`j < t^{\text{first}}` gives :math:`-(t^{\text{first}} - j)`, removing the first one
    gives :math:`-(t^{\text{next}} - t^{\text{first}})`, later steps give 0. For spike
    probabilities in ``[0, 1]`` it is the expected first-spike step of independent Bernoulli
    spikes. Spikes outside ``[0, 1]`` make it meaningless.

    ``"straight_through"`` is snnTorch's ``FirstSpike`` sign estimator: the gradient is
    :math:`-1` at the first spike's step (the last step for a silent neuron) and 0 elsewhere.
    snnTorch itself gives silent neurons the time ``T - 1`` rather than ``T``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from spikejax.functional import first_spike_time_surrogate
        >>> spikes = jnp.array([[0.0, 0.0], [1.0, 0.0], [0.0, 0.0]])  # (T=3, N=2)
        >>> first_spike_time_surrogate(spikes)                          # silent neurons get T
        Array([1., 3.], dtype=float32)
        >>> jax.grad(lambda z: first_spike_time_surrogate(z)[0])(spikes)[:, 0]
        Array([-1., -2., -0.], dtype=float32)
    """
    check_min_rank("spikes", spikes, 1, "(T, ...)")
    _check_not_empty("spikes", spikes, {0: "T"}, "(T, ...)")
    if method not in FIRST_SPIKE_METHODS:
        raise ValueError(f"method must be one of {FIRST_SPIKE_METHODS}, got {method!r}")
    spikes = _as_float(spikes)
    if method == "survival":
        return jnp.sum(jnp.cumprod(1.0 - spikes, axis=0), axis=0)
    steps = spikes.shape[0]
    hard = _hard_first_spike(jax.lax.stop_gradient(spikes))
    at_first = jnp.arange(steps).reshape((steps,) + (1,) * (spikes.ndim - 1)) == jnp.minimum(
        hard, steps - 1
    )
    # Zero in value, -1 times the spike's cotangent at the first-spike step in the gradient.
    straight = -jnp.sum(jnp.where(at_first, spikes - jax.lax.stop_gradient(spikes), 0.0), axis=0)
    return hard.astype(spikes.dtype) + straight


def _hard_first_spike(spikes: jax.Array) -> jax.Array:
    fired = spikes > 0
    return jnp.where(jnp.any(fired, axis=0), jnp.argmax(fired, axis=0), spikes.shape[0])


def ce_first_spike_loss(
    spikes: jax.Array,
    labels: jax.Array,
    *,
    scale: float = 1.0,
    method: str = "survival",
    reduction: str = "mean",
) -> jax.Array:
    """Cross-entropy of negative first-spike times, ``-scale * t_first``, as logits.

    The true class is pushed to spike first. ``method`` picks the gradient of the first-spike
    time (:func:`first_spike_time_surrogate`); ``method="straight_through"`` is snnTorch's
    ``ce_temporal_loss`` (which gives silent neurons ``T - 1`` instead of ``T``).

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import ce_first_spike_loss
        >>> spikes = jnp.zeros((10, 1, 2)).at[2, 0, 0].set(1.0).at[7, 0, 1].set(1.0)
        >>> ce_first_spike_loss(spikes, jnp.array([0]))                 # class 0 spikes first: low
        Array(0.006715, dtype=float32)
        >>> ce_first_spike_loss(spikes, jnp.array([1]))
        Array(5.0067, dtype=float32)
    """
    _check_reduction(reduction)
    _check_record("spikes", spikes, reduction)
    times = first_spike_time_surrogate(spikes, method=method)
    return cross_entropy(-scale * times, labels, reduction=reduction)


def accuracy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Fraction of samples whose largest ``(B, C)`` logit is the label's class.

    Ties go to the lowest class index (``argmax``). One-hot labels count their argmax.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import accuracy
        >>> accuracy(jnp.array([[2.0, 1.0], [0.0, 3.0], [5.0, 0.0]]), jnp.array([0, 1, 1]))
        Array(0.6667, dtype=float32)
    """
    check_rank("logits", logits, 2, "(B, C)")
    _check_not_empty("logits", logits, {1: "C"}, "(B, C)")
    _check_batch("logits", logits, 0, "(B, C)", "")
    indices = _label_indices(labels, *logits.shape)
    correct = (jnp.argmax(logits, axis=-1) == indices).astype(jnp.float32)
    invalid = _invalid_labels(labels, logits.shape[1])
    if invalid is not None:  # traced labels out of range: NaN, not a silently lower accuracy
        correct = jnp.where(invalid, jnp.nan, correct)
    return jnp.mean(correct)


def accuracy_rate(spikes: jax.Array, labels: jax.Array) -> jax.Array:
    """Accuracy of the most-spiking class (spike count over time; ties to the lowest index).

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import accuracy_rate
        >>> spikes = jnp.zeros((10, 2, 3)).at[:, 0, 0].set(1.0).at[:, 1, 2].set(1.0)
        >>> accuracy_rate(spikes, jnp.array([0, 1]))
        Array(0.5, dtype=float32)
    """
    _check_record("spikes", spikes, "mean", "")
    return accuracy(jnp.sum(_as_float(spikes), axis=0), labels)


def accuracy_max_membrane(voltages: jax.Array, labels: jax.Array) -> jax.Array:
    """Accuracy of the class with the highest membrane voltage over time (Norse's MNIST task).

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import accuracy_max_membrane
        >>> voltages = jnp.zeros((5, 2, 2)).at[1, 0, 1].set(3.0).at[4, 1, 0].set(1.0)
        >>> accuracy_max_membrane(voltages, jnp.array([1, 0]))
        Array(1., dtype=float32)
    """
    _check_record("voltages", voltages, "mean", "")
    return accuracy(jnp.max(_as_float(voltages), axis=0), labels)


def accuracy_first_spike(spikes: jax.Array, labels: jax.Array) -> jax.Array:
    """Accuracy of the class that spikes first (ties, silent outputs included, to the lowest index).

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import accuracy_first_spike
        >>> spikes = jnp.zeros((10, 1, 2)).at[2, 0, 0].set(1.0).at[7, 0, 1].set(1.0)
        >>> accuracy_first_spike(spikes, jnp.array([0]))
        Array(1., dtype=float32)
    """
    _check_record("spikes", spikes, "mean", "")
    return accuracy(-_hard_first_spike(spikes).astype(jnp.float32), labels)
