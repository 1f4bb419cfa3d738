"""What every neuron model shares: validated parameter pytrees and a static model description.

A model file (``lif.py``, ``lsnn.py``, ...) defines its parameters as a ``flax.struct`` dataclass
deriving from :class:`NeuronParameters`, its states as ``NamedTuple``s, its step functions, and
one :class:`NeuronModel` that tells the generic modules in :mod:`spikejax.nn` how to use them.
Every step starts with :func:`feed_forward_state` or :func:`recurrent_input` (or its first part,
:func:`recurrent_state_and_spikes`): they check the arguments and supply the rest state for
``state=None``, so that all models validate alike.
"""

from __future__ import annotations

import dataclasses
import operator
from typing import Any, Callable, ClassVar, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp

from ._validate import (
    check_array,
    check_non_negative,
    check_positive,
    check_rank,
    check_shape,
    check_state,
    is_concrete,
)
from .threshold import resolve_surrogate

__all__ = [
    "NeuronParameters",
    "NeuronModel",
    "check_dt",
    "check_input_weights",
    "check_step_input",
    "feed_forward_state",
    "recurrent_current",
    "recurrent_input",
    "recurrent_rest",
    "recurrent_state_and_spikes",
    "rest_like",
]


class NeuronParameters:
    """Mixin for parameter dataclasses: checks values when they are concrete.

    Subclasses list the fields that must be strictly positive (time constants) in
    ``_positive`` and those that must be non-negative in ``_non_negative``. A field named
    ``method`` is checked to be a known surrogate.

    Example:
        >>> from spikejax.functional import LIFParameters, NeuronParameters
        >>> issubclass(LIFParameters, NeuronParameters)
        True
        >>> LIFParameters(tau_mem_inv=-1.0)
        Traceback (most recent call last):
            ...
        ValueError: LIFParameters.tau_mem_inv must be positive, got -1.0
    """

    _positive: ClassVar[tuple[str, ...]] = ()
    _non_negative: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self):
        cls = type(self).__name__
        for name in self._positive:
            value = getattr(self, name)
            if is_concrete(value):
                check_positive(f"{cls}.{name}", value)
        for name in self._non_negative:
            value = getattr(self, name)
            if is_concrete(value):
                check_non_negative(f"{cls}.{name}", value)
        method = getattr(self, "method", None)
        if method is not None:
            resolve_surrogate(method)

    def replace(self, **changes):  # provided by flax.struct; declared for type checkers
        return dataclasses.replace(self, **changes)


def check_dt(dt: Any) -> None:
    """Raise ``ValueError`` unless the integration step ``dt`` is positive (when concrete)."""
    check_positive("dt", dt)


def check_step_input(name: str, x: Any, state: Any, state_name: str = "state") -> None:
    """Check that every leaf of ``state`` has the shape of the step input ``x``."""
    check_state(state_name, state, x.shape, f"the shape of {name}")


def rest_like(value: Any, shape: Sequence[int], dtype) -> jax.Array:
    """``value`` (a parameter such as ``v_leak``) broadcast to ``shape`` in ``dtype``."""
    return jnp.broadcast_to(jnp.asarray(value, dtype=dtype), tuple(shape))


def recurrent_rest(state_type: type, rest: Callable, shape: Sequence[int], p: Any, dtype) -> Any:
    """The rest state of a recurrent layer, a ``state_type`` (``LIFState``, say): no spikes
    (``z = 0``) and the fields of the feed-forward rest state ``rest(shape, p, dtype)``."""
    return state_type(z=jnp.zeros(shape, dtype), **rest(shape, p, dtype)._asdict())


class NeuronModel(NamedTuple):
    """A static description of a neuron model, used by the generic modules in :mod:`spikejax.nn`.

    Attributes:
        name: the model's name, e.g. ``"LIF"``.
        parameters: the parameter dataclass; ``parameters()`` gives the defaults.
        feed_forward_step: ``(input, state, p, dt) -> (output, state)``.
        feed_forward_state: ``(shape, p, dtype) -> state``: the rest state for inputs of ``shape``.
        recurrent_step: ``(input, state, input_weights, recurrent_weights, p, dt) -> (z, state)``,
            or ``None`` when the model has no recurrent form (a readout, say).
        recurrent_state: ``(shape, p, dtype) -> state`` for a layer output of ``shape``.
        output_dtype_spikes: ``True`` when the output is spikes (used for recurrence).
        example_drive: a constant input amplitude under which the model with default
            parameters responds visibly (spikes within ~100 steps); used by examples and tests.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import MODELS
        >>> model = MODELS["LIF"]
        >>> model.parameters.__name__, model.recurrent_step is not None, model.example_drive
        ('LIFParameters', True, 1.0)
        >>> p = model.parameters()
        >>> z, state = model.feed_forward_step(jnp.ones(3), model.feed_forward_state((3,), p), p)
        >>> state.v
        Array([0.1, 0.1, 0.1], dtype=float32)
        >>> sorted(MODELS)[:4]
        ['ALIF', 'CobaLIF', 'IAF', 'Izhikevich']
    """

    name: str
    parameters: type
    feed_forward_step: Callable
    feed_forward_state: Callable
    recurrent_step: Optional[Callable] = None
    recurrent_state: Optional[Callable] = None
    output_dtype_spikes: bool = True
    example_drive: float = 1.0


