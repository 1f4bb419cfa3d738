import jax
import jax.numpy as jnp
import numpy as np
import pytest

from spikejax.functional import (
    ALIF_MODEL,
    ALIFParameters,
    ALIFRecurrentState,
    ALIFState,
    alif_clear,
    alif_feed_forward_state,
    alif_feed_forward_step,
    alif_step,
    run,
)
from spikejax.nn import ALIF, ALIFCell


def numpy_alif(xs, p, dt_ms=1.0, share_theta=False):
    """Step-by-step float64 reference of the module docs' equations (Inferno's order)."""
    v = np.full(xs.shape[1:], p.v_leak, float)
    refrac, theta = np.zeros_like(v), np.zeros_like(v)
    out = {"z": [], "v": [], "refrac": [], "theta": []}
    for x in xs:
        refrac = np.maximum(refrac - dt_ms, 0)
        active = refrac == 0
        drive = p.resistance * x * active
        integrated = p.v_leak + (v - p.v_leak - drive) * np.exp(-dt_ms / p.tc_membrane) + drive
        v = np.where(active, integrated, v)
        z = active & (v >= p.v_th + theta)
        v = np.where(z, p.v_reset, v)
        refrac = np.where(z, p.refrac_t, refrac)
        theta = np.where(refrac > 0, theta, theta * np.exp(-dt_ms / p.tc_adaptation))
        theta = theta + p.spike_increment * z
        if share_theta:
            theta = np.broadcast_to(theta.mean(0), theta.shape)
        for key, value in zip(out, (z, v, refrac, theta)):
            out[key].append(np.array(value, float))
    return {k: np.stack(v) for k, v in out.items()}


def simulate(xs, p, **options):
    step = lambda x, s: alif_feed_forward_step(x, s, p, **options)
    states, zs = run(step, None, jnp.asarray(xs, jnp.float32), record_states=True)
    return zs, states


FAST = ALIFParameters(tc_adaptation=20.0, spike_increment=2.0)


@pytest.mark.parametrize(
    "p", [ALIFParameters(), FAST, ALIFParameters.inhibitory()], ids=["exc", "fast", "inh"]
)
def test_trajectory_equals_numpy_reference(p):
    xs = np.abs(np.random.default_rng(0).normal(300.0, 400.0, (60, 2, 4)))
    ref = numpy_alif(xs, p)
    zs, states = simulate(xs, p)
    assert ref["z"].sum() > 10 and (ref["z"].sum(0) < 60).all()  # fires, not at every step
    np.testing.assert_array_equal(zs, ref["z"])
    np.testing.assert_allclose(states.v, ref["v"], atol=2e-3)
    np.testing.assert_allclose(states.refrac, ref["refrac"], atol=1e-6)
    np.testing.assert_allclose(states.theta, ref["theta"], atol=1e-4)


