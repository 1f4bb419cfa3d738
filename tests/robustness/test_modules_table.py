"""Bad and edge inputs of the nn modules and containers, losses, encoders, decoders and
regularisers (issue 14)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from spikejax import functional as F
from spikejax.nn import (
    LIF,
    LIFCell,
    LIFRecurrent,
    LIFRecurrentCell,
    Lift,
    PoissonEncoder,
    SequentialState,
)
from tests.robustness._table import Case, check, params

NAN, INF = float("nan"), float("inf")
KEY = jax.random.key(0)
T, B, C = 5, 3, 4
SPIKES = (jax.random.uniform(KEY, (T, B, C)) < 0.4).astype(jnp.float32)     # (T, B, C)
LABELS = jnp.array([0, 3, 1])
X = jnp.full((2, 3), 0.5)
SEQ = (jax.random.uniform(jax.random.key(1), (6, 2, 3)) < 0.5)               # bool (T, B, N)


def linear(n_in, n_out):
    return nnx.Linear(n_in, n_out, rngs=nnx.Rngs(0))


def _equals(expected_call, dtype=jnp.float32):
    """``ok``: the output equals ``expected_call()``'s, in ``dtype``."""
    def ok(result):
        out = result[0] if isinstance(result, tuple) else result
        assert out.dtype == dtype, out.dtype
        expected = expected_call()
        expected = expected[0] if isinstance(expected, tuple) else expected
        np.testing.assert_array_equal(np.asarray(out, np.float32), np.asarray(expected, np.float32))

    return ok


def _shape(shape, dtype=None):
    def ok(result):
        out = result[0] if isinstance(result, tuple) else result
        assert out.shape == shape, out.shape
        if dtype is not None:
            assert out.dtype == dtype, out.dtype

    return ok


def _zeros(shape, dtype):
    def ok(result):
        assert result.shape == shape and result.dtype == dtype, (result.shape, result.dtype)
        assert not np.any(np.asarray(result))

    return ok


def _nan(result):
    assert np.isnan(np.asarray(result)).all(), result


