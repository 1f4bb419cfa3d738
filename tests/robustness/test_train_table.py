"""Bad and edge inputs of fit, the train and eval steps, evaluate and Checkpointer (issue 14)."""

from __future__ import annotations

import os
import tempfile

import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from spikejax import train
from tests.robustness._table import Case, check, params


def loss_fn(model, batch):
    logits = model(batch["x"])
    return optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]).mean(), {"logits": logits}


STEP = train.make_train_step(loss_fn)
EVAL = train.make_eval_step(loss_fn)
BATCH = {"x": np.eye(4, dtype=np.float32)[:2], "y": np.array([0, 1], np.int32)}
EMPTY = {"x": np.zeros((0, 4), np.float32), "y": np.zeros((0,), np.int32)}
NAN_BATCH = {"x": np.full((2, 4), np.nan, np.float32), "y": np.array([0, 1], np.int32)}


def _run(width=3, tx=None):
    model = nnx.Linear(4, width, rngs=nnx.Rngs(0))
    return model, nnx.Optimizer(model, tx or optax.adam(1e-2), wrt=nnx.Param)


def _fit(epochs=1, batches=(BATCH,), step=STEP, **kwargs):
    model, optimizer = _run()
    kwargs.setdefault("progress", False)
    kwargs.setdefault("log", None)
    return train.fit(model, optimizer, step, lambda epoch: list(batches), epochs=epochs, **kwargs)


def _in_folder(action, saved=(), **options):
    """``action(checkpointer, folder)`` in a temporary folder holding checkpoints of ``saved`` epochs."""
    with tempfile.TemporaryDirectory() as folder:
        with train.Checkpointer(folder, **options) as ckpt:
            for epoch in saved:
                ckpt.save(epoch, *_run(), {"epoch": epoch})
            return action(ckpt, folder)


def _damage_latest(ckpt, folder):
    os.remove(os.path.join(folder, "2", "state", "_METADATA"))
    metadata = ckpt.restore(*_run())
    return ckpt.restored_epoch, metadata, sorted(os.listdir(folder))


def _a_file():
    with tempfile.NamedTemporaryFile() as file:
        return train.Checkpointer(file.name)


def _equal(expected):
    def ok(result):
        assert result == expected, result

    return ok


FIT_CASES = [
    Case("fit epochs=0", lambda: _fit(epochs=0), ValueError, ["epochs must be a positive int", "got 0"]),
    Case("fit epochs float", lambda: _fit(epochs=2.0), ValueError, ["epochs", "2.0"]),
    Case("fit epochs bool", lambda: _fit(epochs=True), ValueError, ["epochs", "True"]),
    Case("fit train_step None", lambda: train.fit(*_run(), None, lambda e: [BATCH], epochs=1), TypeError,
         ["train_step", "NoneType"]),
    Case("fit train_batches a list", lambda: train.fit(*_run(), STEP, [BATCH], epochs=1), TypeError,
         ["train_batches must be a function of the epoch", "got list"]),
    Case("fit train_batches empty", lambda: _fit(batches=()), ValueError, ["train_batches(0) yielded no batch"]),
    Case("fit resume without checkpointer", lambda: _fit(resume=True), ValueError,
         ["resume=True needs a checkpointer", "checkpointer=None"]),
    Case("fit resume not bool", lambda: _fit(resume="yes"), TypeError, ["resume must be a bool", "'yes'"]),
    Case("fit eval_step without eval_batches", lambda: _fit(eval_step=EVAL), ValueError,
         ["eval_step and eval_batches go together", "eval_batches=NoneType"]),
    Case("fit eval_batches a list", lambda: _fit(eval_step=EVAL, eval_batches=[BATCH]), TypeError,
         ["eval_batches must be a function", "got list"]),
    Case("fit checkpointer a path", lambda: _fit(checkpointer="runs/a"), TypeError,
         ["checkpointer must be a Checkpointer or None", "got str"]),
    Case("fit metadata not JSON-able", lambda: _fit(metadata={"lr": object()}), TypeError,
         ["metadata must be JSON-able", "object"]),
    Case("fit log not callable", lambda: _fit(log="stdout"), TypeError, ["log must be a function or None", "str"]),
    Case("fit on_epoch_end not callable", lambda: _fit(on_epoch_end=1), TypeError, ["on_epoch_end", "int"]),
    Case("fit empty batch", lambda: _fit(batches=(BATCH, EMPTY)), ValueError,
         ["batch is empty", "batch['x']", "(0, 4)"]),
    Case("fit NaN batch", lambda: _fit(batches=(BATCH, NAN_BATCH)), train.NonFiniteError,
         ["epoch 1, step 2", "skip_nonfinite=True"]),
    Case("fit over a saved run", lambda: _in_folder(lambda c, f: _fit(checkpointer=c), saved=[1]), FileExistsError,
         ["already holds checkpoints", "latest complete epoch: 1", "resume=True", "overwrite=True"]),
    Case("fit resume from an empty folder starts afresh",
         lambda: _in_folder(lambda c, f: [h["epoch"] for h in _fit(epochs=2, checkpointer=c, resume=True)]),
         ok=_equal([1, 2])),
    Case("fit resume past the last epoch runs nothing",
         lambda: _in_folder(lambda c, f: _fit(epochs=2, checkpointer=c, resume=True), saved=[2]), ok=_equal([])),
    Case("fit skip_nonfinite counts skipped",
         lambda: _fit(batches=(BATCH, NAN_BATCH), step=train.make_train_step(loss_fn, skip_nonfinite=True))[0]
         ["train"]["skipped"], ok=_equal(1)),
]

