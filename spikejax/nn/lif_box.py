"""Boxed LIF modules: ``LIFBoxCell``, ``LIFBoxRecurrentCell``, ``LIFBox``, ``LIFBoxRecurrent``.

The equations live in :mod:`spikejax.functional.lif_box`; these are thin NNX wrappers.
"""

from ..functional.lif_box import LIF_BOX_MODEL
from ._neuron import neuron_modules

LIFBoxCell, LIFBoxRecurrentCell, LIFBox, LIFBoxRecurrent = neuron_modules(LIF_BOX_MODEL, __name__)

__all__ = ["LIFBoxCell", "LIFBoxRecurrentCell", "LIFBox", "LIFBoxRecurrent"]
