"""What ``implementation="auto"`` means on the device at hand: the one decision.

:func:`select_implementation` picks the fused kernel or the scan for a model, its currents,
options and parameters; :func:`spikejax.kernels.neuron_sequence` and the sequence runner of
:mod:`spikejax.nn` (``spikejax.nn._runner``) both follow it. Where the kernel does not lower
for the GPU being compiled for, the choice is the scan, with one
:class:`KernelFallbackWarning` per model and reason.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import warnings
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np

from ..functional._model import NeuronModel
from ..functional.alif import ALIF_MODEL
from ..functional.iaf import IAF_MODEL
from ..functional.leaky_integrator import LI_MODEL
from ..functional.lif import LIF_MODEL
from ..functional.lif_box import LIF_BOX_MODEL
from ..functional.lsnn import LSNN_MODEL
from ._lowering import lowering_error
from ._target import gpu_target

__all__ = ["FUSED_MODELS", "IMPLEMENTATIONS", "KernelFallbackWarning", "select_implementation"]

IMPLEMENTATIONS = ("auto", "pallas", "scan")

#: Models with a fused kernel (tested against their scan), by name.
FUSED_MODELS: dict[str, NeuronModel] = {
    m.name: m for m in (LIF_MODEL, LIF_BOX_MODEL, IAF_MODEL, LI_MODEL, LSNN_MODEL, ALIF_MODEL)
}

_KERNEL_DTYPES = (jnp.float32, jnp.bfloat16, jnp.float16)


class KernelFallbackWarning(UserWarning):
    """``implementation="auto"`` took the scan because the kernel does not lower for the GPU.

    Warned once per model and reason; the results are the scan's, so nothing else changes.

    Example:
        >>> import warnings
        >>> from spikejax.kernels import KernelFallbackWarning
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("error", KernelFallbackWarning)   # a fallback raises here
        ...     issubclass(KernelFallbackWarning, UserWarning)
        True
    """


_WARNED: set = set()


def _warn_fallback(model_name: str, reason: str) -> None:
    """Warn once per model and reason (a training loop retraces; one line is enough)."""
    if (model_name, reason) in _WARNED:
        return
    _WARNED.add((model_name, reason))
    warnings.warn(
        f"implementation='auto': the fused {model_name} kernel does not lower for this GPU "
        f"({reason}); running the scan instead. Pass implementation='scan' to choose it, or "
        f"'pallas' to get the error",
        KernelFallbackWarning,
        stacklevel=_user_stacklevel(),
    )


# Frames of these packages are skipped: the warning points at the user's line that called a
# layer or neuron_sequence, through the runner and whatever jit/grad traced it.
_INTERNAL = tuple(
    os.path.dirname(origin) + os.sep
    for origin in [os.path.dirname(os.path.abspath(__file__))] + [
        getattr(importlib.util.find_spec(name), "origin", None) for name in ("jax", "flax")
    ]
    if origin
)


def _user_stacklevel() -> int:
    """The ``stacklevel`` of the first caller outside spikejax, jax and flax."""
    frame, level = sys._getframe(1), 1  # level 1: the caller of warnings.warn
    while frame is not None and frame.f_code.co_filename.startswith(_INTERNAL):
        frame, level = frame.f_back, level + 1
    return level


# Step options whose truth makes a neuron's update read other neurons; the kernel runs each
# neuron on its own (programs take flat rows of neurons), so it cannot take them.
_MIXING_OPTIONS = {"ALIF": {"share_theta": "it averages theta over the batch axis"}}


def select_implementation(
    model: NeuronModel,
    currents: jax.Array,
    implementation: str = "auto",
    *,
    options: Optional[dict] = None,
    p: Any = None,
    dt: Any = 1e-3,
) -> str:
    """``"pallas"`` or ``"scan"``: what ``implementation`` means for ``model`` and ``currents``.

    ``"auto"`` takes the kernel only when compiling for a GPU (the default backend, or the
    abstract device of :func:`jax.sharding.use_abstract_mesh`), for a model
    in :data:`FUSED_MODELS`, currents of a 16- or 32-bit float type with at least one neuron,
    and step ``options`` (the model's keyword options) under which each neuron's update reads
    only its own state: ALIF's ``{"share_theta": True}`` averages over the batch, so takes the scan.
    And only where the kernel lowers for that GPU with the parameters ``p`` (``None``: the
    model's defaults) and ``dt``: otherwise (a surrogate written with an operation Triton lacks,
    say) it is the scan, with one :class:`KernelFallbackWarning` per model and reason. This is
    the one decision that :func:`neuron_sequence` and the modules of :mod:`spikejax.nn` follow.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import LIF_MODEL
        >>> from spikejax.kernels import select_implementation
        >>> select_implementation(LIF_MODEL, jnp.ones((9, 2, 3)))   # no GPU here
        'scan'
    """
    _check_implementation(implementation)
    if implementation != "auto":
        return implementation
    return _choose(model, currents, options or {}, p, dt)


def _choose(model, currents, options: dict, p, dt, *, block=None, checkpoint_every=8,
            check_lowering: bool = True) -> str:
    """``"auto"``'s choice (see :func:`select_implementation`), warning where it falls back."""
    if _kernel_obstacle(model, currents, options) is not None or gpu_target() is None:
        return "scan"
    if not check_lowering:
        return "pallas"
    if p is None:
        p = model.parameters()
    shape = tuple(currents.shape[1:])
    state = jax.eval_shape(lambda: model.feed_forward_state(shape, p, currents.dtype))
    reason = lowering_error(model.feed_forward_step, currents, state, p, dt, options,
                            block=block, checkpoint_every=checkpoint_every)
    if reason is None:
        return "pallas"
    _warn_fallback(model.name, reason)
    return "scan"


def _kernel_obstacle(model: NeuronModel, currents, options: dict):
    """``None`` when the kernel can run ``model`` here, else ``(exception class, message)``."""
    if model.name not in FUSED_MODELS:
        return ValueError, (
            f"implementation='pallas' has no kernel for the {model.name} model; expected one of "
            f"{sorted(FUSED_MODELS)}, or implementation='scan' or 'auto'"
        )
    for name, why in _MIXING_OPTIONS.get(model.name, {}).items():
        if options.get(name):
            return ValueError, (
                f"implementation='pallas' cannot run the {model.name} model with {name}=True: "
                f"{why}, mixing neurons that the kernel runs independently; use "
                f"implementation='scan' or 'auto'"
            )
    if not any(currents.dtype == d for d in _KERNEL_DTYPES):
        return TypeError, (
            f"currents must be float32, bfloat16 or float16 for implementation='pallas', got "
            f"{currents.dtype}"
        )
    if int(np.prod(currents.shape[1:])) == 0:
        return ValueError, (
            f"currents has shape {tuple(currents.shape)}: no neurons for implementation='pallas'"
        )
    return None


def _check_implementation(implementation) -> None:
    if not isinstance(implementation, str) or implementation not in IMPLEMENTATIONS:
        raise ValueError(f"implementation must be one of {IMPLEMENTATIONS}, got {implementation!r}")
