"""snnTorch's models through NIR, as snnTorch 1.0 writes and reads them.

snnTorch (and torch) are not installed here, so the expected numbers are snnTorch's formulas,
copied from its source (github.com/jeshraghian/snntorch, commit 634fc22):

* ``snntorch/export_nir.py`` lines 68-75 (``Leaky``): ``dt = 1e-4``, ``tau_mem = dt / (1 - beta)``,
  ``r = tau_mem / dt``, ``v_leak = 0``, ``v_reset = 0``; lines 95-107 (``Synaptic``): also
  ``tau_syn = dt / (1 - alpha)``, ``w_in = tau_syn / dt``.
* ``snntorch/import_nir.py`` lines 250-275 (``LIF``): ``beta = 1 - dt / tau``, ``w_scale = r dt / tau``,
  ``threshold = v_threshold / w_scale`` unless ``w_scale`` is 1, ``Leaky(reset_mechanism="zero",
  reset_delay=False)``; lines 286-318 (``CubaLIF``): ``alpha = 1 - dt / tau_syn``, ``beta = 1 -
  dt / tau_mem``, ``w_scale = w_in dt / tau_syn``, ``Synaptic(reset_mechanism="zero",
  reset_delay=False)``.
* ``snntorch/_neurons/leaky.py`` lines 209-229 and 238-247 (the step of the imported ``Leaky``):
  ``reset = H(mem - thr)``; ``mem = beta (1 - reset) mem + I``; ``spk = H(mem - thr)``;
  ``mem -= (spk - reset) mem``. ``snntorch/_neurons/synaptic.py`` lines 249-285 (``Synaptic``):
  ``syn = alpha syn + I``; ``mem = (1 - reset) (beta mem + syn)``; the same immediate reset.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import nir
import numpy as np
import pytest
from flax import nnx

from spikejax.functional import LeakyParameters, SynapticParameters
from spikejax.nir import Graph, from_nir, to_nir
from spikejax.nn import (
    LeakyCell,
    LeakyRecurrentCell,
    Lift,
    SequentialState,
    SynapticCell,
    SynapticRecurrentCell,
)

SNN_DT = 1e-4  # export_nir.py line 68, import_nir.py line 248
EXPORTABLE = dict(reset_mechanism="zero", reset_delay=False)


def leaky(beta=0.85, v_th=1.0, **kw):
    return LeakyCell(LeakyParameters(beta=beta, v_th=v_th, **EXPORTABLE), **kw)


def synaptic(alpha_syn=0.7, beta=0.85, v_th=1.0, **kw):
    return SynapticCell(SynapticParameters(alpha_syn=alpha_syn, beta=beta, v_th=v_th, **EXPORTABLE), **kw)


def network(neuron_a, neuron_b, seed=0):
    rngs = nnx.Rngs(seed)
    return SequentialState(nnx.Linear(3, 4, rngs=rngs), neuron_a, nnx.Linear(4, 2, rngs=rngs), neuron_b)


def inputs(shape=(40, 2, 3), seed=1):
    return jax.random.uniform(jax.random.key(seed), shape, minval=0.0, maxval=2.0)


def test_leaky_is_written_as_snntorch_writes_it():
    beta = jnp.array([0.5, 0.8, 0.9, 0.95])
    graph = to_nir(network(leaky(beta=beta, v_th=0.7), leaky()), jnp.zeros((1, 3)), dt=SNN_DT)
    node = graph.nodes["1"]
    assert isinstance(node, nir.LIF)
    b = np.asarray(beta, np.float64)
    tau_mem = SNN_DT / (1 - b)  # export_nir.py line 73
    np.testing.assert_allclose(node.tau, tau_mem, rtol=1e-12)
    np.testing.assert_allclose(node.r, tau_mem / SNN_DT, rtol=1e-12)  # line 74
    np.testing.assert_array_equal(node.v_leak, np.zeros(4))  # line 75
    np.testing.assert_array_equal(node.v_reset, np.zeros(4))
    np.testing.assert_allclose(node.v_threshold, np.full(4, 0.7), rtol=1e-7)


def test_synaptic_is_written_as_snntorch_writes_it():
    graph = to_nir(network(leaky(), synaptic(alpha_syn=0.6, beta=0.9)), jnp.zeros((1, 3)), dt=SNN_DT)
    node = graph.nodes["3"]
    assert isinstance(node, nir.CubaLIF)
    tau_syn, tau_mem = SNN_DT / (1 - 0.6), SNN_DT / (1 - 0.9)  # export_nir.py lines 103-104
    np.testing.assert_allclose(node.tau_syn, np.full(2, tau_syn), rtol=1e-12)
    np.testing.assert_allclose(node.tau_mem, np.full(2, tau_mem), rtol=1e-12)
    np.testing.assert_allclose(node.r, np.full(2, tau_mem / SNN_DT), rtol=1e-12)  # line 105
    np.testing.assert_allclose(node.w_in, np.full(2, tau_syn / SNN_DT), rtol=1e-12)  # line 107
    np.testing.assert_array_equal(node.v_leak, np.zeros(2))
    np.testing.assert_array_equal(node.v_reset, np.zeros(2))


def test_from_nir_reads_as_snntorch_import_from_nir():
    """snnTorch's importer formulas, on nodes with a gain other than 1 (the threshold moves)."""
    tau, r = np.array([2e-4, 5e-4, 1e-3]), np.array([1.0, 4.0, 12.0])
    lif = nir.LIF(tau=tau, r=r, v_leak=np.zeros(3), v_threshold=np.full(3, 0.8), v_reset=np.zeros(3))
    cell = from_nir(lif, snntorch=True)
    assert isinstance(cell, LeakyCell) and cell.dt == SNN_DT
    np.testing.assert_allclose(cell.p.beta, 1 - SNN_DT / tau, rtol=1e-6)  # import_nir.py line 250
    np.testing.assert_allclose(cell.p.v_th, 0.8 / (r * SNN_DT / tau), rtol=1e-6)  # lines 252-256
    assert (cell.p.reset_mechanism, cell.p.reset_delay) == ("zero", False)  # lines 273-275
    tau_syn, tau_mem = np.full(3, 5e-4), np.full(3, 1e-3)
    cuba = nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=tau_mem / SNN_DT, v_leak=np.zeros(3),
                       v_threshold=np.ones(3), v_reset=np.zeros(3), w_in=np.full(3, 2.0))
    cell = from_nir(cuba, snntorch=True)
    assert isinstance(cell, SynapticCell)
    assert cell.p.alpha_syn == pytest.approx(1 - SNN_DT / 5e-4)  # line 286
    assert cell.p.beta == pytest.approx(1 - SNN_DT / 1e-3)  # line 287
    assert cell.p.v_th == pytest.approx(1 / (2.0 * SNN_DT / 5e-4))  # lines 289-293
    assert (cell.p.reset_mechanism, cell.p.reset_delay) == ("zero", False)


