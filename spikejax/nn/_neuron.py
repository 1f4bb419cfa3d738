"""Generic NNX modules for any :class:`~spikejax.functional.NeuronModel`.

Norse gives each neuron model four modules; so does spikejax, from one implementation:

* ``XCell``: one feed-forward step, ``(B, ...) -> (B, ...)``.
* ``XRecurrentCell``: one step of a layer that owns input and recurrent weights.
* ``X``: the feed-forward cell scanned over a sequence ``(T, B, ...)``.
* ``XRecurrent``: the recurrent cell scanned over a sequence.

Every module's ``__call__(input, state=None)`` returns ``(output, state)``; ``state=None`` means
the rest state for that batch. Modules hold only parameters, never the neuron state.

Precision follows Flax: ``param_dtype`` is the dtype of the learnable parameters (and weights),
``dtype`` the dtype of the computation, here the neuron state. ``dtype=None`` (the default)
computes in the input's dtype; ``dtype=jnp.float32`` behind an ``nnx.Linear(..., dtype=
jnp.bfloat16)`` gives bfloat16 matmuls with a float32 neuron state. Integer and boolean inputs
(spike counts, spikes from an encoder) compute in the default float dtype (float32).

The sequence modules (``X``, ``XRecurrent``) set the class attribute ``is_sequence = True``: they
run over time themselves, so :class:`~spikejax.nn.Lift` refuses them (lift the cell instead).
"""

from __future__ import annotations

import inspect
import math
import sys
from typing import Any, ClassVar, Optional

import jax
import jax.numpy as jnp
from flax import nnx

from ..functional._model import NeuronModel
from ..functional._validate import check_min_rank, check_rank
from ..kernels import FUSED_MODELS
from ..kernels.lif import _check_implementation
from ._base import StatefulModule, _NeuronBase, is_stateful  # noqa: F401 (StatefulModule, is_stateful: re-exported)
from ._base import _constructor_signature
from ._runner import LoopStep, _step_dtype, _step_input, run_sequence
from ._docs import DOC, KERNEL_ARGS, RECURRENT_ARGS, RECURRENT_EXTRA, SEQUENCE_ARGS, SEQUENCE_CALL

__all__ = [
    "StatefulModule",
    "is_stateful",
    "NeuronCell",
    "NeuronRecurrentCell",
    "NeuronLayer",
    "NeuronRecurrentLayer",
    "neuron_modules",
    "MODULES",
]

#: The module classes of every model, by model name: ``MODULES["LIF"]["Cell"]`` is ``LIFCell``.
MODULES: dict[str, dict[str, type]] = {}


def _check_steps(input_tensor: Any, layout: str) -> None:
    """``ValueError`` naming ``input_tensor`` for an empty sequence (``T = 0``): no step to run,
    no state to return."""
    if input_tensor.shape[0] == 0:
        raise ValueError(
            f"input_tensor has shape {tuple(input_tensor.shape)} with layout {layout}: an empty "
            f"sequence (T = 0), expected at least one step"
        )


def _float_input(module: _NeuronBase, input_tensor: Any) -> Any:
    """An integer or boolean input as the default float dtype (when ``module.dtype`` is None).

    The rest state takes the input's dtype; an integer state would change dtype after one step,
    which ``lax.scan`` refuses. With a ``dtype``, ``_promote`` casts the input itself.
    """
    dtype = getattr(input_tensor, "dtype", None)
    if module.dtype is None and dtype is not None and not jnp.issubdtype(dtype, jnp.inexact):
        return jnp.asarray(input_tensor, jnp.result_type(float))
    return input_tensor


