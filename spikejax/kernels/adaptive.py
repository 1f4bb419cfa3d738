r"""Whole-sequence adaptive-threshold neurons: Norse's LSNN and Inferno's ALIF, kernel or scan.

The same machinery as :func:`~spikejax.kernels.lif_sequence` (one fused Pallas kernel on a GPU
with a checkpointed custom VJP, the scan elsewhere; see :mod:`spikejax.kernels.lif`), for models
whose state has a third field, the adaptive threshold: LSNN keeps ``(v, i, b)``, ALIF
``(v, refrac, theta)``. The kernel runs the models' own feed-forward steps,
:func:`spikejax.functional.lsnn_feed_forward_step` and
:func:`spikejax.functional.alif_feed_forward_step`, so the equations live there only.

Example:
    >>> import jax.numpy as jnp
    >>> from spikejax.kernels import lsnn_sequence
    >>> spikes, state = lsnn_sequence(jnp.ones((9, 1, 2)))
    >>> spikes[:, 0, 0]                       # after a spike the threshold b rises by beta
    Array([0., 0., 0., 0., 0., 0., 1., 0., 0.], dtype=float32)
    >>> kernel_spikes, _ = lsnn_sequence(jnp.ones((9, 1, 2)), implementation="pallas")
    >>> bool((kernel_spikes == spikes).all())      # interpreted here: no GPU
    True
"""

from __future__ import annotations

from typing import Any, Optional

import jax

from ..functional.alif import ALIF_MODEL, ALIFParameters
from ..functional.lsnn import LSNN_MODEL, LSNNParameters
from .lif import _check_bool, neuron_sequence

__all__ = ["lsnn_sequence", "alif_sequence"]


def lsnn_sequence(
    currents: jax.Array,
    state0: Any = None,
    p: LSNNParameters = LSNNParameters(),
    dt: Any = 1e-3,
    *,
    detach_reset: bool = False,
    implementation: str = "auto",
    interpret: Optional[bool] = None,
    block: Optional[int] = None,
    checkpoint_every: int = 8,
    unroll: int | bool = 1,
):
    """A feed-forward LSNN neuron (:mod:`spikejax.functional.lsnn`) over the currents ``(T, B, N)``.

    Returns ``(spikes, LSNNFeedForwardState)``. ``detach_reset`` stops the gradient through the
    spike in the reset and the threshold jump (Norse's feed-forward step does not: ``False``).
    The other arguments are those of :func:`~spikejax.kernels.neuron_sequence`.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.kernels import lsnn_sequence
        >>> spikes, state = lsnn_sequence(jnp.ones((9, 1, 2)))
        >>> spikes[:, 0, 0]
        Array([0., 0., 0., 0., 0., 0., 1., 0., 0.], dtype=float32)
        >>> state.b.shape                              # the adaptive threshold
        (1, 2)
    """
    _check_bool("detach_reset", detach_reset)
    return neuron_sequence(
        LSNN_MODEL, currents, state0, p, dt, detach_reset=detach_reset,
        implementation=implementation, interpret=interpret, block=block,
        checkpoint_every=checkpoint_every, unroll=unroll,
    )


def alif_sequence(
    currents: jax.Array,
    state0: Any = None,
    p: ALIFParameters = ALIFParameters(),
    dt: Any = 1e-3,
    *,
    detach_reset: bool = False,
    adapt: bool = True,
    share_theta: bool = False,
    implementation: str = "auto",
    interpret: Optional[bool] = None,
    block: Optional[int] = None,
    checkpoint_every: int = 8,
    unroll: int | bool = 1,
):
    """Inferno's ALIF neuron (:mod:`spikejax.functional.alif`) over the currents ``(T, B, N)`` (nA).

    Returns ``(spikes, ALIFState)``. ``detach_reset``, ``adapt`` and ``share_theta`` are the
    options of :func:`~spikejax.functional.alif_feed_forward_step`; ``share_theta=True``
    averages ``theta`` over the batch, which the kernel (one neuron per lane) cannot do: with it
    ``"auto"`` takes the scan and ``"pallas"`` raises. The other arguments are those of
    :func:`~spikejax.kernels.neuron_sequence`.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.kernels import alif_sequence
        >>> spikes, state = alif_sequence(jnp.full((12, 1, 2), 1000.0))
        >>> spikes[:, 0, 0]                            # refractory for refrac_t = 5 ms
        Array([0., 1., 0., 0., 0., 0., 1., 0., 0., 0., 0., 1.], dtype=float32)
        >>> state.theta                                # 3 spikes, each adding 0.05 mV
        Array([[0.15, 0.15]], dtype=float32)
    """
    for name, value in (("detach_reset", detach_reset), ("adapt", adapt), ("share_theta", share_theta)):
        _check_bool(name, value)
    return neuron_sequence(
        ALIF_MODEL, currents, state0, p, dt, detach_reset=detach_reset, adapt=adapt,
        share_theta=share_theta, implementation=implementation, interpret=interpret,
        block=block, checkpoint_every=checkpoint_every, unroll=unroll,
    )