def snntorch_reference(graph, xs):
    """What snnTorch's ``import_from_nir`` network computes for a chain Affine, LIF/CubaLIF,
    Affine, LIF/CubaLIF, in numpy float64, from its formulas (module docstring)."""
    h = np.asarray(xs, np.float64)
    for key in ("0", "1", "2", "3"):
        node = graph.nodes[key]
        if isinstance(node, nir.Affine):
            h = h @ node.weight.T + node.bias
            continue
        cuba = isinstance(node, nir.CubaLIF)
        tau_mem = node.tau_mem if cuba else node.tau
        beta = 1 - SNN_DT / tau_mem
        w_scale = node.w_in * SNN_DT / node.tau_syn if cuba else node.r * SNN_DT / node.tau
        thr = node.v_threshold / w_scale if not np.allclose(w_scale, 1.0) else node.v_threshold
        alpha = 1 - SNN_DT / node.tau_syn if cuba else 0.0
        mem = syn = np.zeros(h.shape[1:])
        out = []
        for current in h:
            reset = (mem - thr > 0).astype(float)
            if cuba:
                syn = alpha * syn + current
                mem = (1 - reset) * (beta * mem + syn)
            else:
                mem = beta * (1 - reset) * mem + current
            spk = (mem - thr > 0).astype(float)
            mem = mem - (spk - reset) * mem
            out.append(spk)
        h = np.stack(out)
    return h


@pytest.mark.parametrize("kinds", [("leaky", "leaky"), ("synaptic", "leaky"), ("leaky", "synaptic")])
def test_a_spikejax_network_loads_in_snntorch_and_back_with_the_same_spikes(kinds, tmp_path):
    make = dict(leaky=leaky, synaptic=synaptic)
    model = network(make[kinds[0]](), make[kinds[1]](beta=jnp.array([0.8, 0.9])))
    xs = inputs()
    spikes, _ = Lift(model)(xs)
    assert 0.05 < float(spikes.mean()) < 0.95
    graph = to_nir(model, xs[0], dt=SNN_DT)
    # snnTorch's import_from_nir, by its formulas, gives the same spikes.
    np.testing.assert_array_equal(snntorch_reference(graph, xs), np.asarray(spikes))
    nir.write(tmp_path / "net.nir", graph)
    for g in (graph, nir.read(tmp_path / "net.nir")):
        copy = from_nir(g, snntorch=True)
        assert [type(m).__name__ for m in copy.layers][1::2] == [
            {"leaky": "LeakyCell", "synaptic": "SynapticCell"}[k] for k in kinds
        ]
        np.testing.assert_array_equal(np.asarray(Lift(copy)(xs)[0]), np.asarray(spikes))
        # Read as NIR's continuous models (LIFBox, LIF) at the same dt: the same spikes too.
        np.testing.assert_array_equal(np.asarray(Lift(from_nir(g, dt=SNN_DT))(xs)[0]), np.asarray(spikes))


