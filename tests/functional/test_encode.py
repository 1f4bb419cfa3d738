import jax
import jax.numpy as jnp
import numpy as np
import pytest

from spikejax.functional import (
    LIFParameters,
    constant_current_lif_encode,
    delta_encode,
    euclidean_distance,
    gaussian_rbf,
    homogeneous_poisson_encode,
    latency_code,
    latency_encode,
    lif_current_encoder,
    poisson_encode,
    poisson_encode_step,
    population_encode,
    signed_poisson_encode,
    signed_poisson_encode_step,
    spike_latency_encode,
    spike_latency_lif_encode,
)

KEY = jax.random.key(0)
STEPS = 10_000


def f32(a):
    return jnp.asarray(a, jnp.float32)


# --- population codes -------------------------------------------------------------------------


def test_population_values_from_norse_docs():
    codes = population_encode(jnp.array([0.0, 0.5, 1.0]), out_features=3)
    expected = [[1, 0.8825, 0.6065], [0.8825, 1, 0.8825], [0.6065, 0.8825, 1]]
    np.testing.assert_allclose(codes, expected, atol=1e-4)


def test_population_equals_norse(reference):
    ref = reference("norse_encode")["population"]
    x = f32(ref["x"])
    np.testing.assert_allclose(population_encode(x, 5), ref["default_f5"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(population_encode(x, 4, scale=3.0), ref["scale3_f4"], rtol=1e-5, atol=1e-6)


def test_population_per_sample_scale_kernel_and_jit():
    x = jnp.array([[0.2, 1.0], [1.0, 4.0]])
    scale = jnp.array([[1.0], [4.0]])                       # one scale per row
    codes = jax.jit(lambda x, s: population_encode(x, 3, s))(x, scale)
    assert codes.shape == (2, 2, 3)
    np.testing.assert_allclose(codes[1], population_encode(x[1], 3, scale=4.0), rtol=1e-6)
    np.testing.assert_allclose(codes[0], population_encode(x[0], 3, scale=1.0), rtol=1e-6)
    wide = population_encode(x, 3, 4.0, kernel=lambda d: gaussian_rbf(d, sigma=2.0))
    distance = euclidean_distance(x[..., None], jnp.array([0.0, 2, 4]))
    np.testing.assert_allclose(wide, jnp.exp(-distance * 4 / 8), rtol=1e-6)


# --- constant-current LIF encoders ------------------------------------------------------------

CURRENT_TRACE = [0.1, 0.19, 0.271, 0.3439, 0.4095, 0.4686, 0.5217, 0.5695, 0.6126, 0.6513]


def test_current_encoder_trace_and_norse_example():
    v, trace = jnp.zeros(3), []
    for _ in range(10):
        z, v = lif_current_encoder(jnp.ones(3), v)
        assert not np.any(z)
        trace.append(v[0])
    np.testing.assert_allclose(trace, CURRENT_TRACE, atol=1e-4)
    spikes = constant_current_lif_encode(jnp.array([2, 4, 8, 16]), seq_length=2)  # ints accepted
    np.testing.assert_array_equal(spikes, [[0, 0, 0, 1], [0, 0, 1, 1]])


def test_current_encoders_equal_norse(reference):
    ref = reference("norse_encode")["current"]
    x = f32(ref["x"])
    p = LIFParameters(alpha=1.0)  # Norse 1.1's SuperSpike ignores alpha (see test_lif.py)

    T = ref["z"].shape[0]

    def loss(x):
        def step(v, _):
            z, v = lif_current_encoder(x, v, p)
            return v, (z, v)

        zs, vs = jax.lax.scan(step, jnp.zeros_like(x), None, length=T)[1]
        return jnp.sum(zs) + jnp.sum(vs), (zs, vs)

    (_, (zs, vs)), grad = jax.jit(jax.value_and_grad(loss, has_aux=True))(x)
    assert ref["z"].sum() > 20
    np.testing.assert_array_equal(zs, ref["z"])
    np.testing.assert_allclose(vs, ref["v"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad, ref["grad_x"], rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(constant_current_lif_encode(x, T, p), ref["constant_current"])
    np.testing.assert_array_equal(jax.jit(lambda x: spike_latency_lif_encode(x, T, p))(x), ref["spike_latency_lif"])
    grad_seq = jax.grad(lambda x: jnp.sum(constant_current_lif_encode(x, T, p)))(x)
    assert np.all(np.isfinite(grad_seq)) and np.any(grad_seq != 0)


def test_spike_latency_encode_keeps_first_spike(reference):
    np.testing.assert_array_equal(
        spike_latency_encode(jnp.array([[0, 1, 1], [1, 1, 1]])), [[0, 1, 1], [1, 0, 0]]
    )
    ref = reference("norse_encode")["decode"]
    np.testing.assert_array_equal(spike_latency_encode(f32(ref["spikes"])), ref["spike_latency"])


# --- Poisson encoders: rates, refractory periods, keys -----------------------------------------

RATES = jnp.array([0.1, 0.5, 1.0])


def assert_rate(spikes, expected, se):
    """Pooled rate per input level (last axis) within 3 standard errors of ``expected``."""
    measured = np.asarray(spikes, np.float64).reshape(STEPS, -1, len(expected)).mean(axis=(0, 1))
    z = (measured - expected) / se
    assert np.all(np.abs(z) < 3), (measured, expected, z)


def test_poisson_rate_within_three_standard_errors():
    inputs = jnp.tile(RATES, (4, 1))                        # 4 neurons per rate
    spikes = poisson_encode(KEY, inputs, STEPS, f_max=100.0, dt=1e-3)
    assert spikes.shape == (STEPS, 4, 3) and spikes.dtype == jnp.float32
    p = np.asarray(RATES) * 0.1                              # spikes per step
    assert_rate(spikes, p, np.sqrt(p * (1 - p) / (STEPS * 4)))
    signed = signed_poisson_encode(jax.random.key(1), jnp.concatenate([inputs, -inputs]), STEPS)
    assert set(np.unique(signed[:, 4:])) == {-1.0, 0.0}
    assert_rate(signed[:, :4], p, np.sqrt(p * (1 - p) / (STEPS * 4)))
    assert_rate(-signed[:, 4:], p, np.sqrt(p * (1 - p) / (STEPS * 4)))


@pytest.mark.parametrize("refrac, compensate", [(None, True), (5.0, True), (5.0, False)])
def test_homogeneous_poisson_rate(refrac, compensate):
    inputs = jnp.tile(RATES, (4, 1))
    spikes = homogeneous_poisson_encode(KEY, inputs, STEPS, 1.0, 100.0, refrac=refrac, compensate=compensate)
    assert spikes.shape == (STEPS, 4, 3)
    steps = 1 if refrac is None else 5
    lam = np.asarray(RATES) * 0.1                            # requested spikes per step
    # Renewal process: intervals steps + scale * Exp(1); count variance T * var / mean^3.
    mean = 1 / lam if compensate else 1 / lam + steps
    scale = mean - steps
    expected = 1 / mean
    if not compensate:
        np.testing.assert_allclose(expected, lam / (1 + lam * steps))  # f / (1 + f refrac)
        assert expected[-1] < 0.07                           # visibly below the requested 0.1
    assert_rate(spikes, expected, np.sqrt(scale**2 / mean**3 / (STEPS * 4)))
    gaps = [np.diff(np.flatnonzero(train)) for train in np.asarray(spikes).reshape(STEPS, -1).T]
    assert min(g.min() for g in gaps) == steps               # refrac is reached, never undercut


# 1.2 ms at 0.5 ms steps is 2.4 steps, rounded up to 3 (1.5 ms): spikes never closer than 1.2 ms.
HOMOGENEOUS = dict(steps=2000, step_time=0.5, frequency=400.0, refrac=1.2)


def test_no_two_spikes_closer_than_refrac():
    spikes = homogeneous_poisson_encode(KEY, jnp.ones((2, 8)), **HOMOGENEOUS)
    trains = np.asarray(spikes).reshape(2000, -1).T
    gaps = np.concatenate([np.diff(np.flatnonzero(t)) for t in trains]) * HOMOGENEOUS["step_time"]
    assert gaps.min() == 1.5 >= HOMOGENEOUS["refrac"]
    # Compensated: still 400 Hz, i.e. 0.2 spikes per 0.5 ms step (uncompensated: 0.2 / 1.6).
    assert abs(spikes.mean() - 0.2) < 0.01


ENCODERS = {
    "poisson": lambda k: poisson_encode(k, jnp.full((2, 8), 0.5), 50),
    "poisson_step": lambda k: poisson_encode_step(k, jnp.full((2, 64), 0.5)),
    "signed": lambda k: signed_poisson_encode(k, jnp.full((2, 8), -0.5), 50),
    "signed_step": lambda k: signed_poisson_encode_step(k, jnp.full((2, 64), 0.5)),
    "homogeneous": lambda k: homogeneous_poisson_encode(k, jnp.full((2, 8), 0.5), **HOMOGENEOUS),
}


@pytest.mark.parametrize("name", list(ENCODERS))
def test_same_key_same_spikes_different_key_different_spikes(name):
    encode = ENCODERS[name]
    a, b = encode(jax.random.key(3)), encode(jax.random.key(3))
    c = encode(jax.random.key(4))
    assert np.abs(a).sum() > 0
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_raw_keys_vmap_over_keys_and_bfloat16():
    encode = ENCODERS["poisson"]
    raw = jax.random.split(jax.random.PRNGKey(3), 3)         # (3, 2) uint32 keys
    spikes = jax.vmap(encode)(raw)
    assert spikes.shape == (3, 50, 2, 8)
    np.testing.assert_array_equal(spikes[1], encode(jax.random.wrap_key_data(raw[1])))
    assert not np.array_equal(spikes[0], spikes[1])
    low = poisson_encode(KEY, jnp.full((2, 8), 0.5, jnp.bfloat16), 50)
    assert low.dtype == jnp.bfloat16
    np.testing.assert_array_equal(low, encode(KEY))           # float32 uniforms either way
    codes = population_encode(jnp.array([0.0, 0.5, 1.0], jnp.bfloat16), 3)
    assert codes.dtype == jnp.bfloat16
    exact = population_encode(jnp.array([0.0, 0.5, 1.0]), 3)
    np.testing.assert_allclose(np.asarray(codes, np.float32), exact, atol=1e-2)


# --- latency and delta codes (snnTorch) -------------------------------------------------------

LATENCY_CONFIGS = {
    "log_norm": dict(num_steps=10, normalize=True),
    "linear_norm": dict(num_steps=10, normalize=True, method="linear"),
    "log_tau5": dict(num_steps=25, tau=5),
    "linear_tau5_clip": dict(num_steps=8, tau=5, method="linear", threshold=0.1, clip=True),
    "log_first2_clip": dict(num_steps=12, normalize=True, first_spike_time=2, clip=True),
    "linear_targets": dict(num_steps=6, method="linear", normalize=True, on_target=2.0, off_target=0.5),
}


@pytest.mark.parametrize("name", list(LATENCY_CONFIGS))
def test_latency_equals_snntorch(reference, name):
    ref = reference("norse_encode")["latency"]
    config = LATENCY_CONFIGS[name]
    x = f32(ref["x"])
    code = {k: v for k, v in config.items() if k not in ("clip", "on_target", "off_target")}
    np.testing.assert_allclose(latency_code(x, **code), ref[name]["times"], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(latency_encode(x, **config), ref[name]["spikes"])


def test_latency_snntorch_example_and_first_spike_order():
    spikes = latency_encode(jnp.array([0.02, 0.5, 1.0]), 5, method="linear", normalize=True)
    np.testing.assert_array_equal(
        spikes, [[0, 0, 1], [0, 0, 0], [0, 1, 0], [0, 0, 0], [1, 0, 0]]
    )
    # The log code saturates: bright inputs all spike early, the dimmest at the last step.
    first = np.argmax(np.asarray(latency_encode(jnp.linspace(0.05, 1, 6), 20, normalize=True)), axis=0)
    np.testing.assert_array_equal(first, [19, 4, 2, 1, 1, 1])


def test_delta_equals_snntorch(reference):
    np.testing.assert_array_equal(delta_encode(jnp.array([1.0, 2, 2.9, 3, 3.9]), 1.0), [1, 1, 0, 0, 0])
    np.testing.assert_array_equal(
        delta_encode(jnp.array([1.0, 2, 0, 2, 2.9]), 1.0, padding=True, off_spike=True), [0, 1, -1, 1, 0]
    )
    ref = reference("norse_encode")["delta"]
    for padding in (False, True):
        for off in (False, True):
            out = delta_encode(f32(ref["x"]), 0.2, padding=padding, off_spike=off)
            np.testing.assert_array_equal(out, ref[f"p{int(padding)}_o{int(off)}"])


# --- validation -------------------------------------------------------------------------------

X = jnp.full((2, 3), 0.5)
BAD_CALLS = [
    (lambda: poisson_encode(0, X, 10), TypeError, r"key must be one jax.random key.*got int 0"),
    (lambda: poisson_encode(jax.random.split(KEY, 2), X, 10), TypeError, r"key must be one .*shape \(2,\)"),
    (lambda: poisson_encode(KEY, [0.5], 10), TypeError, r"input_values must be an array, got list"),
    (lambda: poisson_encode(KEY, X, 0), ValueError, r"seq_length must be an int >= 1, got 0"),
    (lambda: poisson_encode(KEY, X, 2.5), TypeError, r"seq_length must be a Python int .*float 2.5"),
    (lambda: poisson_encode(KEY, X, 10, f_max=-1.0), ValueError, r"f_max must be non-negative, got -1.0"),
    (lambda: poisson_encode(KEY, X, 10, dt=0.0), ValueError, r"dt must be positive, got 0.0"),
    (lambda: poisson_encode_step(KEY, X, dt=-1e-3), ValueError, r"dt must be positive"),
    (lambda: signed_poisson_encode(KEY, X, True), TypeError, r"seq_length must be a Python int"),
    (lambda: signed_poisson_encode_step(KEY, X, f_max=-5.0), ValueError, r"f_max must be non-negative"),
    (lambda: homogeneous_poisson_encode(KEY, X, 0, 1.0, 10.0), ValueError, r"steps must be an int >= 1"),
    (lambda: homogeneous_poisson_encode(KEY, X, 10, 0.0, 10.0), ValueError, r"step_time must be positive, got 0.0"),
    (lambda: homogeneous_poisson_encode(KEY, X, 10, 1.0, -1.0), ValueError, r"frequency must be non-negative"),
    (lambda: homogeneous_poisson_encode(KEY, -X, 10, 1.0, 1.0), ValueError, r"input_values must be non-negative"),
    (lambda: homogeneous_poisson_encode(KEY, X, 10, 1.0, 1.0, refrac=-1.0), ValueError, r"refrac must be non-negative"),
    (
        lambda: homogeneous_poisson_encode(KEY, X, 10, 1.0, 400.0, refrac=5.0),
        ValueError,
        r"frequency \* input_values \* refrac must be below 1000 .*got a rate of 200.0 Hz and refrac 5.0 ms",
    ),
    (lambda: lif_current_encoder(X, jnp.zeros(3)), ValueError, r"voltage has shape \(3,\), expected \(2, 3\)"),
    (lambda: lif_current_encoder(X, jnp.zeros_like(X), dt=0.0), ValueError, r"dt must be positive"),
    (lambda: constant_current_lif_encode(X, -1), ValueError, r"seq_length must be an int >= 1, got -1"),
    (lambda: spike_latency_lif_encode(X, 0), ValueError, r"seq_length must be an int >= 1"),
    (
        lambda: spike_latency_encode(jnp.float32(1.0)),
        ValueError,
        r"input_spikes must have at least rank 1 .*\(T, \.\.\.\), got shape \(\) \(rank 0\)",
    ),
    (lambda: latency_encode(X, 5, method="exp"), ValueError, r"method must be one of \('log', 'linear'\), got 'exp'"),
    (lambda: latency_encode(X, 0), ValueError, r"num_steps must be an int >= 1, got 0"),
    (lambda: latency_encode(X, 5, tau=0.0), ValueError, r"tau must be positive, got 0.0"),
    (lambda: latency_encode(X, 5, threshold=1.0), ValueError, r"threshold must lie in \(0, 1\) \(exclusive\), got 1.0"),
    (lambda: latency_encode(X * 3, 5), ValueError, r"input_values must lie in \[0.0, 1.0\], got values in \[1.5, 1.5\]"),
    (lambda: latency_code(X, 5, first_spike_time=5), ValueError, r"first_spike_time must be <= num_steps - 1 = 4, got 5"),
    (lambda: population_encode(X, 0), ValueError, r"out_features must be an int >= 1, got 0"),
    (lambda: population_encode(X, 3, scale=-1.0), ValueError, r"scale must be positive, got -1.0"),
    (
        lambda: population_encode(X, 3, scale=jnp.ones(4)),
        ValueError,
        r"scale has shape \(4,\), expected a shape broadcastable to \(2, 3\)",
    ),
    (lambda: population_encode(X, 3, kernel="gauss"), TypeError, r"kernel must be callable, got str"),
    (lambda: gaussian_rbf(X, sigma=0.0), ValueError, r"sigma must be positive, got 0.0"),
    (lambda: delta_encode(jnp.float32(1.0)), ValueError, r"data must have at least rank 1 with layout \(T, \.\.\.\)"),
    (lambda: delta_encode(X, threshold=-0.1), ValueError, r"threshold must be non-negative, got -0.1"),
]


@pytest.mark.parametrize("call, error, message", BAD_CALLS, ids=[m[:40] for _, _, m in BAD_CALLS])
def test_bad_arguments_raise_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


# --- every option at a value other than its default, against numpy (issue 14) ------------------


def test_poisson_rates_follow_dt_and_f_max():
    # Before, poisson_encode ignoring dt left every test green (rates were tested at dt = 1e-3).
    inputs = jnp.tile(RATES, (4, 1))
    for dt, f_max in ((2e-3, 100.0), (1e-3, 250.0), (4e-4, 1000.0)):
        p = np.asarray(RATES) * f_max * dt                    # 0.2, 0.25 and 0.4 for an input of 1
        se = np.sqrt(p * (1 - p) / (STEPS * 4))
        assert_rate(poisson_encode(KEY, inputs, STEPS, f_max=f_max, dt=dt), p, se)
        signed = signed_poisson_encode(jax.random.key(1), -inputs, STEPS, f_max=f_max, dt=dt)
        assert_rate(-signed, p, se)
    # The one-step encoders: STEPS independent draws of one step each.
    wide = jnp.tile(RATES, (STEPS, 1))                        # (STEPS, 3): one step, many neurons
    p = np.asarray(RATES) * 400.0 * 5e-4
    se = np.sqrt(p * (1 - p) / STEPS)
    assert_rate(poisson_encode_step(KEY, wide, f_max=400.0, dt=5e-4)[:, None], p, se * 2)
    assert_rate(-signed_poisson_encode_step(KEY, -wide, f_max=400.0, dt=5e-4)[:, None], p, se * 2)


def np_constant_current(x, steps, p, dt):
    """Norse's constant-current encoder by hand, in float64."""
    v, out = np.zeros_like(x, np.float64), []
    for _ in range(steps):
        v = v + dt * p.tau_mem_inv * ((p.v_leak - v) + x)
        z = (v - p.v_th > 0).astype(np.float64)
        v = v - z * (v - p.v_reset)
        out.append(z)
    return np.stack(out)


def test_constant_current_encoders_follow_every_parameter_and_dt():
    # v_leak = 0.3, v_reset = -0.2, v_th = 0.5, tau_mem_inv = 60 /s at dt = 2.5 ms: a leak, a
    # reset and a step that the default values (all 0 or 1, dt = 1 ms) would not show.
    p = LIFParameters(tau_mem_inv=60.0, v_leak=0.3, v_reset=-0.2, v_th=0.5)
    x = np.array([0.0, 0.4, 1.0, 3.0, 9.0])
    expected = np_constant_current(x, 40, p, 2.5e-3)
    assert 0 < expected.sum() < expected.size and expected[:, 0].sum() == 0
    spikes = constant_current_lif_encode(jnp.asarray(x, jnp.float32), 40, p, dt=2.5e-3)
    np.testing.assert_array_equal(spikes, expected)
    first = (np.cumsum(expected, axis=0) == 1) & (expected == 1)
    np.testing.assert_array_equal(spike_latency_lif_encode(jnp.asarray(x, jnp.float32), 40, p, 2.5e-3), first)
    assert not np.array_equal(expected, np_constant_current(x, 40, p, 1e-3))   # dt shows


def test_population_encode_uses_the_distance_function_and_kernel():
    x = np.array([0.0, 0.3, 1.0])
    absolute = lambda a, c: jnp.abs(a - c)
    codes = population_encode(jnp.asarray(x), 4, scale=2.0, distance_function=absolute,
                              kernel=lambda d: gaussian_rbf(d, sigma=0.5))
    centres = np.linspace(0.0, 1.0, 4) * 2.0
    expected = np.exp(-np.abs(x[:, None] - centres) * 2.0 / (2 * 0.5**2))
    np.testing.assert_allclose(codes, expected, rtol=1e-6)


def test_latency_epsilon_sets_the_time_of_inputs_at_the_threshold():
    x = np.array([0.01, 0.2, 0.0])                            # at, above and below threshold 0.01
    for epsilon in (1e-7, 1e-3):
        raised = np.maximum(x, 0.01 + epsilon)
        expected = 2.0 * np.log(raised / (raised - 0.01))
        # rtol 1e-3: float32 resolves x - threshold = 1e-7 to about 0.05 %; epsilon moves it 5-fold.
        np.testing.assert_allclose(latency_code(jnp.asarray(x), 30, tau=2.0, epsilon=epsilon), expected, rtol=1e-3)


def test_delta_threshold_is_inclusive_and_scales_with_its_value():
    data = np.array([[0.0], [0.25], [0.25], [0.75], [0.3]])
    for threshold in (0.25, 0.4):
        change = np.diff(data, axis=0, prepend=0.0)
        expected = (change >= threshold).astype(np.float32) - (change <= -threshold)
        np.testing.assert_array_equal(delta_encode(jnp.asarray(data), threshold, off_spike=True), expected)
