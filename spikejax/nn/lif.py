"""LIF modules: ``LIFCell``, ``LIFRecurrentCell``, ``LIF``, ``LIFRecurrent``.

The equations live in :mod:`spikejax.functional.lif`; these are thin NNX wrappers.
"""

from ..functional.lif import LIF_MODEL
from ._neuron import neuron_modules

LIFCell, LIFRecurrentCell, LIF, LIFRecurrent = neuron_modules(LIF_MODEL, __name__)

__all__ = ["LIFCell", "LIFRecurrentCell", "LIF", "LIFRecurrent"]
