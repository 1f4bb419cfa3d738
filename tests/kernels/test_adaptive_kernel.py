"""The fused kernel for the adaptive-threshold neurons (Norse's LSNN, Inferno's ALIF) against
their scan, in Pallas' interpreter on CPU (compiled on a GPU).

As in test_lif_kernel.py, shapes are small and ragged: B * N = 2 * 70 neurons in blocks of 64
leave a padded last block, and T = 16 with a checkpoint every 3 steps a short last chunk. Both
models have a three-field state, so the checkpoints and the adjoint carry three rows.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from spikejax.functional import (
    ALIF_MODEL,
    ALIFParameters,
    ALIFState,
    LIF_MODEL,
    LSNN_MODEL,
    LSNNFeedForwardState,
    LSNNParameters,
)
from spikejax.kernels import (
    FUSED_MODELS,
    alif_sequence,
    lsnn_sequence,
    neuron_sequence,
    select_implementation,
)

T, B, N, BLOCK, EVERY = 16, 2, 70, 64, 3
KERNEL = dict(implementation="pallas", block=BLOCK, checkpoint_every=EVERY)
SCAN = dict(implementation="scan")


def _relative_error(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.max(np.abs(a - b)) / np.max(np.abs(a))


def _lsnn_inputs():
    rng = np.random.default_rng(1)
    xs = jnp.asarray(rng.uniform(0.0, 1.0, (T, B, N)), jnp.float32)
    # v near threshold and b spread over [v_th, v_th + beta], as after some spikes.
    state = LSNNFeedForwardState(
        v=jnp.asarray(rng.uniform(0.0, 1.5, (B, N)), jnp.float32),
        i=jnp.asarray(rng.uniform(0.0, 2.0, (B, N)), jnp.float32),
        b=jnp.asarray(rng.uniform(1.0, 2.8, (B, N)), jnp.float32),
    )
    return xs, state, jnp.asarray(rng.normal(size=(T, B, N)), jnp.float32)


def _alif_inputs():
    rng = np.random.default_rng(2)
    xs = jnp.asarray(rng.uniform(0.0, 1500.0, (T, B, N)), jnp.float32)  # nA: spikes within T
    state = ALIFState(
        v=jnp.asarray(rng.uniform(-65.0, -52.5, (B, N)), jnp.float32),
        refrac=jnp.asarray(rng.choice([0.0, 0.0, 2.5, 4.5], (B, N)), jnp.float32),
        theta=jnp.asarray(rng.uniform(0.0, 1.0, (B, N)), jnp.float32),
    )
    return xs, state, jnp.asarray(rng.normal(size=(T, B, N)), jnp.float32)


def _loss(fn, xs, state, weights, p, dt, options):
    out, final = fn(xs, state, p, dt, **options)
    return jnp.sum(weights * out) + sum(jnp.sum(leaf * (k + 1)) for k, leaf in enumerate(final)), out


CASES = {
    "LSNN": (lsnn_sequence, _lsnn_inputs, lambda a: LSNNParameters(v_th=a, tau_adapt_inv=20.0 + a),
             jnp.linspace(0.8, 1.2, N)),
    # refrac_t = 4.5 ms and initial refrac off whole ms keep refrac - dt off exactly 0: there
    # max(., 0) has a kink whose split subgradient hangs on whether XLA fuses the subtraction of
    # an array dt * 1000 into an FMA (then it misses 0 by 5e-8), which differs between programs.
    "ALIF": (alif_sequence, _alif_inputs,
             lambda a: ALIFParameters(v_th=a, tc_membrane=50.0 - a, refrac_t=4.5),
             jnp.linspace(-53.0, -51.0, N)),
}


# ALIF's initial refrac (leaf 2 of xs, v, refrac, theta, ...) reaches nothing: it only counts
# down to max(., 0) (zero slope below 0) within T, and its comparison with 0 has no gradient.
ZERO_GRADIENT = {"ALIF": 2}


def test_the_adaptive_models_have_kernels():
    assert FUSED_MODELS["LSNN"] is LSNN_MODEL and FUSED_MODELS["ALIF"] is ALIF_MODEL


@pytest.mark.parametrize("model", sorted(CASES))
def test_forward_equals_the_scan(model):
    fn, inputs, _, _ = CASES[model]
    xs, state, _ = inputs()

    @jax.jit
    def both(xs, state):
        return fn(xs, state, **SCAN), fn(xs, state, **KERNEL)

    (z_scan, s_scan), (z_kernel, s_kernel) = both(xs, state)
    assert 20 < float(z_scan.sum()) < xs.size / 2  # spikes and silences: the check means something
    np.testing.assert_array_equal(z_kernel, z_scan)
    assert type(s_kernel) is type(s_scan)
    for a, b in zip(s_scan, s_kernel):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-5)


# ALIF's case is slow (CI time; run with `pytest -m slow`): LSNN's goes through the same kernel code.
@pytest.mark.parametrize("model", [pytest.param(m, marks=pytest.mark.slow) if m == "ALIF" else m for m in sorted(CASES)])
def test_gradients_equal_the_scan(model):
    """Gradients for the currents, the initial state, an array parameter of the neurons' shape,
    a scalar array parameter and an array ``dt``: all that the kernel's VJP gives."""
    fn, inputs, make_p, threshold = CASES[model]
    xs, state, weights = inputs()
    dt = jnp.asarray(1e-3)

    @jax.jit
    def grads(xs, state, threshold, shift, dt):
        def loss(xs, state, threshold, shift, dt, detach, options):
            p = make_p(threshold)
            p = p.replace(**{field: getattr(p, field) + shift for field in ("v_reset",)
                             if hasattr(p, field)})
            return _loss(fn, xs, state, weights, p, dt, dict(options, detach_reset=detach))

        return {
            (detach, name): jax.grad(loss, argnums=(0, 1, 2, 3, 4), has_aux=True)(
                xs, state, threshold, shift, dt, detach, options
            )
            for detach in (False, True)
            for name, options in (("scan", SCAN), ("pallas", KERNEL))
        }

    results = grads(xs, state, threshold, jnp.asarray(0.0), dt)
    for detach in (False, True):
        g_scan, z_scan = results[detach, "scan"]
        g_kernel, z_kernel = results[detach, "pallas"]
        np.testing.assert_array_equal(z_kernel, z_scan)
        leaves = zip(jax.tree_util.tree_leaves(g_scan), jax.tree_util.tree_leaves(g_kernel))
        for index, (expected, got) in enumerate(leaves):
            assert np.shape(expected) == np.shape(got)
            if index == ZERO_GRADIENT.get(model):
                np.testing.assert_array_equal(got, 0.0)
                continue
            assert np.max(np.abs(expected)) > 0, (model, detach, index)  # a gradient that is there
            assert _relative_error(expected, got) < 1e-5, (model, detach, index)
    assert _relative_error(results[False, "scan"][0][0], results[True, "scan"][0][0]) > 1e-3


