"""``from_nir``: a NIR graph to spikejax modules."""

from __future__ import annotations

from typing import Any, Optional

import jax.numpy as jnp
import nir
import numpy as np
from flax import nnx

from ..functional._model import check_dt
from ..functional.surrogate import SurrogateLike, resolve_surrogate
from ..nn.lift import Lift
from ..nn.sequential import SequentialState
from ._delay import delay_from_nir
from ._graph import Graph
from ._layers import AvgPool2d, Flatten, Scale, SumPool2d, Threshold, from_nir_layout
from ._neurons import NEURON_NODES, SNNTORCH_DT, check_convention, neuron_from_nir
from ._shapes import check_finite, check_graph, check_structure

__all__ = ["from_nir"]

SUPPORTED_NODES = (
    "Affine, Linear, Conv1d, Conv2d, Flatten, SumPool2d, AvgPool2d, Scale, Threshold, CubaLIF, "
    "CubaLI, LIF, LI, IF, Delay, Input, Output and NIRGraph"
)


def _name(value: Any) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def _ints(value: Any, n: int) -> tuple[int, ...]:
    values = [int(v) for v in np.asarray(value).reshape(-1)]
    return tuple(values * n) if len(values) == 1 else tuple(values)


def _given(value: Any):
    """An initialiser that returns ``value`` (no random draw to compile and throw away)."""
    return lambda key, shape, dtype=jnp.float32: jnp.asarray(value, dtype).reshape(shape)


def _chain(names, edges, inputs, outputs) -> Optional[list[str]]:
    """The nodes in order if the graph is one path from its input to its output, else None."""
    if len(inputs) != 1 or len(outputs) != 1 or len(edges) != len(names) + 1:
        return None
    path, current = [], inputs[0]
    while True:
        targets = [b for a, b in edges if a == current]
        if len(targets) != 1:
            return None
        current = targets[0]
        if current == outputs[0]:
            break
        if current in path or current not in names:
            return None
        path.append(current)
    return path if len(path) == len(names) else None


