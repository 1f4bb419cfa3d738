"""Every option of the rule transforms in spikejax.learn, at a non-default value, against numpy.

Issue 14: ``inferno_stdp(..., bound=...)`` ignoring its bound left the suite green, because no
test built a rule transform with ``bound=``. Here each transform runs a short training loop in
one ``jit`` + ``lax.scan`` with every parameter away from its default, and the weights are
compared with an independent numpy loop. Each test also checks that the options matter for
these inputs (the numpy result changes when one is left at its default), so a transform that
dropped one would fail.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from spikejax.functional.plasticity import (
    InfernoSTDPParameters,
    MSTDPParameters,
    STDPParameters,
    TripletSTDPParameters,
    bound_multiplicative as bound_multiplicative_fn,
    bound_power as bound_power_fn,
    bound_sharp as bound_sharp_fn,
    stdp_state,
    stdp_step,
)
from spikejax.learn import (
    MaxRateClassifier,
    bound_multiplicative,
    bound_power,
    bound_sharp,
    clamp,
    inferno_stdp,
    max_rate_init,
    mstdp,
    mstdpet,
    normalize,
    plasticity_rule,
    stdp,
    triplet_stdp,
)

T, B, N_IN, N_OUT = 24, 2, 4, 3
DT = 0.5e-3  # not the default 1e-3: every rule must use the dt it is given
REDUCE = {"sum": np.sum, "mean": np.mean, "max": np.max}


def _spikes(seed, rate=0.4):
    rng = np.random.default_rng(seed)
    return ((rng.random((T, B, N_IN)) < rate).astype(np.float32),
            (rng.random((T, B, N_OUT)) < rate).astype(np.float32))


def _weights(seed, low, high):
    return np.random.default_rng(seed).uniform(low, high, (N_OUT, N_IN)).astype(np.float32)


def _train(tx, w0, pre, post, rewards=None):
    """The weights after every step of a plasticity-only training loop, in one jit + scan."""

    @jax.jit
    def run(w, pre, post, rewards):
        def step(carry, xs):
            w, opt_state = carry
            extra = {} if rewards is None else {"reward": xs[2]}
            updates, opt_state = tx.update(jnp.zeros_like(w), opt_state, w, pre=xs[0],
                                           post=xs[1], **extra)
            w = optax.apply_updates(w, updates)
            return (w, opt_state), w

        return jax.lax.scan(step, (w, tx.init(w)), (pre, post, rewards))[1]

    zeros = np.zeros((T, B), np.float32) if rewards is None else rewards
    return np.asarray(run(jnp.asarray(w0), pre, post, zeros))


def _differs(a, b):
    """The options under test change the result by far more than the tolerance (NaN counts)."""
    gap = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))
    assert np.isnan(gap).any() or gap.max() > 1e-4


# --- independent numpy versions of the rules ------------------------------------------------


def _np_trace(x, z, tau_inv, a, dt, mode):
    if mode == "norse":
        return x + dt * tau_inv * (-x + a * z)
    decayed = x * np.exp(-dt * tau_inv)
    return decayed + a * z if mode == "cumulative" else np.where(z > 0, a, decayed)


def _outer(post_like, pre_like):
    """(B, post) x (B, pre) -> (B, post, pre)."""
    return post_like[:, :, None] * pre_like[:, None, :]


def _np_power(w, pos, neg, lower=None, upper=None, lower_power=1.0, upper_power=1.0):
    if upper is not None:
        pos = (upper - w) ** upper_power * pos
    if lower is not None:
        neg = (w - lower) ** lower_power * neg
    return pos - neg


def _np_sharp(w, pos, neg, lower=None, upper=None):
    if upper is not None:
        pos = np.where(upper - w > 0, pos, 0.0)
    if lower is not None:
        neg = np.where(w - lower > 0, neg, 0.0)
    return pos - neg


def _np_norse_stdp(pre, post, w, v, dt):
    """Norse's pair STDP (stdp_step_linear), the weight updated every step."""
    w, x_pre, x_post, out = w.astype(np.float64), 0.0, 0.0, []
    for z_pre, z_post in zip(pre, post):
        x_pre = _np_trace(x_pre, z_pre, v["tau_pre_inv"], v["a_pre"], dt, "norse")
        x_post = _np_trace(x_post, z_post, v["tau_post_inv"], v["a_post"], dt, "norse")
        up, down = v["w_max"] - w, w - v["w_min"]
        algorithm = v["stdp_algorithm"]
        if algorithm == "additive":
            a_plus, a_minus = v["eta_plus"], v["eta_minus"]
        elif algorithm == "additive_step":
            a_plus, a_minus = v["eta_plus"] * (up > 0), v["eta_minus"] * (down > 0)
        elif algorithm == "multiplicative_pow":
            with np.errstate(invalid="ignore"):  # NaN beyond a bound, as in Norse
                a_plus, a_minus = v["eta_plus"] * up ** v["mu"], v["eta_minus"] * down ** v["mu"]
        else:
            a_plus, a_minus = v["eta_plus"] * np.maximum(up, 0), v["eta_minus"] * np.maximum(down, 0)
        w = w + a_plus * _outer(z_post, x_pre).sum(0) - a_minus * _outer(x_post, z_pre).sum(0)
        if v["hardbound"]:
            w = np.clip(w, v["w_min"], v["w_max"])
        out.append(w)
    return np.stack(out)


