"""Training speed: spikejax's modules and ``train`` utilities against hand-written JAX + optax.

The network is the one of snnTorch's tutorials: 784-1000-10, leaky neurons (beta 0.95, subtract
reset, atan surrogate), 25 time steps, constant input (the first linear layer applied once, as
the input does not change over time), Adam (lr 5e-4), batch 128, one MNIST epoch. The spikejax
version is a ``SequentialState(LeakyCell, Linear, LeakyCell)`` scanned by ``run``. The loss is the
cross-entropy of the output membrane summed over steps; the prediction is the output spike
count. Both versions start from the same weights, see the same batches in the same order, and run
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
from spikejax import data as sdata
from spikejax import train
from spikejax.functional import LeakyParameters, run
from spikejax.nn import LeakyCell, SequentialState

T, HIDDEN, BETA, LR = 25, 1000, 0.95, 5e-4


class DenseSNN(nnx.Module):
    """784-1000-10 with spikejax modules: a ``SequentialState`` of cells scanned by ``run``.

    The first layer's current is computed once and given to every step (``run``'s ``length``),
    the same computation as the hand-written version below, step for step.

    ``matmul_dtype`` and ``state_dtype`` are the Flax ``dtype`` of the Linear layers and of the
    neurons (``None``: the input's, float32 here); the parameters are float32 either way, and
    the same ``rngs`` give the same initial weights (``benchmarks.precision`` compares them).
    """

    def __init__(self, rngs: nnx.Rngs, *, matmul_dtype=None, state_dtype=None):
        p = LeakyParameters(beta=BETA)
        self.fc1 = nnx.Linear(784, HIDDEN, dtype=matmul_dtype, rngs=rngs)
        self.net = SequentialState(
            LeakyCell(p, dtype=state_dtype),
            nnx.Linear(HIDDEN, 10, dtype=matmul_dtype, rngs=rngs),
            LeakyCell(p, dtype=state_dtype),
        )

    def __call__(self, images):
        current = self.fc1(images.reshape(images.shape[0], -1))

        def step(x, state):
            out_spikes, state = self.net(x, state)
            return (out_spikes, state[-1].mem), state

        _, (out_spikes, membranes) = run(step, None, current, length=T)
        return out_spikes, membranes


def loss_and_accuracy(out_spikes, membranes, labels):
    per_step = optax.softmax_cross_entropy_with_integer_labels(membranes, labels[None, :])
    loss = jnp.sum(jnp.mean(per_step, axis=1))
    accuracy = jnp.mean(jnp.argmax(jnp.sum(out_spikes, 0), -1) == labels)
    return loss, accuracy


# ---- the same network written directly in JAX + optax ---------------------------------------


@jax.custom_jvp
def spike(x):
    return (x > 0).astype(x.dtype)


@spike.defjvp
def _spike_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    alpha = 2.0
    return spike(x), dx * (alpha / 2 / (1 + (jnp.pi / 2 * alpha * x) ** 2))


def hand_forward(params, images):
    current = images.reshape(images.shape[0], -1) @ params["w1"] + params["b1"]

    def step(carry, _):
        mem1, mem2 = carry
        # snnTorch's Leaky: the reset uses the previous membrane, detached.
        reset1 = jax.lax.stop_gradient((mem1 > 1.0).astype(mem1.dtype))
        mem1 = BETA * mem1 + current - reset1
        s1 = spike(mem1 - 1.0)
        reset2 = jax.lax.stop_gradient((mem2 > 1.0).astype(mem2.dtype))
        mem2 = BETA * mem2 + s1 @ params["w2"] + params["b2"] - reset2
        s2 = spike(mem2 - 1.0)
        return (mem1, mem2), (s2, mem2)

    zeros = (jnp.zeros((images.shape[0], HIDDEN)), jnp.zeros((images.shape[0], 10)))
    _, (out_spikes, membranes) = jax.lax.scan(step, zeros, None, length=T)
    return out_spikes, membranes


def run_spikejax(model, batches, epochs_batches):
    optimizer = nnx.Optimizer(model, optax.adam(LR), wrt=nnx.Param)

    def loss_fn(model, batch):
        loss, accuracy = loss_and_accuracy(*model(batch["x"]), batch["y"])
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


def run_hand_written(params, batches, epochs_batches):
    tx = optax.adam(LR)
    opt_state = tx.init(params)

    @jax.jit
    def step(params, opt_state, x, y):
        def loss_fn(params):
            return loss_and_accuracy(*hand_forward(params, x), y)

        (loss, accuracy), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss, accuracy

    began = time.perf_counter()
    jax.block_until_ready(step(params, opt_state, batches[0]["x"], batches[0]["y"]))
    compile_seconds = time.perf_counter() - began
    began = time.perf_counter()
    for batch in epochs_batches:
        params, opt_state, loss, accuracy = step(params, opt_state, batch["x"], batch["y"])
    jax.block_until_ready(params)
    return time.perf_counter() - began, compile_seconds, params


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
    model = DenseSNN(nnx.Rngs(seed))
    # The hand-written version starts from the very same weights.
    params = {
        "w1": model.fc1.kernel[...], "b1": model.fc1.bias[...],
        "w2": model.net[1].kernel[...], "b2": model.net[1].bias[...],
    }
    hand_seconds, hand_compile, params = run_hand_written(params, batches, batches)
    ours_seconds, ours_compile, model = run_spikejax(model, batches, batches)
    hand_acc = test_accuracy(jax.jit(lambda x: hand_forward(params, x)[0]), test_x, test_labels)
    predict = nnx.jit(lambda m, x: m(x)[0])
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
    parser.add_argument("--output", default="benchmarks/results/train_speed_cpu.json")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)

    images, labels = sdata.load("mnist", "train", data_dir=args.data_dir)
    test_images, test_labels = sdata.load("mnist", "test", data_dir=args.data_dir)
    images, labels = images[: args.limit], labels[: args.limit]
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
