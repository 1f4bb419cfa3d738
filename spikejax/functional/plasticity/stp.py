r"""Tsodyks-Markram short-term synaptic plasticity, with Norse 1.1's equations and names.

Each synapse has a utilisation :math:`u` (release probability) and a fraction :math:`x` of
available resources. Over a step of ``dt`` seconds with presynaptic spikes :math:`z` (Euler,
in Norse's order: :math:`u` jumps first, and the release uses the new :math:`u`):

.. math::
    \begin{aligned}
        u' &= u - \Delta t\, \tau_f^{-1} u + U (1 - u) z \\
        x' &= x + \Delta t\, \tau_d^{-1} (1 - x) - u' x z
    \end{aligned}

and the step's synaptic efficacy (the output) is :math:`u' x z`, with the previous :math:`x`.
:math:`\tau_f` sets facilitation and :math:`\tau_d` depression; :math:`\tau_s` is the synaptic
current's time constant, unused by the step (Norse keeps it here for the current
:math:`i \leftarrow i - \Delta t \tau_s^{-1} i + u' x z` its users integrate). Units: inverse
time constants in 1/s, ``dt`` in s.

Defaults (Norse's ``TsodyksMakramParameters``, a depressing synapse): ``tau_f_inv=1/50e-3``,
``tau_s_inv=1/20e-3``, ``tau_d_inv=1/750e-3``, ``U=0.45``. Rest state: ``u=0``, ``x=1``.

Example:
    >>> import jax.numpy as jnp
    >>> from spikejax.functional.plasticity import stp_step
    >>> out, state = stp_step(jnp.ones(2), None)
    >>> out, state.x
    (Array([0.45, 0.45], dtype=float32), Array([0.55, 0.55], dtype=float32))
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np
import jax
import jax.numpy as jnp

from .._model import NeuronParameters, parameters_dataclass, check_dt, check_step_input, rest_like
from .._validate import check_array, check_range, is_concrete
from ._common import check_finite_fields, float_dtype

__all__ = [
    "TsodyksMakramParameters",
    "TsodyksMakramState",
    "tsodyks_makram_state",
    "stp_step",
]


@parameters_dataclass
class TsodyksMakramParameters(NeuronParameters):
    """Parameters of the Tsodyks-Markram model (Norse's names, units and defaults).

    Attributes:
        tau_f_inv: inverse facilitation time constant, 1/s.
        tau_s_inv: inverse synaptic current time constant, 1/s (for the caller's current).
        tau_d_inv: inverse depression (recovery) time constant, 1/s.
        U: jump of the utilisation per spike, in [0, 1].

    Example:
        >>> from spikejax.functional.plasticity import TsodyksMakramParameters
        >>> p = TsodyksMakramParameters(U=0.5)
        >>> p.tau_f_inv, p.tau_d_inv, p.U
        (20.0, 1.3333, 0.5)
    """

    tau_f_inv: jax.typing.ArrayLike = 1.0 / 50.0e-3
    tau_s_inv: jax.typing.ArrayLike = 1.0 / 20.0e-3
    tau_d_inv: jax.typing.ArrayLike = 1.0 / 750.0e-3
    U: jax.typing.ArrayLike = 0.45

    _positive = ("tau_f_inv", "tau_s_inv", "tau_d_inv")

    def __post_init__(self):
        NeuronParameters.__post_init__(self)
        check_finite_fields(self)
        if is_concrete(self.U):
            check_range("TsodyksMakramParameters.U", np.asarray(self.U), 0.0, 1.0)


class TsodyksMakramState(NamedTuple):
    """State of the Tsodyks-Markram model: utilisation ``u`` and available resources ``x``.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional.plasticity import TsodyksMakramState, stp_step
        >>> depleted = TsodyksMakramState(u=jnp.array(0.5), x=jnp.array(0.2))   # few resources left
        >>> efficacy, state = stp_step(jnp.ones(1), depleted)
        >>> efficacy                 # a weak response
        Array([0.143], dtype=float32)
    """

    u: jax.Array
    x: jax.Array


def tsodyks_makram_state(shape, p: TsodyksMakramParameters = TsodyksMakramParameters(),
                         dtype=jnp.float32) -> TsodyksMakramState:
    """The rest state: no utilisation (``u = 0``), all resources available (``x = 1``).

    Example:
        >>> from spikejax.functional.plasticity import tsodyks_makram_state
        >>> tsodyks_makram_state((2,))
        TsodyksMakramState(u=Array([0., 0.], dtype=float32),
         x=Array([1., 1.], dtype=float32))
    """
    return TsodyksMakramState(u=jnp.zeros(shape, dtype), x=rest_like(1.0, shape, dtype))


def stp_step(
    z: jax.Array,
    s: Optional[TsodyksMakramState] = None,
    p: TsodyksMakramParameters = TsodyksMakramParameters(),
    dt: float = 1e-3,
) -> tuple[jax.Array, TsodyksMakramState]:
    """One Euler step of Tsodyks-Markram STP (Norse's ``stp_step``).

    Args:
        z: presynaptic spikes, any shape.
        s: the previous state (leaves the shape of ``z`` or scalars), or ``None`` for rest.
        p: the parameters.
        dt: the step in seconds.

    Returns:
        ``(u' x z, state)``: the efficacy of this step's spikes and the new state.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional.plasticity import stp_step
        >>> state, efficacies = None, []
        >>> for _ in range(3):                           # three spikes in a row
        ...     efficacy, state = stp_step(jnp.ones(1), state)
        ...     efficacies.append(round(float(efficacy[0]), 3))
        >>> efficacies
        [0.45, 0.379, 0.14]
    """
    check_array("z", z)
    check_dt(dt)
    if s is None:
        s = tsodyks_makram_state(z.shape, p, float_dtype(z))
    check_step_input("z", z, s, "s")
    z = z.astype(float_dtype(z))
    u = s.u + dt * (-p.tau_f_inv * s.u) + p.U * (1 - s.u) * z
    x = s.x + dt * (p.tau_d_inv * (1 - s.x)) - u * s.x * z
    return u * s.x * z, TsodyksMakramState(u=u, x=x)
