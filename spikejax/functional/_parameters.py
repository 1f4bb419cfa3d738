"""Parameter sets of neuron models: validated, frozen pytree dataclasses, with peer libraries'
spellings of a field accepted as aliases.

:func:`parameters_dataclass` makes a parameter class a pytree whose checks run when a user builds
it (not when a gradient or an optimizer rebuilds it from its leaves); :class:`NeuronParameters`
holds the checks; a class's ``_aliases`` let it take, for example, snnTorch's ``threshold`` for
``v_th``. :mod:`spikejax.functional._model` re-exports these for the model files.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from typing import Any, ClassVar

import jax
from flax import serialization

from ._validate import check_below, check_finite_value, check_non_negative, check_positive, is_concrete
from .surrogate import resolve_surrogate

__all__ = ["NeuronParameters", "POSITIVE_FLOOR", "parameters_dataclass"]


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
        """The smallest valid value of each bounded field: ``POSITIVE_FLOOR`` (1e-6) for the
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
