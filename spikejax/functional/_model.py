"""What every neuron model shares: validated parameter pytrees and a static model description.

A model file (``lif.py``, ``lsnn.py``, ...) defines its parameters as a ``flax.struct`` dataclass
deriving from :class:`NeuronParameters`, its states as ``NamedTuple``s, its step functions, and
one :class:`NeuronModel` that tells the generic modules in :mod:`spikejax.nn` how to use them.
Every step starts with :func:`feed_forward_state` or :func:`recurrent_input` (or its first part,
:func:`recurrent_state_and_spikes`): they check the arguments (shapes, ``dt``, and that a given
state has the model's state type) and supply the rest state for ``state=None``, so that all
models validate alike.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import operator
import weakref
from typing import Any, Callable, ClassVar, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
from flax import serialization

from ._validate import (
    check_array,
    check_below,
    check_finite_value,
    check_non_negative,
    check_positive,
    check_rank,
    check_shape,
    check_state,
    is_concrete,
)
from .surrogate import resolve_surrogate

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


def parameters_dataclass(clz: type) -> type:
    """``flax.struct.dataclass`` for parameter sets, whose checks run when users build them only.

    A frozen dataclass registered as a pytree (fields marked ``struct.field(pytree_node=False)``
    are static), with ``replace`` and Flax serialization, as ``flax.struct.dataclass`` makes it.
    The difference: rebuilding it from its leaves (``jax.tree.map``, a gradient, an optimizer
    state) does not call ``__init__``, so the value checks of :class:`NeuronParameters` apply to
    the parameters a user writes, not to a gradient whose entries may be zero or negative
    (equinox's dataclasses work the same way).

    Example:
        >>> import jax
        >>> from spikejax.functional import LIFParameters
        >>> grads = jax.grad(lambda p: p.tau_mem_inv - p.v_th)(LIFParameters())
        >>> float(grads.tau_mem_inv), float(grads.v_th), float(grads.v_reset)   # not validated
        (1.0, -1.0, 0.0)
    """
    data_clz = dataclasses.dataclass(frozen=True)(clz)
    _add_aliases(data_clz)
    fields = dataclasses.fields(data_clz)
    data_fields = tuple(f.name for f in fields if f.metadata.get("pytree_node", True))
    meta_fields = tuple(f.name for f in fields if not f.metadata.get("pytree_node", True))

    def flatten_with_keys(x):
        children = [(jax.tree_util.GetAttrKey(name), getattr(x, name)) for name in data_fields]
        return children, tuple(getattr(x, name) for name in meta_fields)

    def flatten(x):
        return [getattr(x, name) for name in data_fields], tuple(
            getattr(x, name) for name in meta_fields
        )

    def unflatten(meta, children):
        x = object.__new__(data_clz)
        for name, value in zip(meta_fields + data_fields, tuple(meta) + tuple(children)):
            object.__setattr__(x, name, value)
        return x

    def replace(self, **updates):
        return dataclasses.replace(self, **_canonical(data_clz, updates))

    data_clz.replace = replace
    jax.tree_util.register_pytree_with_keys(data_clz, flatten_with_keys, unflatten, flatten)

    def to_state_dict(x):
        return {name: serialization.to_state_dict(getattr(x, name)) for name in data_fields}

    def from_state_dict(x, state):
        state = _canonical(data_clz, dict(state))  # a state dict written with an alias
        updates = {}
        for name in data_fields:
            if name not in state:
                raise ValueError(
                    f"Missing field {name} in state dict while restoring an instance of "
                    f"{clz.__name__}, at path {serialization.current_path()}"
                )
            updates[name] = serialization.from_state_dict(
                getattr(x, name), state.pop(name), name=name
            )
        if state:
            raise ValueError(
                f"Unknown field(s) {sorted(state)} in state dict while restoring an instance of "
                f"{clz.__name__} at path {serialization.current_path()}"
            )
        return x.replace(**updates)

    serialization.register_serialization_state(data_clz, to_state_dict, from_state_dict)
    data_clz._flax_dataclass = True
    return data_clz


_NOT_GIVEN = None  # an alias left at its default


def _canonical(cls: type, values: dict, positional: tuple[str, ...] = ()) -> dict:
    """``values`` with every alias of ``cls`` renamed to its field; ``TypeError`` when a field
    and its alias are both given (``positional``: the fields given by position)."""
    aliases = getattr(cls, "_aliases", {})
    if not aliases or not any(name in aliases for name in values):
        return values
    values = dict(values)
    for alias, (field, origin) in aliases.items():
        if alias not in values:
            continue
        value = values.pop(alias)
        if value is _NOT_GIVEN:
            continue
        if field in values or field in positional:
            given = f"{field}={values[field]!r}" if field in values else f"{field} (by position)"
            raise TypeError(
                f"{cls.__name__} got both {given} and its alias {alias}={value!r} "
                f"({origin}'s spelling); expected only one of them"
            )
        values[field] = value
    return values


def _add_aliases(cls: type) -> None:
    """Let ``cls(...)`` and ``replace`` take the aliases in ``cls._aliases`` (``{alias: (field,
    origin)}``) and read them as properties."""
    aliases = getattr(cls, "_aliases", {})
    if not aliases:
        return
    names = {f.name for f in dataclasses.fields(cls)}
    for alias, (field, origin) in aliases.items():
        if field not in names or alias in names:
            raise TypeError(
                f"{cls.__name__}._aliases maps {alias!r} to {field!r}: expected a field for a "
                f"name that is not one, got fields {sorted(names)}"
            )
        setattr(cls, alias, property(
            lambda self, field=field: getattr(self, field),
            doc=f"Alias of ``{field}`` ({origin}'s spelling), read-only.",
        ))
    init = cls.__init__
    signature = inspect.signature(init)
    order = [q.name for q in signature.parameters.values()][1:]  # without self

    # wraps: the annotations resolve in the model's module (documentation tools read them).
    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        init(self, *args, **_canonical(cls, kwargs, tuple(order[: len(args)])))

    extra = [
        inspect.Parameter(alias, inspect.Parameter.KEYWORD_ONLY, default=_NOT_GIVEN)
        for alias in aliases
    ]
    __init__.__signature__ = signature.replace(
        parameters=list(signature.parameters.values()) + extra
    )
    cls.__init__ = __init__


class NeuronParameters:
    """Mixin for parameter dataclasses: checks values when they are concrete.

    Every numeric field must be finite (``inf`` and ``nan`` are refused). Subclasses list the
    fields that must be strictly positive (time constants) in ``_positive``, those that must be
    non-negative in ``_non_negative``, and the resets that must lie below their threshold in
    ``_reset_below`` as ``(reset, threshold)`` pairs of field names: a reset at or above the
    threshold fires on every step forever. A field named ``method`` is checked to be a known
    surrogate, and then ``alpha`` (its sharpness) must be positive. Models whose valid range
    depends on a static option override :meth:`positive_fields` or :meth:`reset_pairs`.

    Traced values (under ``jit`` or ``grad``) are not checked, so the checks cost nothing
    there; :meth:`lower_bounds` gives the ranges that the modules of :mod:`spikejax.nn` keep
    learnable parameters in during training.

    Example:
        >>> from spikejax.functional import LIFParameters, NeuronParameters
        >>> issubclass(LIFParameters, NeuronParameters)
        True
        >>> LIFParameters(tau_mem_inv=-1.0)
        Traceback (most recent call last):
            ...
        ValueError: LIFParameters.tau_mem_inv must be positive, got -1.0
        >>> LIFParameters(v_th=float("nan"))
        Traceback (most recent call last):
            ...
        ValueError: LIFParameters.v_th must be finite, got nan
        >>> LIFParameters(v_th=0.5, v_reset=2.0)
        Traceback (most recent call last):
            ...
        ValueError: LIFParameters.v_reset must be below v_th=0.5, got 2.0 (a reset at or above \
the threshold fires on every step)
        >>> LIFParameters().lower_bounds()["tau_mem_inv"], LIFParameters().lower_bounds()["alpha"]
        (1e-06, 1e-06)
    """

    _positive: ClassVar[tuple[str, ...]] = ()
    _non_negative: ClassVar[tuple[str, ...]] = ()
    _reset_below: ClassVar[tuple[tuple[str, str], ...]] = ()
    #: ``{alias: (field, origin)}``: a peer library's spelling of a field (snnTorch's
    #: ``threshold`` for ``v_th``), accepted by the constructor and ``replace`` and readable as
    #: a property. Every model spells a concept the same way; aliases keep peers' code working.
    _aliases: ClassVar[dict[str, tuple[str, str]]] = {}

    @classmethod
    def aliases(cls) -> dict[str, str]:
        """The aliases this parameter class accepts, ``{alias: field}`` (peer libraries' names).

        Example:
            >>> from spikejax.functional import LeakyParameters
            >>> LeakyParameters.aliases()
            {'threshold': 'v_th'}
            >>> LeakyParameters(threshold=0.5).v_th      # snnTorch's spelling, same field
            0.5
        """
        return {alias: field for alias, (field, _) in cls._aliases.items()}

    def __post_init__(self):
        cls = type(self).__name__
        for name in _numeric_fields(self):
            check_finite_value(f"{cls}.{name}", getattr(self, name))
        for name in self.positive_fields():
            check_positive(f"{cls}.{name}", getattr(self, name))
        for name in self._non_negative:
            check_non_negative(f"{cls}.{name}", getattr(self, name))
        method = getattr(self, "method", None)
        if method is not None:
            resolve_surrogate(method)
        for reset, limit in self.reset_pairs():
            reset_value = getattr(self, reset) if isinstance(reset, str) else reset[1]
            reset_name = reset if isinstance(reset, str) else reset[0]
            check_below(
                f"{cls}.{reset_name}", reset_value, limit, getattr(self, limit),
                "a reset at or above the threshold fires on every step",
            )

    def positive_fields(self) -> tuple[str, ...]:
        """The fields that must be > 0: ``_positive``, plus ``alpha`` (the surrogate's width)
        when the parameters have a surrogate ``method``."""
        surrogate = ("alpha",) if "method" in self.__dataclass_fields__ else ()
        return tuple(self._positive) + surrogate

    def reset_pairs(self) -> tuple:
        """``(reset, threshold)`` pairs that must satisfy ``reset < threshold``; ``reset`` is a
        field name, or ``(description, value)`` for a fixed reset value (such as a reset to 0)."""
        return tuple(self._reset_below)

    def lower_bounds(self) -> dict[str, float]:
        """The smallest valid value of each bounded field: :data:`POSITIVE_FLOOR` for the
        positive ones, ``0`` for the non-negative ones.

        :class:`spikejax.nn` modules clamp learnable parameters to these bounds (with
        ``jnp.maximum``) before every step, so that an optimizer step cannot push a time
        constant through zero.
        """
        bounds = {name: 0.0 for name in self._non_negative}
        bounds.update({name: POSITIVE_FLOOR for name in self.positive_fields()})
        return bounds

    def replace(self, **changes):  # provided by flax.struct; declared for type checkers
        return dataclasses.replace(self, **changes)


#: The smallest value a learnable positive parameter (a time constant, a surrogate width) is
#: clamped to during training (see :meth:`NeuronParameters.lower_bounds`).
POSITIVE_FLOOR = 1e-6


def _numeric_fields(p: Any) -> tuple[str, ...]:
    # Numeric pytree leaves; static fields (method names) and nested parameter sets (which check
    # themselves) are skipped.
    names = []
    for name, field in p.__dataclass_fields__.items():
        if not field.metadata.get("pytree_node", True):
            continue
        if is_concrete(getattr(p, name)):
            names.append(name)
    return tuple(names)


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
