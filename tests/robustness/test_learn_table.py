"""Bad and edge inputs of plasticity, the optax transforms, data batching and plots (issue 14)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import jax.numpy as jnp  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import pytest  # noqa: E402

from spikejax import data, plot  # noqa: E402
from spikejax.functional import plasticity as pl  # noqa: E402
from spikejax import learn  # noqa: E402
from tests.robustness._table import Case, check, params  # noqa: E402

NAN, INF = float("nan"), float("inf")
W = jnp.full((3, 4), 0.5)  # (post, pre)
PRE, POST = jnp.ones((2, 4)), jnp.ones((2, 3))


def _update(tx, w=W, u=None, **extras):
    u = jnp.zeros_like(w) if u is None else u
    return tx.update(u, tx.init(w), w, **extras)[0]


def _close(expected):
    def ok(result):
        np.testing.assert_allclose(np.asarray(result), expected, rtol=1e-6, atol=1e-7)

    return ok


PLASTICITY_CASES = [
    Case("stdp negative eta_plus", lambda: pl.STDPParameters(eta_plus=-0.1), ValueError,
         ["STDPParameters.eta_plus", "non-negative", "-0.1"]),
    Case("stdp w_min above w_max", lambda: pl.STDPParameters(w_min=1.0, w_max=0.5), ValueError,
         ["STDPParameters.w_max", "STDPParameters.w_min", "0.5"]),
    Case("stdp infinite w_max", lambda: pl.STDPParameters(w_max=INF), ValueError,
         ["STDPParameters.w_max", "finite", "inf"]),
    Case("inferno nan lr_post", lambda: pl.InfernoSTDPParameters(lr_post=NAN), ValueError,
         ["InfernoSTDPParameters.lr_post", "finite", "nan"]),
    Case("inferno batch reduction name", lambda: pl.InfernoSTDPParameters(batch_reduction="median"),
         ValueError, ["InfernoSTDPParameters.batch_reduction", "'mean'", "'median'"]),
    Case("triplet infinite tau", lambda: pl.TripletSTDPParameters(tau_x_inv=INF), ValueError,
         ["TripletSTDPParameters.tau_x_inv", "inf"]),
    Case("triplet negative amplitude", lambda: pl.TripletSTDPParameters(a2_minus=-1e-3),
         ValueError, ["TripletSTDPParameters.a2_minus", "non-negative"]),
    Case("mstdp negative gamma", lambda: pl.MSTDPParameters(gamma=-0.5), ValueError,
         ["MSTDPParameters.gamma", "non-negative", "-0.5"]),
    Case("stp U above one", lambda: pl.TsodyksMakramParameters(U=1.5), ValueError,
         ["TsodyksMakramParameters.U", "1.5"]),
    Case("stp nan tau_s", lambda: pl.TsodyksMakramParameters(tau_s_inv=NAN), ValueError,
         ["TsodyksMakramParameters.tau_s_inv", "nan"]),
    Case("adaptive threshold infinite alpha", lambda: pl.AdaptiveThresholdParameters(alpha=INF),
         ValueError, ["AdaptiveThresholdParameters.alpha", "finite", "inf"]),
    Case("stdp weight of rank 3", lambda: pl.stdp_step(PRE, POST, None, jnp.ones((3, 4, 1))),
         ValueError, ["w must have rank 2", "(post, pre)", "(3, 4, 1)"]),
    Case("stdp pre of the wrong width", lambda: pl.stdp_step(jnp.ones((2, 5)), POST, None, W),
         ValueError, ["pre has shape (2, 5)", "expected (2, 4)"]),
    Case("triplet post of another batch", lambda: pl.triplet_stdp_step(PRE, jnp.ones((1, 3)), None, W),
         ValueError, ["post has shape (1, 3)", "expected (2, 3)"]),
    Case("inferno empty batch",
         lambda: pl.inferno_stdp_step(jnp.ones((0, 4)), jnp.ones((0, 3)), None, W), ValueError,
         ["pre has shape (0, 4)", "empty batch"]),
    Case("mstdp reward of another batch",
         lambda: pl.mstdp_step(PRE, POST, None, W, reward=jnp.ones(3)), ValueError,
         ["reward has shape (3,)", "(2,)"]),
    Case("adaptive threshold empty batch",
         lambda: pl.adaptive_threshold_step(jnp.ones((0, 3)), None, batch_reduction="mean"),
         ValueError, ["z has shape (0, 3)", "empty batch", "'mean'"]),
    Case("adaptive threshold reduction name",
         lambda: pl.adaptive_threshold_step(jnp.ones((2, 3)), None, batch_reduction="min"),
         ValueError, ["batch_reduction", "'min'"]),
    Case("trace nan tau_inv", lambda: pl.trace_step(jnp.ones(2), jnp.zeros(2), NAN), ValueError,
         ["tau_inv must be positive", "nan"]),
    Case("bound_power w_min above w_max",
         lambda: pl.bound_power(W, W, W, w_min=1.0, w_max=0.0), ValueError,
         ["w_max must be greater than w_min", "w_min=1.0"]),
    Case("clamp_update nan bound", lambda: pl.clamp_update(W, W, w_min=NAN), ValueError,
         ["w_min must be finite", "nan"]),
    Case("unbatched spikes are a batch of one",
         lambda: pl.inferno_stdp_step(PRE[0], POST[0], None, W)[0],
         ok=_close(np.asarray(pl.inferno_stdp_step(PRE[:1], POST[:1], None, W)[0]))),
]

TRANSFORM_CASES = [
    Case("bound_multiplicative lower above upper",
         lambda: learn.bound_multiplicative(lower=1.0, upper=0.0), ValueError,
         ["upper must be greater than lower", "lower=1.0", "upper=0.0"]),
    Case("bound_sharp nan lower", lambda: learn.bound_sharp(lower=NAN, upper=1.0), ValueError,
         ["lower must be finite", "nan"]),
    Case("bound_power infinite upper", lambda: learn.bound_power(upper=INF), ValueError,
         ["upper must be finite", "inf"]),
    Case("bound_power negative power", lambda: learn.bound_power(upper=1.0, upper_power=-1.0),
         ValueError, ["upper_power must be non-negative", "-1.0"]),
    Case("bound_sharp without bounds", lambda: learn.bound_sharp(), ValueError,
         ["bound_sharp needs lower or upper"]),
    Case("clamp min above max", lambda: learn.clamp(min=1.0, max=0.0), ValueError,
         ["max must be greater than min", "min=1.0"]),
    Case("clamp one-sided", lambda: _update(learn.clamp(min=0.45), u=jnp.full((3, 4), -0.2)),
         ok=_close(np.full((3, 4), -0.05))),
    Case("stdp transform empty batch",
         lambda: learn.stdp(pre_shape=(0, 4), post_shape=(0, 3)).init(W), ValueError,
         ["pre has shape (0, 4)", "empty batch"]),
    Case("stdp transform pre of another shape",
         lambda: _update(learn.stdp(pre_shape=(2, 4), post_shape=(2, 3)), pre=jnp.ones((3, 4)),
                         post=jnp.ones((3, 3))), ValueError,
         ["pre has shape (3, 4)", "expected (2, 4)", "pre_shape"]),
    Case("mstdp transform without reward",
         lambda: _update(learn.mstdp(pre_shape=(2, 4), post_shape=(2, 3)), pre=PRE, post=POST),
         ValueError, ["mstdp.update", "missing reward"]),
    Case("inferno transform nan learning rate",
         lambda: learn.inferno_stdp(pl.InfernoSTDPParameters(lr_pre=NAN), pre_shape=(2, 4),
                                    post_shape=(2, 3)), ValueError,
         ["InfernoSTDPParameters.lr_pre", "nan"]),
    Case("plasticity_rule integer traces",
         lambda: learn.plasticity_rule(lambda *a: a, pl.stdp_state, pre_shape=(2, 4),
                                       post_shape=(2, 3), trace_dtype=jnp.int32), TypeError,
         ["trace_dtype", "floating", "int32"]),
    Case("normalize infinite scale", lambda: learn.normalize(scale=INF), ValueError,
         ["scale must be a finite positive number", "inf"]),
    Case("normalize_weights infinite epsilon",
         lambda: learn.normalize_weights(W, epsilon=INF), ValueError,
         ["epsilon must be a finite non-negative number", "inf"]),
    Case("normalize without params",
         lambda: learn.normalize().update(W, optax.EmptyState()), ValueError,
         ["normalize needs the current params"]),
    Case("classifier of no time steps",
         lambda: learn.MaxRateClassifier(4, 2)(jnp.ones((0, 2, 4)), jnp.array([0, 1])),
         ValueError, ["rates has shape (0, 2, 4)", "no time steps"]),
    Case("classifier nan rates",
         lambda: learn.max_rate_update(learn.max_rate_init(4, 2), jnp.full((2, 4), NAN),
                                       jnp.array([0, 1])), ValueError,
         ["rates must be finite"]),
    Case("classifier infinite decay", lambda: learn.MaxRateClassifier(4, 2, decay=INF),
         ValueError, ["decay must be a non-negative number", "inf"]),
    Case("classifier label out of range",
         lambda: learn.max_rate_update(learn.max_rate_init(4, 2), jnp.ones((2, 4)),
                                       jnp.array([0, 2])), ValueError,
         ["labels must lie in [0, 1]", "n_classes=2"]),
]

X, Y = np.zeros((10, 2, 2), np.uint8), np.arange(10)

DATA_CASES = [
    Case("batch_size zero", lambda: data.batches(X, Y, 0), ValueError,
         ["batch_size must be >= 1", "got 0"]),
    Case("batch_size negative", lambda: data.batches(X, Y, -3), ValueError,
         ["batch_size must be >= 1", "got -3"]),
    Case("batch_size a float", lambda: data.batches(X, Y, 2.0), TypeError,
         ["batch_size must be an int", "2.0"]),
    Case("batch bigger than the data with drop_last", lambda: data.batches(X, Y, 11, drop_last=True),
         ValueError, ["batch_size=11", "drop_last=True", "10 examples"]),
    Case("batch bigger than the data keeps it all", lambda: [len(b) for _, b in data.batches(X, Y, 11)],
         ok=lambda sizes: sizes == [10] or pytest.fail(f"got {sizes}")),
    Case("no examples", lambda: data.batches(X[:0], Y[:0], 4), ValueError,
         ["batch_size=4", "0 examples"]),
    Case("negative shuffle_seed", lambda: data.batches(X, Y, 2, shuffle_seed=-1), ValueError,
         ["shuffle_seed must be >= 0", "-1"]),
    Case("load split name", lambda: data.load("mnist", "validation"), ValueError,
         ["split must be one of", "'train'", "'validation'"]),
    Case("split fraction of one", lambda: data.split(X, Y, validation=1.0), ValueError,
         ["validation must be a fraction in (0, 1)", "1.0"]),
    Case("split count too big", lambda: data.split(X, Y, validation=10), ValueError,
         ["validation must be a count in 1..9", "N=10"]),
]

SPIKES = np.zeros((6, 2, 3), np.float32)


def _plot(call):
    try:
        return call()
    finally:
        plt.close("all")


PLOT_CASES = [
    Case("raster rank 1", lambda: _plot(lambda: plot.raster(np.zeros(6))), ValueError,
         ["spikes must have rank 2 or 3", "(T, N) or (T, B, N)", "(6,)"]),
    Case("heatmap rank 4", lambda: _plot(lambda: plot.heatmap(SPIKES[None])), ValueError,
         ["values must have rank 2 or 3", "(1, 6, 2, 3)"]),
    Case("membrane_traces rank 1", lambda: _plot(lambda: plot.membrane_traces(np.zeros(3))),
         ValueError, ["v must have rank 2 or 3", "(3,)"]),
    Case("firing_rate_histogram rank 4",
         lambda: _plot(lambda: plot.firing_rate_histogram(SPIKES[..., None])), ValueError,
         ["spikes must have rank 2 or 3", "rank 4"]),
    Case("receptive_fields rank 1", lambda: _plot(lambda: plot.receptive_fields(np.ones(784))),
         ValueError, ["weights must have rank 2", "(784,)"]),
    Case("raster batch_index out of range",
         lambda: _plot(lambda: plot.raster(SPIKES, batch_index=2)), ValueError,
         ["batch_index must be an integer in [0, 2)", "got 2"]),
    Case("firing_rate_histogram dt zero",
         lambda: _plot(lambda: plot.firing_rate_histogram(SPIKES, dt=0.0)), ValueError,
         ["dt must be positive", "0.0"]),
]


@params(PLASTICITY_CASES + TRANSFORM_CASES + DATA_CASES + PLOT_CASES)
def test_learn_table(case):
    check(case)
