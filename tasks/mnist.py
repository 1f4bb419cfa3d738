"""Train a convolutional spiking network on MNIST or Fashion-MNIST with surrogate gradients.

    python -m tasks.mnist                       # full run: MNIST, offline from data/mnist
    python -m tasks.mnist --smoke               # a few hundred images, one epoch (CI)
    python -m tasks.mnist --dataset fashion_mnist --data-dir ../shared/data
    python -m tasks.mnist --checkpoint-dir runs/ckpt --resume
    python -m tasks.mnist --devices all --precision bfloat16   # data-parallel, bf16 layers

The network: conv 5x5 (1 -> 32) + spiking neurons + 2x2 max-pool, conv 5x5 (32 -> 64) + spiking
neurons + 2x2 max-pool, a linear readout into leaky integrators (LI); the class scores are the
readout's maximum membrane over time (as in Norse's MNIST task). With the constant-current
encoder the image is the input current at every step, so the first convolution is computed once
and only the rest runs inside the time loop. The loop is unrolled: on CPU, XLA runs convolutions
inside a rolled loop about ten times slower (see ``shared/notes/cpu-conv.md``).

``--devices N`` trains data-parallel (``spikejax.train.data_parallel``): every batch is split
over N local devices and the parameters are replicated, which gives the numbers of one device up
to float rounding; the batch size and the number of test images must be multiples of N.
``--precision bfloat16`` computes the convolutions and the linear readout in bfloat16 (the
parameters stay float32) and hands float32 currents to the neurons, whose state stays float32.

It prints the test accuracy and writes a JSON summary (accuracy, epoch times, device, versions,
configuration) to ``--output``.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time
from typing import Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import spikejax
from spikejax import data as sdata
from spikejax import train
from spikejax.functional import MODELS, LIParameters, poisson_encode, run
from spikejax.nn import MODULES, LICell

NEURONS = {"lif": "LIF", "lif_box": "LIFBox", "leaky": "Leaky", "iaf": "IAF", "lsnn": "LSNN"}
PRECISIONS = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def max_pool_2x2(x: jax.Array) -> jax.Array:
    """2x2 max-pool of an NHWC array as a reshape: its gradient is ~6x faster on CPU than
    ``reduce_window``'s (shared/notes/cpu-conv.md)."""
    b, h, w, c = x.shape
    return x.reshape(b, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def neuron_parameters(name: str, surrogate: str, alpha: float, tau_mem_inv: float, tau_syn_inv: float):
    """Default parameters of the named model with the surrogate and time constants overridden."""
    p = MODELS[NEURONS[name]].parameters()
    changes = {"method": surrogate, "alpha": alpha, "tau_mem_inv": tau_mem_inv, "tau_syn_inv": tau_syn_inv}
    fields = p.__dataclass_fields__
    return p.replace(**{k: v for k, v in changes.items() if k in fields})


class ConvSNN(nnx.Module):
    """The convolutional SNN of this task; ``__call__(images, key) -> (logits, spike_counts)``."""

    def __init__(
        self,
        *,
        neuron: str = "lif",
        time_steps: int = 4,
        channels: Sequence[int] = (32, 64),
        encoder: str = "constant",
        f_max: float = 200.0,
        surrogate: str = "atan",
        alpha: float = 2.0,
        tau_mem_inv: float = 100.0,
        tau_syn_inv: float = 200.0,
        dropout: float = 0.0,
        dtype=jnp.float32,
        rngs: nnx.Rngs,
    ):
        if encoder not in ("constant", "poisson"):
            raise ValueError(f"encoder must be 'constant' or 'poisson', got {encoder!r}")
        c1, c2 = channels
        self.time_steps = time_steps
        self.encoder = encoder
        self.f_max = f_max
        # dtype is the layers' compute dtype; their parameters stay float32 (param_dtype).
        self.conv1 = nnx.Conv(1, c1, (5, 5), padding="SAME", dtype=dtype, rngs=rngs)
        self.conv2 = nnx.Conv(c1, c2, (5, 5), padding="SAME", dtype=dtype, rngs=rngs)
        self.fc = nnx.Linear(7 * 7 * c2, 10, dtype=dtype, rngs=rngs)
        self.dropout = nnx.Dropout(dropout, rngs=rngs)
        cell = MODULES[NEURONS[neuron]]["Cell"]
        p = neuron_parameters(neuron, surrogate, alpha, tau_mem_inv, tau_syn_inv)
        self.neuron1 = cell(p)
        self.neuron2 = cell(p)
        self.readout = LICell(LIParameters(tau_mem_inv=tau_mem_inv, tau_syn_inv=tau_syn_inv))

    def __call__(self, images: jax.Array, key: Optional[jax.Array] = None):
        # The neurons integrate in float32 whatever the layers compute in: a bfloat16 membrane
        # would round away the small per-step increments.
        def as_float32(x):
            return x.astype(jnp.float32)

        x = images[..., None]  # (B, 28, 28, 1)
        if self.encoder == "constant":
            # The same input current at every step: compute it once, and give it to every step
            # (run's length=) rather than broadcasting it over time, whose gradient is slow on CPU.
            currents, length = as_float32(self.conv1(x)), self.time_steps
        else:
            if key is None:
                raise ValueError("the poisson encoder needs a PRNG key, got key=None")
            spikes = poisson_encode(key, jnp.clip(images * 0.3081 + 0.1307, 0, 1)[..., None],
                                    self.time_steps, f_max=self.f_max)
            # One batched convolution over all T * B frames instead of T small ones.
            currents, length = as_float32(spikejax.nn.Lift(self.conv1)(spikes)), None

        def step(current, state):
            s1, s2, s3 = (None, None, None) if state is None else state
            z1, s1 = self.neuron1(current, s1)
            z2, s2 = self.neuron2(as_float32(self.conv2(max_pool_2x2(z1))), s2)
            flat = max_pool_2x2(z2).reshape(z2.shape[0], -1)
            v, s3 = self.readout(as_float32(self.fc(self.dropout(flat))), s3)
            return (v, jnp.sum(z1) + jnp.sum(z2)), (s1, s2, s3)

        _, (voltages, spike_counts) = run(step, None, currents, length=length, unroll=True)
        return jnp.max(voltages, axis=0), jnp.sum(spike_counts)


def device_count(value: str) -> int:
    """``--devices``: a positive count, or ``0`` / ``all`` for every local device (returned as 0)."""
    if value == "all":
        return 0
    try:
        count = int(value)
    except ValueError:
        count = -1
    if count < 0:
        raise argparse.ArgumentTypeError(f"expected a number of devices >= 0 or 'all', got {value!r}")
    return count


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tasks.mnist",
        description="Train a convolutional SNN on MNIST or Fashion-MNIST with surrogate gradients.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--dataset", choices=["mnist", "fashion_mnist"], default="mnist", help="data set")
    add("--data-dir", default=None, help="folder with the IDX .gz files (default: search, see spikejax.data)")
    add("--epochs", type=int, default=None, help="training epochs (default 15; 1 with --smoke)")
    add("--batch-size", type=int, default=None, help="training batch size (default 128; 16 with --smoke)")
    add("--lr", type=float, default=2e-3, help="peak learning rate (Adam, cosine decay)")
    add("--weight-decay", type=float, default=0.0, help="AdamW weight decay")
    add("--time-steps", type=int, default=None, help="simulation steps per image (default 4)")
    add("--encoder", choices=["constant", "poisson"], default="constant", help="input encoding")
    add("--f-max", type=float, default=200.0, help="poisson encoder: maximum rate in Hz")
    add("--surrogate", default="atan", help="surrogate gradient (spikejax.functional.surrogate_names())")
    add("--alpha", type=float, default=2.0, help="surrogate sharpness")
    add("--neuron", choices=sorted(NEURONS), default="lif", help="hidden neuron model")
    add("--tau-mem-inv", type=float, default=100.0, help="inverse membrane time constant (1/s)")
    add("--tau-syn-inv", type=float, default=200.0, help="inverse synaptic time constant (1/s)")
    add("--channels", type=int, nargs=2, default=[32, 64], help="channels of the two conv layers")
    add("--dropout", type=float, default=0.0, help="dropout before the readout")
    add("--augment", action=argparse.BooleanOptionalAction, default=True,
        help="random shifts of up to 2 pixels during training")
    add("--seed", type=int, default=0, help="random seed (initialisation, shuffling, encoding)")
    add("--checkpoint-dir", default=None, help="save a checkpoint here after every epoch")
    add("--resume", action="store_true", help="continue from the latest checkpoint in --checkpoint-dir")
    add("--output", default=None, help="JSON summary path (default runs/<dataset>[-smoke].json)")
    add("--smoke", action="store_true", help="a few hundred images, one epoch (for CI)")
    add("--train-limit", type=int, default=None, help="use only the first N training images (1024 with --smoke)")
    add("--test-limit", type=int, default=None, help="use only the first N test images (256 with --smoke)")
    add("--no-progress", action="store_true", help="no progress bars")
    add("--devices", type=device_count, default=1,
        help="train data-parallel over this many local devices (0 or 'all': every one); the batch size "
             "and the number of test images must be multiples of it")
    add("--precision", choices=sorted(PRECISIONS), default="float32",
        help="compute dtype of the convolutions and the readout layer (parameters and neuron state stay float32)")
    return parser


