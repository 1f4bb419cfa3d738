"""The container that threads neuron state through its layers: :class:`SequentialState`.

Its layers are one-step modules (cells, ``nnx.Linear``), run together in one time loop, or
modules that run over a whole sequence themselves (see :mod:`spikejax.nn.lift`), run layer by layer.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from ..functional._validate import check_min_rank
from ._base import StatefulModule, is_stateful
from ._neuron import _check_steps
from .lift import Lift, is_sequence

__all__ = ["SequentialState"]


def _shape(x: Any) -> str:
    shape = getattr(x, "shape", None)
    return f"shape {tuple(shape)}" if shape is not None else f"a {type(x).__name__}"


def _input_features(layer: Any) -> Optional[tuple[str, int]]:
    """The size a layer declares for the last axis of its input, as ``(attribute, size)``:
    ``in_features`` (``nnx.Linear``, ``nnx.Conv``: channels last) or ``input_size`` (the
    recurrent neuron modules), looking through :class:`Lift`; ``None`` when it declares none."""
    if isinstance(layer, Lift):
        return _input_features(layer.module)
    for name in ("in_features", "input_size"):
        size = getattr(layer, name, None)
        if isinstance(size, int) and not isinstance(size, bool):
            return name, size
    return None


def _locate(error: Exception, where: str, x: Any) -> Exception:
    """``error`` re-raised as the same type with the layer and its input shape in front; the
    original stays as ``__cause__``. Types whose constructor takes more than a message keep
    their message and get the location as a note."""
    message = f"{where} got an input of {_shape(x)}: {error}"
    try:
        located = type(error)(message)
        if str(located) == message:
            return located
    except Exception:  # noqa: BLE001 - any constructor that is not (message,)
        pass
    error.add_note(message)
    return error


class SequentialState(StatefulModule):
    """A stack of layers, some stateful (neurons), some not (``nnx.Linear``, ``nnx.Conv``, ...).

    Stateful layers (see :class:`~spikejax.nn.StatefulModule`) are called as
    ``layer(x, state) -> (x, state)``; all others as ``layer(x) -> x``. The state of the stack
    is a list with one entry per layer (``None`` for stateless layers); ``state=None`` starts
    every neuron at rest.

    Where layers meet, the input's last axis is checked against the size a layer declares
    (``in_features`` of ``nnx.Linear`` or ``nnx.Conv``, ``input_size`` of a recurrent neuron
    layer), and any ``ValueError`` or ``TypeError`` raised inside layer ``k`` is re-raised naming
    ``layers[k]``, its type and the shape it got, with the original error as ``__cause__``.

    **One time loop.** ``model(x, steps=T)`` runs ``T`` steps on the constant input ``x``
    ``(B, ...)`` (an image, say) in ONE loop: the stateless layers in front of the first
    stateful one (``Lift(nnx.Linear(...))``) run once, and every later layer, neuron layers such
    as :class:`~spikejax.nn.Leaky` and lifted layers alike, runs step by step inside a single
    scan, as hand-written JAX would. The outputs and states are those of the layer-by-layer run
    on ``x`` broadcast over time. A stack of cells (no layer runs over time) given ``steps`` runs
    its one step ``T`` times. A sequence ``(T, B, ...)`` runs layer by layer (each neuron layer
    one scan or kernel, each lifted layer one batched call) unless ``loop="one"``. A stack that
    cannot run in one loop (a layer with ``implementation="pallas"``, a sequence layer other
    than a neuron layer or :class:`Lift`, an unlifted layer among sequence layers) runs layer by
    layer on the broadcast input. How the loop runs (scan or kernel, ``unroll``, ``remat``) is
    decided in one place, ``spikejax.nn._runner``. A user's stateful module in the loop
    builds its state from ``state=None`` in the first step, which then runs outside the scan;
    a method ``initial_state(x)`` returning its rest state for steps shaped like ``x`` (an array
    or a ``jax.ShapeDtypeStruct``) keeps every step inside it.

    Args:
        *layers: the modules, applied in order.
        return_hidden: return the list of every layer's output instead of the last one.
        loop: ``"auto"`` (one loop with ``steps``, layer by layer for a sequence), ``"one"`` (one
            loop for sequences too) or ``"layers"`` (always layer by layer).
        unroll: of the one loop (see :func:`spikejax.functional.run`); ``None`` takes the most
            unrolled of the layers' ``unroll``.
        remat: of the one loop (see :func:`spikejax.functional.run`); ``None`` takes the first
            ``remat`` a layer asks for.

    Example:
        >>> import jax.numpy as jnp
        >>> from flax import nnx
        >>> from spikejax.nn import SequentialState, LIFCell
        >>> rngs = nnx.Rngs(0)
        >>> model = SequentialState(nnx.Linear(10, 5, rngs=rngs), LIFCell(), nnx.Linear(5, 1, rngs=rngs))
        >>> out, state = model(jnp.ones((8, 10)))
        >>> out.shape, len(state)
        ((8, 1), 3)

        The tutorial network of snnTorch on an image given once, 25 steps in one loop:

        >>> from spikejax.functional import LeakyParameters
        >>> from spikejax.nn import Leaky, Lift
        >>> p = LeakyParameters(beta=0.95)
        >>> net = SequentialState(Lift(nnx.Linear(784, 100, rngs=rngs)), Leaky(p),
        ...                       Lift(nnx.Linear(100, 10, rngs=rngs)), Leaky(p, record_states=True))
        >>> spikes, state = net(jnp.ones((8, 784)), steps=25)
        >>> spikes.shape, state[-1].mem.shape         # the output membrane at every step
        ((25, 8, 10), (25, 8, 10))
    """

    def __init__(
        self,
        *layers: Any,
        return_hidden: bool = False,
        loop: str = "auto",
        unroll: int | bool | None = None,
        remat: bool | int | None = None,
    ):
        if not layers:
            raise ValueError("SequentialState needs at least one layer, got none")
        for index, layer in enumerate(layers):
            if not callable(layer):
                raise TypeError(f"layers[{index}] must be callable, got {type(layer).__name__}")
        if loop not in _LOOPS:
            raise ValueError(f"loop must be one of {_LOOPS}, got {loop!r}")
        if unroll is not None and not (isinstance(unroll, bool) or (isinstance(unroll, int) and unroll >= 1)):
            raise ValueError(f"unroll must be None, a bool or a positive int, got {unroll!r}")
        if remat is not None and not (isinstance(remat, bool) or (isinstance(remat, int) and remat >= 1)):
            raise ValueError(f"remat must be None, a bool or a positive int, got {remat!r}")
        self.layers = nnx.List(layers)
        self.return_hidden = return_hidden
        self.loop = loop
        self.unroll = unroll
        self.remat = remat

    def __len__(self) -> int:
        return len(self.layers)

    @property
    def is_sequence(self) -> bool:
        """Whether a layer runs over time itself (see :func:`is_sequence`), so the stack does."""
        return any(is_sequence(layer) for layer in self.layers)

    def __getitem__(self, index: int):
        return self.layers[index]

    def __call__(
        self, input_tensor: Any, state: Optional[Sequence[Any]] = None, *, steps: Optional[int] = None
    ):
        """Run the stack on ``input_tensor``; with ``steps``, ``steps`` steps of the constant
        input ``input_tensor`` in one time loop. Returns ``(output, state)``."""
        state = self._check_state(state)
        if steps is not None:
            if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
                raise ValueError(f"steps must be a positive int (the number of time steps), got {steps!r}")
            if self.loop != "layers":
                loop = self._loop_steps(input_tensor)
                if loop is not None:
                    return self._run_one_loop(input_tensor, state, steps, loop)
            return self._run_broadcast(input_tensor, state, steps)
        if self.loop == "one" and self.is_sequence:
            check_min_rank("input_tensor", input_tensor, 2, "(T, B, ...)")
            _check_steps(input_tensor, "(T, B, ...)")
            loop = self._loop_steps(input_tensor)
            if loop is None:
                raise ValueError(
                    f"loop='one' cannot run this stack in one loop: {self._why_not_one_loop()}"
                )
            return self._run_one_loop(input_tensor, state, None, loop)
        return self._run_layers(input_tensor, state)

    def _check_state(self, state):
        if state is None:
            state = [None] * len(self.layers)
        elif not isinstance(state, (list, tuple)) or hasattr(state, "_fields"):
            # A neuron state is a NamedTuple: len() would work and zip() spread its fields.
            raise TypeError(
                f"state must be a list with one entry per layer ({len(self.layers)}), as returned "
                f"by SequentialState, or None; got {type(state).__name__}"
            )
        elif len(state) != len(self.layers):
            raise ValueError(
                f"state must have one entry per layer ({len(self.layers)}), got {len(state)} entries"
            )
        return list(state)

    def _run_layers(self, input_tensor, state):
        """Layer by layer: each layer over the whole input before the next."""
        x = input_tensor
        hidden, new_state = [], []
        for index, (layer, layer_state) in enumerate(zip(self.layers, state)):
            where = f"layers[{index}] ({type(layer).__name__})"
            self._check_features(index, where, layer, x)
            try:
                if is_stateful(layer):
                    x, layer_state = layer(x, layer_state)
                else:
                    x, layer_state = layer(x), None
            except (ValueError, TypeError) as error:
                raise _locate(error, where, x) from error
            hidden.append(x)
            new_state.append(layer_state)
        return (hidden if self.return_hidden else x), new_state

    def _call_layer(self, index: int, call, x):
        """``call(x)`` for layer ``index``, its input checked and its errors located."""
        layer = self.layers[index]
        where = f"layers[{index}] ({type(layer).__name__})"
        self._check_features(index, where, layer, x)
        try:
            return call(x)
        except (ValueError, TypeError) as error:
            raise _locate(error, where, x) from error

    def _prefix_length(self) -> int:
        """How many stateless layers come before the first stateful one."""
        return next((i for i, layer in enumerate(self.layers) if is_stateful(layer)), len(self.layers))

    def _loop_steps(self, input_tensor) -> Optional[list]:
        """The layers after the stateless prefix as ``LoopStep`` s, or ``None`` when one of
        them cannot run inside one time loop."""
        from ._neuron import NeuronLayer, NeuronRecurrentLayer
        from ._runner import abstract_currents, takes_kernel

        sequence_stack = self.is_sequence
        steps = []
        for layer in list(self.layers)[self._prefix_length():]:
            if isinstance(layer, Lift):
                steps.append(_lifted_step(layer))
            elif isinstance(layer, NeuronLayer):
                dtype = layer.dtype or getattr(input_tensor, "dtype", jnp.float32)
                if takes_kernel(layer.model, layer.implementation, abstract_currents(dtype),
                                record_states=layer.record_states, options=layer._step_options(),
                                p=layer.parameters, dt=layer.dt):
                    return None
                steps.append(layer._loop_step())
            elif isinstance(layer, NeuronRecurrentLayer):
                steps.append(layer._loop_step())
            elif sequence_stack:
                return None  # a layer that is not per step among sequence layers
            else:
                steps.append(_module_step(layer, 1, False))
        return steps

    def _why_not_one_loop(self) -> str:
        from ._neuron import NeuronLayer, NeuronRecurrentLayer

        for index, layer in enumerate(self.layers):
            if isinstance(layer, NeuronLayer) and layer.implementation == "pallas":
                return f"layers[{index}] ({type(layer).__name__}) runs as a kernel (implementation='pallas')"
            if not isinstance(layer, (Lift, NeuronLayer, NeuronRecurrentLayer)) and index >= self._prefix_length():
                return (f"layers[{index}] ({type(layer).__name__}) is neither a neuron layer nor a "
                        f"Lift; lift it to run it per step")
        return "a layer takes the fused kernel on this device"

    def _run_one_loop(self, input_tensor, state, steps, loop):
        """The stateless prefix once (batched over time for a sequence), then the rest of the
        stack step by step in one loop (``run_stack`` of ``spikejax.nn._runner``)."""
        from ._runner import run_stack

        first = self._prefix_length()
        x, hidden = input_tensor, []
        for index in range(first):
            layer = self.layers[index]
            if steps is not None and isinstance(layer, Lift):
                layer = layer.module  # a constant input: the lifted layer once, on one step
            x = self._call_layer(index, layer, x)
            hidden.append(x)
        if steps is not None and self.return_hidden:
            hidden = [jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (steps,) + a.shape), h)
                      for h in hidden]
        if first == len(self.layers):  # nothing stateful: no loop
            out = jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (steps,) + a.shape), x) \
                if steps is not None else x
            return (hidden if self.return_hidden else out), [None] * len(self.layers)

        def call(index, step, x, s):
            return self._call_layer(first + index, lambda x: step(x, s), x)

        outputs, states = run_stack(
            loop, state[first:], x, steps=steps, unroll=self.unroll, remat=self.remat,
            return_hidden=self.return_hidden, call=call,
        )
        if self.return_hidden:
            outputs = hidden + list(outputs)
        return outputs, [None] * first + list(states)

    def _run_broadcast(self, input_tensor, state, steps):
        """``steps`` on a stack that cannot run in one loop: the stateless prefix once, then
        layer by layer on its output broadcast over time."""
        first = self._prefix_length()
        if not self.is_sequence:  # a cell stack with loop="layers": its step, steps times
            return Lift(_StackStep(self))(
                jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (steps,) + a.shape), input_tensor),
                None if all(s is None for s in state) else state,
            )
        x, hidden = input_tensor, []
        for index in range(first):
            layer = self.layers[index]
            x = self._call_layer(index, layer.module if isinstance(layer, Lift) else layer, x)
            hidden.append(jnp.broadcast_to(x, (steps,) + x.shape))
        x = jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (steps,) + a.shape), x)
        rest = SequentialState(*list(self.layers)[first:], return_hidden=self.return_hidden, loop="layers") \
            if first < len(self.layers) else None
        if rest is None:
            return (hidden if self.return_hidden else x), list(state)
        out, new_state = rest._run_layers(x, state[first:])
        return (hidden + out if self.return_hidden else out), [None] * first + new_state

    def _check_features(self, index: int, where: str, layer: Any, x: Any) -> None:
        """``ValueError`` naming both shapes when ``x`` does not fit the size ``layer`` declares."""
        declared = _input_features(layer)
        shape = getattr(x, "shape", None)
        if declared is None or shape is None or len(shape) == 0:
            return
        name, size = declared
        if shape[-1] != size:
            source = (
                "the input_tensor" if index == 0
                else f"layers[{index - 1}] ({type(self.layers[index - 1]).__name__})"
            )
            raise ValueError(
                f"{where} expects inputs of shape (..., {size}) ({name}={size}), got shape "
                f"{tuple(shape)} from {source}"
            )


_LOOPS = ("auto", "one", "layers")


class _StackStep(StatefulModule):
    """A cell stack as one stateful step, for :class:`Lift` (``loop="layers"`` with ``steps``)."""

    def __init__(self, stack: SequentialState):
        self.stack = stack

    def __call__(self, x, state=None):
        out, state = self.stack._run_layers(x, self.stack._check_state(state))
        return out, state


def _module_step(module: Any, unroll, remat):
    """A ``LoopStep`` for one module called per step: a neuron cell's own, a stateful module
    as ``module(x, s)`` (it builds its rest state from ``None``), any other as ``module(x)``."""
    from ._runner import LoopStep

    if is_stateful(module):
        own = getattr(module, "_loop_step", None)
        if own is not None and not is_sequence(module):
            return own()._replace(unroll=unroll, remat=remat)
        rest = getattr(module, "initial_state", None)  # the rest state for a step like x
        return LoopStep(lambda x, s: module(x, s), rest, lambda s: s, False, unroll, remat)
    return LoopStep(lambda x, s: (module(x), None), lambda x: None, lambda s: s, False, 1, False)


def _lifted_step(lift: "Lift"):
    """A lifted module as one step of a time loop: the module itself on ``(B, ...)``."""
    return _module_step(lift.module, lift.unroll, lift.remat)


