"""Norse 1.1 reference for the conductance-based LIF and the Izhikevich neuron.

CobaLIF: feed-forward trajectory and gradient; the recurrent step with both the input and the
recurrent conductance jumps (through Norse's own ``coba_lif_step``: Norse 1.1.0 overwrites the
input jump with the recurrent one, so the input is fed to it as extra "recurrent" spikes with
the weights ``[W_in, W_rec]``); and Norse's recurrent step as it is, input ignored.

Izhikevich: feed-forward with per-neuron parameters, the recurrent step, and every preset
driven by its protocol from Izhikevich (2004), "Which model to use for cortical spiking
neurons?", Fig. 1 (the MATLAB code published with it), on the time grid ``t = k * tau_inv * dt``
ms of the preset (Norse runs them so in its tests; spike latency uses Norse's 7.4 instead of
7.04, which Norse's update order does not fire with).
"""

import numpy as np
import torch
from _common import inputs, record, save
from norse.torch.functional import izhikevich as izk
from norse.torch.functional.coba_lif import (
    CobaLIFFeedForwardState,
    CobaLIFParameters,
    CobaLIFState,
    coba_lif_feed_forward_step,
    coba_lif_step,
)
from norse.torch.functional.izhikevich import (
    IzhikevichParameters,
    IzhikevichRecurrentState,
    IzhikevichState,
    izhikevich_feed_forward_step,
    izhikevich_recurrent_step,
)

T, B, N, H = 40, 2, 3, 4
rng = np.random.default_rng(7)


def coba_feed_forward():
    p = CobaLIFParameters()
    xs_np = inputs(10, (T, B, N), scale=1.0, offset=0.3)
    xs = torch.tensor(xs_np, requires_grad=True)
    state = CobaLIFFeedForwardState(
        v=torch.full((B, N), -20.0), g_e=torch.zeros(B, N), g_i=torch.zeros(B, N)
    )
    zs, f = record(lambda x, s: coba_lif_feed_forward_step(x, s, p), state, xs)
    (f["v"].sum() + zs.sum()).backward()
    return {"xs": xs_np, "z": zs, "v": f["v"], "g_e": f["g_e"], "g_i": f["g_i"], "grad_xs": xs.grad}


def coba_recurrent():
    p = CobaLIFParameters()
    xs_np = (rng.random((T, B, N)) < 0.3).astype(np.float32)
    w_in_np = inputs(11, (H, N), scale=1.0, offset=0.3)
    w_rec_np = inputs(12, (H, H), scale=0.5)
    xs = torch.tensor(xs_np, requires_grad=True)
    w_in = torch.tensor(w_in_np, requires_grad=True)
    w_rec = torch.tensor(w_rec_np, requires_grad=True)
    w_both = torch.cat([w_in, w_rec], dim=1)

    def step(x, s):
        # The input spikes ride along with the recurrent ones: z_aug @ relu(±[W_in, W_rec]).T.
        s_aug = CobaLIFState(torch.cat([x, s.z], dim=-1), s.v, s.g_e, s.g_i)
        return coba_lif_step(x, s_aug, w_in, w_both, p)

    zeros = torch.zeros(B, H)
    state = CobaLIFState(z=zeros, v=torch.full((B, H), -20.0), g_e=zeros, g_i=zeros)
    zs, f = record(step, state, xs)
    (f["v"].sum() + zs.sum()).backward()
    return {
        "xs": xs_np, "input_weights": w_in_np, "recurrent_weights": w_rec_np,
        "z": zs, "v": f["v"], "g_e": f["g_e"], "g_i": f["g_i"],
        "grad_xs": xs.grad, "grad_input_weights": w_in.grad, "grad_recurrent_weights": w_rec.grad,
    }


def coba_recurrent_as_is():
    p = CobaLIFParameters()
    xs_np = np.ones((30, B, N), np.float32)
    w_in_np = inputs(13, (H, N), scale=1.0)
    w_rec_np = inputs(14, (H, H), scale=2.0)
    g_e0 = np.abs(inputs(15, (B, H), scale=1.0, offset=2.0))
    state = CobaLIFState(
        z=torch.zeros(B, H), v=torch.full((B, H), -20.0), g_e=torch.tensor(g_e0), g_i=torch.zeros(B, H)
    )
    w_in, w_rec = torch.tensor(w_in_np), torch.tensor(w_rec_np)
    zs, f = record(lambda x, s: coba_lif_step(x, s, w_in, w_rec, p), state, torch.tensor(xs_np))
    return {"xs": xs_np, "input_weights": w_in_np, "recurrent_weights": w_rec_np, "g_e0": g_e0,
            "z": zs, "v": f["v"], "g_e": f["g_e"], "g_i": f["g_i"]}


# Tonic spiking, phasic spiking and tonic bursting side by side: parameters per neuron.
IZ_COLUMNS = {"a": [0.02, 0.02, 0.02], "b": [0.2, 0.25, 0.2], "c": [-65.0, -65.0, -50.0], "d": [6.0, 6.0, 2.0]}


def izhikevich_feed_forward():
    p = IzhikevichParameters(**{k: torch.tensor(v) for k, v in IZ_COLUMNS.items()})
    xs_np = inputs(20, (60, B, N), scale=4.0, offset=12.0)
    xs = torch.tensor(xs_np, requires_grad=True)
    v0 = torch.full((B, N), -70.0)
    state = IzhikevichState(v=v0, u=v0 * p.b)
    zs, f = record(lambda x, s: izhikevich_feed_forward_step(x, s, p), state, xs)
    (f["v"].sum() + zs.sum()).backward()
    return {"columns": IZ_COLUMNS, "xs": xs_np, "z": zs, "v": f["v"], "u": f["u"], "grad_xs": xs.grad}


