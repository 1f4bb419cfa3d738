r"""e-prop (Bellec et al., Nature Communications 2020), derived from any model's recurrent step.

A recurrent layer ``step(x, state, W_in, W_rec, p, dt) -> (z, state)`` is, neuron by neuron, a
map :math:`(h_{t-1}, I_t) \mapsto (z_t, h_t)` of the neuron's own state :math:`h` (every float
leaf of the model's state) and its input current :math:`I_t = W_{\text{in}} x_t + W_{\text{rec}}
z_{t-1}`. Calling the model's step with the current as input, an identity input matrix and zero
recurrent weights gives that map for all neurons at once; forward-mode differentiation
(``jax.linearize``, one tangent per state field and one for the current) gives each neuron's
Jacobians :math:`\partial h_t/\partial h_{t-1}` (:math:`S \times S` per neuron),
:math:`\partial h_t/\partial I_t`, :math:`\partial z_t/\partial h_{t-1}` and :math:`\partial
z_t/\partial I_t`. With :math:`\hat x_t = (x_t, z_{t-1})` the eligibility vectors and traces of
the synapses :math:`j \leftarrow i` (input and recurrent weights together) are

.. math::
    \epsilon^{ji}_t = \frac{\partial h^j_t}{\partial h^j_{t-1}} \epsilon^{ji}_{t-1}
        + \frac{\partial h^j_t}{\partial I^j_t} \hat x^i_t, \qquad
    e^{ji}_t = \frac{\partial z^j_t}{\partial h^j_{t-1}} \epsilon^{ji}_{t-1}
        + \frac{\partial z^j_t}{\partial I^j_t} \hat x^i_t .

The readout :math:`y_t = R(z_t W_{\text{out}}^\top + b)` is any affine, time-invariant filter
whose parameters all outputs share (a leaky integrator); the same filter moved onto the traces,
:math:`\bar e_t = R_{\text{lin}}(e)_t` (its forward-mode derivative at zero), and the learning
signal :math:`L^j_t = \sum_k B_{kj}\, \partial \ell_t / \partial y^k_t` (``B`` the readout weights,
or a fixed random ``feedback``) give the gradient :math:`\sum_t L^j_t \bar e^{ji}_t`, online:
memory does not grow with the sequence. It equals the gradient of the same network in which the
previous spikes are stopped (``stop_gradient``) where they enter the recurrent current: all
other dependencies, the neuron's own through its state (adaptation, a reset that the step does
not detach), are kept. The readout's own weights and bias get their exact gradient.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp

from spikejax.functional import LIParameters, li_feed_forward_step

__all__ = ["EpropState", "EpropResult", "eprop_init", "eprop_step", "eprop_gradients", "li_readout"]


def li_readout(p: LIParameters = LIParameters(), dt: float = 1e-3) -> Callable:
    """The default readout: spikejax's leaky integrator as ``readout(u, state) -> (y, state)``.

    Example:
        >>> import jax.numpy as jnp
        >>> readout = li_readout()
        >>> y, state = readout(jnp.ones((1, 2)), None)
        >>> y
        Array([[0.1, 0.1]], dtype=float32)
    """
    return functools.partial(_li_readout, p=p, dt=dt)


def _li_readout(u, state, *, p, dt):
    return li_feed_forward_step(u, state, p, dt)


class EpropState(NamedTuple):
    """What e-prop carries from step to step; no field grows with time.

    Attributes:
        neuron: the recurrent layer's state (leaves ``(B, H)``).
        eligibility: the eligibility vectors, ``(S, B, H, A)``: one per float field of the
            neuron state, per synapse of the ``A = input + hidden`` inputs of each neuron.
        trace_filter: the readout filter's state run on the eligibility traces (leaves
            ``(B, H, A)``).
        readout: the readout's state (leaves ``(B, K)``).
        spike_filter: the readout filter's state run on the spikes (for the readout weights).
        bias_filter: the readout filter's state run on a constant one (for the readout bias).

    Example:
        >>> from spikejax.functional import lif_state
        >>> carry = eprop_init(lif_state((2, 4)), input_size=3, output_size=1)
        >>> carry.eligibility.shape                     # 2 float fields besides z, so S = 3
        (3, 2, 4, 7)
    """

    neuron: Any
    eligibility: jax.Array
    trace_filter: Any
    readout: Any
    spike_filter: Any
    bias_filter: Any


class EpropResult(NamedTuple):
    """What :func:`eprop_gradients` returns.

    Attributes:
        loss: the sum over steps of the per-step loss.
        grads: a dict like the ``params`` given, with the e-prop gradient of each.
        state: the :class:`EpropState` after the last step (to continue the sequence).
        outputs: the readout ``y`` of every step, ``(T, B, K)``.
        recorded: with ``record=True``, ``{"learning_signal": (T, B, H), "trace": (T, B, H, A),
            "spikes": (T, B, H)}``: the learning signal, the readout-filtered eligibility traces
            (input synapses first, then recurrent ones) and the spikes of every step; else ``None``.

    Example:
        >>> EpropResult._fields
        ('loss', 'grads', 'state', 'outputs', 'recorded')
    """

    loss: jax.Array
    grads: dict
    state: EpropState
    outputs: jax.Array
    recorded: Optional[dict] = None


def _float_leaves(state):
    leaves, treedef = jax.tree_util.tree_flatten(state)
    index = [k for k, leaf in enumerate(leaves) if jnp.issubdtype(jnp.result_type(leaf), jnp.inexact)]
    return leaves, treedef, index


def _readout_rest(readout_step, shape, dtype):
    # An affine time-invariant readout at rest stays there under zero input.
    return readout_step(jnp.zeros(shape, dtype), None)[1]


def _zero_filter(readout_step, shape, dtype):
    return jax.tree_util.tree_map(jnp.zeros_like, _readout_rest(readout_step, shape, dtype))


def eprop_init(neuron_state: Any, input_size: int, output_size: int, *,
               readout_step: Optional[Callable] = None) -> EpropState:
    """The e-prop carry at the start of a sequence, from the recurrent layer's ``neuron_state``.

    Args:
        neuron_state: the layer's initial state; its ``z`` field (the last spikes) has shape
            ``(B, H)``.
        input_size: the inputs of the layer (columns of the input weights).
        output_size: the readout's outputs ``K``.
        readout_step: the readout ``(u, state) -> (y, state)`` (default :func:`li_readout`).

    Returns:
        An :class:`EpropState` with zero eligibility and the readout at rest.

    Example:
        >>> from spikejax.functional import lsnn_state
        >>> carry = eprop_init(lsnn_state((1, 5)), input_size=2, output_size=3)
        >>> carry.eligibility.shape, carry.readout.v.shape
        ((4, 1, 5, 7), (1, 3))
    """
    readout_step = readout_step or li_readout()
    z = getattr(neuron_state, "z", None)
    if z is None or jnp.ndim(z) != 2:
        raise ValueError(
            f"neuron_state must have a field z of shape (B, H) (the last spikes), got "
            f"{type(neuron_state).__name__} with z of shape {getattr(z, 'shape', None)}")
    for name, value in (("input_size", input_size), ("output_size", output_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    batch, hidden = z.shape
    dtype = jnp.result_type(z)
    _, _, index = _float_leaves(neuron_state)
    width = input_size + hidden
    return EpropState(
        neuron=neuron_state,
        eligibility=jnp.zeros((len(index), batch, hidden, width), dtype),
        trace_filter=_zero_filter(readout_step, (batch, hidden, width), dtype),
        readout=_readout_rest(readout_step, (batch, output_size), dtype),
        spike_filter=_zero_filter(readout_step, (batch, hidden), dtype),
        bias_filter=_zero_filter(readout_step, (batch, 1), dtype),
    )


def _filter(readout_step, state, signal):
    """One step of the readout's linear part on ``signal`` (its derivative at zero)."""
    zeros = jax.tree_util.tree_map(jnp.zeros_like, state)
    _, (out, new_state) = jax.jvp(lambda s, u: readout_step(u, s), (zeros, jnp.zeros_like(signal)),
                                  (state, signal))
    return out, new_state


