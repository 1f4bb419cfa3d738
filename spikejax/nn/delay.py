r"""Delay layers: :class:`~spikejax.nn.DelayedLinear` (an integer delay per synapse), :class:`~spikejax.nn.LearnableDelayedLinear`
(a trainable delay per synapse, Hammouamri et al., ICLR 2024) and :class:`~spikejax.nn.AxonalDelay` (one delay
per neuron), over time-major sequences ``(T, B, n)``.

Each runs over the whole sequence (``is_sequence``) as one temporal convolution (see
:mod:`spikejax.functional.delay` for the equations and why a convolution) and is stateful in the
sense of :class:`~spikejax.nn.SequentialState`: ``layer(x, state=None) -> (output, state)``, the
state being the last ``max_delay - 1`` input steps, so a sequence given in chunks gives the
same output as given whole. ``state=None`` is silence before the sequence.

The integer delays of the fixed layers are :class:`~spikejax.nn.DelaySteps` variables, and the kernel width
of the learnable layer is a :class:`~spikejax.nn.DelayWidth` variable: neither is an ``nnx.Param``, so an
optimizer built with ``wrt=nnx.Param`` trains the weights and the delay positions only. The
width follows a schedule that the training loop steps
(:func:`~spikejax.functional.sigma_schedule`, set with :func:`~spikejax.nn.set_delay_width`), and
:meth:`~spikejax.nn.LearnableDelayedLinear.to_fixed` rounds the trained positions into a
:class:`~spikejax.nn.DelayedLinear`.

Example:
    >>> import jax.numpy as jnp
    >>> from flax import nnx
    >>> from spikejax.nn import Leaky, LearnableDelayedLinear, SequentialState, set_delay_width
    >>> net = SequentialState(LearnableDelayedLinear(4, 8, max_delay=10, rngs=nnx.Rngs(0)), Leaky())
    >>> spikes, state = net(jnp.ones((20, 2, 4)))
    >>> spikes.shape, state[0].shape               # the delay layer keeps its last 9 inputs
    ((20, 2, 8), (9, 2, 4))
    >>> set_delay_width(net, 0.5)
    1
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Optional

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from ..functional import delay as F
from ..functional._validate import check_int, is_concrete
from ._base import StatefulModule

__all__ = ["DelaySteps", "DelayWidth", "DelayedLinear", "LearnableDelayedLinear", "AxonalDelay", "AxonalDelayCell",
           "set_delay_width"]

Initializer = Callable[..., jax.Array]


def _fan_in_init() -> Initializer:
    # Weights (n_out, n_in) as in Norse and torch.nn.Linear: the fan-in is axis 1.
    return jax.nn.initializers.variance_scaling(1.0, "fan_in", "truncated_normal", in_axis=1, out_axis=0)


class DelaySteps(nnx.Variable):
    """Integer delays (steps) of a fixed delay layer: a variable, not a trained ``nnx.Param``.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.nn import DelaySteps
        >>> DelaySteps(jnp.array([1, 2]))[...].tolist()
        [1, 2]
    """


class DelayWidth(nnx.Variable):
    """The kernel width ``sigma`` (steps) of a :class:`~spikejax.nn.LearnableDelayedLinear`, set by a schedule.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.nn import DelayWidth
        >>> float(DelayWidth(jnp.float32(4.0))[...])
        4.0
    """


def _delays(delays: Any, shape: tuple, max_delay: int, rngs: Optional[nnx.Rngs], what: str) -> jax.Array:
    if delays is None:
        if rngs is None:
            raise ValueError(f"delays=None draws random delays and needs rngs=nnx.Rngs(...), got rngs=None ({what})")
        return jax.random.randint(rngs.params(), shape, 0, max_delay)
    delays = jnp.asarray(delays)
    if tuple(delays.shape) != shape:
        raise ValueError(f"delays has shape {tuple(delays.shape)}, expected {shape} ({what})")
    if not jnp.issubdtype(delays.dtype, jnp.integer):
        raise TypeError(f"delays must be an integer array (steps), got dtype {delays.dtype}")
    return delays.astype(jnp.int32)


def _add_bias(output: jax.Array, bias: Optional[nnx.Param]) -> jax.Array:
    return output if bias is None else output + bias[...].astype(output.dtype)


class DelayedLinear(StatefulModule):
    r"""A linear layer with an integer delay per synapse: :math:`y_i[t] = \sum_j W_{ij} x_j[t - d_{ij}] + b_i`.

    Args:
        in_features: input neurons.
        out_features: output neurons.
        max_delay: ``D``; delays lie in ``[0, D)``.
        delays: ``(out_features, in_features)`` integers, or ``None`` to draw them uniformly
            (from ``rngs``).
        weights: ``(out_features, in_features)`` initial weights, or ``None`` for ``weight_init``.
        use_bias: add a trained bias (zeros at first).
        weight_init: ``init(key, shape, dtype)``; default: truncated normal with variance ``1 / in_features``.
        param_dtype: of the weights.
        rngs: ``nnx.Rngs`` for what is drawn.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.nn import DelayedLinear
        >>> layer = DelayedLinear(2, 1, 4, delays=jnp.array([[1, 3]]), weights=jnp.array([[1.0, 10.0]]))
        >>> y, history = layer(jnp.zeros((5, 1, 2)).at[0].set(1.0))
        >>> y[:, 0, 0].tolist(), history.shape
        ([0.0, 1.0, 0.0, 10.0, 0.0], (3, 1, 2))
    """

    # Runs over a whole sequence (T, B, n): SequentialState runs it layer by layer.
    is_sequence: ClassVar[bool] = True

    def __init__(
        self, in_features: int, out_features: int, max_delay: int, *, delays: Any = None,
        weights: Optional[jax.Array] = None, use_bias: bool = False, weight_init: Optional[Initializer] = None,
        param_dtype: Any = jnp.float32, rngs: Optional[nnx.Rngs] = None,
    ):
        self.in_features = check_int("in_features", in_features)
        self.out_features = check_int("out_features", out_features)
        self.max_delay = check_int("max_delay", max_delay)
        shape = (self.out_features, self.in_features)
        delays = _delays(delays, shape, self.max_delay, rngs, "(out_features, in_features)")
        F.delay_kernel(jnp.zeros(shape), delays, self.max_delay)  # checks the range
        self.delays = DelaySteps(delays)
        self.weight = nnx.Param(_weights(weights, shape, weight_init, param_dtype, rngs))
        self.bias = nnx.Param(jnp.zeros((self.out_features,), param_dtype)) if use_bias else None

    def __call__(self, input_tensor: jax.Array, state: Optional[jax.Array] = None):
        output, history = F.delayed_linear(input_tensor, self.weight[...], self.delays[...], self.max_delay, state)
        return _add_bias(output, self.bias), history


def _weights(weights, shape, weight_init, param_dtype, rngs) -> jax.Array:
    if weights is not None:
        weights = jnp.asarray(weights, param_dtype)
        if tuple(weights.shape) != shape:
            raise ValueError(f"weights has shape {tuple(weights.shape)}, expected {shape} (out_features, in_features)")
        return weights
    if rngs is None:
        raise ValueError("weights=None draws the weights and needs rngs=nnx.Rngs(...), got rngs=None")
    return (weight_init or _fan_in_init())(rngs.params(), shape, param_dtype)


class LearnableDelayedLinear(StatefulModule):
    r"""A linear layer whose delays are trained with the weights (DCLS delays, Hammouamri et al. 2024).

    Each synapse has a weight :math:`W_{ij}` and a real position :math:`p_{ij} \in [0, D - 1]`
    (``nnx.Param`` s both), spread over the ``D`` taps by a Gaussian (or triangle) kernel of width
    ``sigma`` (a :class:`~spikejax.nn.DelayWidth`; see :func:`spikejax.functional.learnable_delay_kernel`).
    Start wide (default ``D / 2``), narrow it as training goes (:func:`~spikejax.nn.set_delay_width` with
    :func:`~spikejax.functional.sigma_schedule`), and call :meth:`~spikejax.nn.LearnableDelayedLinear.to_fixed` at the end.

    Args:
        in_features: input neurons.
        out_features: output neurons.
        max_delay: ``D``; positions lie in ``[0, D - 1]``.
        sigma: the initial width (steps); default ``max_delay / 2``.
        kernel: ``"gaussian"`` or ``"triangle"``.
        positions: ``(out_features, in_features)`` initial positions, or ``None``: uniform in ``[0, D - 1]``.
        weights: ``(out_features, in_features)`` initial weights, or ``None`` for ``weight_init``.
        use_bias: add a trained bias (zeros at first).
        weight_init: ``init(key, shape, dtype)``; default: truncated normal with variance ``1 / in_features``.
        param_dtype: of the weights and positions.
        rngs: ``nnx.Rngs`` for what is drawn.

    Example:
        >>> import jax.numpy as jnp
        >>> from flax import nnx
        >>> from spikejax.nn import LearnableDelayedLinear
        >>> layer = LearnableDelayedLinear(3, 2, 8, rngs=nnx.Rngs(0))
        >>> y, history = layer(jnp.ones((12, 4, 3)))
        >>> y.shape, history.shape, float(layer.sigma[...])       # sigma starts at D / 2
        ((12, 4, 2), (7, 4, 3), 4.0)
        >>> fixed = layer.to_fixed()                             # after training: integer delays
        >>> type(fixed).__name__, fixed.delays[...].shape
        ('DelayedLinear', (2, 3))
    """

    # Runs over a whole sequence (T, B, n): SequentialState runs it layer by layer.
    is_sequence: ClassVar[bool] = True

    def __init__(
        self, in_features: int, out_features: int, max_delay: int, *, sigma: Optional[float] = None,
        kernel: str = "gaussian", positions: Optional[jax.Array] = None, weights: Optional[jax.Array] = None,
        use_bias: bool = False, weight_init: Optional[Initializer] = None, param_dtype: Any = jnp.float32,
        rngs: Optional[nnx.Rngs] = None,
    ):
        self.in_features = check_int("in_features", in_features)
        self.out_features = check_int("out_features", out_features)
        self.max_delay = check_int("max_delay", max_delay)
        if kernel not in F.DELAY_KERNELS:
            raise ValueError(f"kernel must be one of {list(F.DELAY_KERNELS)}, got {kernel!r}")
        self.kernel = kernel
        sigma = self.max_delay / 2 if sigma is None else sigma
        if not sigma > 0:
            raise ValueError(f"sigma must be positive (the kernel's width in steps), got {sigma!r}")
        shape = (self.out_features, self.in_features)
        if positions is None:
            if rngs is None:
                raise ValueError("positions=None draws the positions and needs rngs=nnx.Rngs(...), got rngs=None")
            positions = jax.random.uniform(rngs.params(), shape, param_dtype, 0.0, self.max_delay - 1)
        positions = jnp.asarray(positions, param_dtype)
        if tuple(positions.shape) != shape:
            raise ValueError(f"positions has shape {tuple(positions.shape)}, expected {shape} (out_features, in_features)")
        self.weight = nnx.Param(_weights(weights, shape, weight_init, param_dtype, rngs))
        self.position = nnx.Param(positions)
        self.bias = nnx.Param(jnp.zeros((self.out_features,), param_dtype)) if use_bias else None
        self.sigma = DelayWidth(jnp.asarray(sigma, jnp.float32))

    def __call__(self, input_tensor: jax.Array, state: Optional[jax.Array] = None):
        output, history = F.learnable_delayed_linear(
            input_tensor, self.weight[...], self.position[...], self.sigma[...], self.max_delay, state,
            kernel=self.kernel)
        return _add_bias(output, self.bias), history

    def delays(self) -> jax.Array:
        """The positions rounded to integer delays ``(out_features, in_features)``.

        Example:
            >>> import jax.numpy as jnp
            >>> from spikejax.nn import LearnableDelayedLinear
            >>> layer = LearnableDelayedLinear(2, 1, 5, positions=jnp.array([[0.4, 3.6]]), weights=jnp.ones((1, 2)))
            >>> layer.delays().tolist()
            [[0, 4]]
        """
        return F.round_delays(self.position[...], self.max_delay)

    def to_fixed(self) -> DelayedLinear:
        """The :class:`~spikejax.nn.DelayedLinear` with these weights (and bias) and the rounded delays.

        Example:
            >>> import jax.numpy as jnp
            >>> from spikejax.nn import LearnableDelayedLinear
            >>> layer = LearnableDelayedLinear(2, 1, 5, positions=jnp.array([[0.4, 3.6]]), weights=jnp.ones((1, 2)))
            >>> layer.to_fixed().delays[...].tolist()
            [[0, 4]]
        """
        fixed = DelayedLinear(self.in_features, self.out_features, self.max_delay, delays=self.delays(),
                              weights=self.weight[...], use_bias=self.bias is not None,
                              param_dtype=self.weight[...].dtype)
        if self.bias is not None:
            fixed.bias[...] = self.bias[...]
        return fixed


class _AxonalDelays(StatefulModule):
    """What the axonal delay layer and its one-step cell share: the checked integer delays."""

    def __init__(self, features: int, max_delay: int, *, delays: Any = None, rngs: Optional[nnx.Rngs] = None):
        self.in_features = check_int("features", features)
        self.max_delay = check_int("max_delay", max_delay)
        delays = _delays(delays, (self.in_features,), self.max_delay, rngs, "(features,)")
        F.axonal_delay(jnp.zeros((1, 1, self.in_features)), delays, self.max_delay)  # checks the range
        self.delays = DelaySteps(delays)


class AxonalDelay(_AxonalDelays):
    r"""One integer delay per neuron: :math:`y_j[t] = x_j[t - d_j]` (an axon's conduction delay).

    Args:
        features: neurons ``N``.
        max_delay: ``D``; delays lie in ``[0, D)``.
        delays: ``(N,)`` integers, or ``None`` to draw them uniformly (from ``rngs``).
        rngs: ``nnx.Rngs``, when ``delays`` is drawn.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.nn import AxonalDelay
        >>> y, _ = AxonalDelay(2, 3, delays=jnp.array([0, 2]))(jnp.zeros((4, 1, 2)).at[0].set(1.0))
        >>> y[:, 0].tolist()
        [[1.0, 0.0], [0.0, 0.0], [0.0, 1.0], [0.0, 0.0]]
    """

    # Runs over a whole sequence (T, B, n): SequentialState runs it layer by layer.
    is_sequence: ClassVar[bool] = True


    def __call__(self, input_tensor: jax.Array, state: Optional[jax.Array] = None):
        return F.axonal_delay(input_tensor, self.delays[...], self.max_delay, state)


class AxonalDelayCell(_AxonalDelays):
    r"""One step of :class:`~spikejax.nn.AxonalDelay`: :math:`y_j[t] = x_j[t - d_j]` for one step ``(B, N)``.

    The state is the same as the sequence layer's, the last ``max_delay - 1`` inputs
    ``(D - 1, B, N)`` (oldest first), kept as a shift register: ``Lift(AxonalDelayCell(...))``
    gives the output of :class:`~spikejax.nn.AxonalDelay` (``from_nir`` builds this cell for a
    ``nir.Delay`` node, as its graphs run one step at a time).

    Args:
        features: neurons ``N``.
        max_delay: ``D``; delays lie in ``[0, D)``.
        delays: ``(N,)`` integers, or ``None`` to draw them uniformly (from ``rngs``).
        rngs: ``nnx.Rngs``, when ``delays`` is drawn.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.nn import AxonalDelayCell
        >>> cell = AxonalDelayCell(2, 3, delays=jnp.array([0, 2]))
        >>> y, state = cell(jnp.ones((1, 2)))
        >>> y.tolist(), state.shape
        ([[1.0, 0.0]], (2, 1, 2))
        >>> y, state = cell(jnp.zeros((1, 2)), state)
        >>> y, state = cell(jnp.zeros((1, 2)), state)
        >>> y.tolist()                                     # the second neuron's spike, 2 steps later
        [[0.0, 1.0]]
    """


    def __call__(self, input_tensor: jax.Array, state: Optional[jax.Array] = None):
        if getattr(input_tensor, "ndim", None) != 2:
            raise ValueError(f"input_tensor must have rank 2 with layout (B, N), got shape "
                             f"{tuple(getattr(input_tensor, 'shape', ()))}")
        output, history = F.axonal_delay(input_tensor[None], self.delays[...], self.max_delay, state)
        return output[0], history


def set_delay_width(model: nnx.Module, sigma: Any) -> int:
    """Set the kernel width of every :class:`~spikejax.nn.LearnableDelayedLinear` in ``model``; returns how many.

    Call it between training steps with a schedule's value (a float or a scalar array; under
    ``nnx.jit`` the width is part of the model's state, so a new value does not recompile).

    Example:
        >>> from flax import nnx
        >>> from spikejax.functional.delay import sigma_schedule
        >>> from spikejax.nn import LearnableDelayedLinear, SequentialState, set_delay_width
        >>> net = SequentialState(LearnableDelayedLinear(2, 2, 9, rngs=nnx.Rngs(0)))
        >>> set_delay_width(net, sigma_schedule(100, 100, 4.5, 0.5))
        1
        >>> float(net[0].sigma[...])
        0.5
    """
    if is_concrete(sigma) and not np.all(np.asarray(sigma) > 0):
        raise ValueError(f"sigma must be positive (the kernel's width in steps), got {sigma!r}")
    count = 0
    for _, node in nnx.iter_graph(model):
        if isinstance(node, LearnableDelayedLinear):
            node.sigma[...] = jnp.asarray(sigma, jnp.float32)
            count += 1
    return count
