"""The base of every spikejax module: :class:`StatefulModule` and the parameter handling that
all neuron modules share (:class:`_NeuronBase`: parameters, learnable fields, ``dt``, dtypes).

The four kinds of neuron module built on it are in :mod:`spikejax.nn._neuron`.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar, Iterable, Optional

import jax
import jax.numpy as jnp
from flax import nnx

from ..functional._model import NeuronModel, check_dt

__all__ = ["StatefulModule", "is_stateful"]


def learnable_fields(p: Any) -> tuple[str, ...]:
    """The fields of a parameter dataclass that can be trained: numeric pytree leaves.

    Static fields (a surrogate ``method``, a reset rule) and nested parameter dataclasses are
    not learnable as a whole.
    """
    names = []
    for name, field in p.__dataclass_fields__.items():
        if not field.metadata.get("pytree_node", True):
            continue
        value = getattr(p, name)
        if isinstance(value, (int, float)) or hasattr(value, "dtype"):
            names.append(name)
    return tuple(names)


def _is_floating_dtype(dtype) -> bool:
    try:
        return jnp.issubdtype(jnp.dtype(dtype), jnp.floating)
    except TypeError:
        return False


class StatefulModule(nnx.Module):
    """Marks a module whose ``__call__(x, state=None)`` returns ``(output, state)``.

    :class:`~spikejax.nn.SequentialState` threads the state of such modules and calls every
    other module as ``module(x)``. A user module can opt in by deriving from this class or by
    setting ``is_stateful = True``.

    Example:
        >>> import jax.numpy as jnp
        >>> from flax import nnx
        >>> from spikejax.nn import SequentialState, StatefulModule
        >>> class Counter(StatefulModule):            # counts its calls in the state
        ...     def __call__(self, x, state=None):
        ...         count = 0 if state is None else state
        ...         return x, count + 1
        >>> model = SequentialState(Counter(), nnx.Linear(2, 2, rngs=nnx.Rngs(0)), Counter())
        >>> _, state = model(jnp.ones(2))
        >>> _, state = model(jnp.ones(2), state)
        >>> state                                     # the Linear layer has no state
        [2, None, 2]
    """

    is_stateful: ClassVar[bool] = True


def is_stateful(module: Any) -> bool:
    """Whether ``module(x, state)`` returns ``(output, state)`` (see :class:`StatefulModule`).

    Example:
        >>> from flax import nnx
        >>> from spikejax.nn import LIFCell, is_stateful
        >>> is_stateful(LIFCell()), is_stateful(nnx.Linear(2, 2, rngs=nnx.Rngs(0)))
        (True, False)
    """
    return bool(getattr(module, "is_stateful", False))


class _NeuronBase(StatefulModule):
    model: ClassVar[NeuronModel]

    def __init__(
        self,
        p: Any = None,
        *,
        dt: float = 1e-3,
        learnable: Iterable[str] = (),
        detach_reset: Optional[bool] = None,
        param_dtype: Any = jnp.float32,
        dtype: Any = None,
    ):
        params_cls = self.model.parameters
        if p is None:
            p = params_cls()
        elif not isinstance(p, params_cls):
            raise TypeError(
                f"p must be a {params_cls.__name__} for {type(self).__name__}, got {type(p).__name__}"
            )
        check_dt(dt)
        # A peer's spelling (snnTorch's "threshold") names the same field ("v_th").
        aliases = params_cls.aliases() if hasattr(params_cls, "aliases") else {}
        learnable = tuple(aliases.get(name, name) for name in learnable)
        fields = learnable_fields(p)
        for name in learnable:
            if name not in fields:
                raise ValueError(
                    f"learnable names {name!r}, which is not a numeric parameter of "
                    f"{params_cls.__name__}; expected some of {list(fields)}"
                )
        if detach_reset is not None and not self._accepts_detach_reset():
            raise TypeError(
                f"detach_reset must be None for {type(self).__name__}: the {self.model.name} "
                f"model has no reset, got detach_reset={detach_reset!r}"
            )
        if dtype is not None and not _is_floating_dtype(dtype):
            raise TypeError(
                f"dtype must be a floating dtype (that of the neuron state) or None, got {dtype!r}"
            )
        self.p = nnx.data(p)
        self.dt = dt
        self.detach_reset = detach_reset
        self.learnable = learnable
        self.dtype = dtype
        for name in learnable:
            setattr(self, name, nnx.Param(jnp.asarray(getattr(p, name), dtype=param_dtype)))

    @property
    def parameters(self):
        """The neuron parameters, with learnable fields taken from their ``nnx.Param``.

        Learnable fields are kept in their valid range: each is clamped from below to the bound
        of :meth:`~spikejax.functional.NeuronParameters.lower_bounds` with ``jnp.maximum``
        (time constants and surrogate widths to a small positive floor, ``1e-6``; non-negative
        fields such as refractory periods to 0). An optimizer step that pushes ``tau_mem_inv``
        through zero therefore runs the neuron at the floor instead of with a negative time
        constant (whose voltages grow without bound); as with snnTorch's clamp of ``beta``, the
        gradient is zero while the stored value stays below the bound. Decay factors (Leaky's
        and Synaptic's ``beta`` and ``alpha_syn``) are clipped to ``[0, 1]`` by the models
        themselves. A NaN stays NaN, so that training notices it.

        Example:
            >>> import jax.numpy as jnp
            >>> from spikejax.nn import LIFCell
            >>> cell = LIFCell(learnable=("tau_mem_inv",))
            >>> cell.tau_mem_inv[...] = jnp.asarray(-50.0)            # e.g. after a big step
            >>> float(cell.parameters.tau_mem_inv)
            1e-06
        """
        if not self.learnable:
            return self.p
        bounds = self.p.lower_bounds() if hasattr(self.p, "lower_bounds") else {}
        values = {}
        for name in self.learnable:
            value = getattr(self, name)[...]
            if name in bounds:
                value = jnp.maximum(value, jnp.asarray(bounds[name], value.dtype))
            values[name] = value
        return self.p.replace(**values)

    def _promote(self, input_tensor, state, *weights):
        """``(input, state, p, *weights)`` in ``self.dtype`` (Flax's ``promote_dtype``): the
        floating arrays cast, Python numbers left weakly typed; unchanged for ``dtype=None``."""
        p = self.parameters
        if self.dtype is None:
            return (input_tensor, state, p, *weights)
        cast = lambda a: (
            a.astype(self.dtype) if hasattr(a, "dtype") and jnp.issubdtype(a.dtype, jnp.floating) else a
        )
        return (jnp.asarray(input_tensor, self.dtype),
                *jax.tree_util.tree_map(cast, (state, p, *weights)))

    def _promote_state(self, state):
        """A given state in ``self.dtype`` (its floating leaves cast), as :meth:`_promote` does."""
        if self.dtype is None or state is None:
            return state
        cast = lambda a: (
            a.astype(self.dtype) if hasattr(a, "dtype") and jnp.issubdtype(a.dtype, jnp.floating) else a
        )
        return jax.tree_util.tree_map(cast, state)

    def _accepts_detach_reset(self) -> bool:
        steps = (self.model.feed_forward_step, self.model.recurrent_step)
        return all(
            step is None or "detach_reset" in inspect.signature(step).parameters for step in steps
        )

    def _step_options(self) -> dict:
        return {} if self.detach_reset is None else {"detach_reset": self.detach_reset}


def _constructor_signature(base: type, model: NeuronModel, has_reset: bool) -> inspect.Signature:
    """The real arguments of ``base(...)`` for ``model``: each ``__init__``'s own, with its
    ``**kwargs`` replaced by the keyword arguments of the base class it passes them to, ``p``
    annotated with the model's parameter class, and ``detach_reset`` only for models with a
    reset. (Without it, ``inspect.signature(LIFCell)`` shows ``(*args, **kwargs)``-like
    fragments of the first ``__init__`` only.)"""
    parameters: list[inspect.Parameter] = []
    first = True
    for klass in base.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        own = list(inspect.signature(init).parameters.values())[1:]  # without self
        names = {q.name for q in parameters}
        more = any(q.kind is inspect.Parameter.VAR_KEYWORD for q in own)
        for q in own:
            if q.kind is inspect.Parameter.VAR_KEYWORD or q.name in names:
                continue
            if not first and q.kind is not inspect.Parameter.KEYWORD_ONLY:
                continue  # positional arguments come from the most derived __init__
            parameters.append(q)
        first = False
        if not more:
            break
    fixed = []
    for q in parameters:
        if q.name == "p":
            q = q.replace(annotation=Optional[model.parameters])
        elif q.name == "detach_reset" and not has_reset:
            continue
        fixed.append(q)
    fixed.sort(key=lambda q: q.kind is inspect.Parameter.KEYWORD_ONLY)  # stable: positional first
    return inspect.Signature(fixed)
