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

from typing import Any, Callable, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp

__all__ = ["OTTTResult", "ottt_gradients"]


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
