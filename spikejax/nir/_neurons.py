"""Neuron parameters between spikejax (Euler steps, inverse time constants) and NIR (ODEs).

The equations behind every conversion are in the docstring of :mod:`spikejax.nir`. Export
writes NIR arrays of the neuron's full shape (channels first) in float64, so that
``1 / (1 / tau_inv)`` comes back exactly; import turns arrays with one value into Python floats.
"""

from __future__ import annotations

import warnings
from typing import Any, Optional

import jax.numpy as jnp
import nir
import numpy as np

from ..functional.iaf import IAFParameters
from ..functional.leaky_integrator import LIParameters
from ..functional.lif import LIFParameters
from ..functional.lif_box import LIFBoxParameters
from ..functional.surrogate import resolve_surrogate
from ..nn.iaf import IAFCell
from ..nn.leaky_integrator import LICell
from ..nn.lif import LIFCell
from ..nn.lif_box import LIFBoxCell
from ._layers import from_nir_layout, to_nir_layout

__all__ = [
    "CONVENTIONS", "check_convention", "neuron_to_nir", "neuron_from_nir", "neuron_shape", "NEURON_NODES"
]

#: How time constants and input gains are written: the NIR specification, or Norse 1.1's files.
CONVENTIONS = ("spec", "norse")

#: spikejax model name -> the NIR node it is written as (LI: CubaLI, or LI when its synapse
#: empties within a step).
EXPORTED_MODELS = {"LIF": "CubaLIF", "LIFBox": "LIF", "LI": "CubaLI or LI", "IAF": "IF"}

NEURON_NODES = (nir.CubaLIF, nir.CubaLI, nir.LIF, nir.LI, nir.IF)

#: The parameters of each NIR neuron node, one value per neuron (or one for all).
NEURON_FIELDS = {
    nir.CubaLIF: ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in"),
    nir.CubaLI: ("tau_syn", "tau_mem", "r", "v_leak", "w_in"),
    nir.LIF: ("tau", "r", "v_leak", "v_threshold", "v_reset"),
    nir.LI: ("tau", "r", "v_leak"),
    nir.IF: ("r", "v_threshold", "v_reset"),
}

# Relative tolerance for "this gain is 1" and "this synapse empties in one step": far below
# float32 resolution of the parameters, far above float64 rounding of 1 / (1 / x).
_RTOL = 1e-9


def check_convention(convention: Any) -> str:
    """``convention`` if it is one of :data:`CONVENTIONS`, else a ``ValueError``."""
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {list(CONVENTIONS)}, got {convention!r}")
    return convention


def _tau(tau_inv, dt, convention):
    return 1.0 / tau_inv if convention == "spec" else dt / tau_inv


def _tau_inv(tau, dt, convention):
    return 1.0 / tau if convention == "spec" else dt / tau


def neuron_to_nir(module, shape, dt: float, convention: str, gain: Any = 1.0) -> nir.NIRNode:
    """The NIR node of a feed-forward neuron cell (or layer) with per-sample ``shape``.

    ``gain`` is an elementwise input factor (a :class:`~spikejax.nir.Scale` just before the
    cell) folded into the node's ``w_in`` or ``r``.
    """
    model, p = module.model.name, module.parameters

    def full(value):
        return to_nir_layout(np.broadcast_to(np.asarray(value, np.float64), shape).copy())

    gain = full(gain)
    ones = np.ones_like(gain)
    spec = convention == "spec"
    if model == "LIF":
        tau_syn_inv = full(p.tau_syn_inv)
        return nir.CubaLIF(
            tau_syn=_tau(tau_syn_inv, dt, convention),
            tau_mem=_tau(full(p.tau_mem_inv), dt, convention),
            r=ones,
            v_leak=full(p.v_leak),
            v_threshold=full(p.v_th),
            v_reset=full(p.v_reset),
            w_in=gain / (dt * tau_syn_inv) if spec else gain,
        )
    if model == "LIFBox":
        if p.reset_mechanism != "value":
            raise ValueError(
                f"to_nir can export LIFBox only with reset_mechanism='value' (nir.LIF resets to "
                f"v_reset), got reset_mechanism={p.reset_mechanism!r}"
            )
        return nir.LIF(
            tau=_tau(full(p.tau_mem_inv), dt, convention),
            r=gain,
            v_leak=full(p.v_leak),
            v_threshold=full(p.v_th),
            v_reset=full(p.v_reset),
        )
    if model == "LI":
        tau_mem = _tau(full(p.tau_mem_inv), dt, convention)
        synapse = dt * full(p.tau_syn_inv)
        if np.allclose(synapse, 1.0, rtol=_RTOL, atol=0.0):
            return nir.LI(tau=tau_mem, r=gain, v_leak=full(p.v_leak))
        return nir.CubaLI(
            tau_syn=_tau(full(p.tau_syn_inv), dt, convention),
            tau_mem=tau_mem,
            r=ones,
            v_leak=full(p.v_leak),
            w_in=gain / synapse if spec else gain,
        )
    if model == "IAF":
        return nir.IF(r=gain / dt if spec else gain, v_threshold=full(p.v_th), v_reset=full(p.v_reset))
    raise TypeError(
        f"to_nir cannot export a {type(module).__name__}: NIR has nodes for the models "
        f"{sorted(EXPORTED_MODELS)} only"
    )


