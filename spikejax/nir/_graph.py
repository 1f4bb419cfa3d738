"""A NIR graph of spikejax modules, run one time step per call."""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from ..nn._base import StatefulModule, is_stateful

__all__ = ["Graph"]


class Graph(StatefulModule):
    """A NIR graph of modules, one time step per call: ``graph(x, state) -> (y, state)``.

    :func:`~spikejax.nir.from_nir` builds one for a graph that is not a simple chain (a chain
    becomes a :class:`~spikejax.nn.SequentialState`). Each node is a module, stateful (a neuron
    cell) or not (``nnx.Linear``, ``nnx.Conv``, ...); the graph's ``Input`` and ``Output`` nodes
    are names only. A node's input is the sum over its incoming edges, as in NIR.

    A cycle (a recurrent layer) is broken at the edge that closes it in a depth-first walk from
    the inputs, taken in edge order: that edge carries the source node's output of the previous
    step, every other edge the output of this step. This is how
    :class:`~spikejax.nn.LIFRecurrentCell` feeds back its spikes. In the first step from rest
    (``state=None``) the edge carries what its source gives for a zero input (no spikes) from
    rest: nothing for a ``Linear``, the bias of a recurrent ``Affine``. snnTorch's ``RLeaky``
    and ``RSynaptic`` add ``recurrent(spk)`` with ``spk = 0`` in their first step, so their
    recurrent bias counts from step one.

    The state is ``{"nodes": {name: state}, "delayed": {name: output}}``, or ``None`` for the
    rest state; like any cell, a graph runs over a sequence ``(T, B, ...)`` with
    :func:`spikejax.functional.run` or :class:`~spikejax.nn.Lift`.

    Args:
        nodes: the modules by node name.
        edges: ``(source, target)`` pairs of node, input and output names.
        inputs: the names of the ``Input`` nodes; with one, the graph takes an array, with
            several a dict of arrays by name.
        outputs: the names of the ``Output`` nodes; with one, the graph returns an array, with
            several a dict by name.

    Example:
        >>> import jax.numpy as jnp
        >>> from flax import nnx
        >>> from spikejax.nir import Graph
        >>> from spikejax.nn import LIFCell
        >>> rngs = nnx.Rngs(0)
        >>> layers = {"w_in": nnx.Linear(3, 4, rngs=rngs), "lif": LIFCell(),
        ...           "w_rec": nnx.Linear(4, 4, rngs=rngs)}
        >>> graph = Graph(
        ...     layers,
        ...     [("x", "w_in"), ("w_in", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "y")],
        ...     inputs=["x"], outputs=["y"],
        ... )
        >>> z, state = graph(jnp.ones((2, 3)))
        >>> z, state = graph(jnp.ones((2, 3)), state)    # lif now also gets w_rec's output of step 1
        >>> z.shape, sorted(state["delayed"])
        ((2, 4), ['w_rec'])
    """

    def __init__(
        self,
        nodes: Mapping[str, Any],
        edges: Sequence[tuple[str, str]],
        *,
        inputs: Sequence[str],
        outputs: Sequence[str],
    ):
        if not isinstance(nodes, Mapping):
            raise TypeError(f"nodes must be a dict of modules by name, got {type(nodes).__name__}")
        inputs, outputs = tuple(inputs), tuple(outputs)
        if not inputs or not outputs:
            raise ValueError(
                f"a graph needs at least one input and one output, got inputs={list(inputs)} "
                f"and outputs={list(outputs)}"
            )
        for name, module in nodes.items():
            if not callable(module):
                raise TypeError(f"nodes[{name!r}] must be callable, got {type(module).__name__}")
        edges = tuple((str(a), str(b)) for a, b in edges)
        known = set(nodes) | set(inputs) | set(outputs)
        for edge in edges:
            for end in edge:
                if end not in known:
                    raise ValueError(
                        f"edge {edge} names {end!r}, which is neither a node, an input nor an "
                        f"output; known names: {sorted(known)}"
                    )
            if edge[1] in inputs or edge[0] in outputs:
                raise ValueError(f"edge {edge} leads into an input or out of an output")
        self.nodes = nnx.Dict(dict(nodes))
        self.edges = edges
        self.inputs = inputs
        self.outputs = outputs
        self.plan, self.delayed_sources = _plan(tuple(nodes), edges, inputs, outputs)

    def __call__(self, input_tensor: Any, state: Optional[Mapping[str, Any]] = None):
        values = self._inputs(input_tensor)
        if state is None:
            node_states, delayed = {}, self._rest_delayed(values)
        else:
            node_states, delayed = state["nodes"], state["delayed"]
        values, new_states = self._step(values, node_states, delayed)
        outputs = {name: _sum([values[src] for src in self._sources(name)]) for name in self.outputs}
        new_state = {
            "nodes": new_states,
            "delayed": {src: values[src] for src in self.delayed_sources},
        }
        out = outputs[self.outputs[0]] if len(self.outputs) == 1 else outputs
        return out, new_state

    def _step(self, values: dict, node_states: Mapping, delayed: Mapping) -> tuple[dict, dict]:
        """Every node's output of this step (added to ``values``) and its new state."""
        values, new_states = dict(values), {}
        for name, now, before in self.plan:
            parts = [values[src] for src in now] + [delayed[src] for src in before if src in delayed]
            if not parts:
                raise ValueError(
                    f"node {name!r} gets input only through a cycle, so it has none in the first "
                    f"step; pass a state with its delayed inputs"
                )
            x = _sum(parts)
            module = self.nodes[name]
            if is_stateful(module):
                values[name], new_states[name] = module(x, node_states.get(name))
            else:
                values[name] = module(x)
        return values, new_states

    def _rest_delayed(self, values: dict) -> dict:
        """What the edges that close cycles carry in the first step: each source's output for
        a zero input from rest (a recurrent ``Affine`` gives its bias)."""
        if not self.delayed_sources:
            return {}
        # The shapes of this step without the delayed inputs give each source's input shape.
        shapes = jax.eval_shape(lambda v: self._step(v, {}, {})[0], values)
        rest = {}
        for src in self.delayed_sources:
            feeding = [shapes[a] for a in self._sources(src)]
            zero = jnp.zeros(
                jnp.broadcast_shapes(*(s.shape for s in feeding)),
                jnp.result_type(*(s.dtype for s in feeding)),
            )
            module = self.nodes[src]
            rest[src] = module(zero, None)[0] if is_stateful(module) else module(zero)
        return rest

    def _inputs(self, input_tensor: Any) -> dict:
        if len(self.inputs) == 1:
            if isinstance(input_tensor, Mapping):
                raise TypeError(
                    f"input_tensor must be an array for a graph with one input, got a "
                    f"{type(input_tensor).__name__}"
                )
            return {self.inputs[0]: input_tensor}
        if not isinstance(input_tensor, Mapping) or set(input_tensor) != set(self.inputs):
            got = sorted(input_tensor) if isinstance(input_tensor, Mapping) else type(input_tensor).__name__
            raise ValueError(
                f"input_tensor must be a dict with one array per input {sorted(self.inputs)}, got {got}"
            )
        return dict(input_tensor)

    def _sources(self, name: str) -> list[str]:
        return [a for a, b in self.edges if b == name]


