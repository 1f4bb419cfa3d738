"""Bad arguments and unsupported modules or nodes raise errors that say what is wrong."""

from __future__ import annotations

import jax.numpy as jnp
import nir
import numpy as np
import pytest
from flax import nnx

from spikejax.functional import LIFBoxParameters, LIFParameters
from spikejax.nir import AvgPool2d, Flatten, Graph, Scale, SumPool2d, from_nir, to_nir
from spikejax.nn import ALIFCell, LIFBoxCell, LIFCell, LIFRecurrentCell, SequentialState

ONE = np.ones(2)
SAMPLE = jnp.zeros((1, 2))


def linear(n_in, n_out):
    return nnx.Linear(n_in, n_out, kernel_init=nnx.initializers.ones, rngs=nnx.Rngs(0))


def lif_node(**changes):
    fields = dict(tau=0.01 * ONE, r=ONE, v_leak=0 * ONE, v_threshold=ONE)
    return nir.LIF(**{**fields, **changes})


@pytest.mark.parametrize(
    "model, error, match",
    [
        (ALIFCell(), TypeError, "cannot export a ALIFCell: NIR has nodes for the models"),
        (nnx.Dropout(0.5), TypeError, "cannot export a Dropout; supported are nnx.Linear"),
        (LIFCell(dt=1e-4), ValueError, r"LIFCell.dt is 0.0001, expected dt=0.001"),
        (LIFBoxCell(LIFBoxParameters(reset_mechanism="subtract")), ValueError, "reset_mechanism='value'"),
        (SequentialState(LIFCell(), return_hidden=True), ValueError, "return_hidden=True"),
        (LIFRecurrentCell(3, 4), ValueError, r"takes samples of shape \(3,\), got \(2,\)"),
    ],
)
def test_to_nir_rejects_what_nir_cannot_hold(model, error, match):
    with pytest.raises(error, match=match):
        to_nir(model, SAMPLE)


def test_to_nir_checks_its_arguments():
    with pytest.raises(ValueError, match="convention must be one of"):
        to_nir(LIFCell(), SAMPLE, convention="snntorch")
    with pytest.raises(ValueError, match="dt must be positive"):
        to_nir(LIFCell(), SAMPLE, dt=0.0)
    with pytest.raises(ValueError, match=r"sample_input must have at least rank 2 .*\(B, \.\.\.\)"):
        to_nir(LIFCell(), jnp.zeros(2))
    with pytest.raises(ValueError, match="put a spikejax.nir.Flatten before it"):
        to_nir(linear(2, 3), jnp.zeros((1, 4, 2)))
    graph = Graph({"n": LIFCell()}, [("a", "n"), ("b", "n"), ("n", "y")], inputs=["a", "b"], outputs=["y"])
    with pytest.raises(ValueError, match=r"sample_input must have one array per input \['a', 'b'\]"):
        to_nir(graph, SAMPLE)


def test_to_nir_rejects_convolutions_nir_cannot_express():
    uneven = nnx.Conv(1, 1, (2, 2), strides=2, padding="SAME", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="same on both sides"):
        to_nir(uneven, jnp.zeros((1, 5, 5, 1)))
    circular = nnx.Conv(1, 1, (3, 3), padding="CIRCULAR", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="'CIRCULAR' has no NIR equivalent"):
        to_nir(circular, jnp.zeros((1, 5, 5, 1)))
    three_d = nnx.Conv(1, 1, (2, 2, 2), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="in 1 or 2 dimensions"):
        to_nir(three_d, jnp.zeros((1, 4, 4, 4, 1)))


def test_from_nir_names_unsupported_nodes():
    with pytest.raises(TypeError, match="NIR node 'graph' of type I"):
        from_nir(nir.I(r=ONE))
    graph = nir.NIRGraph(
        nodes={"input": nir.Input(np.array([2])), "integrator": nir.I(r=ONE),
               "output": nir.Output(np.array([2]))},
        edges=[("input", "integrator"), ("integrator", "output")],
        type_check=False,
    )
    with pytest.raises(TypeError, match="NIR node 'integrator' of type I;"):
        from_nir(graph)


def test_from_nir_checks_its_arguments():
    with pytest.raises(TypeError, match="graph must be a nir.NIRGraph or another NIR node, got dict"):
        from_nir({})
    with pytest.raises(TypeError, match="got a lone Input"):
        from_nir(nir.Input(np.array([2])))
    with pytest.raises(ValueError, match="dt must be positive"):
        from_nir(lif_node(), dt=-1.0)
    with pytest.raises(ValueError, match="convention must be one of"):
        from_nir(lif_node(), convention="Norse")
    with pytest.raises(ValueError, match="unknown surrogate|surrogate"):
        from_nir(lif_node(), method="no such surrogate")