def _local_jacobians(step, state, current, p, dt):
    """The neuron map ``(h, I) -> (z, h')`` and its per-neuron Jacobians, by forward mode."""
    leaves, treedef, index = _float_leaves(state)
    shape = current.shape
    hidden = shape[-1]
    identity = jnp.eye(hidden, dtype=current.dtype)
    no_recurrence = jnp.zeros_like(identity)

    def local(float_leaves, drive):
        full = list(leaves)
        for k, leaf in zip(index, float_leaves):
            full[k] = leaf
        # The current as input through an identity: the step's own dynamics, no recurrence.
        return step(drive, jax.tree_util.tree_unflatten(treedef, full), identity, no_recurrence, p, dt)

    float_leaves = [jnp.broadcast_to(leaves[k], shape) for k in index]
    (z, new_state), linear = jax.linearize(local, float_leaves, current)
    n = len(index)
    directions = jnp.eye(n + 1, dtype=current.dtype)[:, :, None, None] * jnp.ones(shape, current.dtype)
    d_z, d_state = jax.vmap(linear)([directions[:, s] for s in range(n)], directions[:, n])
    new_leaves = jax.tree_util.tree_leaves(d_state)
    d_h = jnp.stack([new_leaves[k] for k in index])  # (S_out, S_in + 1, B, H)
    return z, new_state, d_z, d_h


