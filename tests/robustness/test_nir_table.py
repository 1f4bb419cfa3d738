"""Bad and edge inputs of spikejax.nir (issue 14): from_nir's graph checks, to_nir's arguments."""

from __future__ import annotations

import jax.numpy as jnp
import nir
import numpy as np

from tests.robustness._table import Case, check, params


def _affine(n_out, n_in):
    return nir.Affine(weight=np.full((n_out, n_in), 0.1), bias=np.full(n_out, 0.05))


def _lif(n=None):
    shape = () if n is None else (n,)
    return nir.LIF(tau=np.full(shape, 0.01), r=np.ones(shape), v_leak=np.zeros(shape),
                   v_threshold=np.ones(shape))


def _chain(*nodes, n_in=4, n_out=None, input_type=None):
    """input -> a -> b -> ... -> output, built without nir's type check."""
    names = "abcdefgh"[: len(nodes)]
    everything = {"input": nir.Input(np.array(input_type or [n_in])), **dict(zip(names, nodes)),
                  "output": nir.Output(None if n_out is None else np.array(n_out))}
    path = ["input", *names, "output"]
    return nir.NIRGraph(nodes=everything, edges=list(zip(path[:-1], path[1:])), type_check=False)


def _graph(nodes, edges):
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def _from_nir(graph, **kwargs):
    from spikejax.nir import from_nir

    return from_nir(graph, **kwargs)


def _to_nir(model, sample, **kwargs):
    from spikejax.nir import to_nir

    return to_nir(model, sample, **kwargs)


def _linear(n_in, n_out):
    from flax import nnx

    return nnx.Linear(n_in, n_out, rngs=nnx.Rngs(0))


def _mutated(node, **fields):
    for key, value in fields.items():
        setattr(node, key, value)  # nir checks shapes when a node is made, not afterwards
    return node


def _recurrent(n, n_rec):
    return _graph({"input": nir.Input(np.array([n])), "lif": _lif(n), "w_rec": _affine(n_rec, n_rec),
                   "output": nir.Output(np.array([n]))},
                  [("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")])


def _conv_net(n_flat):
    conv = nir.Conv2d(input_shape=None, weight=np.full((2, 1, 3, 3), 0.1), stride=1, padding=0,
                      dilation=1, groups=1, bias=np.zeros(2))
    return _chain(conv, _lif(), nir.AvgPool2d(kernel_size=2, stride=2, padding=(0, 0)),
                  nir.Flatten(input_type=None, start_dim=0), _affine(3, n_flat), input_type=[1, 1, 8, 8])


def _run(module, xs):
    from spikejax.nn import Lift

    return Lift(module)(jnp.asarray(xs, jnp.float32))[0]


def _first_step_membrane_with_recurrent_bias():
    """snnTorch's RLeaky layout with a recurrent Affine bias of 0.3: v_1 = I_1 + b_rec."""
    sub = _graph({"input": nir.Input(np.array([2])),
                  "lif": nir.LIF(tau=np.full(2, 0.01), r=np.ones(2), v_leak=np.zeros(2),
                                 v_threshold=np.ones(2)),
                  "w_rec": nir.Affine(weight=np.eye(2), bias=np.full(2, 0.3)),
                  "output": nir.Output(np.array([2]))},
                 [("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")])
    module = _from_nir(sub, dt=0.01)  # dt = tau: v_1 = r * (input + bias)
    _, state = module(jnp.full((1, 2), 0.2))
    return np.asarray(state["nodes"]["lif"].v)