def test_from_nir_rejects_malformed_nodes_and_graphs():
    message = r"NIR node 'graph' \(LIF\) has tau \[0.01, -0.01\], expected positive"
    with pytest.raises(ValueError, match=message):
        from_nir(lif_node(tau=np.array([0.01, -0.01])))
    with pytest.raises(ValueError, match=r"has weight of shape \(2, 2, 2\), expected \(out, in\)"):
        from_nir(nir.Linear(weight=np.ones((2, 2, 2))))
    with pytest.raises(ValueError, match=r"expected 4 axes \(out, in / groups, height, width\)"):
        conv = nir.Conv2d(input_shape=None, weight=np.ones((2, 1, 3)), stride=1, padding=0, dilation=1,
                          groups=1, bias=np.zeros(2))
        from_nir(conv)
    no_output = nir.NIRGraph(nodes={"input": nir.Input(np.array([2])), "lif": lif_node()},
                             edges=[("input", "lif")], type_check=False)
    message = r"needs Input and Output nodes, got inputs \['input'\] and outputs \[\]"
    with pytest.raises(ValueError, match=message):
        from_nir(no_output)


def test_from_nir_warns_about_time_constants_below_dt():
    with pytest.warns(UserWarning, match=r"tau 1e-05 < dt = 0.001.*convention='norse'"):
        from_nir(lif_node(tau=1e-5 * ONE))


def test_graph_checks_its_structure():
    with pytest.raises(ValueError, match="edge .* names 'missing', which is neither a node"):
        Graph({"n": LIFCell()}, [("x", "n"), ("n", "missing")], inputs=["x"], outputs=["y"])
    with pytest.raises(ValueError, match=r"nodes \['island'\] cannot be reached from the inputs"):
        Graph({"n": LIFCell(), "island": LIFCell()}, [("x", "n"), ("n", "y"), ("island", "y")],
              inputs=["x"], outputs=["y"])
    with pytest.raises(ValueError, match="at least one input and one output"):
        Graph({"n": LIFCell()}, [], inputs=[], outputs=["y"])
    with pytest.raises(TypeError, match=r"nodes\['n'\] must be callable, got int"):
        Graph({"n": 3}, [("x", "n"), ("n", "y")], inputs=["x"], outputs=["y"])
    with pytest.raises(ValueError, match="leads into an input or out of an output"):
        Graph({"n": LIFCell()}, [("x", "n"), ("n", "y"), ("y", "n")], inputs=["x"], outputs=["y"])
    two = Graph({"n": LIFCell()}, [("a", "n"), ("b", "n"), ("n", "y")], inputs=["a", "b"], outputs=["y"])
    with pytest.raises(ValueError, match=r"a dict with one array per input \['a', 'b'\], got \['a'\]"):
        two({"a": SAMPLE})
    one = Graph({"n": LIFCell()}, [("x", "n"), ("n", "y")], inputs=["x"], outputs=["y"])
    with pytest.raises(TypeError, match="must be an array for a graph with one input, got a dict"):
        one({"x": SAMPLE})


def test_layers_check_their_arguments():
    with pytest.raises(ValueError, match=r"Flatten\(start_dim=2, end_dim=-1\) needs 0 <= start_dim"):
        Flatten(2)(jnp.zeros((1, 3, 4)))
    with pytest.raises(ValueError, match=r"x must have rank 4 with layout \(B, H, W, C\)"):
        SumPool2d(2)(jnp.zeros((1, 4, 4)))
    with pytest.raises(ValueError, match=r"kernel_size must be an int or two ints"):
        AvgPool2d((2, 2, 2))
    with pytest.raises(ValueError, match=r"padding must be an int >= 0, got -1"):
        AvgPool2d(2, padding=-1)


def small_graph(extra_nodes=(), extra_edges=()):
    nodes = {"input": nir.Input(np.array([2])), "a": nir.Linear(weight=np.eye(2)), "lif": lif_node(),
             "output": nir.Output(np.array([2])), **dict(extra_nodes)}
    edges = [("input", "a"), ("a", "lif"), ("lif", "output"), *extra_edges]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def test_from_nir_names_nodes_off_the_path_from_input_to_output():
    from_nir(small_graph())
    # Before: a node fed by nothing was only caught by Graph with a message in spikejax terms,
    # and a node that leads nowhere was computed and thrown away without a word.
    with pytest.raises(ValueError, match=r"nodes \['island'\] cannot be reached from the Input nodes"):
        from_nir(small_graph({"island": lif_node()}, [("island", "output")]))
    with pytest.raises(ValueError, match=r"nodes \['dead_end'\] lead to no Output node"):
        from_nir(small_graph({"dead_end": lif_node()}, [("a", "dead_end")]))
    with pytest.raises(ValueError, match=r"has the edge \('lif', 'nowhere'\), but 'nowhere' is not one of its nodes"):
        from_nir(small_graph(extra_edges=[("lif", "nowhere")]))
    with pytest.raises(ValueError, match=r"has the edge \('lif', 'input'\), which leads into an Input node"):
        from_nir(small_graph(extra_edges=[("lif", "input")]))


