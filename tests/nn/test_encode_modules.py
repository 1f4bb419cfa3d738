import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from spikejax.functional import (
    LIFParameters,
    constant_current_lif_encode,
    homogeneous_poisson_encode,
    poisson_encode,
    poisson_encode_step,
    population_encode,
    signed_poisson_encode,
    signed_poisson_encode_step,
    spike_latency_encode,
    spike_latency_lif_encode,
)
from spikejax.nn import (
    ConstantCurrentLIFEncoder,
    HomogeneousPoissonEncoder,
    PoissonEncoder,
    PoissonEncoderStep,
    PopulationEncoder,
    SignedPoissonEncoder,
    SignedPoissonEncoderStep,
    SpikeLatencyEncoder,
    SpikeLatencyLIFEncoder,
)

X = jnp.full((2, 8), 0.5)
KEY = jax.random.key(5)

RANDOM = [
    (PoissonEncoder(50, f_max=200.0), lambda k, x: poisson_encode(k, x, 50, 200.0)),
    (PoissonEncoderStep(), lambda k, x: poisson_encode_step(k, x, 1000.0)),
    (SignedPoissonEncoder(50), lambda k, x: signed_poisson_encode(k, -x, 50)),
    (SignedPoissonEncoderStep(f_max=500.0), lambda k, x: signed_poisson_encode_step(k, -x, 500.0)),
    (
        HomogeneousPoissonEncoder(50, 1.0, 200.0, refrac=2.0),
        lambda k, x: homogeneous_poisson_encode(k, x, 50, 1.0, 200.0, refrac=2.0),
    ),
]


@pytest.mark.parametrize("encoder, functional", RANDOM, ids=lambda e: type(e).__name__)
def test_random_encoders_equal_functional_for_keys_and_rngs(encoder, functional):
    x = -X if "Signed" in type(encoder).__name__ else X
    expected = functional(KEY, X)
    np.testing.assert_array_equal(encoder(x, KEY), expected)
    assert np.abs(expected).sum() > 0
    # nnx.Rngs: the "encode" stream (falling back to default) gives fresh keys on every call.
    first, second = encoder(x, nnx.Rngs(5)), encoder(x, nnx.Rngs(5))
    np.testing.assert_array_equal(first, second)
    rngs = nnx.Rngs(5)
    assert not np.array_equal(encoder(x, rngs), encoder(x, rngs))


def test_rng_collection_and_nnx_jit():
    encoder = PoissonEncoder(20, rng_collection="noise")
    rngs = nnx.Rngs(default=0, noise=1)
    out = nnx.jit(lambda m, x, r: m(x, r))(encoder, X, rngs)
    np.testing.assert_array_equal(out, poisson_encode(nnx.Rngs(default=0, noise=1).noise(), X, 20))
    assert out.shape == (20, 2, 8)
    assert nnx.state(encoder) == nnx.State({})  # configuration only


def test_deterministic_encoders_equal_functional():
    currents = jnp.array([[2.0, 4.0, 8.0, 16.0]])
    p = LIFParameters(tau_mem_inv=50.0)
    np.testing.assert_array_equal(
        ConstantCurrentLIFEncoder(10, p)(currents), constant_current_lif_encode(currents, 10, p)
    )
    np.testing.assert_array_equal(ConstantCurrentLIFEncoder(2)(currents)[:, 0], [[0, 0, 0, 1], [0, 0, 1, 1]])
    latency = SpikeLatencyLIFEncoder(10)(currents)
    np.testing.assert_array_equal(latency, spike_latency_lif_encode(currents, 10))
    assert latency.sum() == 4
    spikes = ConstantCurrentLIFEncoder(10)(currents)
    np.testing.assert_array_equal(SpikeLatencyEncoder()(spikes), spike_latency_encode(spikes))
    codes = PopulationEncoder(3)(jnp.array([0.0, 0.5, 1.0]))
    np.testing.assert_allclose(codes, [[1, 0.8825, 0.6065], [0.8825, 1, 0.8825], [0.6065, 0.8825, 1]], atol=1e-4)
    np.testing.assert_allclose(
        PopulationEncoder(4, scale=2.0)(X), population_encode(X, 4, scale=2.0), rtol=1e-6
    )