EDGE = "NIR edge"
FROM_NIR_CASES = [
    Case("from_nir_lif6_after_affine8", lambda: _from_nir(_chain(_affine(8, 4), _lif(6))), ValueError,
         (EDGE, "'a' (Affine)", "(8,)", "'b' (LIF)", "(6,)")),
    Case("from_nir_single_value_lif_carries_8_into_linear6",
         lambda: _from_nir(_chain(_affine(8, 4), _lif(), nir.Linear(weight=np.ones((2, 6))))), ValueError,
         (EDGE, "'b' (LIF)", "(8,)", "'c' (Linear)", "(6,)")),
    Case("from_nir_input_type_5_into_affine_of_4", lambda: _from_nir(_chain(_affine(8, 4), n_in=5)),
         ValueError, (EDGE, "'input' (Input)", "(5,)", "'a' (Affine)", "(4,)")),
    Case("from_nir_output_type_3_after_affine_of_8",
         lambda: _from_nir(_chain(_affine(8, 4), n_out=[3])), ValueError,
         ("'a' (Affine)", "(8,)", "Output node 'output'", "(3,)")),
    Case("from_nir_two_edges_of_8_and_6_into_one_node",
         lambda: _from_nir(_graph({"input": nir.Input(np.array([4])), "a": _affine(8, 4), "b": _affine(6, 4),
                                   "n": _lif(), "output": nir.Output(None)},
                                  [("input", "a"), ("input", "b"), ("a", "n"), ("b", "n"), ("n", "output")])),
         ValueError, (EDGE, "'b' -> 'n'", "(6,)", "(8,)", "edge 'a' -> 'n'")),
    Case("from_nir_nested_recurrent_weights_of_4_for_3_neurons",
         lambda: _from_nir(_chain(_affine(3, 4), _recurrent(3, 4))), ValueError,
         (EDGE, "'b.lif'", "(3,)", "'b.w_rec'", "(4,)")),
    Case("from_nir_conv_pool_flatten_18_into_affine_of_20", lambda: _from_nir(_conv_net(20)), ValueError,
         (EDGE, "'d' (Flatten)", "(18,)", "'e' (Affine)", "(20,)")),
    Case("from_nir_flatten_start_dim_past_the_sample",
         lambda: _from_nir(_chain(nir.Flatten(input_type=None, start_dim=1))), ValueError,
         ("'a' (Flatten)", "start_dim=1", "(4,)")),
    Case("from_nir_unknown_node_type", lambda: _from_nir(nir.I(r=np.ones(2))), TypeError,
         ("'graph'", "of type I", "supported are")),
    Case("from_nir_unknown_node_type_in_a_graph",
         lambda: _from_nir(_chain(nir.I(r=np.ones(4)))), TypeError, ("'a'", "of type I", "supported are")),
    Case("from_nir_graph_without_output",
         lambda: _from_nir(_graph({"input": nir.Input(np.array([2])), "lif": _lif(2)}, [("input", "lif")])),
         ValueError, ("Input and Output nodes", "outputs []")),
    Case("from_nir_graph_without_input",
         lambda: _from_nir(_graph({"lif": _lif(2), "output": nir.Output(np.array([2]))}, [("lif", "output")])),
         ValueError, ("Input and Output nodes", "inputs []")),
    Case("from_nir_disconnected_node",
         lambda: _from_nir(_graph({"input": nir.Input(np.array([2])), "a": _lif(2), "island": _lif(2),
                                   "output": nir.Output(np.array([2]))},
                                  [("input", "a"), ("a", "output"), ("island", "output")])),
         ValueError, ("['island']", "cannot be reached from the Input nodes")),
    Case("from_nir_node_leading_to_no_output",
         lambda: _from_nir(_graph({"input": nir.Input(np.array([2])), "a": _lif(2), "dead_end": _lif(2),
                                   "output": nir.Output(np.array([2]))},
                                  [("input", "a"), ("a", "output"), ("a", "dead_end")])),
         ValueError, ("['dead_end']", "lead to no Output node")),
    Case("from_nir_edge_to_a_missing_node",
         lambda: _from_nir(_graph({"input": nir.Input(np.array([2])), "a": _lif(2),
                                   "output": nir.Output(np.array([2]))},
                                  [("input", "a"), ("a", "output"), ("a", "ghost")])),
         ValueError, ("('a', 'ghost')", "'ghost' is not one of its nodes")),
    Case("from_nir_edge_into_the_input",
         lambda: _from_nir(_graph({"input": nir.Input(np.array([2])), "a": _lif(2),
                                   "output": nir.Output(np.array([2]))},
                                  [("input", "a"), ("a", "output"), ("a", "input")])),
         ValueError, ("('a', 'input')", "leads into an Input node")),
    Case("from_nir_tau_of_4_and_r_of_5", lambda: _from_nir(_mutated(_lif(4), r=np.ones(5))), ValueError,
         ("'graph' (LIF)", "different shapes", "tau (4,)", "r (5,)")),
    Case("from_nir_nan_threshold",
         lambda: _from_nir(_mutated(_lif(3), v_threshold=np.array([1.0, np.nan, 1.0]))), ValueError,
         ("'graph' (LIF)", "non-finite v_threshold", "nan", "(1,)")),
    Case("from_nir_inf_weight",
         lambda: _from_nir(nir.Affine(weight=np.array([[1.0, np.inf]]), bias=np.zeros(1))), ValueError,
         ("'graph' (Affine)", "non-finite weight", "inf")),
    Case("from_nir_empty_parameter", lambda: _from_nir(nir.Scale(scale=np.zeros(0))), ValueError,
         ("'graph' (Scale)", "empty scale")),
    Case("from_nir_unsupported_convention", lambda: _from_nir(_lif(2), convention="snntorch"), ValueError,
         ("convention", "'snntorch'", "spec", "norse")),
    Case("from_nir_not_a_nir_node", lambda: _from_nir({"input": None}), TypeError, ("graph", "dict")),
    Case("from_nir_snntorch_batch_axis_on_input_and_output_is_fine",
         lambda: _run(_from_nir(_chain(_affine(8, 4), _lif(), input_type=[1, 4], n_out=[1, 8])),
                      np.ones((3, 2, 4))),
         ok=lambda ys: np.testing.assert_equal(ys.shape, (3, 2, 8))),
    Case("from_nir_recurrent_bias_reaches_the_first_step", _first_step_membrane_with_recurrent_bias,
         ok=lambda v: np.testing.assert_allclose(v, [[0.5, 0.5]], atol=1e-6)),
]


