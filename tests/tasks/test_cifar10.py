"""tasks.cifar10 on a small archive in the original format (written by conftest's cifar_archive)."""

import json
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from tasks import cifar10


def test_help_lists_the_flags():
    out = subprocess.run([sys.executable, "-m", "tasks.cifar10", "--help"], capture_output=True, text=True, check=True)
    for flag in ["--data-dir", "--source", "--epochs", "--batch-size", "--lr", "--time-steps", "--channels",
                 "--neuron", "--surrogate", "--seed", "--checkpoint-dir", "--resume", "--smoke", "--output",
                 "--no-verify"]:
        assert flag in out.stdout, flag


@pytest.mark.slow  # CI time; run with `pytest -m slow`
def test_smoke_run_on_a_small_archive_writes_the_summary(tmp_path, cifar_archive):
    cifar_archive(tmp_path / "data", per_batch=8, test=16)
    output = tmp_path / "summary.json"
    summary = cifar10.main(["--smoke", "--no-progress", "--data-dir", str(tmp_path / "data"), "--output", str(output),
                            "--epochs", "2", "--time-steps", "2", "--no-augment", "--no-verify"])
    written = json.loads(output.read_text())
    assert written["complete"] and written["test_accuracy"] == summary["test_accuracy"]
    assert written["epochs_run"] == 2 and len(written["epoch_seconds"]) == 2
    # Random labels on 40 images: the network can only memorise them, so the train loss falls.
    losses = [h["train"]["loss"] for h in written["history"]]
    assert losses[1] < losses[0], losses
    assert written["config"]["channels"] == [8, 8, 16, 16] and "device" in written["environment"]


@pytest.mark.slow  # CI time; run with `pytest -m slow`
def test_network_shapes_and_spikes():
    model = cifar10.CifarSNN(channels=(4, 4, 8, 8), time_steps=3, rngs=nnx.Rngs(0))
    logits, spikes = model(jnp.ones((2, 32, 32, 3)) * 3.0)
    assert logits.shape == (2, 10) and spikes > 0
    with pytest.raises(ValueError, match=r"images must have shape \(B, 32, 32, 3\), got \(2, 28, 28\)"):
        model(jnp.ones((2, 28, 28)))
    with pytest.raises(ValueError, match=r"channels must be four positive integers, got \(4, 4\)"):
        cifar10.CifarSNN(channels=(4, 4), rngs=nnx.Rngs(0))


def test_augment_crops_and_flips_within_the_padding():
    rng = np.random.default_rng(0)
    images = np.arange(2 * 32 * 32 * 3, dtype=np.int64).reshape(2, 32, 32, 3).astype(np.uint8)
    out = cifar10.augment(images, rng, pad=0)
    for original, crop in zip(images, out):
        assert np.array_equal(crop, original) or np.array_equal(crop, original[:, ::-1])
    assert cifar10.augment(images, rng).shape == images.shape


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--epochs", "0"], r"--epochs must be a positive integer, got 0"),
        (["--channels", "8", "0", "8", "8"], r"--channels must be positive integers, got \[8, 0, 8, 8\]"),
        (["--lr", "-1"], r"--lr must be positive, got -1.0"),
        (["--resume"], r"--resume needs --checkpoint-dir"),
        (["--source", "web"], r"argument --source: invalid choice: 'web'"),
    ],
)
def test_bad_flags_are_refused(argv, message, capsys):
    with pytest.raises(SystemExit):
        cifar10.parse_args(argv)
    assert __import__("re").search(message, capsys.readouterr().err)


def test_missing_data_says_which_file_where_it_looked_and_where_it_is_published(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("SPIKEJAX_DATA", raising=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError) as info:
        cifar10.main(["--smoke", "--data-dir", str(tmp_path / "empty"), "--no-progress"])
    message = str(info.value)
    for text in ("CIFAR-10 files not found", "cifar-10-python.tar.gz",
                 f"data_dir argument: {tmp_path / 'empty' / 'cifar10'} (does not exist)",
                 f"data_dir argument: {tmp_path / 'empty'} (missing cifar-10-python.tar.gz)",
                 "$SPIKEJAX_DATA: not set", "repository data folder:",
                 f"user cache: {tmp_path / 'cache' / 'spikejax' / 'cifar10'}",
                 "https://www.cs.toronto.edu/~kriz/cifar.html",
                 "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                 "spikejax.data.download('cifar10')"):
        assert text in message, (text, message)
    assert "(mirrors: )" not in message


def test_a_data_dir_that_does_not_exist_is_refused(capsys):
    with pytest.raises(SystemExit):
        cifar10.parse_args(["--data-dir", "/no/such/folder"])
    assert "--data-dir must be an existing folder, got '/no/such/folder'" in capsys.readouterr().err
