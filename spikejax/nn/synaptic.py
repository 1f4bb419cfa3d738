"""Synaptic modules: ``SynapticCell``, ``SynapticRecurrentCell``, ``Synaptic``, ``SynapticRecurrent``.

The equations (snnTorch's Synaptic and RSynaptic) live in :mod:`spikejax.functional.synaptic`.
"""

from ..functional.synaptic import SYNAPTIC_MODEL
from ._neuron import neuron_modules

SynapticCell, SynapticRecurrentCell, Synaptic, SynapticRecurrent = neuron_modules(
    SYNAPTIC_MODEL, __name__
)

__all__ = ["SynapticCell", "SynapticRecurrentCell", "Synaptic", "SynapticRecurrent"]
