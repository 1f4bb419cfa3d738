"""Training utilities: one jitted train step, evaluation, progress bars, orbax checkpoints.

The pieces compose with any NNX model and optax optimizer:

* :func:`make_train_step` wraps forward, loss, gradient and update in one ``nnx.jit``.
* :func:`make_eval_step` and :func:`evaluate` compute metrics without updating anything.
* :class:`Checkpointer` saves the model, the optimizer and the epoch with orbax, and restores
  the latest, so that an interrupted run resumed with it ends with the same parameters as an
  uninterrupted one (bitwise on CPU), given data and randomness that depend only on the epoch.
* :func:`fit` is the epoch loop with a tqdm bar showing loss and accuracy.
* :func:`data_parallel` splits every batch over devices (``parallel=`` of the steps), and
  :func:`initialize_distributed` joins several processes (hosts) into one run.

Data parallelism: build the steps with ``parallel=data_parallel(...)`` and use them as before
(``fit`` and ``evaluate`` copy the model and optimizer to every device). The batch is split
along its batch axis (``batch_axis``: 0 for ``(B, ...)``, 1 for time-major ``(T, B, ...)``, or
one per leaf) over the devices and the parameters stay replicated, so the result is that of one
device up to float rounding. The batch size must be a multiple of the device count. With several
processes, call ``initialize_distributed(...)`` first; each process then feeds its own
``B / num_processes`` rows of every batch, and all processes run the same steps::

    initialize_distributed("10.0.0.1:1234", num_processes=2, process_id=rank)  # no-op for one
    parallel = data_parallel(batch_axis={"x": 1, "y": 0})  # every device of every process
    step = make_train_step(loss_fn, parallel=parallel)
    fit(model, optimizer, step, train_batches, epochs=10,
        eval_step=make_eval_step(loss_fn, parallel=parallel), eval_batches=eval_batches)

Example:
    >>> import jax.numpy as jnp, optax
    >>> from flax import nnx
    >>> from spikejax.train import make_train_step
    >>> model = nnx.Linear(4, 3, rngs=nnx.Rngs(0))
    >>> optimizer = nnx.Optimizer(model, optax.sgd(0.1), wrt=nnx.Param)
    >>> def loss_fn(model, batch):
    ...     logits = model(batch["x"])
    ...     loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]).mean()
    ...     return loss, {"logits": logits}
    >>> step = make_train_step(loss_fn)
    >>> metrics = step(model, optimizer, {"x": jnp.ones((2, 4)), "y": jnp.array([0, 1])})
    >>> sorted(metrics)
    ['accuracy', 'loss']
"""

from __future__ import annotations

import functools
import os
import platform
import time
from typing import Any, Callable, Iterable, Mapping, Optional

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from spikejax._checkpoint import Checkpointer
from spikejax._parallel import DataParallel, batch_rows, data_parallel, initialize_distributed
from spikejax.nn.sequential import _batch_major_lift

__all__ = [
    "make_train_step",
    "make_eval_step",
    "evaluate",
    "Checkpointer",
    "fit",
    "EpochResult",
    "environment",
    "accuracy_from_logits",
    "DataParallel",
    "data_parallel",
    "initialize_distributed",
]

LossFn = Callable[[nnx.Module, Any], tuple[jax.Array, Mapping[str, jax.Array]]]