class _Importer:
    def __init__(self, dt: float, convention: str, method: SurrogateLike, alpha, snntorch: bool = False):
        self.dt, self.convention, self.method, self.alpha = dt, convention, method, alpha
        self.snntorch = snntorch

    def modules(self, node: Any, name: Optional[str]) -> list:
        """The modules of one node, in order (a neuron may need a Scale before it); ``name``
        is the node's path, ``None`` for the graph (or node) given to :func:`from_nir`."""
        if isinstance(node, nir.NIRGraph):
            return [self.graph(node, name)]
        label = "graph" if name is None else name
        check_finite(node, label)
        if isinstance(node, NEURON_NODES):
            gain, cell = neuron_from_nir(node, label, self.dt, self.convention, self.method, self.alpha,
                                         self.snntorch)
            return [cell] if gain is None else [Scale(gain), cell]
        return [self.layer(node, label)]

    def layer(self, node: Any, name: str):
        kind = type(node).__name__
        if isinstance(node, (nir.Affine, nir.Linear)):
            weight = np.asarray(node.weight)
            bias = np.asarray(node.bias) if isinstance(node, nir.Affine) else None
            if weight.ndim != 2 or (bias is not None and bias.shape != weight.shape[:1]):
                raise ValueError(
                    f"NIR node {name!r} ({kind}) has weight of shape {weight.shape}"
                    + ("" if bias is None else f" and bias of shape {bias.shape}")
                    + ", expected (out, in) and (out,)"
                )
            return nnx.Linear(weight.shape[1], weight.shape[0], use_bias=bias is not None,
                              kernel_init=_given(weight.T), bias_init=_given(bias), rngs=nnx.Rngs(0))
        if isinstance(node, (nir.Conv1d, nir.Conv2d)):
            return self.conv(node, name)
        if isinstance(node, nir.Flatten):
            return Flatten(int(node.start_dim), int(node.end_dim))
        if isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
            pool = SumPool2d if isinstance(node, nir.SumPool2d) else AvgPool2d
            return pool(_ints(node.kernel_size, 2), _ints(node.stride, 2), _ints(node.padding, 2))
        if isinstance(node, nir.Scale):
            return Scale(from_nir_layout(node.scale))
        if isinstance(node, nir.Threshold):
            return Threshold(from_nir_layout(node.threshold), method=self.method, alpha=self.alpha)
        if isinstance(node, nir.Delay):
            return delay_from_nir(node, name, self.dt)
        raise TypeError(
            f"from_nir does not support NIR node {name!r} of type {kind}; supported are "
            f"{SUPPORTED_NODES}"
        )

    def conv(self, node: Any, name: str) -> nnx.Conv:
        weight = np.asarray(node.weight)
        n = 1 if isinstance(node, nir.Conv1d) else 2
        if weight.ndim != n + 2:
            raise ValueError(
                f"NIR node {name!r} ({type(node).__name__}) has weight of shape {weight.shape}, "
                f"expected {n + 2} axes (out, in / groups, {'length' if n == 1 else 'height, width'})"
            )
        groups = int(node.groups)
        padding = _name(node.padding) if isinstance(node.padding, (str, bytes)) else node.padding
        if isinstance(padding, str):
            padding = padding.upper()  # NIR's "same" splits the pad as Flax's "SAME" does
        else:
            padding = [(p, p) for p in _ints(padding, n)]
        bias = np.zeros(weight.shape[0]) if node.bias is None else np.asarray(node.bias)
        if bias.size not in (1, weight.shape[0]):
            raise ValueError(
                f"NIR node {name!r} ({type(node).__name__}) has bias of shape {bias.shape} for "
                f"{weight.shape[0]} output channels (weight of shape {weight.shape}), expected "
                f"({weight.shape[0]},)"
            )
        return nnx.Conv(
            weight.shape[1] * groups,
            weight.shape[0],
            kernel_size=weight.shape[2:],
            strides=_ints(node.stride, n),
            padding=padding,
            kernel_dilation=_ints(node.dilation, n),
            feature_group_count=groups,
            kernel_init=_given(weight.transpose(tuple(range(2, n + 2)) + (1, 0))),
            bias_init=_given(np.broadcast_to(bias, weight.shape[:1])),
            rngs=nnx.Rngs(0),
        )

    def graph(self, graph: nir.NIRGraph, name: Optional[str]):
        label = "graph" if name is None else name
        prefix = "" if name is None else f"{name}."
        nodes = {_name(k): v for k, v in graph.nodes.items()}
        edges = [(_name(a), _name(b)) for a, b in graph.edges]
        inputs = [k for k, v in nodes.items() if isinstance(v, nir.Input)]
        outputs = [k for k, v in nodes.items() if isinstance(v, nir.Output)]
        if not inputs or not outputs:
            raise ValueError(
                f"NIR graph {label!r} needs Input and Output nodes, got inputs {inputs} and "
                f"outputs {outputs}"
            )
        check_structure(nodes, edges, prefix, repr(label))
        modules = {
            key: self.modules(node, prefix + key)
            for key, node in nodes.items()
            if not isinstance(node, (nir.Input, nir.Output))
        }
        if not modules:
            raise ValueError(f"NIR graph {label!r} has no nodes between its inputs and outputs")
        if name is None:
            check_graph(graph)  # the shapes where nodes meet, nested graphs included
        chain = _chain(list(modules), edges, inputs, outputs)
        if chain is not None:
            layers = [module for key in chain for module in modules[key]]
            return layers[0] if len(layers) == 1 else SequentialState(*layers)
        grouped = {k: m[0] if len(m) == 1 else SequentialState(*m) for k, m in modules.items()}
        return Graph(grouped, edges, inputs=inputs, outputs=outputs)


