"""Online learning: gradients computed forward in time, in memory that does not grow with it.

* e-prop (Bellec et al. 2020) for a recurrent layer and its leaky readout, derived from any
  model's recurrent step by forward-mode differentiation (:func:`eprop_gradients`,
  :func:`make_eprop_train_step`);
* OTTT (Xiao et al. 2022) for feed-forward layers (:func:`ottt_gradients`,
  :func:`make_ottt_train_step` for a :class:`SpikingStack`);
* truncated BPTT, the baseline (:func:`truncated_bptt`, :func:`make_tbptt_train_step`).

Example:
    >>> import jax.numpy as jnp, optax
    >>> from flax import nnx
    >>> from spikejax.nn import LSNNRecurrent
    >>> from spikejax.online import RecurrentReadout, make_eprop_train_step
    >>> net = RecurrentReadout(LSNNRecurrent(3, 8), 2, rngs=nnx.Rngs(0))
    >>> optimizer = nnx.Optimizer(net, optax.adam(1e-2), wrt=nnx.Param)
    >>> step = make_eprop_train_step(lambda y, t: jnp.sum((y - t) ** 2))
    >>> metrics = step(net, optimizer, (jnp.ones((20, 4, 3)), jnp.zeros((20, 4, 2))))
    >>> float(metrics["nonfinite"])
    0.0
"""

from ._eprop import EpropResult, EpropState, eprop_gradients, eprop_init, eprop_step, li_readout
from ._ottt import OTTTResult, SpikingStack, make_ottt_train_step, ottt_gradients
from ._train import RecurrentReadout, make_eprop_train_step, make_tbptt_train_step, truncated_bptt

__all__ = [
    "EpropResult", "EpropState", "eprop_gradients", "eprop_init", "eprop_step", "li_readout",
    "OTTTResult", "ottt_gradients", "SpikingStack", "make_ottt_train_step",
    "RecurrentReadout", "make_eprop_train_step", "make_tbptt_train_step", "truncated_bptt",
]
