"""LSNN modules: ``LSNNCell``, ``LSNNRecurrentCell``, ``LSNN``, ``LSNNRecurrent``.

The equations live in :mod:`spikejax.functional.lsnn`; these are thin NNX wrappers.
"""

from ..functional.lsnn import LSNN_MODEL
from ._neuron import neuron_modules

LSNNCell, LSNNRecurrentCell, LSNN, LSNNRecurrent = neuron_modules(LSNN_MODEL, __name__)

__all__ = ["LSNNCell", "LSNNRecurrentCell", "LSNN", "LSNNRecurrent"]
