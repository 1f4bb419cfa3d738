"""The one sequence runner: how a step runs over time is decided here and nowhere else.

:func:`run_sequence` takes a step function, its state and either a sequence ``(T, B, ...)`` or a
constant input with a number of ``steps``, and chooses the fused kernel of
:mod:`spikejax.kernels` or the scan of :func:`spikejax.functional.run` (plain, unrolled or
rematerialised). The sequence modules of :mod:`spikejax.nn` and
:class:`~spikejax.nn.SequentialState` call it; none of them chooses for itself.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp

from ..functional.integrate import run
from ..kernels import neuron_sequence, select_implementation

__all__ = ["LoopStep", "run_sequence", "run_stack", "takes_kernel"]


class LoopStep(NamedTuple):
    """A sequence layer taken apart into one step, for a time loop that runs a whole stack
    (:class:`~spikejax.nn.SequentialState`).

    Attributes:
        step: ``(x, state) -> (y, state)`` for one step ``x`` ``(B, ...)``.
        rest: ``x -> state``: the rest state for steps shaped like ``x`` (an array or a
            ``jax.ShapeDtypeStruct``); ``None`` when the step builds its own from ``None``.
        prepare: ``state -> state``: a given initial state in the layer's dtype.
        record_states: the layer returns its state after every step, not the last one.
        unroll, remat: the layer's scan options.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.nn import LIF
        >>> loop_step = LIF(record_states=True)._loop_step()
        >>> state = loop_step.rest(jnp.ones((2, 3)))
        >>> z, state = loop_step.step(jnp.ones((2, 3)), state)
        >>> state.v[0], loop_step.record_states
        (Array([0.1, 0.1, 0.1], dtype=float32), True)
    """

    step: Callable[[Any, Any], tuple[Any, Any]]
    rest: Callable[[Any], Any]
    prepare: Callable[[Any], Any]
    record_states: bool
    unroll: int | bool
    remat: bool | int


def _step_dtype(module: Any, dtype: Any) -> Any:
    """The dtype an input of ``dtype`` computes in (``_float_input``, then ``module.dtype``)."""
    if module.dtype is not None:
        return jnp.dtype(module.dtype)
    if not jnp.issubdtype(dtype, jnp.inexact):
        return jnp.dtype(jnp.result_type(float))
    return jnp.dtype(dtype)


def _step_input(module: Any, x: Any) -> Any:
    """One step's input as the layer computes it, the same cast as a whole sequence gets."""
    return jnp.asarray(x, _step_dtype(module, x.dtype))


