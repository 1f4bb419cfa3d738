"""The fused Pallas kernel against the scan it replaces: in Pallas' interpreter on CPU, compiled
(Triton) on a GPU, where the same tests check the real kernels.

Shapes are small and ragged on purpose: B * N = 260 neurons in blocks of 64 leave a padded
last block, and T = 20 with a checkpoint every 3 steps leaves a short last chunk. A short
``checkpoint_every`` also keeps the interpreter's compile time down.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from spikejax.functional import (
    ALIFParameters,
    IAFParameters,
    LI_MODEL,
    LIF_MODEL,
    LIF_REFRAC_MODEL,
    LIFBoxParameters,
    LIFFeedForwardState,
    LIFParameters,
    LIParameters,
    LIState,
    LSNNParameters,
)
from spikejax.kernels import (
    alif_sequence,
    iaf_sequence,
    li_sequence,
    lif_box_sequence,
    lif_sequence,
    lsnn_sequence,
    neuron_sequence,
    select_implementation,
)

T, B, N, BLOCK, EVERY = 20, 2, 130, 64, 3
KERNEL = dict(implementation="pallas", block=BLOCK, checkpoint_every=EVERY)


def _inputs(scale=0.6):
    # NumPy's generator: eager jax.random calls would each compile, a few seconds in all.
    rng = np.random.default_rng(0)
    xs = jnp.asarray(rng.uniform(0.0, scale, (T, B, N)), jnp.float32)
    state = LIFFeedForwardState(
        v=jnp.asarray(rng.uniform(0.0, 0.9, (B, N)), jnp.float32),
        i=jnp.asarray(rng.uniform(0.0, 1.0, (B, N)), jnp.float32),
    )
    weights = jnp.asarray(rng.normal(size=(T, B, N)), jnp.float32)
    return xs, state, weights


def _relative_error(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.max(np.abs(a - b)) / np.max(np.abs(a))


def test_forward_spikes_equal_and_states_close():
    xs, state, _ = _inputs()
    z_scan, s_scan = jax.jit(lambda x, s: lif_sequence(x, s, implementation="scan"))(xs, state)
    z_kernel, s_kernel = jax.jit(lambda x, s: lif_sequence(x, s, **KERNEL))(xs, state)
    assert 50 < float(z_scan.sum()) < xs.size / 2  # the comparison means something
    np.testing.assert_array_equal(z_kernel, z_scan)
    assert isinstance(s_kernel, LIFFeedForwardState)
    np.testing.assert_allclose(s_kernel.v, s_scan.v, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(s_kernel.i, s_scan.i, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("method", ["super", "tanh"])
def test_gradients_equal_the_scan(method):
    xs, state, weights = _inputs()
    p = LIFParameters(method=method, alpha=100.0 if method == "super" else 2.0)

    def loss(xs, state, detach_reset, options):
        z, final = lif_sequence(xs, state, p, detach_reset=detach_reset, **options)
        return jnp.sum(weights * z) + jnp.sum(final.v), z

    @jax.jit  # one compilation for the four cases keeps the interpreter's cost down
    def run(xs, state):
        return {
            (detach, impl): jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(
                xs, state, detach, options
            )
            for detach in (False, True)
            for impl, options in (("scan", dict(implementation="scan")), ("pallas", KERNEL))
        }

    results = run(xs, state)
    for detach in (False, True):
        (_, z_scan), g_scan = results[detach, "scan"]
        (_, z_kernel), g_kernel = results[detach, "pallas"]
        np.testing.assert_array_equal(z_kernel, z_scan)
        for expected, got in zip(jax.tree_util.tree_leaves(g_scan), jax.tree_util.tree_leaves(g_kernel)):
            assert np.max(np.abs(expected)) > 1e-3  # a gradient that is there
            assert _relative_error(expected, got) < 1e-5, (detach, _relative_error(expected, got))
    # The detached reset changes the gradient: both cases are exercised.
    assert _relative_error(results[False, "scan"][1][0], results[True, "scan"][1][0]) > 1e-3


def test_parameter_and_dt_gradients_equal_the_scan():
    xs, state, weights = _inputs()

    def loss(params, implementation):
        v_th, tau_mem_inv, dt = params
        p = LIFParameters(v_th=v_th, tau_mem_inv=tau_mem_inv)
        options = KERNEL if implementation == "pallas" else dict(implementation="scan")
        z, final = lif_sequence(xs, state, p, dt, **options)
        return jnp.sum(weights * z) + jnp.sum(final.v) + jnp.sum(final.i)

    params = (jnp.full((N,), 1.0), jnp.asarray(100.0), jnp.asarray(1e-3))
    grad = jax.jit(jax.grad(loss), static_argnums=1)
    for expected, got in zip(grad(params, "scan"), grad(params, "pallas")):
        assert np.shape(expected) == np.shape(got)
        assert _relative_error(expected, got) < 1e-5


def test_other_models_match_their_scan():
    xs = _inputs()[0][:7]
    cases = [
        (li_sequence, LIParameters(), xs),
        (iaf_sequence, IAFParameters(v_th=jnp.linspace(0.5, 1.5, N)), xs),
        (lif_box_sequence, LIFBoxParameters(reset_mechanism="subtract"), 10 * xs),
    ]

    @jax.jit
    def run(xs):
        return [
            (fn(inputs, None, p, implementation="scan"),
             fn(inputs, None, p, implementation="pallas", block=256, checkpoint_every=4))
            for fn, p, inputs in cases
        ]

    for (out_scan, s_scan), (out_kernel, s_kernel) in run(xs):
        assert float(jnp.sum(out_scan)) > 0
        np.testing.assert_allclose(out_kernel, out_scan, rtol=1e-6, atol=1e-6)
        assert type(s_kernel) is type(s_scan)
        for a, b in zip(s_scan, s_kernel):
            np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-6)


def test_leaky_integrator_gradient_without_padding():
    xs, _, weights = _inputs()
    xs, weights = xs[:6, :, :64], weights[:6, :, :64]  # 128 neurons: two full blocks of 64
    state = LIState(v=jnp.full((B, 64), 0.2), i=jnp.zeros((B, 64)))

    def loss(xs, state, implementation):
        options = dict(block=BLOCK, checkpoint_every=4) if implementation == "pallas" else {}
        v, final = li_sequence(xs, state, implementation=implementation, **options)
        return jnp.sum(weights * v) + jnp.sum(final.i)

    grad = jax.jit(jax.grad(loss, argnums=(0, 1)), static_argnums=2)
    for expected, got in zip(jax.tree_util.tree_leaves(grad(xs, state, "scan")),
                             jax.tree_util.tree_leaves(grad(xs, state, "pallas"))):
        assert _relative_error(expected, got) < 1e-5


def test_scalar_initial_state_is_broadcast():
    xs = _inputs()[0][:4]
    state = LIFFeedForwardState(v=0.5, i=jnp.asarray(0.1))
    full = LIFFeedForwardState(v=jnp.full((B, N), 0.5), i=jnp.full((B, N), 0.1))
    z, final = lif_sequence(xs, state, implementation="scan")
    z_full, final_full = lif_sequence(xs, full, implementation="scan")
    np.testing.assert_array_equal(z, z_full)
    np.testing.assert_array_equal(final.v, final_full.v)


def test_bfloat16_runs_without_nan():
    xs, _, _ = _inputs()
    z, state = lif_sequence(xs[:5].astype(jnp.bfloat16), **dict(KERNEL, checkpoint_every=5))
    assert z.dtype == jnp.bfloat16 and state.v.dtype == jnp.bfloat16
    assert not np.any(np.isnan(np.asarray(state.v, np.float32)))


@pytest.mark.parametrize(
    "fn, p, options",
    [
        (lif_sequence, lambda th: LIFParameters(v_th=th), {}),
        (lif_sequence, lambda th: LIFParameters(v_th=th, method="tanh"), {"detach_reset": True}),
        (li_sequence, lambda th: LIParameters(v_leak=th), {}),
        (iaf_sequence, lambda th: IAFParameters(v_th=th), {}),
        (lif_box_sequence, lambda th: LIFBoxParameters(v_th=th, reset_mechanism="subtract"), {}),
        (lsnn_sequence, lambda th: LSNNParameters(v_th=th), {}),
        (alif_sequence, lambda th: ALIFParameters(v_th=th - 53.0, tc_membrane=th + 99.0), {}),
    ],
)
def test_kernels_lower_to_triton_for_cuda(monkeypatch, fn, p, options):
    """Without a GPU, lower (not compile) the forward and backward kernels for CUDA at the
    benchmark's shape: this runs Pallas' Triton lowering of every primitive the step uses."""
    from jax import export

    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    n = 1024

    def grad(xs, th):
        def loss(xs, th):
            out, state = fn(xs, None, p(th), implementation="pallas", interpret=False, **options)
            return jnp.sum(out) + sum(jnp.sum(leaf) for leaf in state)

        return jax.grad(loss, (0, 1))(xs, th)

    args = (jax.ShapeDtypeStruct((500, 16, n), jnp.float32), jax.ShapeDtypeStruct((n,), jnp.float32))
    checks = [export.DisabledSafetyCheck.custom_call("__gpu$xla.gpu.triton")]
    module = export.export(jax.jit(grad), platforms=["cuda"], disabled_checks=checks)(*args)
    assert module.mlir_module().count("__gpu$xla.gpu.triton") == 2  # forward and backward


ON_CPU = jax.default_backend() == "cpu"


def _abstract_gpu():
    from jax.sharding import AbstractDevice, AbstractMesh, use_abstract_mesh

    h100 = AbstractDevice(device_kind="NVIDIA H100 80GB HBM3", platform="gpu", num_cores=132)
    return use_abstract_mesh(AbstractMesh((), (), abstract_device=h100))


@pytest.mark.skipif(not ON_CPU, reason="checks the CPU's choice")
def test_auto_picks_the_scan_on_cpu():
    xs, state, _ = _inputs()
    assert select_implementation(LIF_MODEL, xs) == "scan"
    z_auto, s_auto = lif_sequence(xs, state)
    z_scan, s_scan = lif_sequence(xs, state, implementation="scan")
    np.testing.assert_array_equal(z_auto, z_scan)
    np.testing.assert_array_equal(s_auto.v, s_scan.v)
    # No kernel is traced: the jaxpr of the auto path has no pallas_call.
    assert "pallas_call" not in str(jax.make_jaxpr(lambda x: lif_sequence(x, state))(xs))
    assert "pallas_call" in str(jax.make_jaxpr(lambda x: lif_sequence(x, state, **KERNEL))(xs))
    # Compiling for a GPU (an abstract one: the kernel is lowered for CUDA, not run).
    with _abstract_gpu():
        assert select_implementation(LIF_MODEL, xs) == "pallas"
        assert select_implementation(LIF_MODEL, xs.astype(jnp.bfloat16)) == "pallas"
        with jax.enable_x64(True):
            assert select_implementation(LIF_MODEL, xs.astype(jnp.float64)) == "scan"
        assert select_implementation(LIF_REFRAC_MODEL, xs) == "scan"
        assert select_implementation(LIF_MODEL, xs, "scan") == "scan"


def test_the_scan_path_takes_any_model_and_the_kernel_only_fused_ones():
    xs = jnp.ones((3, 2, 4))
    outputs, _ = neuron_sequence(LIF_REFRAC_MODEL, xs)
    assert outputs.shape == (3, 2, 4)
    with pytest.raises(ValueError, match=r"no kernel for the LIFRefrac model"):
        neuron_sequence(LIF_REFRAC_MODEL, xs, implementation="pallas")


def _with_x64(call):
    with jax.enable_x64(True):
        return call()


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: lif_sequence(jnp.ones((3, 4))[0]), ValueError, r"currents must have at least rank 2"),
        (lambda: lif_sequence([[1.0]]), TypeError, r"currents must be an array"),
        (lambda: lif_sequence(jnp.ones((3, 2), jnp.int32)), TypeError, r"floating dtype, got int32"),
        (lambda: lif_sequence(jnp.ones((0, 2, 3))), ValueError, r"empty time axis"),
        (lambda: lif_sequence(jnp.ones((3, 2)), p=LIParameters()), TypeError, r"p must be a LIFParameters"),
        (lambda: lif_sequence(jnp.ones((3, 2)), dt=-1.0), ValueError, r"dt must be positive"),
        (lambda: lif_sequence(jnp.ones((3, 2)), implementation="cuda"), ValueError,
         r"implementation must be one of \('auto', 'pallas', 'scan'\), got 'cuda'"),
        (lambda: lif_sequence(jnp.ones((3, 2)), block=100), ValueError, r"block must be a power of two"),
        (lambda: lif_sequence(jnp.ones((3, 2)), block=0), ValueError, r"block must be an int >= 1"),
        (lambda: lif_sequence(jnp.ones((3, 2)), block=64.0), TypeError, r"block must be a Python int"),
        (lambda: lif_sequence(jnp.ones((3, 2)), checkpoint_every=0), ValueError,
         r"checkpoint_every must be an int >= 1"),
        (lambda: lif_sequence(jnp.ones((3, 2)), interpret="yes"), TypeError, r"interpret must be a bool"),
        (lambda: lif_sequence(jnp.ones((3, 2)), detach_reset=None), TypeError, r"detach_reset must be a bool"),
        (lambda: neuron_sequence(LI_MODEL, jnp.ones((3, 2)), detach_reset=True), TypeError,
         r"detach_reset is not an option of the LI model's feed_forward_step; expected some of \[\]"),
        (lambda: lif_sequence(jnp.ones((3, 2, 4)), LIState(jnp.zeros((2, 4)), jnp.zeros((2, 4)))),
         TypeError, r"state0 must be a LIFFeedForwardState"),
        (lambda: lif_sequence(jnp.ones((3, 2, 4)), LIFFeedForwardState(jnp.zeros((2, 5)), jnp.zeros((2, 4)))),
         ValueError, r"state0.v has shape \(2, 5\), expected \(2, 4\)"),
        (lambda: lif_sequence(jnp.ones((3, 2, 4)), p=LIFParameters(v_th=jnp.ones(3)), **KERNEL),
         ValueError, r"p.v_th has shape \(3,\), which does not broadcast to the neurons \(2, 4\)"),
        (lambda: lif_sequence(jnp.ones((3, 2, 4)), p=LIFParameters(v_th=jnp.ones((3, 1, 1))), **KERNEL),
         ValueError, r"p.v_th has shape \(3, 1, 1\), which would broadcast the neurons"),
        (lambda: lif_sequence(jnp.ones((3, 2, 0)), implementation="pallas"), ValueError, r"no neurons"),
        (lambda: _with_x64(lambda: lif_sequence(jnp.ones((3, 2), jnp.float64), implementation="pallas")),
         TypeError, r"float32, bfloat16 or float16 for implementation='pallas', got float64"),
        (lambda: lif_sequence(jnp.ones((3, 2)), implementation="pallas", interpret=False), ValueError,
         r"interpret=False compiles the kernel for a GPU, but the default backend is 'cpu'"),
    ],
)
def test_bad_arguments_raise_clear_errors(call, error, message):
    if "default backend is 'cpu'" in message and not ON_CPU:
        pytest.skip("a GPU compiles the kernel")
    with pytest.raises(error, match=message):
        call()
