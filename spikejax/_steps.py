"""Train and evaluation steps (re-exported by :mod:`spikejax.train`, where they are documented):
one jitted step that checks its numbers are finite, the evaluation loop, and the data-parallel
wrapping of a step."""

from __future__ import annotations

import collections.abc
import functools
from typing import Any, Callable, Iterable, Mapping, Optional

import jax
import jax.numpy as jnp
from flax import nnx

from spikejax._parallel import DataParallel, batch_rows, data_parallel  # noqa: F401 (the examples use data_parallel)
from spikejax.nn.lift import _batch_major_lift

__all__ = ["make_train_step", "make_eval_step", "evaluate", "NonFiniteError", "accuracy_from_logits"]

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


class NonFiniteError(FloatingPointError):
    """A training step met a NaN or infinity in its loss, gradients or updated parameters.

    Raised by :func:`fit` (unless the step skips such updates: ``skip_nonfinite=True`` of
    :func:`make_train_step`), which never saves the parameters of that epoch: the last
    checkpoint stays the last good one.

    Attributes:
        epoch: the epoch (1-based) of the step.
        step: the step within that epoch (1-based: the ``step``-th batch of ``train_batches(epoch - 1)``).
        last_epoch: the last epoch completed (and checkpointed, with a checkpointer), or ``None``.
        history: the :class:`EpochResult` of each epoch this call of :func:`fit` completed.

    Example:
        >>> import jax.numpy as jnp, optax
        >>> from flax import nnx
        >>> from spikejax.train import fit
        >>> def loss_fn(model, batch):
        ...     return jnp.mean(model(batch["x"]) ** 2), {}
        >>> model = nnx.Linear(4, 3, rngs=nnx.Rngs(0))
        >>> optimizer = nnx.Optimizer(model, optax.sgd(0.1), wrt=nnx.Param)
        >>> batches = [{"x": jnp.ones((2, 4))}, {"x": jnp.full((2, 4), jnp.nan)}]
        >>> try:
        ...     fit(model, optimizer, make_train_step(loss_fn), lambda epoch: batches, epochs=1,
        ...         progress=False, log=None)
        ... except NonFiniteError as error:
        ...     print("epoch", error.epoch, "step", error.step)
        epoch 1 step 2
    """

    def __init__(self, message: str, *, epoch: int, step: int):
        super().__init__(message)
        self.epoch = epoch
        self.step = step
        self.last_epoch: Optional[int] = None
        self.history: list = []


def _all_finite(*trees) -> jax.Array:
    """One boolean: every inexact leaf of ``trees`` is finite (integer and key leaves are skipped)."""
    checks = [
        jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree_util.tree_leaves(trees)
        if hasattr(leaf, "dtype") and jnp.issubdtype(leaf.dtype, jnp.inexact)
    ]
    return jnp.all(jnp.stack(checks)) if checks else jnp.bool_(True)


def _check_batch(batch) -> None:
    """A batch with a zero-size axis (no examples) is an error: its mean loss would be NaN."""
    for path, leaf in jax.tree_util.tree_flatten_with_path(batch)[0]:
        shape = getattr(leaf, "shape", None)
        if shape and 0 in tuple(shape):
            raise ValueError(
                f"batch is empty: batch{jax.tree_util.keystr(path)} has shape {tuple(shape)}; every batch "
                f"needs at least one example (drop empty batches before the step)"
            )


def _check_options(loss_fn, jit, **flags) -> None:
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be a function (model, batch) -> (loss, aux), got {type(loss_fn).__name__}")
    for name, value in dict(jit=jit, **flags).items():
        if not isinstance(value, bool):
            raise TypeError(f"{name} must be a bool, got {value!r}")


