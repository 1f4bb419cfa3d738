"""Plots of spiking activity with matplotlib: rasters, membrane traces, heatmaps, rate histograms,
and the receptive fields of learned input weights.

Every function takes a time-major record, ``(T, N)`` or ``(T, B, N)`` as a JAX or NumPy array
(``batch_index`` picks the sample of a batched record), draws on ``ax`` (a new figure's axes
when ``None``) and returns the matplotlib ``Axes``. Time is on the x axis in steps, or in
seconds when ``dt`` (the step in seconds) is given. matplotlib is imported only when a plot is
drawn, so ``import spikejax`` does not need it.

Example:
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import jax.numpy as jnp
    >>> from spikejax import plot
    >>> spikes = jnp.zeros((20, 3)).at[::4, 1].set(1.0)
    >>> ax = plot.raster(spikes, dt=1e-3)
    >>> ax.get_xlabel(), len(ax.collections[0].get_offsets())
    ('time (s)', 5)
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from .functional._validate import check_array, check_positive

__all__ = ["raster", "membrane_traces", "heatmap", "firing_rate_histogram", "receptive_fields"]

_LAYOUT = "(T, N) or (T, B, N)"


def _select(name: str, values: Any, batch_index: int) -> np.ndarray:
    """The ``(T, N)`` record of one sample, as float NumPy (bfloat16 included)."""
    check_array(name, values)
    if values.ndim not in (2, 3):
        raise ValueError(
            f"{name} must have rank 2 or 3 with layout {_LAYOUT}, "
            f"got shape {tuple(values.shape)} (rank {values.ndim})"
        )
    array = np.asarray(values).astype(np.float32)
    if array.ndim == 3:
        batch = array.shape[1]
        if not isinstance(batch_index, (int, np.integer)) or not -batch <= batch_index < batch:
            raise ValueError(
                f"batch_index must be an integer in [0, {batch}) for {name} of shape "
                f"{tuple(values.shape)}, got {batch_index!r}"
            )
        array = array[:, batch_index]
    return array


def _axes(ax: Any) -> Any:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots()
    return ax


def _time(steps: int, dt: Optional[float]) -> tuple[np.ndarray, str]:
    if dt is None:
        return np.arange(steps, dtype=np.float64), "time step"
    check_positive("dt", dt)
    return np.arange(steps) * float(dt), "time (s)"


def raster(
    spikes: Any,
    *,
    dt: Optional[float] = None,
    batch_index: int = 0,
    ax: Any = None,
    marker_size: float = 20.0,
    color: Any = "black",
    title: Optional[str] = "Spike raster",
) -> Any:
    """One marker per spike (nonzero entry): time on x, neuron index on y.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import jax.numpy as jnp
        >>> from spikejax import plot
        >>> ax = plot.raster(jnp.eye(3), title=None)    # neuron n spikes at step n
        >>> ax.collections[0].get_offsets().tolist(), ax.get_xlabel()
        ([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]], 'time step')
    """
    record = _select("spikes", spikes, batch_index)
    ax = _axes(ax)
    times, xlabel = _time(record.shape[0], dt)
    steps, neurons = np.nonzero(record)
    ax.scatter(times[steps], neurons, s=marker_size, marker="|", c=color, linewidths=1.0)
    ax.set_xlim(times[0] - 0.5 * (dt or 1.0), times[-1] + 0.5 * (dt or 1.0))
    ax.set_ylim(-0.5, record.shape[1] - 0.5)
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # neurons are whole numbers
    ax.set_xlabel(xlabel)
    ax.set_ylabel("neuron")
    if title:
        ax.set_title(title)
    return ax


def membrane_traces(
    v: Any,
    *,
    threshold: Optional[float] = None,
    neurons: Optional[Sequence[int]] = None,
    dt: Optional[float] = None,
    batch_index: int = 0,
    ax: Any = None,
    title: Optional[str] = "Membrane voltage",
) -> Any:
    """One line per neuron (all, or the indices in ``neurons``), and a dashed ``threshold`` line.

    A legend names the neurons when there are at most 10 of them.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import jax.numpy as jnp
        >>> from spikejax import plot
        >>> v = jnp.linspace(0, 1, 10)[:, None] * jnp.array([1.0, 0.5])   # (T, N) = (10, 2)
        >>> ax = plot.membrane_traces(v, threshold=0.8, dt=1e-3)
        >>> [text.get_text() for text in ax.get_legend().get_texts()]
        ['neuron 0', 'neuron 1', 'threshold']
    """
    record = _select("v", v, batch_index)
    count = record.shape[1]
    chosen = list(range(count)) if neurons is None else [int(n) for n in np.ravel(neurons)]
    bad = [n for n in chosen if not -count <= n < count]
    if bad:
        raise ValueError(f"neurons must be indices in [0, {count}) for v with {count} neurons, got {bad}")
    ax = _axes(ax)
    times, xlabel = _time(record.shape[0], dt)
    for n in chosen:
        ax.plot(times, record[:, n], label=f"neuron {n % count}")
    if threshold is not None:
        ax.axhline(float(threshold), color="gray", linestyle="--", linewidth=1.0, label="threshold")
    if 0 < len(chosen) <= 10:
        ax.legend(loc="best", fontsize="small")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("membrane voltage")
    if title:
        ax.set_title(title)
    return ax


def heatmap(
    values: Any,
    *,
    dt: Optional[float] = None,
    batch_index: int = 0,
    ax: Any = None,
    cmap: str = "viridis",
    label: Optional[str] = None,
    title: Optional[str] = None,
) -> Any:
    """An image of a ``(T, N)`` record, transposed so neurons run up the y axis, with a colorbar.

    The image's array is ``values.T`` (row ``n`` is neuron ``n``, column ``t`` is step ``t``),
    drawn with ``origin="lower"``; ``label`` names the colorbar.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import numpy as np
        >>> from spikejax import plot
        >>> ax = plot.heatmap(np.arange(6.0).reshape(3, 2), label="rate")   # (T, N) = (3, 2)
        >>> ax.images[0].get_array().tolist()         # (N, T)
        [[0.0, 2.0, 4.0], [1.0, 3.0, 5.0]]
    """
    record = _select("values", values, batch_index)
    ax = _axes(ax)
    steps = record.shape[0]
    _, xlabel = _time(steps, dt)
    scale = 1.0 if dt is None else float(dt)
    image = ax.imshow(
        record.T,
        aspect="auto",
        origin="lower",
        interpolation="nearest",
        cmap=cmap,
        extent=(-0.5 * scale, (steps - 0.5) * scale, -0.5, record.shape[1] - 0.5),
    )
    colorbar = ax.figure.colorbar(image, ax=ax)
    if label:
        colorbar.set_label(label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("neuron")
    if title:
        ax.set_title(title)
    return ax


def firing_rate_histogram(
    spikes: Any,
    *,
    dt: float = 1e-3,
    bins: Any = 10,
    batch_index: int = 0,
    ax: Any = None,
    color: Any = "tab:blue",
    title: Optional[str] = "Firing rates",
) -> Any:
    """Histogram of the neurons' firing rates in Hz: spike count / (``T * dt``) per neuron.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import numpy as np
        >>> from spikejax import plot
        >>> spikes = np.zeros((100, 4))
        >>> spikes[::10, :2] = 1                      # two neurons at 100 Hz, two silent
        >>> ax = plot.firing_rate_histogram(spikes, dt=1e-3, bins=2)
        >>> [(float(bar.get_x()), int(bar.get_height())) for bar in ax.patches]   # (from Hz, count)
        [(0.0, 2), (50.0, 2)]
    """
    record = _select("spikes", spikes, batch_index)
    check_positive("dt", dt)
    rates = record.sum(axis=0) / (record.shape[0] * float(dt))
    ax = _axes(ax)
    ax.hist(rates, bins=bins, color=color, edgecolor="black")
    ax.set_xlabel("firing rate (Hz)")
    ax.set_ylabel("neurons")
    if title:
        ax.set_title(title)
    return ax


def receptive_fields(
    weights: Any,
    shape: Sequence[int] = (28, 28),
    *,
    columns: Optional[int] = None,
    ax: Any = None,
    cmap: str = "hot_r",
    title: Optional[str] = "Receptive fields",
) -> Any:
    """One tile per neuron: its input weights, a row of ``weights`` ``(N, H * W)``, as an image.

    The tiles fill a grid of ``columns`` (default about ``sqrt(N)``) left to right, top to
    bottom, separated by one pixel of NaN (drawn blank), with one colour scale for all (a
    colorbar); ``(H, W)`` is ``shape``. The image's array is the whole mosaic.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import numpy as np
        >>> from spikejax import plot
        >>> ax = plot.receptive_fields(np.ones((6, 4)), shape=(2, 2), columns=3)
        >>> ax.images[0].get_array().shape     # 2 rows of 3 tiles of 2x2, 1-pixel gaps
        (5, 8)
    """
    check_array("weights", weights)
    if weights.ndim != 2:
        raise ValueError(
            f"weights must have rank 2 with layout (N, H * W), got shape {tuple(weights.shape)}"
        )
    dims = tuple(shape) if isinstance(shape, (tuple, list)) else ()
    if len(dims) != 2 or not all(isinstance(d, (int, np.integer)) and d > 0 for d in dims):
        raise ValueError(f"shape must be two positive integers (H, W), got {shape!r}")
    height, width = int(dims[0]), int(dims[1])
    count, size = weights.shape
    if size != height * width:
        raise ValueError(
            f"weights has {size} inputs per neuron (shape {tuple(weights.shape)}), expected "
            f"H * W = {height * width} for shape {(height, width)}"
        )
    if count == 0:
        raise ValueError("weights must hold at least one neuron, got shape (0, ...)")
    if columns is None:
        columns = int(np.ceil(np.sqrt(count)))
    elif not isinstance(columns, (int, np.integer)) or columns < 1:
        raise ValueError(f"columns must be a positive integer, got {columns!r}")
    rows = int(np.ceil(count / columns))
    tiles = np.asarray(weights).astype(np.float32).reshape(count, height, width)
    mosaic = np.full((rows * (height + 1) - 1, columns * (width + 1) - 1), np.nan, np.float32)
    for n in range(count):
        top, left = (n // columns) * (height + 1), (n % columns) * (width + 1)
        mosaic[top : top + height, left : left + width] = tiles[n]
    ax = _axes(ax)
    image = ax.imshow(mosaic, cmap=cmap, interpolation="nearest")
    ax.figure.colorbar(image, ax=ax, label="weight")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return ax
