import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from spikejax import train
from spikejax.nn import LIF, Lift, SequentialState


class Tiny(nnx.Module):
    """A small spiking classifier: Lift(Linear) -> LIF -> Lift(Linear), spike-count readout."""

    def __init__(self, rngs):
        self.net = SequentialState(Lift(nnx.Linear(4, 16, rngs=rngs)), LIF(), Lift(nnx.Linear(16, 3, rngs=rngs)))

    def __call__(self, x):
        out, _ = self.net(jnp.broadcast_to(x, (10,) + x.shape) * 5)
        return out.mean(0)


def loss_fn(model, batch):
    logits = model(batch["x"])
    return optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]).mean(), {"logits": logits}


def make_data(seed=0, n=96):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.normal(size=(n, 4)).astype(np.float32) + np.eye(3, 4)[y] * 2
    return x, y.astype(np.int32)


def batches_for(x, y, epoch, size=32):
    order = np.random.default_rng([0, epoch]).permutation(len(x))
    return [{"x": x[order[i:i + size]], "y": y[order[i:i + size]]} for i in range(0, len(x), size)]


def test_train_step_lowers_the_loss_and_reports_accuracy():
    x, y = make_data()
    model = Tiny(nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)
    step = train.make_train_step(loss_fn)
    eval_step = train.make_eval_step(loss_fn)
    before = train.evaluate(model, eval_step, batches_for(x, y, 0))
    for epoch in range(15):
        for batch in batches_for(x, y, epoch):
            metrics = step(model, optimizer, batch)
    after = train.evaluate(model, eval_step, batches_for(x, y, 0))
    assert set(metrics) == {"loss", "accuracy", "nonfinite"} and float(metrics["nonfinite"]) == 0.0
    assert after["loss"] < before["loss"] * 0.8, (before, after)
    assert after["accuracy"] > before["accuracy"]


def test_evaluate_weights_batches_by_size():
    seen = []

    def eval_step(model, batch):
        seen.append(len(batch["y"]))
        return {"accuracy": jnp.mean(batch["y"] == 0)}

    batches = [{"y": np.zeros(3)}, {"y": np.ones(1)}]
    result = train.evaluate(nnx.Linear(1, 1, rngs=nnx.Rngs(0)), eval_step, batches)
    assert result["accuracy"] == pytest.approx(0.75)
    with pytest.raises(ValueError, match="batches must contain at least one batch, got none"):
        train.evaluate(nnx.Linear(1, 1, rngs=nnx.Rngs(0)), eval_step, [])


def test_evaluate_weighs_time_major_batches_along_batch_axis():
    def eval_step(model, batch):
        return {"accuracy": jnp.mean(batch["y"] == 0)}

    # x: (T=5, B, 2); 3 right then 1 wrong: 0.75 when weighed by B, 0.5 when weighed by T.
    batches = [{"x": np.zeros((5, 3, 2)), "y": np.zeros(3)}, {"x": np.zeros((5, 1, 2)), "y": np.ones(1)}]
    model = nnx.Linear(1, 1, rngs=nnx.Rngs(0))
    assert train.evaluate(model, eval_step, batches)["accuracy"] == pytest.approx(0.5)
    assert train.evaluate(model, eval_step, batches, batch_axis={"x": 1, "y": 0})["accuracy"] == pytest.approx(0.75)
    with pytest.raises(ValueError, match=r"batch\['y'\] has 5 rows along its batch axis 1 but batch\['x'\] has 3"):
        train.evaluate(model, eval_step, [{"x": np.zeros((5, 3, 2)), "y": np.zeros((3, 5))}], batch_axis=1)
    with pytest.raises(ValueError, match="batch_axis must be an int, None or a prefix"):
        train.evaluate(model, eval_step, batches, batch_axis={"image": 1})
    parallel_step = train.make_eval_step(lambda m, b: (jnp.zeros(()), {}), parallel=train.data_parallel())
    with pytest.raises(ValueError, match="batch_axis is given to data_parallel"):
        train.evaluate(model, parallel_step, batches, batch_axis=1)


def test_resume_after_an_interrupt_gives_bitwise_the_same_parameters(tmp_path):
    x, y = make_data()
    step = train.make_train_step(loss_fn)

    def run(directory, interrupt_after=None, resume=False):
        model = Tiny(nnx.Rngs(0))
        optimizer = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)

        def on_epoch_end(result):
            if interrupt_after is not None and result["epoch"] == interrupt_after:
                raise KeyboardInterrupt

        ckpt = train.Checkpointer(directory)
        try:
            train.fit(model, optimizer, step, lambda e: batches_for(x, y, e), epochs=4,
                      checkpointer=ckpt, resume=resume, progress=False, log=None,
                      on_epoch_end=on_epoch_end, metadata={"seed": 0})
        finally:
            ckpt.close()
        return nnx.to_pure_dict(nnx.state(model))

    uninterrupted = run(tmp_path / "a")
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "b", interrupt_after=2)
    resumed = run(tmp_path / "b", resume=True)
    flat_a = jax.tree_util.tree_leaves(uninterrupted)
    flat_b = jax.tree_util.tree_leaves(resumed)
    assert len(flat_a) == len(flat_b) > 0
    for a, b in zip(flat_a, flat_b):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # and the parameters did move away from the initialisation
    init = jax.tree_util.tree_leaves(nnx.to_pure_dict(nnx.state(Tiny(nnx.Rngs(0)))))
    assert any(not np.array_equal(a, i) for a, i in zip(flat_a, init))


