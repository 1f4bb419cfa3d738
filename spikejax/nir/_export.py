"""``to_nir``: spikejax modules to a NIR graph."""

from __future__ import annotations

import math
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import nir
import numpy as np
from flax import nnx

from ..functional._model import check_dt
from ..functional._validate import check_min_rank
from ..nn._base import is_stateful
from ..nn._neuron import NeuronCell, NeuronLayer, NeuronRecurrentCell, NeuronRecurrentLayer
from ..nn.leaky_integrator import LILinearCell
from ..nn.lift import Lift
from ..nn.sequential import SequentialState
from ._delay import DELAY_MODULES, delay_to_nir
from ._graph import Graph
from ._layers import AvgPool2d, Flatten, Scale, SumPool2d, Threshold, nir_shape, to_nir_layout
from ._neurons import DISCRETE_MODELS, check_convention, neuron_to_nir
from ._shapes import check_finite

__all__ = ["to_nir"]

SUPPORTED_MODULES = (
    "nnx.Linear, nnx.Conv (1-d and 2-d), spikejax.nir.Flatten, SumPool2d, AvgPool2d, Scale, "
    "Threshold, the cells and layers of LIF, LIFBox, LI, IAF, Leaky and Synaptic (and their "
    "recurrent forms), "
    "LILinearCell, AxonalDelay, AxonalDelayCell, DelayedLinear, SequentialState, Lift and spikejax.nir.Graph"
)
_FEED_FORWARD = (NeuronCell, NeuronLayer)
_RECURRENT = (NeuronRecurrentCell, NeuronRecurrentLayer)
_PROBED = (nnx.Linear, nnx.Conv, Flatten, SumPool2d, AvgPool2d, Scale, Threshold, LILinearCell,
           *_FEED_FORWARD)


class _Nodes:
    """NIR nodes and edges under construction, with unique names."""

    def __init__(self):
        self.nodes: dict[str, nir.NIRNode] = {}
        self.edges: list[tuple[str, str]] = []

    def add(self, name: str, node: nir.NIRNode) -> str:
        try:
            check_finite(node, name)
        except ValueError as error:  # NaN weights after a diverged run, say
            raise ValueError(f"to_nir: {error}") from None
        unique, count = name, 1
        while unique in self.nodes:
            unique, count = f"{name}_{count}", count + 1
        self.nodes[unique] = node
        return unique

    def graph(self, **metadata) -> nir.NIRGraph:
        return nir.NIRGraph(nodes=self.nodes, edges=self.edges, metadata=metadata, type_check=False)


def _typed(node: nir.NIRNode, in_shape, out_shape) -> nir.NIRNode:
    # nir leaves the types of pooling nodes open; set them so that nir.read's checks pass.
    node.input_type = {"input": np.array(nir_shape(in_shape))}
    node.output_type = {"output": np.array(nir_shape(out_shape))}
    return node


def _tuple(value, n: int) -> tuple[int, ...]:
    value = 1 if value is None else value
    values = (value,) * n if isinstance(value, int) else tuple(value)
    return tuple(int(v) for v in values)


def _elementwise_parameters(module) -> list:
    """``(name, value)`` of the parameters of a neuron or an elementwise layer."""
    if isinstance(module, _FEED_FORWARD):
        leaves = jax.tree_util.tree_leaves_with_path(module.parameters)
        return [(jax.tree_util.keystr(path).lstrip("."), leaf) for path, leaf in leaves]
    if isinstance(module, Scale):
        return [("scale", module.scale[...])]
    if isinstance(module, Threshold):
        return [("threshold", module.threshold[...])]
    return []


