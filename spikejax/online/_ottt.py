r"""OTTT: online training through time for feed-forward layers (Xiao et al., NeurIPS 2022).

A stack of layers :math:`I^l_t = s^{l-1}_t W_l^\top`, :math:`(s^l_t, h^l_t) = f_l(I^l_t,
h^l_{t-1})` (any feed-forward neuron step, the last one possibly a leaky readout) is trained
from a loss per step :math:`\ell_t(s^L_t)`. Each step back-propagates through the layers of
that step only (the states :math:`h_{t-1}` held constant), which gives
:math:`\delta^l_t = \partial \ell_t / \partial I^l_t`, and every layer keeps a trace of its
presynaptic spikes, :math:`\hat a^{l-1}_t = \lambda \hat a^{l-1}_{t-1} + s^{l-1}_t`. The
gradient is

.. math::
    \nabla_{W_l} = \sum_t (\delta^l_t)^\top \hat a^{l-1}_t ,

computed step by step: memory is that of one step, whatever the sequence length. With
:math:`\lambda` the membrane's decay per step, :math:`\hat a` is how the past inputs still move
the membrane, which is what OTTT keeps of the temporal dependencies.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from spikejax._steps import _check_batch
from ._train import _default_split, _finish, _jitted

__all__ = ["OTTTResult", "ottt_gradients", "SpikingStack", "make_ottt_train_step"]


class OTTTResult(NamedTuple):
    """What :func:`ottt_gradients` returns.

    Attributes:
        loss: the summed loss.
        grads: the gradient of each layer's weights (a list like ``weights``).
        states: the layers' states after the last step.
        outputs: the last layer's output of every step ``(T, B, out)``.

    Example:
        >>> OTTTResult._fields
        ('loss', 'grads', 'states', 'outputs')
    """

    loss: jax.Array
    grads: list
    states: list
    outputs: jax.Array


def _check(weights, steps, xs):
    if len(weights) != len(steps) or not weights:
        raise ValueError(f"weights and steps must be lists of the same positive length, got "
                         f"{len(weights)} weights and {len(steps)} steps")
    if jnp.ndim(xs) != 3:
        raise ValueError(f"xs has shape {jnp.shape(xs)}, expected (T, B, input) (time-major)")
    size = xs.shape[-1]
    for index, w in enumerate(weights):
        if jnp.ndim(w) != 2 or w.shape[1] != size:
            raise ValueError(f"weights[{index}] has shape {jnp.shape(w)}, expected (out, {size})")
        size = w.shape[0]


def ottt_gradients(weights: Sequence[jax.Array], xs: jax.Array, targets: Any, *,
                   steps: Sequence[Callable], loss_step: Callable, trace_decay: float,
                   states: Optional[Sequence[Any]] = None) -> OTTTResult:
    """The OTTT gradient of a feed-forward stack over a sequence, in one scan.

    Args:
        weights: each layer's weights ``(out, in)`` (Norse's layout: ``s @ W.T``).
        xs: inputs ``(T, B, in)``.
        targets: a pytree with leading axis ``T``.
        steps: each layer's step ``(current, state) -> (output, state)``, ``state=None`` for
            its rest state (e.g. ``lambda i, s: lif_feed_forward_step(i, s, p)``).
        loss_step: ``loss_step(output, target) -> scalar`` of one step's last output.
        trace_decay: :math:`\\lambda`, the decay per step of the presynaptic traces.
        states: the layers' initial states (default: each step's rest state).

    Returns:
        An :class:`OTTTResult`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from spikejax.functional import lif_feed_forward_step, li_feed_forward_step
        >>> weights = [jnp.full((4, 3), 0.5), jnp.ones((2, 4))]
        >>> steps = [lambda i, s: lif_feed_forward_step(i, s), lambda i, s: li_feed_forward_step(i, s)]
        >>> result = ottt_gradients(weights, jnp.ones((10, 1, 3)), jnp.zeros((10, 1, 2)), steps=steps,
        ...                         loss_step=lambda y, t: jnp.sum((y - t) ** 2), trace_decay=0.9)
        >>> [g.shape for g in result.grads], result.outputs.shape
        ([(4, 3), (2, 4)], (10, 1, 2))
    """
    weights = list(weights)
    _check(weights, steps, xs)
    xs = xs.astype(jnp.result_type(weights[0]))  # spikes may come as booleans or integers
    if states is None:
        states, size = [], xs.shape[-1]
        for w, step in zip(weights, steps):
            states.append(step(jnp.zeros(xs.shape[1:-1] + (w.shape[0],), xs.dtype), None)[1])
    states = list(states)
    sizes = [xs.shape[-1]] + [w.shape[0] for w in weights[:-1]]
    traces = [jnp.zeros(xs.shape[1:-1] + (n,), xs.dtype) for n in sizes]

    def forward(perturbations, states, x, target):
        inputs, new_states, s = [], [], x
        for w, step, state, perturbation in zip(weights, steps, states, perturbations):
            inputs.append(s)
            s, state = step(s @ w.T + perturbation, state)
            new_states.append(state)
        return loss_step(s, target), (new_states, inputs, s)

    def body(carry, inputs):
        states, traces, loss, grads = carry
        x, target = inputs
        zeros = [jnp.zeros(x.shape[:-1] + (w.shape[0],), x.dtype) for w in weights]
        (step_loss, (states, presynaptic, out)), deltas = jax.value_and_grad(forward, has_aux=True)(
            zeros, jax.lax.stop_gradient(states), x, target)
        traces = [trace_decay * a + s for a, s in zip(traces, presynaptic)]
        grads = [g + d.reshape(-1, d.shape[-1]).T @ a.reshape(-1, a.shape[-1])
                 for g, d, a in zip(grads, deltas, traces)]
        return (states, traces, loss + step_loss, grads), out

    init = (states, traces, jnp.zeros((), xs.dtype), [jnp.zeros_like(w) for w in weights])
    (states, _, loss, grads), outputs = jax.lax.scan(body, init, (xs, targets))
    return OTTTResult(loss, grads, states, outputs)


class SpikingStack(nnx.Module):
    """Feed-forward layers, each a weight matrix (no bias) and a neuron cell: what OTTT trains.

    ``__call__(xs) -> outputs``: ``xs`` ``(T, B, sizes[0])`` runs through ``s @ W_l.T`` and the
    ``l``-th cell's feed-forward step at every step; the outputs are the last cell's ``(T, B,
    sizes[-1])`` (spikes, or voltages for a leaky-integrator readout such as ``LICell``).

    Args:
        sizes: ``(inputs, hidden..., outputs)``.
        cells: one cell of :mod:`spikejax.nn` per layer (``LIFCell()``, ..., ``LICell()``).
        rngs: ``nnx.Rngs`` for the weights (normal, standard deviation ``sqrt(2 / inputs)``).

    Example:
        >>> import jax.numpy as jnp
        >>> from flax import nnx
        >>> from spikejax.nn import LICell, LIFCell
        >>> net = SpikingStack((3, 8, 2), [LIFCell(), LICell()], rngs=nnx.Rngs(0))
        >>> net(jnp.ones((10, 4, 3))).shape
        (10, 4, 2)
    """

    def __init__(self, sizes, cells, *, rngs: nnx.Rngs):
        sizes = tuple(sizes)
        if len(sizes) < 2 or len(cells) != len(sizes) - 1:
            raise ValueError(f"sizes must list inputs and each layer's outputs, one layer per cell: got "
                             f"sizes {sizes} and {len(cells)} cells")
        for cell in cells:
            if not hasattr(getattr(cell, "model", None), "feed_forward_step"):
                raise TypeError(f"cells must be neuron cells of spikejax.nn (LIFCell, LICell, ...), got "
                                f"{type(cell).__name__}")
        self.weights = nnx.List([
            nnx.Param(jax.random.normal(rngs.params(), (n_out, n_in)) * math.sqrt(2.0 / n_in))
            for n_in, n_out in zip(sizes[:-1], sizes[1:])])
        self.cells = nnx.List(list(cells))

    def steps(self) -> list:
        """Each layer's step ``(current, state) -> (output, state)`` with its cell's parameters."""
        def bind(cell):
            options = {} if getattr(cell, "detach_reset", None) is None else {"detach_reset": cell.detach_reset}
            return functools.partial(_feed_forward, cell.model.feed_forward_step, cell.parameters, cell.dt, options)
        return [bind(cell) for cell in self.cells]

    def __call__(self, xs: jax.Array) -> jax.Array:
        steps = self.steps()
        weights = [w[...] for w in self.weights]
        xs = xs.astype(weights[0].dtype)
        states = [step(jnp.zeros(xs.shape[1:-1] + (w.shape[0],), xs.dtype), None)[1]
                  for w, step in zip(weights, steps)]

        def body(states, x):
            new, s = [], x
            for w, step, state in zip(weights, steps, states):
                s, state = step(s @ w.T, state)
                new.append(state)
            return new, s

        return jax.lax.scan(body, states, xs)[1]


def _feed_forward(step, p, dt, options, current, state):
    return step(current, state, p, dt, **options)


def make_ottt_train_step(loss_step: Callable, *, trace_decay: float, split_batch: Callable = _default_split,
                         metrics_fn: Optional[Callable] = None, jit: bool = True) -> Callable:
    """Build ``train_step(model, optimizer, batch) -> metrics`` that trains a
    :class:`SpikingStack` with OTTT (:func:`~spikejax.online.ottt_gradients`), one update per batch.

    Args:
        loss_step: ``loss_step(output, target) -> scalar`` of one step's last output.
        trace_decay: the presynaptic traces' decay per step (the membrane's, e.g.
            ``1 - dt * tau_mem_inv``).
        split_batch: ``batch -> (xs, targets)``, as in :func:`make_eprop_train_step`.
        metrics_fn: ``metrics_fn(ys, batch) -> dict`` of extra metrics (optional).
        jit: wrap the step in one ``nnx.jit``.

    Example:
        >>> import jax.numpy as jnp, optax
        >>> from flax import nnx
        >>> from spikejax.nn import LICell, LIFCell
        >>> net = SpikingStack((3, 8, 2), [LIFCell(), LICell()], rngs=nnx.Rngs(0))
        >>> optimizer = nnx.Optimizer(net, optax.adam(1e-2), wrt=nnx.Param)
        >>> step = make_ottt_train_step(lambda y, t: jnp.sum((y - t) ** 2), trace_decay=0.9)
        >>> metrics = step(net, optimizer, (jnp.ones((10, 4, 3)), jnp.ones((10, 4, 2))))
        >>> sorted(metrics), int(optimizer.step[...])
        (['loss', 'nonfinite'], 1)
    """
    if not callable(loss_step):
        raise TypeError(f"loss_step must be a function (output, target) -> scalar, got {type(loss_step).__name__}")

    def train_step(model, optimizer, batch):
        _check_batch(batch)
        xs, targets = split_batch(batch)
        result = ottt_gradients([w[...] for w in model.weights], xs, targets, steps=model.steps(),
                                loss_step=loss_step, trace_decay=trace_decay)
        grads = jax.tree_util.tree_map(jnp.zeros_like, nnx.state(model, nnx.Param))
        for index, grad in enumerate(result.grads):
            grads["weights"][index][...] = grad
        optimizer.update(model, grads)
        return _finish(model, optimizer, result.loss, result.outputs, grads, batch, metrics_fn)

    return _jitted(train_step, jit)
