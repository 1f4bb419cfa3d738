"""Norse 1.1 and snnTorch 1.0 references for the deterministic encoders and spike-time decoder.

Random encoders (Poisson) cannot be compared sample by sample (different generators); the
tests check their statistics instead.
"""

import numpy as np
import torch
from _common import inputs, save
from norse.torch.functional.encode import (
    constant_current_lif_encode,
    population_encode,
    spike_latency_encode,
    spike_latency_lif_encode,
)
from norse.torch.functional.lif import LIFParameters, lif_current_encoder
from norse.torch.functional.spikes_to_times_decoder import ToSpikeTimes
from snntorch import spikegen

rng = np.random.default_rng(7)
p = LIFParameters()
T = 30

# Population codes: Norse's default scale (the input maximum) and a given scale.
pop_x = (rng.random((2, 4)) * 2).astype(np.float32)
population = {
    "x": pop_x,
    "default_f5": population_encode(torch.tensor(pop_x), 5),
    "scale3_f4": population_encode(torch.tensor(pop_x), 4, scale=3.0),
}

# Current encoder: trajectory of (z, v) under a constant current, and the gradient of
# sum(v) + sum(z) with respect to the current (Norse's SuperSpike ignores alpha: use alpha=1).
cur_np = np.abs(inputs(0, (3, 4), scale=8.0, offset=6.0)).astype(np.float32)
cur = torch.tensor(cur_np, requires_grad=True)
v, zs, vs = torch.zeros(3, 4), [], []
for _ in range(T):
    z, v = lif_current_encoder(cur, v, p)
    zs.append(z)
    vs.append(v)
zs, vs = torch.stack(zs), torch.stack(vs)
(vs.sum() + zs.sum()).backward()
current = {
    "x": cur_np,
    "z": zs,
    "v": vs,
    "grad_x": cur.grad,
    "constant_current": constant_current_lif_encode(torch.tensor(cur_np), T, p),
    "spike_latency_lif": spike_latency_lif_encode(torch.tensor(cur_np), T, p),
}

# First-spike filter and spike times (with the gradient where every neuron spikes: Norse's
# backward fails with a shape error when some returned time is inf).
spikes_np = (rng.random((12, 2, 3)) < 0.2).astype(np.float32)
dense_np = (rng.random((12, 2, 3)) < 0.5).astype(np.float32)
dense_np[0] = 0.0
dense_np[5:8] = 1.0
dense = torch.tensor(dense_np, requires_grad=True)
weights = torch.tensor(rng.random((2, 2, 3)).astype(np.float32))
times2 = ToSpikeTimes.apply(dense, torch.as_tensor(2))
(times2 * weights).sum().backward()
decode = {
    "spikes": spikes_np,
    "spike_latency": spike_latency_encode(torch.tensor(spikes_np)),
    "times1": ToSpikeTimes.apply(torch.tensor(spikes_np), torch.as_tensor(1)),
    "times3": ToSpikeTimes.apply(torch.tensor(spikes_np), torch.as_tensor(3)),
    "dense": dense_np,
    "dense_weights": weights,
    "dense_times2": times2,
    "dense_grad": dense.grad,
}

# snnTorch latency codes: inputs away from rounding boundaries, plus edge values.
lat_x = np.concatenate(
    [rng.random((2, 5)).astype(np.float32), np.array([[0.0, 0.005, 0.01, 0.5, 1.0]], np.float32)]
)
configs = {
    "log_norm": dict(num_steps=10, normalize=True),
    "linear_norm": dict(num_steps=10, normalize=True, linear=True),
    "log_tau5": dict(num_steps=25, tau=5, bypass=True),
    "linear_tau5_clip": dict(num_steps=8, tau=5, linear=True, threshold=0.1, clip=True),
    "log_first2_clip": dict(num_steps=12, normalize=True, first_spike_time=2, clip=True),
    "linear_targets": dict(num_steps=6, linear=True, normalize=True, on_target=2.0, off_target=0.5),
}
latency = {"x": lat_x}
for name, cfg in configs.items():
    code_keys = ("num_steps", "tau", "threshold", "first_spike_time", "normalize", "linear")
    code_args = {k: cfg[k] for k in code_keys if k in cfg}
    times, _ = spikegen.latency_code(torch.tensor(lat_x), **code_args)
    latency[name] = {"times": times, "spikes": spikegen.latency(torch.tensor(lat_x), **cfg)}

# snnTorch delta modulation of a random walk.
walk = np.cumsum(inputs(1, (10, 2, 3), scale=0.3), axis=0).astype(np.float32)
delta = {"x": walk}
for padding in (False, True):
    for off in (False, True):
        delta[f"p{int(padding)}_o{int(off)}"] = spikegen.delta(
            torch.tensor(walk), threshold=0.2, padding=padding, off_spike=off
        )

save(
    "norse_encode",
    {"population": population, "current": current, "decode": decode, "latency": latency, "delta": delta},
)
