"""Whether a fused kernel lowers for the GPU being compiled for, and if not, why.

``implementation="auto"`` (:func:`spikejax.kernels.select_implementation`) takes the scan where
the kernel does not lower (a surrogate written with an operation Pallas' Triton lowering lacks,
say); this module finds out by lowering, without compiling or running, the kernels a call and
its gradient would use.
"""

from __future__ import annotations

import functools
from typing import Optional

import jax

from ._fused import COMPUTE_DTYPE, FusedConfig, _configure, _fused
from ._target import gpu_target

__all__ = ["kernel_lowering_error", "lowering_error"]

_LOWERING_ERRORS: dict = {}


def kernel_lowering_error(config: FusedConfig, xs, state, params) -> Optional[str]:
    """``None`` when the forward and backward kernels lower for the GPU target, else why not.

    Lowers (without compiling or running) the plain forward kernel and the forward and
    backward kernels of a ``jax.vjp``, for arrays shaped and typed as ``xs``, ``state`` and
    ``params`` (arrays or ``jax.ShapeDtypeStruct`` s). Cached per configuration and shapes.
    """
    avals = tuple(jax.ShapeDtypeStruct(a.shape, a.dtype) for a in (xs, state, params))
    key = (config, avals)
    if key not in _LOWERING_ERRORS:
        def probe(xs, state, params):
            outputs, adjoint = jax.vjp(functools.partial(_fused, config), xs, state, params)
            return _fused(config, xs, state, params), adjoint(outputs)

        target = gpu_target()
        platforms = ("cuda",) if target is not None and target.abstract else None
        try:
            jax.jit(probe).trace(*avals).lower(lowering_platforms=platforms)
            _LOWERING_ERRORS[key] = None
        except Exception as error:  # whatever Pallas or Triton raise: the reason is reported
            first = str(error).strip().splitlines()
            _LOWERING_ERRORS[key] = f"{type(error).__name__}: {first[0] if first else ''}"
    return _LOWERING_ERRORS[key]


def lowering_error(step, xs, state, p, dt, options: dict, *, block: Optional[int] = None,
                   checkpoint_every: int = 8) -> Optional[str]:
    """Why the compiled kernel of ``step`` does not lower for the GPU target, or ``None``.

    ``xs`` ``(T, *shape)`` and ``state`` may be arrays or ``jax.ShapeDtypeStruct`` s: only
    shapes and dtypes are read (and of ``p`` and ``dt``, which Python-number leaves are).
    """
    state_leaves, state_treedef = jax.tree_util.tree_flatten(state)
    config, padded, rows = _configure(step, xs.shape, state_treedef, p, dt, options, block=block,
                                      checkpoint_every=checkpoint_every, interpret=False)
    return kernel_lowering_error(
        config,
        jax.ShapeDtypeStruct((xs.shape[0], padded), xs.dtype),
        jax.ShapeDtypeStruct((len(state_leaves), padded), xs.dtype),
        jax.ShapeDtypeStruct((len(rows), padded), COMPUTE_DTYPE),
    )
