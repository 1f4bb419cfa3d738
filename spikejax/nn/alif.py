"""ALIF modules: ``ALIFCell``, ``ALIFRecurrentCell``, ``ALIF``, ``ALIFRecurrent``.

The equations live in :mod:`spikejax.functional.alif`; these are thin NNX wrappers.
"""

from ..functional.alif import ALIF_MODEL
from ._neuron import neuron_modules

ALIFCell, ALIFRecurrentCell, ALIF, ALIFRecurrent = neuron_modules(ALIF_MODEL, __name__)

__all__ = ["ALIFCell", "ALIFRecurrentCell", "ALIF", "ALIFRecurrent"]
