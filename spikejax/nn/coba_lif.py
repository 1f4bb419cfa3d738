"""CobaLIF modules: ``CobaLIFCell``, ``CobaLIFRecurrentCell``, ``CobaLIF``, ``CobaLIFRecurrent``.

The equations live in :mod:`spikejax.functional.coba_lif`; these are thin NNX wrappers. Unlike
Norse, whose ``CobaLIFCell`` is recurrent, ``CobaLIFCell`` here is the feed-forward cell and
``CobaLIFRecurrentCell`` the recurrent one, as for every spikejax model.
"""

from ..functional.coba_lif import COBA_LIF_MODEL
from ._neuron import neuron_modules

CobaLIFCell, CobaLIFRecurrentCell, CobaLIF, CobaLIFRecurrent = neuron_modules(
    COBA_LIF_MODEL, __name__
)

__all__ = ["CobaLIFCell", "CobaLIFRecurrentCell", "CobaLIF", "CobaLIFRecurrent"]
