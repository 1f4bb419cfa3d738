"""Learning rules and training helpers.

``spikejax.learn`` collects optax-style gradient transformations for local
(unsupervised) plasticity and related helpers.
"""

from .plasticity import *  # noqa: F401,F403

# --- other exports (normalize, classifier): add one line each below this marker ---
from ._normalize import *  # noqa: F401,F403
from .classifier import *  # noqa: F401,F403
