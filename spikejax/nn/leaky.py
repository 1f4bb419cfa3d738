"""Leaky modules: ``LeakyCell``, ``LeakyRecurrentCell``, ``Leaky``, ``LeakyRecurrent``.

The equations (snnTorch's Leaky and RLeaky) live in :mod:`spikejax.functional.leaky`.
"""

from ..functional.leaky import LEAKY_MODEL
from ._neuron import neuron_modules

LeakyCell, LeakyRecurrentCell, Leaky, LeakyRecurrent = neuron_modules(LEAKY_MODEL, __name__)

__all__ = ["LeakyCell", "LeakyRecurrentCell", "Leaky", "LeakyRecurrent"]
