import json
import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from spikejax import train
from tasks import mnist

TINY = ["--train-limit", "64", "--test-limit", "32", "--batch-size", "32", "--no-progress"]


def test_help_lists_the_flags():
    out = subprocess.run([sys.executable, "-m", "tasks.mnist", "--help"], capture_output=True, text=True, check=True)
    for flag in ["--epochs", "--batch-size", "--lr", "--time-steps", "--encoder", "--surrogate",
                 "--neuron", "--dataset", "--checkpoint-dir", "--resume", "--seed", "--smoke",
                 "--devices", "--precision"]:
        assert flag in out.stdout, flag


def test_smoke_run_lowers_the_loss_and_writes_the_summary(tmp_path):
    output = tmp_path / "summary.json"
    summary = mnist.main(["--smoke", "--no-progress", "--output", str(output)])
    written = json.loads(output.read_text())
    assert written["test_accuracy"] == summary["test_accuracy"]
    # It learns, not just drifts: ln 10 = 2.303 at the start, about 1.29 after the smoke epoch.
    assert written["test_loss"] < written["initial_test_loss"] - 0.1, written
    # The final model's figures are the last epoch's evaluation (of the same model, not run twice).
    assert written["test_accuracy"] == written["history"][-1]["eval"]["accuracy"]
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


