"""Checkpoints keep every saved run and say which epoch is damaged (issue 14).

A rerun never writes over (or silently beside) a saved run; only complete checkpoints count;
a damaged one is named by its epoch, and a resume falls back to the newest intact one, ending
bitwise where an uninterrupted run ends.
"""

import doctest
import glob
import os
import shutil
import tempfile

import jax
import numpy as np
import optax
import pytest
from flax import nnx

from spikejax import train
from spikejax import _checkpoint


class MLP(nnx.Module):
    """4 -> 64 -> 64 -> 3: the 64 x 64 kernel (16 KB) is stored out of line in orbax's data files,
    where tensorstore checks no checksum (small arrays sit in the checksummed index)."""

    def __init__(self, rngs, layers=3):
        sizes = [4, 64, 64, 3][: layers + 1]
        self.layers = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in zip(sizes, sizes[1:])])

    def __call__(self, x):
        for layer in self.layers[:-1]:
            x = nnx.relu(layer(x))
        return self.layers[-1](x)


def loss_fn(model, batch):
    logits = model(batch["x"])
    return optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]).mean(), {"logits": logits}


def batches(epoch, n=48, size=16):
    rng = np.random.default_rng([1, epoch])
    y = rng.integers(0, 3, n).astype(np.int32)
    x = (rng.normal(size=(n, 4)) + np.eye(3, 4)[y] * 2).astype(np.float32)
    return [{"x": x[i:i + size], "y": y[i:i + size]} for i in range(0, n, size)]


STEP = train.make_train_step(loss_fn)  # one step object: compiled once for the module


def new_run(seed=0, tx=None):
    model = MLP(nnx.Rngs(seed))
    return model, nnx.Optimizer(model, tx or optax.adam(1e-2), wrt=nnx.Param)


def run_fit(directory, epochs, *, resume=False, overwrite=False, **kwargs):
    model, optimizer = new_run()
    with train.Checkpointer(directory, overwrite=overwrite, max_to_keep=None) as ckpt:
        history = train.fit(model, optimizer, STEP, batches, epochs=epochs, checkpointer=ckpt, resume=resume,
                            progress=False, log=None, **kwargs)
    return model, optimizer, history


def leaves(*objects):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(nnx.to_pure_dict(nnx.state(objects)))]


def assert_bitwise(a, b):
    assert len(a) == len(b) > 0
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A 3-epoch run's checkpoints and the parameters of the same run trained for 4 epochs."""
    root = tmp_path_factory.mktemp("saved")
    run_fit(root / "three", 3)
    model, optimizer, _ = run_fit(root / "four", 4)
    return {"three": root / "three", "four": leaves(model, optimizer)}


# -- item 1: a rerun never overwrites or ignores a saved run -----------------------------------------


def test_save_refuses_an_existing_or_older_epoch_and_overwrite_replaces_the_run(tmp_path):
    model, optimizer = new_run()
    with train.Checkpointer(tmp_path) as ckpt:
        ckpt.save(1, model, optimizer)
        ckpt.save(3, model, optimizer)
        for epoch in (1, 2, 3):  # the same epoch, or one older than the newest: a stale run would win
            with pytest.raises(FileExistsError, match=rf"cannot save epoch {epoch} in {tmp_path}: it already holds "
                                                      r"checkpoint folders of epochs .*\(latest epoch 3\)"):
                ckpt.save(epoch, model, optimizer)
        assert ckpt.epochs() == [1, 3]
    other, other_opt = new_run(seed=7)
    with train.Checkpointer(tmp_path, overwrite=True) as ckpt:
        ckpt.save(2, other, other_opt)  # replaces the run from epoch 2 on: 3 goes, 1 stays
        assert ckpt.epochs() == [1, 2]
        restored, restored_opt = new_run(seed=3)
        ckpt.restore(restored, restored_opt)
        assert ckpt.restored_epoch == 2
    assert_bitwise(leaves(restored, restored_opt), leaves(other, other_opt))


