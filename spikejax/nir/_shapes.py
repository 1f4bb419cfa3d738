"""Checks of a NIR graph before it is built: its structure, and the shapes where nodes meet.

Nothing here relies on nir's own type inference (``nir.NIRGraph(..., type_check=False)`` and
snnTorch's files skip or fail it). Each node's shapes come from its parameters, in NIR's
channels-first layout: ``Affine``/``Linear`` from the weight, ``Conv1d``/``Conv2d`` from the
weight and ``input_shape`` (the spatial size, when given), neurons, ``Scale`` and ``Threshold``
from parameter arrays with more than one entry (a single value broadcasts), ``Flatten`` and the
pools from ``input_type`` when given, ``Input``/``Output`` from their types. Shapes then flow
along the edges (a neuron with single-value parameters passes on the shape it gets, a
``Flatten`` or a pool computes its output), and every edge is checked where both ends are
known. A shape is a tuple with ``None`` for an axis not known, or ``None`` when nothing is.

snnTorch 1.0 writes ``Input`` and ``Output`` types with the batch axis (``[1, 3]`` for three
features): a leading axis of size 1 on those two is taken as a batch axis when that is what
makes the shapes agree, and an ``Input`` shape that may or may not have one is not passed on.
"""

from __future__ import annotations

import math
from typing import Any, Optional

import nir
import numpy as np

from ._neurons import NEURON_NODES, neuron_shape

__all__ = ["check_graph", "check_structure", "check_finite", "graph_shapes", "fmt"]

Shape = Optional[tuple]

_SKIP_FIELDS = ("input_type", "output_type", "metadata")


def _text(value: Any) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def fmt(shape: Shape) -> str:
    """A shape for a message: ``(8,)``, ``(2, ?, ?)`` or ``unknown``."""
    if shape is None:
        return "unknown"
    items = ["?" if n is None else str(n) for n in shape]
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def check_finite(node: Any, name: str) -> None:
    """Raise ``ValueError`` naming the node and the field if a numeric parameter of ``node``
    holds NaN or infinity, or is empty."""
    if isinstance(node, nir.NIRGraph):
        return  # its nodes are checked one by one
    fields = getattr(node, "__dataclass_fields__", {})
    for field in fields:
        if field in _SKIP_FIELDS:
            continue
        value = getattr(node, field, None)
        if value is None or isinstance(value, (str, bytes, bool, dict, nir.NIRNode)):
            continue
        try:
            array = np.asarray(value)
        except (TypeError, ValueError):  # pragma: no cover - ragged sequences are not parameters
            continue
        if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
            continue
        if array.size == 0:
            raise ValueError(
                f"NIR node {name!r} ({type(node).__name__}) has an empty {field} (shape "
                f"{array.shape}), expected at least one value"
            )
        if np.issubdtype(array.dtype, np.inexact) and not np.all(np.isfinite(array)):
            bad = np.flatnonzero(~np.isfinite(array))
            where = tuple(int(i) for i in np.unravel_index(bad[0], array.shape))
            raise ValueError(
                f"NIR node {name!r} ({type(node).__name__}) has a non-finite {field}: "
                f"{array.reshape(-1)[bad[0]]} at index {where} ({len(bad)} of {array.size} "
                f"entries), expected finite values"
            )


def _io_shape(types: Any, key: str) -> Shape:
    """The shape of an ``Input`` or ``Output`` node, or ``None`` when not given."""
    value = types.get(key) if isinstance(types, dict) else types
    if value is None:
        return None
    shape = tuple(int(n) for n in np.asarray(value).reshape(-1))
    return shape or None


def _ints(value: Any, n: int) -> tuple:
    values = [int(v) for v in np.asarray(value).reshape(-1)]
    return tuple(values * n) if len(values) == 1 else tuple(values)


def _param_shape(value: Any) -> Shape:
    array = np.asarray(value)
    return None if array.size == 1 else tuple(array.shape)


def compatible(a: Shape, b: Shape) -> bool:
    if a is None or b is None:
        return True
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))


def merge(a: Shape, b: Shape) -> Shape:
    """What two compatible shapes say together."""
    if a is None or b is None:
        return b if a is None else a
    return tuple(y if x is None else x for x, y in zip(a, b))