def izhikevich_recurrent():
    p = izk.tonic_spiking.p
    xs_np = inputs(21, (60, B, N), scale=0.5, offset=1.0)
    w_in_np = inputs(22, (H, N), scale=2.0, offset=4.0)
    w_rec_np = inputs(23, (H, H), scale=10.0)
    xs = torch.tensor(xs_np, requires_grad=True)
    w_in = torch.tensor(w_in_np, requires_grad=True)
    w_rec = torch.tensor(w_rec_np, requires_grad=True)
    v0 = torch.full((B, H), -70.0)
    state = IzhikevichRecurrentState(z=torch.zeros(B, H), v=v0, u=v0 * p.b)
    zs, f = record(lambda x, s: izhikevich_recurrent_step(x, s, w_in, w_rec, p), state, xs)
    (f["v"].sum() + zs.sum()).backward()
    return {
        "xs": xs_np, "input_weights": w_in_np, "recurrent_weights": w_rec_np,
        "z": zs, "v": f["v"], "u": f["u"],
        "grad_xs": xs.grad, "grad_input_weights": w_in.grad, "grad_recurrent_weights": w_rec.grad,
    }


def pulses(t, starts, width, amplitude, base=0.0):
    on = np.zeros(t.shape, bool)
    for start in starts:
        on |= (t > start) & (t < start + width)
    return np.where(on, amplitude, base)


def step_at(onset, amplitude):
    return lambda t: np.where(t > onset, amplitude, 0.0)


# name: (duration in ms, I(t) in mV/ms), from Izhikevich's MATLAB code for Fig. 1.
PROTOCOLS = {
    "tonic_spiking": (100, step_at(10, 14.0)),
    "phasic_spiking": (200, step_at(20, 0.5)),
    "tonic_bursting": (220, step_at(22, 15.0)),
    "phasic_bursting": (200, step_at(20, 0.6)),
    "mixed_mode": (160, step_at(16, 10.0)),
    "spike_frequency_adaptation": (85, step_at(8.5, 30.0)),
    "class_1_exc": (300, lambda t: np.where(t > 30, 0.075 * (t - 30), 0.0)),
    "class_2_exc": (300, lambda t: np.where(t > 30, -0.5 + 0.015 * (t - 30), -0.5)),
    "spike_latency": (100, lambda t: pulses(t, [10], 3, 7.4)),
    "subthreshold_oscillation": (200, lambda t: pulses(t, [20], 5, 2.0)),
    "resonator": (400, lambda t: pulses(t, [40, 60, 280, 320], 4, 0.65)),
    "integrator": (100, lambda t: pulses(t, [100 / 11, 100 / 11 + 5, 70, 80], 2, 9.0)),
    "rebound_spike": (200, lambda t: pulses(t, [20], 5, -15.0)),
    "rebound_burst": (200, lambda t: pulses(t, [20], 5, -15.0)),
    "threshold_variability": (100, lambda t: pulses(t, [10, 80], 5, 1.0) + pulses(t, [70], 5, -6.0)),
    "bistability": (300, lambda t: pulses(t, [300 / 8, 216], 5, 1.24, 0.24)),
    "dap": (50, lambda t: np.where(np.abs(t - 10) < 1, 20.0, 0.0)),
    "accomodation": (400, lambda t: np.select(
        [t < 200, t < 300, t < 312.5], [t / 25, 0.0 * t, (t - 300) / 12.5 * 4], 0.0)),
    "inhibition_induced_spiking": (350, lambda t: np.where((t < 50) | (t > 250), 80.0, 75.0)),
    "inhibition_induced_bursting": (350, lambda t: np.where((t < 50) | (t > 250), 80.0, 75.0)),
}


def presets():
    out = {}
    for name, (duration, current) in PROTOCOLS.items():
        p, s = getattr(izk, name)
        ms_per_step = p.tau_inv * 1e-3
        steps = int(round(duration / ms_per_step))
        t = np.arange(steps) * ms_per_step
        i_np = np.round(current(t), 6).astype(np.float32)
        state = IzhikevichState(v=s.v.detach().reshape(1), u=s.u.detach().reshape(1))
        spikes = []
        with torch.no_grad():
            for k in range(steps):
                z, state = izhikevich_feed_forward_step(torch.tensor(i_np[k : k + 1]), state, p)
                if z.item() > 0:
                    spikes.append(k)
        fields = ("a", "b", "c", "d", "sq", "mn", "bias", "v_th", "tau_inv")
        out[name] = {"ms_per_step": ms_per_step, "current": i_np, "spike_steps": spikes,
                     "v0": float(s.v), "u0": float(s.u),
                     "parameters": {k: float(getattr(p, k)) for k in fields}}
        print(f"{name:30s} {len(spikes)} spikes")
    return out


save("norse_coba_izhikevich", {
    "coba_feed_forward": coba_feed_forward(),
    "coba_recurrent": coba_recurrent(),
    "coba_recurrent_as_is": coba_recurrent_as_is(),
    "izhikevich_feed_forward": izhikevich_feed_forward(),
    "izhikevich_recurrent": izhikevich_recurrent(),
    "presets": presets(),
})
