r"""Plasticity rules as pure functions: traces, STDP and its relatives, bounds, STP, homeostasis.

Every rule is a step ``rule_step(pre, post, state, w, p, dt, *, ...) -> (dw, state)`` over one
time step: ``pre`` and ``post`` are the spikes on both sides of the weight ``w`` (dense
``(post, pre)`` as ``torch.nn.Linear``, or conv2d ``(C_out, C_in, kh, kw)`` where noted),
``state`` holds the rule's traces (``None`` starts from empty traces), and ``dw`` is the
weight update (potentiation positive), so the new weight is ``w + dw``. The steps are pure and
run under ``jit``, ``vmap`` and ``lax.scan``; :mod:`spikejax.learn` wraps them as optax
transformations.

========================  ===========================================  ==========================
Module                    Rule                                          Parameters
========================  ===========================================  ==========================
``traces``                spike traces (Euler, cumulative, nearest)      ``trace_step`` arguments
``stdp``                  pair STDP, Norse 1.1 (linear and conv2d)       :class:`STDPParameters`
``stdp_inferno``          pair STDP, Inferno's signed learning rates     :class:`InfernoSTDPParameters`
``triplet``               triplet STDP (Pfister & Gerstner 2006)         :class:`TripletSTDPParameters`
``reward``                MSTDP, MSTDPET (Florian 2007)                  :class:`MSTDPParameters`
``bounds``                weight dependence: power, multiplicative,      keyword arguments
                          sharp, clamp
``stp``                   Tsodyks-Markram short-term plasticity          :class:`TsodyksMakramParameters`
``homeostasis``           adaptive threshold (Diehl & Cook 2015)         :class:`AdaptiveThresholdParameters`
========================  ===========================================  ==========================

Units are Norse's (``dt`` in s, inverse time constants in 1/s), except Inferno's ms time
constants in :class:`InfernoSTDPParameters`, converted where they are used.

Example:
    >>> import jax, jax.numpy as jnp
    >>> from spikejax.functional.plasticity import STDPParameters, stdp_step
    >>> pre = (jnp.arange(50 * 4 * 3).reshape(50, 4, 3) % 5 == 0).astype(jnp.float32)
    >>> post = (jnp.arange(50 * 4 * 2).reshape(50, 4, 2) % 7 == 0).astype(jnp.float32)
    >>> def step(carry, spikes):
    ...     w, state = carry
    ...     dw, state = stdp_step(spikes[0], spikes[1], state, w, STDPParameters())
    ...     return (w + dw, state), None
    >>> from spikejax.functional.plasticity import stdp_state
    >>> carry = (jnp.full((2, 3), 0.5), stdp_state((4, 3), (4, 2)))  # scan needs a real state
    >>> (w, _), _ = jax.lax.scan(step, carry, (pre, post))
    >>> w.shape
    (2, 3)
"""

from .bounds import *  # noqa: F401,F403
from .homeostasis import *  # noqa: F401,F403
from .reward import *  # noqa: F401,F403
from .stdp import *  # noqa: F401,F403
from .stdp_inferno import *  # noqa: F401,F403
from .stp import *  # noqa: F401,F403
from .traces import *  # noqa: F401,F403
from .triplet import *  # noqa: F401,F403
