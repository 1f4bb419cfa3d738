"""Classify the Spiking Heidelberg Digits (or Spiking Speech Commands) with a recurrent spiking network.

    python -m tasks.shd --data-dir ~/data/shd            # recurrent LIF, SHD's shd_train.h5 / shd_test.h5
    python -m tasks.shd --model lsnn                     # adaptive (LSNN) neurons instead
    python -m tasks.shd --model delays                   # feed-forward, learnable delays (DCLS)
    python -m tasks.shd --dataset ssc                    # Spiking Speech Commands (35 classes)
    python -m tasks.shd --smoke                          # a generated SHD-format file, seconds (CI)
    python -m tasks.shd --checkpoint-dir runs/shd_ckpt --resume

The data are the published HDF5 files (``spikejax.data.events.load_events``; nothing is
downloaded: a missing file is reported with the folders searched and where SHD is published).
Each sample's spikes on the 700 cochlea channels are counted in bins of ``--dt`` (10 ms: a
1-second digit is 100 steps), after the augmentations SHD results rely on, drawn afresh for every
batch inside the jitted step: a time shift of the whole sample, jitter of every spike, a shift of
all channels by a few places (a change of pitch) and dropped spikes.

The network (``--model lif`` or ``lsnn``): one recurrent layer of ``--hidden`` LIF or adaptive
LSNN neurons, a linear readout into leaky integrators (``SequentialState``), and each class's
score the readout's maximum membrane over time (as in Cramer et al. 2020's and Zenke's
baselines). ``--model delays``: two feed-forward LIF layers, each fed by a linear layer with a
learnable delay per synapse of up to ``--max-delay`` bins (``spikejax.nn.LearnableDelayedLinear``,
Hammouamri et al., ICLR 2024), the delay kernels narrowing from ``D / 2`` to 0.5 bins over the
epochs; the summary also gives the test accuracy with the delays rounded to integers. The
neurons' time step is the bin width, so their time constants (``--tau-mem``,
``--tau-syn``, ``--tau-adapt``, in seconds) are real times. Training: BPTT with surrogate
gradients, Adam with cosine decay, one jitted step per batch.

``--smoke`` writes a small generated data set in SHD's exact file layout (``shd_train.h5`` and
``shd_test.h5``: variable-length ``spikes/times`` and ``spikes/units``, ``labels``,
``extra/keys``) to a temporary folder, reads it back through the same reader and trains on it:
each class is a different sweep across the channels, with jittered times and noise spikes.

The JSON summary (``--output``) holds the test accuracy after every epoch, epoch times, device,
versions, configuration and command, written after every epoch; ``--checkpoint-dir`` saves the
model and optimizer after every epoch and ``--resume`` continues from the latest (an epoch's
shuffle and augmentations derive from the seed and the epoch). Ctrl-C writes the summary of the
finished epochs and exits with code 130.
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import sys
import tempfile
from typing import Optional, Sequence

import jax
import numpy as np
import optax
from flax import nnx

import spikejax
from spikejax import train
from spikejax.data import events as ev
from spikejax.functional import LIFParameters, LIParameters, LSNNParameters
from spikejax.functional.delay import sigma_schedule
from spikejax.nn import (LI, LIF, LearnableDelayedLinear, LIFRecurrent, Lift, LSNNRecurrent, SequentialState,
                         set_delay_width)
from tasks._cli import RunRecord, run_main

__all__ = ["RecurrentSNN", "DelaySNN", "write_synthetic_shd", "build_parser", "main"]

MODELS = ("lif", "lsnn", "delays")
DATASETS = ("shd", "ssc")


def write_synthetic_shd(folder: str | pathlib.Path, *, train: int = 128, test: int = 64, classes: int = 4,
                        duration: float = 0.5, spikes: int = 1500, seed: int = 0) -> None:
    """Write ``shd_train.h5`` and ``shd_test.h5`` of a generated task in SHD's file layout.

    Class ``c`` is a sweep of spikes across the 700 channels, from a start to an end channel
    that depend on ``c``, over ``duration`` seconds; every sample has ``spikes`` spikes at
    random times on the sweep (each channel jittered by a few places) and 10 % noise spikes
    anywhere. ``extra/keys`` names 20 classes, as SHD's does; the labels use the first ``classes``.

    Example:
        >>> import tempfile
        >>> from spikejax.data.events import load_events
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     write_synthetic_shd(folder, train=8, test=4)
        ...     data = load_events("shd", "test", data_dir=folder)
        >>> len(data), data.sensor_shape, len(data.classes)
        (4, (700,), 20)
    """
    rng = np.random.default_rng(seed)
    starts, ends = rng.uniform(50, 650, (2, classes))
    for split, count in (("train", train), ("test", test)):
        labels = np.arange(count) % classes
        rng.shuffle(labels)
        times, units = [], []
        for label in labels:
            t = rng.uniform(0, duration, spikes)
            channel = starts[label] + (ends[label] - starts[label]) * t / duration + rng.normal(0, 4, spikes)
            noise = rng.random(spikes) < 0.1
            channel[noise] = rng.uniform(0, 700, noise.sum())
            order = np.argsort(t)
            times.append(t[order])
            units.append(np.clip(np.round(channel), 0, 699)[order])
        keys = [f"class {c}" for c in range(20)]
        ev.write_hdf5_spikes(pathlib.Path(folder) / f"shd_{split}.h5", times, units, labels, keys=keys)


class RecurrentSNN(nnx.Module):
    """A recurrent LIF or LSNN layer, a linear readout into leaky integrators, and max-over-time scores.

    ``__call__(x) -> (logits, spikes)`` for binned input ``x`` of shape ``(T, B, inputs)``:
    ``logits`` ``(B, classes)`` and the hidden layer's spikes ``(T, B, hidden)``.

    Example:
        >>> import jax.numpy as jnp
        >>> from flax import nnx
        >>> net = RecurrentSNN(700, 16, 20, rngs=nnx.Rngs(0))
        >>> logits, spikes = net(jnp.ones((5, 2, 700)))
        >>> logits.shape, spikes.shape
        ((2, 20), (5, 2, 16))
    """

    def __init__(self, inputs: int, hidden: int, classes: int, *, model: str = "lif", dt: float = 0.01,
                 tau_mem: float = 0.04, tau_syn: float = 0.02, tau_adapt: float = 0.2, beta: float = 0.5,
                 surrogate: str = "super", alpha: float = 100.0, rngs: nnx.Rngs):
        if model not in ("lif", "lsnn"):
            raise ValueError(f"model must be 'lif' or 'lsnn' (DelaySNN has the delays), got {model!r}")
        for name, tau in (("tau_mem", tau_mem), ("tau_syn", tau_syn)):
            if not tau > 0 or dt / tau > 1:
                raise ValueError(f"{name} must be at least dt={dt} s (Euler steps of dt), got {tau}")
        options = dict(tau_mem_inv=1 / tau_mem, tau_syn_inv=1 / tau_syn, method=surrogate, alpha=alpha)
        if model == "lif":
            self.hidden = LIFRecurrent(inputs, hidden, LIFParameters(**options), dt=dt, rngs=rngs)
        else:
            # The threshold jump: spike_increment, or beta (Norse's name) in older spikejax versions.
            jump = "spike_increment" if "spike_increment" in LSNNParameters.__dataclass_fields__ else "beta"
            p = LSNNParameters(tau_adapt_inv=1 / tau_adapt, **{jump: beta}, **options)
            self.hidden = LSNNRecurrent(inputs, hidden, p, dt=dt, rngs=rngs)
        self.readout = SequentialState(
            Lift(nnx.Linear(hidden, classes, rngs=rngs)),
            LI(LIParameters(tau_mem_inv=1 / tau_mem, tau_syn_inv=1 / tau_syn), dt=dt))

    def __call__(self, x: jax.Array):
        spikes, _ = self.hidden(x)
        voltages, _ = self.readout(spikes)
        return voltages.max(axis=0), spikes


class DelaySNN(nnx.Module):
    """A feed-forward network with a learnable delay on every synapse (Hammouamri et al., ICLR 2024).

    Two hidden layers of LIF neurons, each fed by a :class:`~spikejax.nn.LearnableDelayedLinear`
    (a weight and a trainable delay in ``[0, max_delay)`` steps per synapse, spread by a Gaussian
    whose width ``set_width`` narrows during training), a linear readout into leaky integrators,
    and max-over-time scores, as one :class:`~spikejax.nn.SequentialState`. :meth:`rounded` gives
    the same network with the delays rounded to integers (the paper's final model).
    ``__call__(x) -> (logits, None)`` for binned input ``x`` of shape ``(T, B, inputs)``.

    Example:
        >>> import jax.numpy as jnp
        >>> from flax import nnx
        >>> net = DelaySNN(700, 16, 20, max_delay=5, rngs=nnx.Rngs(0))
        >>> logits, _ = net(jnp.ones((8, 2, 700)))
        >>> logits.shape, net.rounded()(jnp.ones((8, 2, 700)))[0].shape
        ((2, 20), (2, 20))
    """

    def __init__(self, inputs: int, hidden: int, classes: int, *, max_delay: int = 25, dt: float = 0.01,
                 tau_mem: float = 0.04, tau_syn: float = 0.02, surrogate: str = "super", alpha: float = 100.0,
                 rngs: nnx.Rngs):
        for name, tau in (("tau_mem", tau_mem), ("tau_syn", tau_syn)):
            if not tau > 0 or dt / tau > 1:
                raise ValueError(f"{name} must be at least dt={dt} s (Euler steps of dt), got {tau}")
        p = LIFParameters(tau_mem_inv=1 / tau_mem, tau_syn_inv=1 / tau_syn, method=surrogate, alpha=alpha)
        self.max_delay = max_delay
        # The delay kernels spread each input over many steps, so the default fan-in weights leave
        # the LIF layers silent (0.01 % and 0 % of neurons firing per 10 ms bin on the generated
        # data) and without gradient; these variance gains give about 4 % in both layers.
        def init(gain):
            return jax.nn.initializers.variance_scaling(gain, "fan_in", "truncated_normal", in_axis=1, out_axis=0)

        self.net = SequentialState(
            LearnableDelayedLinear(inputs, hidden, max_delay, weight_init=init(20.0), rngs=rngs), LIF(p, dt=dt),
            LearnableDelayedLinear(hidden, hidden, max_delay, weight_init=init(50.0), rngs=rngs), LIF(p, dt=dt),
            Lift(nnx.Linear(hidden, classes, rngs=rngs)),
            LI(LIParameters(tau_mem_inv=1 / tau_mem, tau_syn_inv=1 / tau_syn), dt=dt))

    def __call__(self, x: jax.Array):
        voltages, _ = self.net(x)
        return voltages.max(axis=0), None

    def set_width(self, sigma) -> None:
        """Set the delay kernels' width (steps) of every delay layer."""
        set_delay_width(self.net, sigma)

    def rounded(self) -> "DelaySNN":
        """A copy whose delay layers hold the trained delays rounded to integers (``to_fixed``)."""
        copy = nnx.clone(self)
        copy.net = SequentialState(*[layer.to_fixed() if isinstance(layer, LearnableDelayedLinear) else layer
                                     for layer in copy.net])
        return copy


# (full run, --smoke) defaults of the flags left unset.
DEFAULTS = {"epochs": (30, 8), "batch_size": (64, 32), "hidden": (128, 32), "steps": (100, 50),
            "max_delay": (25, 10)}


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m tasks.shd``."""
    parser = argparse.ArgumentParser(
        prog="python -m tasks.shd", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Train a recurrent SNN on the Spiking Heidelberg Digits (or Speech Commands).")
    add = parser.add_argument

    def sized(flag, dest, help):
        full, smoke = DEFAULTS[dest]
        add(flag, dest=dest, type=int, default=None, help=f"{help} (default {full}; {smoke} with --smoke)")

    add("--dataset", choices=DATASETS, default="shd", help="data set (its test split is evaluated)")
    add("--data-dir", default=None, help="folder with shd_train.h5 and shd_test.h5 (default: search, see "
                                         "spikejax.data.events.load_events)")
    add("--model", choices=MODELS, default="lif",
        help="recurrent LIF or adaptive LSNN neurons, or a feed-forward LIF network with learnable delays")
    sized("--hidden", "hidden", "hidden neurons")
    sized("--epochs", "epochs", "training epochs")
    sized("--batch-size", "batch_size", "samples per step")
    sized("--steps", "steps", "time bins per sample")
    sized("--max-delay", "max_delay", "--model delays: the longest delay, in bins")
    add("--dt", type=float, default=0.01, help="bin width and neuron time step in seconds")
    add("--lr", type=float, default=None, help="Adam learning rate, cosine decay (default 2e-3; 1e-2 with --smoke)")
    add("--tau-mem", type=float, default=0.04, help="membrane time constant (s)")
    add("--tau-syn", type=float, default=0.02, help="synaptic time constant (s)")
    add("--tau-adapt", type=float, default=0.2, help="LSNN adaptation time constant (s)")
    add("--beta", type=float, default=0.5, help="LSNN threshold jump per spike")
    add("--surrogate", default="super", help="surrogate gradient (spikejax.functional.surrogate_names())")
    add("--alpha", type=float, default=100.0, help="surrogate sharpness")
    add("--time-shift", type=float, default=0.02, help="augmentation: largest shift of a sample (s)")
    add("--time-jitter", type=float, default=0.002, help="augmentation: std of every spike's jitter (s)")
    add("--channel-shift", type=int, default=5, help="augmentation: largest shift of all channels")
    add("--drop-rate", type=float, default=0.05, help="augmentation: probability of dropping a spike")
    add("--train-limit", type=int, default=None, help="use only the first N training samples")
    add("--test-limit", type=int, default=None, help="use only the first N test samples")
    add("--seed", type=int, default=0, help="random seed (weights, shuffling, augmentations)")
    add("--checkpoint-dir", default=None, help="save a checkpoint here after every epoch")
    add("--resume", action="store_true", help="continue from the latest checkpoint in --checkpoint-dir")
    add("--output", default=None, help="JSON summary path (default runs/<dataset>_<model>[-smoke].json)")
    add("--smoke", action="store_true", help="a small generated SHD-format data set in a temporary folder")
    add("--no-progress", action="store_true", help="no progress bars")
    return parser


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace:
    args = parser.parse_args(argv)
    for name, (full, smoke) in DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, smoke if args.smoke else full)
    if args.lr is None:
        args.lr = 1e-2 if args.smoke else 2e-3
    for name in (*DEFAULTS, "train_limit", "test_limit"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer, got {value}")
    checks = [(name, lambda v: v > 0, "positive") for name in ("lr", "dt", "tau_mem", "tau_syn", "tau_adapt", "alpha")]
    checks += [(name, lambda v: v >= args.dt, f"at least --dt {args.dt} (Euler steps of dt)")
               for name in ("tau_mem", "tau_syn")]
    checks += [(name, lambda v: v >= 0, ">= 0") for name in ("time_shift", "time_jitter", "channel_shift")]
    for name, valid, expected in checks:
        if not valid(getattr(args, name)):
            parser.error(f"--{name.replace('_', '-')} must be {expected}, got {getattr(args, name)}")
    if not 0 <= args.drop_rate < 1:
        parser.error(f"--drop-rate must be in [0, 1), got {args.drop_rate}")
    if args.surrogate not in spikejax.functional.surrogate_names():
        parser.error(f"--surrogate must be one of {spikejax.functional.surrogate_names()}, got {args.surrogate!r}")
    if args.data_dir is not None and not pathlib.Path(args.data_dir).expanduser().is_dir():
        parser.error(f"--data-dir must be an existing folder, got {args.data_dir!r} (no such folder)")
    if args.smoke and (args.data_dir is not None or args.dataset != "shd"):
        parser.error("--smoke generates SHD-format data: leave out --data-dir and --dataset")
    if args.resume and not args.checkpoint_dir:
        parser.error("--resume needs --checkpoint-dir (the folder of the run to continue), got none")
    return args


def load(args: argparse.Namespace) -> tuple[ev.EventSet, ev.EventSet]:
    """The train and test splits the command line asks for (generated ones with ``--smoke``)."""
    if args.smoke:  # written to a temporary folder, read back through the SHD reader, removed
        with tempfile.TemporaryDirectory(prefix="spikejax-shd-smoke-") as folder:
            write_synthetic_shd(folder, seed=args.seed)
            return ev.load_events("shd", "train", data_dir=folder), ev.load_events("shd", "test", data_dir=folder)
    return (ev.load_events(args.dataset, "train", data_dir=args.data_dir),
            ev.load_events(args.dataset, "test", data_dir=args.data_dir))


def main(argv: Optional[Sequence[str]] = None) -> dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(build_parser(), argv)
    output = pathlib.Path(args.output or f"runs/{args.dataset}_{args.model}{'-smoke' if args.smoke else ''}.json")
    initial = []

    def fields(complete: bool) -> dict:
        history = record.history
        final = history[-1]["eval"] if history else (initial[0] if initial else {"accuracy": None, "loss": None})
        curve = [h["eval"]["accuracy"] for h in history]
        return {
            "task": "shd", "dataset": args.dataset, "model": args.model, "complete": complete,
            "test_accuracy": final["accuracy"], "test_loss": final["loss"], "accuracy_curve": curve,
            "best_test_accuracy": max(curve, default=None),
            "initial_test_loss": initial[0]["loss"] if initial else None,
            "initial_test_accuracy": initial[0]["accuracy"] if initial else None,
            "loss_curve": [h["eval"]["loss"] for h in history],
        }

    record = RunRecord("tasks.shd", argv, output, config=dict(vars(args)), fields=fields)
    checkpointer = record.open_checkpointer(args.checkpoint_dir)
    interrupt = record.interruptible(epochs=args.epochs, checkpoint_dir=args.checkpoint_dir,
                                     start=(checkpointer.latest_epoch() or 0) if args.resume else 0)
    with interrupt:
        train_set, test_set = load(args)
        train_index = np.arange(min(len(train_set), args.train_limit or len(train_set)))
        test_index = np.arange(min(len(test_set), args.test_limit or len(test_set)))
        # One padded length for every batch: one compilation of each step.
        longest = max(len(train_set[i][0]) for i in np.concatenate([train_index, test_index]))
        max_events = 256 * math.ceil(max(longest, 1) / 256)
        channels, classes = train_set.sensor_shape[0], len(train_set.classes)
        neurons = dict(dt=args.dt, tau_mem=args.tau_mem, tau_syn=args.tau_syn, surrogate=args.surrogate,
                       alpha=args.alpha, rngs=nnx.Rngs(args.seed))
        if args.model == "delays":
            model = DelaySNN(channels, args.hidden, classes, max_delay=args.max_delay, **neurons)
        else:
            model = RecurrentSNN(channels, args.hidden, classes, model=args.model, tau_adapt=args.tau_adapt,
                                 beta=args.beta, **neurons)
        steps_per_epoch = len(train_index) // args.batch_size
        if steps_per_epoch < 1:
            raise SystemExit(f"--batch-size {args.batch_size} is larger than the {len(train_index)} training samples")
        schedule = optax.cosine_decay_schedule(args.lr, args.epochs * steps_per_epoch)
        optimizer = nnx.Optimizer(model, optax.adam(schedule), wrt=nnx.Param)
        base_key = jax.random.key(args.seed)

        def dense(batch):
            return ev.events_to_dense(batch, (channels,), dt=args.dt, steps=args.steps)

        def scores(model, x, labels):
            logits, _ = model(x)
            loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
            return loss, {"logits": logits}

        def train_loss(model, batch):
            shift, jitter, channel, drop = jax.random.split(batch["key"], 4)
            events = ev.time_shift(shift, batch["events"], args.time_shift)
            events = ev.time_jitter(jitter, events, args.time_jitter)
            events = ev.channel_shift(channel, events, args.channel_shift, channels)
            events = ev.drop_events(drop, events, args.drop_rate)
            return scores(model, dense(events), batch["y"])

        train_step = train.make_train_step(train_loss)
        eval_step = train.make_eval_step(lambda model, batch: scores(model, dense(batch["events"]), batch["y"]))

        def train_batches(epoch: int):
            order = np.random.default_rng([args.seed, epoch]).permutation(train_index)
            epoch_key = jax.random.fold_in(base_key, epoch)

            class Epoch:
                def __len__(self):
                    return steps_per_epoch

                def __iter__(self):
                    if args.model == "delays":  # the delay kernels narrow from D / 2 to 0.5 bins, epoch by epoch
                        model.set_width(sigma_schedule(epoch, max(args.epochs - 1, 1), args.max_delay / 2, 0.5))
                    for step in range(steps_per_epoch):
                        chosen = order[step * args.batch_size:(step + 1) * args.batch_size]
                        events, labels = train_set.batch(chosen, max_events=max_events)
                        yield {"events": events, "y": labels, "key": jax.random.fold_in(epoch_key, step)}

            return Epoch()

        def eval_batches():
            for start in range(0, len(test_index), 256):
                events, labels = test_set.batch(test_index[start:start + 256], max_events=max_events)
                yield {"events": events, "y": labels}

        print(f"spikejax {spikejax.__version__} | jax {jax.__version__} on {jax.devices()[0]} | "
              f"{'generated SHD-format data' if args.smoke else args.dataset}: {len(train_index)} train, "
              f"{len(test_index)} test samples, {args.steps} bins of {args.dt * 1e3:g} ms | {args.model}, "
              f"{args.hidden} neurons", flush=True)
        if not args.resume:  # the untrained network's figures (a resumed run restores inside fit)
            initial.append(train.evaluate(model, eval_step, eval_batches()))

        try:
            train.fit(model, optimizer, train_step, train_batches, epochs=args.epochs, eval_step=eval_step,
                      eval_batches=eval_batches, checkpointer=checkpointer, resume=args.resume,
                      metadata={"config": record.config}, progress=not args.no_progress,
                      on_epoch_end=record.record_epoch)
        finally:
            if checkpointer is not None:
                checkpointer.close()
    rounded = None
    if args.model == "delays":  # the paper's final network: the trained delays rounded to integers
        rounded = train.evaluate(model.rounded(), eval_step, eval_batches())
        print(f"with the delays rounded to integers: test accuracy {rounded['accuracy'] * 100:.2f}%")
    summary = record.summary(complete=True)
    if rounded is not None:
        summary.update(rounded_test_accuracy=rounded["accuracy"], rounded_test_loss=rounded["loss"])
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(summary, indent=2, default=str))
    print(f"test accuracy {summary['test_accuracy'] * 100:.2f}% ({args.dataset}, {args.model}); summary in {output}")
    return summary


if __name__ == "__main__":
    run_main(main)
