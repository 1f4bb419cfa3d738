import json
import subprocess
import sys

import jax
import numpy as np
import pytest
from flax import nnx

from spikejax import train
from tasks import mnist

TINY = ["--train-limit", "64", "--test-limit", "32", "--batch-size", "32", "--no-progress"]


def test_help_lists_the_flags():
    out = subprocess.run([sys.executable, "-m", "tasks.mnist", "--help"], capture_output=True, text=True, check=True)
    for flag in ["--epochs", "--batch-size", "--lr", "--time-steps", "--encoder", "--surrogate",
                 "--neuron", "--dataset", "--checkpoint-dir", "--resume", "--seed", "--smoke"]:
        assert flag in out.stdout, flag


def test_smoke_run_lowers_the_loss_and_writes_the_summary(tmp_path):
    output = tmp_path / "summary.json"
    summary = mnist.main(["--smoke", "--no-progress", "--output", str(output)])
    written = json.loads(output.read_text())
    assert written["test_accuracy"] == summary["test_accuracy"]
    # It learns, not just drifts: ln 10 = 2.303 at the start, about 2.09 after the smoke epoch.
    assert written["test_loss"] < written["initial_test_loss"] - 0.1, written
    assert written["epochs_run"] == 1 and len(written["epoch_seconds"]) == 1 and written["complete"]
    for key in ("device", "jax", "flax", "optax"):
        assert key in written["environment"]
    assert written["config"]["smoke"] is True and written["config"]["train_limit"] == 1024


def _final_parameters(directory):
    model = mnist.ConvSNN(rngs=nnx.Rngs(123))
    ckpt = train.Checkpointer(directory)
    ckpt.restore(model)
    ckpt.close()
    return jax.tree_util.tree_leaves(nnx.to_pure_dict(nnx.state(model, nnx.Param)))


def test_interrupted_and_resumed_run_ends_with_the_same_parameters(tmp_path):
    common = TINY + ["--epochs", "2", "--output", str(tmp_path / "s.json")]
    mnist.main(common + ["--checkpoint-dir", str(tmp_path / "a")])

    def interrupt(result):
        if result["epoch"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        mnist.main(common + ["--checkpoint-dir", str(tmp_path / "b")], on_epoch_end=interrupt)
    summary = mnist.main(common + ["--checkpoint-dir", str(tmp_path / "b"), "--resume"])
    assert summary["epochs_run"] == 1  # only the second epoch ran after resuming
    a, b = _final_parameters(tmp_path / "a"), _final_parameters(tmp_path / "b")
    assert len(a) == len(b) == 6
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_bad_arguments_are_clear_errors(tmp_path):
    with pytest.raises(SystemExit):
        mnist.main(["--resume"])
    with pytest.raises(ValueError, match=r"name must be one of"):
        mnist.sdata.load("cifar")
