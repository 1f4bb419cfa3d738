"""SequentialState and Lift with bad or unusual inputs (issue 14): sequence modules refused by
Lift, integer and boolean inputs, mismatched layer sizes named by layer, empty sequences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from spikejax.nn import (
    LIF,
    MODULES,
    ConstantCurrentLIFEncoder,
    LIFCell,
    LIFRecurrent,
    LIFRecurrentCell,
    Lift,
    PoissonEncoder,
    SequentialState,
    SpikeLatencyEncoder,
)
from spikejax.nn.lift import is_sequence

SPIKES = (jax.random.uniform(jax.random.key(0), (6, 2, 3)) < 0.5)   # (T, B, N) bool spikes


def linear(n_in, n_out):
    return nnx.Linear(n_in, n_out, rngs=nnx.Rngs(0))


# --- Lift refuses modules that already run over time --------------------------------------------

SEQUENCE_MODULES = {
    "LIF": (LIF, "call LIF directly on the sequence, or lift its cell: Lift(LIFCell(...))"),
    "LIFRecurrent": (lambda: LIFRecurrent(3, 4), "Lift(LIFRecurrentCell(...))"),
    "stack": (lambda: SequentialState(linear(3, 3), LIF()), "SequentialState (layers[1] is LIF)"),
    "lifted": (lambda: Lift(linear(3, 3)), "got Lift"),
    "encoder": (lambda: PoissonEncoder(5), "got PoissonEncoder"),
    "latency": (SpikeLatencyEncoder, "got SpikeLatencyEncoder"),
    "current": (lambda: SequentialState(ConstantCurrentLIFEncoder(5)), "layers[0] is ConstantCurrentLIFEncoder"),
}


@pytest.mark.parametrize("name", list(SEQUENCE_MODULES))
def test_lift_refuses_a_module_that_runs_over_time(name):
    make, hint = SEQUENCE_MODULES[name]
    module = make()
    assert is_sequence(module)
    with pytest.raises(TypeError, match=r"module must take one step \(B, \.\.\.\) to be lifted") as info:
        Lift(module)
    message = str(info.value)
    assert "would scan its batch axis as time" in message and hint in message


def test_every_neuron_layer_is_a_sequence_module_and_no_cell_is():
    for name, classes in MODULES.items():
        for kind, cls in classes.items():
            assert bool(getattr(cls, "is_sequence", False)) == (kind in ("Layer", "Recurrent")), (name, kind)


def test_lifting_cells_and_stacks_of_cells_still_works():
    xs = SPIKES.astype(jnp.float32) * 3
    expected, _ = LIF()(xs)
    np.testing.assert_array_equal(Lift(LIFCell())(xs)[0], expected)
    stack = SequentialState(linear(3, 4), LIFCell())
    assert not is_sequence(stack)
    out, _ = Lift(stack)(xs)
    state, expected = None, []
    for x in xs:                                              # the state threaded by hand
        z, state = stack(x, state)
        expected.append(z)
    np.testing.assert_array_equal(out, jnp.stack(expected))


# --- integer and boolean inputs -----------------------------------------------------------------


@pytest.mark.parametrize("dtype", [jnp.bool_, jnp.int32, jnp.uint8])
def test_sequence_modules_take_integer_and_boolean_spikes_like_the_cells(dtype):
    # Before: lax.scan refused the integer rest state ("carry input and carry output must have
    # equal types"). Now the result equals that of the float spikes, as for the cells.
    spikes = SPIKES.astype(dtype)
    floats = SPIKES.astype(jnp.float32)
    for module in (LIF(), LIFRecurrent(3, 4, rngs=nnx.Rngs(1))):
        out, state = module(spikes * 2 if dtype != jnp.bool_ else spikes)
        ref, ref_state = module(floats * 2 if dtype != jnp.bool_ else floats)
        assert out.dtype == jnp.float32 and state.v.dtype == jnp.float32
        np.testing.assert_array_equal(out, ref)
        np.testing.assert_allclose(state.v, ref_state.v)
    out, _ = LIF()(spikes[0], steps=4)                   # a constant integer input
    np.testing.assert_array_equal(out, LIF()(floats[0], steps=4)[0])
    z, _ = LIFRecurrentCell(3, 4)(spikes[0])
    assert z.dtype == jnp.float32


def test_every_sequence_module_takes_integer_input():
    counts = jnp.asarray(np.random.default_rng(0).integers(0, 3, (4, 2, 3)), jnp.int32)
    for name, classes in MODULES.items():
        layer = classes["Layer"]()
        out, state = layer(counts)
        ref, _ = layer(counts.astype(jnp.float32))
        np.testing.assert_allclose(out, ref, err_msg=name)
        leaves = jax.tree_util.tree_leaves(state)
        assert all(jnp.issubdtype(leaf.dtype, jnp.floating) for leaf in leaves if hasattr(leaf, "dtype")), name


# --- SequentialState names the layer where shapes disagree ------------------------------------


def test_a_linear_of_the_wrong_size_is_named_with_both_shapes():
    model = SequentialState(linear(3, 5), LIFCell(), linear(4, 2))
    with pytest.raises(ValueError) as info:
        model(jnp.ones((2, 3)))
    assert str(info.value) == (
        "layers[2] (Linear) expects inputs of shape (..., 4) (in_features=4), got shape (2, 5) "
        "from layers[1] (LIFCell)"
    )
    with pytest.raises(ValueError, match=r"layers\[0\] \(Linear\) .*\(\.\.\., 3\).*got shape \(2, 7\) from the input_tensor"):
        model(jnp.ones((2, 7)))


def test_recurrent_and_lifted_layers_are_checked_where_they_meet():
    model = SequentialState(Lift(linear(3, 5)), LIFRecurrent(4, 2))
    with pytest.raises(ValueError, match=r"layers\[1\] \(LIFRecurrent\) expects inputs of shape \(\.\.\., 4\) \(input_size=4\), got shape \(6, 2, 5\) from layers\[0\] \(Lift\)"):
        model(jnp.ones((6, 2, 3)))
    model = SequentialState(Lift(linear(4, 5)))
    with pytest.raises(ValueError, match=r"layers\[0\] \(Lift\) expects inputs of shape \(\.\.\., 4\) \(in_features=4\), got shape \(6, 2, 3\)"):
        model(jnp.ones((6, 2, 3)))


def test_an_error_inside_a_layer_is_re_raised_naming_the_layer_and_keeps_its_cause():
    # A reshape that does not fit: JAX's own TypeError, which names neither layer nor stack.
    model = SequentialState(linear(3, 4), LIFCell(), lambda x: x.reshape(x.shape[0], 3), linear(3, 1))
    with pytest.raises(TypeError) as info:
        model(jnp.ones((2, 3)))
    message = str(info.value)
    assert message.startswith("layers[2] (function) got an input of shape (2, 4): ")
    assert isinstance(info.value.__cause__, TypeError)
    assert str(info.value.__cause__) in message
    # Nested stacks name each level.
    outer = SequentialState(LIFCell(), SequentialState(linear(3, 3), LIFRecurrentCell(2, 2)))
    with pytest.raises(ValueError, match=r"^layers\[1\] \(SequentialState\) got an input of shape \(2, 3\): layers\[1\] \(LIFRecurrentCell\) expects inputs of shape \(\.\.\., 2\)"):
        outer(jnp.ones((2, 3)))


def test_the_state_must_be_the_list_of_layer_states():
    model = SequentialState(LIFCell(), linear(3, 2))
    _, cell_state = LIFCell()(jnp.ones((2, 3)))              # a NamedTuple of two fields
    with pytest.raises(TypeError, match=r"state must be a list with one entry per layer \(2\), as returned by SequentialState, or None; got LIFFeedForwardState"):
        model(jnp.ones((2, 3)), cell_state)
    out, state = model(jnp.ones((2, 3)))
    np.testing.assert_array_equal(model(jnp.ones((2, 3)), tuple(state))[0], model(jnp.ones((2, 3)), state)[0])


# --- empty batches and sequences -------------------------------------------------------------


def test_an_empty_sequence_is_refused_naming_input_tensor_and_an_empty_batch_runs():
    for module in (LIF(), LIFRecurrent(3, 2), Lift(LIFCell())):
        with pytest.raises(ValueError, match=r"input_tensor has shape \(0, 2, 3\) .*an empty sequence \(T = 0\)"):
            module(jnp.ones((0, 2, 3)))
        out, _ = module(jnp.ones((4, 0, 3)))                   # B = 0: nothing to do, nothing lost
        assert out.shape[:2] == (4, 0)
