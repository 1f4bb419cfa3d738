"""Training utilities: one jitted train step, evaluation, progress bars, orbax checkpoints.

The pieces compose with any NNX model and optax optimizer:

* :func:`make_train_step` wraps forward, loss, gradient and update in one ``nnx.jit``.
* :func:`make_eval_step` and :func:`evaluate` compute metrics without updating anything.
* :class:`Checkpointer` saves the model, the optimizer and the epoch with orbax, and restores
  the latest, so that an interrupted run resumed with it ends with the same parameters as an
  uninterrupted one (bitwise on CPU), given data and randomness that depend only on the epoch.
* :func:`fit` is the epoch loop with a tqdm bar showing loss and accuracy. It never loses or
  ignores a saved run (it refuses to start from scratch over one unless asked), resumes from
  the newest intact checkpoint, and stops at a NaN or infinity with a :class:`NonFiniteError`
  naming the epoch and step (or skips such steps with ``make_train_step(..., skip_nonfinite=True)``).
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
    >>> sorted(metrics)  # "nonfinite": 1.0 when the loss, a gradient or a parameter is NaN or infinite
    ['accuracy', 'loss', 'nonfinite']
"""

from __future__ import annotations

import os
import platform
import time
from typing import Any, Callable, Iterable, Mapping, Optional

import jax
import numpy as np
from flax import nnx

from spikejax._checkpoint import CheckpointError, Checkpointer, CheckpointWarning
from spikejax._checkpoint_payload import check_metadata
from spikejax._parallel import DataParallel, data_parallel, initialize_distributed
from spikejax.nn.lift import _batch_major_lift
from spikejax._steps import (
    NonFiniteError,
    _progress,
    accuracy_from_logits,
    evaluate,
    make_eval_step,
    make_train_step,
)