def eprop_step(params: dict, carry: EpropState, x: jax.Array, target: Any, *, step: Callable,
               p: Any, dt: float = 1e-3, loss_step: Callable, readout_step: Optional[Callable] = None,
               feedback: Optional[jax.Array] = None, record: bool = False):
    """One e-prop step: the network's step, the eligibility update and this step's gradient.

    Args:
        params: ``{"input_weights": (H, I), "recurrent_weights": (H, H), "readout_weights":
            (K, H)}`` and optionally ``"readout_bias": (K,)``.
        carry: the :class:`EpropState` before the step.
        x: the input ``(B, I)``.
        target: this step's target, passed to ``loss_step``.
        step: the layer's recurrent step ``(x, state, W_in, W_rec, p, dt) -> (z, state)``; bind
            options such as ``detach_reset`` with ``functools.partial``.
        p: the neuron parameters.
        dt: the integration step in seconds.
        loss_step: ``loss_step(y, target) -> scalar``, the loss of this step's readout ``(B, K)``.
        readout_step: the readout ``(u, state) -> (y, state)`` (default :func:`li_readout`).
        feedback: ``(K, H)``, a fixed matrix that carries the error back in place of the readout
            weights (random feedback); ``None`` for symmetric feedback.

        record: also return this step's learning signal, filtered traces and spikes.

    Returns:
        ``(carry, loss, grads, y)``: the new carry, this step's loss, its gradient contribution
        (a dict like ``params``) and the readout ``(B, K)``; with ``record``, a fifth item, the
        dict described in :class:`EpropResult`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from spikejax.functional import lif_state, lif_step
        >>> params = {"input_weights": jnp.ones((4, 3)), "recurrent_weights": jnp.zeros((4, 4)),
        ...           "readout_weights": jnp.ones((2, 4))}
        >>> carry = eprop_init(lif_state((1, 4)), 3, 2)
        >>> loss = lambda y, t: jnp.sum((y - t) ** 2)
        >>> carry, l, grads, y = eprop_step(params, carry, jnp.ones((1, 3)), jnp.zeros((1, 2)),
        ...                                 step=lif_step, p=None, loss_step=loss)
        >>> grads["input_weights"].shape, y.shape
        ((4, 3), (1, 2))
    """
    readout_step = readout_step or li_readout()
    w_in, w_rec = params["input_weights"], params["recurrent_weights"]
    w_out = params["readout_weights"]
    if p is None:
        p = _default_parameters(step)
    state = carry.neuron
    z_prev = state.z
    x = x.astype(jnp.result_type(w_in))  # spikes may come as booleans or integers
    current = x @ w_in.T + z_prev @ w_rec.T
    z, new_state, d_z, d_h = _local_jacobians(step, state, current, p, dt)
    n = d_h.shape[0]
    presynaptic = jnp.concatenate([x, jnp.broadcast_to(z_prev, current.shape).astype(x.dtype)], -1)[:, None, :]
    eps = carry.eligibility
    # Sums of broadcast products rather than einsums: XLA fuses them into one pass over the
    # traces (2.3x less CPU time than the batched 4x4 contraction at B=32, H=256, A=276).
    trace = _combine(d_z, eps, presynaptic)
    eps = jnp.stack([_combine(d_h[o], eps, presynaptic) for o in range(n)])

    u = z @ w_out.T
    if "readout_bias" in params:
        u = u + params["readout_bias"]
    y, readout = readout_step(u, carry.readout)
    loss, d_y = jax.value_and_grad(loss_step)(y, target)
    signal = d_y @ (w_out if feedback is None else feedback)  # (B, H)
    filtered_trace, trace_filter = _filter(readout_step, carry.trace_filter, trace)
    filtered_spikes, spike_filter = _filter(readout_step, carry.spike_filter, z)
    filtered_one, bias_filter = _filter(readout_step, carry.bias_filter, jnp.ones_like(z[:, :1]))
    synaptic = jnp.einsum("bh,bha->ha", signal, filtered_trace)
    n_in = w_in.shape[1]
    grads = {"input_weights": synaptic[:, :n_in], "recurrent_weights": synaptic[:, n_in:],
             "readout_weights": d_y.T @ filtered_spikes}
    if "readout_bias" in params:
        grads["readout_bias"] = jnp.sum(d_y * filtered_one, axis=0)
    carry = EpropState(new_state, eps, trace_filter, readout, spike_filter, bias_filter)
    if record:
        return carry, loss, grads, y, {"learning_signal": signal, "trace": filtered_trace, "spikes": z}
    return carry, loss, grads, y


