"""Fused GPU kernels (Pallas) with a custom VJP, and a scan fallback with the same numbers.

:func:`lif_sequence` (and :func:`lif_box_sequence`, :func:`iaf_sequence`, :func:`li_sequence`,
:func:`lsnn_sequence`, :func:`alif_sequence`) runs a neuron over a whole sequence of input
currents: one Pallas kernel on a GPU, the scan of :func:`spikejax.functional.run` elsewhere
(``implementation="auto"``). The kernel runs the model's own step function from
:mod:`spikejax.functional`; nothing of a model is written twice. The sequence modules of
:mod:`spikejax.nn` (``spikejax.nn.LIF``, ...) take the same ``implementation`` option.
"""

from . import adaptive, lif
from .adaptive import *  # noqa: F401,F403
from .lif import *  # noqa: F401,F403

__all__ = list(lif.__all__) + list(adaptive.__all__)