def _sum(parts: list) -> jax.Array:
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


def _plan(names, edges, inputs, outputs):
    """The evaluation order: ``(node, sources this step, sources of the previous step)`` for
    every node, and the nodes whose output must be kept for the next step."""
    successors: dict[str, list[str]] = {}
    for a, b in edges:
        successors.setdefault(a, []).append(b)
    finished: list[str] = []
    state = {}  # name -> "open" while on the depth-first path, "done" after
    back_edges = set()
    for start in inputs:
        if start in state:
            continue
        state[start] = "open"
        stack = [(start, iter(successors.get(start, ())))]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                state[node] = "done"
                finished.append(node)
            elif state.get(child) == "open":
                back_edges.add((node, child))
            elif child not in state:
                state[child] = "open"
                stack.append((child, iter(successors.get(child, ()))))
    unreachable = [n for n in list(names) + list(outputs) if n not in state]
    if unreachable:
        raise ValueError(f"nodes {unreachable} cannot be reached from the inputs {list(inputs)}")
    node_set = set(names)
    plan = []
    for name in reversed(finished):
        if name in node_set:
            now = tuple(a for a, b in edges if b == name and (a, b) not in back_edges)
            before = tuple(a for a, b in edges if b == name and (a, b) in back_edges)
            plan.append((name, now, before))
    delayed = tuple(sorted({a for a, _ in back_edges}))
    return tuple(plan), delayed