@pytest.mark.parametrize("case", ["excitatory", "fast_adaptation", "batch_mean", "inhibitory"])
def test_equals_inferno(reference, case):
    ref = reference("inferno")["neurons"][case]
    p = {
        "excitatory": ALIFParameters(),
        "fast_adaptation": FAST,
        "batch_mean": FAST,
        "inhibitory": ALIFParameters.inhibitory(),
    }[case]
    zs, states = simulate(ref["xs"], p, share_theta=case == "batch_mean")
    np.testing.assert_array_equal(zs, ref["z"])
    np.testing.assert_allclose(states.v, ref["v"], rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(states.refrac, ref["refrac"], atol=1e-6)
    if "theta" in ref:  # Inferno keeps one theta per neuron: every batch row equals it
        theta = np.broadcast_to(ref["theta"][:, None], states.theta.shape)
        np.testing.assert_allclose(states.theta, theta, rtol=1e-5, atol=1e-6)


def test_refractory_lock_holds_reset_voltage_and_ignores_input():
    xs = np.zeros((12, 1))
    xs[:2] = 1000.0  # a spike at step 1
    xs[2:6] = 1e6  # far above threshold, but refractory: ignored
    zs, states = simulate(xs, ALIFParameters())
    assert np.flatnonzero(np.asarray(zs[:, 0])).tolist() == [1]
    v = np.asarray(states.v[:, 0])
    np.testing.assert_array_equal(v[1:6], -60.0)  # refrac_t / dt = 5 steps: the spike's + 4
    np.testing.assert_allclose(v[6], -65.0 + 5.0 * np.exp(-1 / 100.0), rtol=1e-6)  # free again
    np.testing.assert_allclose(states.refrac[1:7, 0], [5, 4, 3, 2, 1, 0])
    # Under constant drive the neuron fires once every refrac_t / dt steps.
    zs, _ = simulate(np.full((40, 1), 1000.0), ALIFParameters())
    assert np.all(np.diff(np.flatnonzero(np.asarray(zs[:, 0]))) == 5)


def test_theta_jumps_on_spikes_decays_when_free_and_freezes_without_adapt():
    p = FAST
    xs = np.zeros((40, 1))
    xs[:2] = 5000.0  # one spike at step 0, then silence
    zs, states = simulate(xs, p)
    assert np.flatnonzero(np.asarray(zs[:, 0])).tolist() == [0]
    theta = np.asarray(states.theta[:, 0])
    np.testing.assert_allclose(theta[:5], 2.0, rtol=1e-6)  # held while refractory
    expected = 2.0 * np.exp(-np.arange(1, 36) / 20.0)  # decays from the first free step
    np.testing.assert_allclose(theta[5:], expected, rtol=1e-5)

    frozen = ALIFState(v=jnp.full(1, -65.0), refrac=jnp.zeros(1), theta=jnp.full(1, 3.0))
    _, after = alif_feed_forward_step(jnp.full(1, 5000.0), frozen, p, adapt=False)
    assert float(after.theta[0]) == 3.0 and float(after.v[0]) == -60.0


def test_clear_keeps_theta_and_the_recurrent_step_adds_recurrent_current():
    w_in = jnp.array([[40.0, 0.0], [0.0, 40.0]])
    w_rec = jnp.array([[0.0, -5000.0], [-5000.0, 0.0]])
    xs = jnp.tile(jnp.array([[[5.0, 4.0]]]), (80, 1, 1))
    states, zs = run(lambda x, s: alif_step(x, s, w_in, w_rec), None, xs, record_states=True)
    assert isinstance(states, ALIFRecurrentState)
    np.testing.assert_array_equal(states.z, zs)
    # Equal to the feed-forward model fed the same current by hand.
    state, expected = alif_feed_forward_state((1, 2)), []
    for t in range(80):
        current = xs[t] @ w_in.T + (expected[-1] if expected else jnp.zeros((1, 2))) @ w_rec.T
        z, state = alif_feed_forward_step(current, state)
        expected.append(z)
    np.testing.assert_array_equal(zs, jnp.stack(expected))
    assert zs[:, 0, 0].sum() > 0 and zs[:, 0, 1].sum() == 0  # the winner inhibits the other
    cleared = alif_clear(jax.tree.map(lambda a: a[-1], states))
    np.testing.assert_array_equal(cleared.theta, states.theta[-1])
    assert float(cleared.theta.max()) > 0
    np.testing.assert_array_equal(cleared.v, -65.0)
    assert not cleared.refrac.any() and not cleared.z.any()
    assert not alif_clear(cleared, keep_theta=False).theta.any()


def test_transforms_and_dtypes(model_checks):
    xs = jax.random.uniform(jax.random.key(0), (30, 2, 3)) * 4 * ALIF_MODEL.example_drive
    step = lambda x, s: alif_feed_forward_step(x, s)
    out = model_checks.transforms(step, xs)
    assert out.sum() > 0
    model_checks.dtypes(step, xs)


def test_modules_and_presets():
    p = ALIFParameters.inhibitory(tc_membrane=50.0)
    assert (p.v_leak, p.v_reset, p.v_th, p.refrac_t, p.tc_membrane, p.spike_increment) == (
        -60.0, -45.0, -40.0, 2.0, 50.0, 0.0
    )
    assert ALIFParameters.excitatory() == ALIFParameters()
    xs = jnp.full((30, 2, 3), 1000.0)
    out, state = ALIF()(xs)
    cell_z, cell_state = ALIFCell()(xs[0])
    np.testing.assert_array_equal(out[0], cell_z)
    assert out.shape == (30, 2, 3) and state.theta.shape == (2, 3) and out.sum() > 0


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: ALIFParameters(tc_membrane=-1.0), "tc_membrane must be positive"),
        (lambda: ALIFParameters(tc_adaptation=0.0), "tc_adaptation must be positive"),
        (lambda: ALIFParameters(refrac_t=-1.0), "refrac_t must be non-negative"),
        (lambda: ALIFParameters(v_leak=-40.0), "v_leak must be below v_th"),
        (lambda: ALIFParameters(v_reset=-52.0), "v_reset must be below v_th"),
        (lambda: ALIFParameters(resistance=0.0), "resistance must be nonzero"),
        (lambda: ALIFParameters(method="nope"), "unknown surrogate"),
        (lambda: alif_feed_forward_step(jnp.ones(3), None, dt=0.0), "dt must be positive"),
        (
            lambda: alif_feed_forward_step(jnp.ones((2, 3)), alif_feed_forward_state((2, 4))),
            r"state.v has shape \(2, 4\), expected \(2, 3\)",
        ),
        (
            lambda: alif_step(jnp.ones((2, 3)), None, jnp.ones((4, 5)), jnp.ones((4, 4))),
            "expected last axis 5",
        ),
    ],
)
def test_validation(make, match):
    with pytest.raises(ValueError, match=match):
        make()
