import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from spikejax.functional import LIFParameters, lif_feed_forward_state, lif_feed_forward_step
from spikejax.functional.plasticity import (
    InfernoSTDPParameters,
    MSTDPParameters,
    STDPParameters,
    TripletSTDPParameters,
    inferno_stdp_step,
    mstdpet_step,
    stdp_step,
    triplet_stdp_step,
)
from spikejax.learn import (
    bound_multiplicative,
    bound_power,
    bound_sharp,
    clamp,
    inferno_stdp,
    mstdp,
    mstdpet,
    stdp,
    triplet_stdp,
)

B, N_IN, N_OUT = 2, 4, 3


def _spikes(seed, t=20, rate=0.4):
    rng = np.random.default_rng(seed)
    return ((rng.random((t, B, N_IN)) < rate).astype(np.float32),
            (rng.random((t, B, N_OUT)) < rate).astype(np.float32))


def test_chain_of_stdp_bound_and_clamp_equals_the_formula_in_one_jit_and_scan():
    values = dict(eta_plus=0.2, eta_minus=0.25, tau_pre_inv=40.0, tau_post_inv=40.0)
    tx = optax.chain(
        stdp(STDPParameters(hardbound=False, **values), pre_shape=(B, N_IN), post_shape=(B, N_OUT)),
        bound_multiplicative(upper=1.0),
        clamp(min=0.0),
    )
    pre, post = _spikes(0)
    w0 = np.random.default_rng(1).uniform(0.0, 0.6, (N_OUT, N_IN)).astype(np.float32)

    @jax.jit
    def train(w, pre, post):
        def step(carry, spikes):
            w, opt_state = carry
            updates, opt_state = tx.update(jnp.zeros_like(w), opt_state, w, pre=spikes[0],
                                           post=spikes[1])
            w = optax.apply_updates(w, updates)
            return (w, opt_state), w

        return jax.lax.scan(step, (w, tx.init(w)), (pre, post))[1]

    w, t_pre, t_post, expected = w0.astype(np.float64), 0.0, 0.0, []
    for z_pre, z_post in zip(pre, post):
        t_pre = t_pre + 1e-3 * 40.0 * (-t_pre + z_pre)
        t_post = t_post + 1e-3 * 40.0 * (-t_post + z_post)
        u = 0.2 * z_post.T @ t_pre - 0.25 * t_post.T @ z_pre  # stdp: potentiation positive
        u = (1.0 - w) * np.maximum(u, 0) - np.maximum(-u, 0)  # bound_multiplicative(upper=1)
        w = np.maximum(w + u, 0.0)  # clamp(min=0)
        expected.append(w)
    ws = train(w0, pre, post)
    np.testing.assert_allclose(ws, np.stack(expected), rtol=1e-5, atol=1e-6)
    assert np.any(np.asarray(ws[-1]) != w0) and np.asarray(ws).min() >= 0.0


def test_unsupervised_lif_training_run_in_one_jit_and_scan():
    """Inputs that fire drive the LIF outputs and are learned; silent inputs stay untouched."""
    t = 120
    rng = np.random.default_rng(2)
    pre = (rng.random((t, B, N_IN)) < 0.5).astype(np.float32)
    pre[:, :, -1] = 0.0  # a silent input
    tx = optax.chain(
        stdp(STDPParameters(eta_plus=0.02, eta_minus=0.01), pre_shape=(B, N_IN),
             post_shape=(B, N_OUT)),
        clamp(min=0.0, max=1.0),
    )
    p_lif = LIFParameters()

    @jax.jit
    def run(w, pre):
        def step(carry, z_in):
            w, neurons, opt_state = carry
            z_out, neurons = lif_feed_forward_step(z_in @ w.T * 3.0, neurons, p_lif)
            updates, opt_state = tx.update(jnp.zeros_like(w), opt_state, w, pre=z_in, post=z_out)
            return (optax.apply_updates(w, updates), neurons, opt_state), jnp.sum(z_out)

        carry = (w, lif_feed_forward_state((B, N_OUT), p_lif), tx.init(w))
        (w, _, _), counts = jax.lax.scan(step, carry, pre)
        return w, counts

    w0 = jnp.full((N_OUT, N_IN), 0.5)
    w, counts = run(w0, pre)
    assert float(jnp.sum(counts)) > 0
    np.testing.assert_array_equal(w[:, -1], w0[:, -1])
    assert np.all(np.asarray(w[:, :-1]) != 0.5) and np.all((0 <= w) & (w <= 1))


def test_pytree_of_weights_equals_one_rule_per_weight():
    p = STDPParameters(eta_plus=0.1, eta_minus=0.05)
    params = {"a": jnp.full((N_OUT, N_IN), 0.5), "b": jnp.full((2, N_OUT), 0.5)}
    pre_a, post_a = _spikes(3, t=1)
    post_b = (np.random.default_rng(4).random((B, 2)) < 0.5).astype(np.float32)
    pre = {"a": pre_a[0], "b": post_a[0]}
    post = {"a": post_a[0], "b": post_b}
    tx = stdp(p, pre_shape={"a": (B, N_IN), "b": (B, N_OUT)},
              post_shape={"a": (B, N_OUT), "b": (B, 2)})
    updates, _ = jax.jit(lambda u, s, w: tx.update(u, s, w, pre=pre, post=post))(
        jax.tree.map(jnp.zeros_like, params), tx.init(params), params)
    for k in params:
        np.testing.assert_allclose(updates[k], stdp_step(pre[k], post[k], None, params[k], p)[0])


