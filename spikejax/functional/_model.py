"""What every neuron model shares: validated parameter pytrees and a static model description.

A model file (``lif.py``, ``lsnn.py``, ...) defines its parameters as a ``flax.struct`` dataclass
deriving from :class:`NeuronParameters`, its states as ``NamedTuple``s, its step functions, and
one :class:`NeuronModel` that tells the generic modules in :mod:`spikejax.nn` how to use them.
Every step starts with :func:`feed_forward_state` or :func:`recurrent_input` (or its first part,
:func:`recurrent_state_and_spikes`): they check the arguments (shapes, ``dt``, and that a given
state has the model's state type) and supply the rest state for ``state=None``, so that all
models validate alike. The parameter machinery (:class:`NeuronParameters`,
:func:`parameters_dataclass`, peer libraries' aliases) lives in ``_parameters.py`` and is
re-exported here.
"""

from __future__ import annotations

import operator
import weakref
from typing import Any, Callable, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp

from ._validate import (
    check_array,
    check_finite_value,
    check_positive,
    check_rank,
    check_shape,
    check_state,
)
from ._parameters import POSITIVE_FLOOR, NeuronParameters, parameters_dataclass

__all__ = [
    "NeuronParameters",
    "NeuronModel",
    "POSITIVE_FLOOR",
    "check_dt",
    "parameters_dataclass",
    "check_state_type",
    "check_input_weights",
    "check_step_input",
    "feed_forward_state",
    "recurrent_current",
    "recurrent_input",
    "recurrent_rest",
    "recurrent_state_and_spikes",
    "rest_like",
]


def check_dt(dt: Any) -> None:
    """Raise ``ValueError`` unless the integration step ``dt`` is positive and finite (when
    concrete).

    Example:
        >>> from spikejax.functional._model import check_dt
        >>> check_dt(float("inf"))
        Traceback (most recent call last):
            ...
        ValueError: dt must be finite, got inf
    """
    check_finite_value("dt", dt)
    check_positive("dt", dt)


def check_state_type(state: Any, rest: Callable, shape: Sequence[int], p: Any, dtype) -> None:
    """Raise ``TypeError`` unless ``state`` has the type of the rest state that ``rest`` builds.

    A state of another model (an LSNN state given to a LIF step, say) would otherwise run with
    the wrong fields, or fail with an ``AttributeError`` deep in the step.
    """
    expected = _rest_state_type(rest, tuple(shape), p, dtype)
    if expected is not None and type(state) is not expected:
        raise TypeError(
            f"state must be None or a {expected.__name__} (what {_name_of(rest)}() returns), "
            f"got a {type(state).__name__}: each model, and its feed-forward and recurrent "
            f"steps, has its own state type"
        )


_STATE_TYPES: "weakref.WeakKeyDictionary[Callable, type]" = weakref.WeakKeyDictionary()


def _rest_state_type(rest: Callable, shape, p, dtype) -> Optional[type]:
    # The type of a model's state does not depend on the shape or the parameters: find it once
    # per rest function (eval_shape builds no arrays).
    try:
        return _STATE_TYPES[rest]
    except (KeyError, TypeError):
        pass
    state_type = type(jax.eval_shape(lambda: rest(shape, p, dtype)))
    if not hasattr(state_type, "_fields"):  # only NamedTuple states are checked
        return None
    try:
        _STATE_TYPES[rest] = state_type
    except TypeError:
        pass
    return state_type


def _name_of(rest: Callable) -> str:
    return getattr(rest, "__name__", "the rest-state function")


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
    must be an array and ``dt`` positive and finite; a ``state`` of ``None`` becomes the rest
    state ``rest(input_tensor.shape, p, input_tensor.dtype)``; another state must have the type
    of that rest state (a ``TypeError`` names both) and every leaf the shape of
    ``input_tensor`` (or be a scalar, which broadcasts).
    """
    check_array(name, input_tensor)
    check_dt(dt)
    if state is None:
        return rest(input_tensor.shape, p, input_tensor.dtype)
    check_state_type(state, rest, input_tensor.shape, p, input_tensor.dtype)
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
    ``dt`` positive and finite. A ``state`` of ``None`` becomes ``rest(shape, p,
    input_tensor.dtype)`` for the layer output ``shape = input_tensor.shape[:-1] + (hidden,)``;
    another state must have that rest state's type (a ``TypeError`` names both).

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
    else:
        check_state_type(state, rest, shape, p, input_tensor.dtype)
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
