"""Pure functions: neuron dynamics, thresholds, encoders, decoders, losses, plasticity.

No Flax, no hidden state: every function takes its state and returns the new one, and works
under ``jit``, ``grad``, ``vmap`` and ``scan``. Names follow Norse (``LIFParameters``,
``lif_step``, ``lif_feed_forward_step``, ...).
"""

from ._finite import *  # noqa: F401,F403
from ._model import POSITIVE_FLOOR, NeuronModel, NeuronParameters, parameters_dataclass
from .integrate import *  # noqa: F401,F403
from .lif import *  # noqa: F401,F403
from .surrogate import *  # noqa: F401,F403
from . import surrogate  # noqa: F401 (the module of thresholds and surrogates, public too)

from .iaf import *  # noqa: F401,F403
from .leaky_integrator import *  # noqa: F401,F403
from .lif_box import *  # noqa: F401,F403
from .lif_refrac import *  # noqa: F401,F403
from .lsnn import *  # noqa: F401,F403
from .lif_adex import *  # noqa: F401,F403
from .lif_ex import *  # noqa: F401,F403
from .leaky import *  # noqa: F401,F403
from .synaptic import *  # noqa: F401,F403
from .coba_lif import *  # noqa: F401,F403
from .izhikevich import *  # noqa: F401,F403
from .loss import *  # noqa: F401,F403
from .regularize import *  # noqa: F401,F403
from .encode import *  # noqa: F401,F403
from .decode import *  # noqa: F401,F403
from .delay import *  # noqa: F401,F403
from .alif import *  # noqa: F401,F403
from . import plasticity  # noqa: F401

#: Every neuron model, by name (``"LIF"``, ...): the static descriptions the modules are built from.
MODELS = {obj.name: obj for obj in list(globals().values()) if isinstance(obj, NeuronModel)}
