"""PyTorch worker of ``benchmarks.conv_cpu``: the same conv SNN training step, eager PyTorch.

``python conv_torch_worker.py``, run by an interpreter with torch. The load request names an
``.npz`` with spikejax's initial weights (Flax layouts: HWIO kernels, an NHWC-flattened readout),
one batch of images and labels, ``lr`` and ``time_steps``. The network is ``tasks.mnist``'s:
conv 5x5 + LIF + 2x2 max-pool, conv 5x5 + LIF + 2x2 max-pool, linear readout into leaky
integrators (LI), scores the maximum readout membrane over time, cross-entropy, Adam. Neurons:
Norse's LIF and LI equations (dt 1 ms, tau_syn_inv 200, tau_mem_inv 100, v_th 1, reset to 0),
arctan surrogate ``alpha / 2 / (1 + (pi / 2 alpha x)^2)`` with alpha 2. The constant input
current (the first convolution) is computed once; the loop over time is Python (eager).

It answers the losses of the first ``check_steps`` steps (the first before any update), which
must equal spikejax's, and then times ``"train step, k threads"`` for each ``k`` in the request's
``threads`` (0: torch's default). On a loaded machine one thread can be much faster than
several: OpenMP's barriers wait for descheduled threads.
"""

import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _protocol import serve  # noqa: E402

DT, TAU_SYN_INV, TAU_MEM_INV, V_TH, ALPHA = 1e-3, 200.0, 100.0, 1.0, 2.0


def greet():
    import torch

    return {"library": "torch", "version": torch.__version__, "torch_threads": torch.get_num_threads(),
            "python": sys.version.split()[0]}


def build(data):
    import torch
    import torch.nn.functional as F

    class Spike(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return (x > 0).to(x.dtype)

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad * (ALPHA / 2) / (1 + (math.pi / 2 * ALPHA * x) ** 2)

    def lif(x, v, i):
        i = i + x
        v = v + DT * TAU_MEM_INV * (-v + i)
        i = i - DT * TAU_SYN_INV * i
        z = Spike.apply(v - V_TH)
        return z, (1 - z) * v, i

    def li(x, v, i):
        i = i + x
        v = v + DT * TAU_MEM_INV * (-v + i)
        return v, i - DT * TAU_SYN_INV * i

    class ConvSNN(torch.nn.Module):
        def __init__(self):
            super().__init__()
            tensor = lambda name: torch.from_numpy(np.ascontiguousarray(data[name]))
            hwio = lambda name: tensor(name).permute(3, 2, 0, 1).contiguous()  # HWIO -> OIHW
            c2 = data["conv2_kernel"].shape[-1]
            side = int(round(math.sqrt(data["fc_kernel"].shape[0] // c2)))
            # Flax flattens (h, w, c); torch flattens (c, h, w).
            fc = data["fc_kernel"].reshape(side, side, c2, -1).transpose(2, 0, 1, 3).reshape(-1, data["fc_kernel"].shape[1])
            self.conv1_weight = torch.nn.Parameter(hwio("conv1_kernel"))
            self.conv1_bias = torch.nn.Parameter(tensor("conv1_bias"))
            self.conv2_weight = torch.nn.Parameter(hwio("conv2_kernel"))
            self.conv2_bias = torch.nn.Parameter(tensor("conv2_bias"))
            self.fc_weight = torch.nn.Parameter(torch.from_numpy(np.ascontiguousarray(fc.T)))
            self.fc_bias = torch.nn.Parameter(tensor("fc_bias"))

        def forward(self, images, steps):
            current = F.conv2d(images[:, None], self.conv1_weight, self.conv1_bias, padding=2)
            zeros = lambda shape: torch.zeros(shape, dtype=current.dtype)
            v1 = i1 = zeros(current.shape)
            v2 = i2 = v3 = i3 = None
            voltages = []
            for _ in range(steps):
                z1, v1, i1 = lif(current, v1, i1)
                x2 = F.conv2d(F.max_pool2d(z1, 2), self.conv2_weight, self.conv2_bias, padding=2)
                if v2 is None:
                    v2 = i2 = zeros(x2.shape)
                z2, v2, i2 = lif(x2, v2, i2)
                x3 = F.linear(F.max_pool2d(z2, 2).flatten(1), self.fc_weight, self.fc_bias)
                if v3 is None:
                    v3 = i3 = zeros(x3.shape)
                v3, i3 = li(x3, v3, i3)
                voltages.append(v3)
            return torch.stack(voltages).max(0).values

    return ConvSNN()


def load(request):
    import torch

    data = np.load(request["npz"])
    model = build(data)
    optimizer = torch.optim.Adam(model.parameters(), lr=float(data["lr"]))
    images = torch.from_numpy(np.ascontiguousarray(data["images"]))
    labels = torch.from_numpy(data["labels"].astype(np.int64))
    steps = int(data["time_steps"])

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(images, steps), labels)
        loss.backward()
        optimizer.step()
        return loss.detach()

    losses = [float(train_step()) for _ in range(int(request.get("check_steps", 2)))]
    default = torch.get_num_threads()
    calls = {}
    for threads in request.get("threads", [0]):
        threads = int(threads) or default

        def call(threads=threads):
            torch.set_num_threads(threads)
            return train_step()

        calls[f"train step, {threads} threads"] = call
    return {"losses": losses, "modes": list(calls)}, calls


if __name__ == "__main__":
    serve(greet, load)
