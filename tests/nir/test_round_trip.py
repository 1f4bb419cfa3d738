"""spikejax -> NIR -> spikejax gives the same network: every node type, a conv net, files."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import nir
import numpy as np
import pytest
from flax import nnx

from spikejax.functional import IAFParameters, LIFBoxParameters, LIFParameters, LIParameters
from spikejax.nir import AvgPool2d, Flatten, Graph, Scale, SumPool2d, Threshold, from_nir, to_nir
from spikejax.nn import (
    IAF,
    IAFCell,
    IAFRecurrentCell,
    LICell,
    LIF,
    LIFBoxCell,
    LIFBoxRecurrentCell,
    LIFCell,
    LIFRecurrent,
    LIFRecurrentCell,
    LILinearCell,
    Lift,
    SequentialState,
)

DT = 1e-3


def init(seed, scale=1.0):
    """A NumPy initialiser: random Flax initialisers compile per shape, which is slow on CPU."""

    def draw(key, shape, dtype=jnp.float32):
        fan_in = np.prod(shape[:-1]) if len(shape) > 1 else 1
        values = np.random.default_rng(seed).normal(0.0, scale / np.sqrt(fan_in), shape)
        return jnp.asarray(values, dtype)

    return draw


def linear(n_in, n_out, seed=0, **options):
    return nnx.Linear(n_in, n_out, kernel_init=init(seed), bias_init=init(seed + 1, 0.1),
                      rngs=nnx.Rngs(0), **options)


def conv(n_in, n_out, kernel, seed=0, **options):
    return nnx.Conv(n_in, n_out, kernel, kernel_init=init(seed), bias_init=init(seed + 1, 0.1),
                    rngs=nnx.Rngs(0), **options)


def recurrent_weights(n_in, hidden, seed=0):
    rng = np.random.default_rng(seed)
    scale = np.sqrt(2.0 / hidden)
    return dict(input_weights=rng.normal(0, scale, (hidden, n_in)),
                recurrent_weights=rng.normal(0, scale, (hidden, hidden)))


def inputs(shape, scale=1.0, seed=1):
    """Time-major inputs as a NumPy array (slicing a JAX array compiles per shape)."""
    return (scale * np.random.default_rng(seed).uniform(size=shape)).astype(np.float32)


def outputs(model, xs):
    """Step ``model`` over ``xs`` (T, B, ...) in a Python loop: cheaper than compiling a scan."""
    state, ys = None, []
    for x in xs:
        y, state = model(x, state)
        ys.append(y)
    return np.stack(ys)


def assert_round_trip(model, xs, *, convention="spec", spiking=True):
    """Export, import, and compare the outputs over the sequence ``xs``; return the graph."""
    graph = to_nir(model, xs[0], dt=DT, convention=convention)
    copy = from_nir(graph, dt=DT, convention=convention)
    expected = outputs(model, xs)
    np.testing.assert_allclose(outputs(copy, xs), expected, atol=1e-5)
    if spiking:  # the comparison means something only if some, not all, neurons spiked
        assert 0 < expected.mean() < 1, expected.mean()
    return graph


def per_neuron(n, low, high, seed=0):
    return jnp.asarray(np.random.default_rng(seed).permutation(np.linspace(low, high, n)), jnp.float32)


NEURONS = {
    "CubaLIF": lambda n: LIFCell(LIFParameters(tau_syn_inv=per_neuron(n, 150.0, 300.0),
                                               tau_mem_inv=80.0, v_leak=0.1, v_th=per_neuron(n, 0.8, 1.2),
                                               v_reset=-0.1)),
    "LIF": lambda n: LIFBoxCell(LIFBoxParameters(tau_mem_inv=per_neuron(n, 50.0, 200.0), v_leak=0.05,
                                                 v_th=0.5, v_reset=0.0)),
    "IF": lambda n: IAFCell(IAFParameters(v_th=per_neuron(n, 0.5, 1.5), v_reset=0.0)),
    "CubaLI": lambda n: LICell(LIParameters(tau_syn_inv=250.0, tau_mem_inv=per_neuron(n, 50.0, 150.0),
                                            v_leak=0.2)),
    "LI": lambda n: LICell(LIParameters(tau_syn_inv=1 / DT, tau_mem_inv=120.0, v_leak=-0.1)),
}


@pytest.mark.parametrize("convention", ["spec", "norse"])
@pytest.mark.parametrize("kind", sorted(NEURONS))
def test_neuron_round_trip(kind, convention):
    model = SequentialState(linear(4, 6), NEURONS[kind](6))
    graph = assert_round_trip(model, inputs((25, 3, 4)), convention=convention,
                              spiking=kind not in ("CubaLI", "LI"))
    assert type(graph.nodes["1"]).__name__ == kind
    assert isinstance(graph.nodes["0"], nir.Affine)


def test_linear_without_bias_scale_and_threshold_round_trip():
    model = SequentialState(
        linear(4, 5, use_bias=False),
        Scale(per_neuron(5, -1.0, 2.0)),
        linear(5, 5, seed=2),
        Threshold(per_neuron(5, 0.0, 0.5)),
    )
    graph = assert_round_trip(model, inputs((6, 3, 4)))
    assert [type(graph.nodes[k]).__name__ for k in "0123"] == ["Linear", "Scale", "Affine", "Threshold"]


@pytest.mark.parametrize(
    "conv, kind",
    [
        (lambda: conv(2, 4, (3,), padding=1), nir.Conv1d),
        (lambda: conv(2, 4, (2,), strides=2, padding="VALID"), nir.Conv1d),
        (lambda: conv(2, 4, (3, 3), padding="SAME"), nir.Conv2d),
        (lambda: conv(2, 4, (3, 2), strides=(2, 1), padding=((1, 1), (0, 0)), kernel_dilation=(1, 2),
                      feature_group_count=2, use_bias=False), nir.Conv2d),
        (lambda: conv(2, 4, (2, 2), padding="SAME"), nir.Conv2d),  # even kernel
    ],
)
def test_conv_round_trip(conv, kind):
    layer = conv()
    spatial = (9,) if kind is nir.Conv1d else (7, 6)
    model = SequentialState(layer, IAFCell())
    graph = assert_round_trip(model, inputs((5, 2) + spatial + (2,), scale=2.0))
    assert isinstance(graph.nodes["0"], kind)
    # NIR's weights are (out, in, ...): the Flax kernel (..., in, out) transposed.
    np.testing.assert_array_equal(graph.nodes["0"].weight[:, :, 0], np.asarray(layer.kernel[...])[0].T)


def test_per_neuron_parameters_of_a_feature_map_are_channels_first():
    n = 2 * 3 * 4
    v_th = per_neuron(n, 0.3, 1.0).reshape(2, 3, 4)  # (H, W, C)
    model = SequentialState(conv(1, 4, (3, 3)), LIFBoxCell(LIFBoxParameters(v_th=v_th)))
    graph = assert_round_trip(model, inputs((8, 2, 2, 3, 1), scale=3.0))
    np.testing.assert_array_equal(graph.nodes["1"].v_threshold, np.moveaxis(np.asarray(v_th), -1, 0))
    assert graph.nodes["1"].v_threshold.shape == (4, 2, 3)


def conv_net():
    return SequentialState(
        conv(1, 4, (3, 3), padding="SAME"),
        LIFCell(),
        SumPool2d(2),
        conv(4, 6, (3, 3), seed=2, padding="VALID"),
        LIFCell(LIFParameters(tau_mem_inv=150.0, v_th=0.8)),
        AvgPool2d((1, 2), padding=(0, 1)),
        Flatten(),
        linear(6 * 2 * 2, 3, seed=4),
        LICell(),
    )


def test_conv_net_round_trip_through_a_file(tmp_path):
    model = conv_net()
    xs = inputs((12, 2, 8, 8, 1), scale=2.0)
    graph = to_nir(model, xs[0])
    kinds = [type(graph.nodes[str(i)]).__name__ for i in range(9)]
    assert kinds == ["Conv2d", "CubaLIF", "SumPool2d", "Conv2d", "CubaLIF", "AvgPool2d", "Flatten",
                     "Affine", "CubaLI"]
    path = tmp_path / "conv.nir"
    nir.write(path, graph)
    read = nir.read(path)  # with nir's own type checks
    expected = outputs(model, xs)
    for g in (graph, read):
        copy = from_nir(g)
        assert isinstance(copy, SequentialState) and len(copy) == 9
        np.testing.assert_allclose(outputs(copy, xs), expected, atol=1e-5)
    hidden = SequentialState(*list(model.layers)[:5])
    assert 0 < outputs(hidden, xs).mean() < 1


def test_flatten_is_in_nir_order():
    x = jnp.arange(2 * 3 * 4 * 5.0).reshape(2, 3, 4, 5)  # (B, H, W, C)
    np.testing.assert_array_equal(Flatten()(x), np.asarray(x).transpose(0, 3, 1, 2).reshape(2, -1))
    partial = Flatten(1, 2)(x)  # (C, H*W) channels first, returned channels last
    assert partial.shape == (2, 12, 5)
    np.testing.assert_array_equal(partial, np.asarray(x).reshape(2, 12, 5))


@pytest.mark.parametrize("autapses", [False, True])
@pytest.mark.parametrize("cell, drive", [(LIFRecurrentCell, 0.6), (LIFBoxRecurrentCell, 3.0),
                                         (IAFRecurrentCell, 0.6)])
def test_recurrent_round_trip(cell, drive, autapses, tmp_path):
    recurrent = cell(4, 5, autapses=autapses, **recurrent_weights(4, 5))
    xs = inputs((30, 3, 4), scale=drive)
    graph = assert_round_trip(SequentialState(recurrent), xs)
    sub = graph.nodes["0"]
    assert isinstance(sub, nir.NIRGraph)
    nir.write(tmp_path / "recurrent.nir", graph)  # nir's type checks accept the cycle on reading
    np.testing.assert_allclose(outputs(from_nir(nir.read(tmp_path / "recurrent.nir")), xs),
                               outputs(recurrent, xs), atol=1e-5)
    assert ("w_rec", "neuron") in sub.edges and ("neuron", "w_rec") in sub.edges
    copy = from_nir(graph)
    assert isinstance(copy, Graph) and copy.delayed_sources == ("w_rec",)


def test_recurrent_spikes_feed_back():
    weights = dict(recurrent_weights(4, 5), recurrent_weights=np.zeros((5, 5)))
    recurrent = LIFRecurrentCell(4, 5, autapses=True, **weights)
    xs = inputs((30, 3, 4), scale=0.6)
    graph = to_nir(recurrent, xs[0])
    graph.nodes["0"].nodes["w_rec"].weight = np.full((5, 5), 0.5)  # the feedback must now matter
    np.testing.assert_raises(AssertionError, np.testing.assert_allclose,
                             outputs(from_nir(graph), xs), outputs(recurrent, xs))


def test_sequence_modules_and_li_linear_cell_round_trip():
    model = SequentialState(
        Lift(linear(4, 5)), LIF(), LIFRecurrent(5, 6, **recurrent_weights(5, 6)), IAF()
    )
    xs = inputs((20, 2, 4), scale=1.5)
    graph = to_nir(model, xs[0])
    copy = from_nir(graph, sequence=True)
    np.testing.assert_allclose(copy(xs)[0], model(xs)[0], atol=1e-5)
    readout = LILinearCell(4, 3, LIParameters(tau_mem_inv=50.0), input_weights=np.ones((3, 4)))
    graph = assert_round_trip(readout, xs, spiking=False)
    assert [type(graph.nodes[k]).__name__ for k in ("0.w_in", "0")] == ["Linear", "CubaLI"]


def test_graph_with_a_skip_connection_round_trips_and_jits():
    graph_module = Graph(
        {"a": linear(3, 4), "lif": LIFCell(), "b": linear(3, 4, seed=5), "li": LICell()},
        [("x", "a"), ("a", "lif"), ("x", "b"), ("b", "li"), ("lif", "li"), ("li", "y")],
        inputs=["x"], outputs=["y"],
    )
    xs = inputs((15, 2, 3), scale=2.0)
    graph = to_nir(graph_module, xs[0])
    assert set(graph.nodes) == {"x", "a", "lif", "b", "li", "y"}
    copy = from_nir(graph)
    assert isinstance(copy, Graph)
    run = jax.jit(lambda xs: Lift(copy)(xs)[0])
    np.testing.assert_allclose(run(xs), outputs(graph_module, xs), atol=1e-5)


def test_graph_with_two_inputs_takes_a_dict():
    graph = Graph({"sum": LIFBoxCell()}, [("a", "sum"), ("b", "sum"), ("sum", "out")],
                  inputs=["a", "b"], outputs=["out"])
    ones = jnp.full((1, 2), 6.0)
    z, state = graph({"a": ones, "b": ones})
    np.testing.assert_array_equal(z, 1.0)  # 0.1 * (6 + 6) crosses v_th = 1 in one step
    exported = to_nir(graph, {"a": ones, "b": ones})
    assert set(exported.inputs) == {"a", "b"}
    np.testing.assert_array_equal(from_nir(exported)({"a": ones, "b": ones})[0], z)


def test_parameter_conversion_spec_and_norse():
    cell = LIFCell(LIFParameters(tau_syn_inv=200.0, tau_mem_inv=100.0, v_leak=0.1, v_th=0.9, v_reset=-0.2))
    node = to_nir(cell, jnp.zeros((1, 2))).nodes["0"]
    np.testing.assert_allclose(node.tau_syn, 0.005)  # tau = 1 / tau_inv, in seconds
    np.testing.assert_allclose(node.tau_mem, 0.01)
    np.testing.assert_allclose(node.r, 1.0)
    np.testing.assert_allclose(node.w_in, 5.0)  # tau_syn / dt: NIR's input reaches i as dt / tau_syn * w_in
    voltages = [node.v_leak, node.v_threshold, node.v_reset]
    np.testing.assert_allclose(voltages, [[0.1] * 2, [0.9] * 2, [-0.2] * 2])
    norse = to_nir(cell, jnp.zeros((1, 2)), convention="norse").nodes["0"]
    np.testing.assert_allclose(norse.tau_syn, 5e-6)  # dt / tau_inv, as Norse 1.1 writes
    np.testing.assert_allclose(norse.w_in, 1.0)
    node = to_nir(IAFCell(dt=1e-4), jnp.zeros((1, 2)), dt=1e-4).nodes["0"]
    np.testing.assert_allclose(node.r, 1e4)  # v += dt * r * I must be v += I
    node = to_nir(LIFBoxCell(), jnp.zeros((1, 2))).nodes["0"]
    np.testing.assert_allclose([node.tau, node.r], [[0.01] * 2, [1.0] * 2])


def test_from_nir_maps_time_constants_and_gains():
    ones = np.ones(3)
    node = nir.CubaLIF(tau_syn=0.004 * ones, tau_mem=0.02 * ones, r=2 * ones, v_leak=0.1 * ones,
                       v_threshold=ones, v_reset=0 * ones, w_in=3 * ones)
    scale, cell = from_nir(node).layers
    assert cell.p.tau_syn_inv == pytest.approx(250.0) and cell.p.tau_mem_inv == pytest.approx(50.0)
    assert cell.p.v_leak == pytest.approx(0.1)
    np.testing.assert_allclose(scale.scale[...], 3 * 2 * DT / 0.004)  # w_in r dt / tau_syn
    li = from_nir(nir.LI(tau=0.01 * ones, r=ones, v_leak=0 * ones), dt=1e-4)
    assert li.p.tau_syn_inv == pytest.approx(1e4) and li.dt == 1e-4
    scale, iaf = from_nir(nir.IF(r=ones, v_threshold=ones)).layers
    np.testing.assert_allclose(scale.scale[...], DT)
    cell = from_nir(nir.LIF(tau=1e-5 * ones, r=ones, v_leak=0 * ones, v_threshold=ones), convention="norse")
    assert cell.p.tau_mem_inv == pytest.approx(100.0)
    lif = from_nir(nir.LIF(tau=0.01 * ones, r=ones, v_leak=0 * ones, v_threshold=ones), method="atan")
    assert lif.p.method == "atan" and lif.p.alpha == 2.0
