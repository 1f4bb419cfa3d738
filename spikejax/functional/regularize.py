r"""Activity regularisers for time-major spike and membrane records ``(T, B, ...)``.

Add these to a task loss, weighted by a small factor, to keep a network's activity in a
useful range.

**Firing rates.** The rate of each neuron of each sample is its mean over the ``T`` steps,

.. math::
    r_{b n} = \frac{1}{T} \sum_t z_{t b n} \quad \text{(per-step spike probability)}, \qquad
    r_{b n} / \Delta t \quad \text{(Hz, when } \texttt{dt} \text{ is given)},

and ``target_rate`` / ``bound`` are in the same unit: a fraction of steps in ``[0, 1]`` without
``dt``, Hz with ``dt`` (seconds, Norse's ``1e-3`` for 1 ms steps). The penalties are

.. math::
    (r - r^\ast)^2, \qquad \max(0, r - \vartheta_U)^p, \qquad \max(0, \vartheta_L - r)^p

(target, upper bound, lower bound; ``power`` :math:`p = 2` by default). ``batch_mean=True``
first averages :math:`r` over the batch, so a neuron is judged by its mean rate over the
samples; ``population_mean=True`` averages it over the neurons of each sample. Zenke & Vogels
(2021, *Neural Computation* 33(4)) use a lower bound with ``batch_mean`` (no neuron stays silent
on every sample) and an upper bound with ``population_mean`` (a sample's layer activity stays
bounded), both on spike counts: a count bound :math:`\vartheta` is the rate bound
:math:`\vartheta / T`.

**L1 / L2 activity.** On spikes or membrane voltages ``x``: by default the activity is first
summed over time, :math:`a = \sum_t x_t` (spike counts, or Norse's ``voltage_accumulator``), then
:math:`|a|` or :math:`a^2`; with ``per_step=True`` the penalty is :math:`|x_t|` or
:math:`x_t^2` at every step. snnTorch's ``l1_rate_sparsity(Lambda)`` is
``Lambda * l1_activity_loss(spikes, reduction="sum")``.

``reduction`` is ``"mean"`` (default) or ``"sum"`` over the penalty's entries, or ``"none"``.
Rates over ``T = 0`` steps, and a mean over no entries (an empty batch), would be NaN: they raise
a ``ValueError`` naming the argument and its shape.

**Accumulators.** :func:`regularize_step`, :func:`spike_accumulator` and
:func:`voltage_accumulator` are Norse's ``regularize_step`` helpers: a step returns its spikes
unchanged and a running total (the spike count, or the summed voltages) to use in a loss later.

Example:
    >>> import jax.numpy as jnp
    >>> from spikejax.functional import firing_rate_loss, firing_rate_upper_bound_loss
    >>> spikes = jnp.zeros((10, 1, 2)).at[::2, 0, 0].set(1.0)   # 50 Hz and 0 Hz at 10 ms steps
    >>> firing_rate_loss(spikes, 10.0, dt=1e-2, reduction="none")  # (50-10)^2, (0-10)^2
    Array([[1600.,  100.]], dtype=float32)
    >>> firing_rate_upper_bound_loss(spikes, 0.2, reduction="none")  # per-step rates 0.5 and 0
    Array([[0.09, 0.  ]], dtype=float32)
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional, Tuple

import jax
import jax.numpy as jnp

from ._model import check_dt
from ._validate import check_array, check_min_rank, check_non_negative, check_positive, check_shape
from .loss import _as_float, _check_batch, _check_not_empty, _check_reduction, _reduce

__all__ = [
    "firing_rate_loss",
    "firing_rate_upper_bound_loss",
    "firing_rate_lower_bound_loss",
    "l1_activity_loss",
    "l2_activity_loss",
    "spike_accumulator",
    "voltage_accumulator",
    "regularize_step",
    "Accumulator",
]

#: ``accumulator(z, state_of_the_cell, running_total_or_None) -> new_running_total``.
Accumulator = Callable[[jax.Array, Any, Optional[Any]], Any]


def _rates(
    spikes: Any, dt: Optional[float], batch_mean: bool, population_mean: bool, reduction: str
) -> jax.Array:
    check_min_rank("spikes", spikes, 3, "(T, B, N...)")
    _check_not_empty("spikes", spikes, {0: "T"}, "(T, B, N...)")
    if batch_mean or reduction == "mean":  # both average over the samples
        _check_batch("spikes", spikes, 1, "(T, B, N...)", "")
    if (population_mean or reduction == "mean") and math.prod(spikes.shape[2:]) == 0:
        raise ValueError(
            f"spikes has shape {tuple(spikes.shape)} with layout (T, B, N...): no neurons, whose "
            f"mean rate is NaN; expected at least one neuron"
        )
    if dt is not None:
        check_dt(dt)
    rates = jnp.mean(_as_float(spikes), axis=0)
    if dt is not None:
        rates = rates / dt
    if batch_mean:
        rates = jnp.mean(rates, axis=0)
    if population_mean:
        neuron_axes = tuple(range(0 if batch_mean else 1, rates.ndim))
        rates = jnp.mean(rates, axis=neuron_axes)
    return rates


def firing_rate_loss(
    spikes: jax.Array,
    target_rate: float,
    *,
    dt: Optional[float] = None,
    batch_mean: bool = False,
    population_mean: bool = False,
    reduction: str = "mean",
) -> jax.Array:
    """Squared distance of each firing rate from ``target_rate`` (per-step, or Hz with ``dt``).

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import firing_rate_loss
        >>> spikes = jnp.zeros((100, 1, 2)).at[::10, 0, 0].set(1.0)   # 10 % and 0 % of the steps
        >>> firing_rate_loss(spikes, 0.1, reduction="none").round(6)
        Array([[0.  , 0.01]], dtype=float32)
        >>> round(float(firing_rate_loss(spikes, 50.0, dt=1e-3)))     # rates in Hz: 100 and 0
        2500
    """
    _check_reduction(reduction)
    check_non_negative("target_rate", target_rate)
    rates = _rates(spikes, dt, batch_mean, population_mean, reduction)
    return _reduce((rates - target_rate) ** 2, reduction)


def firing_rate_upper_bound_loss(
    spikes: jax.Array,
    bound: float,
    *,
    dt: Optional[float] = None,
    power: float = 2.0,
    batch_mean: bool = False,
    population_mean: bool = False,
    reduction: str = "mean",
) -> jax.Array:
    """``max(0, rate - bound) ** power``: penalises only rates above ``bound``.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import firing_rate_upper_bound_loss
        >>> spikes = jnp.zeros((100, 1, 2)).at[::2, 0, 0].set(1.0)    # rates 0.5 and 0
        >>> firing_rate_upper_bound_loss(spikes, 0.2, reduction="none")    # only 0.5 > 0.2 costs
        Array([[0.09, 0.  ]], dtype=float32)
    """
    return _one_sided_rate_loss(spikes, bound, +1.0, dt, power, batch_mean, population_mean, reduction)


def firing_rate_lower_bound_loss(
    spikes: jax.Array,
    bound: float,
    *,
    dt: Optional[float] = None,
    power: float = 2.0,
    batch_mean: bool = False,
    population_mean: bool = False,
    reduction: str = "mean",
) -> jax.Array:
    """``max(0, bound - rate) ** power``: penalises only rates below ``bound``.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import firing_rate_lower_bound_loss
        >>> spikes = jnp.zeros((100, 1, 2)).at[::2, 0, 0].set(1.0)    # rates 0.5 and 0
        >>> firing_rate_lower_bound_loss(spikes, 0.2, reduction="none")    # only 0 < 0.2 costs
        Array([[0.  , 0.04]], dtype=float32)
    """
    return _one_sided_rate_loss(spikes, bound, -1.0, dt, power, batch_mean, population_mean, reduction)


def _one_sided_rate_loss(spikes, bound, side, dt, power, batch_mean, population_mean, reduction):
    """``max(0, side * (rate - bound)) ** power`` reduced: the two bound losses in one place."""
    _check_reduction(reduction)
    check_non_negative("bound", bound)
    check_positive("power", power)
    rates = _rates(spikes, dt, batch_mean, population_mean, reduction)
    return _reduce(jax.nn.relu(side * (rates - bound)) ** power, reduction)


def _activity(x: Any, per_step: bool, reduction: str) -> jax.Array:
    check_min_rank("x", x, 1, "(T, ...)")
    size = math.prod(x.shape if per_step else x.shape[1:])  # the entries reduced
    if reduction == "mean" and size == 0:
        raise ValueError(
            f"x has shape {tuple(x.shape)} with layout (T, ...): the mean over its "
            f"{'entries' if per_step else 'neurons and samples'} is the mean of nothing (NaN); "
            f"expected at least one entry, or reduction='sum' or 'none'"
        )
    x = _as_float(x)
    return x if per_step else jnp.sum(x, axis=0)


def l1_activity_loss(
    x: jax.Array, *, per_step: bool = False, reduction: str = "mean"
) -> jax.Array:
    """L1 penalty ``|sum_t x|`` (spike counts), or ``|x_t|`` at every step with ``per_step``.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import l1_activity_loss
        >>> spikes = jnp.zeros((10, 1, 2)).at[:3, 0, 0].set(1.0)      # 3 and 0 spikes
        >>> l1_activity_loss(spikes, reduction="sum")
        Array(3., dtype=float32)
    """
    _check_reduction(reduction)
    return _reduce(jnp.abs(_activity(x, per_step, reduction)), reduction)


def l2_activity_loss(
    x: jax.Array, *, per_step: bool = False, reduction: str = "mean"
) -> jax.Array:
    """L2 penalty ``(sum_t x) ** 2`` (squared spike counts), or ``x_t ** 2`` with ``per_step``.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import l2_activity_loss
        >>> spikes = jnp.zeros((10, 1, 2)).at[:3, 0, 0].set(1.0)      # 3 and 0 spikes
        >>> l2_activity_loss(spikes, reduction="sum")
        Array(9., dtype=float32)
    """
    _check_reduction(reduction)
    return _reduce(_activity(x, per_step, reduction) ** 2, reduction)


def spike_accumulator(z: jax.Array, cell_state: Any = None, state: Optional[Any] = None) -> jax.Array:
    """The running spike count: ``state + sum(z)`` (a scalar; ``state=None`` starts at 0).

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import spike_accumulator
        >>> count = spike_accumulator(jnp.array([1.0, 0.0, 1.0]))
        >>> spike_accumulator(jnp.array([1.0, 1.0, 0.0]), None, count)
        Array(4., dtype=float32)
    """
    check_array("z", z)
    total = jnp.sum(z)
    return total if state is None else state + total


def voltage_accumulator(z: jax.Array, cell_state: Any, state: Optional[Any] = None) -> jax.Array:
    """The running sum of membrane voltages ``cell_state.v`` (``state=None`` starts at 0).

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import lif_feed_forward_step, voltage_accumulator
        >>> z, state = lif_feed_forward_step(jnp.ones(2), None)
        >>> voltage_accumulator(z, state)                   # state.v, summed over the steps
        Array([0.1, 0.1], dtype=float32)
    """
    if not hasattr(cell_state, "v"):
        raise TypeError(
            f"cell_state must be a neuron state with a voltage field `v`, "
            f"got {type(cell_state).__name__}"
        )
    check_array("cell_state.v", cell_state.v)
    if state is None:
        return cell_state.v
    check_shape("state", state, cell_state.v.shape, "the shape of cell_state.v")
    return state + cell_state.v


def regularize_step(
    z: jax.Array,
    cell_state: Any,
    accumulator: Accumulator = spike_accumulator,
    state: Optional[Any] = None,
) -> Tuple[jax.Array, Any]:
    """One regularisation step: ``(z, accumulator(z, cell_state, state))`` (Norse's signature).

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import lif_feed_forward_step, regularize_step
        >>> state, count = None, None
        >>> for _ in range(20):
        ...     z, state = lif_feed_forward_step(jnp.full(3, 2.0), state)
        ...     z, count = regularize_step(z, state, state=count)
        >>> count                                           # spikes of all 3 neurons in 20 steps
        Array(27., dtype=float32)
    """
    if not callable(accumulator):
        raise TypeError(f"accumulator must be callable, got {type(accumulator).__name__}")
    return z, accumulator(z, cell_state, state)
