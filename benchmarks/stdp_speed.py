"""Speed of unsupervised STDP training: the Diehl & Cook network of ``tasks.mnist_stdp``.

Runs the task's own training loop (``train_epoch``: the jitted 250-step scan with STDP, bounds,
clamping and normalisation, plus the classifier updates and the Python loop around them) on the
first ``--images`` training images, and its evaluation loop (learning off) on ``--test-images``
test images, then extrapolates to a full epoch of 60,000 images. Compilation is done (and timed)
before the clock starts. The machine's load average is recorded with the numbers, since shared
CPUs make timings vary by tens of percent.

    python -m benchmarks.stdp_speed                          # 100 neurons, batch 64
    python -m benchmarks.stdp_speed --batch-sizes 16 32 64   # a sweep
    python -m benchmarks.stdp_speed --neurons 400 --images 1024
"""

from __future__ import annotations

import argparse
import os
import time

import jax
from flax import nnx

from benchmarks._results import command_line, write_json
from spikejax import data as sdata
from spikejax import train
from tasks import mnist_stdp

EPOCH_IMAGES = 60_000


def measure(batch_size: int, args, train_x, train_y, test_x, test_y) -> dict:
    task_args = mnist_stdp.parse_args([
        "--neurons", str(args.neurons), "--batch-size", str(batch_size), "--steps", str(args.steps),
        "--encoder", args.encoder, "--rng", args.rng, "--no-progress",
    ])
    model = mnist_stdp.DiehlCook(args.neurons, batch_size, rngs=nnx.Rngs(0))
    warm = batch_size * task_args.classify_interval  # compiles the scan and the classifier
    began = time.perf_counter()
    mnist_stdp.train_epoch(model, train_x[:warm], train_y[:warm], 0, task_args, progress=False)
    mnist_stdp.evaluate(model, test_x[: mnist_stdp.EVAL_BATCH], test_y[: mnist_stdp.EVAL_BATCH], task_args,
                        progress=False)
    compile_seconds = time.perf_counter() - began
    load_before = os.getloadavg()
    result = mnist_stdp.train_epoch(model, train_x[warm: warm + args.images], train_y[warm: warm + args.images],
                                    1, task_args, progress=False)
    test = mnist_stdp.evaluate(model, test_x, test_y, task_args, progress=False)
    rate = result["images_per_second"]
    return {
        "batch_size": batch_size,
        "train_images": args.images,
        "train_seconds": result["seconds"],
        "train_images_per_second": rate,
        "epoch_seconds_extrapolated": EPOCH_IMAGES / rate,
        "test_images": len(test_x),
        "test_images_per_second": len(test_x) / test["seconds"],
        "warmup_and_compile_seconds": compile_seconds,
        "spikes_per_image": result["spikes_per_image"],
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--neurons", type=int, default=100, help="excitatory neurons")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64], help="batch sizes to time (the task's default: 64)")
    parser.add_argument("--images", type=int, default=3200, help="training images timed per batch size")
    parser.add_argument("--test-images", type=int, default=1000, help="test images timed")
    parser.add_argument("--steps", type=int, default=250, help="time steps per image")
    parser.add_argument("--encoder", choices=mnist_stdp.ENCODERS, default="bernoulli")
    parser.add_argument("--rng", choices=mnist_stdp.RNGS, default="hash")
    parser.add_argument("--output", default=None,
                        help="JSON path (default benchmarks/results/stdp_speed_<platform>.json)")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    if min(args.batch_sizes + [args.neurons, args.images, args.test_images, args.steps]) < 1:
        parser.error("--neurons, --batch-sizes, --images, --test-images and --steps must be positive")

    train_x, train_y = sdata.load("mnist", "train", data_dir=args.data_dir)
    test_x, test_y = sdata.load("mnist", "test", data_dir=args.data_dir)
    train_x, test_x = mnist_stdp._flat(train_x), mnist_stdp._flat(test_x[: args.test_images])
    test_y = test_y[: args.test_images]
    runs = []
    print(f"{args.neurons} neurons, {args.steps} steps, {args.images} training images per batch size "
          f"(epoch time extrapolated to {EPOCH_IMAGES}), {jax.devices()[0]}")
    print(f"{'batch':>5s} {'train img/s':>11s} {'epoch s':>8s} {'test img/s':>10s} {'compile s':>9s} {'load (1 min)':>12s}")
    for batch_size in args.batch_sizes:
        r = measure(batch_size, args, train_x, train_y, test_x, test_y)
        runs.append(r)
        print(f"{batch_size:5d} {r['train_images_per_second']:11.1f} {r['epoch_seconds_extrapolated']:8.1f} "
              f"{r['test_images_per_second']:10.1f} {r['warmup_and_compile_seconds']:9.1f} "
              f"{r['load_average_before'][0]:5.2f}->{r['load_average_after'][0]:.2f}")
    environment = train.environment()
    result = {
        "benchmark": "stdp_speed",
        "network": f"Diehl & Cook (Inferno quickstart), {args.neurons} excitatory neurons, {args.steps} steps "
                   f"of 1 ms, STDP at every step, encoder {args.encoder} ({args.rng})",
        "note": f"epoch_seconds_extrapolated = {EPOCH_IMAGES} / train_images_per_second, measured on "
                f"train_images images after a warm-up that compiles; the CPU is shared, see the load averages",
        "runs": runs,
        "environment": environment,
        "command": command_line("benchmarks.stdp_speed", argv),
    }
    write_json(result, args.output or f"benchmarks/results/stdp_speed_{environment['platform']}.json")
    return result


if __name__ == "__main__":
    main()
