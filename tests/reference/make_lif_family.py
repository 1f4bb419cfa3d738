"""Norse 1.1 reference for LIFBox, LI, IAF and LIFRefrac: trajectories and gradients.

Every case records the outputs and the state after each step, and the gradients of
``sum(v) + sum(out)`` (plus ``0.1 * sum(rho)`` for LIFRefrac, so that the gradient through the
refractory counter is compared too) with respect to the inputs and weights.
"""

import torch
from _common import inputs, save
from norse.torch.functional.iaf import (
    IAFFeedForwardState,
    IAFParameters,
    IAFState,
    iaf_feed_forward_step,
    iaf_step,
)
from norse.torch.functional.leaky_integrator import (
    LIParameters,
    LIState,
    li_feed_forward_step,
    li_step,
)
from norse.torch.functional.lif import LIFFeedForwardState, LIFState
from norse.torch.functional.lif_box import (
    LIFBoxFeedForwardState,
    LIFBoxParameters,
    lif_box_feed_forward_step,
)
from norse.torch.functional.lif_refrac import (
    LIFRefracFeedForwardState,
    LIFRefracParameters,
    LIFRefracState,
    lif_refrac_feed_forward_step,
    lif_refrac_step,
)
from norse.torch.functional.reset import reset_subtract, reset_value

T, B, N, H = 40, 2, 3, 4


def leaf(x):
    return torch.tensor(x, requires_grad=True)


def run(step, state, xs, fields):
    """Run ``step`` over ``xs``; ``fields`` maps names to getters on the state."""
    outs, rec = [], {name: [] for name in fields}
    for x in xs:
        out, state = step(x, state)
        outs.append(out)
        for name, get in fields.items():
            rec[name].append(get(state))
    return torch.stack(outs), {name: torch.stack(v) for name, v in rec.items()}


def case(step, state, xs_np, fields, weights=(), rho_weight=0.0):
    xs = leaf(xs_np)
    ws = {name: leaf(w) for name, w in weights}
    out, rec = run(lambda x, s: step(x, s, *ws.values()), state, xs, fields)
    loss = rec["v"].sum() + out.sum()
    if "rho" in rec:
        loss = loss + rho_weight * rec["rho"].sum()
    loss.backward()
    result = {"xs": xs_np, "out": out, **rec, "grad_xs": xs.grad}
    for name, w in ws.items():
        result[name] = w.detach()
        result[f"grad_{name}"] = w.grad
    return result


def recurrent_weights(seed_in, seed_rec, rec_scale=0.5):
    return [
        ("input_weights", inputs(seed_in, (H, N), scale=1.0)),
        ("recurrent_weights", inputs(seed_rec, (H, H), scale=rec_scale)),
    ]


zeros = lambda *shape: torch.zeros(*shape)
payload = {}

# LIFBox: Norse has only the feed-forward step. Its reset_method is a parameter, so the recurrent
# reference (with the spike detached in the reset, like Norse's lif_step) uses Norse's own step
# on the recurrent current with a detaching reset.
box_fields = {"v": lambda s: s.v}
payload["lif_box"] = {
    "feed_forward": case(
        lambda x, s: lif_box_feed_forward_step(x, s, LIFBoxParameters()),
        LIFBoxFeedForwardState(v=zeros(B, N)), inputs(10, (T, B, N), scale=2.0, offset=1.5), box_fields,
    ),
    "subtract": case(
        lambda x, s: lif_box_feed_forward_step(x, s, LIFBoxParameters(reset_method=reset_subtract)),
        LIFBoxFeedForwardState(v=zeros(B, N)), inputs(11, (T, B, N), scale=2.0, offset=1.5), box_fields,
    ),
}
detached = LIFBoxParameters(reset_method=lambda z, v, r, th: reset_value(z.detach(), v, r, th))


def lif_box_recurrent(x, s, w_in, w_rec):
    z_prev, v = s
    current = torch.nn.functional.linear(x, w_in) + torch.nn.functional.linear(z_prev, w_rec)
    z, ff = lif_box_feed_forward_step(current, LIFBoxFeedForwardState(v=v), detached)
    return z, (z, ff.v)


payload["lif_box"]["recurrent"] = case(
    lif_box_recurrent, (zeros(B, H), zeros(B, H)), inputs(12, (T, B, N), scale=2.0, offset=1.5),
    {"z": lambda s: s[0], "v": lambda s: s[1]}, recurrent_weights(13, 14),
)

# LI: no spikes; the output is v.
li_fields = {"v": lambda s: s.v, "i": lambda s: s.i}
payload["li"] = {
    "feed_forward": case(
        lambda x, s: li_feed_forward_step(x, s, LIParameters()),
        LIState(v=zeros(B, N), i=zeros(B, N)), inputs(20, (T, B, N), scale=1.0, offset=0.5), li_fields,
    ),
    "linear": case(
        lambda x, s, w: li_step(x, s, w, LIParameters()),
        LIState(v=zeros(B, H), i=zeros(B, H)), inputs(21, (T, B, N), scale=1.0, offset=0.5), li_fields,
        [("input_weights", inputs(22, (H, N)))],
    ),
}

# IAF: no leak; Norse's steps do not detach the reset.
payload["iaf"] = {
    "feed_forward": case(
        lambda x, s: iaf_feed_forward_step(x, s, IAFParameters()),
        IAFFeedForwardState(v=zeros(B, N)), inputs(30, (T, B, N), scale=0.5, offset=0.3), {"v": lambda s: s.v},
    ),
    "recurrent": case(
        lambda x, s, w_in, w_rec: iaf_step(x, s, w_in, w_rec, IAFParameters()),
        IAFState(z=zeros(B, H), v=zeros(B, H)), inputs(31, (T, B, N), scale=0.5, offset=0.3),
        {"z": lambda s: s.z, "v": lambda s: s.v}, recurrent_weights(32, 33),
    ),
}

# LIFRefrac: strong drive, so that refractory periods cut into spiking.
p_refrac = LIFRefracParameters()
payload["lif_refrac"] = {
    "feed_forward": case(
        lambda x, s: lif_refrac_feed_forward_step(x, s, p_refrac),
        LIFRefracFeedForwardState(LIFFeedForwardState(v=zeros(B, N), i=zeros(B, N)), rho=zeros(B, N)),
        inputs(40, (T, B, N), scale=2.0, offset=1.0),
        {"v": lambda s: s.lif.v, "i": lambda s: s.lif.i, "rho": lambda s: s.rho},
        rho_weight=0.1,
    ),
    "recurrent": case(
        lambda x, s, w_in, w_rec: lif_refrac_step(x, s, w_in, w_rec, p_refrac),
        LIFRefracState(LIFState(z=zeros(B, H), v=zeros(B, H), i=zeros(B, H)), rho=zeros(B, H)),
        inputs(41, (T, B, N), scale=1.0, offset=1.0),
        {"z": lambda s: s.lif.z, "v": lambda s: s.lif.v, "i": lambda s: s.lif.i, "rho": lambda s: s.rho},
        recurrent_weights(42, 43),
        rho_weight=0.1,
    ),
}
save("norse_lif_family", payload)
