import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from spikejax import data as sdata
from spikejax import train
from spikejax.functional.plasticity import STDPState
from spikejax.learn import normalize_weights
from tasks import mnist_stdp

# 40 training images make batches of 16, 16 and 8: the last, partial batch is covered too.
TINY = ["--train-limit", "40", "--test-limit", "32", "--neurons", "10", "--batch-size", "16",
        "--steps", "60", "--classify-interval", "2", "--no-progress"]


def test_help_lists_the_flags():
    out = subprocess.run([sys.executable, "-m", "tasks.mnist_stdp", "--help"], capture_output=True,
                         text=True, check=True)
    for flag in ["--neurons", "--epochs", "--batch-size", "--seed", "--checkpoint-dir", "--resume",
                 "--smoke", "--train-limit", "--test-limit", "--output", "--no-progress", "--data-dir",
                 "--steps", "--encoder", "--rng", "--classify-interval", "--learning-batch", "--assign-images"]:
        assert flag in out.stdout, flag


def _restore(directory, neurons=10, batch=16):
    model = mnist_stdp.DiehlCook(neurons, batch, rngs=nnx.Rngs(123))
    ckpt = train.Checkpointer(directory)
    ckpt.restore(model)
    ckpt.close()
    return model


def test_tiny_run_writes_summary_and_plot_and_learns_within_bounds(tmp_path):
    output = tmp_path / "out" / "summary.json"
    summary = mnist_stdp.main(TINY + ["--output", str(output), "--checkpoint-dir", str(tmp_path / "ckpt"),
                                      "--assign-images", "32"])
    written = json.loads(output.read_text())
    assert written["test_accuracy"] == summary["test_accuracy"] and written["complete"] is True
    assert 0.0 <= written["test_accuracy"] <= 1.0 and 0.0 <= written["test_accuracy_frozen_labels"] <= 1.0
    assert written["history"][0]["test_accuracy"] == written["test_accuracy"]
    assert written["epochs_run"] == 1 and len(written["epoch_seconds"]) == 1
    assert written["images_per_second"][0] > 0 and written["history"][0]["spikes_per_image"] > 0
    for key in ("device", "jax", "flax", "optax"):
        assert key in written["environment"]
    assert written["config"]["neurons"] == 10 and written["command"].startswith("python -m tasks.mnist_stdp")
    figure = output.parent / "summary_receptive_fields.png"
    assert figure.exists() and figure.read_bytes()[:4] == b"\x89PNG"

    model = _restore(tmp_path / "ckpt")
    weight = np.asarray(model.weight[...])
    assert weight.min() >= 0.0 and weight.max() <= 1.0
    np.testing.assert_allclose(weight.sum(axis=1), 78.4, rtol=1e-5)
    assert np.all(np.asarray(model.theta[...]) >= 0) and float(jnp.sum(model.theta[...])) > 0
    initial = mnist_stdp.DiehlCook(10, 16, rngs=nnx.Rngs(0)).weight[...]
    assert not np.allclose(weight, initial)  # STDP changed the weights
    assert float(jnp.sum(model.class_rates[...])) > 0


