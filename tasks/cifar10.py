"""Train a convolutional spiking network on CIFAR-10 with surrogate gradients (Norse has this task).

    python -m tasks.cifar10 --data-dir <folder with cifar-10-python.tar.gz>
    python -m tasks.cifar10 --source tfds            # a tfds build prepared in the user cache
    python -m tasks.cifar10 --smoke --data-dir <folder>

The data: the original "python version" archive ``cifar-10-python.tar.gz`` (163 MiB, md5
c58f30108f718f92721af3b95e74349a), published at https://www.cs.toronto.edu/~kriz/cifar.html and
not shipped in the repository. It is searched like MNIST's files: ``--data-dir``,
``$SPIKEJAX_DATA``, the repository's ``data/cifar10/``, the user cache ``~/.cache/spikejax/cifar10/``
(see :func:`spikejax.data.find`); or tensorflow-datasets (``--source tfds``). Nothing is
downloaded: ``spikejax.data.download("cifar10")`` fetches the archive into the user cache when
asked, on a machine with network. Ctrl-C writes the summary of the finished epochs and exits
with code 130 (see ``tasks/_cli.py``).

The network (a VGG-style stack, as in Norse's CIFAR-10 task): four 3x3 convolutions (64, 128, 256,
256 channels by default) each followed by spiking neurons, 2x2 max-pooling after the last three,
and a linear readout into leaky integrators whose maximum membrane over time is the class score.
The image is the input current at every step (constant-current encoding), so the first
convolution runs once. Training: AdamW with cosine decay, random crops (4-pixel padding) and
horizontal flips. A JSON summary (accuracy per epoch, epoch times, device, versions, config) is
written after every epoch.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
from typing import Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import spikejax
from spikejax import data as sdata
from spikejax import train
from spikejax.functional import LIParameters
from spikejax.nn import MODULES, LICell, Lift, SequentialState
from tasks._cli import RunRecord, run_main
from tasks.mnist import NEURONS, SpikeCount, check_args, flatten, max_pool_2x2, neuron_parameters

MEAN, STD = sdata.DATASETS["cifar10"].mean_std


class CifarSNN(nnx.Module):
    """Conv SNN for 32x32x3 images; ``__call__(images) -> (logits, spike_count)``."""

    def __init__(self, *, neuron: str = "lif", time_steps: int = 4, channels: Sequence[int] = (64, 128, 256, 256),
                 surrogate: str = "atan", alpha: float = 2.0, tau_mem_inv: float = 100.0,
                 tau_syn_inv: float = 200.0, dropout: float = 0.0, rngs: nnx.Rngs):
        if len(channels) != 4 or any(c < 1 for c in channels):
            raise ValueError(f"channels must be four positive integers, got {tuple(channels)}")
        self.time_steps = time_steps
        sizes = (3, *channels)
        self.convs = nnx.List([nnx.Conv(a, b, (3, 3), padding="SAME", rngs=rngs) for a, b in zip(sizes, sizes[1:])])
        cell = MODULES[NEURONS[neuron]]["Cell"]
        p = neuron_parameters(neuron, surrogate, alpha, tau_mem_inv, tau_syn_inv)
        self.neurons = nnx.List([cell(p) for _ in channels])
        self.dropout = nnx.Dropout(dropout, rngs=rngs)
        self.fc = nnx.Linear(4 * 4 * channels[-1], 10, rngs=rngs)
        self.readout = LICell(LIParameters(tau_mem_inv=tau_mem_inv, tau_syn_inv=tau_syn_inv))
        # One time loop for the whole stack (SequentialState's steps=): the first convolution
        # runs once on the constant image, everything after it step by step, unrolled (on
        # CPU, convolutions inside a rolled loop run about ten times slower).
        layers = [Lift(self.convs[0])]
        for index, neuron in enumerate(self.neurons):
            if index > 0:
                layers.append(Lift(self.convs[index]))
            layers += [Lift(neuron), Lift(SpikeCount())]
            if index > 0:
                layers.append(Lift(max_pool_2x2))
        layers += [Lift(flatten), Lift(self.dropout), Lift(self.fc), Lift(self.readout)]
        self.net = SequentialState(*layers, unroll=True)
        self.counters = [i for i, layer in enumerate(layers) if isinstance(layer.module, SpikeCount)]

    def __call__(self, images: jax.Array):
        if images.ndim != 4 or images.shape[1:] != (32, 32, 3):
            raise ValueError(f"images must have shape (B, 32, 32, 3), got {tuple(images.shape)}")
        voltages, state = self.net(images, steps=self.time_steps)
        spike_counts = sum(state[i] for i in self.counters)
        return jnp.max(voltages, axis=0), spike_counts


def augment(images: np.ndarray, rng: np.random.Generator, pad: int = 4) -> np.ndarray:
    """Random crops of the zero-padded images and random horizontal flips, on uint8 ``(B, 32, 32, 3)``."""
    b, h, w, _ = images.shape
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    dy, dx = rng.integers(0, 2 * pad + 1, b), rng.integers(0, 2 * pad + 1, b)
    rows = dy[:, None] + np.arange(h)[None, :]
    cols = dx[:, None] + np.arange(w)[None, :]
    flip = rng.random(b) < 0.5
    cols = np.where(flip[:, None], cols[:, ::-1], cols)
    return padded[np.arange(b)[:, None, None], rows[:, :, None], cols[:, None, :]]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tasks.cifar10", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add = parser.add_argument
    add("--data-dir", default=None, help="folder with cifar-10-python.tar.gz, from "
        "https://www.cs.toronto.edu/~kriz/cifar.html (default: search $SPIKEJAX_DATA, the repository's data/, "
        "~/.cache/spikejax; see spikejax.data.find)")
    add("--source", choices=["idx", "tfds"], default="idx",
        help="idx: the python-version archive; tfds: a tensorflow-datasets build in the user cache")
    add("--no-verify", dest="verify", action="store_false",
        help="skip the archive's md5 check (for a copy that is not the published file, such as a subset; "
             "its batches are still read with an unpickler that only rebuilds arrays)")
    add("--epochs", type=int, default=None, help="training epochs (default 30; 1 with --smoke)")
    add("--batch-size", type=int, default=None, help="training batch size (default 128; 8 with --smoke)")
    add("--lr", type=float, default=2e-3, help="peak learning rate (AdamW, cosine decay)")
    add("--weight-decay", type=float, default=5e-4, help="AdamW weight decay")
    add("--time-steps", type=int, default=4, help="simulation steps per image")
    add("--channels", type=int, nargs=4, default=None, help="channels of the four convolutions "
        "(default 64 128 256 256; 8 8 16 16 with --smoke)")
    add("--neuron", choices=sorted(NEURONS), default="lif", help="spiking neuron model")
    add("--surrogate", default="atan", help="surrogate gradient (spikejax.functional.surrogate_names())")
    add("--alpha", type=float, default=2.0, help="surrogate sharpness")
    add("--tau-mem-inv", type=float, default=100.0, help="inverse membrane time constant (1/s)")
    add("--tau-syn-inv", type=float, default=200.0, help="inverse synaptic time constant (1/s)")
    add("--dropout", type=float, default=0.0, help="dropout before the readout")
    add("--no-augment", dest="augment", action="store_false", help="no random crops and flips")
    add("--seed", type=int, default=0, help="random seed (weights, shuffling, augmentation)")
    add("--checkpoint-dir", default=None, help="save a checkpoint here after every epoch")
    add("--resume", action="store_true", help="continue from the latest checkpoint in --checkpoint-dir")
    add("--output", default=None, help="JSON summary path (default runs/cifar10[-smoke].json)")
    add("--smoke", action="store_true", help="a tiny network on a few images, one epoch (for CI)")
    add("--train-limit", type=int, default=None, help="use only the first N training images (64 with --smoke)")
    add("--test-limit", type=int, default=None, help="use only the first N test images (32 with --smoke)")
    add("--no-progress", action="store_true", help="no progress bars")
    return parser


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    defaults = {"epochs": (30, 1), "batch_size": (128, 8), "channels": ([64, 128, 256, 256], [8, 8, 16, 16]),
                "train_limit": (None, 64), "test_limit": (None, 32)}
    for name, (full, smoke) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, smoke if args.smoke else full)
    if min(args.channels) < 1:
        parser.error(f"--channels must be positive integers, got {args.channels}")
    check_args(parser, args, positive=("epochs", "batch_size", "time_steps", "train_limit", "test_limit"))
    return args


def main(argv: Optional[Sequence[str]] = None) -> dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    initial = []
    output = pathlib.Path(args.output or f"runs/cifar10{'-smoke' if args.smoke else ''}.json")

    def fields(complete: bool) -> dict:
        final = final_eval or (record.history[-1]["eval"] if record.history else {"accuracy": None, "loss": None})
        return {"task": "cifar10", "complete": complete, "test_accuracy": final["accuracy"],
                "test_loss": final["loss"], "initial_test_loss": initial[0]["loss"] if initial else None}

    final_eval = None
    record = RunRecord("tasks.cifar10", argv, output, config=dict(vars(args)), fields=fields)
    interrupt = record.interruptible(epochs=args.epochs, checkpoint_dir=args.checkpoint_dir)
    with interrupt:
        progress = not args.no_progress
        load = dict(data_dir=args.data_dir, source=args.source, verify=args.verify)
        train_x, train_y = sdata.load("cifar10", "train", **load)
        test_x, test_y = sdata.load("cifar10", "test", **load)
        train_x, train_y = train_x[: args.train_limit], train_y[: args.train_limit]
        test_x, test_y = test_x[: args.test_limit], test_y[: args.test_limit]
        if len(train_x) < args.batch_size:
            raise SystemExit(f"--batch-size {args.batch_size} is larger than the {len(train_x)} training images")
        test_inputs = sdata.normalize(test_x, MEAN, STD)

        model = CifarSNN(neuron=args.neuron, time_steps=args.time_steps, channels=args.channels,
                         surrogate=args.surrogate, alpha=args.alpha, tau_mem_inv=args.tau_mem_inv,
                         tau_syn_inv=args.tau_syn_inv, dropout=args.dropout, rngs=nnx.Rngs(args.seed))
        steps = args.epochs * len(sdata.batches(train_x, train_y, args.batch_size, drop_last=True))
        optimizer = nnx.Optimizer(model, optax.adamw(optax.cosine_decay_schedule(args.lr, steps),
                                                     weight_decay=args.weight_decay), wrt=nnx.Param)

        def loss_fn(model, batch):
            logits, _ = model(batch["x"])
            return optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]).mean(), {"logits": logits}

        train_step, eval_step = train.make_train_step(loss_fn), train.make_eval_step(loss_fn)

        def train_batches(epoch: int):
            rng = np.random.default_rng([args.seed, epoch])  # a resumed run sees the same crops
            source = sdata.batches(train_x, train_y, args.batch_size, shuffle_seed=args.seed, epoch=epoch,
                                   drop_last=True)

            class Epoch:
                def __len__(self):
                    return len(source)

                def __iter__(self):
                    for images, labels in source:
                        images = augment(images, rng) if args.augment else images
                        yield {"x": sdata.normalize(images, MEAN, STD), "y": labels}

            return Epoch()

        def eval_batches():
            for start in range(0, len(test_inputs), 500):
                yield {"x": test_inputs[start:start + 500], "y": test_y[start:start + 500]}

        initial.append(train.evaluate(model, eval_step, eval_batches()))
        print(f"spikejax {spikejax.__version__} | jax {jax.__version__} on {jax.devices()[0]} | "
              f"cifar10: {len(train_x)} train, {len(test_x)} test images", flush=True)

        checkpointer = record.open_checkpointer(args.checkpoint_dir)
        if args.resume:
            interrupt.completed = checkpointer.latest_epoch() or 0
        try:
            train.fit(model, optimizer, train_step, train_batches, epochs=args.epochs, eval_step=eval_step,
                      eval_batches=eval_batches, checkpointer=checkpointer, resume=args.resume,
                      metadata={"config": record.config}, progress=progress,
                      on_epoch_end=record.record_epoch)
        finally:
            if checkpointer is not None:
                checkpointer.close()
        final_eval = train.evaluate(model, eval_step, eval_batches())
    summary = record.write(complete=True)
    print(f"test accuracy {summary['test_accuracy'] * 100:.2f}% (cifar10); summary in {output}")
    return summary


if __name__ == "__main__":
    run_main(main)