def _np_inferno(pre, post, w, v, dt, bound):
    w, x_pre, x_post, out = w.astype(np.float64), 0.0, 0.0, []
    reduce = functools.partial(REDUCE[v["batch_reduction"]], axis=0)
    for z_pre, z_post in zip(pre, post):
        # Inferno's time constants are in ms, dt in s.
        x_pre = _np_trace(x_pre, z_pre, 1000.0 / v["tc_pre"], 1.0, dt, v["trace_mode"])
        x_post = _np_trace(x_post, z_post, 1000.0 / v["tc_post"], 1.0, dt, v["trace_mode"])
        terms = (v["lr_post"] * reduce(_outer(z_post, x_pre)),
                 v["lr_pre"] * reduce(_outer(x_post, z_pre)))
        pos = sum(np.maximum(t, 0) for t in terms)
        neg = sum(np.maximum(-t, 0) for t in terms)
        w = w + (pos - neg if bound is None else bound(w, pos, neg))
        out.append(w)
    return np.stack(out)


def _np_triplet(pre, post, w, v, dt, bound):
    w, out = w.astype(np.float64), []
    r1 = r2 = np.zeros(pre.shape[1:])
    o1 = o2 = np.zeros(post.shape[1:])
    reduce = functools.partial(REDUCE[v["batch_reduction"]], axis=0)
    for z_pre, z_post in zip(pre, post):
        r1, r2 = r1 * np.exp(-dt * v["tau_plus_inv"]), r2 * np.exp(-dt * v["tau_x_inv"])
        o1, o2 = o1 * np.exp(-dt * v["tau_minus_inv"]), o2 * np.exp(-dt * v["tau_y_inv"])
        pos = reduce(_outer(z_post * (v["a2_plus"] + v["a3_plus"] * o2), r1))
        neg = reduce(_outer(o1, z_pre * (v["a2_minus"] + v["a3_minus"] * r2)))
        w = w + (pos - neg if bound is None else bound(w, pos, neg))
        out.append(w)
        if v["trace_mode"] == "cumulative":
            r1, r2, o1, o2 = r1 + z_pre, r2 + z_pre, o1 + z_post, o2 + z_post
        else:
            r1, r2 = np.where(z_pre > 0, 1.0, r1), np.where(z_pre > 0, 1.0, r2)
            o1, o2 = np.where(z_post > 0, 1.0, o1), np.where(z_post > 0, 1.0, o2)
    return np.stack(out)


