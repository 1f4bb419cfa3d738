"""Registers and spills of the fused kernels compiled for an NVIDIA GPU, without a GPU.

Exports a function for CUDA through an abstract GPU device, keeps the Triton IR that Pallas
generates for each kernel, compiles it with the ``triton`` package for a compute capability
(sm_90 by default) with the kernel's own ``num_warps``, and reads the cubin's resource usage
with the ``cuobjdump`` shipped in the triton wheel. ``LOCAL`` memory above 0 bytes per thread
means spilled registers. Needs ``pip install triton``; nothing here runs a kernel.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tempfile
from typing import Callable, NamedTuple

import jax

__all__ = ["KernelUsage", "triton_resource_usage"]

_TRITON_CALL = "__gpu$xla.gpu.triton"


class KernelUsage(NamedTuple):
    """One compiled kernel: its warps, registers per thread, and spilled bytes per thread."""

    index: int  # order of lowering in the exported function
    num_warps: int
    registers: int
    local_bytes: int  # spills (0: none)
    shared_bytes: int


@contextlib.contextmanager
def _capture_triton_ir(store: list):
    from jax._src.pallas.triton import lowering

    original = lowering.lower_jaxpr_to_triton_module

    def capture(*args, **kwargs):
        result = original(*args, **kwargs)
        store.append(result.module.operation.get_asm(enable_debug_info=False))
        return result

    lowering.lower_jaxpr_to_triton_module = capture
    try:
        yield
    finally:
        lowering.lower_jaxpr_to_triton_module = original


def _abstract_gpu(num_cores: int):
    from jax.sharding import AbstractDevice, AbstractMesh, use_abstract_mesh

    device = AbstractDevice(device_kind="NVIDIA H100 80GB HBM3", platform="gpu",
                            num_cores=num_cores)
    return use_abstract_mesh(AbstractMesh((), (), abstract_device=device))


def triton_resource_usage(fn: Callable, *args, capability: int = 90,
                          num_cores: int = 132) -> list[KernelUsage]:
    """Compile every Pallas Triton kernel in ``fn(*args)`` for ``sm_<capability>``; their usage.

    ``args`` are arrays or :class:`jax.ShapeDtypeStruct`. Raises ``ImportError`` without the
    ``triton`` package and ``ValueError`` when ``fn`` has no Triton kernel.
    """
    try:
        import triton
        from triton.backends.compiler import GPUTarget
    except ImportError as error:
        raise ImportError(
            f"triton_resource_usage needs the triton package (pip install triton): {error}"
        ) from None
    avals = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in args]
    modules: list = []
    with _capture_triton_ir(modules), _abstract_gpu(num_cores):
        exported = jax.export.export(
            jax.jit(fn), platforms=["cuda"],
            disabled_checks=[jax.export.DisabledSafetyCheck.custom_call(_TRITON_CALL)],
        )(*avals)
    # The warps each call was given, in the order of the calls (that of their lowering).
    warps = [int(w) for w in re.findall(r"num_warps = (\d+) : i32", exported.mlir_module())]
    if not modules:
        raise ValueError("fn has no Pallas Triton kernel to compile; expected at least one")
    if len(warps) != len(modules):
        raise ValueError(f"found {len(warps)} Triton calls for {len(modules)} kernels lowered")
    cuobjdump = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin",
                             "cuobjdump")
    usages = []
    with tempfile.TemporaryDirectory() as folder:
        for index, (asm, num_warps) in enumerate(zip(modules, warps)):
            source = os.path.join(folder, f"kernel{index}.ttir")
            with open(source, "w") as file:
                file.write(asm)
            compiled = triton.compile(source, target=GPUTarget("cuda", capability, 32),
                                      options={"num_warps": num_warps, "num_stages": 1})
            cubin = os.path.join(folder, f"kernel{index}.cubin")
            with open(cubin, "wb") as file:
                file.write(compiled.asm["cubin"])
            report = subprocess.run([cuobjdump, "--dump-resource-usage", cubin],
                                    capture_output=True, text=True, check=True).stdout
            field = lambda name: int(re.search(rf"\b{name}:(\d+)", report).group(1))
            usages.append(KernelUsage(index, num_warps, field("REG"), field("LOCAL"),
                                      field("SHARED")))
    return usages
