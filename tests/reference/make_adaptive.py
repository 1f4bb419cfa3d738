"""Norse 1.1 reference for the adaptive models: LSNN, LIFAdEx, LIFEx.

For each model: feed-forward and recurrent trajectories from the rest state (as Norse's modules
initialise it), with Norse's defaults and with parameters under which the adaptation acts
within the run, and gradients of ``sum(z) + sum(v) + sum(<adaptation>)``. For the exponential
models also a feed-forward run from a supplied state above threshold, where the exponential
term is large (the regime spikejax's overflow clamp must leave alone).
"""

import torch
from _common import inputs, record, save
from norse.torch.functional import lif_adex, lif_ex, lsnn

T, B, N, H = 40, 2, 3, 4


def loss_of(zs, fields, extra):
    total = zs.sum() + fields["v"].sum()
    if extra:
        total = total + fields[extra].sum()
    return total


def feed_forward(step, make_state, p, seed, extra, scale=1.0, offset=0.5, init=None):
    """A feed-forward run; ``init`` (a dict of numpy arrays) replaces the rest state."""
    xs_np = inputs(seed, (T, B, N), scale=scale, offset=offset)
    xs = torch.tensor(xs_np, requires_grad=True)
    init_t = {k: torch.tensor(v, requires_grad=True) for k, v in (init or {}).items()}
    state = make_state(init_t)
    zs, fields = record(lambda x, s: step(x, s, p), state, xs)
    loss_of(zs, fields, extra).backward()
    out = {"xs": xs_np, "z": zs, **fields, "grad_xs": xs.grad}
    for k, v in init_t.items():
        out[f"init_{k}"] = init[k]
        out[f"grad_init_{k}"] = v.grad
    return out


def recurrent(step, make_state, p, seed, extra):
    xs_np = inputs(seed, (T, B, N), scale=1.0, offset=0.5)
    w_in_np = inputs(seed + 1, (H, N), scale=1.0)
    w_rec_np = inputs(seed + 2, (H, H), scale=0.5)
    xs = torch.tensor(xs_np, requires_grad=True)
    w_in = torch.tensor(w_in_np, requires_grad=True)
    w_rec = torch.tensor(w_rec_np, requires_grad=True)
    zs, fields = record(lambda x, s: step(x, s, w_in, w_rec, p), make_state(), xs)
    loss_of(zs, fields, extra).backward()
    return {
        "xs": xs_np, "input_weights": w_in_np, "recurrent_weights": w_rec_np,
        "z": zs, **fields,
        "grad_xs": xs.grad, "grad_input_weights": w_in.grad, "grad_recurrent_weights": w_rec.grad,
    }


def zeros(*shape):
    return torch.zeros(*shape)


def params_dict(p):
    return {k: float(v) for k, v in p._asdict().items() if k not in ("method",)}


# LSNN: the rest state of Norse's modules has b = v_th.
def lsnn_ff_state(p):
    return lambda init: lsnn.LSNNFeedForwardState(
        v=zeros(B, N), i=zeros(B, N), b=torch.full((B, N), float(p.v_th))
    )


def lsnn_state(p):
    return lambda: lsnn.LSNNState(
        z=zeros(B, H), v=zeros(B, H), i=zeros(B, H), b=torch.full((B, H), float(p.v_th))
    )


lsnn_default = lsnn.LSNNParameters()
lsnn_fast = lsnn.LSNNParameters(
    tau_adapt_inv=torch.as_tensor(50.0), beta=torch.as_tensor(0.4), v_th=torch.as_tensor(0.8)
)
lsnn_data = {
    "feed_forward": feed_forward(lsnn.lsnn_feed_forward_step, lsnn_ff_state(lsnn_default),
                                 lsnn_default, 10, "b", scale=1.0, offset=0.8),
    "feed_forward_fast_adapt": feed_forward(lsnn.lsnn_feed_forward_step, lsnn_ff_state(lsnn_fast),
                                            lsnn_fast, 11, "b", scale=1.0, offset=0.8),
    "recurrent": recurrent(lsnn.lsnn_step, lsnn_state(lsnn_default), lsnn_default, 12, "b"),
    "recurrent_fast_adapt": recurrent(lsnn.lsnn_step, lsnn_state(lsnn_fast), lsnn_fast, 15, "b"),
    "fast_adapt_parameters": params_dict(lsnn_fast),
}


# AdEx: rest state v = v_leak, i = 0, a = 0.
def adex_ff_state(init):
    if init:
        return lif_adex.LIFAdExFeedForwardState(v=init["v"], i=init["i"], a=init["a"])
    return lif_adex.LIFAdExFeedForwardState(v=zeros(B, N), i=zeros(B, N), a=zeros(B, N))


def adex_state():
    return lif_adex.LIFAdExState(z=zeros(B, H), v=zeros(B, H), i=zeros(B, H), a=zeros(B, H))


adex_default = lif_adex.LIFAdExParameters()
adex_fast = lif_adex.LIFAdExParameters(
    adaptation_current=torch.as_tensor(2.0), adaptation_spike=torch.as_tensor(0.5),
    tau_ada_inv=torch.as_tensor(50.0), delta_T=torch.as_tensor(0.3),
)
# A supplied state up to ~2 above threshold: exponents up to (3 - 1) / 0.5 = 4 and beyond.
above = {
    "v": inputs(30, (B, N), scale=1.0, offset=1.5),
    "i": inputs(31, (B, N), scale=0.5),
    "a": inputs(32, (B, N), scale=0.1, offset=0.1),
}
adex_data = {
    "feed_forward": feed_forward(lif_adex.lif_adex_feed_forward_step, adex_ff_state, adex_default,
                                 20, "a"),
    "feed_forward_fast_adapt": feed_forward(lif_adex.lif_adex_feed_forward_step, adex_ff_state,
                                            adex_fast, 21, "a"),
    "feed_forward_from_state": feed_forward(lif_adex.lif_adex_feed_forward_step, adex_ff_state,
                                            adex_default, 22, "a", init=above),
    "recurrent": recurrent(lif_adex.lif_adex_step, adex_state, adex_default, 23, "a"),
    "fast_adapt_parameters": params_dict(adex_fast),
}


def ex_ff_state(init):
    if init:
        return lif_ex.LIFExFeedForwardState(v=init["v"], i=init["i"])
    return lif_ex.LIFExFeedForwardState(v=zeros(B, N), i=zeros(B, N))


def ex_state():
    return lif_ex.LIFExState(z=zeros(B, H), v=zeros(B, H), i=zeros(B, H))


ex_default = lif_ex.LIFExParameters()
ex_data = {
    "feed_forward": feed_forward(lif_ex.lif_ex_feed_forward_step, ex_ff_state, ex_default, 40, None),
    "feed_forward_from_state": feed_forward(lif_ex.lif_ex_feed_forward_step, ex_ff_state,
                                            ex_default, 41, None,
                                            init={k: above[k] for k in ("v", "i")}),
    "recurrent": recurrent(lif_ex.lif_ex_step, ex_state, ex_default, 42, None),
}

save("norse_adaptive", {"lsnn": lsnn_data, "lif_adex": adex_data, "lif_ex": ex_data})
