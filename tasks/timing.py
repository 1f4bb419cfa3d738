"""A generated task that only delays solve: classes told apart by the timing between channels.

    python -m tasks.timing                       # learnable synaptic delays (the default)
    python -m tasks.timing --model linear        # the same feed-forward network without delays
    python -m tasks.timing --model recurrent     # a recurrent Leaky layer of the same size
    python -m tasks.timing --smoke               # a few small steps (CI)

Each sample is one volley: every one of ``--channels`` input channels fires one spike. The
channels form two groups; inside each group the spikes follow one fixed pattern of small lags
(the same pattern in every class), and the second group fires ``gap`` steps after the first,
one gap per class (``--min-gap`` to ``--max-gap``). Each spike is jittered by up to
``--jitter`` steps, the volley starts at a random step, and every channel also fires
``--noise-spikes`` spikes at random times. So every channel fires as often in every class,
each group looks the same in every class, and all short-range order is the same: only the long
gap between the groups tells the classes apart, several membrane time constants long.

The networks have the same size: ``--channels`` inputs, ``--hidden`` Leaky neurons
(snnTorch's, ``--beta``), and logits that are a linear readout (zeros at first) of the hidden
neurons' spike counts. ``delay`` connects the inputs to the hidden layer with a
:class:`~spikejax.nn.LearnableDelayedLinear` (a delay per synapse in ``[0, --max-delay)``,
Gaussian kernel whose width decays exponentially from ``--sigma-start`` to ``--sigma-end``
over the run, set before every step); at the end it is rounded to integer delays
(:meth:`~spikejax.nn.LearnableDelayedLinear.to_fixed`) and evaluated again. ``linear`` uses an
``nnx.Linear`` there instead, and ``recurrent`` a :class:`~spikejax.nn.LeakyRecurrent` layer.
A feed-forward Leaky neuron forgets within about ``1 / (1 - beta)`` steps, which is why
``linear`` stays near chance; a recurrent layer can in principle hold the time, if it learns to.

Measured choices (800 steps of 64 samples, the defaults otherwise): a start width of
``max_delay / 2``, the paper's, reached 72 % after 400 steps where ``max_delay / 8`` reached
91 % (a wide kernel blurs the very timing the task is about), so the default is ``max_delay / 8``;
a readout of the maximum over time of leaky-integrator voltages did not learn at all (one step's
gradient per class), the readout of spike counts does; with the default initial weights the
delay network was silent (its kernel spreads each weight over many steps), hence the
per-model initial gains of ``INPUT_GAINS``.

Training: Adam (cosine decay), cross-entropy, fresh samples every step (they derive from the
seed and the epoch, so ``--resume`` sees the same ones), accuracy on a fixed held-out set after
every epoch. The JSON summary (``--output``) holds the accuracy curve, times, the machine's
load, versions, configuration and command; ``--checkpoint-dir`` saves after every epoch and
``--resume`` continues; Ctrl-C writes the summary of the finished epochs and exits with 130.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
from typing import NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import spikejax
from spikejax import train
from spikejax.functional import LeakyParameters
from spikejax.functional._validate import check_int, check_key
from spikejax.functional.delay import sigma_schedule
from spikejax.nn import Leaky, LeakyRecurrent, LearnableDelayedLinear, Lift, SequentialState, set_delay_width
from tasks._cli import RunRecord, run_main

__all__ = ["TimingBatch", "timing_data", "class_gaps", "TimingNet", "build_parser", "main"]

MODELS = ("delay", "linear", "recurrent")
#: Initial input-weight scales that start each network with about 3 % of its hidden neurons
#: firing per step (measured on a batch at the defaults: 3.2 %, 2.7 %, 4.4 %). With gain 1 the
#: delay network is silent (its kernel spreads each weight over about ``D / 2`` steps), so no
#: gradient reaches it through the readout's maximum.
INPUT_GAINS = {"delay": 10.0, "linear": 3.0, "recurrent": 3.0}


class TimingBatch(NamedTuple):
    """A batch of the timing task.

    Attributes:
        inputs: ``(T, B, C)`` spikes (0 or 1).
        labels: ``(B,)`` class indices.
    """

    inputs: jax.Array
    labels: jax.Array


def class_gaps(classes: int, min_gap: int, max_gap: int) -> np.ndarray:
    """The gap (steps) between the two channel groups for each class: evenly from ``min_gap`` to ``max_gap``.

    Example:
        >>> class_gaps(4, 24, 48).tolist()
        [24, 32, 40, 48]
    """
    classes = check_int("classes", classes, minimum=2)
    if not 0 <= min_gap < max_gap:
        raise ValueError(f"the gaps must satisfy 0 <= min_gap < max_gap, got min_gap={min_gap}, max_gap={max_gap}")
    return np.round(np.linspace(min_gap, max_gap, classes)).astype(np.int32)


def timing_data(
    key: jax.Array, batch_size: int, *, channels: int = 16, steps: int = 100, classes: int = 4,
    min_gap: int = 24, max_gap: int = 48, spread: int = 6, jitter: int = 1, noise_spikes: int = 1,
    pattern_seed: int = 0,
) -> TimingBatch:
    """Random samples of the timing task, time-major; pure and jittable (the sizes are static).

    Args:
        key: a ``jax.random`` key (labels, onsets, jitter, noise).
        batch_size: samples ``B``.
        channels: input channels ``C`` (even): the first half is the first group.
        steps: ``T``; at least ``max_gap + spread + 2 * jitter + 1``.
        classes: classes, one gap each (:func:`class_gaps`).
        min_gap, max_gap: the shortest and longest gap between the groups (steps).
        spread: the fixed lags inside a group lie in ``[0, spread)``.
        jitter: each volley spike moves by a uniform integer in ``[-jitter, jitter]``.
        noise_spikes: extra spikes per channel at uniformly random steps.
        pattern_seed: the seed of the lag pattern (the same for every sample and class).

    Example:
        >>> import jax
        >>> batch = timing_data(jax.random.key(0), 5, channels=4, steps=40, min_gap=10, max_gap=20,
        ...                     noise_spikes=0)
        >>> batch.inputs.shape, batch.labels.shape
        ((40, 5, 4), (5,))
        >>> batch.inputs.sum(axis=0).tolist()[0]           # one spike per channel, no noise
        [1.0, 1.0, 1.0, 1.0]
    """
    check_key(key)
    batch_size, channels, steps = (check_int(n, v) for n, v in (
        ("batch_size", batch_size), ("channels", channels), ("steps", steps)))
    if channels % 2:
        raise ValueError(f"channels must be even (two groups of channels), got {channels}")
    spread = check_int("spread", spread)
    jitter, noise_spikes = check_int("jitter", jitter, minimum=0), check_int("noise_spikes", noise_spikes, minimum=0)
    gaps = jnp.asarray(class_gaps(classes, min_gap, max_gap))
    room = steps - (max_gap + spread + 2 * jitter)
    if room < 1:
        raise ValueError(f"steps must be at least max_gap + spread + 2 * jitter + 1 = "
                         f"{max_gap + spread + 2 * jitter + 1} (one volley fits), got {steps}")
    pattern = jax.random.randint(jax.random.key(pattern_seed), (channels,), 0, spread)
    second = jnp.arange(channels) >= channels // 2
    k_label, k_onset, k_jitter, k_noise = jax.random.split(key, 4)
    labels = jax.random.randint(k_label, (batch_size,), 0, classes)
    onset = jax.random.randint(k_onset, (batch_size, 1), 0, room) + jitter
    moved = jax.random.randint(k_jitter, (batch_size, channels), -jitter, jitter + 1)
    times = onset + pattern[None] + second[None] * gaps[labels][:, None] + moved  # (B, C)
    noise = jax.random.randint(k_noise, (batch_size, channels, noise_spikes), 0, steps)
    every = jnp.concatenate([times[..., None], noise], axis=-1)  # (B, C, 1 + noise)
    spikes = jnp.max(jax.nn.one_hot(every, steps, dtype=jnp.float32), axis=2)  # (B, C, T)
    return TimingBatch(jnp.transpose(spikes, (2, 0, 1)), labels)


class TimingNet(nnx.Module):
    """The three networks of the task; ``__call__(inputs (T, B, C)) -> (logits (B, K), hidden spikes)``.

    Args:
        channels, hidden, classes: sizes.
        model: ``"delay"`` (learnable delays into the hidden layer), ``"linear"`` (no delays) or
            ``"recurrent"`` (a recurrent hidden layer, no delays).
        max_delay: the delay window ``D`` of ``"delay"``.
        sigma: its initial kernel width (default ``max_delay / 2``).
        beta: the hidden neurons' decay per step.
        input_gain: the input weights' initial scale, times the default initialiser's (fan-in
            variance); ``None``: ``INPUT_GAINS`` of the model, which starts each network with
            about 3 % of its hidden neurons firing per step.
        rngs: ``nnx.Rngs``.

    Example:
        >>> import jax.numpy as jnp
        >>> from flax import nnx
        >>> net = TimingNet(4, 6, 3, model="delay", max_delay=8, rngs=nnx.Rngs(0))
        >>> logits, spikes = net(jnp.ones((10, 2, 4)))
        >>> logits.shape, spikes.shape
        ((2, 3), (10, 2, 6))
    """

    def __init__(self, channels: int, hidden: int, classes: int, *, model: str = "delay", max_delay: int = 64,
                 sigma: Optional[float] = None, beta: float = 0.9, input_gain: Optional[float] = None,
                 rngs: nnx.Rngs):
        if model not in MODELS:
            raise ValueError(f"model must be one of {list(MODELS)}, got {model!r}")
        p = LeakyParameters(beta=beta)
        if model == "delay":
            first = [LearnableDelayedLinear(channels, hidden, max_delay, sigma=sigma, rngs=rngs), Leaky(p)]
        elif model == "linear":
            first = [Lift(nnx.Linear(channels, hidden, rngs=rngs)), Leaky(p)]
        else:
            first = [LeakyRecurrent(channels, hidden, p, rngs=rngs)]
        self.model = model
        weights = {"delay": lambda: first[0].weight, "linear": lambda: first[0].module.kernel,
                   "recurrent": lambda: first[0].input_weights}[model]()
        weights[...] = weights[...] * (INPUT_GAINS[model] if input_gain is None else input_gain)
        self.hidden = SequentialState(*first)
        self.readout = nnx.Linear(hidden, classes, kernel_init=nnx.initializers.zeros_init(), rngs=rngs)

    def __call__(self, inputs: jax.Array):
        spikes, _ = self.hidden(inputs)
        return self.readout(jnp.sum(spikes, axis=0)), spikes

    def rounded(self) -> "TimingNet":
        """A copy whose learnable delays are rounded to integers (``"delay"`` only).

        Example:
            >>> from flax import nnx
            >>> net = TimingNet(4, 6, 3, max_delay=8, rngs=nnx.Rngs(0))
            >>> type(net.rounded().hidden[0]).__name__
            'DelayedLinear'
        """
        if self.model != "delay":
            raise ValueError(f"rounded() needs model='delay', got model={self.model!r}")
        copy = nnx.clone(self)
        copy.hidden = SequentialState(self.hidden[0].to_fixed(), *list(self.hidden.layers)[1:])
        return copy


def _loss(model, batch):
    logits, spikes = model(batch.inputs)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch.labels).mean()
    accuracy = jnp.mean(jnp.argmax(logits, -1) == batch.labels)
    return loss, {"accuracy": accuracy, "rate": jnp.mean(spikes)}


# (full run, --smoke) defaults of the flags left unset.
DEFAULTS = {"hidden": (48, 8), "epochs": (10, 1), "steps": (80, 4), "batch_size": (64, 16),
            "eval_samples": (1024, 32), "max_delay": (64, 16), "time_steps": (100, 40),
            "min_gap": (24, 8), "max_gap": (48, 16)}


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m tasks.timing``."""
    parser = argparse.ArgumentParser(
        prog="python -m tasks.timing", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Classes that differ only in the timing between input channels: learnable delays "
                    "against the same network without delays and a recurrent one.")
    add = parser.add_argument

    def sized(*flags, dest, help):
        full, smoke = DEFAULTS[dest]
        add(*flags, dest=dest, type=int, default=None, help=f"{help} (default {full}; {smoke} with --smoke)")

    add("--model", choices=MODELS, default="delay", help="learnable delays, no delays, or recurrent")
    add("--channels", type=int, default=16, help="input channels (two groups)")
    add("--classes", type=int, default=4, help="classes (one gap each)")
    sized("--time-steps", dest="time_steps", help="steps per sample")
    sized("--min-gap", dest="min_gap", help="shortest gap between the groups (steps)")
    sized("--max-gap", dest="max_gap", help="longest gap between the groups (steps)")
    add("--spread", type=int, default=6, help="lags inside a group lie in [0, spread)")
    add("--jitter", type=int, default=1, help="each volley spike moves by up to this many steps")
    add("--noise-spikes", type=int, default=1, help="random extra spikes per channel")
    sized("--hidden", dest="hidden", help="hidden Leaky neurons")
    sized("--max-delay", dest="max_delay", help="delay window of --model delay (steps)")
    add("--sigma-start", type=float, default=None, help="initial kernel width (default max_delay / 8)")
    add("--sigma-end", type=float, default=0.5, help="final kernel width")
    add("--beta", type=float, default=0.9, help="hidden neurons' decay per step")
    add("--input-gain", type=float, default=None,
        help=f"initial input-weight scale (default per model: {INPUT_GAINS})")
    sized("--epochs", dest="epochs", help="epochs")
    sized("--steps", dest="steps", help="training steps per epoch, each on fresh samples")
    sized("--batch-size", dest="batch_size", help="samples per step")
    sized("--eval-samples", dest="eval_samples", help="held-out samples, rounded up to whole batches")
    add("--lr", type=float, default=2e-2, help="Adam learning rate (cosine decay to 10%%)")
    add("--seed", type=int, default=0, help="random seed (weights, samples)")
    add("--checkpoint-dir", default=None, help="save a checkpoint here after every epoch")
    add("--resume", action="store_true", help="continue from the latest checkpoint in --checkpoint-dir")
    add("--output", default=None, help="JSON summary path (default runs/timing_<model>[-smoke].json)")
    add("--smoke", action="store_true", help="a few steps of a small task (seconds; for CI)")
    add("--no-progress", action="store_true", help="no progress bars")
    return parser