class NeuronCell(_NeuronBase):
    """One feed-forward step of a neuron model (Norse's ``XCell``).

    The base of every model's ``XCell`` (see :func:`neuron_modules`); a subclass sets the class
    attribute ``model``, a :class:`~spikejax.functional.NeuronModel`. The arguments are those of
    the generated classes, :class:`~spikejax.nn.LIFCell` say.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import LIF_MODEL
        >>> from spikejax.nn import LIFCell, NeuronCell
        >>> issubclass(LIFCell, NeuronCell), LIFCell.model is LIF_MODEL
        (True, True)
        >>> class MyLIFCell(NeuronCell):
        ...     model = LIF_MODEL
        >>> z, state = MyLIFCell()(jnp.ones((2, 3)))
        >>> state.v                                   # one step of 1 ms towards the current
        Array([[0.1, 0.1, 0.1],
               [0.1, 0.1, 0.1]], dtype=float32)
    """

    def __call__(self, input_tensor: jax.Array, state: Any = None):
        check_min_rank("input_tensor", input_tensor, 1, "(B, ...) or (N,)")
        input_tensor = _float_input(self, input_tensor)
        input_tensor, state, p = self._promote(input_tensor, state)
        return self.model.feed_forward_step(input_tensor, state, p, self.dt, **self._step_options())

    def _loop_step(self) -> LoopStep:
        """This cell as one step of a time loop (see :class:`LoopStep`)."""
        return NeuronLayer._loop_step(self)._replace(record_states=False, unroll=1, remat=False)


class NeuronLayer(_NeuronBase):
    """A neuron model scanned over a sequence ``(T, B, ...)`` (Norse's ``X``); on a GPU, models
    in :data:`spikejax.kernels.FUSED_MODELS` run as one fused kernel (``implementation``).

    The base of every model's sequence module (:class:`~spikejax.nn.LIF`, ...; see
    :func:`neuron_modules`), whose docstrings describe the arguments.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.nn import LIF, NeuronLayer
        >>> issubclass(LIF, NeuronLayer)
        True
        >>> spikes, state = LIF()(jnp.ones((9, 1, 3)))
        >>> spikes[:, 0, 0]
        Array([0., 0., 0., 0., 0., 1., 0., 0., 1.], dtype=float32)
        >>> spikes, state = LIF()(jnp.ones((1, 3)), steps=9)    # the same constant input
        >>> spikes[:, 0, 0]
        Array([0., 0., 0., 0., 0., 1., 0., 0., 1.], dtype=float32)
    """

    #: The layer runs over time itself, so :class:`~spikejax.nn.Lift` refuses it (lift the
    #: cell instead).
    is_sequence: ClassVar[bool] = True

    def __init__(
        self,
        p: Any = None,
        *,
        unroll: int | bool = 1,
        remat: bool | int = False,
        record_states: bool = False,
        implementation: str = "auto",
        **kwargs,
    ):
        super().__init__(p, **kwargs)
        _check_implementation(implementation)
        if implementation == "pallas":
            if self.model.name not in FUSED_MODELS:
                raise ValueError(
                    f"implementation='pallas' has no kernel for the {self.model.name} model of "
                    f"{type(self).__name__}; expected one of {sorted(FUSED_MODELS)}, or "
                    f"implementation='scan' or 'auto'"
                )
            if record_states:
                raise ValueError(
                    "record_states=True needs implementation='scan' or 'auto': the kernel keeps "
                    "the state in registers and returns only the last one"
                )
        self.unroll = unroll
        self.remat = remat
        self.record_states = record_states
        self.implementation = implementation

    def __call__(self, input_tensor: jax.Array, state: Any = None, *, steps: Optional[int] = None):
        """Run over the sequence ``input_tensor`` ``(T, B, ...)``, or, with ``steps``, run
        ``steps`` steps on the constant input ``input_tensor`` ``(B, ...)`` (faster than
        broadcasting it over time). Returns ``(outputs, state)``."""
        if steps is None:
            check_min_rank("input_tensor", input_tensor, 2, "(T, B, ...) or (T, N)")
            _check_steps(input_tensor, "(T, B, ...) or (T, N)")
            step_shape = input_tensor.shape[1:]
        else:
            check_min_rank("input_tensor", input_tensor, 1, "(B, ...) for a constant input")
            step_shape = input_tensor.shape
        input_tensor = _float_input(self, input_tensor)
        input_tensor, state, p = self._promote(input_tensor, state)
        dt, options = self.dt, self._step_options()

        def step(x, s):
            return self.model.feed_forward_step(x, s, p, dt, **options)

        return run_sequence(
            step, state, input_tensor, steps=steps, unroll=self.unroll, remat=self.remat,
            record_states=self.record_states, implementation=self.implementation,
            model=self.model, p=p, dt=dt, options=options,
            # The rest state up front keeps the whole sequence in one scan (run() would
            # otherwise take the first step outside the scan and concatenate).
            rest_state=lambda: self.model.feed_forward_state(step_shape, p, input_tensor.dtype),
        )

    def _loop_step(self) -> LoopStep:
        """This layer as one step of a time loop (see :class:`LoopStep`)."""
        p = self._promote(jnp.zeros(()), None)[2]  # the parameters in self.dtype
        dt, options = self.dt, self._step_options()

        def step(x, s):
            return self.model.feed_forward_step(_step_input(self, x), s, p, dt, **options)

        def rest(x):
            return self.model.feed_forward_state(x.shape, p, _step_dtype(self, x.dtype))

        return LoopStep(
            step, rest, self._promote_state, getattr(self, "record_states", False),
            getattr(self, "unroll", 1), getattr(self, "remat", False),
        )


