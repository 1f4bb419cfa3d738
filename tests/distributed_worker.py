"""Training runs for tests/test_distributed.py, in a subprocess with its own device count.

XLA reads ``--xla_force_host_platform_device_count`` once, when JAX starts, so the tests run
this script with ``XLA_FLAGS`` set:

    python tests/distributed_worker.py compare OUT.npz             # data-parallel vs one device
    python tests/distributed_worker.py process OUT.npz PORT ID N   # process ID of N on localhost

Importing it has no side effects (pytest collects it for doctests).
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from spikejax import train
from spikejax.nn import LIF, Lift

TIME_STEPS, FEATURES, CLASSES, BATCH = 4, 8, 4, 16


class Tiny(nnx.Module):
    """8 -> 16 LIF -> 4 on time-major input (212 parameters); logits are the mean readout over time.

    The linear layers take the ``(T, B, F)`` input as it is, or with ``lift=True`` through
    ``Lift``, whose ``(T, B) -> T * B`` reshape would interleave the devices' rows (and make XLA
    gather the whole batch on every device) if the data-parallel step did not switch it to
    ``(B, T)`` order.
    """

    def __init__(self, rngs, lift: bool = False):
        wrap = Lift if lift else (lambda layer: layer)
        self.hidden = wrap(nnx.Linear(FEATURES, 16, rngs=rngs))
        self.neurons = LIF()
        self.readout = wrap(nnx.Linear(16, CLASSES, rngs=rngs))

    def __call__(self, x):
        spikes, _ = self.neurons(self.hidden(x))
        return self.readout(spikes).mean(0)


def loss_fn(model, batch):
    # The replicated key adds noise to the batch-split input: the same numbers on any sharding.
    x = batch["x"] + 0.5 * jax.random.normal(batch["key"], batch["x"].shape)
    logits = model(x * 20.0)
    return optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]).mean(), {"logits": logits}


BATCH_AXIS = {"x": 1, "y": 0, "key": None}


def batches(count: int, *, process: int = 0, processes: int = 1):
    """``count`` global batches of BATCH rows (time-major x), or this process's share of them."""
    rng = np.random.default_rng(0)
    share = BATCH // processes
    out = []
    for index in range(count):
        y = rng.integers(0, CLASSES, BATCH).astype(np.int32)
        x = rng.normal(size=(TIME_STEPS, BATCH, FEATURES)).astype(np.float32) + np.eye(CLASSES, FEATURES)[y]
        rows = slice(process * share, (process + 1) * share)
        out.append({"x": x[:, rows], "y": y[rows], "key": jax.random.key(index)})
    return out


def run(parallel=None, *, steps: int = 20, process: int = 0, processes: int = 1, lift: bool = False) -> dict:
    """Train ``steps`` steps, fit one more epoch and evaluate; the numbers as numpy arrays.

    Returns the loss of every step, the final parameters (``param...``), the optimizer's
    momentum (``momentum...``: a decayed sum of all the gradients), the mean training loss of
    the epoch run by ``fit``, the loss from ``evaluate`` and, when ``parallel`` is given, how
    often each collective occurs in the compiled train step (``collective/...``).
    """
    model = Tiny(nnx.Rngs(0), lift=lift)
    # SGD: Adam divides by the root of each gradient's square, so that rounding differences in
    # near-zero gradients (silent neurons) grow into differences of a whole learning rate.
    optimizer = nnx.Optimizer(model, optax.sgd(0.05, momentum=0.9), wrt=nnx.Param)
    step = train.make_train_step(loss_fn, parallel=parallel)
    eval_step = train.make_eval_step(loss_fn, parallel=parallel)
    data = batches(steps + 4, process=process, processes=processes)
    if parallel is not None:
        parallel.replicate(model, optimizer)  # needed before calling a step directly across processes
    losses = [step(model, optimizer, batch)["loss"] for batch in data[:steps]]
    result = {"losses": np.asarray(jax.device_get(losses))}
    for prefix, tree in (("param", nnx.state(model, nnx.Param)), ("momentum", nnx.state(optimizer.opt_state))):
        for path, leaf in jax.tree_util.tree_leaves_with_path(nnx.to_pure_dict(tree)):
            result[prefix + jax.tree_util.keystr(path)] = np.asarray(jax.device_get(leaf))
    if parallel is not None:
        # The compiled step (from the cache): data-parallel means gradients summed over devices
        # (all-reduce) and no device gathering the whole batch (all-gather).
        text = step.spikejax_step.lower(model, optimizer, parallel.shard(data[0])).compile().as_text()
        result |= {f"collective/{name}": np.asarray(text.count(name)) for name in ("all-reduce", "all-gather")}
    history = train.fit(model, optimizer, step, lambda epoch: data[steps:], epochs=1,
                        eval_step=eval_step, eval_batches=lambda: data[:2], progress=False, log=None)
    result["fit_loss"] = np.asarray(history[0]["train"]["loss"])
    result["eval_loss"] = np.asarray(history[0]["eval"]["loss"])
    return result


def spike_rate() -> float:
    """The hidden layer's spikes per neuron and step at initialisation (the test wants some)."""
    model = Tiny(nnx.Rngs(0))
    return float(jnp.mean(model.neurons(model.hidden(batches(1)[0]["x"] * 20.0))[0]))


def compare(out: str) -> None:
    """One device and every device, in one process; plus the message for an uneven batch."""
    parallel = train.data_parallel(batch_axis=BATCH_AXIS)
    assert parallel.size == jax.device_count() > 1, jax.devices()
    results = {"single": run(), "parallel": run(parallel),
               "lift_single": run(steps=5, lift=True), "lift_parallel": run(parallel, steps=5, lift=True)}
    try:
        parallel.shard(batches(1)[0] | {"y": np.zeros(BATCH - 4, np.int32), "x": np.zeros((4, BATCH - 4, 8))})
        message = "no error"
    except ValueError as error:
        message = str(error)
    flat = {f"{name}/{key}": value for name, result in results.items() for key, value in result.items()}
    np.savez(out, message=np.asarray(message), devices=np.asarray(parallel.size),
             spike_rate=np.asarray(spike_rate()), **flat)


def process(out: str, port: str, process_id: str, processes: str) -> None:
    """One of ``processes`` processes of a run coordinated on localhost:``port``."""
    process_id, processes = int(process_id), int(processes)
    index = train.initialize_distributed(f"localhost:{port}", num_processes=processes, process_id=process_id)
    parallel = train.data_parallel(batch_axis=BATCH_AXIS)
    result = run(parallel, process=process_id, processes=processes)
    np.savez(out, index=np.asarray(index), devices=np.asarray(parallel.size),
             local_devices=np.asarray(jax.local_device_count()), **result)


if __name__ == "__main__":
    {"compare": compare, "process": process}[sys.argv[1]](*sys.argv[2:])
