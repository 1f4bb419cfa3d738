"""Training speed: spikejax's modules and ``train`` utilities against hand-written JAX + optax.

The network is the one of snnTorch's tutorials: 784-1000-10, leaky neurons (beta 0.95, subtract
reset, atan surrogate), 25 time steps, constant input (the first linear layer applied once, as
the input does not change over time), Adam (lr 5e-4), batch 128, one MNIST epoch. Both versions
are :mod:`benchmarks.natural`'s, their one definition: the spikejax version is its
``natural_model``, ``SequentialState(Lift(Linear), Leaky, Lift(Linear), Leaky)`` given the image
once (``steps=25``), trained by ``spikejax.train``'s ``make_train_step`` and ``fit``; the other is
its ``hand_forward``, one ``lax.scan`` in plain JAX, trained by a jitted optax step. The loss is
the cross-entropy of the output membrane summed over steps; the prediction is the output spike
count. Unlike ``benchmarks.natural`` (one seed, batches timed), this trains several seeds
through ``train.fit`` and reports test accuracy. Both versions start from the same weights, see the same batches in the same order, and run
in this one process, so the ratio of their epoch times is what the machine's noise affects least.

    python -m benchmarks.train_speed                 # full epoch, writes benchmarks/results/
    python -m benchmarks.train_speed --limit 2560    # a quick look

Compile time (the first step) is reported separately from the epoch time.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from benchmarks._results import command_line, write_json
from benchmarks.natural import (
    LR,
    hand_forward,
    hand_parameters,
    loss_and_accuracy,
    natural_forward,
    natural_model,
    time_hand_written,
)
from spikejax import data as sdata
from spikejax import train


def run_spikejax(model, batches, epochs_batches):
    """One epoch of ``model`` (a :func:`benchmarks.natural.natural_model`) through spikejax's
    ``train.make_train_step`` and ``train.fit``: ``(epoch seconds, compile seconds, model)``."""
    optimizer = nnx.Optimizer(model, optax.adam(LR), wrt=nnx.Param)

    def loss_fn(model, batch):
        loss, accuracy = loss_and_accuracy(*natural_forward(model, batch["x"]), batch["y"])
        return loss, {"accuracy": accuracy}

    step = train.make_train_step(loss_fn)
    # The compile call updates model and optimizer in place: undo it, so that both versions
    # take exactly the same optimizer steps.
    before = jax.tree_util.tree_map(jnp.copy, nnx.state((model, optimizer)))
    began = time.perf_counter()
    jax.block_until_ready(step(model, optimizer, batches[0]))
    compile_seconds = time.perf_counter() - began
    nnx.update((model, optimizer), before)
    history = train.fit(model, optimizer, step, lambda epoch: epochs_batches, epochs=1,
                        progress=False, log=None)
    return history[0]["seconds"], compile_seconds, model


def test_accuracy(predict, images, labels):
    correct = 0
    for start in range(0, len(images), 1000):
        out_spikes = predict(images[start:start + 1000])
        correct += int(jnp.sum(jnp.argmax(jnp.sum(out_spikes, 0), -1) == labels[start:start + 1000]))
    return correct / len(images)


def one_seed(seed, images, labels, test_x, test_labels):
    batches = [
        {"x": jnp.asarray(sdata.normalize(x)), "y": jnp.asarray(y)}
        for x, y in sdata.batches(images, labels, 128, shuffle_seed=seed, drop_last=True)
    ]
    model = natural_model(nnx.Rngs(seed))
    # The hand-written version starts from the very same weights.
    hand_seconds, hand_compile, _, params = time_hand_written(hand_parameters(model), batches)
    ours_seconds, ours_compile, model = run_spikejax(model, batches, batches)
    hand_acc = test_accuracy(jax.jit(lambda x: hand_forward(params, x)[0]), test_x, test_labels)
    predict = nnx.jit(lambda m, x: natural_forward(m, x)[0])
    ours_acc = test_accuracy(lambda x: predict(model, x), test_x, test_labels)
    return {
        "seed": seed,
        "hand_written": {"epoch_seconds": hand_seconds, "compile_seconds": hand_compile, "test_accuracy": hand_acc},
        "spikejax": {"epoch_seconds": ours_seconds, "compile_seconds": ours_compile, "test_accuracy": ours_acc},
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="train on the first N images only")
    parser.add_argument("--seeds", type=int, default=3,
                        help="independent runs (init and shuffle seeds 0..N-1): one epoch's accuracy "
                             "varies by about a point between runs that differ only in rounding")
    parser.add_argument("--test-limit", type=int, default=None,
                        help="test on the first N test images only (default all 10000)")
    parser.add_argument("--output", default="benchmarks/results/train_speed_cpu.json")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)

    images, labels = sdata.load("mnist", "train", data_dir=args.data_dir)
    test_images, test_labels = sdata.load("mnist", "test", data_dir=args.data_dir)
    images, labels = images[: args.limit], labels[: args.limit]
    test_images, test_labels = test_images[: args.test_limit], test_labels[: args.test_limit]
    test_x = jnp.asarray(sdata.normalize(test_images))

    runs = [one_seed(seed, images, labels, test_x, test_labels) for seed in range(args.seeds)]
    print(f"{'seed':>4s} {'version':28s} {'epoch s':>9s} {'compile s':>10s} {'test acc':>9s}")
    for run_ in runs:
        for key, name in (("hand_written", "hand-written JAX + optax"), ("spikejax", "spikejax modules + train")):
            r = run_[key]
            print(f"{run_['seed']:4d} {name:28s} {r['epoch_seconds']:9.2f} {r['compile_seconds']:10.2f} "
                  f"{r['test_accuracy'] * 100:8.2f}%")
    mean = lambda key, field: float(np.mean([r[key][field] for r in runs]))
    ratio = mean("spikejax", "epoch_seconds") / mean("hand_written", "epoch_seconds")
    gap = abs(mean("spikejax", "test_accuracy") - mean("hand_written", "test_accuracy"))
    print(f"mean epoch time, spikejax / hand-written: {ratio:.3f} (goal <= 1.1); mean test accuracy "
          f"{mean('spikejax', 'test_accuracy') * 100:.2f}% vs {mean('hand_written', 'test_accuracy') * 100:.2f}%, "
          f"difference {gap * 100:.2f} points (goal <= 0.5)")
    result = {
        "benchmark": "train_speed",
        "network": "784-1000-10 Leaky(beta=0.95), T=25, Adam 5e-4, batch 128, one epoch",
        "train_images": len(images),
        "test_images": len(test_images),
        "runs": runs,
        "mean_epoch_seconds": {"hand_written": mean("hand_written", "epoch_seconds"),
                               "spikejax": mean("spikejax", "epoch_seconds")},
        "mean_test_accuracy": {"hand_written": mean("hand_written", "test_accuracy"),
                               "spikejax": mean("spikejax", "test_accuracy")},
        "ratio": ratio,
        "accuracy_difference": gap,
        "environment": train.environment(),
        "matmul_precision": str(jax.config.jax_default_matmul_precision),
        "command": command_line("benchmarks.train_speed", argv),
    }
    write_json(result, args.output)
    return result


if __name__ == "__main__":
    main()