def make_train_step(loss_fn: LossFn, *, jit: bool = True, parallel: Optional[DataParallel] = None,
                    skip_nonfinite: bool = False) -> Callable:
    """Build ``train_step(model, optimizer, batch) -> metrics``: forward, loss, grad, update.

    Every step checks that its loss, gradients and updated parameters are finite (one
    reduction inside the jitted step, read back with the other metrics):

    * by default the update is applied anyway and the metrics report ``"nonfinite"`` (1.0 for
      such a step, else 0.0); :func:`fit` then stops with a :class:`NonFiniteError` naming the
      epoch and step, before saving anything of that epoch.
    * with ``skip_nonfinite=True`` a non-finite update is not applied (parameters and optimizer
      state stay as they were, as with ``optax.apply_if_finite``) and the metrics report
      ``"skipped"`` (1.0 or 0.0); :func:`fit` counts them per epoch (``history[k]["train"]["skipped"]``).

    A NaN in the input does not always show in the loss: a spiking threshold maps NaN to "no
    spike", so the loss can stay finite while the gradients are NaN. The check covers both.

    Args:
        loss_fn: ``loss_fn(model, batch) -> (loss, aux)``. ``aux`` is a dict; if it has
            ``"accuracy"`` it is reported, else if it has ``"logits"`` and ``batch`` has ``"y"``
            the accuracy is computed from them.
        jit: wrap the whole step in one ``nnx.jit`` (default).
        parallel: a :func:`data_parallel` to split every batch over its devices (the model and
            optimizer are replicated on them at the first call, or by :func:`fit`).
        skip_nonfinite: skip (do not apply) updates with a non-finite loss, gradient or result.

    Returns:
        A function that updates ``model`` and ``optimizer`` in place and returns
        ``{"loss": ..., "accuracy": ..., "nonfinite" or "skipped": ...}`` as device scalars.
        A batch with an empty axis is a ``ValueError`` (when the step is traced).

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
        (['accuracy', 'loss', 'nonfinite'], True)

        Skipping a NaN update leaves the parameters as they were:

        >>> safe = make_train_step(loss_fn, skip_nonfinite=True)
        >>> before = model.kernel[...]
        >>> metrics = safe(model, optimizer, {"x": jnp.full((2, 4), jnp.nan), "y": jnp.array([0, 1])})
        >>> float(metrics["skipped"]), bool((model.kernel[...] == before).all())
        (1.0, True)
    """
    _check_options(loss_fn, jit, skip_nonfinite=skip_nonfinite)

    def train_step(model, optimizer, batch):
        _check_batch(batch)
        (loss, aux), grads = nnx.value_and_grad(loss_fn, has_aux=True)(model, batch)
        wrt = getattr(optimizer, "wrt", nnx.Param)
        if skip_nonfinite:  # a copy: nnx.state holds the variables themselves, which update() changes
            before = jax.tree_util.tree_map(lambda x: x, (nnx.state(model, wrt), nnx.state(optimizer)))
        optimizer.update(model, grads)
        finite = _all_finite(loss, grads, nnx.state(model, wrt))
        metrics = _metrics(loss, aux, batch)
        if skip_nonfinite:
            keep = functools.partial(jax.tree_util.tree_map, lambda new, old: jnp.where(finite, new, old))
            nnx.update(model, keep(nnx.state(model, wrt), before[0]))
            nnx.update(optimizer, keep(nnx.state(optimizer), before[1]))
            metrics["skipped"] = 1.0 - finite.astype(jnp.float32)
        else:
            metrics["nonfinite"] = 1.0 - finite.astype(jnp.float32)
        return metrics

    if not jit:
        return _sharding_inputs(train_step, parallel)
    step = nnx.jit(train_step)
    # fit() may bind it to its model and optimizer with nnx.cached_partial (see there).
    step.spikejax_cacheable = True
    return _sharding_inputs(step, parallel)


def make_eval_step(loss_fn: LossFn, *, jit: bool = True, parallel: Optional[DataParallel] = None) -> Callable:
    """Build ``eval_step(model, batch) -> metrics`` from the same ``loss_fn`` (no update).

    ``parallel`` splits every batch over devices, as in :func:`make_train_step`. A batch with
    an empty axis is a ``ValueError`` (when the step is traced).

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
    _check_options(loss_fn, jit)

    def eval_step(model, batch):
        _check_batch(batch)
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
    if not callable(eval_step):
        raise TypeError(f"eval_step must be a function (model, batch) -> metrics, got {type(eval_step).__name__}")
    if not isinstance(batches, collections.abc.Iterable):
        raise TypeError(f"batches must be an iterable of batches, got {type(batches).__name__}")
    totals: dict[str, float] = {}
    count = 0
    total = len(batches) if hasattr(batches, "__len__") else None  # for the bar's ETA
    iterator = _progress(batches, desc, progress, total=total)
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
