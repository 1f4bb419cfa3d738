"""from_nir checks the shapes where nodes meet, from the nodes' parameters, before building
anything: a mismatch names the edge (both nodes) and both shapes, also in graphs that skip nir's
type check (``type_check=False``) or come from a file read without it."""

from __future__ import annotations

import re

import jax.numpy as jnp
import nir
import numpy as np
import pytest

from spikejax.nir import from_nir
from spikejax.nn import Lift


def affine(n_out, n_in, seed=0):
    rng = np.random.default_rng(seed)
    return nir.Affine(weight=rng.normal(0, 0.5, (n_out, n_in)), bias=rng.normal(0, 0.1, n_out))


def lif(n=None, value=0.01):
    """A LIF population of ``n`` neurons with equal parameters, or single values (``n=None``)."""
    shape = () if n is None else (n,)
    full = lambda v: np.full(shape, v)
    return nir.LIF(tau=full(value), r=full(1.0), v_leak=full(0.0), v_threshold=full(1.0))


def graph(nodes, edges):
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def chain(*nodes, n_in=4, n_out=None):
    """input -> nodes[0] -> ... -> output, named a, b, c, ..."""
    names = "abcdefgh"[: len(nodes)]
    everything = {"input": nir.Input(np.array([n_in])), **dict(zip(names, nodes)),
                  "output": nir.Output(None if n_out is None else np.array([n_out]))}
    path = ["input", *names, "output"]
    return graph(everything, list(zip(path[:-1], path[1:])))


def raises(error_text):
    return pytest.raises(ValueError, match=re.escape(error_text))


def test_the_issue_example_a_lif_of_6_after_an_affine_of_8_is_an_error():
    """Before: the LIF's equal parameters became floats and it ran silently as 8 neurons."""
    g = chain(affine(8, 4), lif(6))
    with raises("NIR edge 'a' -> 'b': 'a' (Affine) gives samples of shape (8,), but 'b' (LIF) takes (6,)"):
        from_nir(g)


def test_a_mismatch_after_a_neuron_of_single_values_is_found_by_following_the_shape():
    """Before: the error came from inside JAX (dot_general) on the first call, naming no node."""
    g = chain(affine(8, 4), lif(), nir.Linear(weight=np.ones((2, 6))))
    with raises("NIR edge 'b' -> 'c': 'b' (LIF) gives samples of shape (8,), but 'c' (Linear) takes (6,)"):
        from_nir(g)
    good = chain(affine(8, 4), lif(), nir.Linear(weight=np.ones((2, 8))), n_out=2)
    ys, _ = Lift(from_nir(good))(jnp.ones((3, 2, 4)))
    assert ys.shape == (3, 2, 2)


def test_a_graph_from_a_file_read_without_type_check_is_checked(tmp_path):
    g = chain(affine(8, 4), lif(6), n_out=6)
    nir.write(tmp_path / "bad.nir", g)
    read = nir.read(tmp_path / "bad.nir", type_check=False)
    with raises("'a' (Affine) gives samples of shape (8,), but 'b' (LIF) takes (6,)"):
        from_nir(read)


def test_inputs_and_outputs_are_checked_against_their_declared_shapes():
    with raises("NIR edge 'input' -> 'a': 'input' (Input) gives samples of shape (5,), but 'a' (Affine) takes (4,)"):
        from_nir(chain(affine(8, 4), n_in=5))
    with raises("'a' (Affine) gives samples of shape (8,), but the Output node 'output' is declared with shape (3,)"):
        from_nir(chain(affine(8, 4), n_out=3))


def test_snntorch_batch_axis_on_input_and_output_is_accepted():
    g = graph({"input": nir.Input(np.array([1, 4])), "a": affine(8, 4), "b": lif(),
               "output": nir.Output(np.array([1, 8]))},
              [("input", "a"), ("a", "b"), ("b", "output")])
    ys, _ = Lift(from_nir(g))(jnp.ones((2, 3, 4)))
    assert ys.shape == (2, 3, 8)


