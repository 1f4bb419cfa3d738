"""benchmarks.train_speed and benchmarks.precision train benchmarks.natural's network."""

import json

import numpy as np
import pytest

from benchmarks import natural, precision, train_speed


@pytest.mark.slow  # two compiles of a training step and two tiny epochs: ~10 s of CPU
def test_a_tiny_run_trains_both_versions_from_the_same_weights_and_writes_json(tmp_path):
    output = tmp_path / "train_speed.json"
    result = train_speed.main(["--limit", "256", "--test-limit", "1000", "--seeds", "1",
                               "--output", str(output)])
    assert json.loads(output.read_text())["ratio"] == result["ratio"]
    assert result["train_images"] == 256 and result["test_images"] == 1000
    run = result["runs"][0]
    for version in ("hand_written", "spikejax"):
        assert run[version]["epoch_seconds"] > 0 and 0 <= run[version]["test_accuracy"] <= 1
    # Two batches of the same weights on the same images, the same math step for step: the
    # predictions agree but for a few images where float rounding flips a spike count tie.
    assert abs(run["spikejax"]["test_accuracy"] - run["hand_written"]["test_accuracy"]) <= 0.01


def test_the_model_is_natural_and_the_hand_written_forward_matches_it():
    import jax.numpy as jnp
    from flax import nnx

    model = natural.natural_model(nnx.Rngs(0))
    assert [type(layer).__name__ for layer in model] == ["Lift", "Leaky", "Lift", "Leaky"]
    images = jnp.asarray(np.random.default_rng(1).uniform(0, 1, (3, 28, 28)), jnp.float32)
    spikes, membranes = natural.natural_forward(model, images)
    hand_spikes, hand_membranes = natural.hand_forward(natural.hand_parameters(model), images)
    np.testing.assert_array_equal(spikes, hand_spikes)
    np.testing.assert_allclose(membranes, hand_membranes, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name, matmul, state", [("mixed", "bfloat16", "float32"),
                                                 ("bfloat16", "bfloat16", "bfloat16")])
def test_precision_configs_reach_the_layers(name, matmul, state):
    import jax.numpy as jnp
    from flax import nnx

    model = natural.natural_model(nnx.Rngs(0), **precision.CONFIGS[name])
    current = model[0].module(jnp.ones((1, 784)))
    assert str(current.dtype) == matmul
    assert str(model[1](current[None])[1].mem.dtype) == state