def test_checkpointer_restores_model_optimizer_and_metadata(tmp_path):
    model = Tiny(nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)
    step = train.make_train_step(loss_fn)
    x, y = make_data()
    step(model, optimizer, {"x": x[:8], "y": y[:8]})
    ckpt = train.Checkpointer(tmp_path)
    assert ckpt.latest_epoch() is None
    with pytest.raises(FileNotFoundError, match="no checkpoint to restore in"):
        ckpt.restore(model)
    ckpt.save(3, model, optimizer, {"config": {"lr": 0.01}})
    other = Tiny(nnx.Rngs(5))
    other_opt = nnx.Optimizer(other, optax.adam(1e-2), wrt=nnx.Param)
    meta = ckpt.restore(other, other_opt)
    ckpt.close()
    assert meta == {"config": {"lr": 0.01}}
    for a, b in zip(jax.tree_util.tree_leaves(nnx.state(model)), jax.tree_util.tree_leaves(nnx.state(other))):
        np.testing.assert_array_equal(a, b)
    assert int(other_opt.step[...]) == 1


def test_a_resumed_run_reads_back_the_results_of_its_earlier_epochs(tmp_path):
    # A resumed task once reported only the epochs after the resume: the earlier ones were lost.
    x, y = make_data()
    step = train.make_train_step(loss_fn)

    def run(epochs, resume):
        model = Tiny(nnx.Rngs(0))
        optimizer = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)
        with train.Checkpointer(tmp_path) as ckpt:
            history = train.fit(model, optimizer, step, lambda e: batches_for(x, y, e), epochs=epochs,
                                checkpointer=ckpt, resume=resume, progress=False, log=None)
            return history, ckpt.restored_history

    first, restored = run(2, resume=False)
    assert restored is None and [h["epoch"] for h in first] == [1, 2]
    second, restored = run(3, resume=True)
    assert [h["epoch"] for h in second] == [3]  # fit returns the epochs it ran
    assert [h["epoch"] for h in restored] == [1, 2]
    for saved, ran in zip(restored, first):
        assert saved["train"]["loss"] == pytest.approx(float(ran["train"]["loss"]), rel=1e-6)
        assert saved["seconds"] == pytest.approx(ran["seconds"])
    model = Tiny(nnx.Rngs(0))
    with train.Checkpointer(tmp_path) as ckpt:
        ckpt.restore(model)
        assert [h["epoch"] for h in ckpt.restored_history] == [1, 2, 3]
        ckpt.save(4, model)  # saved without a history: a restore says there is none
        ckpt.restore(model)
        assert ckpt.restored_epoch == 4 and ckpt.restored_history is None
        with pytest.raises(TypeError, match="history must be a list of per-epoch dicts or None, got dict"):
            ckpt.save(5, model, history={"epoch": 5})
        with pytest.raises(TypeError, match="history must be JSON-able"):
            ckpt.save(5, model, history=[{"epoch": object()}])


def test_fit_validates_its_arguments():
    model = Tiny(nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)
    step = train.make_train_step(loss_fn)
    with pytest.raises(ValueError, match="epochs must be a positive int, got 0"):
        train.fit(model, optimizer, step, lambda e: [], epochs=0)
    with pytest.raises(ValueError, match="resume=True needs a checkpointer"):
        train.fit(model, optimizer, step, lambda e: [], epochs=1, resume=True)
    with pytest.raises(ValueError, match=r"train_batches\(0\) yielded no batch"):
        train.fit(model, optimizer, step, lambda e: [], epochs=1, progress=False, log=None)


def test_environment_names_device_and_versions():
    env = train.environment()
    assert env["platform"] == jax.devices()[0].platform and env["jax"] == jax.__version__


def test_checkpointer_restores_the_model_alone_and_rejects_a_different_model(tmp_path):
    model = Tiny(nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)
    ckpt = train.Checkpointer(tmp_path)
    ckpt.save(1, model, optimizer)
    other = Tiny(nnx.Rngs(9))
    ckpt.restore(other)  # no optimizer: only the model is loaded
    for a, b in zip(jax.tree_util.tree_leaves(nnx.state(model)), jax.tree_util.tree_leaves(nnx.state(other))):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r"epoch 1 in .* has no entry model/bias, model/kernel and has unexpected "
                                         r"entries model/net; the model.s structure changed"):
        ckpt.restore(nnx.Linear(4, 3, rngs=nnx.Rngs(0)))
    ckpt.close()
