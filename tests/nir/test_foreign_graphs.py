"""Graphs as Norse 1.1 and snnTorch 1.0 write them load, and run NIR's equations.

The graphs are built by hand, node for node as the two exporters write them (0-d parameters,
an ``Input`` shape with the batch axis, a recurrent layer inlined as a cycle, ...), and the
output of :func:`spikejax.nir.from_nir` is compared with :func:`simulate`, a float64 NumPy Euler
simulation of NIR's equations written from the NIR documentation.
"""

from __future__ import annotations

import jax.numpy as jnp
import nir
import numpy as np
import pytest

from spikejax.nir import Graph, from_nir, to_nir
from spikejax.nn import LIFBoxCell, LIFCell, SequentialState

ATOL = 1e-5


def conv2d(x, node):
    weight, bias = np.asarray(node.weight, np.float64), np.asarray(node.bias, np.float64)
    (sh, sw), (ph, pw), (dh, dw) = node.stride, node.padding, node.dilation
    assert node.groups == 1
    x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    kh, kw = weight.shape[2:]
    height = (x.shape[2] - dh * (kh - 1) - 1) // sh + 1
    width = (x.shape[3] - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((x.shape[0], weight.shape[0], height, width))
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dh, i * dh + sh * (height - 1) + 1, sh)
            columns = slice(j * dw, j * dw + sw * (width - 1) + 1, sw)
            patch = x[:, :, rows, columns]
            out += np.einsum("bchw,oc->bohw", patch, weight[:, :, i, j])
    return out + bias[None, :, None, None]