@pytest.mark.slow  # CI time; run with `pytest -m slow`
def test_resumed_run_ends_with_the_same_state(tmp_path):
    common = TINY + ["--epochs", "2", "--output", str(tmp_path / "s.json")]
    mnist_stdp.main(common + ["--checkpoint-dir", str(tmp_path / "a")])

    def interrupt(result):
        if result["epoch"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        mnist_stdp.main(common + ["--checkpoint-dir", str(tmp_path / "b")], on_epoch_end=interrupt)
    summary = mnist_stdp.main(common + ["--checkpoint-dir", str(tmp_path / "b"), "--resume"])
    assert summary["epochs_run"] == 1 and summary["epochs_total"] == 2
    a, b = _restore(tmp_path / "a"), _restore(tmp_path / "b")
    for name in ("weight", "theta", "trace_pre", "trace_post", "class_rates"):
        np.testing.assert_array_equal(getattr(a, name)[...], getattr(b, name)[...], err_msg=name)


def test_a_rerun_into_a_saved_run_is_refused_before_training(tmp_path):
    common = TINY + ["--epochs", "1", "--output", str(tmp_path / "s.json"),
                     "--checkpoint-dir", str(tmp_path / "a")]
    mnist_stdp.main(common)
    trained = []
    with pytest.raises(SystemExit, match="already holds a run.*--resume"):
        mnist_stdp.main(common, on_epoch_end=trained.append)
    assert trained == []  # refused up front, not after an epoch of training


@pytest.mark.parametrize("rng", mnist_stdp.RNGS)
def test_input_spikes_have_the_quickstart_rate(rng):
    images = jnp.tile(jnp.array([0, 64, 255] * 8, jnp.uint8), (4, 33))[:, :784]
    seeds = jax.random.bits(jax.random.key(0), (2000,), jnp.uint32)
    spikes = jax.vmap(mnist_stdp.bernoulli_encoder(images, rng))(seeds)
    rates = np.asarray(spikes.mean(axis=(0, 1)), np.float64)
    expected = np.asarray(images[0], np.float64) / 255 * 0.128
    # 8000 draws per pixel: the standard error is below 0.004
    np.testing.assert_allclose(rates, expected, atol=0.015)
    assert np.all(rates[np.asarray(images[0]) == 0] == 0)
    # Consecutive steps are independent: P(spike at t and t+1) = p^2 for the brightest pixels.
    bright = np.asarray(spikes[:, :, np.asarray(images[0]) == 255], np.float64)
    np.testing.assert_allclose((bright[1:] * bright[:-1]).mean(), 0.128**2, atol=0.004)


def test_interval_encoder_runs():
    images = jnp.full((2, 784), 255, jnp.uint8)
    model = mnist_stdp.DiehlCook(4, 2, rngs=nnx.Rngs(0))
    traces = STDPState(jnp.zeros((2, 784)), jnp.zeros((2, 4)))
    weight, theta, _, counts = mnist_stdp.simulate(model.weight[...], model.theta[...], traces, images,
                                                   jax.random.key(0), steps=40, learn=True, encoder="interval")
    assert counts.shape == (2, 4) and float(counts.sum()) > 0 and float(theta.sum()) > 0


# Inferno 0.0.5 (pip inferno-ai==0.0.5, torch 2.x) running the quickstart's Model, trainer and
# hooks verbatim (10 neurons, batch 4, 250 steps) on these spikes and initial weights, for three
# training batches and one evaluation batch: the excitatory spike counts, theta and a checksum
# of the weights (rows times (i % 7 + 1)) it ended with.
INFERNO_COUNTS = [
    [[0, 0, 0, 28, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0, 31, 0], [0, 0, 0, 20, 0, 0, 0, 0, 1, 0],
     [0, 0, 0, 20, 0, 0, 0, 0, 0, 0]],
    [[0, 0, 0, 0, 25, 0, 0, 0, 0, 0], [0, 1, 0, 3, 0, 0, 0, 0, 30, 0], [2, 0, 0, 0, 0, 0, 0, 20, 1, 1],
     [0, 0, 0, 5, 0, 0, 0, 0, 35, 0]],
    [[11, 0, 0, 0, 0, 0, 0, 1, 0, 0], [1, 0, 0, 1, 1, 0, 0, 0, 1, 23], [0, 0, 0, 0, 0, 0, 0, 0, 29, 0],
     [0, 0, 0, 0, 0, 0, 0, 0, 0, 15]],
]
INFERNO_EVAL_COUNTS = [[0, 0, 0, 28, 0, 0, 0, 0, 5, 0], [0, 0, 0, 0, 0, 0, 0, 0, 31, 0],
                       [0, 0, 0, 19, 0, 0, 1, 0, 0, 0], [0, 0, 0, 20, 0, 0, 0, 0, 0, 0]]
INFERNO_THETA = [0.174993, 0.012498, 0.0, 0.962363, 0.324978, 0.0, 0.0, 0.262478, 1.599887, 0.487487]
INFERNO_CHECKSUM = [310.0901, 313.45715, 313.29128, 310.23375, 311.12644, 314.46409, 310.9547,
                    307.9323, 311.56778, 311.25223]


def test_network_matches_inferno_quickstart():
    images, _ = sdata.load("mnist", "train")
    probability = images[:12].reshape(3, 4, 28, 28) / 255.0 * 0.128
    spikes = np.random.default_rng(0).random((3, 250, 4, 28, 28)) < probability[:, None]
    spikes = jnp.asarray(spikes.reshape(3, 250, 4, 784), jnp.float32)
    init = np.random.default_rng(1).uniform(0.0, 0.3, (10, 784)).astype(np.float32)
    weight, theta = normalize_weights(jnp.asarray(init), 1, 78.4), jnp.zeros(10)
    traces = STDPState(jnp.zeros((4, 784)), jnp.zeros((4, 10)))
    run = jax.jit(lambda w, th, tr, xs, learn: mnist_stdp.present(w, th, tr, xs, lambda x: x, learn=learn),
                  static_argnames="learn")
    for batch in range(3):
        weight, theta, traces, counts = run(weight, theta, traces, spikes[batch], True)
        np.testing.assert_array_equal(counts, INFERNO_COUNTS[batch], err_msg=f"batch {batch}")
    np.testing.assert_allclose(theta, INFERNO_THETA, atol=1e-5)
    checksum = np.asarray(weight, np.float64) @ (np.arange(784) % 7 + 1)
    np.testing.assert_allclose(checksum, INFERNO_CHECKSUM, atol=2e-3)
    _, frozen, _, counts = run(weight, theta, traces, spikes[0], False)
    np.testing.assert_array_equal(counts, INFERNO_EVAL_COUNTS)
    np.testing.assert_array_equal(frozen, theta)


@pytest.mark.parametrize("learning_batch, divisor", [(None, 4), (1, 1)])
def test_learning_batch_divides_the_summed_updates(learning_batch, divisor):
    images = jnp.asarray(sdata.load("mnist", "train")[0][:4].reshape(4, 784))
    model = mnist_stdp.DiehlCook(10, 4, rngs=nnx.Rngs(0))
    traces = STDPState(jnp.zeros((4, 784)), jnp.zeros((4, 10)))
    weight, theta, _, counts = mnist_stdp.simulate(
        model.weight[...], model.theta[...], traces, images, jax.random.key(0), steps=100, learn=True,
        learning_batch=learning_batch)
    # theta decays with a time constant of 1e7 ms: over 100 ms it keeps its increments.
    np.testing.assert_allclose(theta, 0.05 * np.asarray(counts).sum(axis=0) / divisor, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--neurons", "0"], r"--neurons must be a positive integer, got 0"),
        (["--batch-size", "-3"], r"--batch-size must be a positive integer, got -3"),
        (["--steps", "0"], r"--steps must be a positive integer, got 0"),
        (["--epochs", "0"], r"--epochs must be a positive integer, got 0"),
        (["--train-limit", "0"], r"--train-limit must be a positive integer, got 0"),
        (["--classify-interval", "0"], r"--classify-interval must be a positive integer, got 0"),
        (["--learning-batch", "0"], r"--learning-batch must be a positive integer, got 0"),
        (["--seed", "-1"], r"--seed must be non-negative, got -1"),
        (["--assign-images", "-5"], r"--assign-images must be non-negative, got -5"),
        (["--resume"], r"--resume needs --checkpoint-dir"),
        (["--encoder", "latency"], r"argument --encoder: invalid choice: 'latency'"),
        (["--neurons", "many"], r"argument --neurons: invalid int value: 'many'"),
    ],
)
def test_bad_arguments_are_clear_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        mnist_stdp.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err, err

