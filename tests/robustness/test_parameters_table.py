"""Bad and edge inputs of the neuron parameters, the threshold and the dynamics (issue 14).

Non-finite parameters, non-positive time constants and surrogate widths, resets at or above
threshold in every model; non-finite or non-positive ``dt``; states of another model; and the
valid edges: a reset just below threshold, NaN and infinite inputs, traced parameters.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from spikejax import functional as F
from spikejax.nn import LIFBoxCell, LIFCell, LSNNRecurrentCell
from tests.robustness._table import Case, check, params

NAN, INF = float("nan"), float("inf")
X = jnp.ones((2, 3))


def _finite(*names):
    return ["must be finite, got", *names]


# ---- every model's parameters: inf and nan ----

NONFINITE_CASES = [
    Case("lif-tau_mem_inv-inf", lambda: F.LIFParameters(tau_mem_inv=INF), ValueError,
         _finite("LIFParameters.tau_mem_inv", "inf")),
    Case("lif-v_th-nan", lambda: F.LIFParameters(v_th=NAN), ValueError,
         _finite("LIFParameters.v_th", "nan")),
    Case("lif-v_leak-array-with-nan", lambda: F.LIFParameters(v_leak=jnp.array([0.0, NAN])),
         ValueError, _finite("LIFParameters.v_leak", "[0.0, nan]")),
    Case("lif_box-v_leak-neg-inf", lambda: F.LIFBoxParameters(v_leak=-INF), ValueError,
         _finite("LIFBoxParameters.v_leak", "-inf")),
    Case("iaf-v_reset-nan", lambda: F.IAFParameters(v_reset=NAN), ValueError,
         _finite("IAFParameters.v_reset")),
    Case("lif_refrac-rho_reset-inf", lambda: F.LIFRefracParameters(rho_reset=INF), ValueError,
         _finite("LIFRefracParameters.rho_reset")),
    Case("lsnn-spike_increment-nan", lambda: F.LSNNParameters(spike_increment=NAN), ValueError,
         _finite("LSNNParameters.spike_increment")),
    Case("alif-spike_increment-inf", lambda: F.ALIFParameters(spike_increment=INF), ValueError,
         _finite("ALIFParameters.spike_increment")),
    Case("adex-adaptation_current-nan", lambda: F.LIFAdExParameters(adaptation_current=NAN),
         ValueError, _finite("LIFAdExParameters.adaptation_current")),
    Case("lif_ex-delta_T-inf", lambda: F.LIFExParameters(delta_T=INF), ValueError,
         _finite("LIFExParameters.delta_T")),
    Case("coba-e_rev_E-inf", lambda: F.CobaLIFParameters(e_rev_E=INF), ValueError,
         _finite("CobaLIFParameters.e_rev_E")),
    Case("izhikevich-bias-nan", lambda: F.IzhikevichParameters(bias=NAN), ValueError,
         _finite("IzhikevichParameters.bias")),
    Case("leaky-beta-nan", lambda: F.LeakyParameters(beta=NAN), ValueError,
         _finite("LeakyParameters.beta")),
    Case("synaptic-alpha_syn-inf", lambda: F.SynapticParameters(alpha_syn=INF), ValueError,
         _finite("SynapticParameters.alpha_syn")),
    Case("li-tau_syn_inv-inf", lambda: F.LIParameters(tau_syn_inv=INF), ValueError,
         _finite("LIParameters.tau_syn_inv")),
]

# ---- time constants and surrogate widths must be positive ----

POSITIVE_CASES = [
    Case("lif-tau_mem_inv-negative", lambda: F.LIFParameters(tau_mem_inv=-100.0), ValueError,
         ["LIFParameters.tau_mem_inv must be positive, got -100.0"]),
    Case("lsnn-tau_adapt_inv-zero", lambda: F.LSNNParameters(tau_adapt_inv=0.0), ValueError,
         ["LSNNParameters.tau_adapt_inv must be positive, got 0.0"]),
    Case("alif-tc_membrane-negative", lambda: F.ALIFParameters(tc_membrane=-1.0), ValueError,
         ["ALIFParameters.tc_membrane must be positive"]),
    Case("coba-c_m_inv-zero", lambda: F.CobaLIFParameters(c_m_inv=0.0), ValueError,
         ["CobaLIFParameters.c_m_inv must be positive"]),
    Case("adex-tau_adapt_inv-negative", lambda: F.LIFAdExParameters(tau_adapt_inv=-2.0), ValueError,
         ["LIFAdExParameters.tau_adapt_inv must be positive"]),
    Case("adex-norse-alias-tau_ada_inv-negative", lambda: F.LIFAdExParameters(tau_ada_inv=-2.0),
         ValueError, ["LIFAdExParameters.tau_adapt_inv must be positive"]),
    Case("lif-alpha-minus-100", lambda: F.LIFParameters(alpha=-100.0), ValueError,
         ["LIFParameters.alpha must be positive, got -100.0"]),
    Case("iaf-alpha-zero", lambda: F.IAFParameters(alpha=0.0), ValueError,
         ["IAFParameters.alpha must be positive, got 0.0"]),
    Case("leaky-alpha-negative", lambda: F.LeakyParameters(alpha=-2.0), ValueError,
         ["LeakyParameters.alpha must be positive"]),
    Case("izhikevich-alpha-zero", lambda: F.IzhikevichParameters(alpha=0.0), ValueError,
         ["IzhikevichParameters.alpha must be positive"]),
    Case("lif_refrac-nested-alpha", lambda: F.LIFRefracParameters(lif=F.LIFParameters(alpha=0.0)),
         ValueError, ["LIFParameters.alpha must be positive"]),
]

# ---- a reset at or above threshold fires on every step ----

RESET_CASES = [
    Case("lif-reset-above-threshold", lambda: F.LIFParameters(v_th=0.5, v_reset=2.0), ValueError,
         ["LIFParameters.v_reset must be below v_th=0.5, got 2.0", "fires on every step"]),
    Case("lif-reset-equal-threshold", lambda: F.LIFParameters(v_reset=1.0), ValueError,
         ["LIFParameters.v_reset must be below v_th=1.0, got 1.0"]),
    Case("lif_box-reset-above", lambda: F.LIFBoxParameters(v_reset=1.5), ValueError,
         ["LIFBoxParameters.v_reset must be below v_th"]),
    Case("lif_box-subtract-nonpositive-threshold",
         lambda: F.LIFBoxParameters(v_th=0.0, v_reset=-1.0, reset_mechanism="subtract"), ValueError,
         ["LIFBoxParameters.v_th must be positive, got 0.0"]),
    Case("iaf-reset-above", lambda: F.IAFParameters(v_th=0.5, v_reset=0.7), ValueError,
         ["IAFParameters.v_reset must be below v_th=0.5"]),
    Case("lsnn-reset-above", lambda: F.LSNNParameters(v_reset=1.2), ValueError,
         ["LSNNParameters.v_reset must be below v_th"]),
    Case("alif-reset-above", lambda: F.ALIFParameters(v_reset=-40.0), ValueError,
         ["ALIFParameters.v_reset must be below v_th=-52.0, got -40.0"]),
    Case("adex-reset-above", lambda: F.LIFAdExParameters(v_reset=1.0), ValueError,
         ["LIFAdExParameters.v_reset must be below v_th"]),
    Case("lif_ex-reset-above", lambda: F.LIFExParameters(v_th=0.2, v_reset=0.5), ValueError,
         ["LIFExParameters.v_reset must be below v_th=0.2"]),
    Case("coba-reset-above", lambda: F.CobaLIFParameters(v_reset=0.0), ValueError,
         ["CobaLIFParameters.v_reset must be below v_th=-10.0, got 0.0"]),
    Case("izhikevich-c-above-cutoff", lambda: F.IzhikevichParameters(c=35.0), ValueError,
         ["IzhikevichParameters.c must be below v_th=30.0, got 35.0"]),
    Case("leaky-subtract-zero-threshold", lambda: F.LeakyParameters(v_th=0.0), ValueError,
         ["LeakyParameters.v_th must be positive, got 0.0"]),
    Case("leaky-snntorch-alias-zero-threshold", lambda: F.LeakyParameters(threshold=0.0),
         ValueError, ["LeakyParameters.v_th must be positive, got 0.0"]),
    Case("synaptic-zero-reset-negative-threshold",
         lambda: F.SynapticParameters(v_th=-1.0, reset_mechanism="zero"), ValueError,
         ["SynapticParameters.v_th must be positive, got -1.0"]),
    Case("lif-reset-above-threshold-per-neuron",
         lambda: F.LIFParameters(v_th=jnp.array([1.0, 0.5]), v_reset=jnp.array([0.0, 0.6])),
         ValueError, ["LIFParameters.v_reset must be below v_th=[1.0, 0.5], got [0.0, 0.6"]),
]

# ---- dt ----

DT_CASES = [
    Case("dt-inf", lambda: F.lif_feed_forward_step(X, None, dt=INF), ValueError,
         ["dt must be finite, got inf"]),
    Case("dt-nan", lambda: F.lif_box_feed_forward_step(X, None, dt=NAN), ValueError,
         ["dt must be finite, got nan"]),
    Case("dt-zero", lambda: F.lsnn_feed_forward_step(X, None, dt=0.0), ValueError,
         ["dt must be positive, got 0.0"]),
    Case("dt-negative", lambda: F.alif_feed_forward_step(X, None, dt=-1.0), ValueError,
         ["dt must be positive, got -1.0"]),
    Case("dt-inf-recurrent", lambda: F.lif_step(X, None, jnp.ones((4, 3)), jnp.zeros((4, 4)),
                                                dt=INF), ValueError, ["dt must be finite"]),
    Case("dt-inf-module", lambda: LIFCell(dt=INF), ValueError, ["dt must be finite, got inf"]),
]

# ---- states of another model ----

STATE_CASES = [
    Case("lsnn-state-into-lif", lambda: F.lif_feed_forward_step(X, F.lsnn_feed_forward_state((2, 3))),
         TypeError, ["state must be None or a LIFFeedForwardState", "got a LSNNFeedForwardState"]),
    Case("lif-state-into-lif_box", lambda: F.lif_box_feed_forward_step(X, F.lif_feed_forward_state((2, 3))),
         TypeError, ["LIFBoxFeedForwardState", "got a LIFFeedForwardState"]),
    Case("lsnn-state-into-LIFCell", lambda: LIFCell()(X, F.lsnn_feed_forward_state((2, 3))),
         TypeError, ["LIFFeedForwardState", "LSNNFeedForwardState"]),
    Case("lif-state-into-LIFBoxCell", lambda: LIFBoxCell()(X, F.lif_feed_forward_state((2, 3))),
         TypeError, ["LIFBoxFeedForwardState", "LIFFeedForwardState"]),
    Case("recurrent-state-into-feed-forward", lambda: F.lif_feed_forward_step(X, F.lif_state((2, 3))),
         TypeError, ["LIFFeedForwardState", "got a LIFState"]),
    Case("feed-forward-state-into-recurrent",
         lambda: F.lsnn_step(X, F.lsnn_feed_forward_state((2, 4)), jnp.ones((4, 3)), jnp.zeros((4, 4))),
         TypeError, ["LSNNState", "got a LSNNFeedForwardState"]),
    Case("lif-state-into-LSNNRecurrentCell",
         lambda: LSNNRecurrentCell(3, 4)(X, F.lif_state((2, 4))), TypeError,
         ["LSNNState", "got a LIFState"]),
]


# ---- valid edges ----


def _ok_spikes(expected):
    def ok(result):
        z = np.asarray(result[0])
        np.testing.assert_array_equal(z, expected)
    return ok


def _ok_lif_reset_just_below(result):
    z, state = result
    assert float(z[0]) == 1.0 and float(state.v[0]) == np.float32(0.999)


def _ok_nan_spikes(result):
    z = np.asarray(result[0])
    assert np.isnan(z[0]) and z[1] == 0.0


def _ok_inf_spikes_then_nan(result):
    z, state = result
    np.testing.assert_array_equal(z, [1.0, 1.0])
    assert np.isnan(np.asarray(state.v)).all()  # 0 * inf = nan: loud, the threshold keeps it


def _ok_check_finite(result):
    assert float(result["v"][0]) == 1.0


EDGE_CASES = [
    Case("reset-just-below-threshold",
         lambda: F.lif_feed_forward_step(jnp.array([50.0]), None, F.LIFParameters(v_reset=0.999)),
         ok=_ok_lif_reset_just_below),
    Case("nan-input-gives-nan-spike",
         lambda: F.lif_box_feed_forward_step(jnp.array([NAN, 0.0]), None), ok=_ok_nan_spikes),
    Case("nan-distance-gives-nan-threshold", lambda: (F.threshold(jnp.array([NAN, -1.0])),),
         ok=_ok_nan_spikes),
    Case("inf-input-spikes-then-nan",
         lambda: F.iaf_feed_forward_step(jnp.array([INF, INF]), None, F.IAFParameters(v_reset=-0.5)),
         ok=_ok_inf_spikes_then_nan),
    Case("neg-inf-input-no-spike", lambda: (F.threshold(jnp.array([-INF, -INF])),),
         ok=_ok_spikes([0.0, 0.0])),
    Case("traced-parameters-skip-the-checks",
         lambda: jax.jit(lambda th: F.lif_feed_forward_step(jnp.array([20.0]), None,
                                                            F.LIFParameters(v_th=th)))(0.5),
         ok=_ok_spikes([1.0])),
    Case("reset-none-any-threshold", lambda: (jnp.asarray(F.LeakyParameters(
        v_th=-1.0, reset_mechanism="none").v_th)[None],), ok=_ok_spikes([-1.0])),
    Case("check_finite-passes-finite", lambda: F.check_finite({"v": jnp.ones(2)}, "state"),
         ok=_ok_check_finite),
    Case("check_finite-names-leaf-and-step",
         lambda: F.check_finite({"v": jnp.zeros((4, 2)).at[2, 1].set(NAN)}, "state", time_axis=0),
         FloatingPointError, ["state.v is not finite: nan at step 2 (index (2, 1))"]),
]


# ---- a field and its peer-library alias given together (issue 15) ----
ALIAS_CASES = [
    Case("leaky-v_th-and-snntorch-threshold", lambda: F.LeakyParameters(v_th=1.0, threshold=2.0),
         TypeError, ["LeakyParameters got both v_th=1.0 and its alias threshold=2.0", "snnTorch"]),
    Case("synaptic-positional-v_th-and-threshold",
         lambda: F.SynapticParameters(0.9, 0.8, 1.0, threshold=2.0), TypeError,
         ["SynapticParameters got both v_th (by position) and its alias threshold=2.0"]),
    Case("coba-v_th-and-norse-v_thresh", lambda: F.CobaLIFParameters(v_th=-10.0, v_thresh=-5.0),
         TypeError, ["CobaLIFParameters got both v_th=-10.0 and its alias v_thresh=-5.0", "Norse"]),
    Case("coba-replace-v_leak-and-v_rest",
         lambda: F.CobaLIFParameters().replace(v_leak=-20.0, v_rest=-30.0), TypeError,
         ["got both v_leak=-20.0 and its alias v_rest=-30.0"]),
    Case("adex-tau_adapt_inv-and-tau_ada_inv",
         lambda: F.LIFAdExParameters(tau_adapt_inv=2.0, tau_ada_inv=3.0), TypeError,
         ["LIFAdExParameters got both tau_adapt_inv=2.0 and its alias tau_ada_inv=3.0"]),
    Case("alif-v_reset-and-inferno-reset_v", lambda: F.ALIFParameters(v_reset=-60.0, reset_v=-61.0),
         TypeError, ["ALIFParameters got both v_reset=-60.0 and its alias reset_v=-61.0", "Inferno"]),
    Case("leaky-alias-read-as-property", lambda: (jnp.asarray(F.LeakyParameters(threshold=0.5).threshold),),
         ok=lambda result: np.testing.assert_allclose(result[0], 0.5)),
]


@params(NONFINITE_CASES + POSITIVE_CASES + RESET_CASES + DT_CASES + STATE_CASES + EDGE_CASES
        + ALIAS_CASES)
def test_parameters_table(case):
    check(case)