NN_CASES = [
    Case("LIF rank 1 input", lambda: LIF()(jnp.ones(5)), ValueError,
         ["input_tensor", "(T, B, ...)", "(5,)"]),
    Case("LIFCell rank 0 input", lambda: LIFCell()(jnp.float32(1.0)), ValueError,
         ["input_tensor", "got shape ()"]),
    Case("LIFRecurrent wrong feature size", lambda: LIFRecurrent(3, 4)(jnp.ones((6, 2, 7))),
         ValueError, ["input_tensor", "(6, 2, 7)", "input_size of LIFRecurrent"]),
    Case("LIFRecurrentCell rank 3 input", lambda: LIFRecurrentCell(3, 4)(jnp.ones((6, 2, 3))),
         ValueError, ["input_tensor", "rank 1 or 2", "(6, 2, 3)"]),
    Case("Lift of LIF", lambda: Lift(LIF()), TypeError,
         ["module", "got LIF", "batch axis as time", "Lift(LIFCell(...))"]),
    Case("Lift of LIFRecurrent", lambda: Lift(LIFRecurrent(3, 4)), TypeError,
         ["module", "got LIFRecurrent", "Lift(LIFRecurrentCell(...))"]),
    Case("Lift of a stack holding LIF", lambda: Lift(SequentialState(linear(3, 3), LIF())),
         TypeError, ["module", "SequentialState (layers[1] is LIF)"]),
    Case("Lift of a Lift", lambda: Lift(Lift(linear(3, 3))), TypeError, ["module", "got Lift"]),
    Case("Lift of a sequence encoder", lambda: Lift(PoissonEncoder(5)), TypeError,
         ["module", "got PoissonEncoder"]),
    Case("Lift of a non-callable", lambda: Lift("LIF"), TypeError, ["module must be callable", "str"]),
    Case("Lift of a stateless module with a state", lambda: Lift(linear(3, 2))(X[None], [None]),
         ValueError, ["state must be None", "Linear", "list"]),
    Case("LIF bool spikes", lambda: LIF()(SEQ), ok=_equals(lambda: LIF()(SEQ.astype(jnp.float32)))),
    Case("LIF int32 counts", lambda: LIF()(SEQ.astype(jnp.int32) * 3),
         ok=_equals(lambda: LIF()(SEQ.astype(jnp.float32) * 3))),
    Case("LIF int constant input with steps", lambda: LIF()(jnp.full((2, 3), 2), steps=8),
         ok=_equals(lambda: LIF()(jnp.full((2, 3), 2.0), steps=8))),
    Case("LIFRecurrent uint8 spikes", lambda: LIFRecurrent(3, 4)(SEQ.astype(jnp.uint8)),
         ok=_equals(lambda: LIFRecurrent(3, 4)(SEQ.astype(jnp.float32)))),
    Case("LIFCell bool spikes", lambda: LIFCell()(SEQ[0]),
         ok=_equals(lambda: LIFCell()(SEQ[0].astype(jnp.float32)))),
    Case("LIF int input with a bfloat16 dtype", lambda: LIF(dtype=jnp.bfloat16)(SEQ.astype(jnp.int32)),
         ok=_equals(lambda: LIF(dtype=jnp.bfloat16)(SEQ.astype(jnp.bfloat16)), jnp.bfloat16)),
    Case("SequentialState Linear of the wrong size",
         lambda: SequentialState(linear(3, 5), LIFCell(), linear(4, 2))(X), ValueError,
         ["layers[2] (Linear)", "(..., 4)", "(2, 5)", "layers[1] (LIFCell)"]),
    Case("SequentialState input of the wrong size", lambda: SequentialState(linear(7, 2))(X),
         ValueError, ["layers[0] (Linear)", "(..., 7)", "(2, 3)", "input_tensor"]),
    Case("SequentialState recurrent cell of the wrong size",
         lambda: SequentialState(linear(3, 5), LIFRecurrentCell(4, 2))(X), ValueError,
         ["layers[1] (LIFRecurrentCell)", "input_size=4", "(2, 5)"]),
    Case("SequentialState error inside a layer",
         lambda: SequentialState(linear(3, 4), LIFCell(), lambda x: x.reshape(2, 3))(X), TypeError,
         ["layers[2] (function)", "(2, 4)"]),
    Case("SequentialState state list too short",
         lambda: SequentialState(LIFCell(), linear(3, 2), LIFCell())(X, [None]), ValueError,
         ["state", "one entry per layer (3)", "got 1 entries"]),
    Case("SequentialState a neuron state for the list",
         lambda: SequentialState(LIFCell(), linear(3, 2))(X, LIFCell()(X)[1]), TypeError,
         ["state must be a list", "(2)", "LIFFeedForwardState"]),
    Case("SequentialState without layers", lambda: SequentialState(), ValueError,
         ["at least one layer"]),
    Case("LIF empty batch", lambda: LIF()(jnp.ones((4, 0, 3))), ok=_shape((4, 0, 3), jnp.float32)),
    Case("LIF empty sequence", lambda: LIF()(jnp.ones((0, 2, 3))), ValueError,
         ["input_tensor", "(0, 2, 3)", "T = 0"]),
    Case("LIFRecurrent empty sequence", lambda: LIFRecurrent(3, 4)(jnp.ones((0, 2, 3))), ValueError,
         ["input_tensor", "(0, 2, 3)", "T = 0"]),
    Case("lifted cell empty sequence", lambda: Lift(LIFCell())(jnp.ones((0, 2, 3))), ValueError,
         ["input_tensor", "(0, 2, 3)", "T = 0"]),
]

_CE_RANGE = "class indices in [0, 3] for 4 classes"