class _Exporter:
    def __init__(self, dt: float, convention: str, dtype, sample: str = "sample_input"):
        self.dt, self.convention, self.dtype = dt, convention, dtype
        self.sample = sample  # where the shapes come from, for messages

    def probe(self, module, shape, name: str) -> None:
        """Raise ``ValueError`` naming the module and ``sample_input`` if ``module`` cannot take
        samples of ``shape`` (instead of an error from inside JAX, or a silent broadcast)."""
        shape = tuple(shape)
        where = (f"module {name!r} ({type(module).__name__}) gets samples of shape {shape} from "
                 f"{self.sample}")
        expected = None
        if isinstance(module, (nnx.Linear, nnx.Conv)) and shape and shape[-1] != module.in_features:
            expected = f"{module.in_features} features on the last axis (in_features, channels last)"
        elif isinstance(module, LILinearCell) and shape != (module.input_size,):
            expected = f"samples of shape ({module.input_size},) (input_size)"
        if expected is not None:
            raise ValueError(f"to_nir: {where}, expected {expected}")
        for field, value in _elementwise_parameters(module):
            try:
                fits = np.broadcast_shapes(np.shape(value), shape) == shape
            except ValueError:
                fits = False
            if not fits:
                # Broadcast against the sample, the parameter would change the layer's size.
                raise ValueError(
                    f"to_nir: {where}, but its parameter {field} has shape {np.shape(value)}; "
                    f"expected parameters that broadcast to {shape}"
                )
        call = (lambda x: module(x, None)[0]) if is_stateful(module) else module
        try:
            jax.eval_shape(call, jax.ShapeDtypeStruct((1,) + shape, self.dtype))
        except (TypeError, ValueError) as error:
            raise ValueError(f"to_nir: {where}, which it cannot take: {error}") from error

    def out_shape(self, module, shape) -> tuple[int, ...]:
        x = jax.ShapeDtypeStruct((1,) + tuple(shape), self.dtype)
        return tuple(jax.eval_shape(module, x).shape[1:])

    def check_dt(self, module) -> None:
        if getattr(getattr(module, "model", None), "name", None) in DISCRETE_MODELS:
            return  # snnTorch's models are per step: the graph's dt sets their time constants
        if not math.isclose(module.dt, self.dt, rel_tol=1e-9):
            raise ValueError(
                f"{type(module).__name__}.dt is {module.dt}, expected dt={self.dt} (the dt given "
                f"to to_nir: a NIR graph holds one integration step)"
            )

    def segment(self, module: Any, shape, nodes: _Nodes, name: str, gain: Any = 1.0):
        """Add ``module``'s nodes; return ``(first, last, output shape)``."""
        if not name and not isinstance(module, (Lift, SequentialState)):
            name = "0"
        if isinstance(module, Lift):
            return self.segment(module.module, shape, nodes, name)
        if isinstance(module, SequentialState):
            return self.sequential(module, shape, nodes, name)
        if isinstance(module, Graph):
            if len(module.inputs) != 1 or len(module.outputs) != 1:
                raise ValueError(
                    f"to_nir can nest a Graph with one input and one output only, got inputs "
                    f"{list(module.inputs)} and outputs {list(module.outputs)}"
                )
            graph, out = self.graph(module, {module.inputs[0]: shape})
            node = nodes.add(name, graph)
            return node, node, out[module.outputs[0]]
        if isinstance(module, DELAY_MODULES):
            node, out = delay_to_nir(module, shape, self.dt)
            node = nodes.add(name, node)
            return node, node, out
        if isinstance(module, _PROBED):
            self.probe(module, shape, name)
        if isinstance(module, LILinearCell):
            self.check_dt(module)
            hidden = (module.hidden_size,)
            first = nodes.add(f"{name}.w_in", nir.Linear(weight=np.array(module.input_weights[...])))
            last = nodes.add(name, neuron_to_nir(module, hidden, self.dt, self.convention))
            nodes.edges.append((first, last))
            return first, last, hidden
        if isinstance(module, _RECURRENT) and module.model.name in DISCRETE_MODELS:
            return self.inline_recurrent(module, shape, nodes, name)
        if isinstance(module, _RECURRENT):
            node = nodes.add(name, self.recurrent(module, shape))
            return node, node, (module.hidden_size,)
        if isinstance(module, _FEED_FORWARD):
            self.check_dt(module)
            gain_shape = np.shape(gain)
            try:
                fits = np.broadcast_shapes(gain_shape, tuple(shape)) == tuple(shape)
            except ValueError:
                fits = False
            if not fits:
                raise ValueError(
                    f"to_nir: the Scale before module {name!r} has scale of shape {gain_shape}, "
                    f"which does not fit samples of shape {tuple(shape)} from {self.sample}; "
                    f"expected a scale that broadcasts to {tuple(shape)}"
                )
            node = nodes.add(name, neuron_to_nir(module, shape, self.dt, self.convention, gain))
            return node, node, tuple(shape)
        node, out = self.layer(module, shape)
        node = nodes.add(name, node)
        return node, node, out

    def sequential(self, model: SequentialState, shape, nodes: _Nodes, name: str):
        if model.return_hidden:
            raise ValueError(
                "to_nir cannot export a SequentialState with return_hidden=True: a NIR graph "
                "has the outputs of its Output nodes only"
            )
        layers, items, index = list(model.layers), [], 0
        while index < len(layers):
            layer, gain = layers[index], 1.0
            if isinstance(layer, Scale) and index + 1 < len(layers) and isinstance(
                layers[index + 1], _FEED_FORWARD
            ):
                # Scale then neuron is how from_nir reads a NIR input gain: write it back as one.
                gain, index = layer.scale[...], index + 1
                layer = layers[index]
            items.append((index, layer, gain))
            index += 1
        first = last = None
        for index, layer, gain in items:
            # A named stack that is one NIR node (a gain and its neuron) keeps the name.
            label = name if name and len(items) == 1 else f"{name}.{index}" if name else str(index)
            start, end, shape = self.segment(layer, shape, nodes, label, gain)
            if last is not None:
                nodes.edges.append((last, start))
            first, last = first or start, end
        return first, last, shape

    def recurrent(self, module, shape) -> nir.NIRGraph:
        w_in, w_rec = self.recurrent_weights(module, shape)
        hidden = (module.hidden_size,)
        sub = _Nodes()
        sub.add("input", nir.Input(input_type=np.array(shape)))
        sub.add("w_in", nir.Linear(weight=np.array(w_in)))
        sub.add("neuron", neuron_to_nir(module, hidden, self.dt, self.convention))
        sub.add("w_rec", nir.Linear(weight=np.array(w_rec)))
        sub.add("output", nir.Output(output_type=np.array(hidden)))
        sub.edges += [("input", "w_in"), ("w_in", "neuron"), ("neuron", "w_rec"),
                      ("w_rec", "neuron"), ("neuron", "output")]
        return sub.graph()

    def inline_recurrent(self, module, shape, nodes: _Nodes, name: str):
        """RLeaky / RSynaptic as snnTorch 1.0's exporter leaves them in the graph: the neuron
        ``{name}.lif`` in a cycle with ``{name}.w_rec`` (the cycle its ``import_from_nir`` looks
        for), after ``{name}_w_in``, the input weights: outside the cycle, where snnTorch's
        graphs have the ``Linear`` before an RLeaky."""
        w_in, w_rec = self.recurrent_weights(module, shape)
        hidden = (module.hidden_size,)
        first = nodes.add(f"{name}_w_in", nir.Linear(weight=np.array(w_in)))
        lif = nodes.add(f"{name}.lif", neuron_to_nir(module, hidden, self.dt, self.convention))
        rec = nodes.add(f"{name}.w_rec", nir.Linear(weight=np.array(w_rec)))
        nodes.edges += [(first, lif), (lif, rec), (rec, lif)]
        return first, lif, hidden

    def recurrent_weights(self, module, shape):
        self.check_dt(module)
        if tuple(shape) != (module.input_size,):
            raise ValueError(
                f"{type(module).__name__} takes samples of shape ({module.input_size},), got "
                f"{tuple(shape)}"
            )
        return module.weights()

    def layer(self, module, shape) -> tuple[nir.NIRNode, tuple[int, ...]]:
        """The NIR node of a stateless layer and its output shape."""
        if isinstance(module, nnx.Linear):
            if len(shape) != 1:
                raise ValueError(
                    f"to_nir exports nnx.Linear on samples of rank 1 (features,), got samples of "
                    f"shape {tuple(shape)}; put a spikejax.nir.Flatten before it"
                )
            weight = np.array(module.kernel[...]).T
            out = self.out_shape(module, shape)
            if module.bias is None:
                return nir.Linear(weight=weight), out
            return nir.Affine(weight=weight, bias=np.array(module.bias[...])), out
        if isinstance(module, nnx.Conv):
            return self.conv(module, shape), self.out_shape(module, shape)
        if isinstance(module, Flatten):
            node = nir.Flatten(input_type={"input": np.array(nir_shape(shape))},
                               start_dim=module.start_dim, end_dim=module.end_dim)
            return node, self.out_shape(module, shape)
        if isinstance(module, (SumPool2d, AvgPool2d)):
            kind = nir.SumPool2d if isinstance(module, SumPool2d) else nir.AvgPool2d
            node = kind(kernel_size=np.array(module.kernel_size), stride=np.array(module.stride),
                        padding=np.array(module.padding))
            out = self.out_shape(module, shape)
            return _typed(node, shape, out), out
        full = lambda value: to_nir_layout(np.broadcast_to(np.asarray(value), shape).copy())
        if isinstance(module, Scale):
            return nir.Scale(scale=full(module.scale[...])), tuple(shape)
        if isinstance(module, Threshold):
            return nir.Threshold(threshold=full(module.threshold[...])), tuple(shape)
        raise TypeError(
            f"to_nir cannot export a {type(module).__name__}; supported are {SUPPORTED_MODULES}"
        )

    def conv(self, module: nnx.Conv, shape) -> nir.NIRNode:
        n = len(module.kernel_size)
        if n not in (1, 2) or len(shape) != n + 1:
            raise ValueError(
                f"to_nir exports nnx.Conv in 1 or 2 dimensions on channels-last samples, got a "
                f"{n}-d kernel on samples of shape {tuple(shape)}"
            )
        if module.mask is not None or set(_tuple(module.input_dilation, n)) != {1}:
            raise ValueError("to_nir cannot export nnx.Conv with a mask or input_dilation: NIR has neither")
        strides, dilation = _tuple(module.strides, n), _tuple(module.kernel_dilation, n)
        padding = module.padding
        if isinstance(padding, str) and padding.upper() == "SAME" and set(strides) == {1}:
            pads: Any = "same"
        else:
            if isinstance(padding, str) and padding.upper() in ("SAME", "VALID"):
                kernel = [(k - 1) * d + 1 for k, d in zip(module.kernel_size, dilation)]
                pairs = jax.lax.padtype_to_pads(shape[:-1], kernel, strides, padding.upper())
            elif isinstance(padding, int):
                pairs = [(padding, padding)] * n
            elif isinstance(padding, str):
                raise ValueError(f"nnx.Conv padding {padding!r} has no NIR equivalent")
            else:
                pairs = [(p, p) if isinstance(p, int) else tuple(p) for p in padding]
            if any(lo != hi for lo, hi in pairs):
                raise ValueError(
                    f"NIR pads convolutions the same on both sides, got nnx.Conv padding "
                    f"{module.padding!r} (low, high pads {[tuple(p) for p in pairs]})"
                )
            pads = tuple(int(lo) for lo, _ in pairs)
        kernel = np.array(module.kernel[...])
        weight = kernel.transpose((n + 1, n) + tuple(range(n)))  # (..., in, out) -> (out, in, ...)
        bias = (np.zeros(weight.shape[0], kernel.dtype) if module.bias is None
                else np.array(module.bias[...]))
        common = dict(weight=weight, groups=int(module.feature_group_count), bias=bias)
        if n == 2:
            return nir.Conv2d(input_shape=tuple(shape[:-1]), stride=strides, padding=pads,
                              dilation=dilation, **common)
        return nir.Conv1d(input_shape=int(shape[0]), stride=strides[0], dilation=dilation[0],
                          padding=pads if isinstance(pads, str) else pads[0], **common)

    def graph(self, model: Graph, shapes: Mapping[str, tuple]) -> tuple[nir.NIRGraph, dict]:
        """A :class:`Graph` as a NIR graph with the same node names; and its output shapes."""
        nodes, ends = _Nodes(), {}
        for name in model.inputs:
            ends[name] = (nodes.add(name, nir.Input(input_type=np.array(nir_shape(shapes[name])))),) * 2
        out_shapes = dict(shapes)
        for name, now, _ in model.plan:
            in_shapes = {out_shapes[src] for src in now}
            if len(in_shapes) != 1:
                raise ValueError(f"the inputs of node {name!r} have different shapes {sorted(in_shapes)}")
            first, last, out_shapes[name] = self.segment(model.nodes[name], in_shapes.pop(), nodes, name)
            ends[name] = (first, last)
        outputs = {}
        for name in model.outputs:
            source = next(a for a, b in model.edges if b == name)
            outputs[name] = out_shapes[source]
            ends[name] = (nodes.add(name, nir.Output(output_type=np.array(nir_shape(outputs[name])))),) * 2
        nodes.edges += [(ends[a][1], ends[b][0]) for a, b in model.edges]
        return nodes.graph(), outputs


