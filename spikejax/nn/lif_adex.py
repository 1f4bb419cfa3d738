"""AdEx modules: ``LIFAdExCell``, ``LIFAdExRecurrentCell``, ``LIFAdEx``, ``LIFAdExRecurrent``.

The equations live in :mod:`spikejax.functional.lif_adex`; these are thin NNX wrappers.
"""

from ..functional.lif_adex import LIF_ADEX_MODEL
from ._neuron import neuron_modules

LIFAdExCell, LIFAdExRecurrentCell, LIFAdEx, LIFAdExRecurrent = neuron_modules(
    LIF_ADEX_MODEL, __name__
)

__all__ = ["LIFAdExCell", "LIFAdExRecurrentCell", "LIFAdEx", "LIFAdExRecurrent"]
