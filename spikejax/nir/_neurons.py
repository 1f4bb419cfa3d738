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
from ..functional.leaky import LeakyParameters
from ..functional.lif_box import LIFBoxParameters
from ..functional.surrogate import resolve_surrogate
from ..functional.synaptic import SynapticParameters
from ..nn.iaf import IAFCell
from ..nn.leaky_integrator import LICell
from ..nn.lif import LIFCell
from ..nn.leaky import LeakyCell
from ..nn.lif_box import LIFBoxCell
from ..nn.synaptic import SynapticCell
from ._layers import from_nir_layout, to_nir_layout

__all__ = [
    "CONVENTIONS", "check_convention", "neuron_to_nir", "neuron_from_nir", "neuron_shape", "NEURON_NODES",
    "DISCRETE_MODELS", "SNNTORCH_DT", "INEXPRESSIBLE",
]

#: How time constants and input gains are written: the NIR specification, or Norse 1.1's files.
CONVENTIONS = ("spec", "norse")

#: spikejax model name -> the NIR node it is written as (LI: CubaLI, or LI when its synapse
#: empties within a step).
EXPORTED_MODELS = {"LIF": "CubaLIF", "LIFBox": "LIF", "LI": "CubaLI or LI", "IAF": "IF",
                   "Leaky": "LIF", "Synaptic": "CubaLIF"}

#: snnTorch's discrete-time models: their decays are per step, so the ``dt`` of the graph (not
#: the module's, which does not enter their equations) turns them into time constants.
DISCRETE_MODELS = ("Leaky", "Synaptic")

#: The step snnTorch 1.0's ``export_to_nir`` and ``import_from_nir`` assume for every graph
#: (``dt = 1e-4`` in snntorch/export_nir.py and import_nir.py).
SNNTORCH_DT = 1e-4

#: Models NIR 1.0 has no node for: what NIR lacks, the closest NIR node (and the spikejax model
#: it reads back as), and what that node drops.
INEXPRESSIBLE = {
    "LSNN": ("adaptive threshold", "nir.CubaLIF (spikejax LIF)", "the threshold adaptation"),
    "ALIF": ("adaptive threshold or refractory period", "nir.LIF (spikejax LIFBox)",
             "the threshold adaptation and the refractory lock"),
    "CobaLIF": ("conductance-based synapse (reversal potentials)", "nir.CubaLIF (spikejax LIF)",
                "the reversal potentials: its synapses inject currents"),
    "Izhikevich": ("quadratic membrane or recovery variable", "nir.LIF (spikejax LIFBox)",
                   "the quadratic term and the recovery variable u"),
    "LIFRefrac": ("refractory period", "nir.CubaLIF (spikejax LIF)", "the refractory period"),
    "LIFEx": ("exponential spike-initiation term", "nir.CubaLIF (spikejax LIF)",
              "the exponential term"),
    "LIFAdEx": ("exponential spike-initiation term or adaptation current",
                "nir.CubaLIF (spikejax LIF)", "the exponential term and the adaptation current"),
}

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
    if model in DISCRETE_MODELS:
        return _discrete_to_nir(module, full, gain, dt, convention)
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
    message = (f"to_nir cannot export a {type(module).__name__}: NIR has nodes for the models "
               f"{sorted(EXPORTED_MODELS)} only")
    if model in INEXPRESSIBLE:
        lacks, closest, drops = INEXPRESSIBLE[model]
        message += (f". {model}: NIR {nir.__version__} has no {lacks}; the closest is {closest}, "
                    f"which drops {drops}")
    raise TypeError(message)


def _decay(value: np.ndarray, field: str, model: str) -> np.ndarray:
    """A per-step decay clipped to ``[0, 1]`` as the model clips it; below 1, so that its time
    constant ``dt / (1 - decay)`` is finite."""
    value = np.clip(value, 0.0, 1.0)
    if np.any(value >= 1.0):
        raise ValueError(
            f"to_nir cannot export {model} with {field} = 1 (no decay): its NIR time constant "
            f"dt / (1 - {field}) is infinite; expected {field} in [0, 1)"
        )
    return value


