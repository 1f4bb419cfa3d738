"""The GPU a fused kernel is compiled for, and the block size that fills it.

Chosen by the target being compiled, not by ``jax.default_backend()`` alone: an export for
CUDA from a CPU machine (``jax.export`` under :func:`jax.sharding.use_abstract_mesh` with an
abstract GPU device) compiles for a GPU too.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import jax

__all__ = ["GpuTarget", "auto_block", "gpu_target"]


class GpuTarget(NamedTuple):
    """The GPU a kernel is compiled for: its kind (``"NVIDIA H100 80GB HBM3"``) and its cores."""

    device_kind: str
    num_cores: Optional[int]
    abstract: bool  # named by jax.sharding.use_abstract_mesh, not a device of this process


def gpu_target() -> Optional[GpuTarget]:
    """The GPU being compiled for, or ``None`` when the target is not a GPU.

    The abstract device of :func:`jax.sharding.use_abstract_mesh`, when one is set and is a GPU
    (how a CPU machine lowers for CUDA, with :func:`jax.export.export`); otherwise the default
    backend's first device if that backend is a GPU. Not ``jax.default_backend()`` alone: an
    export for CUDA from a CPU machine compiles for a GPU.

    Example:
        >>> from jax.sharding import AbstractDevice, AbstractMesh, use_abstract_mesh
        >>> from spikejax.kernels._target import gpu_target
        >>> gpu_target() is None                       # a CPU machine
        True
        >>> h100 = AbstractDevice(device_kind="NVIDIA H100 80GB HBM3", platform="gpu", num_cores=132)
        >>> with use_abstract_mesh(AbstractMesh((), (), abstract_device=h100)):
        ...     gpu_target().num_cores
        132
    """
    device = getattr(jax.sharding.get_abstract_mesh(), "abstract_device", None)
    if device is not None:
        if device.platform in ("gpu", "cuda", "rocm"):
            return GpuTarget(device.device_kind, device.num_cores, True)
        return None
    if jax.default_backend() != "gpu":
        return None
    first = jax.devices()[0]
    return GpuTarget(first.device_kind, getattr(first, "core_count", None), False)


# Programs wanted per grid when the neurons allow (an H100 has 132 SMs), and the block range:
# below 128 neurons a program has too little to hide latency with; 512 is the measured size.
_DEFAULT_CORES = 132
_MIN_BLOCK = 128
_MAX_BLOCK = 512


def auto_block(width: int, cores: Optional[int] = None) -> int:
    """Neurons per program: a power of two that gives about one program per core, 128 to 512.

    A fixed 512-neuron block gave 32 programs for 132 SMs at ``B=16, n=1024``; smaller blocks
    fill the GPU at small batch. Once the neurons fill it, 512 (the block measured on an H100).
    Not yet timed on a GPU against other choices.

    Example:
        >>> from spikejax.kernels._target import auto_block
        >>> auto_block(16 * 1024), auto_block(16 * 16384), auto_block(10)
        (128, 512, 128)
    """
    per_core = max(1, width // (cores or _DEFAULT_CORES))
    return max(_MIN_BLOCK, min(_MAX_BLOCK, 1 << (per_core.bit_length() - 1)))