def _np_reward(pre, post, rewards, w, v, dt, bound, eligibility_trace):
    w, x_pre, x_post, out = w.astype(np.float64), 0.0, 0.0, []
    e = np.zeros((pre.shape[1],) + w.shape)
    reduce = functools.partial(REDUCE[v["batch_reduction"]], axis=0)
    for z_pre, z_post, r in zip(pre, post, rewards):
        x_pre = _np_trace(x_pre, z_pre, v["tau_plus_inv"], 1.0, dt, v["trace_mode"])
        x_post = _np_trace(x_post, z_post, v["tau_minus_inv"], 1.0, dt, v["trace_mode"])
        zeta = v["a_plus"] * _outer(z_post, x_pre) + v["a_minus"] * _outer(x_post, z_pre)
        if eligibility_trace:  # Florian 2007's MSTDPET
            e = e * np.exp(-dt * v["tau_z_inv"]) + zeta * v["tau_z_inv"]
            per_entry = v["gamma"] * r[:, None, None] * e * dt
        else:
            per_entry = v["gamma"] * r[:, None, None] * zeta
        pos, neg = reduce(np.maximum(per_entry, 0)), reduce(np.maximum(-per_entry, 0))
        w = w + (pos - neg if bound is None else bound(w, pos, neg))
        out.append(w)
    return np.stack(out)


# --- the rule transforms ----------------------------------------------------------------------

NORSE = dict(a_pre=0.7, a_post=1.3, tau_pre_inv=35.0, tau_post_inv=55.0, w_min=0.1, w_max=0.7,
             eta_plus=2.0, eta_minus=1.5, mu=0.6)


@pytest.mark.parametrize(
    "algorithm", ["additive", "additive_step", "multiplicative_pow", "multiplicative_relu"]
)
def test_stdp_transform_uses_every_parameter_dt_and_the_hard_bound(algorithm):
    pre, post = _spikes(0)
    w0 = _weights(1, 0.05, 0.75)  # some weights start outside [w_min, w_max]
    if algorithm == "multiplicative_pow":
        w0 = np.clip(w0, 0.1, 0.7)  # a fractional power of a negative distance is NaN
    values = dict(NORSE, stdp_algorithm=algorithm, hardbound=True)
    p = STDPParameters(**values)
    tx = stdp(p, pre_shape=(B, N_IN), post_shape=(B, N_OUT), dt=DT)
    expected = _np_norse_stdp(pre, post, w0, values, DT)
    np.testing.assert_allclose(_train(tx, w0, pre, post), expected, rtol=1e-5, atol=1e-6)
    assert expected.min() >= 0.1 - 1e-9 and expected.max() <= 0.7 + 1e-9
    _differs(expected, _np_norse_stdp(pre, post, w0, dict(values, hardbound=False), DT))
    _differs(expected, _np_norse_stdp(pre, post, w0, values, 1e-3))
    defaults = dict(STDPParameters().__dict__, stdp_algorithm=algorithm, hardbound=True)
    for name in ("a_pre", "a_post", "tau_pre_inv", "tau_post_inv", "w_min", "w_max", "eta_plus",
                 "eta_minus") + (("mu",) if algorithm == "multiplicative_pow" else ()):
        _differs(expected, _np_norse_stdp(pre, post, w0, dict(values, **{name: defaults[name]}), DT))


INFERNO = dict(lr_post=0.03, lr_pre=-0.025, tc_post=15.0, tc_pre=25.0)
BOUNDS = {
    "power": (functools.partial(bound_power_fn, w_min=0.05, w_max=0.8, upper_power=2.0,
                                lower_power=3.0),
              functools.partial(_np_power, lower=0.05, upper=0.8, upper_power=2.0,
                                lower_power=3.0)),
    "multiplicative": (functools.partial(bound_multiplicative_fn, w_min=0.05, w_max=0.8),
                       functools.partial(_np_power, lower=0.05, upper=0.8)),
    "sharp": (functools.partial(bound_sharp_fn, w_min=0.3, w_max=0.5),
              functools.partial(_np_sharp, lower=0.3, upper=0.5)),
}


