"""The fused kernels compiled for sm_90 with the triton package: registers, and no spills.

Needs ``pip install triton`` (no GPU: it compiles the Triton IR that Pallas generates while
exporting for CUDA, see :mod:`spikejax.kernels._triton_usage`); skipped without it. The shape is
the common benchmark's (B=16, n=1024; T does not change the code). Measured with jax 0.10.2 and
triton 3.9.0: backward kernels at 32-101 registers, ALIF the most, no local memory; with the
earlier 4 warps per 512 neurons ALIF's backward took 255 registers.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from spikejax.kernels import FUSED_MODELS, neuron_sequence

triton = pytest.importorskip("triton", reason="compiling for sm_90 needs pip install triton")

from spikejax.kernels._triton_usage import triton_resource_usage  # noqa: E402

SHAPE = jax.ShapeDtypeStruct((16, 16, 1024), jnp.float32)
# A thread has 255 registers at most; the backward kernels should stay well below, so that a
# change of the surrogate or the model does not push them into spilling.
REGISTER_BUDGET = 128


def _gradient(model, block=None):
    loss = lambda x: neuron_sequence(model, x, implementation="pallas", block=block)[0].sum()
    return jax.grad(loss)


@pytest.mark.parametrize("name", sorted(FUSED_MODELS))
def test_forward_and_backward_compile_without_spills(name, monkeypatch):
    monkeypatch.setenv("TRITON_DEFAULT_FP_FUSION", "1")  # Triton 3.9 warns when it is unset
    usages = triton_resource_usage(_gradient(FUSED_MODELS[name]), SHAPE)
    print(name, [u._asdict() for u in usages])
    assert len(usages) == 2  # the saving forward and the backward
    for usage in usages:
        # auto block: 128 neurons per program at B=16, n=1024 (128 programs), one per thread.
        assert usage.num_warps == 4, usage
        assert usage.local_bytes == 0, f"{name} spills: {usage}"
        assert usage.registers <= REGISTER_BUDGET, usage


@pytest.mark.slow
def test_alif_backward_at_512_neurons_per_program_does_not_spill(monkeypatch):
    monkeypatch.setenv("TRITON_DEFAULT_FP_FUSION", "1")
    usages = triton_resource_usage(_gradient(FUSED_MODELS["ALIF"], block=512), SHAPE)
    assert [u.num_warps for u in usages] == [16, 16]
    assert all(u.local_bytes == 0 and u.registers <= REGISTER_BUDGET for u in usages), usages


def test_a_function_without_kernels_is_refused():
    with pytest.raises(ValueError, match=r"no Pallas Triton kernel"):
        triton_resource_usage(lambda x: x * 2, SHAPE)
