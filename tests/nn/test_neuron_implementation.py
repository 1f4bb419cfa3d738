"""The sequence modules' ``implementation`` option: the fused kernel (Pallas' interpreter on CPU)
against the scan, behind a Linear layer, through ``nnx.grad``; and what ``"auto"`` picks.

Interpreted kernels compile slowly, so shapes are tiny (T = 6 steps, 2 x 12 neurons in one
block) and each model compiles once, both implementations in one ``nnx.jit``; three of the six
models are marked slow.
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.sharding import AbstractDevice, AbstractMesh, use_abstract_mesh

from spikejax.functional import MODELS, LIFParameters
import spikejax.kernels._select as kernel_select
from spikejax.kernels import FUSED_MODELS, KernelFallbackWarning
from spikejax.nn import ALIF, LIF, LIFRefrac, LSNN, MODULES
from spikejax.nn._runner import takes_kernel

T, B, N_IN, N = 6, 2, 5, 12

# One learnable parameter per model, so that the kernel's parameter gradients are checked too.
LEARNABLE = {"LIF": "v_th", "LIFBox": "v_th", "IAF": "v_th", "LI": "tau_mem_inv",
             "LSNN": "v_th", "ALIF": "v_th"}


class Net(nnx.Module):
    """Linear (applied to all T * B steps at once) then a neuron sequence layer."""

    def __init__(self, model, implementation):
        self.linear = nnx.Linear(N_IN, N, rngs=nnx.Rngs(0))
        self.neurons = MODULES[model]["Layer"](
            learnable=(LEARNABLE[model],), implementation=implementation
        )

    def __call__(self, xs):
        out, state = self.neurons(self.linear(xs))
        return out, state


def _inputs(model):
    rng = np.random.default_rng(3)
    # ALIF's example drive makes it spike after ~40 steps; T is 6.
    drive = 500.0 if model == "ALIF" else MODELS[model].example_drive
    xs = jnp.asarray(rng.uniform(0.0, 3.0 * drive, (T, B, N_IN)), jnp.float32)
    return xs, jnp.asarray(rng.normal(size=(T, B, N)), jnp.float32)


def _relative_error(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.max(np.abs(a - b)) / max(np.max(np.abs(a)), 1e-30)


def test_the_kernel_models_are_the_checked_ones():
    assert set(LEARNABLE) == set(FUSED_MODELS)


# LIF, LSNN and LI (the three state layouts, spikes and membrane outputs) run by default; the
# others' kernels are checked against their scan in tests/kernels/, here they are slow.
SLOW = {"LIFBox", "IAF", "ALIF"}


@pytest.mark.parametrize(
    "model", [pytest.param(m, marks=[pytest.mark.slow] if m in SLOW else []) for m in sorted(LEARNABLE)]
)
def test_pallas_and_scan_give_the_same_outputs_and_gradients(model):
    xs, weights = _inputs(model)
    nets = {impl: Net(model, impl) for impl in ("scan", "pallas")}

    def loss(net, xs):
        out, state = net(xs)
        return jnp.sum(weights * out) + sum(jnp.sum(leaf) for leaf in state), out

    @nnx.jit
    def both(nets, xs):
        return {impl: nnx.grad(loss, argnums=(0, 1), has_aux=True)(net, xs)
                for impl, net in nets.items()}

    results = both(nets, xs)
    (g_net_scan, g_x_scan), out_scan = results["scan"]
    (g_net_kernel, g_x_kernel), out_kernel = results["pallas"]
    if MODELS[model].output_dtype_spikes:
        assert 0 < float(out_scan.sum()) < out_scan.size  # spikes and silences
    np.testing.assert_allclose(out_kernel, out_scan, rtol=1e-6, atol=1e-6)
    expected = {"input": g_x_scan, "kernel": g_net_scan.linear.kernel[...],
                "bias": g_net_scan.linear.bias[...],
                "neuron": getattr(g_net_scan.neurons, LEARNABLE[model])[...]}
    got = {"input": g_x_kernel, "kernel": g_net_kernel.linear.kernel[...],
           "bias": g_net_kernel.linear.bias[...],
           "neuron": getattr(g_net_kernel.neurons, LEARNABLE[model])[...]}
    for name in expected:
        assert np.max(np.abs(expected[name])) > 0, (model, name)
        assert _relative_error(expected[name], got[name]) < 1e-5, (model, name)


def test_constant_input_steps_and_a_given_state_match_the_scan():
    x = jnp.asarray(np.random.default_rng(4).uniform(0, 2, (B, N)), jnp.float32)
    _, state = LSNN()(x[None])
    z_scan, s_scan = LSNN(implementation="scan")(x, state, steps=T)
    z_kernel, s_kernel = LSNN(implementation="pallas")(x, state, steps=T)
    assert float(z_scan.sum()) > 0
    np.testing.assert_array_equal(z_kernel, z_scan)
    for a, b in zip(s_scan, s_kernel):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-6)


def _has_kernel(module, xs, **kwargs):
    return "pallas_call" in str(jax.make_jaxpr(lambda x: module(x, **kwargs))(xs))


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="checks the CPU's choice")
def test_auto_takes_the_scan_on_cpu_and_the_kernel_on_a_gpu(monkeypatch):
    xs = jnp.ones((T, B, N))
    layer = LIF()
    assert layer.implementation == "auto"
    assert not takes_kernel(layer.model, layer.implementation, xs)
    assert not _has_kernel(layer, xs)
    z_auto, s_auto = layer(xs)
    z_scan, s_scan = LIF(implementation="scan")(xs)
    np.testing.assert_array_equal(z_auto, z_scan)
    np.testing.assert_array_equal(s_auto.v, s_scan.v)
    # What "auto" traces when compiling for a GPU (tracing only: nothing is compiled here).
    # The choice alone: whether the kernel lowers is the next test's (it takes seconds each).
    monkeypatch.setattr(kernel_select, "lowering_error", lambda *args, **kwargs: None)
    with _abstract_gpu(), warnings.catch_warnings():
        warnings.simplefilter("error", KernelFallbackWarning)
        assert _has_kernel(LIF(), xs)
        assert _has_kernel(LIF(learnable=("v_th", "tau_mem_inv")), xs)
        assert not _has_kernel(LIF(implementation="scan"), xs)
        assert not _has_kernel(LIF(record_states=True), xs)  # every step's state: the scan
        assert not _has_kernel(LIF(), xs[0], steps=T)         # a constant input: the scan
        assert not _has_kernel(LIFRefrac(), xs)              # no kernel for the model
        assert _has_kernel(ALIF(), xs)
        with jax.enable_x64(True):
            assert not _has_kernel(LIF(), xs.astype(jnp.float64))


def _abstract_gpu():
    """Compile for an H100 from this machine: Pallas lowers the kernel for CUDA (no GPU needed)."""
    h100 = AbstractDevice(device_kind="NVIDIA H100 80GB HBM3", platform="gpu", num_cores=132)
    return use_abstract_mesh(AbstractMesh((), (), abstract_device=h100))


def _lgamma_surrogate(x, alpha):
    # Pallas' Triton lowering has no lgamma: a surrogate whose kernel cannot lower.
    return jnp.exp(-jax.lax.lgamma(1.0 + jnp.abs(alpha * x)))


def test_an_auto_layer_falls_back_to_the_scan_once_where_the_kernel_cannot_lower(monkeypatch):
    monkeypatch.setattr(kernel_select, "_WARNED", set())  # whatever other tests warned before
    xs = jnp.asarray(np.random.default_rng(5).uniform(0.0, 3.0, (T, B, N)), jnp.float32)
    p = LIFParameters(method=_lgamma_surrogate)
    layer = LIF(p)
    with _abstract_gpu():
        with pytest.warns(KernelFallbackWarning,
                          match=r"fused LIF kernel does not lower .*lgamma.*running the scan") as record:
            traced = jax.make_jaxpr(lambda x: layer(x))(xs)
        assert [w.filename for w in record] == [__file__]  # the line that called the layer
        with warnings.catch_warnings():  # once: the same model and reason warn no more
            warnings.simplefilter("error", KernelFallbackWarning)
            again = jax.make_jaxpr(lambda x: layer(x))(xs)
        # The same layer with a surrogate that lowers takes the kernel.
        with warnings.catch_warnings():
            warnings.simplefilter("error", KernelFallbackWarning)
            assert _has_kernel(LIF(), xs)
            assert _has_kernel(LIF(LIFParameters(method="super")), xs)
    assert "pallas_call" not in str(traced) and "pallas_call" not in str(again)
    # The program traced for the GPU, evaluated here, gives the scan's numbers.
    got = jax.core.eval_jaxpr(traced.jaxpr, traced.consts, xs)
    expected = jax.tree_util.tree_leaves(LIF(p, implementation="scan")(xs))
    assert 0 < float(expected[0].sum()) < expected[0].size  # spikes and silences
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda: LIF(implementation="cuda"), ValueError,
         r"implementation must be one of \('auto', 'pallas', 'scan'\), got 'cuda'"),
        (lambda: LIF(implementation=None), ValueError, r"implementation must be one of .*got None"),
        (lambda: LIFRefrac(implementation="pallas"), ValueError,
         r"implementation='pallas' has no kernel for the LIFRefrac model of LIFRefrac; expected one "
         r"of \['ALIF', 'IAF', 'LI', 'LIF', 'LIFBox', 'LSNN'\]"),
        (lambda: LIF(implementation="pallas", record_states=True), ValueError,
         r"record_states=True needs implementation='scan' or 'auto'"),
        (lambda: LIF(implementation="pallas")(jnp.ones((3, 2, 0))), ValueError, r"no neurons"),
    ],
)
def test_bad_implementations_raise_clear_errors(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_the_kernel_takes_integer_input_as_the_scan_does():
    # Integer spikes are promoted to float32 before either implementation sees them.
    counts = jnp.full((3, 2, 4), 2, jnp.int32)
    out, state = LIF(implementation="pallas")(counts)
    ref, ref_state = LIF(implementation="scan")(counts.astype(jnp.float32))
    assert out.dtype == jnp.float32
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_allclose(state.v, ref_state.v)