def neuron_shape(node: nir.NIRNode, name: str) -> Optional[tuple[int, ...]]:
    """The shape of a NIR neuron node's population (channels first), from its parameters with
    more than one entry; ``None`` when every parameter is a single value (it broadcasts).

    Raises ``ValueError`` naming the node and the fields when two parameters with more than one
    entry differ in shape (``tau`` of 4 neurons and ``r`` of 5).
    """
    shapes = {}
    for field in NEURON_FIELDS[type(node)]:
        value = getattr(node, field, None)
        if value is not None and np.size(value) != 1:
            shapes[field] = tuple(np.shape(value))
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{field} {shape}" for field, shape in shapes.items())
        raise ValueError(
            f"NIR node {name!r} ({type(node).__name__}) has parameters of different shapes: "
            f"{listed}; expected one shape for all of them (one value per neuron) or single values"
        )
    return next(iter(shapes.values()), None)


def _value(array: np.ndarray):
    """A parameter for spikejax: a Python float when every entry is equal, else float32."""
    if array.size and np.all(array == array.reshape(-1)[0]):
        return float(array.reshape(-1)[0])
    return jnp.asarray(array, jnp.float32)


def neuron_from_nir(
    node: nir.NIRNode, name: str, dt: float, convention: str, method, alpha: Optional[float]
) -> tuple[Optional[np.ndarray], Any]:
    """``(gain, cell)`` for a NIR neuron node: the cell, and the elementwise input factor to
    put before it (channels-last), or ``None`` when it is 1."""
    kind = type(node).__name__
    neuron_shape(node, name)

    def get(field):
        return from_nir_layout(np.asarray(getattr(node, field), np.float64))

    def inverse(field):
        tau = get(field)
        if not (np.all(np.isfinite(tau)) and np.all(tau > 0)):
            raise ValueError(
                f"NIR node {name!r} ({kind}) has {field} {tau.tolist()}, expected positive, "
                f"finite time constants"
            )
        tau_inv = _tau_inv(tau, dt, convention)
        if convention == "spec" and np.any(dt * tau_inv > 1.0 + _RTOL):
            warnings.warn(
                f"NIR node {name!r} ({kind}) has {field} {float(tau.min()):g} < dt = {dt:g}: the "
                f"Euler step overshoots. Norse <= 1.1 writes dt times the time constant (5e-06 "
                f"for 5 ms at dt = 1e-3); load its files with convention='norse'",
                stacklevel=2,
            )
        return tau_inv

    spec = convention == "spec"
    alpha = resolve_surrogate(method).default_alpha if alpha is None else alpha
    spiking = dict(method=method, alpha=alpha)
    if isinstance(node, (nir.CubaLIF, nir.CubaLI)):
        tau_syn_inv, tau_mem_inv = inverse("tau_syn"), inverse("tau_mem")
        gain = get("w_in") * get("r") * (dt * tau_syn_inv if spec else 1.0)
        common = dict(tau_syn_inv=_value(tau_syn_inv), tau_mem_inv=_value(tau_mem_inv),
                      v_leak=_value(get("v_leak")))
        if isinstance(node, nir.CubaLI):
            cell = LICell(LIParameters(**common), dt=dt)
        else:
            p = LIFParameters(v_th=_value(get("v_threshold")), v_reset=_value(get("v_reset")),
                              **common, **spiking)
            cell = LIFCell(p, dt=dt)
    elif isinstance(node, nir.LIF):
        gain = get("r")
        p = LIFBoxParameters(
            tau_mem_inv=_value(inverse("tau")), v_leak=_value(get("v_leak")),
            v_th=_value(get("v_threshold")), v_reset=_value(get("v_reset")), **spiking,
        )
        cell = LIFBoxCell(p, dt=dt)
    elif isinstance(node, nir.LI):
        gain = get("r")
        # A synapse that empties within one step leaves the input of this step only: LI.
        p = LIParameters(tau_syn_inv=1.0 / dt, tau_mem_inv=_value(inverse("tau")),
                         v_leak=_value(get("v_leak")))
        cell = LICell(p, dt=dt)
    elif isinstance(node, nir.IF):
        gain = get("r") * (dt if spec else 1.0)
        p = IAFParameters(v_th=_value(get("v_threshold")), v_reset=_value(get("v_reset")), **spiking)
        cell = IAFCell(p, dt=dt)
    else:  # pragma: no cover - callers dispatch on NEURON_NODES
        raise TypeError(f"not a NIR neuron node: {kind}")
    if np.allclose(gain, 1.0, rtol=_RTOL, atol=0.0):
        return None, cell
    return gain, cell