def step(node, current, state, dt):
    """One Euler step of a NIR node on a batch ``(B, ...)`` in NIR's layout: ``(output, state)``."""
    get = lambda field: np.asarray(getattr(node, field), np.float64)
    if isinstance(node, nir.Affine):
        return current @ get("weight").T + get("bias"), None
    if isinstance(node, nir.Linear):
        return current @ get("weight").T, None
    if isinstance(node, nir.Conv2d):
        return conv2d(current, node), None
    if isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
        kh, kw = np.broadcast_to(node.kernel_size, 2)
        assert np.all(np.asarray(node.stride) == (kh, kw)) and not np.any(node.padding)
        b, c, h, w = current.shape
        out = current.reshape(b, c, h // kh, kh, w // kw, kw).sum(axis=(3, 5))
        return (out / (kh * kw) if isinstance(node, nir.AvgPool2d) else out), None
    if isinstance(node, nir.Flatten):
        sample = current.shape[1:]
        start, end = node.start_dim % len(sample), node.end_dim % len(sample)
        return current.reshape((current.shape[0],) + sample[:start] + (-1,) + sample[end + 1 :]), None
    # Neurons: the synaptic current first, then the membrane with the new current.
    if isinstance(node, nir.IF):
        v = np.broadcast_to(get("v_reset"), current.shape) if state is None else state
        v = v + dt * get("r") * current
    else:
        v_leak = get("v_leak")
        v, i = (np.broadcast_to(v_leak, current.shape), 0.0) if state is None else state
        if isinstance(node, (nir.CubaLIF, nir.CubaLI)):
            i = i + dt / get("tau_syn") * (-i + get("w_in") * current)
            v = v + dt / get("tau_mem") * (v_leak - v + get("r") * i)
        else:
            v = v + dt / get("tau") * (v_leak - v + get("r") * current)
        if isinstance(node, (nir.LI, nir.CubaLI)):
            return v, (v, i)
    z = (v > get("v_threshold")).astype(np.float64)
    v = np.where(z > 0, get("v_reset"), v)
    return z, (v if isinstance(node, nir.IF) else (v, i))


def simulate(graph, xs, dt, order, delayed=()):
    """Run a NIR graph over ``xs`` (T, B, ...): nodes in ``order``, ``delayed`` edges carrying
    the previous step's output; returns the outputs of the one Output node.

    A delayed edge comes out of a recurrent ``Affine`` or ``Linear``; before the first step its
    input is zero (no spikes yet), so it carries the ``Affine``'s bias, as in snnTorch."""
    (source,) = [a for a, b in graph.edges if b == "output"]
    batch = np.shape(xs)[1]
    previous = {a: step(graph.nodes[a], np.zeros((batch, graph.nodes[a].weight.shape[1])), None, dt)[0]
                for a, _ in delayed}
    states, ys = {}, []
    for x in np.asarray(xs, np.float64):
        values = {"input": x}
        for name in order:
            parts = [values[a] for a, b in graph.edges if b == name and (a, b) not in delayed]
            parts += [previous[a] for a, b in graph.edges
                      if b == name and (a, b) in delayed and a in previous]
            values[name], states[name] = step(graph.nodes[name], sum(parts), states.get(name), dt)
        previous = values
        ys.append(values[source])
    return np.stack(ys)


def run(module, xs):
    state, ys = None, []
    for x in xs:
        y, state = module(jnp.asarray(x), state)
        ys.append(y)
    return np.stack(ys)


def scalar(value):
    return np.asarray(value, np.float32)  # Norse and snnTorch write 0-d parameters


def affine(n_out, n_in, seed):
    rng = np.random.default_rng(seed)
    return nir.Affine(weight=rng.normal(0, 1 / np.sqrt(n_in), (n_out, n_in)).astype(np.float32),
                      bias=rng.normal(0, 0.1, n_out).astype(np.float32))


def inputs(shape, scale, seed=3):
    return (scale * np.random.default_rng(seed).uniform(size=shape)).astype(np.float32)


NORSE_DT = 1e-3


def norse_graph():
    """Norse 1.1's ``to_nir`` of SequentialState(Linear(3, 4), LIFBoxCell(), Linear(4, 4),
    LIFCell(), Linear(4, 2), IAFCell()): time constants written as dt / tau_inv, r = w_in = 1."""
    dt = NORSE_DT
    nodes = {
        "input": nir.Input(input_type=np.array([3])),
        "0": affine(4, 3, seed=0),
        "1": nir.LIF(tau=scalar(dt / 100.0), r=scalar(1.0), v_leak=scalar(0.0), v_threshold=scalar(1.0)),
        "2": affine(4, 4, seed=1),
        "3": nir.CubaLIF(tau_mem=scalar(dt / 100.0), tau_syn=scalar(dt / 200.0), r=scalar(1.0),
                         v_leak=scalar(0.0), v_threshold=scalar(1.0)),
        "4": affine(2, 4, seed=2),
        "5": nir.IF(r=scalar(1.0), v_threshold=scalar(1.0)),
        "output": nir.Output(output_type=np.array([2])),
    }
    edges = [("5", "output"), ("0", "1"), ("3", "4"), ("1", "2"), ("input", "0"), ("2", "3"), ("4", "5")]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def norse_meaning(graph, dt):
    """The same network in NIR's equations: what Norse 1.1's numbers mean (Norse's own neurons
    add the input as it comes, so r = w_in = 1 is a gain of 1 on the per-step input)."""
    nodes = dict(graph.nodes)
    lif, cuba, iaf = nodes["1"], nodes["3"], nodes["5"]
    nodes["1"] = nir.LIF(tau=lif.tau / dt, r=lif.r, v_leak=lif.v_leak, v_threshold=lif.v_threshold)
    tau_syn = cuba.tau_syn / dt
    nodes["3"] = nir.CubaLIF(tau_mem=cuba.tau_mem / dt, tau_syn=tau_syn, r=cuba.r, v_leak=cuba.v_leak,
                             v_threshold=cuba.v_threshold, w_in=cuba.w_in * tau_syn / dt)
    nodes["5"] = nir.IF(r=iaf.r / dt, v_threshold=iaf.v_threshold)
    return nir.NIRGraph(nodes=nodes, edges=list(graph.edges), type_check=False)


def test_norse_graph_loads_with_the_norse_convention():
    graph = norse_graph()
    module = from_nir(graph, dt=NORSE_DT, convention="norse")
    assert isinstance(module, SequentialState)
    lif_box, lif = module.layers[1], module.layers[3]
    assert isinstance(lif_box, LIFBoxCell) and isinstance(lif, LIFCell)
    # Norse's own parameters come back (Norse 1.1's reader would give tau_mem_inv = 1e5).
    assert lif_box.p.tau_mem_inv == pytest.approx(100.0)
    assert (lif.p.tau_syn_inv, lif.p.tau_mem_inv) == (pytest.approx(200.0), pytest.approx(100.0))
    xs = inputs((40, 2, 3), scale=3.0)
    expected = simulate(norse_meaning(graph, NORSE_DT), xs, NORSE_DT, order="012345")
    assert 0 < expected.mean() < 1
    np.testing.assert_allclose(run(module, xs), expected, atol=ATOL)


def test_norse_graph_under_the_spec_warns_and_follows_the_spec():
    graph = norse_graph()
    with pytest.warns(UserWarning, match="convention='norse'"):
        module = from_nir(graph, dt=NORSE_DT)
    xs = inputs((10, 2, 3), scale=3.0)
    expected = simulate(graph, xs, NORSE_DT, order="012345")
    np.testing.assert_allclose(run(module, xs), expected, atol=ATOL)


SNN_DT = 1e-4  # snnTorch 1.0 writes every graph for dt = 1e-4
ALPHA, BETA = 0.8, 0.9


def snntorch_lif(n=None):
    """snnTorch's Leaky(beta): tau = dt / (1 - beta), r = tau / dt; 0-d unless ``n`` given."""
    shape = () if n is None else (n,)
    tau = np.full(shape, SNN_DT / (1 - BETA), np.float32)
    zero = np.zeros(shape, np.float32)
    return nir.LIF(tau=tau, r=tau / SNN_DT, v_leak=zero, v_threshold=zero + 1, v_reset=zero)


def snntorch_nodes():
    """snnTorch 1.0's export of Sequential(Linear(3, 4), Synaptic, Linear(4, 4), RLeaky(4),
    Linear(4, 2), Leaky): a batch axis in the Input shape and RLeaky inlined as a cycle."""
    tau_syn, tau_mem = SNN_DT / (1 - ALPHA), SNN_DT / (1 - BETA)
    return {
        "input": nir.Input(input_type=np.array([1, 3])),
        "0": affine(4, 3, seed=4),
        "1": nir.CubaLIF(tau_syn=scalar(tau_syn), tau_mem=scalar(tau_mem), r=scalar(tau_mem / SNN_DT),
                         v_leak=scalar(0.0), v_threshold=scalar(1.0), v_reset=scalar(0.0),
                         w_in=scalar(tau_syn / SNN_DT)),
        "2": affine(4, 4, seed=5),
        "3.lif": snntorch_lif(4),
        "3.w_rec": affine(4, 4, seed=6),
        "4": affine(2, 4, seed=12),
        "5": snntorch_lif(),
        "output": nir.Output(output_type=np.array([1, 2])),
    }


SNN_EDGES = [("3.w_rec", "3.lif"), ("input", "0"), ("0", "1"), ("3.lif", "4"), ("1", "2"),
             ("2", "3.lif"), ("3.lif", "3.w_rec"), ("4", "5"), ("5", "output")]


def test_snntorch_graph_fails_nir_type_inference():
    with pytest.raises(ValueError, match="type mismatch"):
        nir.NIRGraph(nodes=snntorch_nodes(), edges=list(SNN_EDGES))


def test_snntorch_graph_with_a_cycle_loads(tmp_path):
    graph = nir.NIRGraph(nodes=snntorch_nodes(), edges=list(SNN_EDGES), type_check=False)
    # nir 1.0.8 cannot gzip 0-d arrays ("Scalar datasets don't support chunk/filter options").
    nir.write(tmp_path / "snntorch.nir", graph, compression=None)
    read = nir.read(tmp_path / "snntorch.nir", type_check=False)
    xs = inputs((40, 2, 3), scale=1.0)
    order = ["0", "1", "2", "3.lif", "3.w_rec", "4", "5"]
    expected = simulate(graph, xs, SNN_DT, order, delayed={("3.w_rec", "3.lif")})
    assert 0 < expected.mean() < 1
    for g in (graph, read):
        module = from_nir(g, dt=SNN_DT)
        assert isinstance(module, Graph) and module.delayed_sources == ("3.w_rec",)
        np.testing.assert_allclose(run(module, xs), expected, atol=ATOL)
    # Written back, the graph keeps its names and its gains (now all in w_in, with r = 1).
    again = to_nir(module, xs[0], dt=SNN_DT)
    assert set(again.nodes) == set(graph.nodes)
    np.testing.assert_allclose(again.nodes["1"].w_in * again.nodes["1"].r,
                               np.full(4, graph.nodes["1"].w_in * graph.nodes["1"].r), rtol=1e-6)
    np.testing.assert_allclose(run(from_nir(again, dt=SNN_DT), xs), expected, atol=ATOL)
    # snnTorch's Leaky membrane: v <- beta v + I (dt / tau = 1 - beta, gain r = 1 / (1 - beta)).
    scale, leaky = module.nodes["5"].layers
    assert SNN_DT * leaky.p.tau_mem_inv == pytest.approx(1 - BETA)
    np.testing.assert_allclose(scale.scale[...], 1 / (1 - BETA), rtol=1e-6)


def test_snntorch_conv_graph_loads():
    """snnTorch 1.0's export of Sequential(Conv2d(1, 2, 3), Leaky, AvgPool2d(2), Flatten(),
    Linear(18, 2), Leaky): Conv2d without input_shape, pooling with int sizes, start_dim=0."""
    weight = np.random.default_rng(8).normal(0, 0.5, (2, 1, 3, 3)).astype(np.float32)
    nodes = {
        "input": nir.Input(input_type=np.array([1, 1, 8, 8])),
        "0": nir.Conv2d(input_shape=None, weight=weight, stride=(1, 1), padding=(0, 0), dilation=(1, 1),
                        groups=1, bias=np.array([0.1, -0.1], np.float32)),
        "1": snntorch_lif(),
        "2": nir.AvgPool2d(kernel_size=2, stride=2, padding=(0, 0)),
        "3": nir.Flatten(input_type=None, start_dim=0, end_dim=-1),
        "4": affine(2, 18, seed=9),
        "5": snntorch_lif(),
        "output": nir.Output(output_type=np.array([1, 2])),
    }
    edges = [("3", "4"), ("1", "2"), ("0", "1"), ("2", "3"), ("4", "5"), ("input", "0"), ("5", "output")]
    graph = nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)
    xs = inputs((25, 2, 1, 8, 8), scale=1.0)  # NCHW, as snnTorch takes it
    expected = simulate(graph, xs, SNN_DT, order="012345")
    assert 0 < expected.mean() < 1
    module = from_nir(graph, dt=SNN_DT)
    np.testing.assert_allclose(run(module, xs.transpose(0, 1, 3, 4, 2)), expected, atol=ATOL)


