import jax
import jax.numpy as jnp
import numpy as np
import pytest

from spikejax.functional.plasticity import (
    TripletSTDPParameters,
    triplet_stdp_state,
    triplet_stdp_step,
)

VALUES = dict(tau_plus_inv=1 / 16.8e-3, tau_x_inv=1 / 101e-3, tau_minus_inv=1 / 33.7e-3,
              tau_y_inv=1 / 125e-3, a2_plus=0.02, a3_plus=0.05, a2_minus=0.03, a3_minus=0.01)


def _numpy_triplet(pre, post, v, dt, mode, reduction):
    r1 = r2 = np.zeros(pre.shape[1:])
    o1 = o2 = np.zeros(post.shape[1:])
    reduce = {"mean": np.mean, "sum": np.sum, "max": np.max}[reduction]
    out = []
    for z_pre, z_post in zip(pre, post):
        r1, r2 = r1 * np.exp(-dt * v["tau_plus_inv"]), r2 * np.exp(-dt * v["tau_x_inv"])
        o1, o2 = o1 * np.exp(-dt * v["tau_minus_inv"]), o2 * np.exp(-dt * v["tau_y_inv"])
        # Pfister & Gerstner: on a post spike w += r1 (A2+ + A3+ o2), on a pre spike
        # w -= o1 (A2- + A3- r2), with the traces before this step's spikes.
        ltp = (z_post * (v["a2_plus"] + v["a3_plus"] * o2))[:, :, None] * r1[:, None, :]
        ltd = o1[:, :, None] * (z_pre * (v["a2_minus"] + v["a3_minus"] * r2))[:, None, :]
        out.append(reduce(ltp, axis=0) - reduce(ltd, axis=0))
        bump = (lambda x, z: x + z) if mode == "cumulative" else (lambda x, z: np.where(z > 0, 1.0, x))
        r1, r2, o1, o2 = bump(r1, z_pre), bump(r2, z_pre), bump(o1, z_post), bump(o2, z_post)
    return np.stack(out)


@pytest.mark.parametrize("mode,reduction", [("cumulative", "mean"), ("nearest", "sum"),
                                            ("cumulative", "max")])
def test_equals_the_formula_under_jit_and_scan(mode, reduction):
    rng = np.random.default_rng(6)
    pre = (rng.random((25, 3, 4)) < 0.3).astype(np.float32)
    post = (rng.random((25, 3, 2)) < 0.3).astype(np.float32)
    p = TripletSTDPParameters(**VALUES, trace_mode=mode, batch_reduction=reduction)
    w = jnp.zeros((2, 4))

    @jax.jit
    def trajectory(pre, post):
        def step(state, spikes):
            dw, state = triplet_stdp_step(spikes[0], spikes[1], state, w, p)
            return state, dw

        return jax.lax.scan(step, triplet_stdp_state((3, 4), (3, 2)), (pre, post))[1]

    np.testing.assert_allclose(trajectory(pre, post),
                               _numpy_triplet(pre, post, VALUES, 1e-3, mode, reduction),
                               rtol=1e-5, atol=1e-7)


def test_triplet_terms_add_potentiation_for_post_post_pairs():
    """A pre-post pair potentiates more when a post spike came shortly before (o2 > 0)."""
    pair_only = TripletSTDPParameters(**{**VALUES, "a3_plus": 0.0, "a3_minus": 0.0})
    triplet = TripletSTDPParameters(**VALUES)
    one, zero, w = jnp.ones((1, 1)), jnp.zeros((1, 1)), jnp.zeros((1, 1))
    spikes = [(zero, one), (one, zero), (zero, one)]  # post, pre, post

    def total(p):
        state, dws = None, []
        for pre, post in spikes:
            dw, state = triplet_stdp_step(pre, post, state, w, p)
            dws.append(dw[0, 0])
        return dws

    pair, trip = total(pair_only), total(triplet)
    np.testing.assert_allclose(pair[1], trip[1])  # the depression of post -> pre: no r2 yet
    extra = VALUES["a3_plus"] * np.exp(-2e-3 * VALUES["tau_y_inv"]) * np.exp(-1e-3 * VALUES["tau_plus_inv"])
    np.testing.assert_allclose(trip[2] - pair[2], extra, rtol=1e-5)


def test_bad_arguments():
    with pytest.raises(ValueError, match="TripletSTDPParameters.tau_y_inv must be positive"):
        TripletSTDPParameters(tau_y_inv=0.0)
    with pytest.raises(ValueError, match="TripletSTDPParameters.a3_minus must be non-negative"):
        TripletSTDPParameters(a3_minus=-1e-3)
    with pytest.raises(ValueError, match=r"state.r1 has shape \(4,\), expected \(1, 4\)"):
        triplet_stdp_step(jnp.ones((1, 4)), jnp.ones((1, 2)), triplet_stdp_state((4,), (2,)),
                          jnp.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"post has shape \(1, 3\), expected \(1, 2\)"):
        triplet_stdp_step(jnp.ones((1, 4)), jnp.ones((1, 3)), None, jnp.zeros((2, 4)))
