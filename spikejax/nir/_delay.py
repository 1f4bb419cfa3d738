"""NIR's ``Delay`` node and spikejax's delay layers.

``nir.Delay(delay)`` delays each neuron's signal by ``delay`` (seconds, one per neuron):
:class:`~spikejax.nn.AxonalDelay` and :class:`~spikejax.nn.AxonalDelayCell` write it with
``delay = steps * dt``, and ``from_nir`` reads it as an :class:`~spikejax.nn.AxonalDelayCell`
(NIR graphs run one step at a time there) with ``steps = delay / dt``, which must be whole steps.
NIR 1.0 has no per-synapse delay: a :class:`~spikejax.nn.DelayedLinear` is written as the graph
``Linear`` (a copy of each input for each synapse) -> ``Delay`` (one per synapse) -> ``Linear``
(the weights), which reads back as those three modules with the same numbers. A
:class:`~spikejax.nn.LearnableDelayedLinear` is refused: round it first
(:meth:`~spikejax.nn.LearnableDelayedLinear.to_fixed`).
"""

from __future__ import annotations

from typing import Any

import nir
import numpy as np

from ..nn.delay import AxonalDelay, AxonalDelayCell, DelayedLinear, LearnableDelayedLinear

DELAY_MODULES = (AxonalDelay, AxonalDelayCell, DelayedLinear, LearnableDelayedLinear)


def delay_to_nir(module: Any, shape: tuple, dt: float):
    """The NIR node of a delay module and its output shape (per sample)."""
    if isinstance(module, LearnableDelayedLinear):
        raise TypeError(
            "to_nir cannot export a LearnableDelayedLinear (NIR has no learnable delay kernel); "
            "round its delays first: layer.to_fixed() gives the DelayedLinear to export"
        )
    if tuple(shape) != (module.in_features,):
        raise ValueError(f"{type(module).__name__} takes samples of shape ({module.in_features},), "
                         f"got {tuple(shape)}")
    delays = np.asarray(module.delays[...])
    if isinstance(module, (AxonalDelay, AxonalDelayCell)):
        return nir.Delay(delay=delays.astype(np.float64) * dt), tuple(shape)
    n_out, n_in = delays.shape
    synapses = n_out * n_in
    # synapse k = i * n_in + j carries input j to output i
    copy = np.zeros((synapses, n_in))
    copy[np.arange(synapses), np.tile(np.arange(n_in), n_out)] = 1.0
    weights = np.zeros((n_out, synapses))
    weights[np.repeat(np.arange(n_out), n_in), np.arange(synapses)] = np.asarray(module.weight[...]).reshape(-1)
    nodes = {
        "input": nir.Input(input_type=np.array([n_in])),
        "copy": nir.Linear(weight=copy),
        "delay": nir.Delay(delay=delays.reshape(-1).astype(np.float64) * dt),
        "weight": (nir.Linear(weight=weights) if module.bias is None
                   else nir.Affine(weight=weights, bias=np.asarray(module.bias[...]))),
        "output": nir.Output(output_type=np.array([n_out])),
    }
    edges = [("input", "copy"), ("copy", "delay"), ("delay", "weight"), ("weight", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), (n_out,)


def delay_from_nir(node: Any, name: str, dt: float) -> AxonalDelayCell:
    """The :class:`~spikejax.nn.AxonalDelayCell` of a ``nir.Delay`` node: ``delay / dt`` whole steps."""
    seconds = np.asarray(node.delay, dtype=np.float64).reshape(-1)
    steps = seconds / dt
    whole = np.round(steps)
    if seconds.size == 0 or np.any(whole < 0) or not np.allclose(steps, whole, rtol=0, atol=1e-6):
        raise ValueError(
            f"NIR node {name!r} (Delay) has delay {seconds.tolist()[:8]} s, expected whole non-negative "
            f"multiples of dt={dt} s (got {steps.tolist()[:8]} steps)"
        )
    whole = whole.astype(np.int32)
    return AxonalDelayCell(seconds.size, int(whole.max()) + 1, delays=whole)