__all__ = [
    "make_train_step",
    "make_eval_step",
    "evaluate",
    "Checkpointer",
    "CheckpointError",
    "CheckpointWarning",
    "NonFiniteError",
    "fit",
    "EpochResult",
    "environment",
    "accuracy_from_logits",
    "DataParallel",
    "data_parallel",
    "initialize_distributed",
]


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

    Each epoch's ``history[k]["train"]`` holds the mean of that epoch's step metrics (each
    step counts once), plus ``"skipped"``, the number of skipped non-finite steps, when the
    step skips them (``make_train_step(..., skip_nonfinite=True)``).

    Nothing on disk is lost or ignored: with a ``checkpointer`` whose folder already holds
    checkpoints, ``fit`` refuses to start from scratch (:class:`FileExistsError`) unless
    ``resume=True`` (continue that run) or the checkpointer was made with ``overwrite=True``
    (replace it). A resume restores the newest intact checkpoint (skipping damaged ones with a
    :class:`CheckpointWarning`). A step with a NaN or infinite loss, gradient or parameter
    stops the run with a :class:`NonFiniteError` naming the epoch and step, before that epoch
    is saved: the last checkpoint stays the last good one.

    A ``KeyboardInterrupt`` (Ctrl-C) or :class:`NonFiniteError` leaving ``fit`` carries
    ``last_epoch`` (the last epoch completed, and saved with a checkpointer; ``None`` if none)
    and ``history`` (the epochs this call completed), and a note saying how to resume.

    Args:
        model: an NNX model, updated in place.
        optimizer: its ``nnx.Optimizer``, updated in place.
        train_step: from :func:`make_train_step`.
        train_batches: ``train_batches(epoch) -> iterable of batches``; its order must depend
            only on ``epoch`` (for example a seed plus the epoch) for resumption to be exact.
        epochs: the total number of epochs of the run (including resumed ones).
        eval_step: evaluates the model after every epoch (optional; with ``eval_batches``).
        eval_batches: the batches it evaluates on (optional; with ``eval_step``).
        checkpointer: save after every epoch when given, with the results of the run's epochs so
            far (a resumed run's earlier ones included), which a resume reads back into
            ``checkpointer.restored_history``.
        resume: continue from the checkpointer's latest intact epoch (a fresh start if there is none).
        metadata: saved with each checkpoint (e.g. the configuration; JSON-able).
        progress: show a tqdm bar with the running loss and accuracy.
        on_epoch_end: called with each epoch's :class:`EpochResult` (after the checkpoint).
        log: where one summary line per epoch goes (``None`` for silence).
        eval_batch_axis: the batch axis of ``eval_batches``' leaves, passed to :func:`evaluate`
            (for example ``{"x": 1, "y": 0}`` for time-major inputs).

    Returns:
        The :class:`EpochResult` of every epoch run by this call.

    Raises:
        FileExistsError: the checkpointer's folder holds checkpoints and neither ``resume`` nor
            its ``overwrite`` is set.
        NonFiniteError: a step was not finite (see :func:`make_train_step`).

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

        A NaN stops the run, naming where it happened:

        >>> bad = [data[0], {"x": jnp.full((2, 4), jnp.nan), "y": jnp.array([0, 1])}]
        >>> try:
        ...     fit(model, optimizer, make_train_step(loss_fn), lambda epoch: bad, epochs=1, progress=False, log=None)
        ... except NonFiniteError as error:
        ...     print(error.epoch, error.step)
        1 2

        Or skip such steps, counting them:

        >>> model = nnx.Linear(4, 3, rngs=nnx.Rngs(0))
        >>> optimizer = nnx.Optimizer(model, optax.adam(0.1), wrt=nnx.Param)
        >>> history = fit(model, optimizer, make_train_step(loss_fn, skip_nonfinite=True), lambda epoch: bad,
        ...               epochs=1, progress=False, log=None)
        >>> history[0]["train"]["skipped"], bool(jnp.isfinite(model.kernel[...]).all())
        (1, True)
    """
    _check_fit_arguments(train_step, train_batches, epochs, eval_step, eval_batches, checkpointer, resume,
                         on_epoch_end, log)
    check_metadata(metadata)  # before training, not at the first save
    start = 0
    if checkpointer is not None and not resume and not checkpointer.overwrite:
        folders = sorted(checkpointer._folders())
        if folders:
            latest = checkpointer.latest_epoch()
            raise FileExistsError(
                f"checkpointer's folder {checkpointer.directory} already holds checkpoints (latest complete "
                f"epoch: {latest}; epoch folders {folders[:5]}{' ...' if len(folders) > 5 else ''}), and fit "
                f"would start from scratch over them. Pass resume=True to continue that run, "
                f"Checkpointer({str(checkpointer.directory)!r}, overwrite=True) to replace it, or a fresh folder"
            )
    earlier: list = []  # the results of the epochs before a resume, as saved with the checkpoint
    if resume and checkpointer._folders():
        checkpointer.restore(model, optimizer)
        start = checkpointer.restored_epoch
        earlier = list(checkpointer.restored_history or [])
        if log:
            log(f"resumed from epoch {start} in {checkpointer.directory}")
    history: list[EpochResult] = []
    epoch = start
    try:
        for epoch in range(start, epochs):
            result = _train_epoch(model, optimizer, train_step, train_batches, epoch, epochs, progress)
            if eval_step is not None:
                result["eval"] = evaluate(model, eval_step, eval_batches(), progress=progress,
                                          batch_axis=eval_batch_axis)
            if checkpointer is not None:
                checkpointer.save(epoch + 1, model, optimizer, metadata, history=earlier + history + [result])
            history.append(result)
            if log:
                parts = [f"epoch {epoch + 1}/{epochs}", f"{result['seconds']:.1f}s"]
                parts += [f"train {k} {v:.4f}" if isinstance(v, float) else f"train {k} {v}"
                          for k, v in result["train"].items()]
                parts += [f"eval {k} {v:.4f}" for k, v in result.get("eval", {}).items()]
                log(", ".join(parts))
            if on_epoch_end is not None:
                on_epoch_end(result)
    except (KeyboardInterrupt, NonFiniteError) as error:
        _annotate(error, epoch + 1, start, history, checkpointer)
        raise
    return history


def _check_fit_arguments(train_step, train_batches, epochs, eval_step, eval_batches, checkpointer, resume,
                         on_epoch_end, log) -> None:
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    if not callable(train_step):
        raise TypeError(f"train_step must be a function (model, optimizer, batch) -> metrics, "
                        f"got {type(train_step).__name__}")
    if not callable(train_batches):
        raise TypeError(f"train_batches must be a function of the epoch returning its batches "
                        f"(train_batches(epoch) -> iterable), got {type(train_batches).__name__}")
    if (eval_step is None) != (eval_batches is None):
        raise ValueError(f"eval_step and eval_batches go together (give both or neither), got "
                         f"eval_step={type(eval_step).__name__} and eval_batches={type(eval_batches).__name__}")
    if eval_step is not None and not callable(eval_step):
        raise TypeError(f"eval_step must be a function (model, batch) -> metrics, got {type(eval_step).__name__}")
    if eval_batches is not None and not callable(eval_batches):
        raise TypeError(f"eval_batches must be a function of no arguments returning the batches "
                        f"(eval_batches() -> iterable), got {type(eval_batches).__name__}")
    if checkpointer is not None and not isinstance(checkpointer, Checkpointer):
        raise TypeError(f"checkpointer must be a Checkpointer or None, got {type(checkpointer).__name__}")
    if not isinstance(resume, bool):
        raise TypeError(f"resume must be a bool, got {resume!r}")
    if resume and checkpointer is None:
        raise ValueError("resume=True needs a checkpointer, got checkpointer=None")
    for name, value in (("on_epoch_end", on_epoch_end), ("log", log)):
        if value is not None and not callable(value):
            raise TypeError(f"{name} must be a function or None, got {type(value).__name__}")


def _train_epoch(model, optimizer, train_step, train_batches, epoch: int, epochs: int, progress) -> EpochResult:
    """One pass over ``train_batches(epoch)``; its :class:`EpochResult` without evaluation."""
    began = time.perf_counter()
    batches = train_batches(epoch)
    total = len(batches) if hasattr(batches, "__len__") else None
    bar = _progress(batches, f"epoch {epoch + 1}/{epochs}", progress, total=total)
    sums = _EpochMetrics(epoch + 1)
    step = _bind(train_step, model, optimizer)
    for batch in bar:
        sums.pending.append(step(batch))
        # Reading metrics back after every step would make the host wait for the device at
        # each step; fetching every 10 steps keeps the device queue full.
        if len(sums.pending) == 10:
            sums.flush()
            if progress:
                bar.set_postfix({k: f"{v:.4f}" if isinstance(v, float) else v for k, v in sums.means().items()})
    sums.flush()
    if sums.steps == 0:
        raise ValueError(f"train_batches({epoch}) yielded no batch")
    if sums.used == 0:
        raise NonFiniteError(
            f"every step of epoch {epoch + 1} ({sums.steps}) was non-finite and skipped: the data or the "
            f"model gives NaN or infinity everywhere", epoch=epoch + 1, step=sums.steps,
        )
    return EpochResult(epoch=epoch + 1, train=sums.means(), seconds=time.perf_counter() - began)


class _EpochMetrics:
    """Sums of one epoch's step metrics, read back from the device in groups.

    A step reporting ``"nonfinite"`` (or, from a step of another make, a non-finite loss) is a
    :class:`NonFiniteError` naming its epoch and step; skipped steps are counted, not averaged.
    """

    def __init__(self, epoch: int):
        self.epoch = epoch
        self.pending: list = []
        self.sums: dict[str, float] = {}
        self.steps = 0  # steps read back
        self.used = 0  # of those, the ones averaged (not skipped)
        self.skipped: Optional[int] = None  # None: the step does not skip

    def flush(self) -> None:
        for metrics in jax.device_get(self.pending):
            self.steps += 1
            metrics = dict(metrics)
            nonfinite, skipped = metrics.pop("nonfinite", None), metrics.pop("skipped", None)
            if skipped is not None:
                self.skipped = (self.skipped or 0) + int(float(skipped) > 0)
                if float(skipped) > 0:
                    continue
            elif nonfinite is not None and float(nonfinite) > 0:
                self._raise("non-finite loss, gradients or updated parameters")
            elif nonfinite is None and "loss" in metrics and not np.all(np.isfinite(metrics["loss"])):
                self._raise(f"non-finite loss ({metrics['loss']})")
            for key, value in metrics.items():
                self.sums[key] = self.sums.get(key, 0.0) + float(value)
            self.used += 1
        self.pending.clear()

    def _raise(self, what: str):
        raise NonFiniteError(
            f"{what} at epoch {self.epoch}, step {self.steps} (batch {self.steps} of "
            f"train_batches({self.epoch - 1})); the model's parameters are no longer usable. Pass "
            f"make_train_step(..., skip_nonfinite=True) to skip such steps instead",
            epoch=self.epoch, step=self.steps,
        )

    def means(self) -> dict:
        out = {key: value / max(self.used, 1) for key, value in self.sums.items()}
        if self.skipped is not None:
            out["skipped"] = self.skipped
        return out


def _annotate(error: BaseException, epoch: int, start: int, history: list, checkpointer) -> None:
    """Tell what was kept: ``last_epoch`` and ``history`` on the error, and a note (or message) on resuming."""
    last = history[-1]["epoch"] if history else (start or None)
    error.last_epoch = last
    error.history = list(history)
    if checkpointer is not None:
        try:
            kept = checkpointer.latest_epoch()
        except OSError:
            kept = None
        where = (f"the newest complete checkpoint is epoch {kept} in {checkpointer.directory}; continue with "
                 f"fit(..., resume=True)" if kept is not None else f"no complete checkpoint in {checkpointer.directory}")
    else:
        where = "no checkpointer: pass checkpointer=Checkpointer(folder) to keep finished epochs"
    text = f"fit stopped in epoch {epoch}; the last completed epoch is {last}; {where}"
    if isinstance(error, NonFiniteError):
        error.args = (f"{error.args[0]}. {text[0].upper()}{text[1:]}",) + tuple(error.args[1:])
    else:
        error.add_note(text)


def _bind(train_step, model, optimizer):
    """``batch -> metrics`` for one epoch.

    A step from :func:`make_train_step` is bound with ``nnx.cached_partial``, which traverses
    the model's graph once instead of at every call: that traversal costs several
    milliseconds per step for a small model (about 20% of a 35 ms CPU step measured here).
    The cache is only valid while the graph's structure is fixed, which holds within an epoch
    (evaluation, which switches modes, runs after it). A data-parallel step is bound below
    its batch splitting, after copying the model and optimizer to its devices, and called
    (so traced) in the batch-major ``Lift`` context as :func:`_sharding_inputs` does.
    """
    parallel = getattr(train_step, "spikejax_parallel", None)
    if parallel is not None:
        parallel.replicate(model, optimizer)
        bound = _bind(train_step.spikejax_step, model, optimizer)

        def sharded(batch):
            with _batch_major_lift():  # traced in here: Lift keeps the batch split (see Lift)
                return bound(parallel.shard(batch))

        return sharded
    if getattr(train_step, "spikejax_cacheable", False):
        return nnx.cached_partial(train_step, model, optimizer)
    return lambda batch: train_step(model, optimizer, batch)


def _cpu_model() -> Optional[str]:
    """The CPU's model name from Linux's ``/proc/cpuinfo``, or ``None`` where there is none."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _processor() -> str:
    """The CPU's model name, or what ``platform`` says where Linux's is not available."""
    return _cpu_model() or platform.processor() or platform.machine()


def environment() -> dict:
    """The device, processor, platform and library versions, for JSON summaries.

    Example:
        >>> environment()["jax"] == jax.__version__
        True
        >>> isinstance(environment()["processor"], str)
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
        "processor": _processor(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "flax": flax.__version__,
        "optax": optax.__version__,
        "numpy": np.__version__,
    }
