"""Flax NNX modules: thin wrappers around :mod:`spikejax.functional`.

Each neuron model has Norse's four variants (``XCell``, ``XRecurrentCell``, ``X``,
``XRecurrent``), and :class:`SequentialState` and :class:`Lift` compose them with ordinary
Flax layers.
"""

from ._neuron import (
    MODULES,
    NeuronCell,
    NeuronLayer,
    NeuronRecurrentCell,
    NeuronRecurrentLayer,
    StatefulModule,
    is_stateful,
    neuron_modules,
)
from .lif import *  # noqa: F401,F403
from .alif import *  # noqa: F401,F403
from .connections import *  # noqa: F401,F403
from .delay import *  # noqa: F401,F403
from .encode import *  # noqa: F401,F403
from .coba_lif import *  # noqa: F401,F403
from .izhikevich import *  # noqa: F401,F403
from .leaky import *  # noqa: F401,F403
from .synaptic import *  # noqa: F401,F403
from .lsnn import *  # noqa: F401,F403
from .lif_adex import *  # noqa: F401,F403
from .lif_ex import *  # noqa: F401,F403
from .iaf import *  # noqa: F401,F403
from .leaky_integrator import *  # noqa: F401,F403
from .lif_box import *  # noqa: F401,F403
from .lif_refrac import *  # noqa: F401,F403
from .lift import Lift, is_sequence
from .sequential import SequentialState