def test_alif_without_adaptation_matches_and_keeps_theta():
    xs, state, _ = _alif_inputs()
    z_scan, s_scan = alif_sequence(xs[:5], state, adapt=False, **SCAN)
    z_kernel, s_kernel = alif_sequence(xs[:5], state, adapt=False, **dict(KERNEL, checkpoint_every=5))
    np.testing.assert_array_equal(z_kernel, z_scan)
    np.testing.assert_array_equal(s_kernel.theta, state.theta)


def test_shared_theta_takes_the_scan_under_auto_and_is_refused_by_the_kernel():
    from jax.sharding import AbstractDevice, AbstractMesh, use_abstract_mesh

    xs = jnp.full((3, 2, 4), 40.0)
    h100 = AbstractDevice(device_kind="NVIDIA H100 80GB HBM3", platform="gpu", num_cores=132)
    with use_abstract_mesh(AbstractMesh((), (), abstract_device=h100)):  # compiling for a GPU
        assert select_implementation(ALIF_MODEL, xs, options={"share_theta": False}) == "pallas"
        assert select_implementation(ALIF_MODEL, xs, options={"share_theta": True}) == "scan"
        assert select_implementation(LSNN_MODEL, xs) == "pallas"
    # On a CPU "auto" is the scan anyway; it must still give the shared-theta numbers.
    _, shared = alif_sequence(xs * 30, share_theta=True)
    _, scanned = neuron_sequence(ALIF_MODEL, xs * 30, share_theta=True, implementation="scan")
    np.testing.assert_array_equal(shared.theta, scanned.theta)
    with pytest.raises(ValueError, match=r"cannot run the ALIF model with share_theta=True: it "
                                         r"averages theta over the batch axis, mixing neurons"):
        alif_sequence(xs, share_theta=True, implementation="pallas")


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: lsnn_sequence(jnp.ones((3, 2)), detach_reset=1), TypeError,
         r"detach_reset must be a bool, got int 1"),
        (lambda: alif_sequence(jnp.ones((3, 2)), adapt="no"), TypeError, r"adapt must be a bool"),
        (lambda: alif_sequence(jnp.ones((3, 2)), share_theta=None), TypeError,
         r"share_theta must be a bool"),
        (lambda: lsnn_sequence(jnp.ones((3, 2)), p=ALIFParameters()), TypeError,
         r"p must be a LSNNParameters for the LSNN model, got ALIFParameters"),
        (lambda: neuron_sequence(LSNN_MODEL, jnp.ones((3, 2)), adapt=True), TypeError,
         r"adapt is not an option of the LSNN model's feed_forward_step"),
    ],
)
def test_bad_arguments_raise_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_the_mixing_rule_is_per_model():
    # LIF has no share_theta: the option is refused as unknown, not as mixing neurons.
    with pytest.raises(TypeError, match=r"share_theta is not an option of the LIF model"):
        neuron_sequence(LIF_MODEL, jnp.ones((3, 2)), share_theta=True)