def from_nir(
    graph: Any,
    *,
    dt: Optional[float] = None,
    convention: str = "spec",
    method: SurrogateLike = "super",
    alpha: Optional[float] = None,
    sequence: bool = False,
    snntorch: bool = False,
):
    """Build spikejax modules from a NIR graph (see :mod:`spikejax.nir` for the conversions).

    A graph that is one chain from its input to its output becomes a
    :class:`~spikejax.nn.SequentialState` (or its only module), any other graph (branches,
    cycles, several inputs) a :class:`~spikejax.nir.Graph`. Either runs one time step:
    ``module(x, state=None) -> (y, state)`` with channels-last ``x`` of shape ``(B, ...)``.
    Nothing depends on nir's type inference: node shapes come from the parameters, so graphs
    that ``nir.read(..., type_check=False)`` returns load too, and are checked the same way:
    every edge's shapes, before anything is built.

    Args:
        graph: a ``nir.NIRGraph`` (from ``nir.read``, say) or a single NIR node.
        dt: the integration step in seconds (more exactly: in the unit of the graph's time
            constants); ``None`` is ``1e-3``, or ``1e-4`` with ``snntorch=True``.
        convention: ``"spec"`` (NIR's equations, the default) or ``"norse"`` for graphs
            written by Norse 1.1, whose time constants are ``dt`` times too small.
        method: the surrogate gradient of the spiking neurons (NIR has none).
        alpha: the surrogate's sharpness; ``None`` takes the method's default.
        sequence: wrap the result in :class:`~spikejax.nn.Lift`, so that it takes a whole
            sequence ``(T, B, ...)`` and returns ``(outputs, state)``.
        snntorch: read ``LIF`` and ``CubaLIF`` nodes as snnTorch 1.0's ``import_from_nir``
            does: as :class:`~spikejax.nn.LeakyCell` and :class:`~spikejax.nn.SynapticCell`
            with ``beta = 1 - dt / tau_mem``, ``alpha_syn = 1 - dt / tau_syn``, the input gain
            divided out of ``v_th``, ``reset_mechanism="zero"`` and ``reset_delay=False`` (they
            need ``v_leak = v_reset = 0``); ``dt`` defaults to snnTorch's ``1e-4``. Other nodes
            read as without it. Needs ``convention="spec"``.

    Returns:
        An NNX module.

    Raises:
        TypeError: for a node type spikejax has no module for, naming the type.
        ValueError: for a bad argument or a malformed graph: shapes that differ where two nodes
            meet (naming the edge and both shapes), a node on no path from an ``Input`` to an
            ``Output``, neuron parameters of different shapes, NaN or infinite parameters.

    Example:
        >>> import jax.numpy as jnp
        >>> import nir
        >>> import numpy as np
        >>> from spikejax.nir import from_nir
        >>> lif = nir.LIF(tau=np.array([0.01]), r=np.array([1.0]), v_leak=np.array([0.0]),
        ...               v_threshold=np.array([1.0]))
        >>> cell = from_nir(lif)                  # a LIFBoxCell with tau_mem_inv = 1 / tau
        >>> cell.p.tau_mem_inv
        100.0
        >>> spikes, state = from_nir(lif, sequence=True)(jnp.full((30, 1, 1), 2.0))
        >>> int(spikes.sum())
        4

        Shapes are checked where nodes meet, here 6 neurons after an ``Affine`` of 8 outputs:

        >>> six = nir.LIF(tau=np.full(6, 0.01), r=np.ones(6), v_leak=np.zeros(6),
        ...               v_threshold=np.ones(6))
        >>> graph = nir.NIRGraph(
        ...     nodes={"x": nir.Input(np.array([4])), "w": nir.Affine(np.ones((8, 4)), np.zeros(8)),
        ...            "lif": six, "y": nir.Output(np.array([6]))},
        ...     edges=[("x", "w"), ("w", "lif"), ("lif", "y")], type_check=False)
        >>> from_nir(graph)
        Traceback (most recent call last):
            ...
        ValueError: NIR edge 'w' -> 'lif': 'w' (Affine) gives samples of shape (8,), but 'lif' (LIF) takes (6,) (from its parameters; shapes channels first, as in NIR)
    """
    if not isinstance(graph, nir.NIRNode):
        raise TypeError(f"graph must be a nir.NIRGraph or another NIR node, got {type(graph).__name__}")
    if not isinstance(snntorch, bool):
        raise TypeError(f"snntorch must be a bool, got {type(snntorch).__name__}")
    if snntorch and convention != "spec":
        raise ValueError(
            f"snntorch=True reads snnTorch's graphs, which follow NIR's equations: it needs "
            f"convention='spec', got convention={convention!r}"
        )
    if dt is None:
        dt = SNNTORCH_DT if snntorch else 1e-3
    check_dt(dt)
    check_convention(convention)
    resolve_surrogate(method)
    importer = _Importer(float(dt), convention, method, alpha, snntorch)
    if isinstance(graph, (nir.Input, nir.Output)):
        raise TypeError(f"graph must be a graph or a computing node, got a lone {type(graph).__name__}")
    modules = importer.modules(graph, None)
    module = modules[0] if len(modules) == 1 else SequentialState(*modules)
    return Lift(module) if sequence else module
