"""Norse 1.1 reference for LIF: feed-forward and recurrent trajectories and gradients."""

import torch
from _common import inputs, record, save
from norse.torch.functional.lif import (
    LIFFeedForwardState,
    LIFParameters,
    LIFState,
    lif_feed_forward_step,
    lif_step,
)

p = LIFParameters()
T, B, N, H = 40, 2, 3, 4

# Feed-forward: trajectory and gradient of sum(v) + sum(z) with respect to the input.
xs_np = inputs(0, (T, B, N), scale=2.0, offset=1.0)
xs = torch.tensor(xs_np, requires_grad=True)
state = LIFFeedForwardState(v=torch.zeros(B, N), i=torch.zeros(B, N))
zs, fields = record(lambda x, s: lif_feed_forward_step(x, s, p), state, xs)
(fields["v"].sum() + zs.sum()).backward()
ff = {"xs": xs_np, "z": zs, "v": fields["v"], "i": fields["i"], "grad_xs": xs.grad}

# Recurrent: trajectory and gradients with respect to inputs and both weight matrices.
xr_np = inputs(1, (T, B, N), scale=1.0, offset=0.5)
w_in_np = inputs(2, (H, N), scale=1.0)
w_rec_np = inputs(3, (H, H), scale=0.5)
xr = torch.tensor(xr_np, requires_grad=True)
w_in = torch.tensor(w_in_np, requires_grad=True)
w_rec = torch.tensor(w_rec_np, requires_grad=True)
state = LIFState(z=torch.zeros(B, H), v=torch.zeros(B, H), i=torch.zeros(B, H))
zr, fr = record(lambda x, s: lif_step(x, s, w_in, w_rec, p), state, xr)
(fr["v"].sum() + zr.sum()).backward()
rec = {
    "xs": xr_np, "input_weights": w_in_np, "recurrent_weights": w_rec_np,
    "z": zr, "v": fr["v"], "i": fr["i"],
    "grad_xs": xr.grad, "grad_input_weights": w_in.grad, "grad_recurrent_weights": w_rec.grad,
}
save("norse_lif", {"feed_forward": ff, "recurrent": rec})