@pytest.mark.parametrize("cls", [LeakyRecurrentCell, SynapticRecurrentCell])
def test_recurrent_models_round_trip_with_the_same_spikes(cls):
    params = (LeakyParameters(beta=0.8, **EXPORTABLE) if cls is LeakyRecurrentCell
              else SynapticParameters(alpha_syn=0.6, beta=0.8, **EXPORTABLE))
    model = cls(3, 4, params, rngs=nnx.Rngs(2))
    xs = inputs()
    spikes, _ = Lift(model)(xs)
    assert 0.05 < float(spikes.mean()) < 0.95
    graph = to_nir(model, xs[0], dt=SNN_DT)
    # As snnTorch's exporter leaves RLeaky / RSynaptic: a top-level cycle LIF <-> w_rec, which
    # import_nir.py's _replace_rnn_subgraph_with_nirgraph (lines 74-109) looks for.
    assert isinstance(graph.nodes["0.lif"], nir.LIF if cls is LeakyRecurrentCell else nir.CubaLIF)
    assert {("input", "0_w_in"), ("0_w_in", "0.lif"), ("0.lif", "0.w_rec"), ("0.w_rec", "0.lif"),
            ("0.lif", "output")} == set(graph.edges)
    w_in, w_rec = model.weights()
    np.testing.assert_array_equal(graph.nodes["0.w_rec"].weight, np.asarray(w_rec))
    np.testing.assert_array_equal(graph.nodes["0_w_in"].weight, np.asarray(w_in))
    for snntorch in (True, False):
        copy = from_nir(graph, snntorch=snntorch, dt=SNN_DT)
        assert isinstance(copy, Graph)
        np.testing.assert_array_equal(np.asarray(Lift(copy)(xs)[0]), np.asarray(spikes))


def test_time_constants_follow_the_graph_dt():
    """Leaky's beta is per step: the graph's dt (not the module's) sets tau, and reads back."""
    model = network(leaky(beta=0.9), leaky())
    graph = to_nir(model, jnp.zeros((1, 3)))  # dt = 1e-3
    np.testing.assert_allclose(graph.nodes["1"].tau, np.full(4, 1e-3 / 0.1), rtol=1e-12)
    assert from_nir(graph, dt=1e-3, snntorch=True).layers[1].p.beta == pytest.approx(0.9)


@pytest.mark.parametrize(
    "cell, match",
    [
        (LeakyCell(), r"reset_mechanism='zero' and reset_delay=False.*Got reset_mechanism='subtract', "
                      r"reset_delay=True"),
        (LeakyCell(LeakyParameters(reset_mechanism="zero")), "reset_delay=True"),
        (SynapticCell(SynapticParameters(reset_mechanism="none", reset_delay=False)),
         "Got reset_mechanism='none'"),
        (leaky(beta=1.0), r"beta = 1 \(no decay\).*expected beta in \[0, 1\)"),
        (synaptic(alpha_syn=1.5), r"alpha_syn = 1 \(no decay\)"),
    ],
)
def test_to_nir_refuses_what_nir_lif_cannot_hold(cell, match):
    with pytest.raises(ValueError, match=match):
        to_nir(cell, jnp.zeros((1, 2)), dt=SNN_DT)


def test_snntorch_models_need_the_spec_convention():
    with pytest.raises(ValueError, match="use convention='spec', got convention='norse'"):
        to_nir(leaky(), jnp.zeros((1, 2)), convention="norse")
    lif = nir.LIF(tau=np.full(2, 1e-3), r=np.full(2, 10.0), v_leak=np.zeros(2), v_threshold=np.ones(2))
    with pytest.raises(ValueError, match="needs convention='spec', got convention='norse'"):
        from_nir(lif, snntorch=True, convention="norse")
    with pytest.raises(TypeError, match="snntorch must be a bool, got str"):
        from_nir(lif, snntorch="yes")


@pytest.mark.parametrize(
    "changes, match",
    [
        (dict(v_leak=np.full(2, 0.1)), r"has v_leak \[0.1, 0.1\]; snnTorch's Leaky has v_leak = 0"),
        (dict(v_reset=np.full(2, -0.5)), r"has v_reset \[-0.5, -0.5\]"),
        (dict(tau=np.full(2, 5e-5)), r"has tau \[5e-05, 5e-05\], expected finite time constants of at "
                                     r"least dt = 0.0001"),
    ],
)
def test_from_nir_snntorch_rejects_what_snntorch_leaky_cannot_hold(changes, match):
    fields = dict(tau=np.full(2, 1e-3), r=np.full(2, 10.0), v_leak=np.zeros(2), v_threshold=np.ones(2),
                  v_reset=np.zeros(2))
    with pytest.raises(ValueError, match=match):
        from_nir(nir.LIF(**{**fields, **changes}), snntorch=True)