STEP_CASES = [
    Case("make_train_step loss_fn a string", lambda: train.make_train_step("cross_entropy"), TypeError,
         ["loss_fn must be a function", "got str"]),
    Case("make_train_step jit not bool", lambda: train.make_train_step(loss_fn, jit=1), TypeError,
         ["jit must be a bool", "got 1"]),
    Case("make_train_step skip_nonfinite not bool", lambda: train.make_train_step(loss_fn, skip_nonfinite="yes"),
         TypeError, ["skip_nonfinite must be a bool", "'yes'"]),
    Case("make_train_step parallel a string", lambda: train.make_train_step(loss_fn, parallel="all"), TypeError,
         ["parallel must be a DataParallel", "got str"]),
    Case("train step empty batch", lambda: STEP(*_run(), EMPTY), ValueError, ["batch is empty", "(0, 4)"]),
    Case("train step NaN batch reports nonfinite", lambda: float(STEP(*_run(), NAN_BATCH)["nonfinite"]),
         ok=_equal(1.0)),
    Case("make_eval_step loss_fn None", lambda: train.make_eval_step(None), TypeError,
         ["loss_fn must be a function", "NoneType"]),
    Case("eval step empty batch", lambda: EVAL(_run()[0], EMPTY), ValueError, ["batch is empty", "batch['x']", "(0, 4)"]),
    Case("evaluate no batches", lambda: train.evaluate(_run()[0], EVAL, []), ValueError,
         ["batches must contain at least one batch", "got none"]),
    Case("evaluate batches None", lambda: train.evaluate(_run()[0], EVAL, None), TypeError,
         ["batches must be an iterable", "NoneType"]),
    Case("evaluate eval_step not callable", lambda: train.evaluate(_run()[0], "eval", [BATCH]), TypeError,
         ["eval_step must be a function", "str"]),
]

