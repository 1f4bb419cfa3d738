import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from spikejax.nn import LIFRecurrent, LSNNRecurrent
from tasks import memory

PERIOD = 3  # steps per period in the data tests


def _periods(batch, seq_length=PERIOD):
    """(S, B, 4) channel intensities of each period, from a constant-encoded batch."""
    steps, size, features = batch.inputs.shape
    x = np.asarray(batch.inputs).reshape(steps // seq_length, seq_length, size, 4, features // 4)
    assert np.all(x == x[:, :1]), "a constant encoding is the same at every step of a period"
    assert np.all(x == x[..., :1]), "each channel's population carries the same signal"
    return x[:, 0, :, :, 0]


def test_data_structure_target_is_the_bit_at_the_last_store():
    periods, reps = 6, 3
    batch = memory.store_recall_data(jax.random.key(3), 64, seq_length=PERIOD, seq_periods=periods,
                                     seq_repetitions=reps, population_size=2, encoding="constant")
    x = _periods(batch)
    labels, mask = np.asarray(batch.labels), np.asarray(batch.mask)
    assert batch.inputs.shape == (periods * reps * PERIOD, 64, 8) and labels.shape == (periods * reps, 64, 2)
    data, store, recall = x[..., :2], x[..., 2], x[..., 3]
    assert set(np.unique(data)) == {0.0, 1.0} and set(np.unique(store)) == {0.0, 0.5}
    np.testing.assert_array_equal(mask, recall > 0)
    checked = 0
    for b in range(64):
        for r in range(reps):
            span = slice(r * periods, (r + 1) * periods)
            stores, recalls = np.flatnonzero(store[span, b]), np.flatnonzero(recall[span, b])
            # one store in the first half, one recall in the second half of every repetition
            assert len(stores) == 1 and stores[0] < periods // 2, stores
            assert len(recalls) == 1 and recalls[0] >= periods // 2, recalls
        for t in range(periods * reps):
            if recall[t, b]:
                last_store = np.flatnonzero(store[:t, b])[-1]
                np.testing.assert_array_equal(labels[t, b], data[last_store, b])
                assert data[t, b].sum() == 0, "the data channels are silent during a recall"
                checked += 1
            else:
                assert data[t, b].sum() == 1, "one data bit is on outside the recalls"
                np.testing.assert_array_equal(labels[t, b], [0, 0])
    assert checked == 64 * reps
    stored_bits = labels[mask].argmax(-1)
    assert 0.3 < stored_bits.mean() < 0.7, "both bits are stored"


def test_poisson_encoding_rates_and_randomness():
    options = dict(seq_length=200, seq_periods=4, population_size=5, poisson_rate=100.0)
    batch = memory.store_recall_data(jax.random.key(0), 32, **options)
    intensity = memory.store_recall_data(jax.random.key(0), 32, encoding="constant", **options).inputs
    spikes = np.asarray(batch.inputs)
    assert set(np.unique(spikes)) == {0.0, 1.0}
    # 100 Hz * 1 ms = 0.1 for an active data channel, half of it for a command, 0 when silent
    for level, rate in ((1.0, 0.1), (0.5, 0.05), (0.0, 0.0)):
        assert abs(spikes[np.asarray(intensity) == level].mean() - rate) < 0.01, level
    np.testing.assert_array_equal(memory.store_recall_data(jax.random.key(0), 32, **options).inputs, spikes)
    assert not np.array_equal(memory.store_recall_data(jax.random.key(1), 32, **options).inputs, spikes)


def test_recall_loss_counts_only_the_recall_periods():
    labels = jnp.array([[[0.0, 0.0]], [[1.0, 0.0]], [[0.0, 0.0]]])  # 3 periods, the 2nd a recall
    voltages = jnp.repeat(jnp.array([[[0.0, 9.0]], [[2.0, 0.0]], [[0.0, 9.0]]]), 4, axis=0)
    loss, accuracy, logits = memory.recall_loss(voltages, labels, labels.sum(-1) > 0)
    assert logits.shape == (3, 1, 2) and float(accuracy) == 1.0
    np.testing.assert_allclose(loss, np.log1p(np.exp(-2.0)), rtol=1e-6)
    with pytest.raises(ValueError, match="voltages has 11 steps, expected a multiple of the 3 periods"):
        memory.recall_loss(voltages[:11], labels, labels.sum(-1) > 0)


def test_lsnnlif_is_half_lsnn_half_lif():
    net = memory.MemoryNet(8, 7, neuron_model="lsnnlif", rngs=nnx.Rngs(0))
    assert [type(layer) for layer in net.layers] == [LSNNRecurrent, LIFRecurrent]
    assert [layer.hidden_size for layer in net.layers] == [3, 4]
    voltages, spikes = nnx.jit(lambda net, x: net(x))(net, jnp.ones((5, 2, 8)))
    assert voltages.shape == (5, 2, 2) and spikes.shape == (5, 2, 7)


@pytest.mark.parametrize("detach_reset", [False, True])
def test_the_gradient_reaches_the_input_through_the_adaptive_threshold(detach_reset):
    net = memory.MemoryNet(8, 6, neuron_model="lsnn", detach_reset=detach_reset, rngs=nnx.Rngs(0))
    early = jnp.zeros((40, 1, 8)).at[:10].set(1.0)

    def final_threshold(scale):
        spikes, state = net.layers[0](early * scale)
        return state.b.sum(), spikes.sum()

    gradient, spike_count = jax.jit(jax.grad(final_threshold, has_aux=True))(1.0)
    gradient = float(jnp.abs(gradient))
    assert float(spike_count) > 0
    # the memory of the store is the threshold: BPTT must see how the spikes raised it
    assert (gradient == 0) == detach_reset, gradient


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    output = tmp_path_factory.mktemp("memory") / "summary.json"
    summary = memory.main(["--smoke", "--no-progress", "--output", str(output)])
    return output, summary


def test_smoke_run_lowers_the_loss_and_writes_the_summary(smoke):
    output, summary = smoke
    written = json.loads(output.read_text())
    assert written["recall_accuracy"] == summary["recall_accuracy"] and written["complete"]
    assert written["recall_loss"] < written["initial_recall_loss"], written["loss_curve"]
    assert len(written["accuracy_curve"]) == 2 and len(written["epoch_seconds"]) == 1
    for key in ("device", "jax", "flax", "optax"):
        assert key in written["environment"]
    assert written["config"]["smoke"] and written["config"]["neuron_model"] == "lsnn"
    assert written["command"].startswith("python -m tasks.memory --smoke")


def test_plot_draws_the_compared_curves(smoke, tmp_path):
    output, summary = smoke
    other = dict(summary, accuracy_curve=[0.5, 0.6], config=dict(summary["config"], neuron_model="lif"))
    memory.plot_accuracy([summary, other], tmp_path / "curves.png")
    assert (tmp_path / "curves.png").stat().st_size > 1000


def test_help_lists_the_flags_in_both_spellings():
    out = subprocess.run([sys.executable, "-m", "tasks.memory", "--help"], capture_output=True, text=True,
                         check=True).stdout
    for flag in ["--neuron_model", "--neuron-model", "--seq_length", "--seq-length", "--epochs", "--steps",
                 "--batch-size", "--lr", "--seed", "--hidden", "--output", "--smoke", "--no-progress",
                 "--plot", "--encoding"]:
        assert flag in out, flag
    for model in memory.NEURON_MODELS:
        assert model in out


def test_dashed_and_underscored_flags_are_the_same():
    parse = memory.build_parser().parse_args
    assert vars(parse(["--neuron_model", "lif", "--seq_length", "7", "--batch_size", "3"])) == vars(
        parse(["--neuron-model", "lif", "--seq-length", "7", "--batch-size", "3"]))


@pytest.mark.parametrize("argv, message", [
    (["--neuron_model", "alif"], "invalid choice: 'alif'"),
    (["--seq_length", "0"], "--seq-length must be a positive int, got 0"),
    (["--seq-periods", "5"], "--seq-periods must be even"),
    (["--neuron_model", "lsnnlif", "--hidden", "1"], "--hidden must be at least 2 for lsnnlif"),
    (["--lr", "0"], "--lr must be positive, got 0.0"),
    (["--surrogate", "sigmoidal"], "--surrogate must be one of"),
    (["--compare", "no/such.json"], "no such summary file"),
    (["--steps", "ten"], "invalid int value: 'ten'"),
])
def test_bad_flags_are_clear_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        memory.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_bad_arguments_of_the_functions_raise():
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="seq_periods must be even"):
        memory.store_recall_data(key, 2, seq_periods=5)
    with pytest.raises(ValueError, match="seq_length must be an int >= 1, got 0"):
        memory.store_recall_data(key, 2, seq_length=0)
    with pytest.raises(ValueError, match="encoding must be one of"):
        memory.store_recall_data(key, 2, encoding="latency")
    with pytest.raises(ValueError, match="poisson_rate must be positive"):
        memory.store_recall_data(key, 2, poisson_rate=-1.0)
    with pytest.raises(TypeError, match="key must be one jax.random key"):
        memory.store_recall_data(0, 2)
    with pytest.raises(ValueError, match="neuron_model must be one of"):
        memory.MemoryNet(4, 4, neuron_model="alif", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="hidden_size must be an int >= 2, got 1"):
        memory.MemoryNet(4, 1, neuron_model="lsnnlif", rngs=nnx.Rngs(0))