def test_two_edges_into_one_node_must_agree():
    g = graph({"input": nir.Input(np.array([4])), "a": affine(8, 4), "b": affine(6, 4, seed=1),
               "n": lif(), "output": nir.Output(None)},
              [("input", "a"), ("input", "b"), ("a", "n"), ("b", "n"), ("n", "output")])
    with raises("NIR edge 'b' -> 'n': 'b' (Affine) gives samples of shape (6,), but 'n' (LIF) takes (8,) "
                "(from edge 'a' -> 'n'"):
        from_nir(g)


def conv(n_out, n_in, input_shape=None):
    weight = np.random.default_rng(5).normal(0, 0.5, (n_out, n_in, 3, 3))
    return nir.Conv2d(input_shape=input_shape, weight=weight, stride=1, padding=0, dilation=1,
                      groups=1, bias=np.zeros(n_out))


def conv_net(n_flat, channels_in=1, input_type=(1, 1, 8, 8)):
    """snnTorch's layout: Conv2d without input_shape, an Input with the batch axis, AvgPool2d
    with no types: 8x8 -> conv 3x3 -> 2 x 6 x 6 -> pool 2 -> 2 x 3 x 3 -> flatten 18."""
    nodes = {"input": nir.Input(np.array(input_type)), "c": conv(2, channels_in), "l": lif(),
             "p": nir.AvgPool2d(kernel_size=2, stride=2, padding=(0, 0)),
             "f": nir.Flatten(input_type=None, start_dim=0), "a": affine(3, n_flat),
             "output": nir.Output(np.array([1, 3]))}
    path = list(nodes)
    return graph(nodes, list(zip(path[:-1], path[1:])))


def test_shapes_flow_through_convolution_pooling_and_flatten():
    from_nir(conv_net(18))
    with raises("NIR edge 'f' -> 'a': 'f' (Flatten) gives samples of shape (18,), but 'a' (Affine) takes (20,)"):
        from_nir(conv_net(20))
    with raises("'input' (Input) gives samples of shape (3, 8, 8), but 'c' (Conv2d) takes (1, ?, ?)"):
        from_nir(conv_net(18, input_type=(3, 8, 8)))


def test_conv_with_input_shape_checks_its_spatial_size():
    g = graph({"input": nir.Input(np.array([1, 8, 8])), "c": conv(2, 1, input_shape=(8, 8)),
               "d": conv(2, 2, input_shape=(5, 5)), "output": nir.Output(None)},
              [("input", "c"), ("c", "d"), ("d", "output")])
    with raises("'c' (Conv2d) gives samples of shape (2, 6, 6), but 'd' (Conv2d) takes (2, 5, 5)"):
        from_nir(g)


def recurrent(n, w_rec_size):
    return graph({"input": nir.Input(np.array([n])), "lif": lif(n),
                  "w_rec": affine(w_rec_size, w_rec_size, seed=2), "output": nir.Output(np.array([n]))},
                 [("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")])


def test_nested_graphs_are_checked_inside_and_where_they_meet_the_outer_graph():
    with raises("NIR edge 'b.lif' -> 'b.w_rec': 'b.lif' (LIF) gives samples of shape (3,), but "
                "'b.w_rec' (Affine) takes (4,)"):
        from_nir(chain(affine(3, 4), recurrent(3, 4)))
    with raises("NIR edge 'a' -> 'b': 'a' (Affine) gives samples of shape (8,), but 'b' (NIRGraph) takes (3,)"):
        from_nir(chain(affine(8, 4), recurrent(3, 3)))
    from_nir(chain(affine(3, 4), recurrent(3, 3), n_out=3))


def test_a_flatten_that_does_not_fit_its_input_is_named():
    g = chain(nir.Flatten(input_type=None, start_dim=1))
    with raises("NIR node 'a' (Flatten) has start_dim=1 and end_dim=-1, which do not fit its input of shape (4,)"):
        from_nir(g)
