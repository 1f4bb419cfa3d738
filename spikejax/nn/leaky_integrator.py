"""Leaky-integrator modules: ``LICell``, ``LI`` and ``LILinearCell``.

The equations live in :mod:`spikejax.functional.leaky_integrator`. A leaky integrator has no
spikes and no recurrent form, so there are no ``LIRecurrentCell`` or ``LIRecurrent``;
:class:`LILinearCell` is Norse's readout cell with its own input weights.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Optional

import jax
import jax.numpy as jnp
from flax import nnx

from ..functional._validate import check_rank
from ..functional.leaky_integrator import LI_MODEL, LIParameters, LIState, li_step
from ._base import _NeuronBase
from ._neuron import neuron_modules

LICell, LI = neuron_modules(LI_MODEL, __name__)

__all__ = ["LICell", "LI", "LILinearCell"]


class LILinearCell(_NeuronBase):
    """One step of a leaky integrator behind its own linear layer (Norse's ``LILinearCell``).

    Computes ``li_step(x, state, input_weights, p, dt)``: the input current is
    ``x @ input_weights.T`` and the output is the new membrane voltage ``(B, hidden_size)``.

    Args:
        input_size: features of the input.
        hidden_size: leaky integrators in the layer.
        p: the parameters (defaults: ``LIParameters()``).
        dt: integration step in seconds.
        learnable: parameter names to make trainable, e.g. ``("tau_mem_inv",)``.
        input_weights: initial weights ``(hidden_size, input_size)``; by default normal with
            standard deviation ``1 / sqrt(input_size)``, as Norse.
        rngs: ``nnx.Rngs`` for the initial weights (default ``nnx.Rngs(0)``).
        param_dtype: dtype of the weights and learnable parameters.
        dtype: dtype of the computation and the state (``None``: the input's), as in Flax.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.nn import LILinearCell
        >>> cell = LILinearCell(3, 4)
        >>> v, state = cell(jnp.ones((2, 3)))
        >>> v.shape, state.i.shape
        ((2, 4), (2, 4))
    """

    model = LI_MODEL

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        p: Optional[LIParameters] = None,
        *,
        dt: float = 1e-3,
        learnable: Iterable[str] = (),
        input_weights: Optional[jax.Array] = None,
        rngs: Optional[nnx.Rngs] = None,
        param_dtype: Any = jnp.float32,
        dtype: Any = None,
    ):
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        super().__init__(p, dt=dt, learnable=learnable, param_dtype=param_dtype, dtype=dtype)
        self.input_size = input_size
        self.hidden_size = hidden_size
        if input_weights is None:
            rngs = nnx.Rngs(0) if rngs is None else rngs
            scale = 1.0 / math.sqrt(input_size)  # Norse's initialisation
            input_weights = jax.random.normal(rngs.params(), (hidden_size, input_size)) * scale
        input_weights = jnp.asarray(input_weights, param_dtype)
        if input_weights.shape != (hidden_size, input_size):
            raise ValueError(
                f"input_weights has shape {input_weights.shape}, expected "
                f"{(hidden_size, input_size)} (hidden_size, input_size)"
            )
        self.input_weights = nnx.Param(input_weights)

    def __call__(self, input_tensor: jax.Array, state: Optional[LIState] = None):
        check_rank("input_tensor", input_tensor, (1, 2), "(B, input_size) or (input_size,)")
        if input_tensor.shape[-1] != self.input_size:
            raise ValueError(
                f"input_tensor has shape {tuple(input_tensor.shape)}, expected last axis "
                f"{self.input_size} (input_size of LILinearCell)"
            )
        x, state, p, weights = self._promote(input_tensor, state, self.input_weights[...])
        return li_step(x, state, weights, p, self.dt)
