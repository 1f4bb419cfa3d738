"""Online training of a recurrent layer and its readout: e-prop and truncated BPTT train steps.

Both build ``train_step(model, optimizer, batch) -> metrics`` like :func:`spikejax.train.make_train_step`,
so :func:`spikejax.train.fit`, its checkpoints and any optax optimizer work unchanged. They are
separate builders rather than a ``method=`` option of ``make_train_step`` because they need what
that step does not have: a loss given per time step (e-prop's learning signal is the readout
error of each step, so a loss of the whole sequence such as a mean over time cannot be used
online) and the network's structure (the recurrent step, its weights and the readout), which a
``loss_fn(model, batch)`` hides.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
from flax import nnx

from spikejax.functional import LIParameters, li_feed_forward_step
from spikejax._steps import _all_finite, _check_batch
from ._eprop import EpropState, eprop_init, eprop_step

__all__ = ["RecurrentReadout", "make_eprop_train_step", "make_tbptt_train_step", "truncated_bptt"]


class RecurrentReadout(nnx.Module):
    """A recurrent spiking layer read out by leaky integrators: the network e-prop trains.

    ``y_t = LI(z_t @ readout_weights.T + readout_bias)`` with spikejax's leaky integrator
    (:func:`~spikejax.functional.li_feed_forward_step`, parameters ``readout_p``) shared by all
    outputs. ``__call__(xs) -> (ys, zs)`` runs it forward as any module, so the same network also
    trains by BPTT with :func:`spikejax.train.make_train_step`.

    Args:
        recurrent: a recurrent layer of :mod:`spikejax.nn` (``LSNNRecurrent``, ``LIFRecurrent``,
            ...); its model's recurrent step, parameters, ``dt`` and ``detach_reset`` are used.
        output_size: the readout's outputs ``K``.
        readout_p: the leaky integrator's parameters.
        bias: learn a readout bias.
        feedback: ``"symmetric"`` (e-prop's learning signal through the readout weights) or
            ``"random"`` (through a fixed random matrix, kept as a non-trainable variable).
        rngs: ``nnx.Rngs`` for the readout (and feedback) weights.

    Example:
        >>> import jax.numpy as jnp
        >>> from flax import nnx
        >>> from spikejax.nn import LSNNRecurrent
        >>> net = RecurrentReadout(LSNNRecurrent(3, 8), 2, rngs=nnx.Rngs(0))
        >>> ys, zs = net(jnp.ones((10, 4, 3)))
        >>> ys.shape, zs.shape
        ((10, 4, 2), (10, 4, 8))
    """

    def __init__(self, recurrent: nnx.Module, output_size: int, *,
                 readout_p: LIParameters = LIParameters(), bias: bool = True,
                 feedback: str = "symmetric", rngs: nnx.Rngs):
        if not hasattr(recurrent, "weights") or not hasattr(getattr(recurrent, "model", None), "recurrent_step"):
            raise TypeError(f"recurrent must be a recurrent layer of spikejax.nn (LSNNRecurrent, ...), "
                            f"got {type(recurrent).__name__}")
        if not isinstance(output_size, int) or isinstance(output_size, bool) or output_size < 1:
            raise ValueError(f"output_size must be a positive int, got {output_size!r}")
        if feedback not in ("symmetric", "random"):
            raise ValueError(f"feedback must be 'symmetric' or 'random', got {feedback!r}")
        hidden = recurrent.hidden_size
        self.recurrent = recurrent
        self.readout_p = readout_p
        scale = 1.0 / math.sqrt(hidden)
        self.readout_weights = nnx.Param(jax.random.normal(rngs.params(), (output_size, hidden)) * scale)
        self.readout_bias = nnx.Param(jnp.zeros((output_size,))) if bias else None
        self.feedback = (nnx.Variable(jax.random.normal(rngs.params(), (output_size, hidden)) * scale)
                         if feedback == "random" else None)

    def readout_step(self) -> Callable:
        """The readout ``(u, state) -> (y, state)`` (the leaky integrator)."""
        return functools.partial(_li, p=self.readout_p, dt=self.recurrent.dt)

    def __call__(self, xs: jax.Array, state: Any = None):
        zs, _ = self.recurrent(xs, state)
        u = zs @ self.readout_weights[...].T
        if self.readout_bias is not None:
            u = u + self.readout_bias[...]
        readout = self.readout_step()
        _, ys = jax.lax.scan(lambda s, x: readout(x, s)[::-1], readout(jnp.zeros_like(u[0]), None)[1], u)
        return ys, zs

    def arrays(self) -> dict:
        """The weights as used in a step: ``{"input_weights", "recurrent_weights",
        "readout_weights"[, "readout_bias"]}``."""
        w_in, w_rec = self.recurrent.weights()
        params = {"input_weights": w_in, "recurrent_weights": w_rec,
                  "readout_weights": self.readout_weights[...]}
        if self.readout_bias is not None:
            params["readout_bias"] = self.readout_bias[...]
        return params

    def step_function(self) -> tuple[Callable, Any, float]:
        """``(step, p, dt)``: the layer's recurrent step with its options, parameters and ``dt``."""
        layer = self.recurrent
        options = {} if layer.detach_reset is None else {"detach_reset": layer.detach_reset}
        return functools.partial(layer.model.recurrent_step, **options), layer.parameters, layer.dt

    def param_gradients(self, grads: dict) -> nnx.State:
        """``grads`` (a dict like :meth:`arrays`) as an ``nnx.State`` of this module's Params
        (zero for the neuron parameters, the masked diagonal of the recurrent weights zeroed)."""
        state = jax.tree_util.tree_map(jnp.zeros_like, nnx.state(self, nnx.Param))
        recurrent_grad = grads["recurrent_weights"]
        if not self.recurrent.autapses:
            recurrent_grad = recurrent_grad * (1 - jnp.eye(recurrent_grad.shape[0], dtype=recurrent_grad.dtype))
        state["recurrent"]["input_weights"][...] = grads["input_weights"]
        state["recurrent"]["recurrent_weights"][...] = recurrent_grad
        state["readout_weights"][...] = grads["readout_weights"]
        if self.readout_bias is not None:
            state["readout_bias"][...] = grads["readout_bias"]
        return state


def _li(u, state, *, p, dt):
    return li_feed_forward_step(u, state, p, dt)


def _default_split(batch):
    if isinstance(batch, dict):
        return batch["x"], batch["target"]
    return batch[0], batch[1]


def _windows(tree, window, length):
    return jax.tree_util.tree_map(lambda a: a.reshape((length // window, window) + a.shape[1:]), tree)


def _check_window(name, window, length):
    if window is None:
        return length
    if not isinstance(window, int) or isinstance(window, bool) or window < 1 or length % window:
        raise ValueError(f"{name} must be a positive int that divides the sequence length {length}, "
                         f"got {window!r}")
    return window


def _windowed(model, optimizer, xs, targets, carry, window, gradients, update_each):
    """Scan the sequence in windows; ``gradients(model, carry, xs, targets) -> (carry, loss,
    grads_state, ys)``; the optimizer steps after each window or once after the sequence."""
    length = xs.shape[0]
    graphdef, state = nnx.split((model, optimizer))

    def body(acc, inputs):
        state, carry, total, summed = acc
        model, optimizer = nnx.merge(graphdef, state)
        carry, loss, grads, ys = gradients(model, carry, *inputs)
        if update_each:
            optimizer.update(model, grads)
        else:
            summed = jax.tree_util.tree_map(jnp.add, summed, grads)
        _, state = nnx.split((model, optimizer))
        return (state, carry, total + loss, summed), (ys, grads if update_each else None)

    zero = jax.tree_util.tree_map(jnp.zeros_like, nnx.state(model, nnx.Param))
    init = (state, carry, jnp.zeros((), model.readout_weights[...].dtype), zero)
    (state, carry, loss, summed), (ys, _) = jax.lax.scan(body, init, _windows((xs, targets), window, length))
    nnx.update((model, optimizer), state)
    if not update_each:
        optimizer.update(model, summed)
    ys = ys.reshape((length,) + ys.shape[2:])
    return loss, ys, summed


def _finish(model, optimizer, loss, ys, grads, batch, metrics_fn):
    finite = _all_finite(loss, grads, nnx.state(model, getattr(optimizer, "wrt", nnx.Param)))
    metrics = {"loss": loss, "nonfinite": 1.0 - finite.astype(jnp.float32)}
    if metrics_fn is not None:
        metrics.update(metrics_fn(ys, batch))
    return metrics


def _jitted(train_step, jit):
    if not jit:
        return train_step
    step = nnx.jit(train_step)
    step.spikejax_cacheable = True
    return step


def make_eprop_train_step(loss_step: Callable, *, update_every: Optional[int] = None,
                          split_batch: Callable = _default_split, metrics_fn: Optional[Callable] = None,
                          jit: bool = True) -> Callable:
    """Build ``train_step(model, optimizer, batch) -> metrics`` that trains a
    :class:`RecurrentReadout` with e-prop (symmetric or random feedback, as the model says).

    Args:
        loss_step: ``loss_step(y, target) -> scalar``: the loss of one step's readout ``(B, K)``;
            the sequence's loss is the sum over steps.
        update_every: apply the optimizer every this many steps (online updates; the
            eligibility traces and neuron state carry on across the updates); ``None``: one
            update per batch from the gradient summed over the sequence.
        split_batch: ``batch -> (xs, targets)``: ``xs`` ``(T, B, I)`` and a pytree of targets
            with leading axis ``T`` (default: ``batch["x"], batch["target"]`` or ``batch[0],
            batch[1]``).
        metrics_fn: ``metrics_fn(ys, batch) -> dict`` of extra metrics (an accuracy, say) from
            the readout ``ys`` ``(T, B, K)``.
        jit: wrap the step in one ``nnx.jit``.

    Returns:
        The step; its metrics hold ``"loss"`` (the summed loss), ``"nonfinite"`` and those of
        ``metrics_fn``. Usable with :func:`spikejax.train.fit`.

    Example:
        >>> import jax.numpy as jnp, optax
        >>> from flax import nnx
        >>> from spikejax.nn import LSNNRecurrent
        >>> net = RecurrentReadout(LSNNRecurrent(3, 8), 2, rngs=nnx.Rngs(0))
        >>> optimizer = nnx.Optimizer(net, optax.adam(1e-2), wrt=nnx.Param)
        >>> step = make_eprop_train_step(lambda y, t: jnp.sum((y - t) ** 2), update_every=5)
        >>> batch = {"x": jnp.ones((20, 4, 3)), "target": jnp.zeros((20, 4, 2))}
        >>> metrics = step(net, optimizer, batch)
        >>> sorted(metrics), int(optimizer.step[...])        # 4 updates in the 20 steps
        (['loss', 'nonfinite'], 4)
    """
    if not callable(loss_step):
        raise TypeError(f"loss_step must be a function (y, target) -> scalar, got {type(loss_step).__name__}")

    def train_step(model, optimizer, batch):
        _check_batch(batch)
        xs, targets = split_batch(batch)
        window = _check_window("update_every", update_every, xs.shape[0])
        step, p, dt = model.step_function()
        readout_step = model.readout_step()
        hidden = model.recurrent.hidden_size
        dtype = model.readout_weights[...].dtype
        neuron_state = model.recurrent.model.recurrent_state((xs.shape[1], hidden), p, dtype)
        carry = eprop_init(neuron_state, xs.shape[-1], model.readout_weights.shape[0], readout_step=readout_step)
        feedback = None if model.feedback is None else model.feedback[...]

        def gradients(model, carry, xs, targets):
            params = model.arrays()
            one = functools.partial(eprop_step, step=step, p=p, dt=dt, loss_step=loss_step,
                                    readout_step=readout_step, feedback=feedback)

            def body(acc, inputs):
                carry, loss, grads = acc
                carry, step_loss, step_grads, y = one(params, carry, *inputs)
                return (carry, loss + step_loss, jax.tree_util.tree_map(jnp.add, grads, step_grads)), y

            zero = jax.tree_util.tree_map(jnp.zeros_like, params)
            (carry, loss, grads), ys = jax.lax.scan(body, (carry, jnp.zeros((), dtype), zero), (xs, targets))
            return carry, loss, model.param_gradients(grads), ys

        loss, ys, grads = _windowed(model, optimizer, xs, targets, carry, window, gradients,
                                    update_every is not None)
        return _finish(model, optimizer, loss, ys, grads, batch, metrics_fn)

    return _jitted(train_step, jit)


def truncated_bptt(window_loss: Callable, params: Any, carry: Any, xs: Any, targets: Any, *,
                   window: int):
    """Gradient of a sequence's loss by BPTT truncated to windows of ``window`` steps.

    ``window_loss(params, carry, xs, targets) -> (loss, (carry, outputs))`` runs one window
    from ``carry``; the carry passes from window to window with its gradient stopped, so the
    gradient of each window's loss flows back through that window only.

    Returns:
        ``(loss, grads, carry, outputs)``: summed loss and gradients, the last carry and the
        windows' outputs joined along time.

    Example:
        >>> import jax.numpy as jnp
        >>> def window_loss(w, h, xs, targets):            # a linear recurrence h = 0.9 h + w x
        ...     def body(h, x):
        ...         h = 0.9 * h + w * x
        ...         return h, h
        ...     h, hs = jax.lax.scan(body, h, xs)
        ...     return jnp.sum((hs - targets) ** 2), (h, hs)
        >>> xs = jnp.ones((8, 1))
        >>> loss, grad, h, hs = truncated_bptt(window_loss, 1.0, jnp.zeros(1), xs, jnp.zeros((8, 1)), window=4)
        >>> hs.shape, bool(grad > 0)
        ((8, 1), True)
    """
    length = jax.tree_util.tree_leaves(xs)[0].shape[0]
    window = _check_window("window", window, length)

    def body(acc, inputs):
        carry, loss, grads = acc
        (window_value, (carry, outputs)), window_grads = jax.value_and_grad(window_loss, has_aux=True)(
            params, jax.lax.stop_gradient(carry), *inputs)
        return (carry, loss + window_value, jax.tree_util.tree_map(jnp.add, grads, window_grads)), outputs

    zero = jax.tree_util.tree_map(jnp.zeros_like, params)
    (carry, loss, grads), outputs = jax.lax.scan(
        body, (carry, jnp.zeros(()), zero), _windows((xs, targets), window, length))
    outputs = jax.tree_util.tree_map(lambda a: a.reshape((length,) + a.shape[2:]), outputs)
    return loss, grads, carry, outputs


def make_tbptt_train_step(loss_step: Callable, *, window: int, update_each_window: bool = False,
                          split_batch: Callable = _default_split, metrics_fn: Optional[Callable] = None,
                          jit: bool = True) -> Callable:
    """Build a truncated-BPTT ``train_step(model, optimizer, batch) -> metrics`` for a
    :class:`RecurrentReadout`: the baseline of online learning.

    The sequence runs in windows of ``window`` steps; the neuron and readout states carry
    across windows, and the gradient of each window's loss (``loss_step`` summed over its steps)
    flows back through that window only. Memory grows with ``window``, not with the sequence.

    Args:
        loss_step: ``loss_step(y, target) -> scalar``, the loss of one step's readout, as in
            :func:`make_eprop_train_step`.
        split_batch: ``batch -> (xs, targets)``, as in :func:`make_eprop_train_step`.
        metrics_fn: ``metrics_fn(ys, batch) -> dict`` of extra metrics (optional).
        jit: wrap the step in one ``nnx.jit``.
        window: steps per window; must divide the sequence length.
        update_each_window: apply the optimizer after every window (else once per batch).

    Example:
        >>> import jax.numpy as jnp, optax
        >>> from flax import nnx
        >>> from spikejax.nn import LIFRecurrent
        >>> net = RecurrentReadout(LIFRecurrent(3, 8), 2, rngs=nnx.Rngs(0))
        >>> optimizer = nnx.Optimizer(net, optax.adam(1e-2), wrt=nnx.Param)
        >>> step = make_tbptt_train_step(lambda y, t: jnp.sum((y - t) ** 2), window=10)
        >>> metrics = step(net, optimizer, (jnp.ones((20, 4, 3)), jnp.ones((20, 4, 2))))
        >>> int(optimizer.step[...])
        1
    """
    if not callable(loss_step):
        raise TypeError(f"loss_step must be a function (y, target) -> scalar, got {type(loss_step).__name__}")

    def train_step(model, optimizer, batch):
        _check_batch(batch)
        xs, targets = split_batch(batch)
        size = _check_window("window", window, xs.shape[0])
        step, p, dt = model.step_function()
        readout_step = model.readout_step()
        shape = (xs.shape[1], model.recurrent.hidden_size)
        dtype = model.readout_weights[...].dtype
        xs = xs.astype(dtype)  # spikes may come as booleans or integers
        carry = (model.recurrent.model.recurrent_state(shape, p, dtype),
                 readout_step(jnp.zeros((xs.shape[1], model.readout_weights.shape[0]), dtype), None)[1])

        def gradients(model, carry, xs, targets):
            def window_loss(model, carry):
                w = model.arrays()
                neuron, readout = carry

                def body(c, inputs):
                    neuron, readout = c
                    x, target = inputs
                    z, neuron = step(x, neuron, w["input_weights"], w["recurrent_weights"], p, dt)
                    u = z @ w["readout_weights"].T + w.get("readout_bias", 0.0)
                    y, readout = readout_step(u, readout)
                    return (neuron, readout), (loss_step(y, target), y)

                carry, (losses, ys) = jax.lax.scan(body, (neuron, readout), (xs, targets))
                return losses.sum(), (carry, ys)

            (loss, (carry, ys)), grads = nnx.value_and_grad(window_loss, has_aux=True)(
                model, jax.lax.stop_gradient(carry))
            return carry, loss, nnx.state(grads, nnx.Param), ys

        loss, ys, grads = _windowed(model, optimizer, xs, targets, carry, size, gradients, update_each_window)
        return _finish(model, optimizer, loss, ys, grads, batch, metrics_fn)

    return _jitted(train_step, jit)

