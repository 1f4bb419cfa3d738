"""Mixed precision: bfloat16 matmuls with a float32 neuron state, against float32 throughout.

The network and training are those of :mod:`benchmarks.train_speed` (784-1000-10 Leaky neurons,
beta 0.95, 25 steps, Adam 5e-4, batch 128, one MNIST epoch), built by
:func:`benchmarks.natural.natural_model` in up to three precisions from the same seed (so the same initial weights and batch order):

* ``float32``: everything float32 (train_speed's network).
* ``mixed``: the Linear layers compute in bfloat16 (``nnx.Linear(..., dtype=jnp.bfloat16)``,
  parameters float32) and the neurons keep their state in float32 (``dtype=jnp.float32``).
* ``bfloat16``: bfloat16 matmuls and a bfloat16 neuron state (the neurons follow their input).

Printed: a table of epoch time, compile time and test accuracy per configuration; written:
``benchmarks/results/precision_cpu.json`` (``precision_gpu.json`` on a GPU) with the
environment, the machine's load and the command.

    python -m benchmarks.precision                       # one full epoch per configuration
    python -m benchmarks.precision --limit 6400 --test-limit 2000    # a few minutes on a CPU
"""

from __future__ import annotations

import argparse
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from benchmarks._results import command_line, write_json
from benchmarks.natural import natural_forward, natural_model
from benchmarks.train_speed import run_spikejax, test_accuracy
from spikejax import data as sdata
from spikejax import train

CONFIGS = {
    "float32": dict(matmul_dtype=None, state_dtype=None),
    "mixed": dict(matmul_dtype=jnp.bfloat16, state_dtype=jnp.float32),
    "bfloat16": dict(matmul_dtype=jnp.bfloat16, state_dtype=None),
}


def one_config(name, seed, images, labels, test_x, test_labels):
    """Train one epoch in configuration ``name``; returns its times and test accuracy."""
    batches = [
        {"x": jnp.asarray(sdata.normalize(x)), "y": jnp.asarray(y)}
        for x, y in sdata.batches(images, labels, 128, shuffle_seed=seed, drop_last=True)
    ]
    model = natural_model(nnx.Rngs(seed), **CONFIGS[name])
    seconds, compile_seconds, model = run_spikejax(model, batches, batches)
    predict = nnx.jit(lambda m, x: natural_forward(m, x)[0])
    accuracy = test_accuracy(lambda x: predict(model, x), test_x, test_labels)
    # The dtypes as they come out, not as asked: the first matmul's and the first neurons' state.
    current = model[0].module(test_x[:1].reshape(1, -1))
    hidden_state = model[1](current[None])[1]
    return {
        "config": name,
        "seed": seed,
        "matmul_dtype": str(current.dtype),
        "state_dtype": str(hidden_state.mem.dtype),
        "epoch_seconds": seconds,
        "compile_seconds": compile_seconds,
        "test_accuracy": accuracy,
        "images_per_second": len(batches) * 128 / seconds,
    }


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="train on the first N images only")
    parser.add_argument("--test-limit", type=int, default=None,
                        help="test on the first N test images only (a multiple of 1000)")
    parser.add_argument("--seeds", type=int, default=1,
                        help="independent runs (init and shuffle seeds 0..N-1), each configuration "
                             "from the same seed: one epoch's accuracy varies by about a point")
    parser.add_argument("--configs", default=",".join(CONFIGS),
                        help=f"comma-separated, from {', '.join(CONFIGS)}")
    parser.add_argument("--output", default=None,
                        help="JSON path (default benchmarks/results/precision_<platform>.json)")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.configs.split(",") if n.strip()]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown or not names:
        parser.error(f"--configs must name some of {list(CONFIGS)}, got {args.configs!r}")
    if args.test_limit is not None and (args.test_limit < 1000 or args.test_limit % 1000):
        parser.error(f"--test-limit must be a positive multiple of 1000, got {args.test_limit}")

    images, labels = sdata.load("mnist", "train", data_dir=args.data_dir)
    test_images, test_labels = sdata.load("mnist", "test", data_dir=args.data_dir)
    images, labels = images[: args.limit], labels[: args.limit]
    test_images, test_labels = test_images[: args.test_limit], test_labels[: args.test_limit]
    test_x = jnp.asarray(sdata.normalize(test_images))
    load_before = list(os.getloadavg())

    runs = [one_config(name, seed, images, labels, test_x, test_labels)
            for seed in range(args.seeds) for name in names]
    print(f"{'seed':>4s} {'config':9s} {'matmul':9s} {'state':9s} {'epoch s':>8s} {'compile s':>10s} "
          f"{'test acc':>9s} {'vs float32 (same seed)':>23s}")
    for r in runs:
        base = next((b for b in runs if b["config"] == "float32" and b["seed"] == r["seed"]), None)
        change = ""
        if base is not None:
            r["accuracy_change_points"] = (r["test_accuracy"] - base["test_accuracy"]) * 100
            r["epoch_time_ratio"] = r["epoch_seconds"] / base["epoch_seconds"]
            change = f"{r['accuracy_change_points']:+.2f} pt, time x{r['epoch_time_ratio']:.2f}"
        print(f"{r['seed']:4d} {r['config']:9s} {r['matmul_dtype']:9s} {r['state_dtype']:9s} "
              f"{r['epoch_seconds']:8.2f} {r['compile_seconds']:10.2f} "
              f"{r['test_accuracy'] * 100:8.2f}% {change:>23s}")
    mean = {name: {field: float(np.mean([r[field] for r in runs if r["config"] == name]))
                   for field in ("epoch_seconds", "test_accuracy")} for name in names}
    if args.seeds > 1:
        for name, m in mean.items():
            print(f"mean {name:9s} epoch {m['epoch_seconds']:.2f} s, test accuracy "
                  f"{m['test_accuracy'] * 100:.2f}%")
    platform = jax.devices()[0].platform
    result = {
        "benchmark": "precision",
        "network": "784-1000-10 Leaky(beta=0.95), T=25, Adam 5e-4, batch 128, one epoch "
                   "(benchmarks.natural.natural_model)",
        "train_images": len(images),
        "test_images": len(test_images),
        "seeds": args.seeds,
        "runs": runs,
        "mean": mean,
        "environment": train.environment(),
        "matmul_precision": str(jax.config.jax_default_matmul_precision),
        "load_average_1_5_15_min": {"before": load_before, "after": list(os.getloadavg())},
        "command": command_line("benchmarks.precision", argv),
    }
    write_json(result, args.output or f"benchmarks/results/precision_{platform}.json")
    return result


if __name__ == "__main__":
    main()
