"""Peer worker for the PyTorch libraries: ``python torch_worker.py norse|snntorch|spikingjelly``.

Run by the peer's interpreter (it needs torch and the library, not jax), on CUDA when torch
sees a GPU, else on the CPU. The layer is a
``torch.nn.Linear`` without bias (the weights of the ``.npz``) applied to all steps at once,
then the library's neuron over time. Two neuron semantics (``model`` of the load request):

``"lif"``: Norse's LIF (current jump, Euler step of ``v`` and ``i``, spike, reset to
``v_reset``), spikejax's ``LIF``. Norse's ``LIF`` module takes the parameters as they are.
snnTorch's ``Synaptic(alpha=1 - dt tau_syn_inv, beta=1 - dt tau_mem_inv, reset_mechanism="zero",
reset_delay=False)`` and SpikingJelly's ``CUBALIFNode(c_decay=1 - dt tau_syn_inv,
v_decay=1 - dt tau_mem_inv, v_reset=0)`` are the same recursion on the current scaled by
``dt tau_mem_inv``: with ``c = dt tau_mem_inv i``, Norse's ``v + dt tau_mem_inv (-v + i + x)`` is
``beta v + c_jump``. This needs ``v_leak = v_reset = 0``. SpikingJelly spikes at ``>= v_th``,
the others at ``> v_th`` (equality has probability zero here).

``"leaky"``: snnTorch's ``Leaky(beta, subtract reset, reset_delay=True)``, spikejax's ``Leaky``.

``threads`` in the load request sets torch's intra-op threads (on a loaded machine one thread
can be much faster than several: OpenMP's barriers wait for descheduled threads).

Surrogates: SuperSpike (Norse ``method="super"``, snnTorch ``fast_sigmoid(slope=alpha)``,
SpikingJelly ``SuperSpike``); they only change the backward pass's numbers, not its cost.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _protocol import serve  # noqa: E402

LIBRARY = sys.argv[1] if len(sys.argv) > 1 else ""
MODELS = {"norse": ("lif",), "snntorch": ("lif", "leaky"), "spikingjelly": ("lif",)}


def greet():
    if LIBRARY not in MODELS:
        raise ImportError("unknown library {!r}; expected one of {}".format(LIBRARY, sorted(MODELS)))
    import importlib

    import torch

    module = importlib.import_module(LIBRARY)
    version = getattr(module, "__version__", None)
    try:
        from importlib.metadata import version as dist_version

        version = dist_version(LIBRARY)
    except Exception:  # noqa: BLE001 - the module's own attribute is second best
        pass
    return {"library": LIBRARY, "version": version, "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "python": sys.version.split()[0],
            "models": list(MODELS[LIBRARY])}


def neuron(model, p):
    """``neuron(currents (T, B, N)) -> spikes (T, B, N)`` of ``LIBRARY`` for ``model``."""
    import torch

    dt, scale = float(p["dt"]), float(p["dt"] * p["tau_mem_inv"])
    alpha_syn, beta_mem = 1 - dt * float(p["tau_syn_inv"]), 1 - scale
    if model not in MODELS[LIBRARY]:
        raise ValueError("{} has no {!r} neuron here".format(LIBRARY, model))
    if model == "lif" and LIBRARY != "norse" and (float(p["v_leak"]) or float(p["v_reset"])):
        raise ValueError("{} expresses Norse's LIF only with v_leak = v_reset = 0".format(LIBRARY))
    if LIBRARY == "norse":
        from norse.torch import LIF, LIFParameters

        layer = LIF(LIFParameters(
            tau_syn_inv=torch.as_tensor(float(p["tau_syn_inv"])),
            tau_mem_inv=torch.as_tensor(float(p["tau_mem_inv"])),
            v_leak=torch.as_tensor(float(p["v_leak"])), v_th=torch.as_tensor(float(p["v_th"])),
            v_reset=torch.as_tensor(float(p["v_reset"])), method="super",
            alpha=torch.as_tensor(float(p["alpha"]))), dt=dt)
        return lambda currents: layer(currents)[0]
    if LIBRARY == "snntorch":
        import snntorch
        from snntorch import surrogate

        grad = surrogate.fast_sigmoid(slope=float(p["alpha"]))
        if model == "lif":
            cell = snntorch.Synaptic(alpha=alpha_syn, beta=beta_mem, threshold=float(p["v_th"]),
                                     spike_grad=grad, reset_mechanism="zero", reset_delay=False)
            start, currents_scale = cell.init_synaptic, scale
        else:
            cell = snntorch.Leaky(beta=float(p["beta"]), threshold=float(p["v_th"]), spike_grad=grad,
                                  reset_mechanism="subtract")
            start, currents_scale = (lambda: (cell.init_leaky(),)), 1.0

        def run(currents):
            state, spikes = start(), []
            for x in currents * currents_scale:
                spike, *state = cell(x, *state)
                spikes.append(spike)
            return torch.stack(spikes)

        return run
    from spikingjelly.activation_based import functional, neuron as sj_neuron, surrogate

    node = sj_neuron.CUBALIFNode(c_decay=alpha_syn, v_decay=beta_mem, v_threshold=float(p["v_th"]),
                                 v_reset=0.0, surrogate_function=surrogate.SuperSpike())
    functional.set_step_mode(node, "m")

    def run(currents):
        functional.reset_net(node)
        return node(currents * scale)

    return run


def load(request):
    import torch

    if request.get("threads"):
        torch.set_num_threads(int(request["threads"]))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    # CUDA runs asynchronously: a timed call ends when the device is done.
    finish = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    data = np.load(request["npz"])
    w, x = torch.from_numpy(data["w"]).to(device), torch.from_numpy(data["x"]).to(device)
    linear = torch.nn.Linear(w.shape[0], w.shape[1], bias=False, device=device)
    with torch.no_grad():
        linear.weight.copy_(w.T)  # torch stores (out, in)
    run = neuron(request["model"], {k: data[k] for k in data.files if data[k].ndim == 0})

    def forward():
        with torch.no_grad():
            spikes = run(linear(x))
        finish()
        return spikes

    x_grad = x.clone().requires_grad_(True)

    def forward_backward():
        linear.weight.grad, x_grad.grad = None, None
        run(linear(x_grad)).sum().backward()
        finish()
        return linear.weight.grad, x_grad.grad

    spikes = forward().cpu().numpy()
    np.save(request["spikes_out"], spikes.astype(np.uint8))
    return ({"spike_count": int(spikes.sum()), "shape": list(spikes.shape),
             "torch_threads": torch.get_num_threads(), "device": str(device)},
            {"forward": forward, "forward+backward": forward_backward})


if __name__ == "__main__":
    serve(greet, load)
