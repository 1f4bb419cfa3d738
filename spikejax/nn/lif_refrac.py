"""Refractory LIF modules: ``LIFRefracCell``, ``LIFRefracRecurrentCell``, ``LIFRefrac``,
``LIFRefracRecurrent``.

The equations live in :mod:`spikejax.functional.lif_refrac`; these are thin NNX wrappers.
Only the top-level fields of :class:`~spikejax.functional.LIFRefracParameters` can be named in
``learnable`` (``"rho_reset"``); the nested LIF parameters (``p.lif``) stay fixed.
"""

from ..functional.lif_refrac import LIF_REFRAC_MODEL
from ._neuron import neuron_modules

LIFRefracCell, LIFRefracRecurrentCell, LIFRefrac, LIFRefracRecurrent = neuron_modules(
    LIF_REFRAC_MODEL, __name__
)

__all__ = ["LIFRefracCell", "LIFRefracRecurrentCell", "LIFRefrac", "LIFRefracRecurrent"]
