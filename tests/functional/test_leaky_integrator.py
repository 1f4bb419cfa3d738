import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from spikejax.functional import (
    LI_MODEL,
    LIParameters,
    LIState,
    li_feed_forward_step,
    li_step,
    run,
)
from spikejax.nn import LI, LICell, LILinearCell, SequentialState

# The LIF membrane and current without the spike: v follows LIF's TRACE until LIF first fires.
TRACE = [0.1, 0.27, 0.487, 0.7335, 0.9963]


def test_feed_forward_trace_from_rest():
    state, vs = None, []
    for _ in range(5):
        v, state = li_feed_forward_step(jnp.ones(4), state)
        vs.append(v)
    np.testing.assert_allclose(np.stack(vs), np.repeat(np.array(TRACE)[:, None], 4, 1), atol=1e-4)
    np.testing.assert_array_equal(vs[-1], state.v)


def _loss(xs, step):
    states, vs = run(step, None, xs, record_states=True)
    return jnp.sum(states.v) + jnp.sum(vs), states


def test_feed_forward_equals_norse(reference):
    ref = reference("norse_lif_family")["li"]["feed_forward"]
    xs = jnp.asarray(ref["xs"], jnp.float32)
    step = lambda x, s: li_feed_forward_step(x, s, LIParameters())
    (_, states), grad = jax.value_and_grad(_loss, has_aux=True)(xs, step)
    np.testing.assert_allclose(states.v, ref["out"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(states.v, ref["v"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(states.i, ref["i"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(grad, ref["grad_xs"], rtol=1e-4, atol=1e-4)


def test_li_step_equals_norse(reference):
    ref = reference("norse_lif_family")["li"]["linear"]
    xs = jnp.asarray(ref["xs"], jnp.float32)
    w = jnp.asarray(ref["input_weights"], jnp.float32)

    def loss(xs, w):
        return _loss(xs, lambda x, s: li_step(x, s, w))

    (_, states), (gx, gw) = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(xs, w)
    np.testing.assert_allclose(states.v, ref["v"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(states.i, ref["i"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gx, ref["grad_xs"], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(gw, ref["grad_input_weights"], rtol=1e-4, atol=1e-3)


def test_rest_state_and_model_description():
    p = LIParameters(v_leak=jnp.array([0.0, -0.5, 1.0]))
    v, state = li_feed_forward_step(jnp.zeros((2, 3)), None, p)
    np.testing.assert_allclose(v, np.tile([0.0, -0.5, 1.0], (2, 1)))
    _, state = li_step(jnp.ones((2, 5)), None, jnp.zeros((3, 5)), p)
    assert state.i.shape == (2, 3)
    assert LI_MODEL.recurrent_step is None and not LI_MODEL.output_dtype_spikes


def test_modules_follow_the_functional_steps():
    xs = jax.random.uniform(jax.random.key(0), (6, 2, 3))
    vs, final = LI()(xs)
    _, expected = run(li_feed_forward_step, None, xs)
    np.testing.assert_allclose(vs, expected, rtol=1e-6)
    v, _ = LICell()(xs[0])
    np.testing.assert_allclose(v, expected[0], rtol=1e-6)

    cell = LILinearCell(3, 4, rngs=nnx.Rngs(1))
    w = cell.input_weights[...]
    assert w.shape == (4, 3)
    # Norse's initialisation: standard normal scaled by 1 / sqrt(input_size).
    big = LILinearCell(400, 100).input_weights[...]
    assert abs(float(jnp.std(big)) - 0.05) < 0.005
    state, outs = None, []
    for x in xs:
        v, state = cell(x, state)
        outs.append(v)
    _, expected = run(lambda x, s: li_step(x, s, w), None, xs)
    np.testing.assert_allclose(np.stack(outs), expected, rtol=1e-5, atol=1e-6)


def test_linear_cell_trains_and_composes():
    model = SequentialState(LILinearCell(3, 2, learnable=("tau_mem_inv",)))
    x = jnp.ones((4, 3))

    def loss(model):
        v, _ = model(x)
        return jnp.sum(v**2)

    grads = nnx.grad(loss)(model)
    leaves = jax.tree_util.tree_leaves(grads)
    assert len(leaves) == 2 and all(np.any(np.asarray(g) != 0) for g in leaves)


def test_transforms_and_dtypes(model_checks):
    xs = jax.random.uniform(jax.random.key(0), (20, 3, 4)) * 2 * LI_MODEL.example_drive
    vs = model_checks.transforms(lambda x, s: li_feed_forward_step(x, s), xs)
    assert np.all(np.asarray(vs)[-1] > 0)
    model_checks.dtypes(lambda x, s: li_feed_forward_step(x, s), xs)


def test_validation_errors():
    with pytest.raises(ValueError, match=r"LIParameters.tau_syn_inv must be positive, got -200.0"):
        LIParameters(tau_syn_inv=-200.0)
    with pytest.raises(ValueError, match=r"LIParameters.tau_mem_inv must be positive"):
        LIParameters(tau_mem_inv=jnp.array([1.0, 0.0]))
    with pytest.raises(ValueError, match=r"dt must be positive, got 0.0"):
        li_feed_forward_step(jnp.ones(3), None, dt=0.0)
    with pytest.raises(ValueError, match=r"dt must be positive, got 0.0"):
        li_step(jnp.ones(3), None, jnp.ones((2, 3)), dt=0.0)
    with pytest.raises(TypeError, match=r"input_tensor must be an array, got tuple"):
        li_feed_forward_step((1.0,), None)
    state = LIState(v=jnp.zeros((2, 4)), i=jnp.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"state.v has shape \(2, 4\), expected \(2, 3\) \(the shape of input_tensor\)"):
        li_feed_forward_step(jnp.ones((2, 3)), state)
    with pytest.raises(ValueError, match=r"input_weights must have rank 2 with layout \(hidden, input\), got shape \(4,\)"):
        li_step(jnp.ones((2, 4)), None, jnp.ones(4))
    with pytest.raises(ValueError, match=r"input_tensor has shape \(2, 5\), expected last axis 3 \(the input size of input_weights \(4, 3\)\)"):
        li_step(jnp.ones((2, 5)), None, jnp.ones((4, 3)))
    with pytest.raises(ValueError, match=r"state.i has shape \(2, 3\), expected \(2, 4\) \(the shape of the weighted input\)"):
        li_step(jnp.ones((2, 3)), LIState(v=jnp.zeros((2, 4)), i=jnp.zeros((2, 3))), jnp.ones((4, 3)))
    with pytest.raises(ValueError, match=r"hidden_size must be a positive int, got 0"):
        LILinearCell(3, 0)
    with pytest.raises(ValueError, match=r"input_weights has shape \(3, 4\), expected \(4, 3\) \(hidden_size, input_size\)"):
        LILinearCell(3, 4, input_weights=jnp.ones((3, 4)))
    with pytest.raises(ValueError, match=r"input_tensor has shape \(2, 5\), expected last axis 3 \(input_size of LILinearCell\)"):
        LILinearCell(3, 4)(jnp.ones((2, 5)))
    with pytest.raises(ValueError, match=r"input_tensor must have rank 1 or 2 .*got shape \(1, 2, 3\)"):
        LILinearCell(3, 4)(jnp.ones((1, 2, 3)))
    with pytest.raises(TypeError, match=r"p must be a LIParameters for LILinearCell, got dict"):
        LILinearCell(3, 4, {})
    with pytest.raises(ValueError, match=r"learnable names 'v_th', which is not a numeric parameter of LIParameters"):
        LILinearCell(3, 4, learnable=("v_th",))