def takes_kernel(
    model: Any,
    implementation: str,
    currents: Any,
    *,
    steps: Optional[int] = None,
    record_states: bool = False,
    options: Optional[dict] = None,
    p: Any = None,
    dt: Any = 1e-3,
) -> bool:
    """Whether a neuron ``model`` runs as the fused kernel: always for ``"pallas"``, never for
    ``"scan"`` or without a model; for ``"auto"`` when
    :func:`~spikejax.kernels.select_implementation` picks it for ``currents`` (an array or a
    ``jax.ShapeDtypeStruct``), the step ``options`` and the parameters ``p`` and ``dt``, on a
    sequence (not ``steps``) and without ``record_states``. That is the one place ``"auto"``
    is decided: where the kernel does not lower for the GPU at hand, it warns (once) with a
    :class:`~spikejax.kernels.KernelFallbackWarning` and the layer runs the scan.

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
    return select_implementation(model, currents, options=options or {}, p=p, dt=dt) == "pallas"


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
                    options=options, p=p, dt=dt):
        # Decided: "pallas" here, so that neuron_sequence does not decide a second time.
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


def _most_unrolled(values) -> int | bool:
    values = list(values)
    if any(value is True for value in values):
        return True
    return max([int(value) for value in values if value is not False] or [1])


def _first_remat(values) -> bool | int:
    return next((value for value in values if value is not False), False)


def run_stack(
    layers: Sequence[Any],
    states: Sequence[Any],
    inputs: Any,
    *,
    steps: Optional[int] = None,
    unroll: int | bool | None = None,
    remat: bool | int | None = None,
    return_hidden: bool = False,
    call: Optional[Callable[[int, Callable, Any, Any], tuple[Any, Any]]] = None,
) -> tuple[Any, list]:
    """Run a stack of layers, each given as a ``LoopStep`` (``spikejax.nn._neuron``), in ONE
    time loop: every step passes its input through all the layers in turn.

    Args:
        layers: one ``LoopStep`` per layer: ``step(x, s) -> (y, s)``; ``rest(x)`` the rest state
            for steps shaped like ``x`` (``None``: the step builds its own from ``s=None``);
            ``prepare(s)`` a given state in the layer's dtype; ``record_states``, ``unroll``,
            ``remat``.
        states: one initial state per layer, ``None`` for the rest state (or no state).
        inputs: a sequence ``(T, B, ...)``, or with ``steps`` the input of every step.
        steps: the number of steps on the constant ``inputs``.
        unroll, remat: of the one loop; ``None`` takes the most unrolled of the layers' and the
            first rematerialisation any layer asks for.
        return_hidden: return every layer's outputs ``(T, B, ...)`` as a list, not the last.
        call: ``call(index, step, x, s) -> (y, s)`` runs layer ``index``'s step (to check or
            annotate errors); ``None`` calls ``step(x, s)``.

    Returns:
        ``(outputs, states)``: the last layer's outputs (or the list of every layer's), and one
        state per layer: the last one, or every step's for layers with ``record_states``.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.nn import LIF, LIFCell
        >>> from spikejax.nn._runner import run_stack
        >>> layers = [LIF()._loop_step(), LIFCell()._loop_step()]
        >>> spikes, (s1, s2) = run_stack(layers, [None, None], jnp.full((2, 3), 20.0), steps=9)
        >>> spikes.shape, s2.v.shape
        ((9, 2, 3), (2, 3))
    """
    if len(states) != len(layers):
        raise ValueError(f"states must have one entry per layer ({len(layers)}), got {len(states)}")
    call = call or (lambda index, step, x, s: step(x, s))
    unroll = _most_unrolled(layer.unroll for layer in layers) if unroll is None else unroll
    remat = _first_remat(layer.remat for layer in layers) if remat is None else remat
    states = [s if s is None else layer.prepare(s) for layer, s in zip(layers, states)]

    if any(s is None for s in states):
        # The rest states need each layer's input shape: trace one step abstractly for it.
        shapes: list = [None] * len(layers)

        def probe(x):
            for index, (layer, s) in enumerate(zip(layers, states)):
                shapes[index] = jax.ShapeDtypeStruct(x.shape, x.dtype)
                if s is None and layer.rest is not None:
                    s = layer.rest(x)
                x, _ = call(index, layer.step, x, s)
            return x

        first = inputs if steps is not None else jax.tree_util.tree_map(lambda a: a[0], inputs)
        jax.eval_shape(probe, first)
        states = [
            layer.rest(shape) if s is None and layer.rest is not None else s
            for layer, s, shape in zip(layers, states, shapes)
        ]
    # A layer that cannot say its rest state (a user's cell) builds it in the first step, which
    # run() then takes outside the scan.
    lazy = any(s is None and layer.rest is None for layer, s in zip(layers, states))

    def body(x, carry):
        carry = tuple(states) if carry is None else carry
        hidden, new, recorded = [], [], []
        for index, (layer, s) in enumerate(zip(layers, carry)):
            x, s = call(index, layer.step, x, s)
            hidden.append(x)
            new.append(s)
            if layer.record_states:
                recorded.append(s)
        return (hidden if return_hidden else x, recorded), tuple(new)

    (outputs, recorded), final = run_sequence(
        body, None if lazy else tuple(states), inputs, steps=steps, unroll=unroll, remat=remat
    )
    recorded = iter(recorded)
    result = [next(recorded) if layer.record_states else s for layer, s in zip(layers, final)]
    return outputs, result