def to_nir(
    model: Any, sample_input: Any, *, dt: float = 1e-3, convention: str = "spec"
) -> nir.NIRGraph:
    """Export a spikejax model to a NIR graph (see :mod:`spikejax.nir` for the conversions).

    Args:
        model: a :class:`~spikejax.nn.SequentialState` (or :class:`~spikejax.nn.Lift`) of
            neuron cells and stateless layers, a single module, or a :class:`Graph`.
            Sequence-level modules (``LIF``, ``LIFRecurrent``, ``Lift``) are written as the
            step they scan.
        sample_input: one time step of input, ``(B, ...)`` channels-last (only its shape and
            dtype are used); for a sequence model pass ``xs[0]``. A dict of arrays by input name
            for a :class:`Graph` with several inputs.
        dt: the integration step in seconds; every neuron module must have this ``dt``, except
            snnTorch's ``Leaky`` and ``Synaptic`` (their decays are per step; ``dt`` turns them
            into time constants, ``tau = dt / (1 - beta)``): give ``dt=1e-4`` for a file that
            snnTorch's ``import_from_nir`` reads, which assumes that step.
        convention: ``"spec"`` (NIR's equations, the default) or ``"norse"`` (the time
            constants and gains Norse 1.1 writes).

    Returns:
        A ``nir.NIRGraph`` with channels-first shapes, ready for ``nir.write``.

    Raises:
        TypeError: for a module NIR has no node for, naming its type.
        ValueError: for a bad ``dt``, ``convention`` or ``sample_input``, or a module setting
            NIR cannot express (a subtractive reset, asymmetric padding, another ``dt``).

    Example:
        >>> import jax.numpy as jnp
        >>> from flax import nnx
        >>> from spikejax.nir import to_nir
        >>> from spikejax.nn import LIFCell, SequentialState
        >>> model = SequentialState(nnx.Linear(3, 2, rngs=nnx.Rngs(0)), LIFCell())
        >>> graph = to_nir(model, jnp.zeros((1, 3)))
        >>> sorted(graph.nodes), type(graph.nodes["1"]).__name__
        (['0', '1', 'input', 'output'], 'CubaLIF')
        >>> graph.nodes["1"].tau_mem.tolist(), graph.nodes["1"].w_in.tolist()   # 1/100 s; tau_syn / dt
        ([0.01, 0.01], [5.0, 5.0])
    """
    check_dt(dt)
    check_convention(convention)
    exporter = _Exporter(float(dt), convention, None)
    metadata = dict(source="spikejax", dt=float(dt), convention=convention)
    if isinstance(model, Graph):
        samples = sample_input if isinstance(sample_input, Mapping) else {model.inputs[0]: sample_input}
        if set(samples) != set(model.inputs):
            raise ValueError(
                f"sample_input must have one array per input {sorted(model.inputs)}, got "
                f"{sorted(samples)}"
            )
        for name, sample in samples.items():
            check_min_rank(f"sample_input[{name!r}]", sample, 2, "(B, ...), one time step")
        exporter.dtype = jnp.result_type(*samples.values())
        exporter.sample = "sample_input " + ", ".join(
            f"{k!r} of shape {tuple(v.shape)}" for k, v in samples.items()
        )
        graph, _ = exporter.graph(model, {k: tuple(v.shape[1:]) for k, v in samples.items()})
        graph.metadata = metadata
        return graph
    check_min_rank("sample_input", sample_input, 2, "(B, ...), one time step")
    exporter.dtype = sample_input.dtype
    shape = tuple(sample_input.shape[1:])
    exporter.sample = f"sample_input of shape {tuple(sample_input.shape)}"
    nodes = _Nodes()
    nodes.add("input", nir.Input(input_type=np.array(nir_shape(shape))))
    first, last, out = exporter.segment(model, shape, nodes, "")
    nodes.add("output", nir.Output(output_type=np.array(nir_shape(out))))
    nodes.edges = [("input", first)] + nodes.edges + [(last, "output")]
    return nodes.graph(**metadata)
