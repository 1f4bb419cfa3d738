import jax
import jax.numpy as jnp
import nir
import numpy as np
import pytest
from flax import nnx

from spikejax.nir import from_nir, to_nir
from spikejax.nn import (
    AxonalDelay,
    AxonalDelayCell,
    DelayedLinear,
    LearnableDelayedLinear,
    Lift,
    SequentialState,
)


def _spikes(shape):
    return (jax.random.uniform(jax.random.key(0), shape) < 0.4).astype(jnp.float32)


def test_the_delay_cell_steps_through_the_sequence_layer():
    layer = AxonalDelay(3, 4, delays=jnp.array([3, 0, 1]))
    cell = AxonalDelayCell(3, 4, delays=jnp.array([3, 0, 1]))
    x = _spikes((9, 2, 3))
    expected, history = layer(x)
    got, state = Lift(cell)(x)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(state, history)
    with pytest.raises(ValueError, match=r"input_tensor must have rank 2 with layout \(B, N\), got shape \(9, 2, 3\)"):
        cell(x)


def test_delays_round_trip_through_a_nir_file(tmp_path):
    dt = 1e-3
    net = SequentialState(DelayedLinear(3, 4, 5, use_bias=True, rngs=nnx.Rngs(0)),
                          AxonalDelay(4, 3, delays=jnp.array([0, 2, 1, 2])))
    net[0].bias[...] = jnp.arange(4.0)
    graph = to_nir(net, jnp.zeros((2, 3)), dt=dt)
    axonal = next(node for node in graph.nodes.values() if isinstance(node, nir.Delay))
    np.testing.assert_allclose(axonal.delay, [0.0, 2e-3, 1e-3, 2e-3])
    synaptic = next(node for node in graph.nodes.values() if isinstance(node, nir.NIRGraph))
    np.testing.assert_allclose(synaptic.nodes["delay"].delay, np.asarray(net[0].delays[...]).reshape(-1) * dt)
    nir.write(tmp_path / "delays.nir", graph)
    back = from_nir(nir.read(tmp_path / "delays.nir"), dt=dt, sequence=True)
    x = _spikes((12, 2, 3))
    np.testing.assert_allclose(back(x)[0], net(x)[0], rtol=1e-6, atol=1e-6)


def test_delays_that_nir_cannot_hold_or_that_are_not_whole_steps_are_refused():
    learnable = LearnableDelayedLinear(2, 2, 4, rngs=nnx.Rngs(0))
    with pytest.raises(TypeError, match=r"cannot export a LearnableDelayedLinear.*layer.to_fixed\(\)"):
        to_nir(SequentialState(learnable), jnp.zeros((1, 2)))
    to_nir(SequentialState(learnable.to_fixed()), jnp.zeros((1, 2)))
    with pytest.raises(ValueError, match=r"NIR node 'graph' \(Delay\) has delay \[0.0015\] s, expected whole"):
        from_nir(nir.Delay(delay=np.array([1.5e-3])), dt=1e-3)
    cell = from_nir(nir.Delay(delay=np.array([0.0, 3e-3])), dt=1e-3)
    assert isinstance(cell, AxonalDelayCell) and cell.delays[...].tolist() == [0, 3] and cell.max_delay == 4