class _RecurrentBase(_NeuronBase):
    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        p: Any = None,
        *,
        autapses: bool = False,
        input_weights: Optional[jax.Array] = None,
        recurrent_weights: Optional[jax.Array] = None,
        rngs: Optional[nnx.Rngs] = None,
        param_dtype: Any = jnp.float32,
        **kwargs,
    ):
        if self.model.recurrent_step is None:
            raise TypeError(f"the {self.model.name} model has no recurrent form")
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        super().__init__(p, param_dtype=param_dtype, **kwargs)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.autapses = autapses
        rngs = nnx.Rngs(0) if rngs is None else rngs
        # Norse's initialisation: normal with standard deviation sqrt(2 / hidden_size).
        scale = math.sqrt(2.0 / hidden_size)
        if input_weights is None:
            input_weights = jax.random.normal(rngs.params(), (hidden_size, input_size)) * scale
        if recurrent_weights is None:
            recurrent_weights = jax.random.normal(rngs.params(), (hidden_size, hidden_size)) * scale
        input_weights = jnp.asarray(input_weights, param_dtype)
        recurrent_weights = jnp.asarray(recurrent_weights, param_dtype)
        if input_weights.shape != (hidden_size, input_size):
            raise ValueError(
                f"input_weights has shape {input_weights.shape}, expected "
                f"{(hidden_size, input_size)} (hidden_size, input_size)"
            )
        if recurrent_weights.shape != (hidden_size, hidden_size):
            raise ValueError(
                f"recurrent_weights has shape {recurrent_weights.shape}, expected "
                f"{(hidden_size, hidden_size)} (hidden_size, hidden_size)"
            )
        if not autapses:
            recurrent_weights = recurrent_weights * self._off_diagonal(param_dtype)
        self.input_weights = nnx.Param(input_weights)
        self.recurrent_weights = nnx.Param(recurrent_weights)

    def _off_diagonal(self, dtype):
        return 1 - jnp.eye(self.hidden_size, dtype=dtype)

    def weights(self) -> tuple[jax.Array, jax.Array]:
        """``(input_weights, recurrent_weights)`` as used in the step.

        Without autapses the diagonal of the recurrent weights is masked here, so it stays zero
        and receives zero gradient whatever an optimizer does to the stored parameter.
        """
        w_rec = self.recurrent_weights[...]
        if not self.autapses:
            w_rec = w_rec * self._off_diagonal(w_rec.dtype)
        return self.input_weights[...], w_rec

    def _check_input(self, input_tensor, ranks, layout):
        check_rank("input_tensor", input_tensor, ranks, layout)
        if input_tensor.shape[-1] != self.input_size:
            raise ValueError(
                f"input_tensor has shape {tuple(input_tensor.shape)}, expected last axis "
                f"{self.input_size} (input_size of {type(self).__name__})"
            )