@pytest.mark.slow  # CI time; run with `pytest -m slow`
def test_interrupted_and_resumed_run_ends_with_the_same_parameters(tmp_path):
    common = TINY + ["--epochs", "2", "--output", str(tmp_path / "s.json")]
    whole = mnist.main(common + ["--checkpoint-dir", str(tmp_path / "a")])
    # --resume with every epoch done trains nothing and scores the final model again: same figures
    again = mnist.main(common + ["--checkpoint-dir", str(tmp_path / "a"), "--resume"])
    assert (again["test_accuracy"], again["test_loss"]) == (whole["test_accuracy"], whole["test_loss"])

    def interrupt(result):
        if result["epoch"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        mnist.main(common + ["--checkpoint-dir", str(tmp_path / "b")], on_epoch_end=interrupt)
    summary = mnist.main(common + ["--checkpoint-dir", str(tmp_path / "b"), "--resume"])
    # only the second epoch ran after resuming; the first one's results came back from its checkpoint
    assert [h["epoch"] for h in summary["history"]] == [1, 2] and summary["resumed_from_epoch"] == 1
    assert json.loads((tmp_path / "s.json").read_text())["epochs_run"] == 2
    a, b = _final_parameters(tmp_path / "a"), _final_parameters(tmp_path / "b")
    assert len(a) == len(b) == 6
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_each_data_set_has_its_own_statistics_and_they_match_its_training_set(name):
    images, _ = mnist.sdata.load(name, "train")
    pixels = images.astype(np.float64) / 255
    mean, std = mnist.sdata.DATASETS[name].mean_std
    assert pixels.mean() == pytest.approx(mean, abs=1e-4) and pixels.std() == pytest.approx(std, abs=1e-4)


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_the_poisson_encoder_gets_the_pixels_back_with_the_data_sets_own_statistics(name):
    # tasks.mnist once undid the normalisation with MNIST's numbers for every data set: the
    # Fashion-MNIST rates came out shifted (a black pixel fired at 0.29 * f_max / 0.35 ...).
    args = mnist.parse_args(["--dataset", name, "--encoder", "poisson", "--channels", "2", "4"])
    model = mnist.build_model(args)
    assert model.mean_std == mnist.sdata.DATASETS[name].mean_std
    images, _ = mnist.sdata.load(name, "test")
    images = images[:4]
    x = mnist.sdata.normalize(images, *mnist.sdata.DATASETS[name].mean_std)
    np.testing.assert_allclose(np.asarray(model.pixels(jnp.asarray(x))), images / 255, atol=1e-6)
    with pytest.raises(ValueError, match=r"mean_std must be a finite \(mean, std\) with std > 0, got \(0.1, 0.0\)"):
        mnist.ConvSNN(mean_std=(0.1, 0.0), rngs=nnx.Rngs(0))


def test_bad_arguments_are_clear_errors(tmp_path):
    with pytest.raises(SystemExit):
        mnist.main(["--resume"])
    with pytest.raises(ValueError, match=r"name must be one of"):
        mnist.sdata.load("cifar")


SMALL = TINY + ["--channels", "4", "8", "--epochs", "1"]


@pytest.mark.slow  # CI time; run with `pytest -m slow`
def test_bfloat16_computes_the_layers_in_bfloat16_and_keeps_float32_parameters_and_neurons():
    images = jnp.asarray(np.random.default_rng(0).normal(size=(2, 28, 28)), jnp.float32)
    for dtype in (jnp.float32, jnp.bfloat16):
        model = mnist.ConvSNN(channels=(2, 4), time_steps=2, dtype=dtype, rngs=nnx.Rngs(0))
        graph, state = nnx.split(model)
        jaxpr = str(jax.make_jaxpr(lambda state, x: nnx.merge(graph, state)(x))(state, images))
        layers = [line for line in jaxpr.splitlines() if "conv_general_dilated" in line or "dot_general" in line]
        assert len(layers) >= 3  # conv1, conv2 and the readout
        assert all(("bf16[" in line) == (dtype == jnp.bfloat16) for line in layers), layers
        assert {str(leaf.dtype) for leaf in jax.tree_util.tree_leaves(nnx.state(model, nnx.Param))} == {"float32"}
        logits, _ = model(images)
        assert logits.dtype == jnp.float32  # the readout's leaky integrators ran in float32


@pytest.mark.slow  # CI time; run with `pytest -m slow`
def test_precision_is_recorded_and_bfloat16_trains(tmp_path):
    summary = mnist.main(SMALL + ["--precision", "bfloat16", "--output", str(tmp_path / "s.json")])
    assert summary["config"]["precision"] == "bfloat16" and summary["config"]["devices"] == 1
    assert np.isfinite(summary["test_loss"]) and np.isfinite(summary["history"][0]["train"]["loss"])


def test_devices_flag_errors():
    too_many = str(jax.local_device_count() + 1)
    with pytest.raises(SystemExit, match=f"--devices {too_many}: only {jax.local_device_count()} local devices"):
        mnist.main(TINY + ["--devices", too_many])
    with pytest.raises(SystemExit):  # argparse: "expected a number of devices >= 0 or 'all', got '-1'"
        mnist.main(TINY + ["--devices", "-1"])
    with pytest.raises(SystemExit):
        mnist.main(TINY + ["--precision", "float16"])


# Runs in a subprocess: the simulated device count is read once, when JAX starts.
DATA_PARALLEL = """
import json, sys
from tasks import mnist
small, out = json.loads(sys.argv[1]), sys.argv[2]
runs = {n: mnist.main(small + ["--devices", n, "--output", out]) for n in ("1", "all")}
errors = []
for bad in (["--batch-size", "30"], ["--test-limit", "30"]):
    try:
        mnist.main(small + ["--devices", "all"] + bad)
    except SystemExit as error:
        errors.append(str(error))
print(json.dumps({"runs": runs, "errors": errors}))
"""


@pytest.mark.slow  # CI time; run with `pytest -m slow`
def test_devices_all_trains_data_parallel_like_one_device(tmp_path):
    repo = pathlib.Path(mnist.__file__).parent.parent
    path = os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=path,
               XLA_FLAGS=os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4")
    done = subprocess.run([sys.executable, "-c", DATA_PARALLEL, json.dumps(SMALL), str(tmp_path / "s.json")],
                          capture_output=True, text=True, env=env, cwd=repo, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.splitlines()[-1])
    one, four = result["runs"]["1"], result["runs"]["all"]
    assert one["config"]["devices"] == 1 and four["config"]["devices"] == 4
    assert four["environment"]["device_count"] == 4
    # Two Adam steps: its first update is lr * sign(gradient), so the summation order of the
    # data-parallel gradient only matters for gradients that are zero up to rounding.
    assert four["history"][0]["train"]["loss"] == pytest.approx(one["history"][0]["train"]["loss"], abs=1e-5)
    assert four["test_loss"] == pytest.approx(one["test_loss"], abs=1e-4)
    assert four["test_accuracy"] == one["test_accuracy"]
    assert result["errors"] == [
        "--batch-size 30 does not split evenly over --devices 4",
        "the 30 test images do not split evenly over --devices 4; pass --test-limit with a multiple of 4",
    ]


def test_batch_norm_normalises_between_convolution_and_neurons_and_uses_running_statistics_in_eval():
    args = mnist.parse_args(["--norm", "batch", "--channels", "4", "8", "--time-steps", "2"])
    model = mnist.build_model(args)
    images = jnp.asarray(np.random.default_rng(0).normal(size=(3, 28, 28)), jnp.float32)
    logits, spikes = model(images)
    assert logits.shape == (3, 10) and spikes.shape == ()
    # Training mode updates the running statistics; evaluation mode reads them.
    assert not np.allclose(model.bn1.mean[...], 0.0)
    model.eval()
    eval_logits, _ = model(images)
    assert not np.allclose(eval_logits, logits)
    model.train()
    with pytest.raises(ValueError, match="norm must be one of"):
        mnist.ConvSNN(norm="layer", rngs=nnx.Rngs(0))


@pytest.mark.slow  # CI time; run with `pytest -m slow`
def test_label_smoothing_changes_the_loss_and_is_recorded(tmp_path):
    plain = mnist.main(TINY + ["--epochs", "1", "--label-smoothing", "0", "--output", str(tmp_path / "a.json")])
    smooth = mnist.main(TINY + ["--epochs", "1", "--label-smoothing", "0.2", "--output", str(tmp_path / "b.json")])
    assert smooth["config"]["label_smoothing"] == 0.2
    # Same seed, same data: only the targets differ (near-uniform logits at the start make the
    # difference small, but the runs are deterministic).
    assert smooth["history"][0]["train"]["loss"] != pytest.approx(plain["history"][0]["train"]["loss"], rel=1e-5)


def test_ottt_step_applies_the_ottt_gradient_of_the_per_step_cross_entropy():
    import optax

    from spikejax.online import ottt_gradients

    args = mnist.parse_args(["--learning", "ottt", "--hidden", "12", "--time-steps", "3"])
    model = mnist.build_model(args)
    assert isinstance(model, mnist.DenseSNN)
    rng = np.random.default_rng(0)
    batch = {"x": jnp.asarray(rng.standard_normal((5, 28, 28)), jnp.float32),
             "y": jnp.asarray(rng.integers(0, 10, 5)), "key": jax.random.key(0)}
    before = [w[...] for w in model.weights]
    xs = model.inputs(batch["x"])
    labels = jnp.broadcast_to(batch["y"], (3, 5))
    expected = ottt_gradients(
        before, xs, labels, steps=model.steps(), trace_decay=0.5,  # 1 - 1 ms * 500 / s
        loss_step=lambda v, y: optax.softmax_cross_entropy_with_integer_labels(v, y).mean() / 3)
    optimizer = nnx.Optimizer(model, optax.sgd(1.0), wrt=nnx.Param)
    metrics = mnist.ottt_train_step(args, model)(model, optimizer, batch)
    assert float(metrics["loss"]) == pytest.approx(float(expected.loss), rel=1e-6)
    assert 0 <= float(metrics["accuracy"]) <= 1
    for old, new, grad in zip(before, model.weights, expected.grads):
        assert float(jnp.abs(grad).max()) > 0
        np.testing.assert_allclose(old - new[...], grad, rtol=1e-5, atol=1e-7)


def test_ottt_run_trains_and_refuses_the_conv_networks_options(tmp_path, capsys):
    output = tmp_path / "ottt.json"
    summary = mnist.main(TINY + ["--learning", "ottt", "--hidden", "16", "--output", str(output)])
    written = json.loads(output.read_text())
    assert written["config"]["learning"] == "ottt" and written["test_accuracy"] == summary["test_accuracy"]
    assert written["history"][0]["train"]["accuracy"] is not None
    for flags, message in [(["--norm", "batch"], "--norm batch is an option of the conv network"),
                           (["--channels", "8", "8"], "--channels"),
                           (["--neuron", "leaky"], "--neuron lif or lif_box, got 'leaky'"),
                           (["--tau-mem-inv", "1000"], "--tau-mem-inv below 1000"),
                           (["--hidden", "0"], "--hidden must be a positive integer with --learning ottt, got 0")]:
        with pytest.raises(SystemExit):
            mnist.parse_args(["--learning", "ottt", *flags])
        assert message in capsys.readouterr().err, flags


def test_hidden_puts_a_spiking_fully_connected_layer_before_the_readout(capsys):
    model = mnist.ConvSNN(channels=(2, 4), hidden=8, time_steps=2, rngs=nnx.Rngs(0))
    assert model.fc_hidden.kernel.shape == (7 * 7 * 4, 8) and model.fc.kernel.shape == (8, 10)
    logits, counts = model(jnp.ones((3, 28, 28)))
    assert logits.shape == (3, 10) and counts.shape == ()
    assert not hasattr(mnist.ConvSNN(channels=(2, 4), rngs=nnx.Rngs(0)), "fc_hidden")
    with pytest.raises(ValueError, match="hidden must be 0"):
        mnist.ConvSNN(hidden=-1, rngs=nnx.Rngs(0))
    assert mnist.parse_args([]).hidden == 0 and mnist.parse_args(["--learning", "ottt"]).hidden == 800
    with pytest.raises(SystemExit):
        mnist.parse_args(["--hidden", "-2"])
    assert "--hidden must be 0 (none) or positive with --learning bptt, got -2" in capsys.readouterr().err


def test_each_data_set_has_its_own_schedule_and_flags_override_it():
    mnist_args, fashion = mnist.parse_args([]), mnist.parse_args(["--dataset", "fashion_mnist"])
    assert (mnist_args.epochs, mnist_args.augment, mnist_args.flip) == (12, True, False)
    assert (fashion.epochs, fashion.augment, fashion.flip) == (18, False, True)
    overridden = mnist.parse_args(["--dataset", "fashion_mnist", "--augment", "--no-flip", "--epochs", "3"])
    assert (overridden.epochs, overridden.augment, overridden.flip) == (3, True, False)
    assert mnist.parse_args(["--no-augment"]).augment is False
    assert mnist.parse_args(["--flip"]).flip is True
    # the test images are evaluated with their mirror images exactly when training flips
    assert (mnist_args.test_flip, fashion.test_flip) == (False, True)
    assert mnist.parse_args(["--dataset", "fashion_mnist", "--no-test-flip"]).test_flip is False
    assert mnist.parse_args(["--smoke", "--dataset", "fashion_mnist"]).epochs == 1
    # label smoothing: MNIST's conv network only (OTTT's recorded recipe has none)
    assert (mnist_args.label_smoothing, fashion.label_smoothing) == (0.1, 0.0)
    assert mnist.parse_args(["--learning", "ottt"]).label_smoothing == 0.0
    assert mnist.parse_args(["--label-smoothing", "0"]).label_smoothing == 0.0


@pytest.mark.parametrize("value", ["-0.1", "1", "nan"])
def test_label_smoothing_outside_zero_to_one_is_a_clear_error(value, capsys):
    with pytest.raises(SystemExit):
        mnist.parse_args(["--label-smoothing", value])
    assert f"--label-smoothing must be in [0, 1), got {float(value)}" in capsys.readouterr().err


def test_flips_mirror_about_half_the_images_and_nothing_else():
    rng = np.random.default_rng(0)
    images = rng.random((400, 28, 28)).astype(np.float32)
    flipped = mnist.flip_images(images, np.random.default_rng(1))
    assert flipped.shape == images.shape and flipped.dtype == images.dtype
    same = (flipped == images).all(axis=(1, 2))
    mirrored = (flipped == images[:, :, ::-1]).all(axis=(1, 2))
    assert (same ^ mirrored).all()  # each image is itself or its mirror image, never both (random pixels)
    assert 150 < mirrored.sum() < 250
    again = mnist.flip_images(images, np.random.default_rng(1))
    np.testing.assert_array_equal(again, flipped)  # the same generator state, the same flips (resumable)


def test_test_flip_scores_each_image_with_its_mirror_image(tmp_path):
    common = TINY + ["--dataset", "fashion_mnist", "--epochs", "1", "--channels", "2", "4"]
    flipped = mnist.main(common + ["--output", str(tmp_path / "f.json")])
    assert flipped["config"]["test_flip"] is True
    # the mirrored images change the scores (the loss), and the plain figures are kept beside them
    assert flipped["test_loss"] != flipped["test_loss_without_flip"]
    assert flipped["history"][-1]["eval"]["loss"] == flipped["test_loss"]