@pytest.mark.parametrize(
    "bound,trace_mode,batch_reduction",
    [("power", "cumulative", "mean"), ("multiplicative", "nearest", "sum"),
     ("sharp", "cumulative", "max")],
)
def test_inferno_stdp_transform_applies_its_bound_and_options(bound, trace_mode, batch_reduction):
    pre, post = _spikes(2)
    w0 = _weights(3, 0.1, 0.75)
    values = dict(INFERNO, trace_mode=trace_mode, batch_reduction=batch_reduction)
    jax_bound, np_bound = BOUNDS[bound]
    tx = inferno_stdp(InfernoSTDPParameters(**values), pre_shape=(B, N_IN),
                      post_shape=(B, N_OUT), dt=DT, bound=jax_bound)
    expected = _np_inferno(pre, post, w0, values, DT, np_bound)
    np.testing.assert_allclose(_train(tx, w0, pre, post), expected, rtol=1e-5, atol=1e-6)
    _differs(expected, _np_inferno(pre, post, w0, values, DT, None))  # the bound matters here
    _differs(expected, _np_inferno(pre, post, w0, values, 1e-3, np_bound))
    other_mode = "nearest" if trace_mode == "cumulative" else "cumulative"
    _differs(expected, _np_inferno(pre, post, w0, dict(values, trace_mode=other_mode), DT,
                                   np_bound))
    other_reduction = "sum" if batch_reduction != "sum" else "mean"
    _differs(expected, _np_inferno(pre, post, w0, dict(values, batch_reduction=other_reduction),
                                   DT, np_bound))
    for name, default in dict(lr_post=1e-3, lr_pre=-1e-3, tc_post=20.0, tc_pre=20.0).items():
        _differs(expected, _np_inferno(pre, post, w0, dict(values, **{name: default}), DT,
                                       np_bound))


TRIPLET = dict(tau_plus_inv=80.0, tau_x_inv=15.0, tau_minus_inv=45.0, tau_y_inv=10.0,
               a2_plus=0.02, a3_plus=0.04, a2_minus=0.025, a3_minus=0.03)


@pytest.mark.parametrize(
    "bound,trace_mode,batch_reduction",
    [("multiplicative", "cumulative", "sum"), ("power", "nearest", "max"),
     ("sharp", "cumulative", "mean")],
)
def test_triplet_stdp_transform_applies_its_bound_and_options(bound, trace_mode, batch_reduction):
    pre, post = _spikes(4, rate=0.5)
    w0 = _weights(5, 0.1, 0.75)
    values = dict(TRIPLET, trace_mode=trace_mode, batch_reduction=batch_reduction)
    jax_bound, np_bound = BOUNDS[bound]
    tx = triplet_stdp(TripletSTDPParameters(**values), pre_shape=(B, N_IN),
                      post_shape=(B, N_OUT), dt=DT, bound=jax_bound)
    expected = _np_triplet(pre, post, w0, values, DT, np_bound)
    np.testing.assert_allclose(_train(tx, w0, pre, post), expected, rtol=1e-5, atol=1e-5)
    _differs(expected, _np_triplet(pre, post, w0, values, DT, None))
    _differs(expected, _np_triplet(pre, post, w0, values, 1e-3, np_bound))
    other_mode = "nearest" if trace_mode == "cumulative" else "cumulative"
    _differs(expected, _np_triplet(pre, post, w0, dict(values, trace_mode=other_mode), DT,
                                   np_bound))
    defaults = TripletSTDPParameters().__dict__
    for name in TRIPLET:
        _differs(expected, _np_triplet(pre, post, w0, dict(values, **{name: defaults[name]}), DT,
                                       np_bound))


REWARD = dict(tau_plus_inv=45.0, tau_minus_inv=30.0, tau_z_inv=70.0, a_plus=1.1, a_minus=-0.7,
              gamma=0.02)


@pytest.mark.parametrize(
    "make,eligibility_trace,bound,trace_mode,batch_reduction",
    [(mstdp, False, "sharp", "nearest", "mean"), (mstdp, False, "power", "cumulative", "max"),
     (mstdpet, True, "multiplicative", "nearest", "max"),
     (mstdpet, True, "sharp", "cumulative", "mean")],
)
def test_reward_transforms_apply_their_bound_and_options(make, eligibility_trace, bound,
                                                         trace_mode, batch_reduction):
    pre, post = _spikes(6, rate=0.5)
    rewards = np.random.default_rng(7).normal(size=(T, B)).astype(np.float32)
    w0 = _weights(8, 0.1, 0.75)
    values = dict(REWARD, trace_mode=trace_mode, batch_reduction=batch_reduction)
    jax_bound, np_bound = BOUNDS[bound]
    tx = make(MSTDPParameters(**values), pre_shape=(B, N_IN), post_shape=(B, N_OUT), dt=DT,
              bound=jax_bound)

    def expect(v=values, dt=DT, bound=np_bound):
        return _np_reward(pre, post, rewards, w0, v, dt, bound, eligibility_trace)

    expected = expect()
    np.testing.assert_allclose(_train(tx, w0, pre, post, rewards), expected, rtol=1e-5, atol=1e-6)
    _differs(expected, expect(bound=None))
    _differs(expected, expect(dt=1e-3))
    other_mode = "nearest" if trace_mode == "cumulative" else "cumulative"
    _differs(expected, expect(v=dict(values, trace_mode=other_mode)))
    _differs(expected, expect(v=dict(values, batch_reduction="sum")))
    defaults = MSTDPParameters().__dict__
    names = list(REWARD) if eligibility_trace else [n for n in REWARD if n != "tau_z_inv"]
    for name in names:
        _differs(expected, expect(v=dict(values, **{name: defaults[name]})))