def _combine(jacobian, eps, presynaptic):
    """``sum_s jacobian[s] eps[s] + jacobian[S] presynaptic`` per neuron, broadcast over synapses."""
    total = jacobian[-1][..., None] * presynaptic
    for s in range(eps.shape[0]):
        total = total + jacobian[s][..., None] * eps[s]
    return total


def _default_parameters(step):
    from spikejax.functional import MODELS

    func = step.func if isinstance(step, functools.partial) else step
    for model in MODELS.values():
        if model.recurrent_step is func:
            return model.parameters()
    raise ValueError(f"p is None and {getattr(func, '__name__', func)!r} is not a known model's "
                     "recurrent step: give the neuron parameters p")


def _check_params(params, xs):
    for name in ("input_weights", "recurrent_weights", "readout_weights"):
        if name not in params:
            raise ValueError(f"params must have {name!r}, got keys {sorted(params)}")
        if jnp.ndim(params[name]) != 2:
            raise ValueError(f"params[{name!r}] must be a matrix, got shape {jnp.shape(params[name])}")
    hidden, n_in = params["input_weights"].shape
    if params["recurrent_weights"].shape != (hidden, hidden):
        raise ValueError(f"params['recurrent_weights'] has shape {params['recurrent_weights'].shape}, "
                         f"expected {(hidden, hidden)} (hidden, hidden)")
    if params["readout_weights"].shape[1] != hidden:
        raise ValueError(f"params['readout_weights'] has shape {params['readout_weights'].shape}, "
                         f"expected (outputs, {hidden})")
    if jnp.ndim(xs) != 3 or xs.shape[-1] != n_in:
        raise ValueError(f"xs has shape {jnp.shape(xs)}, expected (T, B, {n_in}) (time-major, the "
                         "input size of input_weights)")