def _discrete_to_nir(module, full, gain, dt: float, convention: str) -> nir.NIRNode:
    """snnTorch's Leaky as ``nir.LIF``, Synaptic as ``nir.CubaLIF``, with the formulas of
    snnTorch 1.0's ``export_to_nir`` at the graph's ``dt`` (and an input gain in ``r`` or
    ``w_in``)."""
    model, p = module.model.name, module.parameters
    node = "nir.LIF" if model == "Leaky" else "nir.CubaLIF"
    if convention != "spec":
        raise ValueError(
            f"to_nir writes {model} with snnTorch's formulas, which are NIR's equations: use "
            f"convention='spec', got convention={convention!r}"
        )
    if p.reset_mechanism != "zero" or p.reset_delay:
        raise ValueError(
            f"to_nir writes {model} as {node}, whose membrane goes to v_reset = 0 in the step it "
            f"spikes: {model} with reset_mechanism='zero' and reset_delay=False (what snnTorch's "
            f"import_from_nir builds). Got reset_mechanism={p.reset_mechanism!r}, "
            f"reset_delay={p.reset_delay!r}; train with those two settings, or export "
            f"p.replace(reset_mechanism='zero', reset_delay=False) knowing the spikes change"
        )
    zeros = np.zeros_like(gain)
    tau_mem = dt / (1.0 - _decay(full(p.beta), "beta", model))
    if model == "Leaky":
        # snntorch/export_nir.py: tau_mem = dt / (1 - beta), r = tau_mem / dt, v_leak = 0.
        return nir.LIF(tau=tau_mem, r=gain * tau_mem / dt, v_leak=zeros,
                       v_threshold=full(p.v_th), v_reset=zeros)
    # ... and tau_syn = dt / (1 - alpha), w_in = tau_syn / dt for Synaptic.
    tau_syn = dt / (1.0 - _decay(full(p.alpha_syn), "alpha_syn", model))
    return nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=tau_mem / dt, v_leak=zeros,
                       v_threshold=full(p.v_th), v_reset=zeros, w_in=gain * tau_syn / dt)


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
    node: nir.NIRNode, name: str, dt: float, convention: str, method, alpha: Optional[float],
    snntorch: bool = False,
) -> tuple[Optional[np.ndarray], Any]:
    """``(gain, cell)`` for a NIR neuron node: the cell, and the elementwise input factor to
    put before it (channels-last), or ``None`` when it is 1. With ``snntorch``, ``LIF`` and
    ``CubaLIF`` become snnTorch's Leaky and Synaptic, as its ``import_from_nir`` builds them."""
    kind = type(node).__name__
    neuron_shape(node, name)
    if snntorch and isinstance(node, (nir.LIF, nir.CubaLIF)):
        return None, _discrete_from_nir(node, name, dt, method, alpha)

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


def _discrete_from_nir(node: nir.NIRNode, name: str, dt: float, method, alpha: Optional[float]):
    """A ``LeakyCell`` (``nir.LIF``) or ``SynapticCell`` (``nir.CubaLIF``) with the formulas of
    snnTorch 1.0's ``import_from_nir`` (snntorch/import_nir.py): ``beta = 1 - dt / tau_mem``,
    ``alpha = 1 - dt / tau_syn``, the input gain divided out of the threshold, and a reset to
    zero in the spiking step (``reset_mechanism="zero"``, ``reset_delay=False``)."""
    kind = type(node).__name__

    def get(field):
        return from_nir_layout(np.asarray(getattr(node, field), np.float64))

    for field in ("v_leak", "v_reset"):
        # snnTorch asserts v_leak = 0 and resets to 0 whatever v_reset says.
        if not np.allclose(get(field), 0.0):
            raise ValueError(
                f"NIR node {name!r} ({kind}) has {field} {get(field).tolist()}; snnTorch's "
                f"{'Leaky' if kind == 'LIF' else 'Synaptic'} has {field} = 0 only: read it with "
                f"snntorch=False (spikejax's {'LIFBox' if kind == 'LIF' else 'LIF'})"
            )
    for field in ("tau",) if kind == "LIF" else ("tau_syn", "tau_mem"):
        tau = get(field)
        if not (np.all(np.isfinite(tau)) and np.all(tau >= dt)):
            raise ValueError(
                f"NIR node {name!r} ({kind}) has {field} {tau.tolist()}, expected finite time "
                f"constants of at least dt = {dt:g} (a decay 1 - dt / {field} in [0, 1))"
            )
    spiking = dict(method=method, alpha=resolve_surrogate(method).default_alpha if alpha is None else alpha,
                   reset_mechanism="zero", reset_delay=False)
    if kind == "LIF":
        tau = get("tau")
        w_scale = get("r") * dt / tau
        decays = dict(beta=_value(1.0 - dt / tau))
        parameters, cell = LeakyParameters, LeakyCell
    else:
        tau_syn, tau_mem = get("tau_syn"), get("tau_mem")
        # snnTorch asserts r = tau_mem / dt and divides the threshold by w_in dt / tau_syn; the
        # product below is that, and stays exact for any r (the equations are linear).
        w_scale = get("w_in") * (dt / tau_syn) * get("r") * (dt / tau_mem)
        decays = dict(alpha_syn=_value(1.0 - dt / tau_syn), beta=_value(1.0 - dt / tau_mem))
        parameters, cell = SynapticParameters, SynapticCell
    if np.any(w_scale <= 0):
        raise ValueError(f"NIR node {name!r} ({kind}) has an input gain {w_scale.tolist()}, expected > 0")
    v_th = get("v_threshold")
    if not np.allclose(w_scale, 1.0):  # snnTorch's tolerance (np.allclose's defaults)
        v_th = v_th / w_scale
    return cell(parameters(v_th=_value(v_th), **decays, **spiking), dt=dt)
