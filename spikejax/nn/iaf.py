"""Integrate-and-fire modules: ``IAFCell``, ``IAFRecurrentCell``, ``IAF``, ``IAFRecurrent``.

The equations live in :mod:`spikejax.functional.iaf`; these are thin NNX wrappers.
"""

from ..functional.iaf import IAF_MODEL
from ._neuron import neuron_modules

IAFCell, IAFRecurrentCell, IAF, IAFRecurrent = neuron_modules(IAF_MODEL, __name__)

__all__ = ["IAFCell", "IAFRecurrentCell", "IAF", "IAFRecurrent"]