def shift_images(images: np.ndarray, rng: np.random.Generator, max_shift: int = 2) -> np.ndarray:
    """Shift each image by up to ``max_shift`` pixels in x and y, filling with the background."""
    b = images.shape[0]
    padded = np.pad(images, ((0, 0), (max_shift, max_shift), (max_shift, max_shift)), mode="edge")
    dx, dy = rng.integers(0, 2 * max_shift + 1, size=(2, b))
    rows = dy[:, None] + np.arange(images.shape[1])[None, :]
    cols = dx[:, None] + np.arange(images.shape[2])[None, :]
    return padded[np.arange(b)[:, None, None], rows[:, :, None], cols[:, None, :]]


def main(argv: Optional[Sequence[str]] = None, *, on_epoch_end=None) -> dict:
    args = build_parser().parse_args(argv)
    # Flags left unset take the full run's defaults, or the smoke run's with --smoke.
    # The smoke run takes 64 small steps: fewer leave the loss on its initial plateau (ln 10).
    defaults = {"epochs": (15, 1), "batch_size": (128, 16), "time_steps": (4, 4),
                "train_limit": (None, 1024), "test_limit": (None, 256)}
    for name, (full, smoke) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, smoke if args.smoke else full)
    if args.resume and not args.checkpoint_dir:
        raise SystemExit("--resume needs --checkpoint-dir")
    output = pathlib.Path(args.output or f"runs/{args.dataset}{'-smoke' if args.smoke else ''}.json")
    progress = not args.no_progress
    args.devices = args.devices or jax.local_device_count()
    if args.devices > jax.local_device_count():
        raise SystemExit(f"--devices {args.devices}: only {jax.local_device_count()} local devices")
    if args.batch_size % args.devices:
        raise SystemExit(f"--batch-size {args.batch_size} does not split evenly over --devices {args.devices}")
    parallel = train.data_parallel(jax.local_devices()[:args.devices]) if args.devices > 1 else None

    train_images, train_labels = sdata.load(args.dataset, "train", data_dir=args.data_dir)
    test_images, test_labels = sdata.load(args.dataset, "test", data_dir=args.data_dir)
    train_images, train_labels = train_images[: args.train_limit], train_labels[: args.train_limit]
    test_images, test_labels = test_images[: args.test_limit], test_labels[: args.test_limit]
    mean, std = (0.1307, 0.3081) if args.dataset == "mnist" else (0.2860, 0.3530)
    test_x = sdata.normalize(test_images, mean, std)
    if len(test_x) % args.devices:
        raise SystemExit(f"the {len(test_x)} test images do not split evenly over --devices {args.devices}; "
                         f"pass --test-limit with a multiple of {args.devices}")

    model = ConvSNN(
        neuron=args.neuron, time_steps=args.time_steps, channels=args.channels,
        encoder=args.encoder, f_max=args.f_max, surrogate=args.surrogate, alpha=args.alpha,
        tau_mem_inv=args.tau_mem_inv, tau_syn_inv=args.tau_syn_inv, dropout=args.dropout,
        dtype=PRECISIONS[args.precision], rngs=nnx.Rngs(args.seed),
    )
    steps_per_epoch = len(sdata.batches(train_images, train_labels, args.batch_size, drop_last=True))
    schedule = optax.cosine_decay_schedule(args.lr, args.epochs * steps_per_epoch)
    optimizer = nnx.Optimizer(model, optax.adamw(schedule, weight_decay=args.weight_decay), wrt=nnx.Param)
    base_key = jax.random.key(args.seed)

    def loss_fn(model, batch):
        logits, _ = model(batch["x"], batch["key"])
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]).mean()
        return loss, {"logits": logits}

    train_step = train.make_train_step(loss_fn, parallel=parallel)
    eval_step = train.make_eval_step(loss_fn, parallel=parallel)

    def train_batches(epoch: int):
        # Everything random in an epoch derives from (seed, epoch): a resumed run sees the same data.
        rng = np.random.default_rng([args.seed, epoch])
        epoch_key = jax.random.fold_in(base_key, epoch)
        source = sdata.batches(train_images, train_labels, args.batch_size,
                               shuffle_seed=args.seed, epoch=epoch, drop_last=True)

        class Epoch:
            def __len__(self):
                return len(source)

            def __iter__(self):
                for index, (images, labels) in enumerate(source):
                    if args.augment:
                        images = shift_images(images, rng)
                    yield {"x": sdata.normalize(images, mean, std), "y": labels,
                           "key": jax.random.fold_in(epoch_key, index)}

        return Epoch()

    eval_size = max(1, 500 // args.devices) * args.devices  # 500, or a multiple of --devices

    def eval_batches():
        for start in range(0, len(test_x), eval_size):
            yield {"x": test_x[start:start + eval_size], "y": test_labels[start:start + eval_size],
                   "key": jax.random.key(0)}

    config = {k: v for k, v in vars(args).items()}
    checkpointer = train.Checkpointer(args.checkpoint_dir) if args.checkpoint_dir else None
    initial = train.evaluate(model, eval_step, eval_batches()) if args.smoke else None
    print(f"spikejax {spikejax.__version__} | jax {jax.__version__} on {args.devices} x {jax.devices()[0]} | "
          f"{args.dataset}: {len(train_images)} train, {len(test_images)} test images")
    began = time.perf_counter()
    history = []

    def summarise(final, complete):
        return {
            "task": "mnist",
            "dataset": args.dataset,
            "complete": complete,
            "test_accuracy": final["accuracy"],
            "test_loss": final["loss"],
            "best_test_accuracy": max([h["eval"]["accuracy"] for h in history] or [final["accuracy"]]),
            "initial_test_loss": None if initial is None else initial["loss"],
            "epochs_run": len(history),
            "epoch_seconds": [h["seconds"] for h in history],
            "history": history,
            "wall_seconds": time.perf_counter() - began,
            "environment": train.environment(),
            "spikejax": spikejax.__version__,
            "config": config,
            "command": "python -m tasks.mnist " + " ".join(argv if argv is not None else sys.argv[1:]),
        }

    def record_epoch(result):
        # Write the summary after every epoch too, so that a long run that is cut off still
        # leaves its figures behind (marked "complete": false).
        history.append(result)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(summarise(result["eval"], complete=False), indent=2))
        if on_epoch_end is not None:
            on_epoch_end(result)

    train.fit(
        model, optimizer, train_step, train_batches, epochs=args.epochs,
        eval_step=eval_step, eval_batches=eval_batches, checkpointer=checkpointer,
        resume=args.resume, metadata={"config": config}, progress=progress,
        on_epoch_end=record_epoch,
    )
    if checkpointer is not None:
        checkpointer.close()
    final = train.evaluate(model, eval_step, eval_batches())
    summary = summarise(final, complete=True)
    output.write_text(json.dumps(summary, indent=2))
    print(f"test accuracy {final['accuracy'] * 100:.2f}% ({args.dataset}); summary in {output}")
    return summary


if __name__ == "__main__":
    main()
