"""fit and its steps fail loudly (issue 14): NaN and infinity, empty batches, Ctrl-C, data-parallel Lift,
each epoch's own metrics and the evaluation bar's total."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from spikejax import train
from spikejax.nn import lift


def loss_fn(model, batch):
    logits = model(batch["x"])
    # A NaN input hides from the loss as it does behind a spiking threshold: the forward value is
    # finite, the gradient is NaN (jnp.where passes 0 * NaN back to the kernel).
    logits = jnp.where(jnp.isfinite(logits), logits, 0.0)
    return optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]).mean(), {"logits": logits}


STEP = train.make_train_step(loss_fn)
SKIP = train.make_train_step(loss_fn, skip_nonfinite=True)


def new_run(seed=0):
    model = nnx.Linear(4, 3, rngs=nnx.Rngs(seed))
    return model, nnx.Optimizer(model, optax.adam(5e-2), wrt=nnx.Param)


def data(epoch, count=None, size=8):
    """``count`` batches (default 3 + epoch: epochs differ in length); x is float32, y int32."""
    rng = np.random.default_rng([2, epoch])
    out = []
    for _ in range(3 + epoch if count is None else count):
        y = rng.integers(0, 3, size).astype(np.int32)
        out.append({"x": (rng.normal(size=(size, 4)) + np.eye(3, 4)[y] * 2).astype(np.float32), "y": y})
    return out


def poisoned(batch):
    x = batch["x"].copy()
    x[1, 2] = np.nan
    return {"x": x, "y": batch["y"]}


def params(*objects):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(nnx.to_pure_dict(nnx.state(objects)))]


# -- item 6: each epoch reports its own training metrics ------------------------------------------


def test_history_holds_each_epochs_own_mean_training_metrics():
    model, optimizer = new_run()
    history = train.fit(model, optimizer, STEP, data, epochs=3, progress=False, log=None)
    # The same run by hand: plain optax, the loss and accuracy of each step before its update.
    params_ = nnx.to_pure_dict(nnx.state(new_run()[0], nnx.Param))
    tx = optax.adam(5e-2)
    opt_state = tx.init(params_)

    def loss(p, batch):
        logits = batch["x"] @ p["kernel"] + p["bias"]
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]).mean()
        return ce, jnp.mean(jnp.argmax(logits, -1) == batch["y"])

    for epoch, result in enumerate(history):
        losses, accuracies = [], []
        for batch in data(epoch):
            (value, accuracy), grads = jax.value_and_grad(loss, has_aux=True)(params_, batch)
            updates, opt_state = tx.update(grads, opt_state, params_)
            params_ = optax.apply_updates(params_, updates)
            losses.append(float(value))
            accuracies.append(float(accuracy))
        assert result["epoch"] == epoch + 1
        assert result["train"]["loss"] == pytest.approx(np.mean(losses), rel=1e-5), epoch
        assert result["train"]["accuracy"] == pytest.approx(np.mean(accuracies), abs=1e-6), epoch
        assert set(result["train"]) == {"loss", "accuracy"}
    assert history[2]["train"]["loss"] < history[0]["train"]["loss"]


# -- item 5: NaN and infinity ----------------------------------------------------------------------


def test_a_nan_gradient_stops_fit_at_its_step_and_keeps_the_last_good_checkpoint(tmp_path):
    def batches(epoch):
        out = data(epoch, count=14)
        if epoch == 1:
            out[11] = poisoned(out[11])  # step 12: after the first read-back of 10 steps
        return out

    model, optimizer = new_run()
    after_epoch = {}
    with train.Checkpointer(tmp_path) as ckpt:
        with pytest.raises(train.NonFiniteError) as info:
            train.fit(model, optimizer, STEP, batches, epochs=3, checkpointer=ckpt, progress=False, log=None,
                      on_epoch_end=lambda r: after_epoch.setdefault(r["epoch"], params(model, optimizer)))
        error = info.value
        assert isinstance(error, FloatingPointError)
        assert (error.epoch, error.step, error.last_epoch, len(error.history)) == (2, 12, 1, 1)
        assert "at epoch 2, step 12 (batch 12 of train_batches(1))" in str(error)
        assert f"newest complete checkpoint is epoch 1 in {tmp_path}" in str(error)
        assert "skip_nonfinite=True" in str(error)
        assert not all(np.isfinite(p).all() for p in params(model))  # the NaN reached the parameters,
        assert ckpt.epochs() == [1]  # but never the disk
        restored, restored_opt = new_run(seed=1)
        ckpt.restore(restored, restored_opt)
    for a, b in zip(params(restored, restored_opt), after_epoch[1]):
        np.testing.assert_array_equal(a, b)


def test_an_infinite_input_is_caught_too():
    model, optimizer = new_run()
    batch = data(0, count=1)[0]
    batch["x"][0, 0] = np.inf
    with pytest.raises(train.NonFiniteError, match="at epoch 1, step 1 "):
        train.fit(model, optimizer, STEP, lambda e: [batch], epochs=1, progress=False, log=None)


def test_skip_nonfinite_skips_and_counts_the_updates():
    clean = [data(epoch, count=12) for epoch in range(2)]
    dirty = [list(batches) for batches in clean]
    dirty[0].insert(3, poisoned(clean[0][3]))
    dirty[1][11:11] = [poisoned(clean[1][0]), poisoned(clean[1][1])]
    model, optimizer = new_run()
    lines = []
    history = train.fit(model, optimizer, SKIP, lambda e: dirty[e], epochs=2, progress=False, log=lines.append)
    assert lines[1].endswith(", train skipped 2"), lines
    reference, reference_opt = new_run()  # the same run without the poisoned batches
    expected = train.fit(reference, reference_opt, SKIP, lambda e: clean[e], epochs=2, progress=False, log=None)
    assert [h["train"]["skipped"] for h in history] == [1, 2]
    assert [h["train"]["skipped"] for h in expected] == [0, 0]
    for got, want in zip(history, expected):  # skipped steps are left out of the means
        assert got["train"]["loss"] == pytest.approx(want["train"]["loss"], rel=1e-6)
    for a, b in zip(params(model, optimizer), params(reference, reference_opt)):
        np.testing.assert_array_equal(a, b)  # parameters and Adam's count: as if the step never ran


def test_a_step_of_another_make_with_a_nan_loss_stops_fit_and_all_skipped_is_an_error():
    model, optimizer = new_run()

    def plain_step(model, optimizer, batch):
        return {"loss": jnp.sum(batch["x"])}

    batches = data(0, count=2)
    batches[1] = poisoned(batches[1])
    with pytest.raises(train.NonFiniteError, match=r"non-finite loss \(nan\) at epoch 1, step 2 "):
        train.fit(model, optimizer, plain_step, lambda e: batches, epochs=1, progress=False, log=None)
    with pytest.raises(train.NonFiniteError, match=r"every step of epoch 1 \(2\) was non-finite and skipped"):
        train.fit(model, optimizer, SKIP, lambda e: [poisoned(b) for b in batches], epochs=1, progress=False,
                  log=None)


# -- item 8: empty batches -------------------------------------------------------------------------


def test_an_empty_batch_is_an_error_naming_the_leaf_and_its_shape():
    model, optimizer = new_run()
    empty = {"x": np.zeros((0, 4), np.float32), "y": np.zeros((0,), np.int32)}
    message = r"batch is empty: batch\['x'\] has shape \(0, 4\); every batch needs at least one example"
    with pytest.raises(ValueError, match=message):
        STEP(model, optimizer, empty)
    with pytest.raises(ValueError, match=message):
        train.make_train_step(loss_fn, jit=False)(model, optimizer, empty)
    with pytest.raises(ValueError, match=message):
        train.evaluate(model, train.make_eval_step(loss_fn), [data(0)[0], empty])
    with pytest.raises(ValueError, match=message):
        train.fit(model, optimizer, STEP, lambda e: [data(0)[0], empty], epochs=1, progress=False, log=None)


# -- item 9: Ctrl-C ------------------------------------------------------------------------------------


def test_ctrl_c_propagates_with_the_last_completed_epoch_and_how_to_resume(tmp_path):
    def batches(epoch):
        yield from data(epoch)
        if epoch == 2:
            raise KeyboardInterrupt  # in epoch 3, after its batches, before its checkpoint

    model, optimizer = new_run()
    with train.Checkpointer(tmp_path) as ckpt:
        with pytest.raises(KeyboardInterrupt) as info:
            train.fit(model, optimizer, STEP, batches, epochs=4, checkpointer=ckpt, progress=False, log=None)
        assert ckpt.epochs() == [1, 2]
    interrupt = info.value
    assert interrupt.last_epoch == 2 and [h["epoch"] for h in interrupt.history] == [1, 2]
    assert interrupt.__notes__ == [
        f"fit stopped in epoch 3; the last completed epoch is 2; the newest complete checkpoint is epoch 2 in "
        f"{tmp_path}; continue with fit(..., resume=True)"
    ]
    with pytest.raises(KeyboardInterrupt) as info:
        train.fit(model, optimizer, STEP, batches, epochs=4, progress=False, log=None)
    assert info.value.last_epoch == 2
    assert "no checkpointer: pass checkpointer=Checkpointer(folder)" in info.value.__notes__[0]


# -- item 4: fit keeps the data-parallel Lift context --------------------------------------------


def test_fit_traces_a_data_parallel_step_in_the_batch_major_lift_context():
    seen = []

    def recording_loss(model, batch):
        seen.append(lift._BATCH_MAJOR.get())  # at trace time
        return loss_fn(model, batch)

    parallel = train.data_parallel()
    model, optimizer = new_run()
    train.fit(model, optimizer, train.make_train_step(recording_loss, parallel=parallel), data, epochs=1,
              eval_step=train.make_eval_step(recording_loss, parallel=parallel), eval_batches=lambda: data(0),
              progress=False, log=None)
    assert seen == [True, True]  # the train step, then the eval step: each traced once, both batch-major


# -- item 7: the evaluation bar has a total ---------------------------------------------------------


def test_the_evaluation_progress_bar_gets_a_total_when_the_batches_have_a_length(monkeypatch):
    import tqdm.auto

    bars = []

    class Bar:
        def __init__(self, iterable, **kwargs):
            self.iterable = iterable
            bars.append(kwargs)

        def __iter__(self):
            return iter(self.iterable)

        def set_postfix(self, *args, **kwargs):
            pass

    monkeypatch.setattr(tqdm.auto, "tqdm", Bar)
    model, optimizer = new_run()
    eval_step = train.make_eval_step(loss_fn)
    train.evaluate(model, eval_step, data(0, count=3), progress=True)
    train.evaluate(model, eval_step, iter(data(0, count=3)), progress=True)
    assert [(b["desc"], b["total"]) for b in bars] == [("eval", 3), ("eval", None)]
    bars.clear()
    train.fit(model, optimizer, STEP, data, epochs=1, eval_step=eval_step, eval_batches=lambda: data(1),
              progress=True, log=None)
    assert [(b["desc"], b["total"]) for b in bars] == [("epoch 1/1", 3), ("eval", 4)]