def snntorch_recurrent(kind, n, w_rec):
    """snnTorch's export of RLeaky(beta) / RSynaptic(alpha, beta) with all-to-all recurrent
    weights: a subgraph input -> lif -> w_rec -> lif, lif -> output (export_nir.py)."""
    tau_mem = np.full(n, SNN_DT / (1 - BETA))
    zero = np.zeros(n)
    if kind == "RLeaky":
        lif = nir.LIF(tau=tau_mem, r=tau_mem / SNN_DT, v_leak=zero, v_threshold=zero + 1, v_reset=zero)
    else:
        tau_syn = np.full(n, SNN_DT / (1 - ALPHA))
        lif = nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=tau_mem / SNN_DT, v_leak=zero,
                          v_threshold=zero + 1, v_reset=zero, w_in=tau_syn / SNN_DT)
    return nir.NIRGraph(
        nodes={"input": nir.Input(input_type=[n]), "lif": lif, "w_rec": w_rec,
               "output": nir.Output(output_type=[n])},
        edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")],
    )


@pytest.mark.parametrize("kind", ["RLeaky", "RSynaptic"])
def test_snntorch_recurrent_bias_counts_from_the_first_step(kind):
    """snnTorch adds ``recurrent(spk)`` with ``spk = 0`` in the first step: the bias of the
    recurrent Affine reaches the membrane at once (RLeaky: v <- beta v + I + W_rec z + b_rec;
    RSynaptic: i <- alpha i + I + W_rec z + b_rec, v <- beta v + i)."""
    rng = np.random.default_rng(11)
    w_in, b_in = rng.normal(0, 0.3, (3, 2)), np.array([0.05, 0.1, -0.05])
    w_rec, b_rec = rng.normal(0, 0.3, (3, 3)), np.array([0.2, -0.1, 0.3])
    graph = nir.NIRGraph(
        nodes={"input": nir.Input(input_type=np.array([2])), "0": nir.Affine(weight=w_in, bias=b_in),
               "1": snntorch_recurrent(kind, 3, nir.Affine(weight=w_rec, bias=b_rec)),
               "output": nir.Output(output_type=np.array([3]))},
        edges=[("input", "0"), ("0", "1"), ("1", "output")],
        type_check=False,
    )
    module = from_nir(graph, dt=SNN_DT)
    xs = np.array([[[0.3, 0.2]], [[-0.1, 0.4]]])  # (T, B, 2)
    # By hand, snnTorch's equations from rest (v = i = 0, z = 0); the inputs stay below threshold.
    current = xs @ w_in.T + b_in + b_rec  # recurrent input of zero spikes: b_rec
    if kind == "RLeaky":
        v1 = current[0]
        v2 = BETA * v1 + current[1]
    else:
        i1 = current[0]
        v1 = i1
        v2 = BETA * v1 + ALPHA * i1 + current[1]
    assert np.all(np.abs(v1) > 0.05) and np.all(v1 < 1) and np.all(v2 < 1)
    state, membranes = None, []
    for x in xs:
        z, state = module(jnp.asarray(x, jnp.float32), state)
        assert not np.any(z)
        lif_state = state[1]["nodes"]["lif"][-1]  # the cell after its input gain (Scale)
        membranes.append(np.asarray(lif_state.v))
    np.testing.assert_allclose(membranes[0], v1, atol=1e-6)
    np.testing.assert_allclose(membranes[1], v2, atol=1e-6)
