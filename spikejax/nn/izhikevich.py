"""Izhikevich modules: ``IzhikevichCell``, ``IzhikevichRecurrentCell``, ``Izhikevich``,
``IzhikevichRecurrent``.

The equations live in :mod:`spikejax.functional.izhikevich`; these are thin NNX wrappers. Where
Norse's modules take a preset (``IzhikevichCell(tonic_spiking)``), pass its parameters and, if
wanted, its initial state::

    cell = IzhikevichCell(tonic_spiking.p)
    z, state = cell(x, tonic_spiking.initial_state(x.shape))

``state=None`` starts from the rest state of the parameters.
"""

from ..functional.izhikevich import IZHIKEVICH_MODEL
from ._neuron import neuron_modules

IzhikevichCell, IzhikevichRecurrentCell, Izhikevich, IzhikevichRecurrent = neuron_modules(
    IZHIKEVICH_MODEL, __name__
)

__all__ = ["IzhikevichCell", "IzhikevichRecurrentCell", "Izhikevich", "IzhikevichRecurrent"]