def _conv_axis(size, kernel, stride, pad, dilation):
    if size is None:
        return None
    if pad == "same":
        return -(-size // stride)  # Flax's "SAME": ceil(size / stride)
    return (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1


class _Checker:
    """Shapes of one NIR graph's nodes; ``infer`` checks every edge."""

    def __init__(self, nodes: dict, edges: list, prefix: str):
        self.nodes, self.edges, self.prefix = nodes, edges, prefix

    def label(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def kind(self, key: str) -> str:
        return type(self.nodes[key]).__name__

    # What a node takes, from its own parameters.
    def declared_in(self, key: str) -> Shape:
        node = self.nodes[key]
        if isinstance(node, (nir.Affine, nir.Linear)):
            return (int(np.shape(node.weight)[1]),)
        if isinstance(node, (nir.Conv1d, nir.Conv2d)):
            n = 1 if isinstance(node, nir.Conv1d) else 2
            weight = np.shape(node.weight)
            spatial = (None,) * n if node.input_shape is None else _ints(node.input_shape, n)
            return (int(weight[1]) * int(node.groups),) + tuple(spatial)
        if isinstance(node, NEURON_NODES):
            return neuron_shape(node, self.label(key))
        if isinstance(node, nir.Scale):
            return _param_shape(node.scale)
        if isinstance(node, nir.Threshold):
            return _param_shape(node.threshold)
        if isinstance(node, (nir.Flatten, nir.SumPool2d, nir.AvgPool2d)):
            given = _io_shape(node.input_type, "input")
            if given is None and not isinstance(node, nir.Flatten):
                return (None, None, None)
            return given
        if isinstance(node, nir.Output):
            return _io_shape(node.output_type, "output")
        if isinstance(node, nir.NIRGraph):
            return graph_shapes(node, self.label(key))[0]
        return None

    # What a node gives for an input of shape ``shape``.
    def forward(self, key: str, shape: Shape) -> Shape:
        node = self.nodes[key]
        if isinstance(node, (nir.Affine, nir.Linear)):
            return (int(np.shape(node.weight)[0]),)
        if isinstance(node, (nir.Conv1d, nir.Conv2d)):
            return self.conv(node, shape)
        if isinstance(node, nir.Flatten):
            return self.flatten(key, node, shape)
        if isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
            if shape is None:
                return None
            kernel, stride, pad = (_ints(v, 2) for v in (node.kernel_size, node.stride, node.padding))
            spatial = (_conv_axis(s, k, st, p, 1) for s, k, st, p in zip(shape[1:], kernel, stride, pad))
            return (shape[0],) + tuple(spatial)
        if isinstance(node, nir.NIRGraph):
            return graph_shapes(node, self.label(key), shape)[1]
        return shape  # neurons, Scale, Threshold: elementwise

    def conv(self, node, shape: Shape) -> Shape:
        n = 1 if isinstance(node, nir.Conv1d) else 2
        weight = np.shape(node.weight)
        spatial = (None,) * n if shape is None else shape[1:]
        padding = node.padding
        if isinstance(padding, (str, bytes)):
            padding = _text(padding).lower()
            pads = (0,) * n if padding == "valid" else ("same",) * n
        else:
            pads = _ints(padding, n)
        out = (
            _conv_axis(size, kernel, stride, pad, dilation)
            for size, kernel, stride, pad, dilation in zip(
                spatial, weight[2:], _ints(node.stride, n), pads, _ints(node.dilation, n)
            )
        )
        return (int(weight[0]),) + tuple(out)

    def flatten(self, key: str, node, shape: Shape) -> Shape:
        if shape is None:
            return None
        rank = len(shape)
        start, end = int(node.start_dim), int(node.end_dim)
        start, end = start + rank if start < 0 else start, end + rank if end < 0 else end
        if not 0 <= start <= end < rank:
            raise ValueError(
                f"NIR node {self.label(key)!r} (Flatten) has start_dim={node.start_dim} and "
                f"end_dim={node.end_dim}, which do not fit its input of shape {fmt(shape)}: "
                f"expected 0 <= start_dim <= end_dim < {rank}"
            )
        middle = shape[start : end + 1]
        flat = None if None in middle else math.prod(middle)
        return shape[:start] + (flat,) + shape[end + 1 :]

    def infer(self, input_shape: Shape = None) -> tuple[Shape, Shape]:
        """Check every edge; return the shape the graph takes and the one it gives."""
        inputs = [k for k, v in self.nodes.items() if isinstance(v, nir.Input)]
        outputs = [k for k, v in self.nodes.items() if isinstance(v, nir.Output)]
        takes = {k: (self.declared_in(k), "its parameters") for k in self.nodes if k not in inputs}
        gives: dict[str, Shape] = {}
        for key in inputs:
            given = _io_shape(self.nodes[key].input_type, "input")
            gives[key] = input_shape if input_shape is not None and len(inputs) == 1 else given
        batch_axis = {}  # Input name -> its shape without snnTorch's batch axis, once decided
        changed = True
        while changed:
            changed = False
            for key in takes:
                if key in outputs:
                    continue
                out = self.forward(key, takes[key][0])
                if out != gives.get(key):
                    gives[key], changed = out, True
            for a, b in self.edges:
                got = gives.get(a)
                if got is None:
                    continue
                want, origin = takes[b]
                if b in outputs:
                    self.check_output(a, b, got, want)
                    continue
                if a in inputs and a not in batch_axis and len(got) >= 2 and got[0] == 1:
                    if want is None:
                        continue  # it may be a batch axis: pass nothing on yet
                    if len(got) == len(want) + 1 and compatible(got[1:], want):
                        batch_axis[a] = gives[a] = got = got[1:]
                        changed = True
                    elif len(got) == len(want):
                        batch_axis[a] = got  # no batch axis
                        changed = True
                if not compatible(got, want):
                    raise ValueError(
                        f"NIR edge {self.label(a)!r} -> {self.label(b)!r}: {self.label(a)!r} "
                        f"({self.kind(a)}) gives samples of shape {fmt(got)}, but "
                        f"{self.label(b)!r} ({self.kind(b)}) takes {fmt(want)} (from {origin}; "
                        f"shapes channels first, as in NIR)"
                    )
                merged = merge(want, got)
                if merged != want:
                    takes[b], changed = (merged, f"edge {self.label(a)!r} -> {self.label(b)!r}"), True
            for key in inputs:
                if gives[key] is None:
                    # An Input without a type takes what the first node it feeds takes.
                    known = [takes[b][0] for a, b in self.edges if a == key and takes[b][0] is not None]
                    if known:
                        gives[key], changed = known[0], True
        graph_in = None
        if len(inputs) == 1:
            key = inputs[0]
            known = [takes[b][0] for a, b in self.edges if a == key and takes[b][0] is not None]
            given = gives[key]
            ambiguous = key not in batch_axis and given is not None and len(given) >= 2 and given[0] == 1
            graph_in = known[0] if known else None if ambiguous else given
        graph_out = None
        if len(outputs) == 1:
            for a, b in self.edges:
                if b == outputs[0]:
                    graph_out = gives.get(a)
        return graph_in, graph_out

    def check_output(self, a: str, b: str, got: Shape, want: Shape) -> None:
        if compatible(got, want):
            return
        if want is not None and got is not None and want[0] == 1 and compatible(got, want[1:]):
            return  # snnTorch's batch axis
        raise ValueError(
            f"NIR edge {self.label(a)!r} -> {self.label(b)!r}: {self.label(a)!r} ({self.kind(a)}) "
            f"gives samples of shape {fmt(got)}, but the Output node {self.label(b)!r} is "
            f"declared with shape {fmt(want)} (output_type; shapes channels first, as in NIR)"
        )


def check_structure(nodes: dict, edges: list, prefix: str, where: str) -> None:
    """Raise ``ValueError`` for edges that name no node and for nodes that no path from an
    ``Input`` to an ``Output`` goes through."""
    for edge in edges:
        for end in edge:
            if end not in nodes:
                raise ValueError(
                    f"NIR graph {where} has the edge {edge}, but {end!r} is not one of its "
                    f"nodes {sorted(nodes)}"
                )
    for a, b in edges:
        if isinstance(nodes[b], nir.Input) or isinstance(nodes[a], nir.Output):
            raise ValueError(
                f"NIR graph {where} has the edge {(a, b)}, which leads into an Input node or out "
                f"of an Output node; expected edges out of Inputs and into Outputs only"
            )
    successors: dict[str, list] = {}
    predecessors: dict[str, list] = {}
    for a, b in edges:
        successors.setdefault(a, []).append(b)
        predecessors.setdefault(b, []).append(a)

    def reach(starts, links):
        seen, stack = set(starts), list(starts)
        while stack:
            for nxt in links.get(stack.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return seen

    inputs = [k for k, v in nodes.items() if isinstance(v, nir.Input)]
    outputs = [k for k, v in nodes.items() if isinstance(v, nir.Output)]
    from_inputs, to_outputs = reach(inputs, successors), reach(outputs, predecessors)
    unreached = [f"{prefix}{k}" for k in nodes if k not in from_inputs]
    if unreached:
        raise ValueError(
            f"NIR graph {where}: nodes {unreached} cannot be reached from the Input nodes "
            f"{[prefix + k for k in inputs]} (disconnected); expected every node on a path from "
            f"an Input to an Output"
        )
    dead = [f"{prefix}{k}" for k in nodes if k not in to_outputs]
    if dead:
        raise ValueError(
            f"NIR graph {where}: nodes {dead} lead to no Output node (their results would be "
            f"lost); expected every node on a path from an Input to an Output"
        )


def graph_shapes(graph: nir.NIRGraph, name: str, input_shape: Shape = None) -> tuple[Shape, Shape]:
    """Check a (nested) NIR graph: the shape it takes and the one it gives."""
    nodes = {_text(k): v for k, v in graph.nodes.items()}
    edges = [(_text(a), _text(b)) for a, b in graph.edges]
    prefix = "" if name is None else f"{name}."
    return _Checker(nodes, edges, prefix).infer(input_shape)


def check_graph(graph: nir.NIRGraph) -> None:
    """Check the shapes where the nodes of ``graph`` (and of the graphs nested in it) meet."""
    graph_shapes(graph, None)