def _check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    for name in (*DEFAULTS, "channels", "spread"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive int, got {getattr(args, name)}")
    if args.channels % 2:
        parser.error(f"--channels must be even (two groups), got {args.channels}")
    if args.classes < 2:
        parser.error(f"--classes must be at least 2, got {args.classes}")
    if not 0 <= args.min_gap < args.max_gap:
        parser.error(f"--min-gap must be below --max-gap, got {args.min_gap} and {args.max_gap}")
    if args.time_steps < args.max_gap + args.spread + 2 * args.jitter + 1:
        parser.error(f"--time-steps must be at least max_gap + spread + 2 * jitter + 1 = "
                     f"{args.max_gap + args.spread + 2 * args.jitter + 1}, got {args.time_steps}")
    for name in ("lr", "beta", "sigma_end"):
        if not getattr(args, name) > 0:
            parser.error(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    if args.sigma_start is not None and not args.sigma_start > 0:
        parser.error(f"--sigma-start must be positive, got {args.sigma_start}")
    if args.resume and not args.checkpoint_dir:
        parser.error("--resume needs --checkpoint-dir (the folder of the run to continue), got none")


def main(argv: Optional[Sequence[str]] = None) -> dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    for name, (full, smoke) in DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, smoke if args.smoke else full)
    _check_args(parser, args)
    output = pathlib.Path(args.output or f"runs/timing_{args.model}{'-smoke' if args.smoke else ''}.json")
    data_options = dict(channels=args.channels, steps=args.time_steps, classes=args.classes, min_gap=args.min_gap,
                        max_gap=args.max_gap, spread=args.spread, jitter=args.jitter,
                        noise_spikes=args.noise_spikes)
    sigma_start = args.sigma_start or args.max_delay / 8
    model = TimingNet(args.channels, args.hidden, args.classes, model=args.model, max_delay=args.max_delay,
                      sigma=sigma_start, beta=args.beta, input_gain=args.input_gain,
                      rngs=nnx.Rngs(args.seed))
    total = args.epochs * args.steps
    schedule = optax.cosine_decay_schedule(args.lr, total, alpha=0.1)
    optimizer = nnx.Optimizer(model, optax.adam(schedule), wrt=nnx.Param)
    train_key, eval_key = jax.random.split(jax.random.key(args.seed))
    train_step = train.make_train_step(_loss)
    eval_step = train.make_eval_step(_loss)
    generate = jax.jit(lambda key, size: timing_data(key, size, **data_options), static_argnums=1)

    class Epoch:
        """The batches of one epoch, generated as drawn; the delay width is set before each step."""

        def __init__(self, epoch: int):
            self.epoch = epoch
            self.keys = jax.random.split(jax.random.fold_in(train_key, epoch), args.steps)

        def __len__(self):
            return args.steps

        def __iter__(self):
            for index, key in enumerate(self.keys):
                step = (self.epoch - 1) * args.steps + index
                set_delay_width(model, sigma_schedule(step, max(total - 1, 1), sigma_start, args.sigma_end))
                yield generate(key, args.batch_size)

    eval_set = [generate(key, args.batch_size)
                for key in jax.random.split(eval_key, -(-args.eval_samples // args.batch_size))]
    print(f"spikejax {spikejax.__version__} | jax {jax.__version__} on {jax.devices()[0]} | timing task, "
          f"{args.model}, {args.hidden} neurons, {args.classes} classes, gaps {args.min_gap}-{args.max_gap} steps")
    initial, rounded = None, None

    def fields(complete: bool) -> dict:
        before = initial or {"accuracy": None, "loss": None}
        history = record.history
        final = history[-1]["eval"] if history else before
        curve = [before["accuracy"]] + [h["eval"]["accuracy"] for h in history]
        return {
            "task": "timing", "model": args.model, "complete": complete, "test_accuracy": final["accuracy"],
            "test_loss": final["loss"], "accuracy_curve": curve,
            "rounded_delays_test_accuracy": rounded["accuracy"] if rounded else None,
            "loss_curve": [before["loss"]] + [h["eval"]["loss"] for h in history],
            "initial_test_loss": before["loss"],
            "parameters": int(sum(x.size for x in jax.tree_util.tree_leaves(nnx.state(model, nnx.Param)))),
        }

    record = RunRecord("tasks.timing", argv, output, config=dict(vars(args), sigma_start=sigma_start),
                       fields=fields)
    checkpointer = record.open_checkpointer(args.checkpoint_dir)
    interrupt = record.interruptible(epochs=args.epochs, checkpoint_dir=args.checkpoint_dir,
                                     start=(checkpointer.latest_epoch() or 0) if args.resume else 0)
    with interrupt:
        initial = train.evaluate(model, eval_step, eval_set, batch_axis=TimingBatch(1, 0))
        try:
            train.fit(model, optimizer, train_step, Epoch, epochs=args.epochs, eval_step=eval_step,
                      eval_batches=lambda: eval_set, eval_batch_axis=TimingBatch(1, 0),
                      progress=not args.no_progress, checkpointer=checkpointer, resume=args.resume,
                      metadata={"config": record.config}, on_epoch_end=record.record_epoch)
        finally:
            if checkpointer is not None:
                checkpointer.close()
        if args.model == "delay":
            rounded = train.evaluate(model.rounded(), eval_step, eval_set, batch_axis=TimingBatch(1, 0))
    summary = record.write(complete=True)
    extra = (f", {summary['rounded_delays_test_accuracy'] * 100:.2f}% with the delays rounded"
             if rounded else "")
    print(f"test accuracy {summary['test_accuracy'] * 100:.2f}% ({args.model}{extra}); summary in {output}")
    return summary


if __name__ == "__main__":
    run_main(main)