class NeuronRecurrentCell(_RecurrentBase):
    """One step of a recurrent layer that owns its weights (Norse's ``XRecurrentCell``).

    The base of every model's ``XRecurrentCell`` (:class:`~spikejax.nn.LIFRecurrentCell`, ...;
    see :func:`neuron_modules`), whose docstrings describe the arguments.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.nn import LIFRecurrentCell, NeuronRecurrentCell
        >>> issubclass(LIFRecurrentCell, NeuronRecurrentCell)
        True
        >>> cell = LIFRecurrentCell(3, 4)                 # input_size 3, hidden_size 4
        >>> [w.shape for w in cell.weights()]           # (input, recurrent)
        [(4, 3), (4, 4)]
        >>> z, state = cell(jnp.ones((2, 3)))
        >>> z.shape
        (2, 4)
    """

    def __call__(self, input_tensor: jax.Array, state: Any = None):
        self._check_input(input_tensor, (1, 2), "(B, input_size) or (input_size,)")
        input_tensor = _float_input(self, input_tensor)
        input_tensor, state, p, w_in, w_rec = self._promote(input_tensor, state, *self.weights())
        return self.model.recurrent_step(
            input_tensor, state, w_in, w_rec, p, self.dt, **self._step_options()
        )


class NeuronRecurrentLayer(_RecurrentBase):
    """A recurrent layer scanned over a sequence ``(T, B, input_size)`` (Norse's ``XRecurrent``).

    The base of every model's ``XRecurrent`` (:class:`~spikejax.nn.LIFRecurrent`, ...; see
    :func:`neuron_modules`), whose docstrings describe the arguments.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.nn import LIFRecurrent, NeuronRecurrentLayer
        >>> issubclass(LIFRecurrent, NeuronRecurrentLayer)
        True
        >>> spikes, state = LIFRecurrent(3, 4)(jnp.ones((9, 2, 3)))
        >>> spikes.shape, state.v.shape
        ((9, 2, 4), (2, 4))
    """

    #: The layer runs over time itself, so :class:`~spikejax.nn.Lift` refuses it (lift the
    #: cell instead).
    is_sequence: ClassVar[bool] = True

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        p: Any = None,
        *,
        unroll: int | bool = 1,
        remat: bool | int = False,
        record_states: bool = False,
        **kwargs,
    ):
        super().__init__(input_size, hidden_size, p, **kwargs)
        self.unroll = unroll
        self.remat = remat
        self.record_states = record_states

    def __call__(self, input_tensor: jax.Array, state: Any = None, *, steps: Optional[int] = None):
        """Run over ``input_tensor`` ``(T, B, input_size)``, or ``steps`` steps of the constant
        input ``(B, input_size)``. Returns ``(outputs, state)``."""
        if steps is None:
            self._check_input(input_tensor, (2, 3), "(T, B, input_size) or (T, input_size)")
            _check_steps(input_tensor, "(T, B, input_size) or (T, input_size)")
            batch_shape = input_tensor.shape[1:-1]
        else:
            self._check_input(input_tensor, (1, 2), "(B, input_size) for a constant input")
            batch_shape = input_tensor.shape[:-1]
        input_tensor = _float_input(self, input_tensor)
        input_tensor, state, p, w_in, w_rec = self._promote(input_tensor, state, *self.weights())
        dt, options = self.dt, self._step_options()

        def step(x, s):
            return self.model.recurrent_step(x, s, w_in, w_rec, p, dt, **options)

        shape = batch_shape + (self.hidden_size,)
        return run_sequence(
            step, state, input_tensor, steps=steps, unroll=self.unroll, remat=self.remat,
            record_states=self.record_states,
            rest_state=lambda: self.model.recurrent_state(shape, p, input_tensor.dtype),
        )

    def _loop_step(self) -> LoopStep:
        """This layer as one step of a time loop (see :class:`LoopStep`)."""
        _, _, p, w_in, w_rec = self._promote(jnp.zeros(()), None, *self.weights())
        dt, options = self.dt, self._step_options()

        def step(x, s):
            self._check_input(x, (1, 2), "(B, input_size) or (input_size,) per step")
            return self.model.recurrent_step(_step_input(self, x), s, w_in, w_rec, p, dt, **options)

        def rest(x):
            shape = tuple(x.shape[:-1]) + (self.hidden_size,)
            return self.model.recurrent_state(shape, p, _step_dtype(self, x.dtype))

        return LoopStep(step, rest, self._promote_state, self.record_states, self.unroll, self.remat)


