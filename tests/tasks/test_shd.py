import json

import jax

import h5py
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from spikejax.data import _files, events
from tasks import shd


def test_synthetic_data_has_the_shd_layout_and_separable_classes(tmp_path):
    shd.write_synthetic_shd(tmp_path, train=40, test=8, classes=4, spikes=200)
    with h5py.File(tmp_path / "shd_train.h5") as file:
        assert file["spikes/times"].dtype.metadata["vlen"] == np.float32
        assert file["spikes/units"].dtype.metadata["vlen"] == np.uint16
        assert file["labels"].dtype == np.uint8 and len(file["extra/keys"]) == 20
    data = events.load_events("shd", "train", data_dir=tmp_path)
    assert len(data) == 40 and set(data.labels.tolist()) == {0, 1, 2, 3}
    # the classes are sweeps: the median channel of each half of a sample tells its class
    def feature(i):
        times, units = data[i]
        return [np.median(units[times < 0.25]), np.median(units[times >= 0.25])]

    features = np.array([feature(i) for i in range(40)])
    centroids = np.array([features[data.labels == c].mean(0) for c in range(4)])
    nearest = np.argmin(((features[:, None] - centroids[None]) ** 2).sum(-1), axis=1)
    np.testing.assert_array_equal(nearest, data.labels)
    for index in range(40):
        times, units = data[index]
        assert len(times) == 200 and np.all(np.diff(times) >= 0) and times.max() < 0.5


def test_network_shapes_and_models():
    for model in ("lif", "lsnn"):
        net = shd.RecurrentSNN(10, 6, 3, model=model, rngs=nnx.Rngs(0))
        logits, spikes = net(jnp.ones((4, 2, 10)))
        assert logits.shape == (2, 3) and spikes.shape == (4, 2, 6)
    with pytest.raises(ValueError, match=r"model must be 'lif' or 'lsnn' \(DelaySNN has the delays\), got 'alif'"):
        shd.RecurrentSNN(10, 6, 3, model="alif", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"tau_syn must be at least dt=0.01 s"):
        shd.RecurrentSNN(10, 6, 3, tau_syn=0.005, rngs=nnx.Rngs(0))


@pytest.mark.slow  # two compilations of the delay convolutions (CI time)
def test_delay_network_rounds_to_the_same_network_when_the_delays_are_integers():
    net = shd.DelaySNN(10, 6, 3, max_delay=4, rngs=nnx.Rngs(0))
    for index in (0, 2):  # integer positions and a narrow kernel: the rounding changes nothing
        layer = net.net[index]
        layer.position[...] = jnp.round(layer.position[...])
    net.set_width(0.05)
    assert float(net.net[2].sigma[...]) == pytest.approx(0.05)
    x = (jax.random.uniform(jax.random.key(0), (12, 2, 10)) < 0.3).astype(jnp.float32)
    logits, _ = net(x)
    rounded = net.rounded()
    assert type(rounded.net[0]).__name__ == "DelayedLinear" and type(net.net[0]).__name__ == "LearnableDelayedLinear"
    np.testing.assert_allclose(rounded(x)[0], logits, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("argv, message", [
    (["--model", "alif"], "invalid choice: 'alif'"),
    (["--hidden", "0"], "--hidden must be a positive integer, got 0"),
    (["--lr", "0"], "--lr must be positive, got 0.0"),
    (["--tau-syn", "0.001"], "--tau-syn must be at least --dt 0.01 (Euler steps of dt), got 0.001"),
    (["--drop-rate", "1"], "--drop-rate must be in [0, 1), got 1.0"),
    (["--channel-shift", "-1"], "--channel-shift must be >= 0, got -1"),
    (["--data-dir", "no/such/folder"], "--data-dir must be an existing folder"),
    (["--smoke", "--dataset", "ssc"], "--smoke generates SHD-format data: leave out --data-dir and --dataset"),
    (["--resume"], "--resume needs --checkpoint-dir"),
])
def test_bad_flags_are_clear_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        shd.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_missing_data_says_where_it_looked_and_where_shd_is_published(tmp_path, monkeypatch):
    monkeypatch.delenv("SPIKEJAX_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(_files, "repo_data_dir", lambda: tmp_path / "repo_data")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError) as error:
        shd.main(["--data-dir", str(tmp_path / "empty"), "--output", str(tmp_path / "s.json"), "--no-progress"])
    message = str(error.value)
    assert "shd_train.h5" in message and str(tmp_path / "empty") in message
    assert "https://zenkelab.org/datasets/shd_train.h5.zip" in message and "--data-dir" in message


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shd")
    argv = ["--smoke", "--no-progress", "--output", str(folder / "summary.json"), "--checkpoint-dir",
            str(folder / "ckpt"), "--epochs", "6"]
    return folder, argv, shd.main(argv)


@pytest.mark.slow  # a few seconds of training (CI time); run with `pytest -m slow`
def test_smoke_run_learns_and_writes_the_summary_and_checkpoints(smoke):
    folder, _, summary = smoke
    written = json.loads((folder / "summary.json").read_text())
    assert written["complete"] and written["test_accuracy"] == summary["test_accuracy"]
    assert written["test_loss"] < written["initial_test_loss"] - 0.5, written["loss_curve"]
    assert written["test_accuracy"] > 0.5 > written["initial_test_accuracy"], written["accuracy_curve"]
    assert len(written["accuracy_curve"]) == 6 and written["epochs_run"] == 6
    assert written["command"].startswith("python -m tasks.shd --smoke")
    for key in ("device", "jax", "flax", "optax"):
        assert key in written["environment"]
    assert sorted(p.name for p in (folder / "ckpt").iterdir() if p.name.isdigit())[-1] == "6"


@pytest.mark.slow
def test_resume_continues_from_the_checkpoint(smoke):
    folder, argv, summary = smoke
    resumed = shd.main([*argv[:-1], "8", "--resume", "--output", str(folder / "resumed.json")])
    assert resumed["epochs_run"] == 2 and [h["epoch"] for h in resumed["history"]] == [7, 8]
    assert resumed["initial_test_loss"] is None and resumed["complete"]
    assert resumed["test_loss"] < summary["initial_test_loss"]


@pytest.mark.slow  # about 15 s of CPU (the delay convolutions); run with `pytest -m slow`
def test_delay_model_smoke_run_learns_and_reports_the_rounded_network(tmp_path):
    summary = shd.main(["--smoke", "--model", "delays", "--no-progress", "--output", str(tmp_path / "d.json"),
                        "--epochs", "6", "--hidden", "16"])
    assert summary["test_loss"] < summary["initial_test_loss"] - 0.5, summary["loss_curve"]
    # chance is 0.25 (four classes are used)
    assert summary["test_accuracy"] > 0.4 and summary["rounded_test_accuracy"] > 0.4, summary
    assert json.loads((tmp_path / "d.json").read_text())["rounded_test_accuracy"] == summary["rounded_test_accuracy"]


@pytest.mark.slow  # CI time (7-11 s on the loaded 2-core machine); run with `pytest -m slow`
def test_ctrl_c_before_training_writes_the_summary_and_the_hint(tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(shd.train, "evaluate", interrupted)  # Ctrl-C in the evaluation before training
    with pytest.raises(KeyboardInterrupt):
        shd.main(["--smoke", "--no-progress", "--output", str(tmp_path / "s.json"),
                  "--checkpoint-dir", str(tmp_path / "ckpt")])
    assert f"No checkpoint was written yet in {tmp_path / 'ckpt'}" in capsys.readouterr().err
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["task"] == "shd" and summary["interrupted"] and summary["epochs_run"] == 0