def accuracy_from_logits(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Fraction of rows of ``logits`` (B, C) whose argmax equals ``labels`` (B,).

    Example:
        >>> import jax.numpy as jnp
        >>> float(accuracy_from_logits(jnp.array([[0.1, 0.9], [0.8, 0.2]]), jnp.array([1, 1])))
        0.5
    """
    return jnp.mean(jnp.argmax(logits, axis=-1) == labels)


def _metrics(loss, aux, batch) -> dict:
    metrics = {"loss": loss}
    aux = dict(aux or {})
    if "accuracy" in aux:
        metrics["accuracy"] = aux["accuracy"]
    elif "logits" in aux and isinstance(batch, Mapping) and "y" in batch:
        metrics["accuracy"] = accuracy_from_logits(aux["logits"], batch["y"])
    return metrics


def make_train_step(loss_fn: LossFn, *, jit: bool = True, parallel: Optional[DataParallel] = None) -> Callable:
    """Build ``train_step(model, optimizer, batch) -> metrics``: forward, loss, grad, update.

    Args:
        loss_fn: ``loss_fn(model, batch) -> (loss, aux)``. ``aux`` is a dict; if it has
            ``"accuracy"`` it is reported, else if it has ``"logits"`` and ``batch`` has ``"y"``
            the accuracy is computed from them.
        jit: wrap the whole step in one ``nnx.jit`` (default).
        parallel: a :func:`data_parallel` to split every batch over its devices (the model and
            optimizer are replicated on them at the first call, or by :func:`fit`).

    Returns:
        A function that updates ``model`` and ``optimizer`` in place and returns
        ``{"loss": ..., "accuracy": ...}`` as device scalars.

    Example:
        >>> import jax.numpy as jnp, optax
        >>> from flax import nnx
        >>> def loss_fn(model, batch):
        ...     logits = model(batch["x"])
        ...     return optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]).mean(), {"logits": logits}
        >>> model = nnx.Linear(4, 3, rngs=nnx.Rngs(0))
        >>> optimizer = nnx.Optimizer(model, optax.sgd(0.1), wrt=nnx.Param)
        >>> step = make_train_step(loss_fn, parallel=data_parallel())  # over every device
        >>> metrics = step(model, optimizer, {"x": jnp.ones((2, 4)), "y": jnp.array([0, 1])})
        >>> sorted(metrics), metrics["loss"].sharding.is_fully_replicated
        (['accuracy', 'loss'], True)
    """

    def train_step(model, optimizer, batch):
        (loss, aux), grads = nnx.value_and_grad(loss_fn, has_aux=True)(model, batch)
        optimizer.update(model, grads)
        return _metrics(loss, aux, batch)

    if not jit:
        return _sharding_inputs(train_step, parallel)
    step = nnx.jit(train_step)
    # fit() may bind it to its model and optimizer with nnx.cached_partial (see there).
    step.spikejax_cacheable = True
    return _sharding_inputs(step, parallel)


def make_eval_step(loss_fn: LossFn, *, jit: bool = True, parallel: Optional[DataParallel] = None) -> Callable:
    """Build ``eval_step(model, batch) -> metrics`` from the same ``loss_fn`` (no update).

    ``parallel`` splits every batch over devices, as in :func:`make_train_step`.

    Example:
        >>> import jax.numpy as jnp, optax
        >>> from flax import nnx
        >>> def loss_fn(model, batch):
        ...     logits = model(batch["x"])
        ...     return optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]).mean(), {"logits": logits}
        >>> model = nnx.Linear(4, 3, rngs=nnx.Rngs(0))
        >>> right = int(model(jnp.ones(4)).argmax())  # the class the model predicts for ones
        >>> batch = {"x": jnp.ones((2, 4)), "y": jnp.array([right, (right + 1) % 3])}
        >>> metrics = make_eval_step(loss_fn)(model, batch)
        >>> float(metrics["accuracy"])
        0.5
    """

    def eval_step(model, batch):
        loss, aux = loss_fn(model, batch)
        return _metrics(loss, aux, batch)

    return _sharding_inputs(nnx.jit(eval_step) if jit else eval_step, parallel)


def _sharding_inputs(step: Callable, parallel: Optional[DataParallel]) -> Callable:
    """``step`` with its last argument, the batch, split over ``parallel``'s devices first.

    The split happens outside the jit: a global array spanning processes can only be assembled
    from host data (``DataParallel.shard``). ``fit`` and ``evaluate`` find the unwrapped step
    and the ``DataParallel`` in the attributes.
    """
    if parallel is None:
        return step
    if not isinstance(parallel, DataParallel):
        raise TypeError(
            f"parallel must be a DataParallel (from data_parallel()) or None, got {type(parallel).__name__}"
        )

    def sharded_step(*args):
        *objects, batch = args
        with _batch_major_lift():  # traced in here: Lift keeps the batch split (see Lift)
            return step(*objects, parallel.shard(batch))

    sharded_step.spikejax_parallel = parallel
    sharded_step.spikejax_step = step
    return sharded_step


def evaluate(model, eval_step: Callable, batches: Iterable, *, progress: bool = False, desc: str = "eval",
             batch_axis: Any = None) -> dict:
    """Average ``eval_step`` metrics over ``batches``, weighting each batch by its size.

    The model is put in evaluation mode (``model.eval()``: dropout off) for the duration and
    back in training mode after. The batch size is read along ``batch_axis``: an int for every
    leaf (1 for time-major ``(T, B, ...)`` inputs) or a pytree prefix of the batch such as
    ``{"x": 1, "y": 0}``, as in :func:`data_parallel`. By default (``None``) it is the leading
    axis of the batch's first leaf that has one (scalars such as a PRNG key are skipped), or with
    a data-parallel ``eval_step`` that step's ``batch_axis`` (this process's rows; the model is
    replicated first).

    Example:
        >>> import jax.numpy as jnp, optax
        >>> from flax import nnx
        >>> def loss_fn(model, batch):
        ...     logits = model(batch["x"])
        ...     return optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]).mean(), {"logits": logits}
        >>> model = nnx.Linear(4, 3, rngs=nnx.Rngs(0))
        >>> right = int(model(jnp.ones(4)).argmax())  # the class the model predicts for ones
        >>> batches = [{"x": jnp.ones((3, 4)), "y": jnp.full(3, right)},
        ...            {"x": jnp.ones((1, 4)), "y": jnp.array([(right + 1) % 3])}]
        >>> evaluate(model, make_eval_step(loss_fn), batches)["accuracy"]  # (3 * 1.0 + 1 * 0.0) / 4
        0.75

        Time-major inputs: name the batch axis, or a batch is weighed by its number of steps.

        >>> def rate_loss(model, batch):                    # x: (T, B, 4), y: (B,)
        ...     logits = model(batch["x"]).mean(0)
        ...     return optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]).mean(), {"logits": logits}
        >>> batches = [{"x": jnp.ones((5, 3, 4)), "y": jnp.full(3, right)},
        ...            {"x": jnp.ones((5, 1, 4)), "y": jnp.array([(right + 1) % 3])}]
        >>> evaluate(model, make_eval_step(rate_loss), batches, batch_axis={"x": 1, "y": 0})["accuracy"]
        0.75
    """
    totals: dict[str, float] = {}
    count = 0
    iterator = _progress(batches, desc, progress)
    parallel = getattr(eval_step, "spikejax_parallel", None)
    if parallel is not None:
        parallel.replicate(model)
    if parallel is not None and batch_axis is not None:
        raise ValueError(
            "batch_axis is given to data_parallel() for a data-parallel eval_step, not to evaluate; "
            f"got batch_axis={batch_axis!r} and {parallel!r}"
        )
    if parallel is not None:
        batch_size = parallel.local_batch_size
    elif batch_axis is not None:
        batch_size = functools.partial(batch_rows, batch_axis=batch_axis)
    else:
        batch_size = _batch_size
    model.eval()
    try:
        for batch in iterator:
            size = batch_size(batch)
            metrics = jax.device_get(eval_step(model, batch))
            for key, value in metrics.items():
                totals[key] = totals.get(key, 0.0) + float(value) * size
            count += size
    finally:
        model.train()
    if count == 0:
        raise ValueError("batches must contain at least one batch, got none")
    return {key: value / count for key, value in totals.items()}


def _batch_size(batch) -> int:
    for leaf in jax.tree_util.tree_leaves(batch):
        if getattr(leaf, "ndim", 0) >= 1:
            return int(leaf.shape[0])
    raise ValueError("a batch must contain an array with a leading batch axis, got only scalars")


def _progress(iterable, desc, enabled, total=None):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, leave=False, dynamic_ncols=True)


class EpochResult(dict):
    """Per-epoch record: ``epoch``, ``train`` metrics, ``eval`` metrics, ``seconds``.

    Example:
        >>> EpochResult(epoch=1, train={"loss": 0.5}, seconds=2.0)["train"]["loss"]
        0.5
    """


def fit(
    model,
    optimizer,
    train_step: Callable,
    train_batches: Callable[[int], Iterable],
    *,
    epochs: int,
    eval_step: Optional[Callable] = None,
    eval_batches: Optional[Callable[[], Iterable]] = None,
    checkpointer: Optional[Checkpointer] = None,
    resume: bool = False,
    metadata: Optional[Mapping] = None,
    progress: bool = True,
    on_epoch_end: Optional[Callable[[EpochResult], None]] = None,
    log: Callable[[str], None] = print,
    eval_batch_axis: Any = None,
) -> list[EpochResult]:
    """Train for ``epochs`` epochs, evaluating and checkpointing after each.

    Args:
        model, optimizer: an NNX model and its ``nnx.Optimizer``, updated in place.
        train_step: from :func:`make_train_step`.
        train_batches: ``train_batches(epoch) -> iterable of batches``; its order must depend
            only on ``epoch`` (for example a seed plus the epoch) for resumption to be exact.
        epochs: the total number of epochs of the run (including resumed ones).
        eval_step, eval_batches: evaluation after every epoch (optional).
        checkpointer: save after every epoch when given.
        resume: continue from the checkpointer's latest epoch (a fresh start if there is none).
        metadata: saved with each checkpoint (e.g. the configuration).
        progress: show a tqdm bar with the running loss and accuracy.
        on_epoch_end: called with each epoch's :class:`EpochResult` (after the checkpoint).
        log: where one summary line per epoch goes (``None`` for silence).
        eval_batch_axis: the batch axis of ``eval_batches``' leaves, passed to :func:`evaluate`
            (for example ``{"x": 1, "y": 0}`` for time-major inputs).

    Returns:
        The :class:`EpochResult` of every epoch run by this call.

    Example:
        >>> import jax.numpy as jnp, optax
        >>> from flax import nnx
        >>> def loss_fn(model, batch):
        ...     logits = model(batch["x"])
        ...     return optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]).mean(), {"logits": logits}
        >>> model = nnx.Linear(4, 3, rngs=nnx.Rngs(0))
        >>> optimizer = nnx.Optimizer(model, optax.adam(0.1), wrt=nnx.Param)
        >>> data = [{"x": jnp.eye(4)[:2], "y": jnp.array([0, 1])}]
        >>> history = fit(model, optimizer, make_train_step(loss_fn), lambda epoch: data, epochs=3,
        ...               progress=False, log=None)
        >>> [h["epoch"] for h in history], history[-1]["train"]["loss"] < history[0]["train"]["loss"]
        ([1, 2, 3], True)
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    start = 0
    if resume:
        if checkpointer is None:
            raise ValueError("resume=True needs a checkpointer, got checkpointer=None")
        latest = checkpointer.latest_epoch()
        if latest is not None:
            checkpointer.restore(model, optimizer)
            start = latest
            if log:
                log(f"resumed from epoch {latest} in {checkpointer.directory}")
    history = []
    for epoch in range(start, epochs):
        began = time.perf_counter()
        batches = train_batches(epoch)
        total = len(batches) if hasattr(batches, "__len__") else None
        bar = _progress(batches, f"epoch {epoch + 1}/{epochs}", progress, total=total)
        sums: dict[str, float] = {}
        seen = 0
        pending = []
        step = _bind(train_step, model, optimizer)
        for index, batch in enumerate(bar):
            pending.append(step(batch))
            # Reading metrics back after every step would make the host wait for the device at
            # each step; fetching every 10 steps keeps the device queue full.
            if len(pending) == 10:
                seen = _accumulate(sums, pending, seen)
                if progress:
                    bar.set_postfix({k: f"{v / seen:.4f}" for k, v in sums.items()})
        seen = _accumulate(sums, pending, seen)
        if seen == 0:
            raise ValueError(f"train_batches({epoch}) yielded no batch")
        train_seconds = time.perf_counter() - began
        result = EpochResult(
            epoch=epoch + 1,
            train={k: v / seen for k, v in sums.items()},
            seconds=train_seconds,
        )
        if eval_step is not None and eval_batches is not None:
            result["eval"] = evaluate(model, eval_step, eval_batches(), progress=progress,
                                      batch_axis=eval_batch_axis)
        if checkpointer is not None:
            checkpointer.save(epoch + 1, model, optimizer, metadata)
        history.append(result)
        if log:
            parts = [f"epoch {epoch + 1}/{epochs}", f"{train_seconds:.1f}s"]
            parts += [f"train {k} {v:.4f}" for k, v in result["train"].items()]
            parts += [f"eval {k} {v:.4f}" for k, v in result.get("eval", {}).items()]
            log(", ".join(parts))
        if on_epoch_end is not None:
            on_epoch_end(result)
    return history