def eprop_gradients(params: dict, xs: jax.Array, targets: Any, *, step: Callable, p: Any = None,
                    dt: float = 1e-3, loss_step: Callable, state: Optional[EpropState] = None,
                    neuron_state: Any = None, readout_step: Optional[Callable] = None,
                    feedback: Optional[jax.Array] = None, record: bool = False) -> EpropResult:
    """The e-prop gradient of a recurrent layer and its readout over a sequence, in one scan.

    The loss is ``sum_t loss_step(y_t, targets[t])``. Memory is that of one step (the
    eligibility of every synapse), whatever the length ``T``.

    Args:
        params: the weights, see :func:`eprop_step`.
        xs: inputs ``(T, B, I)``, time-major.
        targets: a pytree of arrays with leading axis ``T``.
        step: the layer's recurrent step, as in :func:`eprop_step`.
        p: the neuron parameters; ``None``: the defaults of the model whose recurrent step
            ``step`` is.
        dt: the integration step in seconds.
        loss_step: ``loss_step(y, target) -> scalar``, the loss of one step's readout.
        readout_step: the readout ``(u, state) -> (y, state)`` (default :func:`li_readout`).
        feedback: ``(K, H)`` random feedback matrix, or ``None`` for symmetric feedback.
        state: an :class:`EpropState` to continue from (a previous result's ``state``).
        neuron_state: without ``state``, the layer's initial state (default: the rest state
            of the model whose recurrent step ``step`` is).
        record: keep every step's learning signal, filtered traces and spikes (memory then
            grows with ``T``: for plots of small networks).

    Returns:
        An :class:`EpropResult`.

    Example:
        >>> import functools, jax, jax.numpy as jnp
        >>> from spikejax.functional import LSNNParameters, lsnn_step
        >>> keys = jax.random.split(jax.random.key(0), 3)
        >>> params = {"input_weights": jax.random.normal(keys[0], (8, 3)),
        ...           "recurrent_weights": jax.random.normal(keys[1], (8, 8)) * 0.1,
        ...           "readout_weights": jax.random.normal(keys[2], (2, 8))}
        >>> xs = jnp.ones((20, 4, 3))
        >>> targets = jnp.zeros((20, 4, 2))
        >>> result = eprop_gradients(params, xs, targets, p=LSNNParameters(),
        ...     step=functools.partial(lsnn_step, detach_reset=False),
        ...     loss_step=lambda y, t: 0.5 * jnp.sum((y - t) ** 2))
        >>> result.grads["recurrent_weights"].shape, result.outputs.shape
        ((8, 8), (20, 4, 2))

        The gradient is the sum over steps of learning signal times filtered trace:

        >>> result = eprop_gradients(params, xs, targets, p=LSNNParameters(), record=True,
        ...     step=functools.partial(lsnn_step, detach_reset=False),
        ...     loss_step=lambda y, t: 0.5 * jnp.sum((y - t) ** 2))
        >>> signal, trace = result.recorded["learning_signal"], result.recorded["trace"]
        >>> bool(jnp.allclose(jnp.einsum("tbh,tbha->ha", signal, trace)[:, :3],
        ...                   result.grads["input_weights"], rtol=1e-4, atol=1e-5))
        True
    """
    _check_params(params, xs)
    dtype = jnp.result_type(params["input_weights"])
    if p is None:
        p = _default_parameters(step)
    if state is None:
        hidden = params["input_weights"].shape[0]
        if neuron_state is None:
            neuron_state = _rest_state(step, p, (xs.shape[1], hidden), dtype)
        state = eprop_init(neuron_state, xs.shape[-1], params["readout_weights"].shape[0],
                           readout_step=readout_step)
    one = functools.partial(eprop_step, step=step, p=p, dt=dt, loss_step=loss_step,
                            readout_step=readout_step, feedback=feedback, record=record)
    zero_grads = jax.tree_util.tree_map(jnp.zeros_like, params)

    def body(acc, inputs):
        carry, loss, grads = acc
        x, target = inputs
        carry, step_loss, step_grads, y, *recorded = one(params, carry, x, target)
        grads = jax.tree_util.tree_map(jnp.add, grads, step_grads)
        return (carry, loss + step_loss, grads), (y, recorded[0] if recorded else None)

    init = (state, jnp.zeros((), dtype), zero_grads)
    (state, loss, grads), (ys, recorded) = jax.lax.scan(body, init, (xs, targets))
    return EpropResult(loss, grads, state, ys, recorded)


def _rest_state(step, p, shape, dtype):
    from spikejax.functional import MODELS

    func = step.func if isinstance(step, functools.partial) else step
    for model in MODELS.values():
        if model.recurrent_step is func:
            return model.recurrent_state(shape, p, dtype)
    raise ValueError(f"neuron_state is None and {getattr(func, '__name__', func)!r} is not a known "
                     "model's recurrent step: give the layer's initial neuron_state")