def test_a_save_that_orbax_skips_is_an_error(tmp_path, monkeypatch):
    # orbax's CheckpointManager.save returns False, writing nothing, for a step it decides not to save.
    model, optimizer = new_run()
    with train.Checkpointer(tmp_path) as ckpt:
        monkeypatch.setattr(ckpt._manager, "save", lambda *args, **kwargs: False)
        with pytest.raises(train.CheckpointError, match=rf"the checkpoint of epoch 1 was not written to {tmp_path}: "
                                                        r"orbax skipped the save"):
            ckpt.save(1, model, optimizer)


def test_fit_refuses_to_start_from_scratch_over_a_saved_run(tmp_path):
    run_fit(tmp_path, 2)
    model, optimizer = new_run()
    before = leaves(model, optimizer)
    with train.Checkpointer(tmp_path) as ckpt, pytest.raises(FileExistsError) as info:
        train.fit(model, optimizer, STEP, batches, epochs=2, checkpointer=ckpt, progress=False, log=None)
    message = str(info.value)
    for part in (str(tmp_path), "latest complete epoch: 2", "resume=True", "overwrite=True", "fresh folder"):
        assert part in message, (part, message)
    assert_bitwise(leaves(model, optimizer), before)  # refused up front: nothing trained
    # Opting in replaces the old run: the folder then holds this run's epoch alone.
    model, optimizer, _ = run_fit(tmp_path, 1, overwrite=True)
    with train.Checkpointer(tmp_path) as ckpt:
        assert ckpt.epochs() == [1]
        restored, restored_opt = new_run(seed=5)
        ckpt.restore(restored, restored_opt)
    assert_bitwise(leaves(restored, restored_opt), leaves(model, optimizer))


# -- item 3: a checkpoint of another model or optimizer is an error, not a partial load -------------


def test_restore_names_unexpected_entries_and_changes_nothing(tmp_path):
    model, adam = new_run()
    STEP(model, adam, batches(0)[0])
    with train.Checkpointer(tmp_path) as ckpt:
        ckpt.save(1, model, adam)
        smaller = MLP(nnx.Rngs(1), layers=2)  # one layer fewer: layers/2 is unexpected
        with pytest.raises(ValueError, match=r"epoch 1 in .* has unexpected entries model/layers/2; "
                                             r"the model's structure changed"):
            ckpt.restore(smaller)
        target, sgd = new_run(seed=2, tx=optax.sgd(0.1))  # Adam's moments into SGD
        untouched = leaves(target)
        with pytest.raises(ValueError, match=r"has unexpected entries optimizer/opt_state; "
                                             r"the optimizer's structure changed"):  # SGD keeps no state
            ckpt.restore(target, sgd)
        assert_bitwise(leaves(target), untouched)  # the model fitted, but nothing was loaded


# -- item 2 and 10: damaged checkpoints -------------------------------------------------------------


def _largest_data_file(step):
    return max(glob.glob(str(step / "state" / "ocdbt.process_0" / "d" / "*")), key=os.path.getsize)


def _truncate(step):
    path = _largest_data_file(step)
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) // 2])


def _flip(path):
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0x10
    open(path, "wb").write(bytes(data))


def _empty(step):
    shutil.rmtree(step)
    step.mkdir()


DAMAGE = {
    # kind: (how, what the error says, whether latest_epoch() still counts the folder)
    "truncated data file": (_truncate, "orbax could not read it", True),
    "bit flip in a data file": (lambda step: _flip(_largest_data_file(step)), "checksum", True),
    "bit flip in the index": (lambda step: _flip(glob.glob(str(step / "state" / "d" / "*"))[0]),
                              "orbax could not read it", True),
    "deleted _METADATA": (lambda step: os.remove(step / "state" / "_METADATA"), "state/_METADATA is missing", False),
    "deleted manifest": (lambda step: os.remove(step / "state" / "manifest.ocdbt"),
                         "state/manifest.ocdbt is missing", False),
    "deleted metadata": (lambda step: os.remove(step / "metadata" / "metadata"), "metadata/metadata is missing",
                         False),
    "empty step folder": (_empty, "its folder is empty", False),
}


