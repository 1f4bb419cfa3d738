"""snnTorch 1.0.0 reference for Leaky, Synaptic, RLeaky and RSynaptic.

Every case stores its inputs, the spike and state trajectories, and the gradients of
``sum(mem) + sum(spk)`` with respect to the inputs, the decay rates, the threshold and (for the
recurrent neurons) the input and recurrent weights. The recurrent neurons are driven by a
bias-free ``nn.Linear`` (the input weights) and use ``RLeaky(linear_features=H)`` or
``RSynaptic(...)`` with the recurrent ``nn.Linear``'s weight set to stored values and its bias
set to zero. snnTorch's default ``reset_delay=True`` is used unless a case ends in ``/no_delay``.

Run: ``cd tests/reference && /tmp/refenv/bin/python make_snntorch.py``.
"""

import numpy as np
import snntorch as snn
import torch
from _common import inputs, save
from snntorch import surrogate

T, B, N, H = 40, 2, 3, 4
MECHANISMS = ("subtract", "zero", "none")


def feed_forward(cls, xs_np, decays, *, threshold=1.0, spike_grad=None, **options):
    """Run an snnTorch feed-forward neuron over ``xs_np`` from the zero state."""
    xs = torch.tensor(xs_np, requires_grad=True)
    if "alpha" in decays:
        options["learn_alpha"] = True
    neuron = cls(**decays, threshold=threshold, spike_grad=spike_grad, learn_beta=True,
                 learn_threshold=True, **options)
    hidden = [torch.zeros(xs.shape[1:]) for _ in range(2 if cls is snn.Synaptic else 1)]
    spks, states = [], []
    for x in xs:
        spk, *hidden = neuron(x, *hidden)
        spks.append(spk)
        states.append(hidden)
    return xs, neuron, torch.stack(spks), [torch.stack(s) for s in zip(*states)]


def recurrent(cls, xs_np, w_in_np, w_rec_np, decays, *, threshold=1.0, **options):
    """Run an snnTorch recurrent neuron behind a bias-free linear input layer."""
    xs = torch.tensor(xs_np, requires_grad=True)
    hidden_size = w_in_np.shape[0]
    fc = torch.nn.Linear(w_in_np.shape[1], hidden_size, bias=False)
    if "alpha" in decays:
        options["learn_alpha"] = True
    neuron = cls(**decays, linear_features=hidden_size, threshold=threshold, learn_beta=True,
                 learn_threshold=True, **options)
    with torch.no_grad():
        fc.weight.copy_(torch.tensor(w_in_np))
        neuron.recurrent.weight.copy_(torch.tensor(w_rec_np))
        neuron.recurrent.bias.zero_()
    n_hidden = 2 if cls is snn.RSynaptic else 1
    spk = torch.zeros(xs.shape[1], hidden_size)
    hidden = [torch.zeros(xs.shape[1], hidden_size) for _ in range(n_hidden)]
    spks, states = [], []
    for x in xs:
        spk, *hidden = neuron(fc(x), spk, *hidden)
        spks.append(spk)
        states.append(hidden)
    return xs, (fc, neuron), torch.stack(spks), [torch.stack(s) for s in zip(*states)]


def record(xs, spks, states, names, params):
    mem = states[-1]
    (mem.sum() + spks.sum()).backward()
    out = {"xs": xs.detach(), "spk": spks, "grad_xs": xs.grad}
    out.update(dict(zip(names, states)))
    out.update({f"grad_{name}": tensor.grad for name, tensor in params.items()})
    return out


def rate(case):
    return float(np.asarray(case["spk"].detach()).mean())


cases = {}

# Leaky and Synaptic, every reset mechanism, both reset timings.
for mechanism in MECHANISMS:
    for delay in (True, False):
        if mechanism == "none" and not delay:
            continue  # reset_delay only changes a resetting neuron
        suffix = "" if delay else "/no_delay"
        xs_np = inputs(10, (T, B, N), scale=0.8, offset=0.3)
        xs, n, spk, states = feed_forward(
            snn.Leaky, xs_np, {"beta": 0.9}, reset_mechanism=mechanism, reset_delay=delay
        )
        cases[f"leaky/{mechanism}{suffix}"] = record(
            xs, spk, states, ["mem"], {"beta": n.beta, "threshold": n.threshold}
        ) | {"beta": 0.9, "threshold": 1.0}

        xs_np = inputs(11, (T, B, N), scale=0.3, offset=0.05)
        xs, n, spk, states = feed_forward(
            snn.Synaptic, xs_np, {"alpha": 0.9, "beta": 0.8}, reset_mechanism=mechanism,
            reset_delay=delay,
        )
        cases[f"synaptic/{mechanism}{suffix}"] = record(
            xs, spk, states, ["syn", "mem"],
            {"alpha_syn": n.alpha, "beta": n.beta, "threshold": n.threshold},
        ) | {"alpha_syn": 0.9, "beta": 0.8, "threshold": 1.0}

# beta clipping: a per-neuron beta inside, on the edge of and outside [0, 1]; another surrogate
# and threshold.
xs_np = inputs(12, (T, B, N), scale=0.8, offset=0.2)
beta = [0.5, 1.0, 1.3]
xs, n, spk, states = feed_forward(
    snn.Leaky, xs_np, {"beta": beta}, threshold=0.5, spike_grad=surrogate.fast_sigmoid(slope=25)
)
cases["leaky/clip_fast_sigmoid"] = record(
    xs, spk, states, ["mem"], {"beta": n.beta, "threshold": n.threshold}
) | {"beta": beta, "threshold": 0.5}

# RLeaky and RSynaptic. RSynaptic 1.0.0 ignores reset_delay=False (its immediate reset writes to
# a local variable), so only the delayed reset is recorded for it.
w_in_np = inputs(13, (H, N), scale=0.6)
w_rec_np = inputs(14, (H, H), scale=0.6)
for mechanism in MECHANISMS:
    for delay in (True, False):
        if mechanism == "none" and not delay:
            continue
        suffix = "" if delay else "/no_delay"
        xs_np = inputs(15, (T, B, N), scale=0.8, offset=0.4)
        xs, (fc, n), spk, states = recurrent(
            snn.RLeaky, xs_np, w_in_np, w_rec_np, {"beta": 0.9}, reset_mechanism=mechanism,
            reset_delay=delay,
        )
        cases[f"rleaky/{mechanism}{suffix}"] = record(
            xs, spk, states, ["mem"],
            {"beta": n.beta, "threshold": n.threshold, "input_weights": fc.weight,
             "recurrent_weights": n.recurrent.weight},
        ) | {"beta": 0.9, "threshold": 1.0, "input_weights": w_in_np, "recurrent_weights": w_rec_np}
        if not delay:
            continue
        xs_np = inputs(16, (T, B, N), scale=0.3, offset=0.1)
        xs, (fc, n), spk, states = recurrent(
            snn.RSynaptic, xs_np, w_in_np, w_rec_np, {"alpha": 0.9, "beta": 0.8},
            reset_mechanism=mechanism,
        )
        cases[f"rsynaptic/{mechanism}"] = record(
            xs, spk, states, ["syn", "mem"],
            {"alpha_syn": n.alpha, "beta": n.beta, "threshold": n.threshold,
             "input_weights": fc.weight, "recurrent_weights": n.recurrent.weight},
        ) | {"alpha_syn": 0.9, "beta": 0.8, "threshold": 1.0, "input_weights": w_in_np,
             "recurrent_weights": w_rec_np}

for name, case in cases.items():
    print(f"{name:28s} spike rate {rate(case):.2f}")
save("snntorch", cases)
