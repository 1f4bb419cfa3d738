"""spikejax: spiking neural networks in JAX.

Neuron dynamics are pure step functions (:mod:`spikejax.functional`), scanned over time with
``jax.lax.scan``; Flax NNX modules (:mod:`spikejax.nn`) wrap them.

Example:
    >>> import jax.numpy as jnp
    >>> import spikejax
    >>> layer = spikejax.nn.LIF()
    >>> spikes, state = layer(jnp.ones((9, 1, 3)))   # (T, B, N)
    >>> spikes.shape
    (9, 1, 3)
"""

from . import data, functional, learn, nn, online, plot, train
from ._namespace import hide_private_modules as _hide_private_modules
from .nn import Lift, SequentialState

# spikejax._checkpoint, spikejax.nn._runner, ... stay importable by name, not package attributes.
_hide_private_modules(__name__)
del _hide_private_modules

__version__ = "0.1.0"

__all__ = ["data", "functional", "learn", "nn", "online", "plot", "train", "Lift", "SequentialState", "__version__"]