def neuron_modules(model: NeuronModel, module_name: str) -> tuple[type, ...]:
    """Build the module classes of ``model``: ``(Cell, Layer)`` or, for models with a recurrent
    form, ``(Cell, RecurrentCell, Layer, RecurrentLayer)``, named after ``model.name``.

    The classes get ``__module__ = module_name`` and a docstring with an example, and are
    registered in :data:`MODULES` under ``model.name``.

    Example:
        >>> from spikejax.functional import LIF_MODEL
        >>> from spikejax.nn import MODULES, neuron_modules
        >>> classes = neuron_modules(LIF_MODEL._replace(name="MyLIF"), "my_package")
        >>> [cls.__name__ for cls in classes]
        ['MyLIFCell', 'MyLIFRecurrentCell', 'MyLIF', 'MyLIFRecurrent']
        >>> sorted(MODULES.pop("MyLIF"))              # registered; removed again here
        ['Cell', 'Layer', 'Recurrent', 'RecurrentCell']
    """
    functional_module = sys.modules[model.feed_forward_step.__module__].__name__
    specs = [
        ("Cell", NeuronCell, "Feed-forward", "one step", "", "", "", "(2, 3)", "(2, 3)"),
        ("", NeuronLayer, "Sequence", "scanned over time", "",
         SEQUENCE_ARGS + KERNEL_ARGS + SEQUENCE_CALL, "", "(9, 2, 3)", "(9, 2, 3)"),
    ]
    if model.recurrent_step is not None:
        specs[1:1] = [
            ("RecurrentCell", NeuronRecurrentCell, "Recurrent", "one step", RECURRENT_ARGS,
             RECURRENT_EXTRA, "3, 4", "(2, 3)", "(2, 4)"),
        ]
        specs.append(
            ("Recurrent", NeuronRecurrentLayer, "Recurrent sequence", "scanned over time",
             RECURRENT_ARGS, RECURRENT_EXTRA + SEQUENCE_ARGS + SEQUENCE_CALL, "3, 4", "(9, 2, 3)",
             "(9, 2, 4)")
        )
    classes = []
    for suffix, base, kind, what, args, extra, ctor, shape, out_shape in specs:
        name = model.name + suffix
        has_reset = all(
            step is None or "detach_reset" in inspect.signature(step).parameters
            for step in (model.feed_forward_step, model.recurrent_step)
        )
        detach = (
            "    detach_reset: override the model's default for stopping the gradient through "
            "the reset.\n" if has_reset else ""
        )
        doc = DOC.format(
            detach=detach, kind=kind, name=model.name, what=what, module=functional_module,
            weights=" and weights" if args else "",
            params=model.parameters.__name__, args=args, extra=extra, cls=name, ctor=ctor,
            shape=shape, out_shape=out_shape,
        )
        cls = type(name, (base,), {
            "model": model, "__doc__": doc, "__module__": module_name,
            "__signature__": _constructor_signature(base, model, has_reset),
        })
        MODULES.setdefault(model.name, {})[suffix or "Layer"] = cls
        classes.append(cls)
    return tuple(classes)