CHECKPOINT_CASES = [
    Case("Checkpointer max_to_keep=0", lambda: train.Checkpointer("unused", max_to_keep=0), ValueError,
         ["max_to_keep must be a positive int or None", "got 0"]),
    Case("Checkpointer max_to_keep a string", lambda: train.Checkpointer("unused", max_to_keep="3"), ValueError,
         ["max_to_keep", "'3'"]),
    Case("Checkpointer directory None", lambda: train.Checkpointer(None), TypeError,
         ["directory must be a str or os.PathLike", "NoneType"]),
    Case("Checkpointer directory a file", _a_file, NotADirectoryError, ["directory must be a folder", "a file"]),
    Case("Checkpointer overwrite not bool", lambda: train.Checkpointer("unused", overwrite="yes"), TypeError,
         ["overwrite must be a bool", "'yes'"]),
    Case("save epoch -1", lambda: _in_folder(lambda c, f: c.save(-1, _run()[0])), ValueError,
         ["epoch must be a non-negative int", "-1"]),
    Case("save epoch 1.5", lambda: _in_folder(lambda c, f: c.save(1.5, _run()[0])), ValueError, ["epoch", "1.5"]),
    Case("save an existing epoch", lambda: _in_folder(lambda c, f: c.save(1, _run()[0]), saved=[1]), FileExistsError,
         ["cannot save epoch 1", "latest epoch 1", "overwrite=True"]),
    Case("save older than the newest", lambda: _in_folder(lambda c, f: c.save(2, _run()[0]), saved=[3]),
         FileExistsError, ["cannot save epoch 2", "latest epoch 3", "stale"]),
    Case("save epoch 0 is the initial state", lambda: _in_folder(lambda c, f: (c.save(0, _run()[0]), c.epochs())[1]),
         ok=_equal([0])),
    Case("save metadata a list", lambda: _in_folder(lambda c, f: c.save(1, _run()[0], metadata=[1])), TypeError,
         ["metadata must be a mapping", "list"]),
    Case("save metadata reserved key", lambda: _in_folder(lambda c, f: c.save(1, _run()[0], metadata={"_spikejax": 1})),
         ValueError, ["metadata must not use the key", "'_spikejax'"]),
    Case("restore from an empty folder", lambda: _in_folder(lambda c, f: c.restore(_run()[0])), FileNotFoundError,
         ["no checkpoint to restore in"]),
    Case("restore an epoch that does not exist", lambda: _in_folder(lambda c, f: c.restore(_run()[0], epoch=7),
                                                                     saved=[1]), FileNotFoundError,
         ["no checkpoint of epoch 7", "epochs [1]"]),
    Case("restore epoch a string", lambda: _in_folder(lambda c, f: c.restore(_run()[0], epoch="1"), saved=[1]),
         TypeError, ["epoch must be an int or None", "'1'"]),
    Case("restore a wider model", lambda: _in_folder(lambda c, f: c.restore(_run(width=5)[0]), saved=[1]),
         ValueError, ["entry model/bias has shape (3,)", "expects (5,)"]),
    Case("restore a model with a layer more",
         lambda: _in_folder(lambda c, f: c.restore(nnx.Sequential(*_run()[:1], nnx.Linear(3, 3, rngs=nnx.Rngs(0)))),
                            saved=[1]), ValueError, ["has no entry model/layers", "unexpected entries model/bias"]),
    Case("restore Adam into SGD", lambda: _in_folder(lambda c, f: c.restore(*_run(tx=optax.sgd(0.1))), saved=[1]),
         ValueError, ["unexpected entries optimizer/opt_state", "optimizer's structure changed"]),
    Case("restore a damaged epoch", lambda: _in_folder(
        lambda c, f: (os.remove(os.path.join(f, "1", "state", "_METADATA")), c.restore(*_run(), epoch=1)), saved=[1]),
        train.CheckpointError, ["the checkpoint of epoch 1", "is damaged", "state/_METADATA is missing"]),
    Case("restore the latest skips a damaged one", lambda: _in_folder(_damage_latest, saved=[1, 2]),
         warns=train.CheckpointWarning, names=["restored epoch 1", "epoch 2: state/_METADATA is missing", "2.damaged"],
         ok=_equal((1, {"epoch": 1}, ["1", "2.damaged"]))),
]


@params(FIT_CASES + STEP_CASES + CHECKPOINT_CASES)
def test_train_table(case):
    check(case)
