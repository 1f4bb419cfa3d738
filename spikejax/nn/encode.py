"""Encoder modules: Norse's encoder names as thin NNX wrappers around
:mod:`spikejax.functional.encode`.

The modules hold configuration only (no parameters, no random state). Random encoders take
their randomness at each call: ``encoder(x, rngs)`` with a ``jax.random`` key, an
``nnx.Rngs`` (drawing from its ``rng_collection`` stream, ``"encode"`` by default, which falls
back to the default stream) or an ``nnx.RngStream``. The same key gives the same spikes.

The encoders that make a time axis (or read one, :class:`SpikeLatencyEncoder`) set
``is_sequence = True``: :class:`~spikejax.nn.Lift` refuses them, since they are not per-step.

Example:
    >>> import jax.numpy as jnp
    >>> from flax import nnx
    >>> from spikejax.nn import PoissonEncoder, PopulationEncoder
    >>> codes = PopulationEncoder(8)(jnp.linspace(0, 1, 5))             # (5, 8)
    >>> PoissonEncoder(seq_length=20, f_max=200)(codes, nnx.Rngs(0)).shape
    (20, 5, 8)
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Optional

import jax
from flax import nnx

from ..functional import encode as F
from ..functional._model import check_dt
from ..functional._validate import check_int, check_non_negative, check_positive
from ..functional.lif import LIFParameters

__all__ = [
    "PoissonEncoder",
    "PoissonEncoderStep",
    "SignedPoissonEncoder",
    "SignedPoissonEncoderStep",
    "HomogeneousPoissonEncoder",
    "ConstantCurrentLIFEncoder",
    "SpikeLatencyLIFEncoder",
    "SpikeLatencyEncoder",
    "PopulationEncoder",
]

RngsLike = Any  # a jax.random key, nnx.Rngs or nnx.RngStream


class _RandomEncoder(nnx.Module):
    def __init__(self, rng_collection: str):
        if not isinstance(rng_collection, str) or not rng_collection:
            raise TypeError(f"rng_collection must be a non-empty string, got {rng_collection!r}")
        self.rng_collection = rng_collection

    def _key(self, rngs: RngsLike) -> jax.Array:
        if isinstance(rngs, nnx.Rngs):
            return getattr(rngs, self.rng_collection)()
        if isinstance(rngs, nnx.RngStream):
            return rngs()
        return rngs  # a key: checked by the functional encoder


class PoissonEncoder(_RandomEncoder):
    """Norse's ``PoissonEncoder``: :func:`~spikejax.functional.poisson_encode` over ``seq_length``.

    Args:
        seq_length: the number of steps ``T``.
        f_max: the rate in Hz of an input of 1.
        dt: the step in seconds.
        rng_collection: the ``nnx.Rngs`` stream to draw keys from.

    Call: ``encoder(input_values, rngs) -> (T, *input_values.shape)`` spikes.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from flax import nnx
        >>> from spikejax.nn import PoissonEncoder
        >>> encoder = PoissonEncoder(seq_length=3, f_max=1000)   # 1000 Hz * 1 ms: p = input
        >>> encoder(jnp.array([0.0, 1.0]), nnx.Rngs(0))
        Array([[0., 1.],
               [0., 1.],
               [0., 1.]], dtype=float32)
        >>> encoder = PoissonEncoder(seq_length=50)
        >>> key = jax.random.key(0)
        >>> bool((encoder(jnp.full(4, 0.5), key) == encoder(jnp.full(4, 0.5), key)).all())
        True
    """

    is_sequence: ClassVar[bool] = True  # makes (or reads) a time axis: Lift refuses it

    def __init__(self, seq_length: int, f_max=100.0, dt=1e-3, *, rng_collection: str = "encode"):
        super().__init__(rng_collection)
        self.seq_length = check_int("seq_length", seq_length)
        check_non_negative("f_max", f_max)
        check_dt(dt)
        self.f_max = f_max
        self.dt = dt

    def __call__(self, input_values: jax.Array, rngs: RngsLike) -> jax.Array:
        return F.poisson_encode(self._key(rngs), input_values, self.seq_length, self.f_max, self.dt)


class PoissonEncoderStep(_RandomEncoder):
    """Norse's ``PoissonEncoderStep``: one step of Poisson spikes (Norse's default f_max=1000).

    See :func:`~spikejax.functional.poisson_encode_step`. Call: ``encoder(input_values, rngs)``.

    Example:
        >>> import jax.numpy as jnp
        >>> from flax import nnx
        >>> from spikejax.nn import PoissonEncoderStep
        >>> PoissonEncoderStep()(jnp.array([0.0, 1.0]), nnx.Rngs(0))   # p = input here
        Array([0., 1.], dtype=float32)
    """

    def __init__(self, f_max=1000.0, dt=1e-3, *, rng_collection: str = "encode"):
        super().__init__(rng_collection)
        check_non_negative("f_max", f_max)
        check_dt(dt)
        self.f_max = f_max
        self.dt = dt

    def __call__(self, input_values: jax.Array, rngs: RngsLike) -> jax.Array:
        return F.poisson_encode_step(self._key(rngs), input_values, self.f_max, self.dt)


class SignedPoissonEncoder(PoissonEncoder):
    """Norse's ``SignedPoissonEncoder``: :func:`~spikejax.functional.signed_poisson_encode`.

    Spikes of ``-1`` for negative inputs, with the probability of ``|input|``; arguments as
    :class:`PoissonEncoder`.

    Example:
        >>> import jax.numpy as jnp
        >>> from flax import nnx
        >>> from spikejax.nn import SignedPoissonEncoder
        >>> SignedPoissonEncoder(seq_length=2, f_max=1000)(jnp.array([-1.0, 0.0, 1.0]), nnx.Rngs(0))
        Array([[-1.,  0.,  1.],
               [-1.,  0.,  1.]], dtype=float32)
    """

    def __call__(self, input_values: jax.Array, rngs: RngsLike) -> jax.Array:
        return F.signed_poisson_encode(
            self._key(rngs), input_values, self.seq_length, self.f_max, self.dt
        )


class SignedPoissonEncoderStep(PoissonEncoderStep):
    """Norse's ``SignedPoissonEncoderStep``: one step of signed Poisson spikes.

    Example:
        >>> import jax.numpy as jnp
        >>> from flax import nnx
        >>> from spikejax.nn import SignedPoissonEncoderStep
        >>> SignedPoissonEncoderStep()(jnp.array([-1.0, 0.0, 1.0]), nnx.Rngs(0))
        Array([-1.,  0.,  1.], dtype=float32)
    """

    def __call__(self, input_values: jax.Array, rngs: RngsLike) -> jax.Array:
        return F.signed_poisson_encode_step(self._key(rngs), input_values, self.f_max, self.dt)


class HomogeneousPoissonEncoder(_RandomEncoder):
    """Inferno's ``HomogeneousPoissonEncoder`` (ms and Hz, as in Inferno).

    See :func:`~spikejax.functional.homogeneous_poisson_encode`.

    Args:
        steps: the number of steps ``T``.
        step_time: the step in ms.
        frequency: the rate in Hz of an input of 1.
        refrac: the refractory period in ms (``None``: one step).
        compensate: keep the effective rate at ``frequency * input`` despite ``refrac``.
        rng_collection: the ``nnx.Rngs`` stream to draw keys from.

    Call: ``encoder(input_values, rngs) -> (steps, *input_values.shape)`` spikes.

    Example:
        >>> import jax.numpy as jnp
        >>> from flax import nnx
        >>> from spikejax.nn import HomogeneousPoissonEncoder
        >>> encoder = HomogeneousPoissonEncoder(200, step_time=1.0, frequency=100.0, refrac=5.0)
        >>> spikes = encoder(jnp.array([0.0, 1.0]), nnx.Rngs(0))
        >>> spikes.shape, float(spikes[:, 0].sum())
        ((200, 2), 0.0)
        >>> bool(jnp.all(jnp.diff(jnp.nonzero(spikes[:, 1])[0]) >= 5))   # never closer than refrac
        True
    """

    is_sequence: ClassVar[bool] = True  # makes (or reads) a time axis: Lift refuses it

    def __init__(
        self,
        steps: int,
        step_time: float,
        frequency: float,
        *,
        refrac: Optional[float] = None,
        compensate: bool = True,
        rng_collection: str = "encode",
    ):
        super().__init__(rng_collection)
        self.steps = check_int("steps", steps)
        check_positive("step_time", step_time)
        check_non_negative("frequency", frequency)
        if refrac is not None:
            check_non_negative("refrac", refrac)
        self.step_time = step_time
        self.frequency = frequency
        self.refrac = refrac
        self.compensate = compensate

    def __call__(self, input_values: jax.Array, rngs: RngsLike) -> jax.Array:
        return F.homogeneous_poisson_encode(
            self._key(rngs), input_values, self.steps, self.step_time, self.frequency,
            refrac=self.refrac, compensate=self.compensate,
        )


class ConstantCurrentLIFEncoder(nnx.Module):
    """Norse's ``ConstantCurrentLIFEncoder``: see
    :func:`~spikejax.functional.constant_current_lif_encode`.

    Args:
        seq_length: the number of steps ``T``.
        p: LIF parameters (``None``: Norse's defaults).
        dt: the step in seconds.

    Call: ``encoder(input_current) -> (T, *input_current.shape)`` spikes.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.nn import ConstantCurrentLIFEncoder
        >>> spikes = ConstantCurrentLIFEncoder(20)(jnp.array([0.0, 2.0, 4.0]))
        >>> spikes.shape, spikes.sum(axis=0)           # a stronger current fires more often
        ((20, 3), Array([0., 2., 6.], dtype=float32))
    """

    is_sequence: ClassVar[bool] = True  # makes (or reads) a time axis: Lift refuses it

    _encode: Callable = staticmethod(F.constant_current_lif_encode)

    def __init__(self, seq_length: int, p: Optional[LIFParameters] = None, dt=1e-3):
        if p is None:
            p = LIFParameters()
        elif not isinstance(p, LIFParameters):
            raise TypeError(f"p must be a LIFParameters, got {type(p).__name__}")
        check_dt(dt)
        self.seq_length = check_int("seq_length", seq_length)
        self.p = nnx.data(p)
        self.dt = dt

    def __call__(self, input_current: jax.Array) -> jax.Array:
        return type(self)._encode(input_current, self.seq_length, self.p, self.dt)


class SpikeLatencyLIFEncoder(ConstantCurrentLIFEncoder):
    """Norse's ``SpikeLatencyLIFEncoder``: the first spike of the constant-current encoder.

    Arguments as :class:`ConstantCurrentLIFEncoder`; see
    :func:`~spikejax.functional.spike_latency_lif_encode`.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.nn import SpikeLatencyLIFEncoder
        >>> spikes = SpikeLatencyLIFEncoder(20)(jnp.array([0.0, 2.0, 4.0]))
        >>> spikes.sum(axis=0), spikes.argmax(axis=0)  # one spike, earlier for a stronger current
        (Array([0., 1., 1.], dtype=float32), Array([0, 6, 2], dtype=int32))
    """

    _encode = staticmethod(F.spike_latency_lif_encode)


class SpikeLatencyEncoder(nnx.Module):
    """Norse's ``SpikeLatencyEncoder``: keep only each neuron's first spike of ``(T, ...)`` spikes.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.nn import SpikeLatencyEncoder
        >>> SpikeLatencyEncoder()(jnp.array([[0.0, 1.0], [1.0, 1.0], [1.0, 0.0]]))
        Array([[0., 1.],
               [1., 0.],
               [0., 0.]], dtype=float32)
    """

    is_sequence: ClassVar[bool] = True  # makes (or reads) a time axis: Lift refuses it

    def __call__(self, input_spikes: jax.Array) -> jax.Array:
        return F.spike_latency_encode(input_spikes)


class PopulationEncoder(nnx.Module):
    """Norse's ``PopulationEncoder``: see :func:`~spikejax.functional.population_encode`.

    Args:
        out_features: the number of receptive fields per input value.
        scale: the kernel scale (``None``: the maximum of each call's input).
        kernel: maps scaled distances to activations.
        distance_function: ``d(x, centres)``.

    Call: ``encoder(input_values) -> (*input_values.shape, out_features)``.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.nn import PopulationEncoder
        >>> PopulationEncoder(4)(jnp.array([0.0, 1.0])).tolist()   # 4 receptive fields per value
        [[1.0, 0.946, 0.8007, 0.6065], [0.6065, 0.8007, 0.946, 1.0]]
    """

    def __init__(
        self,
        out_features: int,
        scale=None,
        kernel: Callable = F.gaussian_rbf,
        distance_function: Callable = F.euclidean_distance,
    ):
        self.out_features = check_int("out_features", out_features)
        if scale is not None:
            check_positive("scale", scale)
        for name, fn in (("kernel", kernel), ("distance_function", distance_function)):
            if not callable(fn):
                raise TypeError(f"{name} must be callable, got {type(fn).__name__}")
        self.scale = scale
        self.kernel = kernel
        self.distance_function = distance_function

    def __call__(self, input_values: jax.Array) -> jax.Array:
        return F.population_encode(
            input_values, self.out_features, self.scale, self.kernel, self.distance_function
        )