def test_plasticity_rule_keeps_its_traces_in_trace_dtype_and_passes_extra_args():
    p = STDPParameters(eta_plus=0.5, eta_minus=0.25)
    seen = []

    def step(pre, post, state, w, *, gain):
        seen.append(gain)
        dw, state = stdp_step(pre, post, state, w, p)
        return gain * dw, state

    tx = plasticity_rule(step, stdp_state, pre_shape=(B, N_IN), post_shape=(B, N_OUT),
                         extra_args=("gain",), trace_dtype=jnp.bfloat16, name="gained")
    w = jnp.full((N_OUT, N_IN), 0.5)
    state = tx.init(w)
    assert state.rule_state.t_pre.dtype == jnp.bfloat16
    pre, post = _spikes(9)
    updates, state = tx.update(jnp.zeros_like(w), state, w, pre=pre[0], post=post[0], gain=3.0)
    assert state.rule_state.t_post.dtype == jnp.bfloat16 and seen[-1] == 3.0
    bf16 = stdp_state((B, N_IN), (B, N_OUT), jnp.bfloat16)
    np.testing.assert_allclose(updates, 3.0 * stdp_step(pre[0], post[0], bf16, w, p)[0],
                               rtol=1e-6)
    with pytest.raises(ValueError, match="gained.update needs the keyword arguments pre, post, gain"):
        tx.update(jnp.zeros_like(w), state, w, pre=pre[0], post=post[0])


# --- the bounding transforms at bounds other than [0, 1] -------------------------------------

W = np.array([-0.4, -0.2, 0.1, 0.3, 0.5, 0.8, 1.5, 2.0], np.float32)
U = np.array([0.2, -0.3, 0.4, -0.1, 0.3, -0.2, 0.1, 0.25], np.float32)


def _apply(tx, u=U, w=W):
    updates, _ = jax.jit(tx.update)(jnp.asarray(u), tx.init(jnp.asarray(w)), jnp.asarray(w))
    return np.asarray(updates)


@pytest.mark.parametrize(
    "make,expected",
    [
        (lambda: bound_power(lower=-0.4, upper=2.0, lower_power=3.0, upper_power=0.5),
         _np_power(W, np.maximum(U, 0), np.maximum(-U, 0), -0.4, 2.0, 3.0, 0.5)),
        (lambda: bound_power(upper=2.0, upper_power=1.5),  # lower=None: depression unscaled
         _np_power(W, np.maximum(U, 0), np.maximum(-U, 0), None, 2.0, 1.0, 1.5)),
        (lambda: bound_multiplicative(lower=-0.5, upper=2.5),
         _np_power(W, np.maximum(U, 0), np.maximum(-U, 0), -0.5, 2.5)),
        (lambda: bound_multiplicative(lower=-0.5),
         _np_power(W, np.maximum(U, 0), np.maximum(-U, 0), -0.5, None)),
        (lambda: bound_sharp(lower=0.1, upper=0.8),
         _np_sharp(W, np.maximum(U, 0), np.maximum(-U, 0), 0.1, 0.8)),
        (lambda: bound_sharp(upper=0.3),
         _np_sharp(W, np.maximum(U, 0), np.maximum(-U, 0), None, 0.3)),
        (lambda: clamp(min=-0.3, max=0.45), np.clip(W + U, -0.3, 0.45) - W),
        (lambda: clamp(max=0.45), np.minimum(W + U, 0.45) - W),
    ],
    ids=["power", "power_upper_only", "multiplicative", "multiplicative_lower_only", "sharp",
         "sharp_upper_only", "clamp", "clamp_max_only"],
)
def test_bounding_transforms_at_their_given_bounds_and_powers(make, expected):
    np.testing.assert_allclose(_apply(make()), expected, rtol=1e-5, atol=1e-6)
    _differs(expected, U)  # each changes these updates