@pytest.mark.slow
@pytest.mark.parametrize("learning", ["eprop", "tbptt"])
def test_online_learning_runs_end_to_end(learning, tmp_path):
    output = tmp_path / "summary.json"
    summary = memory.main(["--smoke", "--no-progress", "--learning", learning, "--steps", "3",
                           "--update-every", "10", "--feedback", "random", "--output", str(output)])
    written = json.loads(output.read_text())
    assert written["config"]["learning"] == learning and written["complete"]
    assert 0.0 <= summary["recall_accuracy"] <= 1.0 and len(written["accuracy_curve"]) == 2
    assert np.isfinite(written["recall_loss"])


def test_step_recall_loss_sums_to_the_mean_cross_entropy_of_the_recall_steps():
    batch = memory.store_recall_data(jax.random.key(0), 4, seq_length=PERIOD, seq_periods=4)
    labels, weights = memory.online_targets(batch, PERIOD)
    assert labels.shape == (4 * PERIOD, 4, 2) and weights.shape == (4 * PERIOD, 4)
    np.testing.assert_allclose(weights.sum(), 1.0, rtol=1e-6)  # 4 recalls of PERIOD steps, each 1/12
    assert float(weights.max()) == pytest.approx(1 / (4 * PERIOD))
    voltages = jax.random.normal(jax.random.key(1), (4 * PERIOD, 4, 2))
    total = jax.vmap(memory.step_recall_loss)(voltages, (labels, weights)).sum()
    recall = np.repeat(np.asarray(batch.mask), PERIOD, axis=0)
    expected = -jax.nn.log_softmax(voltages)[recall] * np.asarray(labels)[recall]
    np.testing.assert_allclose(total, expected.sum() / recall.sum(), rtol=1e-5)


@pytest.mark.parametrize("argv, message", [
    (["--learning", "eprop", "--neuron_model", "lsnnlif"], "--learning eprop trains one population"),
    (["--learning", "eprop", "--smoke", "--update-every", "7"], "--update-every must be a positive divisor of the 40"),
    (["--learning", "tbptt", "--smoke", "--tbptt-window", "0"], "--tbptt-window must be a positive divisor"),
    (["--learning", "rtrl"], "invalid choice: 'rtrl'"),
])
def test_bad_online_flags_are_clear_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        memory.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
