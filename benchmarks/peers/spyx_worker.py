"""Peer worker for Spyx (JAX + Flax NNX): ``python spyx_worker.py``, run by Spyx's interpreter.

Spyx's neurons reset by subtraction and emit the spike of the *previous* membrane
(``spikes = H(V - threshold)``, then ``V = beta V + x - spikes threshold``), so of spikejax's
models only ``"leaky"`` (snnTorch's ``Leaky``: beta, subtract reset one step later) has its
dynamics: the membranes are equal step for step, and Spyx's spike train is spikejax's shifted by
one step. The spikes saved for the comparison are realigned: Spyx's steps ``1..T-1`` and, for
the last, the spike of its final membrane. Spyx has no neuron with Norse's reset to zero, so it
sits out ``"lif"``.

The Linear layer (``nnx.Linear`` without bias, the ``.npz`` weights) is applied to all steps at
once, then ``spyx.nn.run`` scans ``spyx.nn.LIF(beta, activation=superspike(alpha))``; both
jitted, the time includes ``block_until_ready``.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _protocol import serve  # noqa: E402


def greet():
    from importlib.metadata import version

    import jax
    import spyx  # noqa: F401 - a missing Spyx skips this worker

    return {"library": "spyx", "version": version("spyx"), "jax": jax.__version__,
            "device": str(jax.devices()[0]), "python": sys.version.split()[0], "models": ["leaky"]}


def load(request):
    import jax
    import jax.numpy as jnp
    import spyx
    from flax import nnx

    if request["model"] != "leaky":
        raise ValueError("spyx has no {!r} neuron here (its neurons reset by subtraction)".format(
            request["model"]))
    data = np.load(request["npz"])
    w, x = jnp.asarray(data["w"]), jnp.asarray(data["x"])
    threshold = float(data["v_th"])
    lif = spyx.nn.LIF((w.shape[1],), beta=float(data["beta"]), threshold=threshold,
                      activation=spyx.axn.superspike(k=float(data["alpha"])), rngs=nnx.Rngs(0))
    graphdef, neuron_state = nnx.split(lif)

    def layer(w, x):
        spikes, v = spyx.nn.run(nnx.merge(graphdef, neuron_state), x @ w)
        return spikes, v

    forward = jax.jit(layer)
    gradient = jax.jit(jax.grad(lambda w, x: jnp.sum(layer(w, x)[0]), argnums=(0, 1)))
    spikes, v = forward(w, x)
    aligned = np.concatenate([np.asarray(spikes[1:]), np.asarray(v > threshold, np.float32)[None]])
    np.save(request["spikes_out"], aligned.astype(np.uint8))
    jax.block_until_ready(gradient(w, x))
    return ({"spike_count": int(aligned.sum()), "shape": list(aligned.shape),
             "first_step_spikes": int(np.asarray(spikes[0]).sum())},
            {"forward": lambda: jax.block_until_ready(forward(w, x)),
             "forward+backward": lambda: jax.block_until_ready(gradient(w, x))})


if __name__ == "__main__":
    serve(greet, load)