def test_each_rule_transform_adds_its_step_to_the_incoming_updates():
    pre, post = _spikes(5, t=2)
    w = jnp.full((N_OUT, N_IN), 0.5)
    incoming = jnp.full_like(w, 0.01)
    rules = [
        (inferno_stdp, InfernoSTDPParameters(lr_post=0.1, lr_pre=-0.1), inferno_stdp_step, {}),
        (triplet_stdp, TripletSTDPParameters(a2_plus=0.1), triplet_stdp_step, {}),
        (mstdpet, MSTDPParameters(gamma=2.0), mstdpet_step, {"reward": jnp.array([1.0, -0.5])}),
    ]
    for make, p, rule, extra in rules:
        tx = make(p, pre_shape=(B, N_IN), post_shape=(B, N_OUT))
        state, fstate = tx.init(w), None
        update = jax.jit(tx.update)
        for z_pre, z_post in zip(pre, post):
            updates, state = update(incoming, state, w, pre=z_pre, post=z_post, **extra)
            dw, fstate = rule(z_pre, z_post, fstate, w, p, **extra)
            np.testing.assert_allclose(updates, incoming + dw, rtol=1e-6, atol=1e-8)


def test_bounding_transforms_split_the_update_by_sign():
    w = jnp.array([0.0, 0.25, 0.5, 1.0])
    u = jnp.array([0.2, -0.2, 0.4, 0.1])
    upd, _ = bound_power(lower=0.0, upper=1.0, upper_power=2.0).update(u, optax.EmptyState(), w)
    np.testing.assert_allclose(upd, np.where(u > 0, (1 - w) ** 2 * u, w * u), rtol=1e-6)
    upd, _ = bound_sharp(lower=0.0, upper=1.0).update(u, optax.EmptyState(), w)
    np.testing.assert_allclose(upd, [0.2, -0.2, 0.4, 0.0], rtol=1e-6)
    upd, _ = clamp(max=0.6).update(u, optax.EmptyState(), w)
    np.testing.assert_allclose(w + upd, [0.2, 0.05, 0.6, 0.6], rtol=1e-6)


def test_mstdp_needs_its_reward():
    tx = mstdp(pre_shape=(B, N_IN), post_shape=(B, N_OUT))
    w = jnp.zeros((N_OUT, N_IN))
    with pytest.raises(ValueError, match="missing reward"):
        tx.update(jnp.zeros_like(w), tx.init(w), w, pre=jnp.ones((B, N_IN)),
                  post=jnp.ones((B, N_OUT)))


def test_bad_arguments():
    w = jnp.zeros((N_OUT, N_IN))
    with pytest.raises(ValueError, match="upper must be greater than lower, got lower=1.0 and upper=0.5"):
        bound_multiplicative(lower=1.0, upper=0.5)
    with pytest.raises(ValueError, match="max must be greater than min"):
        clamp(min=1.0, max=0.0)
    with pytest.raises(ValueError, match="clamp needs min or max"):
        clamp()
    with pytest.raises(ValueError, match="bound_sharp needs lower or upper"):
        bound_sharp()
    with pytest.raises(ValueError, match="InfernoSTDPParameters.tc_post must be positive"):
        inferno_stdp(InfernoSTDPParameters(tc_post=-20.0), pre_shape=(B, N_IN),
                     post_shape=(B, N_OUT))
    tx = stdp(pre_shape=(B, N_IN), post_shape=(B, N_OUT))
    with pytest.raises(ValueError, match=r"pre has shape \(2, 5\), expected \(2, 4\)"):
        stdp(pre_shape=(B, 5), post_shape=(B, N_OUT)).init(w)
    with pytest.raises(ValueError, match=r"stdp.update needs the keyword arguments pre, post; missing post"):
        tx.update(jnp.zeros_like(w), tx.init(w), w, pre=jnp.ones((B, N_IN)))
    with pytest.raises(ValueError, match=r"pre has shape \(3, 4\), expected \(2, 4\) \(the pre_shape given to stdp\)"):
        tx.update(jnp.zeros_like(w), tx.init(w), w, pre=jnp.ones((3, N_IN)),
                  post=jnp.ones((3, N_OUT)))
    with pytest.raises(ValueError, match="stdp.update needs params"):
        tx.update(jnp.zeros_like(w), tx.init(w), None, pre=jnp.ones((B, N_IN)),
                  post=jnp.ones((B, N_OUT)))
    with pytest.raises(ValueError, match="pre must have the structure of params"):
        tx.update(jnp.zeros_like(w), tx.init(w), w, pre={"a": jnp.ones((B, N_IN))},
                  post=jnp.ones((B, N_OUT)))
    with pytest.raises(ValueError, match="clamp needs params"):
        clamp(min=0.0).update(w, optax.EmptyState())
