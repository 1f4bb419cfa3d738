"""Models NIR 1.0 has no node for: to_nir's error names the model, the NIR version and the
closest node it does have (and what that node would drop)."""

from __future__ import annotations

import re

import jax.numpy as jnp
import nir
import pytest

from spikejax import nn
from spikejax.nir import to_nir

CLOSEST = {
    "LSNN": ("adaptive threshold", "nir.CubaLIF (spikejax LIF)"),
    "ALIF": ("adaptive threshold", "nir.LIF (spikejax LIFBox)"),
    "CobaLIF": ("conductance-based synapse", "nir.CubaLIF (spikejax LIF)"),
    "Izhikevich": ("quadratic membrane", "nir.LIF (spikejax LIFBox)"),
    "LIFRefrac": ("refractory period", "nir.CubaLIF (spikejax LIF)"),
    "LIFEx": ("exponential spike-initiation term", "nir.CubaLIF (spikejax LIF)"),
    "LIFAdEx": ("adaptation current", "nir.CubaLIF (spikejax LIF)"),
}


def modules(model):
    """The model's cell, recurrent cell and sequence layer, each with the sample it takes."""
    cell = getattr(nn, f"{model}Cell")
    recurrent = getattr(nn, f"{model}RecurrentCell")
    layer = getattr(nn, model)
    one = jnp.zeros((1, 2))
    return [(cell(), one), (recurrent(2, 3), one), (layer(), one)]


@pytest.mark.parametrize("model", sorted(CLOSEST))
def test_inexpressible_models_name_the_nir_version_and_the_closest_node(model):
    lacks, closest = CLOSEST[model]
    for module, sample in modules(model):
        with pytest.raises(TypeError) as info:
            to_nir(module, sample, dt=module.dt)
        message = str(info.value)
        assert f"cannot export a {type(module).__name__}" in message
        assert f"{model}: NIR {nir.__version__} has no" in message and lacks in message
        assert re.search(f"the closest is {re.escape(closest)}, which drops ", message), message


def test_an_inexpressible_model_inside_a_network_is_named():
    from flax import nnx

    model = nn.SequentialState(nnx.Linear(2, 3, rngs=nnx.Rngs(0)), nn.LSNNCell())
    with pytest.raises(TypeError, match=r"cannot export a LSNNCell.*LSNN: NIR 1\.0\.\d+ has no adaptive "
                                        r"threshold; the closest is nir\.CubaLIF \(spikejax LIF\), "
                                        r"which drops the threshold adaptation"):
        to_nir(model, jnp.zeros((1, 2)))
