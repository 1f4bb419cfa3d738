"""Unsupervised MNIST with STDP: Diehl & Cook (2015) as in Inferno's quickstart, in spikejax.

    python -m tasks.mnist_stdp                      # 100 excitatory neurons, one epoch
    python -m tasks.mnist_stdp --neurons 400 --epochs 3 --checkpoint-dir runs/stdp400 --resume
    python -m tasks.mnist_stdp --batch-size 20 --learning-batch 20   # the quickstart's batching
    python -m tasks.mnist_stdp --smoke              # a few hundred images, 16 neurons (CI)

The network has the numbers of Inferno's quickstart (its documentation's "Quickstart" page):
input spikes at ``pixel / 255 * 128`` Hz for 250 steps of 1 ms; ``enc2exc`` all-to-all with
``DeltaCurrent(100)``, weights uniform in [0, 0.3), rows L1-normalised to 78.4; excitatory ALIF
neurons (``ALIFParameters.excitatory()``: rest -65, reset -60, threshold -52 mV, refractory 5 ms,
tau 100 ms, +0.05 mV of threshold per spike, one theta per neuron); ``exc2inh`` one to one, 22.5
with ``DeltaCurrent(75)``, into LIF neurons (``ALIFParameters.inhibitory()``: rest -60, reset
-45, threshold -40 mV, 2 ms, 75 ms); ``inh2exc`` -180 to every other excitatory neuron with
``DeltaCurrent(100)``. As in the quickstart, the excitatory neurons step twice per time step:
with the input current (the spikes that count, and that STDP sees), then in the same step with
the lateral inhibition (the quickstart's ``inhibit`` layer calls the shared ``exc`` again).

Learning, in training only, at every step: Inferno's pair STDP (``lr_post=5e-4``,
``lr_pre=-5e-6``, 30 ms cumulative traces that carry over between batches, as the trainer's
monitors do), potentiation scaled by ``1 - w`` (multiplicative upper bound 1), clamping at 0;
rows normalised back to 78.4 after every batch. A ``MaxRateClassifier`` (decay 1e-6) predicts,
then learns, from the rates and labels of every ``--classify-interval`` batches; the test set
runs after every epoch with learning and adaptation off. Given the same input spikes this
reproduces Inferno 0.0.5 running the quickstart's code: the same spike counts, the weights to
2e-7 (``tests/tasks/test_mnist_stdp.py``).

Batching: ``--batch-size`` images run side by side; their STDP and threshold updates are summed
and divided by ``--learning-batch``. Inferno takes the mean (the two equal; the quickstart uses
20), so each image moves the weights by ``1 / B`` of an update and bigger batches learn less
per epoch (100 neurons, one epoch: 75.8% at 64, 80.9% at 32, 82.0% at 20, 82.3% at 16). The
default, batches of 64 that learn like batches of 10, was the fastest setting measured that
keeps the accuracy (83.8%; 64 learning like 16 gave 82.5%, as batches of 16 do).

Input spikes are Bernoulli draws per step inside the scan (Inferno's
``HomogeneousPoissonApproxEncoder``); ``--encoder interval`` draws them up front with the
quickstart's ``HomogeneousPoissonEncoder`` (exponential intervals, same rate; slower). The
simulation of a batch, learning included, is one jitted ``lax.scan``. A JSON summary (test
accuracy, epoch times, images/s, device, versions, configuration, command) goes to ``--output``
after every epoch, with a plot of the receptive fields next to it.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import pathlib
import sys
import time
from typing import Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

import spikejax
from spikejax import data as sdata
from spikejax import train
from spikejax.functional import (
    ALIFParameters,
    alif_feed_forward_state,
    alif_feed_forward_step,
    homogeneous_poisson_encode,
)
from spikejax.functional.plasticity import InfernoSTDPParameters, STDPState, inferno_stdp_step
from spikejax.functional.plasticity.bounds import bound_multiplicative
from spikejax.learn import MaxRateState, max_rate_init, max_rate_predict, max_rate_update, normalize_weights
from spikejax.nn import DeltaCurrent, uniform_init
from tasks._cli import Interruptible, run_main

PIXELS, CLASSES = 28 * 28, 10
EXC, INH = ALIFParameters.excitatory(), ALIFParameters.inhibitory()
STDP = InfernoSTDPParameters(lr_post=5e-4, lr_pre=-5e-6, tc_post=30.0, tc_pre=30.0)
INPUT_SYNAPSE, TRIGGER_SYNAPSE, INHIBIT_SYNAPSE = DeltaCurrent(100.0), DeltaCurrent(75.0), DeltaCurrent(100.0)
TRIGGER_WEIGHT, INHIBIT_WEIGHT = 22.5, -180.0
INIT_HIGH, NORM_SCALE, W_MAX, W_MIN = 0.3, 78.4, 1.0, 0.0
MAX_RATE_HZ, CLASSIFIER_DECAY, EVAL_BATCH = 128.0, 1e-6, 250
ENCODERS, RNGS = ("bernoulli", "interval"), ("hash", "threefry")


class DiehlCook(nnx.Module):
    """What the network learns and keeps between batches: everything a checkpoint holds.

    ``weight`` ``(neurons, 784)``: input weights; ``theta`` ``(neurons,)``: threshold adaptation
    (mV); ``trace_pre`` ``(batch, 784)``, ``trace_post`` ``(batch, neurons)``: the STDP traces
    (unit amplitude); ``class_rates`` ``(neurons, 10)``: the classifier's state.
    """

    def __init__(self, neurons: int, batch_size: int, *, rngs: nnx.Rngs):
        weight = uniform_init(0.0, INIT_HIGH)(rngs.params(), (neurons, PIXELS))
        self.weight = nnx.Param(normalize_weights(weight, 1, NORM_SCALE))
        self.theta = nnx.Variable(jnp.zeros((neurons,)))
        self.trace_pre = nnx.Variable(jnp.zeros((batch_size, PIXELS)))
        self.trace_post = nnx.Variable(jnp.zeros((batch_size, neurons)))
        self.class_rates = nnx.Variable(jnp.zeros((neurons, CLASSES)))


def _fmix32(h: jax.Array) -> jax.Array:
    # MurmurHash3's finaliser, a bijection of uint32 with full avalanche: about 7 operations a
    # word against ~100 for threefry, whose draws took half of the epoch time.
    h = (h ^ (h >> 16)) * jnp.uint32(0x85EBCA6B)
    h = (h ^ (h >> 13)) * jnp.uint32(0xC2B2AE35)
    return h ^ (h >> 16)


def bernoulli_encoder(images: jax.Array, rng: str = "hash"):
    """``encode(seed)``: Bernoulli spikes ``(B, 784)`` at ``pixel / 255 * 128`` Hz for one 1 ms step.

    ``seed`` is the step's uint32 (threefry draws them from the batch key). Each 32-bit word gives
    two 16-bit uniforms, for a pixel of each half of the image: probabilities (at most 0.128) are
    kept to 1/65536. What does not depend on the step is computed here, once per batch.
    """
    batch, half = images.shape[0], PIXELS // 2
    threshold = jnp.round(images.astype(jnp.float32) * (MAX_RATE_HZ * 1e-3 / 255.0 * 65536.0))
    low_threshold, high_threshold = jnp.split(threshold.astype(jnp.uint32), 2, axis=1)
    counter = jnp.arange(batch * half, dtype=jnp.uint32).reshape(batch, half) * jnp.uint32(0x9E3779B9)

    def encode(seed):
        if rng == "hash":
            bits = _fmix32(counter + _fmix32(seed))
        else:
            bits = jax.random.bits(jax.random.key(seed), (batch, half), jnp.uint32)
        return jnp.concatenate([(bits & jnp.uint32(0xFFFF)) < low_threshold, (bits >> 16) < high_threshold], axis=1)

    return encode


def present(weight, theta, traces: STDPState, xs, encode, *, learn: bool,
            learning_batch: Optional[int] = None):
    """Run the network over the steps of ``xs``; ``encode(xs[t])`` gives the input spikes.

    ``theta`` is ``(neurons,)``, the traces ``(B, 784)`` and ``(B, neurons)``. With ``learn``
    (Inferno's training mode): STDP, bound and clamping at every step, threshold adaptation, and
    the rows of ``weight`` normalised at the end; without it (evaluation mode) all is frozen.
    The batch's STDP and threshold updates are summed and divided by ``learning_batch``
    (``None``: ``B``, Inferno's mean).

    Returns:
        ``(weight, theta, traces, counts)``: the new state and the excitatory spike counts
        ``(B, neurons)``.
    """
    batch, neurons = traces.t_post.shape
    stdp, exc_p = STDP, EXC
    if learning_batch is not None and learning_batch != batch:
        # The mean times B / learning_batch: the rates scale the updates linearly (the bound is
        # linear in them), and share_theta's batch mean turns a scaled increment into the same.
        factor = batch / learning_batch
        stdp = STDP.replace(lr_post=STDP.lr_post * factor, lr_pre=STDP.lr_pre * factor)
        exc_p = EXC.replace(spike_increment=EXC.spike_increment * factor)
    exc = alif_feed_forward_state((batch, neurons), exc_p)
    exc = exc._replace(theta=jnp.broadcast_to(theta, (batch, neurons)))
    inh = alif_feed_forward_state((batch, neurons), INH)
    bound = functools.partial(bound_multiplicative, w_max=W_MAX)

    def step(carry, xs_t):
        weight, exc, inh, traces, counts = carry
        x = encode(xs_t).astype(jnp.float32)
        z, exc = alif_feed_forward_step(INPUT_SYNAPSE(x) @ weight.T, exc, exc_p, adapt=learn, share_theta=True)
        z_inh, inh = alif_feed_forward_step(TRIGGER_SYNAPSE(z) * TRIGGER_WEIGHT, inh, INH, adapt=False)
        # lateral_current with all off-diagonal weights equal, without the (N, N) product.
        inhibition = INHIBIT_SYNAPSE(jnp.sum(z_inh, axis=1, keepdims=True) - z_inh) * INHIBIT_WEIGHT
        _, exc = alif_feed_forward_step(inhibition, exc, exc_p, adapt=learn, share_theta=True)
        if learn:
            dw, traces = inferno_stdp_step(x, z, traces, weight, stdp, bound=bound)
            weight = jnp.maximum(weight + dw, W_MIN)
        return (weight, exc, inh, traces, counts + z), None

    counts = jnp.zeros((batch, neurons), jnp.float32)
    (weight, exc, _, traces, counts), _ = jax.lax.scan(step, (weight, exc, inh, traces, counts), xs)
    if learn:
        weight, theta = normalize_weights(weight, 1, NORM_SCALE), exc.theta[0]
    return weight, theta, traces, counts


@functools.partial(jax.jit, static_argnames=("steps", "learn", "encoder", "rng", "learning_batch"))
def simulate(weight, theta, traces: STDPState, images, key, *, steps: int, learn: bool,
             encoder: str = "bernoulli", rng: str = "hash", learning_batch: Optional[int] = None):
    """:func:`present` of ``images`` (uint8 ``(B, 784)``) for ``steps`` ms, with the input
    spikes of ``encoder`` drawn from ``key``."""
    run = functools.partial(present, weight, theta, traces, learn=learn, learning_batch=learning_batch)
    if encoder == "interval":
        return run(homogeneous_poisson_encode(key, images / 255.0, steps, 1.0, MAX_RATE_HZ), lambda x: x)
    return run(jax.random.bits(key, (steps,), jnp.uint32), bernoulli_encoder(images, rng))


@functools.partial(jax.jit, static_argnames=("steps",))
def classify(class_rates, counts, labels, *, steps: int):
    """Inferno's ``classifier(rates, labels)``: predict, then learn. Returns the new rates and
    the number of right predictions."""
    state, rates = MaxRateState(class_rates), counts / steps
    right = jnp.sum(max_rate_predict(state, rates) == labels)
    return max_rate_update(state, rates, labels, decay=CLASSIFIER_DECAY).rates, right


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tasks.mnist_stdp", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Unsupervised MNIST with STDP (Diehl & Cook 2015, as in Inferno's quickstart).")
    add = parser.add_argument
    add("--neurons", type=int, default=None, help="excitatory neurons (default 100; 16 with --smoke)")
    add("--epochs", type=int, default=1, help="passes over the training images")
    add("--batch-size", type=int, default=64, help="images simulated side by side")
    add("--learning-batch", type=int, default=10,
        help="divide the batch's summed STDP and threshold updates by this; equal to --batch-size, it "
             "is Inferno's batch mean (the quickstart: --batch-size 20 --learning-batch 20)")
    add("--steps", type=int, default=250, help="time steps (ms) each image is shown")
    add("--classify-interval", type=int, default=10, help="batches between classifier updates")
    add("--assign-images", type=int, default=0,
        help="also label the neurons as Diehl & Cook do, from the trained network's responses to the last "
             "N training images, and report that test accuracy too (0: only Inferno's running classifier)")
    add("--encoder", choices=ENCODERS, default="bernoulli",
        help="input spikes: Bernoulli per step inside the scan (Inferno's HomogeneousPoissonApproxEncoder) "
             "or exponential intervals drawn up front (the quickstart's HomogeneousPoissonEncoder; slower)")
    add("--rng", choices=RNGS, default="hash",
        help="bernoulli uniforms: a counter hash seeded by threefry (fast) or jax.random.bits")
    add("--seed", type=int, default=0, help="random seed (weights, input spikes)")
    add("--data-dir", default=None, help="folder with the MNIST IDX .gz files (default: search, see spikejax.data)")
    add("--checkpoint-dir", default=None, help="save a checkpoint here after every epoch")
    add("--resume", action="store_true", help="continue from the latest checkpoint in --checkpoint-dir")
    add("--output", default=None, help="JSON summary path (default runs/mnist_stdp_<neurons>[-smoke].json)")
    add("--smoke", action="store_true", help="a few hundred images and 16 neurons (for CI)")
    add("--train-limit", type=int, default=None, help="use only the first N training images (400 with --smoke)")
    add("--test-limit", type=int, default=None, help="use only the first N test images (200 with --smoke)")
    add("--no-progress", action="store_true", help="no progress bar")
    return parser


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name, (full, smoke) in {"neurons": (100, 16), "train_limit": (None, 400), "test_limit": (None, 200)}.items():
        if getattr(args, name) is None:
            setattr(args, name, smoke if args.smoke else full)
    for name in ("neurons", "epochs", "batch_size", "learning_batch", "steps", "classify_interval",
                 "train_limit", "test_limit"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer, got {value}")
    for name in ("seed", "assign_images"):
        if getattr(args, name) < 0:
            parser.error(f"--{name.replace('_', '-')} must be non-negative, got {getattr(args, name)}")
    if args.resume and not args.checkpoint_dir:
        parser.error("--resume needs --checkpoint-dir (the folder of the run to continue), got none")
    if args.data_dir is not None and not pathlib.Path(args.data_dir).expanduser().is_dir():
        parser.error(f"--data-dir must be an existing folder, got {args.data_dir!r} (no such folder); "
                     "leave it out to search $SPIKEJAX_DATA, the repository's data/ and ~/.cache/spikejax")
    return args


def _flat(images: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(images.reshape(len(images), PIXELS))


def _batches(n: int, size: int) -> list:
    return [slice(start, min(start + size, n)) for start in range(0, n, size)]


def _bar(enabled: bool, **kwargs):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(dynamic_ncols=True, **kwargs)


def train_epoch(model: DiehlCook, images, labels, epoch: int, args, *, progress: bool) -> dict:
    """One pass over ``images`` in stored order (the quickstart's DataLoader does not shuffle)."""
    key = jax.random.fold_in(jax.random.key(args.seed), epoch)
    weight, theta, class_rates = model.weight[...], model.theta[...], model.class_rates[...]
    traces = STDPState(model.trace_pre[...], model.trace_post[...])
    pending, right, spikes, seen = [], [], [], 0
    chunks = _batches(len(images), args.batch_size)
    bar = _bar(progress, total=len(images), desc=f"epoch {epoch + 1}/{args.epochs}", unit="img")
    began = time.perf_counter()
    for index, chunk in enumerate(chunks):
        size = chunk.stop - chunk.start
        part = STDPState(traces.t_pre[:size], traces.t_post[:size])  # a last, smaller batch
        weight, theta, part, counts = simulate(
            weight, theta, part, jnp.asarray(images[chunk]), jax.random.fold_in(key, index), steps=args.steps,
            learn=True, encoder=args.encoder, rng=args.rng, learning_batch=args.learning_batch)
        traces = STDPState(traces.t_pre.at[:size].set(part.t_pre), traces.t_post.at[:size].set(part.t_post))
        pending.append((counts, labels[chunk]))
        if len(pending) == args.classify_interval or index == len(chunks) - 1:
            counts = jnp.concatenate([c for c, _ in pending])
            group_labels = np.concatenate([y for _, y in pending])
            class_rates, n_right = classify(class_rates, counts, jnp.asarray(group_labels), steps=args.steps)
            right.append(n_right)
            spikes.append(jnp.sum(counts))
            seen += len(group_labels)
            pending.clear()
            if bar is not None:
                rate = chunk.stop / (time.perf_counter() - began)
                bar.set_postfix({"img/s": f"{rate:.0f}", "train acc": f"{int(sum(right)) / seen:.3f}"})
        if bar is not None:
            bar.update(size)
    jax.block_until_ready(weight)
    seconds = time.perf_counter() - began
    if bar is not None:
        bar.close()
    model.weight[...], model.theta[...], model.class_rates[...] = weight, theta, class_rates
    model.trace_pre[...], model.trace_post[...] = traces.t_pre, traces.t_post
    return {"epoch": epoch + 1, "seconds": seconds, "images_per_second": len(images) / seconds,
            "train_accuracy": int(sum(right)) / seen, "spikes_per_image": float(sum(spikes)) / seen}


def respond(model: DiehlCook, images, args, *, stream: int, progress: bool, desc: str = "test"):
    """Excitatory spike counts ``(n, neurons)`` for ``images``, learning and adaptation off."""
    weight, theta = model.weight[...], model.theta[...]
    size = min(EVAL_BATCH, len(images))
    traces = STDPState(jnp.zeros((size, PIXELS)), jnp.zeros((size, weight.shape[0])))
    key = jax.random.fold_in(jax.random.key(args.seed), stream)
    counts = []
    bar = _bar(progress, total=len(images), desc=desc, unit="img", leave=False)
    for index, chunk in enumerate(_batches(len(images), size)):
        n = chunk.stop - chunk.start
        *_, batch_counts = simulate(weight, theta, STDPState(traces.t_pre[:n], traces.t_post[:n]),
                                    jnp.asarray(images[chunk]), jax.random.fold_in(key, index),
                                    steps=args.steps, learn=False, encoder=args.encoder, rng=args.rng)
        counts.append(batch_counts)
        if bar is not None:
            bar.update(n)
    if bar is not None:
        bar.close()
    return jnp.concatenate(counts)


def evaluate(model: DiehlCook, images, labels, args, *, progress: bool) -> dict:
    """Test accuracy of the classifier learned in training; ``counts`` holds the spike counts."""
    began = time.perf_counter()
    counts = respond(model, images, args, stream=1_000_000, progress=progress)
    predictions = max_rate_predict(MaxRateState(model.class_rates[...]), counts / args.steps)
    return {"accuracy": float(np.mean(np.asarray(predictions) == labels)), "seconds": time.perf_counter() - began,
            "spikes_per_image": float(jnp.sum(counts)) / len(images), "counts": counts}


def save_receptive_fields(model: DiehlCook, path: pathlib.Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from spikejax import plot

    ax = plot.receptive_fields(model.weight[...], title=title)
    ax.figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(ax.figure)


def main(argv: Optional[Sequence[str]] = None, *, on_epoch_end=None) -> dict:
    args = parse_args(argv)
    argv = list(sys.argv[1:] if argv is None else argv)
    output = pathlib.Path(args.output or f"runs/mnist_stdp_{args.neurons}{'-smoke' if args.smoke else ''}.json")
    figure = output.with_name(output.stem + "_receptive_fields.png")
    progress, load_start = not args.no_progress, os.getloadavg()
    train_x, train_y = sdata.load("mnist", "train", data_dir=args.data_dir)
    test_x, test_y = sdata.load("mnist", "test", data_dir=args.data_dir)
    train_x, train_y = _flat(train_x[: args.train_limit]), train_y[: args.train_limit]
    test_x, test_y = _flat(test_x[: args.test_limit]), test_y[: args.test_limit]

    model = DiehlCook(args.neurons, args.batch_size, rngs=nnx.Rngs(args.seed))
    config = dict(vars(args))
    checkpointer = train.Checkpointer(args.checkpoint_dir) if args.checkpoint_dir else None
    start, history = 0, []
    if checkpointer is not None and not args.resume and checkpointer.epochs():
        # Refused before an epoch of training, not at its first save: a saved run is never
        # overwritten or ignored unless asked for.
        checkpointer.close()
        raise SystemExit(
            f"error: --checkpoint-dir {args.checkpoint_dir} already holds a run (epochs "
            f"{checkpointer.epochs()}); pass --resume to continue it, or choose another folder"
        )
    if args.resume and checkpointer.latest_epoch() is not None:
        history = list(checkpointer.restore(model).get("history", []))
        # The epoch actually loaded: a damaged newest checkpoint falls back to an older one.
        start = checkpointer.restored_epoch
        history = history[:start]
        print(f"resumed from epoch {start} in {checkpointer.directory}")
    print(f"spikejax {spikejax.__version__} | jax {jax.__version__} on {jax.devices()[0]} | {args.neurons} "
          f"neurons, {len(train_x)} train, {len(test_x)} test images, batch {args.batch_size}")
    began = time.perf_counter()

    def write_summary(test: dict, complete: bool, frozen_labels: Optional[float] = None) -> dict:
        summary = {
            "task": "mnist_stdp", "complete": complete, "test_accuracy": test["accuracy"],
            "test_accuracy_frozen_labels": frozen_labels,
            "test_seconds": test["seconds"], "test_spikes_per_image": test["spikes_per_image"],
            "epochs_run": len(history) - start, "epochs_total": len(history),
            "epoch_seconds": [h["seconds"] for h in history],
            "images_per_second": [h["images_per_second"] for h in history],
            "history": history, "theta_mean": float(jnp.mean(model.theta[...])),
            "wall_seconds": time.perf_counter() - began,
            "load_average": {"start": list(load_start), "now": list(os.getloadavg())},
            "receptive_fields": figure.name, "environment": train.environment(),
            "spikejax": spikejax.__version__, "config": config,
            "command": "python -m tasks.mnist_stdp " + " ".join(argv),
        }
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(summary, indent=2))
        save_receptive_fields(model, figure, f"{args.neurons} neurons, {len(history)} epoch(s), "
                                             f"test accuracy {test['accuracy']:.2%}")
        return summary

    summary = None

    def interrupted_summary() -> dict:
        last = history[-1] if history else {}
        return {"task": "mnist_stdp", "test_accuracy": last.get("test_accuracy"),
                "epochs_run": len(history) - start, "epochs_total": len(history),
                "epoch_seconds": [h["seconds"] for h in history], "history": history,
                "wall_seconds": time.perf_counter() - began, "environment": train.environment(),
                "spikejax": spikejax.__version__, "config": config,
                "command": "python -m tasks.mnist_stdp " + " ".join(argv)}

    with Interruptible("tasks.mnist_stdp", argv, output, summary=interrupted_summary, epochs=args.epochs,
                       checkpoint_dir=args.checkpoint_dir, start=start) as interrupt:
        try:
            for epoch in range(start, args.epochs):
                result = train_epoch(model, train_x, train_y, epoch, args, progress=progress)
                test = evaluate(model, test_x, test_y, args, progress=progress)
                result.update(test_accuracy=test["accuracy"], test_seconds=test["seconds"])
                history.append(result)
                if checkpointer is not None:
                    checkpointer.save(epoch + 1, model, metadata={"config": config, "history": history})
                print(f"epoch {epoch + 1}/{args.epochs}: {result['seconds']:.1f}s, "
                      f"{result['images_per_second']:.1f} img/s, train accuracy {result['train_accuracy']:.4f}, "
                      f"{result['spikes_per_image']:.1f} spikes/image, test accuracy {test['accuracy']:.4f}")
                # Written after every epoch: a long run that stops early leaves its numbers.
                summary = write_summary(test, complete=epoch + 1 == args.epochs)
                interrupt.completed = epoch + 1
                if on_epoch_end is not None:
                    on_epoch_end(result)
        finally:
            if checkpointer is not None:
                checkpointer.close()
    if summary is None:  # resumed after the last epoch: only evaluate
        test = evaluate(model, test_x, test_y, args, progress=progress)
        summary = write_summary(test, complete=True)
    if args.assign_images:
        # Diehl & Cook's labels: a fresh classifier from the responses of the trained network.
        chosen = slice(len(train_x) - min(args.assign_images, len(train_x)), None)
        counts = respond(model, train_x[chosen], args, stream=2_000_000, progress=progress, desc="labels")
        state = max_rate_update(max_rate_init(args.neurons, CLASSES), counts / args.steps, jnp.asarray(train_y[chosen]))
        frozen = np.asarray(max_rate_predict(state, test["counts"] / args.steps))
        summary = write_summary(test, complete=True, frozen_labels=float(np.mean(frozen == test_y)))
    print(f"test accuracy {summary['test_accuracy'] * 100:.2f}% ({len(test_x)} images); summary in {output}")
    return summary


if __name__ == "__main__":
    run_main(main)