def _lif_cell(**parameters):
    from spikejax.functional import LIFParameters
    from spikejax.nn import LIFCell

    return LIFCell(LIFParameters(**parameters))


def _sequential(*layers):
    from spikejax.nn import SequentialState

    return SequentialState(*layers)


def _nan_linear():
    model = _linear(2, 2)
    model.kernel[...] = jnp.array([[1.0, jnp.nan], [0.0, 1.0]])
    return model


def _two_input_graph():
    from spikejax.nir import Graph

    return Graph({"n": _lif_cell()}, [("a", "n"), ("b", "n"), ("n", "y")], inputs=["a", "b"], outputs=["y"])


def _conv(n_in, n_out):
    from flax import nnx

    return nnx.Conv(n_in, n_out, (3, 3), rngs=nnx.Rngs(0))


def _mutated_dropout():
    from flax import nnx

    return nnx.Dropout(0.5)


TO_NIR_CASES = [
    Case("to_nir_sample_of_3_features_into_linear_of_4",
         lambda: _to_nir(_linear(4, 2), jnp.zeros((1, 3))), ValueError,
         ("sample_input of shape (1, 3)", "module '0' (Linear)", "(3,)", "4 features")),
    Case("to_nir_sample_of_1_channel_into_conv_of_2",
         lambda: _to_nir(_conv(2, 3), jnp.zeros((1, 8, 8, 1))), ValueError,
         ("sample_input of shape (1, 8, 8, 1)", "module '0' (Conv)", "2 features")),
    Case("to_nir_sample_without_batch_axis", lambda: _to_nir(_lif_cell(), jnp.zeros(3)), ValueError,
         ("sample_input", "rank 2", "(B, ...)", "(3,)")),
    Case("to_nir_sample_a_list", lambda: _to_nir(_lif_cell(), [[0.0, 1.0]]), TypeError,
         ("sample_input", "list")),
    Case("to_nir_lif_threshold_of_5_after_linear_of_4",
         lambda: _to_nir(_sequential(_linear(3, 4), _lif_cell(v_th=jnp.ones(5))), jnp.zeros((1, 3))),
         ValueError, ("module '1' (LIFCell)", "(4,)", "v_th", "(5,)")),
    Case("to_nir_lif_threshold_wider_than_the_sample",
         lambda: _to_nir(_lif_cell(v_th=jnp.ones((2, 4))), jnp.zeros((1, 4))), ValueError,
         ("module '0' (LIFCell)", "v_th", "(2, 4)", "broadcast to (4,)")),
    Case("to_nir_nan_weight", lambda: _to_nir(_nan_linear(), jnp.zeros((1, 2))), ValueError,
         ("to_nir", "'0' (Affine)", "non-finite weight", "nan")),
    Case("to_nir_unsupported_convention",
         lambda: _to_nir(_lif_cell(), jnp.zeros((1, 2)), convention="snntorch"), ValueError,
         ("convention", "'snntorch'", "spec")),
    Case("to_nir_graph_with_two_inputs_and_one_sample",
         lambda: _to_nir(_two_input_graph(), jnp.zeros((1, 2))), ValueError,
         ("sample_input", "['a', 'b']")),
    Case("to_nir_unknown_module", lambda: _to_nir(_mutated_dropout(), jnp.zeros((1, 2))), TypeError,
         ("to_nir cannot export a Dropout", "supported are")),
]


@params(FROM_NIR_CASES)
def test_from_nir_table(case):
    check(case)


@params(TO_NIR_CASES)
def test_to_nir_table(case):
    check(case)
