"""What every neuron model shares: validated parameter pytrees and a static model description.

A model file (``lif.py``, ``lsnn.py``, ...) defines its parameters as a ``flax.struct`` dataclass
deriving from :class:`NeuronParameters`, its states as ``NamedTuple``s, its step functions, and
one :class:`NeuronModel` that tells the generic modules in :mod:`spikejax.nn` how to use them.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, ClassVar, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp

from ._validate import check_non_negative, check_positive, check_state, is_concrete
from .threshold import resolve_surrogate

__all__ = [
    "NeuronParameters",
    "NeuronModel",
    "check_dt",
    "check_step_input",
    "recurrent_current",
    "rest_like",
]


class NeuronParameters:
    """Mixin for parameter dataclasses: checks values when they are concrete.

    Subclasses list the fields that must be strictly positive (time constants) in
    ``_positive`` and those that must be non-negative in ``_non_negative``. A field named
    ``method`` is checked to be a known surrogate.
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
    """

    name: str
    parameters: type
    feed_forward_step: Callable
    feed_forward_state: Callable
    recurrent_step: Optional[Callable] = None
    recurrent_state: Optional[Callable] = None
    output_dtype_spikes: bool = True
    example_drive: float = 1.0


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
    from ._validate import check_rank, check_shape

    check_rank("input_weights", input_weights, 2, "(hidden, input)")
    hidden, n_in = input_weights.shape
    check_shape("recurrent_weights", recurrent_weights, (hidden, hidden), "(hidden, hidden) from input_weights")
    if input_tensor.shape[-1:] != (n_in,):
        raise ValueError(
            f"input_tensor has shape {tuple(input_tensor.shape)}, expected last axis {n_in} "
            f"(the input size of input_weights {tuple(input_weights.shape)})"
        )
    expected = tuple(input_tensor.shape[:-1]) + (hidden,)
    if tuple(z.shape) != expected:
        raise ValueError(
            f"state.z has shape {tuple(z.shape)}, expected {expected} (the batch shape of "
            f"input_tensor and the hidden size of input_weights {tuple(input_weights.shape)})"
        )
    return input_tensor @ input_weights.T + z @ recurrent_weights.T
