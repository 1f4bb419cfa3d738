r"""Max-rate classification of unsupervised spiking layers (Inferno's ``MaxRateClassifier``).

Diehl & Cook label each neuron with the class it fires most for, then vote. The state is the
per-neuron, per-class average rate :math:`r_{nk}` (``(N, K)``). An update with a batch of spike
rates :math:`x_{bn}` (or counts: the classifier is linear in them) and labels :math:`y_b` first
forgets, per class, a factor :math:`e^{-\lambda c_k}` for the :math:`c_k` samples of class
:math:`k` in the batch, then adds the batch's class means:

.. math::
    r_{nk} \leftarrow e^{-\lambda c_k}\, r_{nk} + \frac{1}{c_k} \sum_{b:\, y_b = k} x_{bn}

(the second term is 0 for a class absent from the batch). So ``decay`` :math:`\lambda` is the
rate of forgetting per sample of that class; Diehl & Cook's Inferno quickstart uses
:math:`\lambda = 10^{-6}`, and :math:`\lambda = 0` sums the class means of every batch.

From the rates: the proportions :math:`p_{nk} = r_{nk} / \max(\sum_k r_{nk}, 10^{-12})`, the
assignment :math:`a_n = \arg\max_k p_{nk}` (the first class on ties, class 0 for a silent
neuron), and the number :math:`m_k` of neurons assigned to class :math:`k`. A sample's class
logits are the average rate of the neurons assigned to each class, weighted by their proportion
(``proportional=True``, Inferno's default) or not:

.. math::
    \ell_k = \frac{1}{m_k} \sum_{n:\, a_n = k} x_n\, p_{nk} \quad (0 \text{ if } m_k = 0),
    \qquad \hat{y} = \arg\max_k \ell_k

The pure functions (:func:`max_rate_init`, :func:`max_rate_update`, :func:`max_rate_predict`,
...) work under ``jit``; :class:`MaxRateClassifier` is a small stateful wrapper that, like
Inferno's, predicts before it learns from the same batch.

Example:
    >>> import jax.numpy as jnp
    >>> from spikejax.learn import (
    ...     max_rate_assignments, max_rate_init, max_rate_predict, max_rate_update)
    >>> state = max_rate_init(3, n_classes=2)
    >>> rates = jnp.array([[5.0, 0.0, 1.0], [0.0, 4.0, 1.0]])     # (B, N)
    >>> state = max_rate_update(state, rates, jnp.array([0, 1]))
    >>> max_rate_assignments(state)
    Array([0, 1, 0], dtype=int32)
    >>> max_rate_predict(state, jnp.array([[0.0, 3.0, 1.0]]))
    Array([1], dtype=int32)
"""

from __future__ import annotations

import math
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from ..functional._validate import check_array, check_int, check_rank, is_concrete

__all__ = [
    "MaxRateState",
    "max_rate_init",
    "max_rate_update",
    "max_rate_proportions",
    "max_rate_assignments",
    "max_rate_occurrences",
    "max_rate_logits",
    "max_rate_predict",
    "MaxRateClassifier",
]

_EPSILON = 1e-12  # torch.nn.functional.normalize's default, as Inferno uses it


class MaxRateState(NamedTuple):
    """The classifier state: accumulated per-class rates ``rates`` ``(N, K)``.

    Example:
        >>> from spikejax.learn import MaxRateState, max_rate_init
        >>> state = max_rate_init(3, 2)
        >>> isinstance(state, MaxRateState), state.rates.shape
        (True, (3, 2))
    """

    rates: jax.Array


def max_rate_init(n_neurons: int, n_classes: int, dtype=jnp.float32) -> MaxRateState:
    """A classifier that has seen nothing: all rates zero, ``(n_neurons, n_classes)``.

    Example:
        >>> from spikejax.learn import max_rate_init
        >>> max_rate_init(2, n_classes=3).rates
        Array([[0., 0., 0.],
               [0., 0., 0.]], dtype=float32)
    """
    n_neurons = check_int("n_neurons", n_neurons)
    n_classes = check_int("n_classes", n_classes)
    return MaxRateState(rates=jnp.zeros((n_neurons, n_classes), dtype))


def _check_state(state) -> tuple[int, int]:
    if not isinstance(state, MaxRateState):
        raise TypeError(
            f"state must be a MaxRateState (from max_rate_init), got {type(state).__name__}"
        )
    check_rank("state.rates", state.rates, 2, "(N, K)")
    return state.rates.shape


def _check_rates(rates, n_neurons: int) -> None:
    check_rank("rates", rates, 2, "(B, N)")
    if rates.shape[1] != n_neurons:
        raise ValueError(
            f"rates has shape {tuple(rates.shape)}, expected (B, {n_neurons}) (the N of the "
            f"classifier state)"
        )


