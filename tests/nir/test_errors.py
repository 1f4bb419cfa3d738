"""Bad arguments and unsupported modules or nodes raise errors that say what is wrong."""

from __future__ import annotations

import jax.numpy as jnp
import nir
import numpy as np
import pytest
from flax import nnx

from spikejax.functional import LIFBoxParameters
from spikejax.nir import AvgPool2d, Flatten, Graph, SumPool2d, from_nir, to_nir
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
        (LIFBoxCell(LIFBoxParameters(reset_method="subtract")), ValueError, "reset_method='value'"),
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
    with pytest.raises(TypeError, match="NIR node 'graph' of type Delay"):
        from_nir(nir.Delay(delay=ONE))
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
