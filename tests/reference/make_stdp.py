"""Norse 1.1 reference for plasticity: pair STDP (linear, conv2d) and Tsodyks-Markram STP."""

import numpy as np
import torch
from _common import save
from norse.torch.functional.stdp import (
    STDPParameters,
    STDPState,
    stdp_step_conv2d,
    stdp_step_linear,
)
from norse.torch.functional.tsodyks_makram import (
    TsodyksMakramParameters,
    TsodyksMakramState,
    stp_step,
)


def spikes(seed, shape, rate):
    return (np.random.default_rng(seed).random(shape) < rate).astype(np.float32)


def weights(seed, shape, low=0.2, high=0.8):
    return np.random.default_rng(seed).uniform(low, high, shape).astype(np.float32)


def run(step, pre, post, w, p):
    state = STDPState(t_pre=torch.zeros(pre.shape[1:]), t_post=torch.zeros(post.shape[1:]))
    w = torch.tensor(w)
    ws, t_pres, t_posts = [], [], []
    for z_pre, z_post in zip(torch.tensor(pre), torch.tensor(post)):
        w, state = step(z_pre, z_post, w, state, p, dt=1e-3)
        ws.append(w.clone())
        t_pres.append(state.t_pre.clone())
        t_posts.append(state.t_post.clone())
    return {"w": torch.stack(ws), "t_pre": torch.stack(t_pres), "t_post": torch.stack(t_posts)}


T, B, N_PRE, N_POST = 12, 2, 4, 3
linear = {}
cases = {
    "additive": dict(stdp_algorithm="additive"),
    "additive_step": dict(stdp_algorithm="additive_step"),
    "multiplicative_pow": dict(stdp_algorithm="multiplicative_pow", mu=0.75),
    "multiplicative_relu": dict(stdp_algorithm="multiplicative_relu"),
    # Other traces and bounds, large rates so the hard bounds clip.
    "custom": dict(
        stdp_algorithm="additive", a_pre=torch.as_tensor(0.7), a_post=torch.as_tensor(1.3),
        tau_pre_inv=torch.as_tensor(30.0), tau_post_inv=torch.as_tensor(80.0),
        w_min=-0.2, w_max=0.9, eta_plus=8.0, eta_minus=6.0,
    ),
}
for k, (name, kwargs) in enumerate(cases.items()):
    pre, post = spikes(10 + k, (T, B, N_PRE), 0.35), spikes(20 + k, (T, B, N_POST), 0.35)
    w0 = weights(30 + k, (N_POST, N_PRE))
    kwargs.setdefault("eta_plus", 0.05)
    kwargs.setdefault("eta_minus", 0.04)
    options = {key: kwargs[key] for key in ("stdp_algorithm", "mu", "a_pre", "a_post", "tau_pre_inv",
                                              "tau_post_inv", "w_min", "w_max") if key in kwargs}
    p = STDPParameters(eta_plus=kwargs["eta_plus"], eta_minus=kwargs["eta_minus"], **options)
    linear[name] = {
        "params": {k2: float(v) for k2, v in kwargs.items() if k2 != "stdp_algorithm"},
        "algorithm": kwargs["stdp_algorithm"], "pre": pre, "post": post, "w0": w0,
        **run(stdp_step_linear, pre, post, w0, p),
    }

TC, C_IN, C_OUT, HW, K = 6, 2, 3, 7, 3
conv = {}
conv_cases = {
    "plain_relu": dict(stdp_algorithm="multiplicative_relu", stride=1, padding=0, dilation=1),
    "strided_padded_additive": dict(stdp_algorithm="additive", stride=2, padding=1, dilation=1),
    "dilated_pow_unbounded": dict(stdp_algorithm="multiplicative_pow", mu=0.5, stride=1,
                                  padding=1, dilation=2, hardbound=False),
}
for k, (name, kwargs) in enumerate(conv_cases.items()):
    out_hw = (HW + 2 * kwargs["padding"] - kwargs["dilation"] * (K - 1) - 1) // kwargs["stride"] + 1
    pre = spikes(40 + k, (TC, B, C_IN, HW, HW), 0.3)
    post = spikes(50 + k, (TC, B, C_OUT, out_hw, out_hw), 0.3)
    w0 = weights(60 + k, (C_OUT, C_IN, K, K))
    p = STDPParameters(eta_plus=3e-3, eta_minus=2e-3, convolutional=True, **kwargs)
    conv[name] = {
        "options": {k2: (v if isinstance(v, str) else float(v)) for k2, v in kwargs.items()},
        "pre": pre, "post": post, "w0": w0, **run(stdp_step_conv2d, pre, post, w0, p),
    }

# Tsodyks-Markram: a depressing and a facilitating synapse under random spikes.
stp = {}
for name, p in {
    "depressing": TsodyksMakramParameters(),
    "facilitating": TsodyksMakramParameters(tau_f_inv=1 / 750e-3, tau_d_inv=1 / 50e-3, U=0.15),
}.items():
    z = spikes(70, (200, B, 3), 0.05)
    s = TsodyksMakramState(u=torch.zeros(B, 3), x=torch.ones(B, 3))
    outs, us, xs = [], [], []
    for zt in torch.tensor(z):
        out, s = stp_step(zt, s, p)
        outs.append(out)
        us.append(s.u)
        xs.append(s.x)
    stp[name] = {
        "params": {"tau_f_inv": p.tau_f_inv, "tau_s_inv": p.tau_s_inv, "tau_d_inv": p.tau_d_inv,
                   "U": p.U},
        "z": z, "out": torch.stack(outs), "u": torch.stack(us), "x": torch.stack(xs),
    }

save("norse_stdp", {"linear": linear, "conv2d": conv, "stp": stp})