LOSS_CASES = [
    Case("cross_entropy label out of range", lambda: F.cross_entropy(SPIKES[0], jnp.array([0, 4, 1])),
         ValueError, ["labels", _CE_RANGE, "labels[1] = 4"]),
    Case("ce_count_loss negative label", lambda: F.ce_count_loss(SPIKES, jnp.array([-1, 0, 1])),
         ValueError, ["labels", _CE_RANGE, "labels[0] = -1"]),
    Case("mse_count_loss label out of range", lambda: F.mse_count_loss(SPIKES, jnp.array([0, 1, 9])),
         ValueError, ["labels[2] = 9"]),
    Case("accuracy_rate label out of range", lambda: F.accuracy_rate(SPIKES, jnp.array([0, 1, 4])),
         ValueError, ["labels[2] = 4"]),
    Case("ce_rate_loss float labels", lambda: F.ce_rate_loss(SPIKES, LABELS.astype(jnp.float32)),
         TypeError, ["labels", "integer class indices", "float32"]),
    Case("ce_max_membrane_loss labels for another batch",
         lambda: F.ce_max_membrane_loss(SPIKES, LABELS[:2]), ValueError, ["labels", "(2,)", "(3,)"]),
    Case("ce_first_spike_loss one-hot rows of another class count",
         lambda: F.ce_first_spike_loss(SPIKES, jnp.eye(3)), ValueError, ["labels", "(3, 3)", "(3, 4)"]),
    Case("cross_entropy logits of rank 3", lambda: F.cross_entropy(SPIKES, LABELS), ValueError,
         ["logits", "rank 2", "(5, 3, 4)"]),
    Case("jitted cross_entropy label out of range",
         lambda: jax.jit(F.cross_entropy)(SPIKES[0], jnp.array([0, 4, 1])), ok=_nan),
    Case("jitted ce_rate_loss negative label per sample",
         lambda: jax.jit(lambda s, y: F.ce_rate_loss(s, y, reduction="none")[1])(SPIKES, jnp.array([0, -2, 1])),
         ok=_nan),
    Case("jitted accuracy label out of range",
         lambda: jax.jit(F.accuracy)(SPIKES[0], jnp.array([0, 4, 1])), ok=_nan),
    Case("ce_count_loss empty batch", lambda: F.ce_count_loss(SPIKES[:, :0], LABELS[:0]), ValueError,
         ["spikes", "(5, 0, 4)", "B = 0"]),
    Case("cross_entropy empty batch summed", lambda: F.cross_entropy(SPIKES[0, :0], LABELS[:0], reduction="sum"),
         ok=lambda r: np.testing.assert_equal(float(r), 0.0)),
    Case("accuracy_max_membrane empty batch", lambda: F.accuracy_max_membrane(SPIKES[:, :0], LABELS[:0]),
         ValueError, ["voltages", "(5, 0, 4)", "B = 0"]),
    Case("ce_rate_loss no steps", lambda: F.ce_rate_loss(SPIKES[:0], LABELS), ValueError,
         ["spikes", "(0, 3, 4)", "T = 0"]),
    Case("cross_entropy no classes", lambda: F.cross_entropy(SPIKES[0, :, :0], jnp.zeros((3, 0))),
         ValueError, ["logits", "(3, 0)", "C = 0"]),
    Case("first_spike_time_surrogate no steps", lambda: F.first_spike_time_surrogate(SPIKES[:0]),
         ValueError, ["spikes", "T = 0"]),
    Case("cross_entropy unknown reduction", lambda: F.cross_entropy(SPIKES[0], LABELS, reduction="avg"),
         ValueError, ["reduction", "'avg'"]),
]