BAD = [
    (lambda: PoissonEncoder(0), ValueError, r"seq_length must be an int >= 1, got 0"),
    (lambda: PoissonEncoder(10, f_max=-1.0), ValueError, r"f_max must be non-negative, got -1.0"),
    (lambda: PoissonEncoder(10, dt=0.0), ValueError, r"dt must be positive, got 0.0"),
    (lambda: PoissonEncoder(10, rng_collection=""), TypeError, r"rng_collection must be a non-empty string"),
    (lambda: PoissonEncoderStep(f_max=-2.0), ValueError, r"f_max must be non-negative"),
    (lambda: SignedPoissonEncoder(2.5), TypeError, r"seq_length must be a Python int"),
    (lambda: HomogeneousPoissonEncoder(10, 0.0, 10.0), ValueError, r"step_time must be positive, got 0.0"),
    (lambda: HomogeneousPoissonEncoder(10, 1.0, -10.0), ValueError, r"frequency must be non-negative"),
    (lambda: HomogeneousPoissonEncoder(10, 1.0, 10.0, refrac=-1.0), ValueError, r"refrac must be non-negative"),
    (lambda: ConstantCurrentLIFEncoder(0), ValueError, r"seq_length must be an int >= 1"),
    (lambda: ConstantCurrentLIFEncoder(5, p="lif"), TypeError, r"p must be a LIFParameters, got str"),
    (lambda: SpikeLatencyLIFEncoder(5, dt=-1.0), ValueError, r"dt must be positive"),
    (lambda: PopulationEncoder(0), ValueError, r"out_features must be an int >= 1, got 0"),
    (lambda: PopulationEncoder(3, scale=0.0), ValueError, r"scale must be positive, got 0.0"),
    (lambda: PopulationEncoder(3, kernel=None), TypeError, r"kernel must be callable, got NoneType"),
    (lambda: PoissonEncoder(10)(X, 7), TypeError, r"key must be one jax.random key.*got int 7"),
    (lambda: SpikeLatencyEncoder()(jnp.float32(1.0)), ValueError, r"input_spikes must have at least rank 1"),
]


@pytest.mark.parametrize("call, error, message", BAD, ids=[m[:40] for _, _, m in BAD])
def test_bad_configuration_raises_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


# --- every option reaches the functional encoder (issue 14) --------------------------------------

OPTIONS = [
    # Each option at a value where it changes the spikes, compared with the functional call.
    (lambda: PoissonEncoder(40, f_max=300.0, dt=2e-3), lambda k, x: poisson_encode(k, x, 40, 300.0, 2e-3)),
    (lambda: SignedPoissonEncoder(40, f_max=300.0, dt=2e-3), lambda k, x: signed_poisson_encode(k, x, 40, 300.0, 2e-3)),
    (lambda: PoissonEncoderStep(f_max=300.0, dt=2e-3), lambda k, x: poisson_encode_step(k, x, 300.0, 2e-3)),
    (lambda: SignedPoissonEncoderStep(f_max=300.0, dt=2e-3), lambda k, x: signed_poisson_encode_step(k, x, 300.0, 2e-3)),
    (
        lambda: HomogeneousPoissonEncoder(60, 0.5, 300.0, refrac=2.0, compensate=False),
        lambda k, x: homogeneous_poisson_encode(k, x, 60, 0.5, 300.0, refrac=2.0, compensate=False),
    ),
]


@pytest.mark.parametrize("make, functional", OPTIONS, ids=lambda f: "")
def test_random_encoder_options_reach_the_functional_encoder(make, functional):
    x = jnp.full((2, 64), 0.5)
    expected = functional(KEY, x)
    np.testing.assert_array_equal(make()(x, KEY), expected)
    # The defaults give other spikes: the test would notice an option that is dropped.
    default = type(make())
    args = (60, 0.5, 300.0) if default is HomogeneousPoissonEncoder else (40,) if "Step" not in default.__name__ else ()
    assert not np.array_equal(default(*args)(x, KEY), expected)


def test_current_encoder_modules_pass_p_and_dt():
    currents = jnp.array([[0.5, 2.0, 4.0, 8.0]])
    p = LIFParameters(tau_mem_inv=40.0, v_leak=0.2, v_reset=-0.1, v_th=0.6)
    for module, functional in (
        (ConstantCurrentLIFEncoder, constant_current_lif_encode),
        (SpikeLatencyLIFEncoder, spike_latency_lif_encode),
    ):
        expected = functional(currents, 30, p, 3e-3)
        np.testing.assert_array_equal(module(30, p, dt=3e-3)(currents), expected)
        assert not np.array_equal(module(30, p)(currents), expected)          # dt shows
        assert not np.array_equal(module(30, dt=3e-3)(currents), expected)    # p shows