def _bind(train_step, model, optimizer):
    """``batch -> metrics`` for one epoch.

    A step from :func:`make_train_step` is bound with ``nnx.cached_partial``, which traverses
    the model's graph once instead of at every call: that traversal costs several
    milliseconds per step for a small model (about 20% of a 35 ms CPU step measured here).
    The cache is only valid while the graph's structure is fixed, which holds within an epoch
    (evaluation, which switches modes, runs after it). A data-parallel step is bound below
    its batch splitting, after copying the model and optimizer to its devices.
    """
    parallel = getattr(train_step, "spikejax_parallel", None)
    if parallel is not None:
        parallel.replicate(model, optimizer)
        bound = _bind(train_step.spikejax_step, model, optimizer)
        return lambda batch: bound(parallel.shard(batch))
    if getattr(train_step, "spikejax_cacheable", False):
        return nnx.cached_partial(train_step, model, optimizer)
    return lambda batch: train_step(model, optimizer, batch)


def _accumulate(sums: dict, pending: list, seen: int) -> int:
    for metrics in jax.device_get(pending):
        for key, value in metrics.items():
            sums[key] = sums.get(key, 0.0) + float(value)
    seen += len(pending)
    pending.clear()
    return seen


def environment() -> dict:
    """The device, platform and library versions, for JSON summaries.

    Example:
        >>> environment()["jax"] == jax.__version__
        True
    """
    import flax
    import optax

    device = jax.devices()[0]
    return {
        "device": getattr(device, "device_kind", str(device)),
        "platform": device.platform,
        "device_count": jax.device_count(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "flax": flax.__version__,
        "optax": optax.__version__,
        "numpy": np.__version__,
    }