def test_from_nir_names_neuron_parameters_of_different_shapes():
    node = lif_node()
    node.r = np.ones(5)  # nir asserts equal shapes when a node is made, not afterwards
    with pytest.raises(ValueError, match=r"NIR node 'graph' \(LIF\) has parameters of different shapes: "
                                         r"tau \(2,\), r \(5,\)"):
        from_nir(node)
    cuba = nir.CubaLIF(tau_syn=0.01 * ONE, tau_mem=0.01 * ONE, r=ONE, v_leak=0 * ONE, v_threshold=ONE)
    cuba.w_in = np.ones(3)
    graph = small_graph({"cuba": cuba}, [("lif", "cuba"), ("cuba", "output")])
    with pytest.raises(ValueError, match=r"NIR node 'cuba' \(CubaLIF\) has parameters of different shapes"):
        from_nir(graph)


@pytest.mark.parametrize(
    "node, field",
    [
        (lif_node(v_threshold=np.array([1.0, np.nan])), "v_threshold"),
        (lif_node(v_leak=np.array([0.0, -np.inf])), "v_leak"),
        (nir.Affine(weight=np.array([[1.0, np.inf]]), bias=np.zeros(1)), "weight"),
        (nir.Affine(weight=np.ones((1, 2)), bias=np.array([np.nan])), "bias"),
        (nir.Scale(scale=np.array([1.0, np.nan])), "scale"),
        (nir.IF(r=ONE, v_threshold=np.array([np.inf, 1.0])), "v_threshold"),
    ],
)
def test_from_nir_rejects_non_finite_parameters(node, field):
    """Before: a NaN threshold was accepted and the layer never fired; an inf weight gave NaN."""
    with pytest.raises(ValueError, match=rf"NIR node 'graph' \({type(node).__name__}\) has a non-finite {field}"):
        from_nir(node)


def test_from_nir_rejects_a_conv_bias_of_the_wrong_size():
    conv = nir.Conv2d(input_shape=None, weight=np.ones((2, 1, 3, 3)), stride=1, padding=0, dilation=1,
                      groups=1, bias=np.zeros(3))
    with pytest.raises(ValueError, match=r"has bias of shape \(3,\) for 2 output channels"):
        from_nir(conv)


@pytest.mark.parametrize(
    "model, sample, match",
    [
        (linear(4, 2), jnp.zeros((1, 3)),
         r"module '0' \(Linear\) gets samples of shape \(3,\) from sample_input of shape \(1, 3\), "
         r"expected 4 features"),
        (nnx.Conv(2, 3, (3, 3), rngs=nnx.Rngs(0)), jnp.zeros((1, 8, 8, 1)),
         r"module '0' \(Conv\) gets samples of shape \(8, 8, 1\) .* expected 2 features"),
        (SequentialState(linear(3, 4), LIFCell(LIFParameters(v_th=jnp.ones(5)))), jnp.zeros((1, 3)),
         r"module '1' \(LIFCell\) gets samples of shape \(4,\) .* parameter v_th has shape \(5,\)"),
        (LIFCell(LIFParameters(v_th=jnp.ones((2, 4)))), jnp.zeros((1, 4)),
         r"parameter v_th has shape \(2, 4\); expected parameters that broadcast to \(4,\)"),
        (SequentialState(Scale(jnp.ones(5)), LIFCell()), jnp.zeros((1, 4)),
         r"the Scale before module '1' has scale of shape \(5,\), which does not fit samples of shape \(4,\)"),
    ],
)
def test_to_nir_names_the_module_a_wrong_sample_input_shape_reaches(model, sample, match):
    """Before: errors from inside JAX (dot_general, conv) or numpy (broadcast_to), naming nothing."""
    with pytest.raises(ValueError, match=match):
        to_nir(model, sample)


def test_to_nir_rejects_non_finite_weights():
    model = linear(2, 2)
    model.kernel[...] = jnp.array([[1.0, jnp.nan], [0.0, 1.0]])
    with pytest.raises(ValueError, match=r"to_nir: NIR node '0' \(Affine\) has a non-finite weight: nan"):
        to_nir(model, SAMPLE)