def check_input_weights(input_tensor: jax.Array, input_weights: jax.Array) -> int:
    """Check that ``input_weights`` is ``(hidden, input)`` for ``input_tensor``; return ``hidden``.

    The weights follow Norse (and ``torch.nn.Linear``): ``input_tensor @ input_weights.T``.
    """
    check_rank("input_weights", input_weights, 2, "(hidden, input)")
    hidden, n_in = input_weights.shape
    if input_tensor.shape[-1:] != (n_in,):
        raise ValueError(
            f"input_tensor has shape {tuple(input_tensor.shape)}, expected last axis {n_in} "
            f"(the input size of input_weights {tuple(input_weights.shape)})"
        )
    return hidden


def recurrent_current(
    input_tensor: jax.Array,
    z: jax.Array,
    input_weights: jax.Array,
    recurrent_weights: jax.Array,
) -> jax.Array:
    """The input current of a recurrent layer: ``x @ W_in.T + z @ W_rec.T``.

    Weights follow Norse (and ``torch.nn.Linear``): ``input_weights`` is ``(hidden, input)`` and
    ``recurrent_weights`` is ``(hidden, hidden)``.
    """
    hidden = check_input_weights(input_tensor, input_weights)
    layout = "(hidden, hidden) from input_weights"
    check_shape("recurrent_weights", recurrent_weights, (hidden, hidden), layout)
    expected = tuple(input_tensor.shape[:-1]) + (hidden,)
    if tuple(z.shape) != expected:
        raise ValueError(
            f"state.z has shape {tuple(z.shape)}, expected {expected} (the batch shape of "
            f"input_tensor and the hidden size of input_weights {tuple(input_weights.shape)})"
        )
    return input_tensor @ input_weights.T + z @ recurrent_weights.T


def feed_forward_state(
    input_tensor: jax.Array,
    state: Any,
    p: Any,
    dt: Any,
    rest: Callable,
    *,
    name: str = "input_tensor",
) -> Any:
    """Check the arguments of a feed-forward step and return its state.

    The preamble of every ``*_feed_forward_step``: ``input_tensor`` (called ``name`` in errors)
    must be an array and ``dt`` positive; a ``state`` of ``None`` becomes the rest state
    ``rest(input_tensor.shape, p, input_tensor.dtype)``; every leaf of the state must have the
    shape of ``input_tensor`` (or be a scalar, which broadcasts).
    """
    check_array(name, input_tensor)
    check_dt(dt)
    if state is None:
        state = rest(input_tensor.shape, p, input_tensor.dtype)
    check_step_input(name, input_tensor, state)
    return state


def recurrent_state_and_spikes(
    input_tensor: jax.Array,
    state: Any,
    input_weights: jax.Array,
    recurrent_weights: jax.Array,
    p: Any,
    dt: Any,
    rest: Callable,
    *,
    name: str = "input_tensor",
    spikes: str = "z",
    scalar_state: bool = False,
) -> tuple[Any, jax.Array]:
    """Check the arguments of a recurrent step; return its state and the previous spikes.

    The part of :func:`recurrent_input` before the current, for models that weight the spikes
    in their own way (CobaLIF splits them into excitation and inhibition). ``input_tensor``
    (called ``name`` in errors) and the weights must be arrays, ``input_weights`` of rank 2, and
    ``dt`` positive. A ``state`` of ``None`` becomes ``rest(shape, p, input_tensor.dtype)`` for
    the layer output ``shape = input_tensor.shape[:-1] + (hidden,)``.

    Args:
        spikes: where the state keeps the last spikes, a dotted attribute path (``"lif.z"``).
        scalar_state: the model accepts scalar states (presets such as Izhikevich's), so rank-0
            spikes are broadcast to the layer output; otherwise they must have its shape.
    """
    check_array(name, input_tensor)
    check_dt(dt)
    check_rank("input_weights", input_weights, 2, "(hidden, input)")
    check_array("recurrent_weights", recurrent_weights)
    shape = input_tensor.shape[:-1] + input_weights.shape[:1]
    if state is None:
        state = rest(shape, p, input_tensor.dtype)
    z = operator.attrgetter(spikes)(state)
    if scalar_state and jnp.ndim(z) == 0:
        z = rest_like(z, shape, input_tensor.dtype)
    return state, z


def recurrent_input(
    input_tensor, state, input_weights, recurrent_weights, p, dt, rest, **options
) -> tuple[jax.Array, Any]:
    """Check the arguments of a recurrent step; return its input current and state.

    The preamble of every recurrent ``*_step``: the checks and rest state of
    :func:`recurrent_state_and_spikes`, which takes the same arguments and keyword ``options``
    (``name``, ``spikes``, ``scalar_state``); then the current :func:`recurrent_current` of
    ``input_tensor`` and the previous spikes, whose shape every leaf of the state must have (or
    be a scalar).
    """
    state, z = recurrent_state_and_spikes(
        input_tensor, state, input_weights, recurrent_weights, p, dt, rest, **options
    )
    current = recurrent_current(input_tensor, z, input_weights, recurrent_weights)
    check_step_input("the recurrent current", current, state)
    return current, state