def _check_labels(labels, batch: int, n_classes: int) -> None:
    check_rank("labels", labels, 1, "(B,)")
    if labels.shape[0] != batch:
        raise ValueError(
            f"labels has shape {tuple(labels.shape)}, expected ({batch},) (one per sample)"
        )
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise TypeError(f"labels must be integers, got dtype {labels.dtype}")
    if is_concrete(labels) and labels.size:
        low, high = int(np.min(np.asarray(labels))), int(np.max(np.asarray(labels)))
        if low < 0 or high >= n_classes:
            raise ValueError(
                f"labels must lie in [0, {n_classes - 1}] (n_classes={n_classes}), got values in "
                f"[{low}, {high}]"
            )


def max_rate_update(
    state: MaxRateState, rates: jax.Array, labels: jax.Array, *, decay: float = 0.0
) -> MaxRateState:
    """Learn from a batch: forget ``exp(-decay * c_k)`` per class, add the class-mean rates.

    Args:
        state: the classifier state.
        rates: spike rates (or counts) ``(B, N)``.
        labels: true classes ``(B,)``, integers in ``[0, K)``. Under ``jit`` the range is not
            checked; a label outside it is ignored.
        decay: :math:`\\lambda >= 0`, forgetting per sample of a class (Diehl & Cook: 1e-6).

    Returns:
        The new state.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.learn import max_rate_init, max_rate_update
        >>> rates = jnp.array([[4.0, 0.0], [2.0, 0.0], [0.0, 3.0]])   # (B, N)
        >>> state = max_rate_update(max_rate_init(2, 2), rates, jnp.array([0, 0, 1]))
        >>> state.rates              # the class means of each neuron's rate
        Array([[3., 0.],
               [0., 3.]], dtype=float32)
    """
    n_neurons, n_classes = _check_state(state)
    _check_rates(rates, n_neurons)
    _check_labels(labels, rates.shape[0], n_classes)
    if is_concrete(decay) and not (float(decay) >= 0 and np.isfinite(float(decay))):
        raise ValueError(f"decay must be non-negative and finite, got {decay}")
    if is_concrete(rates) and not np.all(np.isfinite(np.asarray(rates))):
        # One NaN rate would make the whole row of the state NaN for good.
        raise ValueError("rates must be finite, got NaN or infinite entries")
    dtype = state.rates.dtype
    one_hot = jax.nn.one_hot(labels, n_classes, dtype=dtype)  # out-of-range rows are all zero
    counts = one_hot.sum(axis=0)
    sums = rates.astype(dtype).T @ one_hot  # (N, K)
    means = jnp.where(counts > 0, sums / jnp.maximum(counts, 1), 0)
    return MaxRateState(rates=jnp.exp(-decay * counts) * state.rates + means)


def max_rate_proportions(state: MaxRateState) -> jax.Array:
    """Rates normalised per neuron to sum to 1 over the classes, ``(N, K)`` (0 for silent ones).

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.learn import MaxRateState, max_rate_proportions
        >>> max_rate_proportions(MaxRateState(rates=jnp.array([[3.0, 1.0], [0.0, 0.0]])))
        Array([[0.75, 0.25],
               [0.  , 0.  ]], dtype=float32)
    """
    _check_state(state)
    total = jnp.sum(jnp.abs(state.rates), axis=-1, keepdims=True)
    return state.rates / jnp.maximum(total, _EPSILON)


def max_rate_assignments(state: MaxRateState) -> jax.Array:
    """The class of each neuron, ``(N,)``: its largest proportion (first on ties).

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.learn import MaxRateState, max_rate_assignments
        >>> rates = jnp.array([[3.0, 1.0], [0.0, 2.0], [1.0, 1.0]])     # (N, K)
        >>> max_rate_assignments(MaxRateState(rates=rates))          # ties go to the first class
        Array([0, 1, 0], dtype=int32)
    """
    return jnp.argmax(max_rate_proportions(state), axis=-1).astype(jnp.int32)


def max_rate_occurrences(state: MaxRateState) -> jax.Array:
    """How many neurons are assigned to each class, ``(K,)``.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.learn import MaxRateState, max_rate_occurrences
        >>> rates = jnp.array([[3.0, 1.0], [0.0, 2.0], [5.0, 1.0]])     # (N, K)
        >>> max_rate_occurrences(MaxRateState(rates=rates))
        Array([2, 1], dtype=int32)
    """
    n_classes = _check_state(state)[1]
    return jax.nn.one_hot(max_rate_assignments(state), n_classes, dtype=jnp.int32).sum(axis=0)


