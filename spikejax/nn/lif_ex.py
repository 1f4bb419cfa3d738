"""LIFEx modules: ``LIFExCell``, ``LIFExRecurrentCell``, ``LIFEx``, ``LIFExRecurrent``.

The equations live in :mod:`spikejax.functional.lif_ex`; these are thin NNX wrappers.
"""

from ..functional.lif_ex import LIF_EX_MODEL
from ._neuron import neuron_modules

LIFExCell, LIFExRecurrentCell, LIFEx, LIFExRecurrent = neuron_modules(LIF_EX_MODEL, __name__)

__all__ = ["LIFExCell", "LIFExRecurrentCell", "LIFEx", "LIFExRecurrent"]
