"""Containers that thread neuron state: :class:`SequentialState` and :class:`Lift`."""

from __future__ import annotations

import contextlib
import contextvars
from typing import Any, Optional, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from ..functional._validate import check_min_rank
from ..functional.integrate import run
from ._base import StatefulModule, is_stateful

__all__ = ["SequentialState", "Lift"]

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


class SequentialState(StatefulModule):
    """A stack of layers, some stateful (neurons), some not (``nnx.Linear``, ``nnx.Conv``, ...).

    Stateful layers (see :class:`~spikejax.nn.StatefulModule`) are called as
    ``layer(x, state) -> (x, state)``; all others as ``layer(x) -> x``. The state of the stack
    is a list with one entry per layer (``None`` for stateless layers); ``state=None`` starts
    every neuron at rest.

    Args:
        *layers: the modules, applied in order.
        return_hidden: return the list of every layer's output instead of the last one.

    Example:
        >>> import jax.numpy as jnp
        >>> from flax import nnx
        >>> from spikejax.nn import SequentialState, LIFCell
        >>> rngs = nnx.Rngs(0)
        >>> model = SequentialState(nnx.Linear(10, 5, rngs=rngs), LIFCell(), nnx.Linear(5, 1, rngs=rngs))
        >>> out, state = model(jnp.ones((8, 10)))
        >>> out.shape, len(state)
        ((8, 1), 3)
    """

    def __init__(self, *layers: Any, return_hidden: bool = False):
        if not layers:
            raise ValueError("SequentialState needs at least one layer, got none")
        for index, layer in enumerate(layers):
            if not callable(layer):
                raise TypeError(f"layers[{index}] must be callable, got {type(layer).__name__}")
        self.layers = nnx.List(layers)
        self.return_hidden = return_hidden

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, index: int):
        return self.layers[index]

    def __call__(self, input_tensor: Any, state: Optional[Sequence[Any]] = None):
        if state is None:
            state = [None] * len(self.layers)
        elif len(state) != len(self.layers):
            raise ValueError(
                f"state must have one entry per layer ({len(self.layers)}), got {len(state)} entries"
            )
        x = input_tensor
        hidden, new_state = [], []
        for layer, layer_state in zip(self.layers, state):
            if is_stateful(layer):
                x, layer_state = layer(x, layer_state)
            else:
                x, layer_state = layer(x), None
            hidden.append(x)
            new_state.append(layer_state)
        return (hidden if self.return_hidden else x), new_state


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

    Args:
        module: the module (or any callable) to lift.
        unroll, remat: passed to :func:`spikejax.functional.run` for stateful modules.

    Example:
        >>> import jax.numpy as jnp
        >>> from flax import nnx
        >>> from spikejax.nn import Lift
        >>> lifted = Lift(nnx.Linear(10, 5, rngs=nnx.Rngs(0)))
        >>> lifted(jnp.ones((100, 8, 10))).shape
        (100, 8, 5)
    """

    def __init__(self, module: Any, *, unroll: int | bool = 1, remat: bool | int = False):
        if not callable(module):
            raise TypeError(f"module must be callable, got {type(module).__name__}")
        self.module = module
        self.unroll = unroll
        self.remat = remat

    @property
    def is_stateful(self) -> bool:  # type: ignore[override]
        return is_stateful(self.module)

    def __call__(self, input_tensor: Any, state: Any = None):
        check_min_rank("input_tensor", input_tensor, 2, "(T, B, ...)")
        if self.is_stateful:
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