ENCODE_CASES = [
    Case("poisson_encode negative intensities", lambda: F.poisson_encode(KEY, -X, 10), ValueError,
         ["input_values", "non-negative", "-0.5", "signed_poisson_encode"]),
    Case("poisson_encode_step negative intensities", lambda: F.poisson_encode_step(KEY, -X), ValueError,
         ["input_values", "non-negative"]),
    Case("poisson_encode negative f_max", lambda: F.poisson_encode(KEY, X, 10, f_max=-1.0), ValueError,
         ["f_max", "non-negative", "-1.0"]),
    Case("poisson_encode zero dt", lambda: F.poisson_encode(KEY, X, 10, dt=0.0), ValueError,
         ["dt", "positive", "0.0"]),
    Case("poisson_encode infinite dt", lambda: F.poisson_encode(KEY, X, 10, dt=INF), ValueError,
         ["dt", "finite", "inf"]),
    Case("poisson_encode infinite f_max", lambda: F.poisson_encode(KEY, X, 10, f_max=INF), ValueError,
         ["f_max", "finite", "inf"]),
    Case("poisson_encode NaN input", lambda: F.poisson_encode(KEY, X.at[0, 0].set(NAN), 10), ValueError,
         ["input_values", "finite", "nan"]),
    Case("signed_poisson_encode infinite input", lambda: F.signed_poisson_encode(KEY, -X.at[1, 2].set(INF), 10),
         ValueError, ["input_values", "finite", "inf"]),
    Case("poisson_encode an int for a key", lambda: F.poisson_encode(0, X, 10), TypeError,
         ["key", "got int 0"]),
    Case("poisson_encode a batch of keys", lambda: F.poisson_encode(jax.random.split(KEY, 2), X, 10),
         TypeError, ["key", "shape (2,)"]),
    Case("poisson_encode zero steps", lambda: F.poisson_encode(KEY, X, 0), ValueError,
         ["seq_length", "got 0"]),
    Case("poisson_encode integer intensities", lambda: F.poisson_encode(KEY, jnp.ones((2, 3), jnp.int32), 4, f_max=1000.0),
         ok=lambda r: np.testing.assert_array_equal(r, np.ones((4, 2, 3), np.float32))),
    Case("signed_poisson_encode negative values", lambda: F.signed_poisson_encode(KEY, -X, 200, f_max=1000.0),
         ok=lambda r: np.testing.assert_allclose(float(r.mean()), -0.5, atol=0.05)),
    Case("homogeneous_poisson_encode negative intensities",
         lambda: F.homogeneous_poisson_encode(KEY, -X, 10, 1.0, 10.0), ValueError, ["input_values", "non-negative"]),
    Case("homogeneous_poisson_encode infinite frequency",
         lambda: F.homogeneous_poisson_encode(KEY, X, 10, 1.0, INF), ValueError, ["frequency", "finite"]),
    Case("latency_encode NaN input", lambda: F.latency_encode(X.at[0, 1].set(NAN), 5), ValueError,
         ["input_values", "finite", "nan"]),
    Case("constant_current_lif_encode infinite current",
         lambda: F.constant_current_lif_encode(jnp.array([1.0, INF]), 5), ValueError, ["input_current", "finite"]),
    Case("delta_encode NaN data", lambda: F.delta_encode(jnp.array([0.0, NAN, 1.0])), ValueError,
         ["data", "finite", "nan"]),
    Case("PoissonEncoder negative dt", lambda: PoissonEncoder(5, dt=-1e-3), ValueError, ["dt", "positive"]),
    Case("PoissonEncoder a string for a key", lambda: PoissonEncoder(5)(X, "seed"), TypeError,
         ["key", "str"]),
]

DECODE_CASES = [
    Case("mean_decode no steps", lambda: F.mean_decode(SPIKES[:0]), ValueError,
         ["tensor", "(0, 3, 4)", "T = 0"]),
    Case("rate_decode no steps", lambda: F.rate_decode(SPIKES[:0]), ValueError, ["spikes", "T = 0"]),
    Case("max_decode no steps", lambda: F.max_decode(SPIKES[:0]), ValueError, ["tensor", "T = 0"]),
    Case("last_membrane no steps", lambda: F.last_membrane(SPIKES[:0]), ValueError, ["voltages", "T = 0"]),
    Case("spikes_to_times no steps", lambda: F.spikes_to_times(SPIKES[:0]), ValueError, ["spikes", "T = 0"]),
    Case("first_spike_time no steps", lambda: F.first_spike_time(SPIKES[:0]), ValueError,
         ["spikes", "T = 0"]),
    Case("sum_decode no steps", lambda: F.sum_decode(SPIKES[:0]), ok=_zeros((B, C), jnp.float32)),
    Case("spike_count_decode no steps", lambda: F.spike_count_decode(SPIKES[:0]), ok=_zeros((B, C), jnp.int32)),
    Case("last_membrane rank 2", lambda: F.last_membrane(SPIKES[0]), ValueError,
         ["voltages", "rank 3", "(3, 4)"]),
    Case("firing_rate_loss no steps", lambda: F.firing_rate_loss(SPIKES[:0], 0.1), ValueError,
         ["spikes", "T = 0"]),
    Case("firing_rate_upper_bound_loss empty batch", lambda: F.firing_rate_upper_bound_loss(SPIKES[:, :0], 0.1),
         ValueError, ["spikes", "(5, 0, 4)", "B = 0"]),
    Case("l1_activity_loss empty batch", lambda: F.l1_activity_loss(SPIKES[:, :0]), ValueError,
         ["x", "(5, 0, 4)", "mean of nothing"]),
    Case("l2_activity_loss empty batch summed", lambda: F.l2_activity_loss(SPIKES[:, :0], reduction="sum"),
         ok=lambda r: np.testing.assert_equal(float(r), 0.0)),
]


@params(NN_CASES + LOSS_CASES + ENCODE_CASES + DECODE_CASES)
def test_modules_table(case):
    check(case)
