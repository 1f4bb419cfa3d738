"""One training batch of the conv SNN of ``tasks.mnist``: spikejax against eager PyTorch, on CPU.

The network of ``tasks.mnist`` (its ``ConvSNN``, built from
spikejax's modules and ``train.make_train_step``): conv 5x5 1->32 + LIF + 2x2 max-pool, conv 5x5
32->64 + LIF + 2x2 max-pool, linear 3136->10 into leaky integrators, constant input (the first
convolution computed once), 4 time steps unrolled, batch 128, arctan surrogate, cross-entropy of
the maximum readout membrane, Adam (constant ``--lr``). The PyTorch version
(``benchmarks/peers/conv_torch_worker.py``) starts from the same weights, takes the same batch
of MNIST images, and runs in a subprocess under ``--torch-python``; its losses over the first
``--check-steps`` steps must equal spikejax's. The two are timed in the same rounds, one step
each in turn, so the ratio spikejax / PyTorch (goal <= 1.2) is what the shared machine's load
changes least; both wall time and each process's CPU time are recorded. PyTorch runs at each
of ``--torch-threads`` (on a loaded machine one thread can be much faster than two) and the
ratio is to its fastest.

    python -m benchmarks.conv_cpu --torch-python /tmp/refenv/bin/python
    python -m benchmarks.conv_cpu --batch 16 --channels 8 16 --repeats 3 --no-write   # a quick look
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile
import time

import jax
import numpy as np
import optax
from flax import nnx

from benchmarks._results import command_line, write_json
from benchmarks.common import environment, matmul_precision
from benchmarks.peers._protocol import Worker, timed_rounds
from spikejax import data as sdata
from spikejax import train
from tasks.mnist import ConvSNN

WORKER = pathlib.Path(__file__).resolve().parent / "peers" / "conv_torch_worker.py"


def batch(size: int, data_dir=None) -> dict:
    """The first ``size`` MNIST training images, normalised as in ``tasks.mnist``."""
    images, labels = sdata.load("mnist", "train", data_dir=data_dir)
    return {"x": sdata.normalize(images[:size]).astype(np.float32), "y": labels[:size].astype(np.int32),
            "key": jax.random.key(0)}


def spikejax_step(args, data):
    """``(step() -> loss, weights)``: the task's model and train step, and its initial weights."""
    # The PyTorch worker writes Norse's equations with Norse's time constants (100 and 200 1/s);
    # tasks.mnist's own defaults differ since 2026-12-05, so they are pinned here.
    model = ConvSNN(time_steps=args.time_steps, channels=args.channels, tau_mem_inv=100.0, tau_syn_inv=200.0,
                    rngs=nnx.Rngs(args.seed))
    weights = {
        "conv1_kernel": model.conv1.kernel[...], "conv1_bias": model.conv1.bias[...],
        "conv2_kernel": model.conv2.kernel[...], "conv2_bias": model.conv2.bias[...],
        "fc_kernel": model.fc.kernel[...], "fc_bias": model.fc.bias[...],
    }
    optimizer = nnx.Optimizer(model, optax.adam(args.lr), wrt=nnx.Param)

    def loss_fn(model, batch):
        logits, _ = model(batch["x"], batch["key"])
        return optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]).mean(), {"logits": logits}

    step = train.make_train_step(loss_fn)
    return (lambda: jax.block_until_ready(step(model, optimizer, data)["loss"])), \
        {k: np.asarray(v) for k, v in weights.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--batch", type=int, default=128)
    add("--time-steps", type=int, default=4)
    add("--channels", type=int, nargs=2, default=[32, 64])
    add("--lr", type=float, default=2e-3)
    add("--seed", type=int, default=0)
    add("--repeats", type=int, default=10, help="rounds of one step each")
    add("--check-steps", type=int, default=4, help="steps whose losses must agree before the timing")
    add("--torch-python", default=sys.executable, help="interpreter with torch")
    add("--torch-threads", type=int, nargs="+", default=[1, 0],
        help="PyTorch's intra-op threads, each timed (0: its default); the ratio is to the fastest")
    add("--data-dir", default=None)
    add("--no-write", action="store_true", help="print only")
    add("--output", default="benchmarks/results/conv_cpu.json")
    args = parser.parse_args(argv)

    data = batch(args.batch, args.data_dir)
    began = time.perf_counter()
    ours, weights = spikejax_step(args, data)
    losses = [float(ours()) for _ in range(args.check_steps)]  # the first call compiles
    compile_s = time.perf_counter() - began
    worker = Worker([args.torch_python, str(WORKER)], cwd=str(WORKER.parent))
    result = {
        "benchmark": "conv_cpu", "batch": args.batch, "time_steps": args.time_steps,
        "channels": args.channels, "lr": args.lr, "repeats": args.repeats,
        "network": "tasks.mnist ConvSNN (LIF, atan alpha 2, LI readout, max over time), Adam",
        "spikejax": {"losses": losses, "compile_and_check_steps_s": compile_s},
        "matmul_precision": matmul_precision(),
        "environment": environment(),
        "command": command_line("benchmarks.conv_cpu", argv),
    }
    try:
        if "unavailable" in worker.greeting:
            print(f"skipping PyTorch: not importable with {args.torch_python}: {worker.greeting['unavailable'][-300:]}")
            result["torch"] = {"skipped": worker.greeting["unavailable"]}
            seconds = timed_rounds({"spikejax": ours}, args.repeats)
        else:
            with tempfile.TemporaryDirectory() as folder:
                npz = pathlib.Path(folder) / "conv.npz"
                np.savez(npz, images=data["x"], labels=data["y"], lr=args.lr, time_steps=args.time_steps,
                         **weights)
                info = worker.request(cmd="load", npz=str(npz), threads=args.torch_threads,
                                      check_steps=args.check_steps)["info"]
            seconds = timed_rounds({"spikejax": ours, **{m: (worker, m) for m in info["modes"]}},
                                   args.repeats)
            result["torch"] = {**worker.greeting, **info}
    finally:
        worker.close()
    cpu = {name: np.asarray(t["cpu"]) for name, t in seconds.items()}
    seconds = {name: np.asarray(t["wall"]) for name, t in seconds.items()}
    result.update(seconds={k: v.tolist() for k, v in seconds.items()},
                  cpu_seconds={k: v.tolist() for k, v in cpu.items()},
                  median_s={k: float(np.median(v)) for k, v in seconds.items()},
                  cpu_median_s={k: float(np.median(v)) for k, v in cpu.items()})
    print(f"{'':28s} {'median s':>9s} {'min s':>7s} {'spikejax/this':>13s} {'cpu s':>7s} {'spikejax/this':>13s}")
    for name, s in seconds.items():
        print(f"{name:28s} {np.median(s):9.3f} {np.min(s):7.3f} {np.median(seconds['spikejax'] / s):13.3f} "
              f"{np.median(cpu[name]):7.3f} {np.median(cpu['spikejax'] / cpu[name]):13.3f}")
    print(f"losses of the first {args.check_steps} steps: spikejax " + ", ".join(f"{x:.6f}" for x in losses)
          + ("" if "losses" not in result["torch"] else
             "; PyTorch " + ", ".join(f"{x:.6f}" for x in result["torch"]["losses"])))
    torch_modes = [name for name in seconds if name != "spikejax"]
    if torch_modes:
        fastest = min(torch_modes, key=lambda name: np.median(seconds[name]))
        result.update(
            torch_fastest=fastest,
            paired_ratio_by_mode={m: float(np.median(seconds["spikejax"] / seconds[m])) for m in torch_modes},
            ratio_of_medians=float(np.median(seconds["spikejax"]) / np.median(seconds[fastest])),
            paired_ratio=float(np.median(seconds["spikejax"] / seconds[fastest])),
            cpu_paired_ratio_by_mode={m: float(np.median(cpu["spikejax"] / cpu[m])) for m in torch_modes},
            loss_difference=float(np.max(np.abs(np.asarray(losses) - result["torch"]["losses"]))))
        print(f"spikejax / PyTorch ({fastest}): {result['paired_ratio']:.3f} paired, "
              f"{result['ratio_of_medians']:.3f} of the medians (goal <= 1.2); largest loss difference "
              f"{result['loss_difference']:.2e}")
    if not args.no_write:
        write_json(result, args.output)
    return result


if __name__ == "__main__":
    main()