def max_rate_logits(
    state: MaxRateState, rates: jax.Array, *, proportional: bool = True
) -> jax.Array:
    """Class logits ``(B, K)``: the (proportion-weighted) mean rate of each class's neurons.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.learn import MaxRateState, max_rate_logits
        >>> state = MaxRateState(rates=jnp.array([[1.0, 0.0], [0.0, 1.0]]))   # neuron k: class k
        >>> max_rate_logits(state, jnp.array([[2.0, 5.0]]))
        Array([[2., 5.]], dtype=float32)
    """
    n_neurons, n_classes = _check_state(state)
    _check_rates(rates, n_neurons)
    proportions = max_rate_proportions(state)
    assigned = jax.nn.one_hot(jnp.argmax(proportions, axis=-1), n_classes, dtype=proportions.dtype)
    weights = assigned * proportions if proportional else assigned
    occurrences = assigned.sum(axis=0)
    totals = rates.astype(proportions.dtype) @ weights
    return jnp.where(occurrences > 0, totals / jnp.maximum(occurrences, 1), 0)


def max_rate_predict(
    state: MaxRateState, rates: jax.Array, *, proportional: bool = True
) -> jax.Array:
    """Predicted classes ``(B,)`` of spike rates ``(B, N)``: the largest logit (first on ties).

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.learn import MaxRateState, max_rate_predict
        >>> state = MaxRateState(rates=jnp.array([[1.0, 0.0], [0.0, 1.0]]))
        >>> max_rate_predict(state, jnp.array([[2.0, 5.0], [3.0, 1.0]]))
        Array([1, 0], dtype=int32)
    """
    logits = max_rate_logits(state, rates, proportional=proportional)
    return jnp.argmax(logits, axis=-1).astype(jnp.int32)


class MaxRateClassifier:
    """Stateful convenience wrapper around the pure functions (Inferno's ``MaxRateClassifier``).

    Args:
        n_neurons: neurons classified (``N``).
        n_classes: number of classes (``K``).
        decay: forgetting per sample of a class, :math:`\\lambda >= 0` (Diehl & Cook: 1e-6).
        proportional: weight each neuron's vote by its proportion (Inferno's default).

    Calling it with spike rates ``(B, N)`` (or spikes ``(T, B, N)``, averaged over time as
    Inferno does) and labels predicts first, then updates; ``labels=None`` only predicts.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.learn import MaxRateClassifier
        >>> classifier = MaxRateClassifier(3, 2)
        >>> rates = jnp.array([[5.0, 0.0, 1.0], [0.0, 4.0, 1.0]])   # (B, N)
        >>> classifier(rates, jnp.array([0, 1]))      # predicts (knowing nothing yet), then learns
        Array([0, 0], dtype=int32)
        >>> classifier(rates)                         # predicts only
        Array([0, 1], dtype=int32)
        >>> classifier.assignments
        Array([0, 1, 0], dtype=int32)
    """

    def __init__(self, n_neurons: int, n_classes: int, *, decay: float = 0.0,
                 proportional: bool = True):
        if (not isinstance(decay, (int, float)) or isinstance(decay, bool) or not decay >= 0
                or not math.isfinite(decay)):
            raise ValueError(f"decay must be a non-negative number, got {decay!r}")
        self.state = max_rate_init(n_neurons, n_classes)
        self.decay = float(decay)
        self.proportional = proportional

    @property
    def assignments(self) -> jax.Array:
        """The class of each neuron, ``(N,)``."""
        return max_rate_assignments(self.state)

    def update(self, rates: jax.Array, labels: jax.Array) -> None:
        """Learn from spike rates ``(B, N)`` and their labels ``(B,)``."""
        self.state = max_rate_update(self.state, rates, labels, decay=self.decay)

    def predict(self, rates: jax.Array) -> jax.Array:
        """Predicted classes ``(B,)``."""
        return max_rate_predict(self.state, rates, proportional=self.proportional)

    def __call__(self, rates: jax.Array, labels: Optional[jax.Array] = None) -> jax.Array:
        check_array("rates", rates)
        if rates.ndim == 3 and rates.shape[0] == 0:
            raise ValueError(
                f"rates has shape {tuple(rates.shape)}: no time steps to average, expected "
                "(T, B, N) with T >= 1 or rates (B, N)"
            )
        if rates.ndim == 3:
            rates = jnp.mean(rates.astype(self.state.rates.dtype), axis=0)
        predictions = self.predict(rates)
        if labels is not None:
            self.update(rates, labels)
        return predictions
