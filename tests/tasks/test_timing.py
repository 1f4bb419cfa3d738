import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from spikejax.nn import DelayedLinear
from tasks import timing

RESULTS = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "results"


def _spike_times(batch):
    """(B, C) the step of each channel's only spike (a batch without noise spikes)."""
    spikes = np.asarray(batch.inputs)
    assert np.all(spikes.sum(axis=0) == 1), "one spike per channel"
    return spikes.argmax(axis=0)


@pytest.mark.slow  # CI time (7-11 s on the loaded 2-core machine); run with `pytest -m slow`
def test_only_the_gap_between_the_groups_tells_the_classes_apart():
    options = dict(channels=8, steps=70, classes=3, min_gap=20, max_gap=40, spread=5, jitter=0, noise_spikes=0)
    batch = timing.timing_data(jax.random.key(0), 300, **options)
    times, labels = _spike_times(batch), np.asarray(batch.labels)
    gaps = timing.class_gaps(3, 20, 40)
    assert gaps.tolist() == [20, 30, 40] and set(labels.tolist()) == {0, 1, 2}
    first, second = times[:, :4], times[:, 4:]
    # inside a group, the lags relative to the group's first channel are the same in every sample and class
    for group in (first, second):
        lags = group - group[:, :1]
        assert np.all(lags == lags[0]) and np.abs(lags).max() < 5
    # between the groups: the class's gap (plus the fixed pattern offset)
    between = second[:, 0] - first[:, 0] - gaps[labels]
    assert np.all(between == between[0])
    # the onset moves: where a group fires does not give the class away
    assert len(np.unique(first[:, 0])) > 10


@pytest.mark.slow
def test_every_channel_fires_as_often_in_every_class():
    batch = timing.timing_data(jax.random.key(1), 2000, noise_spikes=2)
    counts, labels = np.asarray(batch.inputs).sum(axis=0), np.asarray(batch.labels)
    assert counts.max() <= 3 and counts.mean() > 2.9
    means = np.stack([counts[labels == k].mean(axis=0) for k in range(4)])  # (classes, channels)
    assert np.abs(means - means.mean(axis=0)).max() < 0.05, means


@pytest.mark.slow
def test_jitter_moves_single_spikes_and_seeds_repeat():
    options = dict(channels=4, steps=60, min_gap=10, max_gap=30, noise_spikes=0)
    still = _spike_times(timing.timing_data(jax.random.key(2), 200, jitter=0, **options))
    moved = _spike_times(timing.timing_data(jax.random.key(2), 200, jitter=2, **options))
    lags = moved - still - (moved - still)[:, :1]
    assert set(np.unique(lags)) <= set(range(-4, 5)) and len(np.unique(lags)) > 3
    again = timing.timing_data(jax.random.key(2), 200, jitter=2, **options)
    np.testing.assert_array_equal(_spike_times(again), moved)


def test_data_errors_name_the_argument():
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="channels must be even.*got 5"):
        timing.timing_data(key, 2, channels=5)
    with pytest.raises(ValueError, match=r"steps must be at least max_gap \+ spread \+ 2 \* jitter \+ 1 = 57.*got 50"):
        timing.timing_data(key, 2, steps=50)
    with pytest.raises(ValueError, match="min_gap < max_gap, got min_gap=9, max_gap=9"):
        timing.class_gaps(3, 9, 9)
    with pytest.raises(ValueError, match="model must be one of"):
        timing.TimingNet(4, 4, 2, model="conv", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="rounded\\(\\) needs model='delay', got model='linear'"):
        timing.TimingNet(4, 4, 2, model="linear", rngs=nnx.Rngs(0)).rounded()


@pytest.mark.slow
def test_the_rounded_network_has_integer_delays_and_the_same_readout():
    net = timing.TimingNet(4, 6, 3, max_delay=8, rngs=nnx.Rngs(0))
    rounded = net.rounded()
    assert isinstance(rounded.hidden[0], DelayedLinear)
    np.testing.assert_array_equal(rounded.hidden[0].delays[...], net.hidden[0].delays())
    x = timing.timing_data(jax.random.key(3), 4, channels=4, steps=30, min_gap=5, max_gap=15).inputs
    assert rounded(x)[0].shape == (4, 3) and type(net.hidden[0]).__name__ == "LearnableDelayedLinear"


def test_smoke_run_writes_the_summary(tmp_path):
    output = tmp_path / "timing.json"
    summary = timing.main(["--smoke", "--no-progress", "--output", str(output)])
    written = json.loads(output.read_text())
    assert written["complete"] and written["task"] == "timing" and written["model"] == "delay"
    assert written["test_accuracy"] == summary["test_accuracy"] and len(written["accuracy_curve"]) == 2
    assert 0.0 <= written["rounded_delays_test_accuracy"] <= 1.0
    assert written["config"]["sigma_start"] == 2.0 and "load_average" in written
    assert np.isfinite(written["test_loss"])


@pytest.mark.slow
@pytest.mark.parametrize("model", ["linear", "recurrent"])
def test_smoke_runs_of_the_networks_without_delays(tmp_path, model):
    summary = timing.main(["--smoke", "--no-progress", "--model", model, "--output", str(tmp_path / "s.json")])
    assert summary["complete"] and summary["rounded_delays_test_accuracy"] is None


def test_recorded_results_show_that_the_task_needs_delays():
    results = {m: json.loads((RESULTS / f"timing_{m}_cpu.json").read_text()) for m in timing.MODELS}
    for model, summary in results.items():
        assert summary["complete"] and summary["command"].startswith("python -m tasks.timing"), model
        assert summary["wall_seconds"] < 600, (model, summary["wall_seconds"])
        assert summary["config"]["hidden"] == results["delay"]["config"]["hidden"]
        assert summary["epochs_run"] * summary["config"]["steps"] == 800
    assert results["delay"]["test_accuracy"] >= 0.95
    assert results["delay"]["rounded_delays_test_accuracy"] >= 0.9
    assert results["linear"]["test_accuracy"] < 0.6 and results["recurrent"]["test_accuracy"] < 0.6
