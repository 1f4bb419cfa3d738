"""The one sequence runner: how a step runs over time is decided here and nowhere else.

:func:`run_sequence` takes a step function, its state and either a sequence ``(T, B, ...)`` or a
constant input with a number of ``steps``, and chooses the fused kernel of
:mod:`spikejax.kernels` or the scan of :func:`spikejax.functional.run` (plain, unrolled or
rematerialised). The sequence modules of :mod:`spikejax.nn` and
:class:`~spikejax.nn.SequentialState` call it; none of them chooses for itself.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp

from ..functional.integrate import run
from ..kernels import neuron_sequence, select_implementation

__all__ = ["run_sequence", "takes_kernel"]


def takes_kernel(
    model: Any,
    implementation: str,
    currents: Any,
    *,
    steps: Optional[int] = None,
    record_states: bool = False,
    options: Optional[dict] = None,
) -> bool:
    """Whether a neuron ``model`` runs as the fused kernel: always for ``"pallas"``, never for
    ``"scan"`` or without a model; for ``"auto"`` when
    :func:`~spikejax.kernels.select_implementation` picks it for ``currents`` (an array or a
    ``jax.ShapeDtypeStruct``), on a sequence (not ``steps``) and without ``record_states``.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import LIF_MODEL
        >>> from spikejax.nn._runner import takes_kernel
        >>> takes_kernel(LIF_MODEL, "auto", jnp.ones((9, 2, 3))), takes_kernel(LIF_MODEL, "pallas", None)
        (False, True)
    """
    if model is None or implementation == "scan":
        return False
    if implementation == "pallas":
        return True
    if steps is not None or record_states:
        return False
    return select_implementation(model, currents, options=options or {}) == "pallas"


def run_sequence(
    step: Callable[[Any, Any], tuple[Any, Any]],
    state: Any,
    inputs: Any,
    *,
    steps: Optional[int] = None,
    unroll: int | bool = 1,
    remat: bool | int = False,
    record_states: bool = False,
    implementation: str = "scan",
    model: Any = None,
    p: Any = None,
    dt: Any = 1e-3,
    options: Optional[dict] = None,
    rest_state: Optional[Callable[[], Any]] = None,
) -> tuple[Any, Any]:
    """Run ``step(x, state) -> (y, state)`` over time; returns ``(outputs, state)``.

    Args:
        step: one step; ``state`` may be ``None`` if ``step`` builds its rest state (pass the
            rest state where speed matters: see :func:`spikejax.functional.run`).
        state: the initial state.
        inputs: a sequence ``(T, B, ...)`` (any pytree with a leading time axis) or, with
            ``steps``, the constant input of every step.
        steps: run this many steps on the constant ``inputs`` (``None``: ``inputs`` is a
            sequence).
        unroll, remat: the scan's unrolling and rematerialisation (see
            :func:`spikejax.functional.run`); the kernel ignores them.
        record_states: return the state after every step (stacked on a time axis) instead of
            the last one; the scan only.
        implementation: ``"scan"``, or ``"auto"``/``"pallas"`` for a neuron ``model``, which
            then runs as one fused kernel where :func:`takes_kernel` says so.
        model, p, dt, options: the neuron model, its parameters, time step and step options,
            for the kernel.
        rest_state: ``() -> state``, called for the scan when ``state`` is ``None``: a rest
            state up front keeps the whole sequence in one scan (the kernel builds its own).

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.nn._runner import run_sequence
        >>> def step(x, total):                       # a running sum
        ...     return total + x, total + x
        >>> ys, final = run_sequence(step, jnp.zeros(2), jnp.ones(2), steps=3)
        >>> ys[:, 0], final
        (Array([1., 2., 3.], dtype=float32), Array([3., 3.], dtype=float32))
    """
    if takes_kernel(model, implementation, inputs, steps=steps, record_states=record_states,
                    options=options):
        if steps is not None:  # the kernel reads one row per step
            inputs = jnp.broadcast_to(inputs, (steps,) + inputs.shape)
        return neuron_sequence(model, inputs, state, p, dt, implementation="pallas", **(options or {}))
    if state is None and rest_state is not None:
        state = rest_state()
    states, outputs = run(
        step, state, inputs, length=steps, unroll=unroll, remat=remat, record_states=record_states
    )
    return outputs, states


def abstract_currents(dtype: Any) -> jax.ShapeDtypeStruct:
    """A stand-in sequence of ``dtype`` for :func:`takes_kernel` before the shapes are known."""
    return jax.ShapeDtypeStruct((1, 1, 1), jnp.dtype(dtype))