def test_the_bounds_change_the_result_one_by_one():
    """Moving one bound or power of a bounding transform changes its updates."""
    base = _apply(bound_power(lower=-0.4, upper=2.0, lower_power=3.0, upper_power=0.5))
    for changed in (dict(lower=-0.5), dict(upper=2.5), dict(lower_power=2.0),
                    dict(upper_power=1.0)):
        options = dict(lower=-0.4, upper=2.0, lower_power=3.0, upper_power=0.5)
        options.update(changed)
        _differs(base, _apply(bound_power(**options)))


def test_normalize_transform_uses_order_scale_axis_and_epsilon():
    w = np.array([[0.1, -0.2, 0.05], [0.3, 0.0, 0.4], [0.01, 0.02, 0.0]], np.float32)
    u = np.full_like(w, 0.01)
    target = w + u
    norm = np.sqrt((target**2).sum(axis=0, keepdims=True))  # columns: axis=0, order 2
    expected = 3.0 * target / np.maximum(norm, 0.3)  # column 1's norm (0.19) is below epsilon
    updates, _ = normalize(order=2, scale=3.0, axis=0, epsilon=0.3).update(
        jnp.asarray(u), optax.EmptyState(), jnp.asarray(w))
    np.testing.assert_allclose(w + np.asarray(updates), expected, rtol=1e-5, atol=1e-6)
    _differs(expected, 3.0 * target / norm)  # epsilon matters for the column with a small norm
    rows = normalize(order=2, scale=3.0, epsilon=0.3).update(
        jnp.asarray(u), optax.EmptyState(), jnp.asarray(w))[0]
    _differs(w + np.asarray(rows), expected)  # so does the axis


# --- the max-rate classifier's wrapper options ------------------------------------------------


def test_classifier_wrapper_uses_decay_proportional_and_dtype():
    rates = np.array([[4.0, 1.0, 0.0], [0.0, 2.0, 3.0], [1.0, 0.0, 2.0]], np.float32)
    labels = np.array([0, 1, 1])
    # numpy: r <- exp(-decay * c_k) r + class mean, applied twice
    r = np.zeros((3, 2))
    for _ in range(2):
        counts = np.bincount(labels, minlength=2)
        means = np.stack([rates[labels == k].mean(0) for k in range(2)], axis=1)
        r = np.exp(-0.5 * counts) * r + means
    classifier = MaxRateClassifier(3, 2, decay=0.5, proportional=False)
    classifier(jnp.asarray(rates), jnp.asarray(labels))
    classifier(jnp.asarray(rates), jnp.asarray(labels))
    np.testing.assert_allclose(classifier.state.rates, r, rtol=1e-6)
    _differs(r, 2 * r / (1 + np.exp(-0.5 * np.bincount(labels))))  # decay=0 would give 2 * means
    # Neurons 0 and 1 vote for class 0 (neuron 1 with a proportion of only 0.54), neuron 2 for
    # class 1: weighted and unweighted votes pick different classes for this sample.
    proportions = r / r.sum(1, keepdims=True)
    assigned = proportions.argmax(1)
    sample = np.array([[0.0, 5.0, 1.6]], np.float32)
    logits = {}
    for weighted in (True, False):
        weights = np.eye(2)[assigned] * (proportions if weighted else 1.0)
        logits[weighted] = (sample @ weights) / np.maximum(np.eye(2)[assigned].sum(0), 1)
    assert logits[True].argmax() != logits[False].argmax()
    assert int(classifier(jnp.asarray(sample))[0]) == logits[False].argmax()
    classifier.proportional = True
    assert int(classifier(jnp.asarray(sample))[0]) == logits[True].argmax()
    assert max_rate_init(3, 2, dtype=jnp.bfloat16).rates.dtype == jnp.bfloat16
