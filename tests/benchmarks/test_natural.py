import json

import numpy as np
import pytest

from benchmarks import natural


def test_one_batch_both_versions_compute_the_same_loss_and_write_json(tmp_path):
    output = tmp_path / "natural.json"
    result = natural.main(["--batches", "1", "--conv-repeats", "1", "--conv-batch-size", "2",
                           "--paired-rounds", "0", "--output", str(output)])
    assert json.loads(output.read_text())["ratio"] == result["ratio"]
    assert result["batches"] == 1 and result["natural_input"] == "steps="
    assert result["natural_step"] == "nnx.jit bound with nnx.cached_partial"
    assert result["paired_steps"] is None
    assert result["ratio"] > 0 and all(s > 0 for s in result["best_seconds"].values())
    # One batch: both losses are those of the same initial weights on the same images.
    losses = result["last_loss"]
    assert np.isfinite(losses["natural"]) and losses["natural"] > 0
    np.testing.assert_allclose(losses["natural"], losses["hand_written"], rtol=1e-4)
    # tasks.mnist's network: SequentialState and the hand-threaded loop give the same logits.
    conv = result["conv"]
    assert conv["max_logit_difference"] < 1e-5 and conv["ratio"] > 0
    assert len(conv["seconds"]["natural"]) == len(conv["seconds"]["hand_threaded"]) == 1


def test_the_broadcast_input_gives_the_same_outputs_as_steps():
    import jax.numpy as jnp
    from flax import nnx

    model = natural.natural_model(nnx.Rngs(0))
    images = jnp.asarray(np.random.default_rng(0).uniform(0, 1, (4, 28, 28)), jnp.float32)
    spikes, membranes = natural.natural_forward(model, images)
    spikes_b, membranes_b = natural.natural_forward(model, images, broadcast=True)
    assert spikes.shape == (natural.T, 4, 10)
    np.testing.assert_array_equal(spikes, spikes_b)
    np.testing.assert_allclose(membranes, membranes_b, rtol=1e-5, atol=1e-5)


@pytest.mark.slow  # three training steps compiled: ~10 s of CPU
def test_paired_steps_time_every_version_against_the_hand_written_step():
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    batch = {"x": jnp.asarray(rng.normal(size=(8, 28, 28)), jnp.float32),
             "y": jnp.asarray(rng.integers(0, 10, 8))}
    paired = natural.paired_steps(batch, rounds=3)
    assert paired["rounds"] == 3
    assert paired["hand_written"]["ratio_to_hand_written"] == 1.0
    for name in ("natural", "natural_uncached"):
        assert paired[name]["median_ms"] > 0 and paired[name]["cpu_ratio_to_hand_written"] > 0