# After a failed read, orbax's background threads may post to their closed asyncio loop: noise, not ours.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("kind", list(DAMAGE))
def test_a_damaged_checkpoint_is_named_and_resume_falls_back_to_the_newest_intact_one(kind, saved, tmp_path):
    damage, says, still_counted = DAMAGE[kind]
    folder = tmp_path / "run"
    shutil.copytree(saved["three"], folder)
    damage(folder / "3")
    with train.Checkpointer(folder) as ckpt:
        assert ckpt.latest_epoch() == (3 if still_counted else 2)
        model, optimizer = new_run(seed=4)
        untouched = leaves(model, optimizer)
        with pytest.raises(train.CheckpointError, match=r"the checkpoint of epoch 3 in .*run is damaged: ") as info:
            ckpt.restore(model, optimizer, epoch=3)
        assert says in str(info.value) and info.value.epoch == 3
        assert_bitwise(leaves(model, optimizer), untouched)
    # Resuming warns, names the damaged epoch, moves it aside, retrains it and ends bitwise where an
    # uninterrupted run ends.
    with pytest.warns(train.CheckpointWarning, match=r"restored epoch 2 from .*skipping damaged checkpoints: "
                                                     rf"epoch 3: .*{says}.*Moved them aside to 3.damaged"):
        model, optimizer, history = run_fit(folder, 4, resume=True)
    assert [h["epoch"] for h in history] == [3, 4]
    assert_bitwise(leaves(model, optimizer), saved["four"])
    assert sorted(os.listdir(folder)) == ["1", "2", "3", "3.damaged", "4"]


def test_latest_epoch_counts_only_complete_checkpoints(saved, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(saved["three"], folder)
    (folder / "5").mkdir()  # an empty folder
    shutil.copytree(folder / "3", folder / "4.orbax-checkpoint-tmp-17")  # a save killed before its rename
    (folder / "6").mkdir()
    (folder / "6" / "_CHECKPOINT_METADATA").write_text("{}")  # a folder missing what a restore needs
    with train.Checkpointer(folder) as ckpt:
        assert ckpt.epochs() == [1, 2, 3] and ckpt.latest_epoch() == 3
        with pytest.raises(FileNotFoundError, match=r"no checkpoint of epoch 4 in .*; the complete ones are "
                                                    r"epochs \[1, 2, 3\]"):
            ckpt.restore(MLP(nnx.Rngs(0)), epoch=4)


def test_every_checkpoint_damaged_is_an_error_naming_them(saved, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(saved["three"], folder)
    for epoch in (1, 2, 3):
        os.remove(folder / str(epoch) / "state" / "_METADATA")
    with train.Checkpointer(folder) as ckpt, pytest.raises(
            train.CheckpointError, match=r"every checkpoint in .* is damaged: epoch 3: .*; epoch 2: .*; epoch 1: "):
        ckpt.restore(MLP(nnx.Rngs(0)))
    assert sorted(os.listdir(folder)) == ["1", "2", "3"]  # nothing moved when nothing could be restored


def test_checksums_survive_every_kind_of_leaf(tmp_path):
    class Mixed(nnx.Module):
        def __init__(self, rngs):
            self.half = nnx.Linear(3, 2, param_dtype=jax.numpy.bfloat16, rngs=rngs)
            self.drop = nnx.Dropout(0.5, rngs=rngs)  # a typed PRNG key and a uint32 counter
            self.count = nnx.BatchStat(jax.numpy.arange(3, dtype=jax.numpy.int32))

    model = Mixed(nnx.Rngs(0))
    with train.Checkpointer(tmp_path) as ckpt:
        ckpt.save(0, model, metadata={"note": "epoch 0 is the initial state"})
        other = Mixed(nnx.Rngs(1))
        assert ckpt.restore(other) == {"note": "epoch 0 is the initial state"}  # the checksum is not returned
    np.testing.assert_array_equal(np.asarray(other.half.kernel[...], np.float32),
                                  np.asarray(model.half.kernel[...], np.float32))
    assert other.half.kernel[...].dtype == jax.numpy.bfloat16


def test_the_checkpointer_doctest_leaves_nothing_in_the_temp_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in doctest.DocTestFinder().find(_checkpoint.Checkpointer, "Checkpointer",
                                             globs=vars(_checkpoint).copy()):
        if test.examples:
            runner.run(test)
    assert runner.failures == 0 and runner.tries > 0
    assert os.listdir(tmp_path) == []
