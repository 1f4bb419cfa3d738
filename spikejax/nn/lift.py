"""Lift a one-step module into the time domain: :class:`Lift`, and :func:`is_sequence`.

A module either takes one step ``(B, ...)`` (a cell, ``nnx.Linear``) or runs over a whole
sequence ``(T, B, ...)`` itself (the neuron layers such as :class:`~spikejax.nn.LIF`, a
:class:`Lift`, a :class:`~spikejax.nn.SequentialState` holding one of those): the second kind sets
``is_sequence = True`` (see :func:`is_sequence`), and :class:`Lift` refuses it.
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Any, ClassVar, Optional

import jax
import jax.numpy as jnp

from ..functional._validate import check_min_rank
from ..functional.integrate import run
from ._base import StatefulModule, is_stateful
from ._neuron import _check_steps

__all__ = ["Lift", "is_sequence"]

# Set while a data-parallel step is traced (spikejax.train): Lift then merges (T, B) in (B, T)
# order, so that a batch split over devices stays split (see Lift).
_BATCH_MAJOR = contextvars.ContextVar("spikejax_lift_batch_major", default=False)


@contextlib.contextmanager
def _batch_major_lift():
    """Within this context, :class:`Lift` merges ``(T, B)`` as ``B * T`` (batch-major)."""
    token = _BATCH_MAJOR.set(True)
    try:
        yield
    finally:
        _BATCH_MAJOR.reset(token)


def is_sequence(module: Any) -> bool:
    """Whether ``module`` runs over time itself, taking a whole sequence ``(T, B, ...)``.

    True for the neuron layers (:class:`~spikejax.nn.LIF`, :class:`~spikejax.nn.LIFRecurrent`,
    ...), for :class:`Lift`, for the encoders that make or read a time axis, and for a
    :class:`SequentialState` that holds one of them; false for cells and ordinary layers. A user
    module opts in with a class attribute ``is_sequence = True``.

    Example:
        >>> from flax import nnx
        >>> from spikejax.nn import LIF, LIFCell, SequentialState
        >>> from spikejax.nn.lift import is_sequence
        >>> is_sequence(LIF()), is_sequence(LIFCell()), is_sequence(SequentialState(LIFCell()))
        (True, False, False)
        >>> is_sequence(SequentialState(nnx.Linear(2, 2, rngs=nnx.Rngs(0)), LIF()))
        True
    """
    return bool(getattr(module, "is_sequence", False))


class Lift(StatefulModule):
    """Lift a module into the time domain: apply it to every step of a ``(T, B, ...)`` sequence.

    A stateless module (``nnx.Linear``, ``nnx.Conv``, a pooling function) is applied once to the
    ``(T * B, ...)`` reshaped input, one batched operation instead of ``T`` small ones, which
    gives the same result for any module that treats batch entries independently (not, for
    example, a batch norm in training mode). ``Lift(stateless)(x)`` returns only the output.

    In a data-parallel step (:func:`spikejax.train.data_parallel`) the rows are merged in
    ``(B, T)`` order instead, so that each device keeps its part of the batch: same numbers,
    no gathering of the batch onto every device.

    A stateful module (a cell, or a :class:`SequentialState` of cells) is scanned over time with
    :func:`spikejax.functional.run`, and ``Lift(stateful)(x, state)`` returns ``(outputs, state)``.

    A module that already runs over time (:func:`is_sequence`: :class:`~spikejax.nn.LIF`,
    :class:`~spikejax.nn.LIFRecurrent`, another :class:`Lift`, a :class:`SequentialState` holding
    one) is refused with a ``TypeError``: lifted, it would scan the batch axis as time. Call it
    on the sequence directly, or lift its cell (``Lift(LIFCell())``).

    Args:
        module: the module (or any callable) to lift.
        unroll: scan unrolling, passed to :func:`spikejax.functional.run` for stateful modules.
        remat: rematerialisation, passed to :func:`spikejax.functional.run` for stateful
            modules.

    Example:
        >>> import jax.numpy as jnp
        >>> from flax import nnx
        >>> from spikejax.nn import Lift
        >>> lifted = Lift(nnx.Linear(10, 5, rngs=nnx.Rngs(0)))
        >>> lifted(jnp.ones((100, 8, 10))).shape
        (100, 8, 5)
    """

    #: A lifted module runs over time, so lifting it again is refused.
    is_sequence: ClassVar[bool] = True

    def __init__(self, module: Any, *, unroll: int | bool = 1, remat: bool | int = False):
        if not callable(module):
            raise TypeError(f"module must be callable, got {type(module).__name__}")
        if is_sequence(module):
            raise TypeError(_refusal(module))
        self.module = module
        self.unroll = unroll
        self.remat = remat

    @property
    def is_stateful(self) -> bool:  # type: ignore[override]
        return is_stateful(self.module)

    def __call__(self, input_tensor: Any, state: Any = None):
        check_min_rank("input_tensor", input_tensor, 2, "(T, B, ...)")
        if self.is_stateful:
            _check_steps(input_tensor, "(T, B, ...)")
            return run(
                lambda x, s: self.module(x, s), state, input_tensor, unroll=self.unroll, remat=self.remat
            )[::-1]
        if state is not None:
            raise ValueError(
                f"state must be None for a lifted stateless {type(self.module).__name__}, got "
                f"{type(state).__name__}"
            )
        steps, batch = input_tensor.shape[:2]
        if _BATCH_MAJOR.get():
            # Data-parallel: with B split over devices, (B, T) -> B * T keeps each device's rows
            # one block, where (T, B) -> T * B interleaves them and XLA gathers the whole batch.
            flat = jnp.swapaxes(input_tensor, 0, 1).reshape((batch * steps,) + input_tensor.shape[2:])
            out = self.module(flat)
            return jax.tree_util.tree_map(
                lambda a: jnp.swapaxes(a.reshape((batch, steps) + a.shape[1:]), 0, 1), out
            )
        flat = input_tensor.reshape((steps * batch,) + input_tensor.shape[2:])
        out = self.module(flat)
        return jax.tree_util.tree_map(lambda a: a.reshape((steps, batch) + a.shape[1:]), out)


def _refusal(module: Any) -> str:
    """Why ``Lift(module)`` is refused, and what to write instead."""
    from .sequential import SequentialState

    name = type(module).__name__
    if isinstance(module, SequentialState):
        inner = [f"layers[{i}] is {type(m).__name__}" for i, m in enumerate(module.layers) if is_sequence(m)]
        name = f"SequentialState ({', '.join(inner)})"
        instead = "; build the stack from cells and lift it, or call it on the sequence directly"
    else:
        cell = _cell_of(module)
        instead = f"; call {type(module).__name__} directly on the sequence" + (
            f", or lift its cell: Lift({cell}(...))" if cell else ""
        )
    return (
        f"module must take one step (B, ...) to be lifted, got {name}, which already runs over a "
        f"sequence (T, B, ...): Lift would scan its batch axis as time{instead}"
    )


def _cell_of(module: Any) -> Optional[str]:
    """The name of the one-step module of a neuron layer (``LIFCell`` for ``LIF``), if any."""
    from ._neuron import MODULES, NeuronRecurrentLayer

    model = getattr(module, "model", None)
    classes = MODULES.get(getattr(model, "name", None), {})
    cell = classes.get("RecurrentCell" if isinstance(module, NeuronRecurrentLayer) else "Cell")
    return None if cell is None else cell.__name__
