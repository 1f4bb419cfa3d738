"""Store/recall memory task: Norse's ``norse.task.memory``, after Bellec et al. (2018).

    python -m tasks.memory                              # LSNN, the defaults below
    python -m tasks.memory --neuron_model lif           # the same with plain LIF neurons
    python -m tasks.memory --neuron_model lsnnlif       # half LSNN, half LIF (Norse's default)
    python -m tasks.memory --smoke                      # 20 small steps, seconds (CI)
    python -m tasks.memory --checkpoint-dir runs/memory_ckpt --resume   # continue a stopped run
    python -m tasks.memory --neuron_model lsnn --learning eprop          # online: e-prop
    python -m tasks.memory --learning tbptt --tbptt-window 50           # truncated BPTT

Each sample is ``seq_repetitions`` repetitions of ``seq_periods`` periods of ``seq_length``
steps (1 ms each). In every period the two data channels show a random bit (one of them on);
in one period of the first half a STORE command is on, in one period of the second half a
RECALL command is on, and during the recall period the data channels are silent. At the recall
the network must output the bit shown at the last store. Every channel is a population of
``population_size`` input neurons: Poisson spikes at ``poisson_rate`` Hz for data and half of
that for commands (as Norse), or, with ``--encoding constant``, those intensities as a constant
input.

The network (as Norse's ``MemoryNet``): one recurrent spiking layer (LSNN, LIF, or half of each
side by side, each population recurrent within itself), a linear readout into two leaky
integrators, and the readout's mean voltage over each period as the period's logits. The loss
is the cross-entropy at the recall periods plus a firing-rate regulariser; the recall accuracy
is the fraction of recalls whose larger logit is the stored bit. Training is BPTT through the
whole sequence with surrogate gradients, one jitted step per batch (``train.make_train_step``),
on fresh random samples every step; accuracy is measured on a fixed held-out set.

Differences from Norse's task, measured here with 300 steps at lr 5e-3 and 50 ms periods:
its loss is a binary cross-entropy on softmax *probabilities* (here: on the logits). Its
threshold jump ``beta=1.8`` from a threshold of 0.5, with ``tau_adapt_inv=exp(-2)``, leaves
the neurons almost silent (0.5 Hz) and reached 89 % recall; ``beta=0.3``, ``tau_adapt_inv=1``
(1 s, about a sample) reached 96 %. Norse 1.1's SuperSpike ignores ``alpha`` (it computes
``alpha=1``), which stayed at chance (50 %, against 95 % with ``alpha=10``). Its LSNN stops the
gradient through the threshold jump, which ``--detach-reset`` leaves off: the adaptive
threshold is the memory, and BPTT must see how a spike at the store raised it. Its periods
are 200 ms long; 50 ms keeps the default run at about 10 minutes on a loaded 2-core CPU, and
plain LIF neurons already do much worse at that length (66 % after the 10 epochs, 91 % at
best, against 100 %; ``benchmarks/results/memory_*_cpu.json``).

``--learning eprop`` trains the same layer and leaky readout (a
:class:`spikejax.online.RecurrentReadout`, no readout bias) with e-prop, online, in memory that
does not grow with the sequence; ``--learning tbptt`` with BPTT truncated to windows of
``--tbptt-window`` steps (the state carried across windows). Both need a loss per time step:
the cross-entropy of the readout voltage at every step of the recall periods (averaged), in place
of the cross-entropy of the period's mean voltage; the firing-rate regulariser is not used. The
recall accuracy is measured as for BPTT. ``--update-every`` applies the optimizer every that many
steps within a sample (e-prop) or after every window (tbptt), instead of once per batch;
``--feedback random`` carries e-prop's error back through a fixed random matrix. These
work for one population (``lsnn`` or ``lif``).

The summary JSON (``--output``) holds the accuracy curve, epoch times, device, versions,
configuration and command; ``--plot`` draws this run's curve and those of ``--compare`` files.
``--checkpoint-dir`` saves the model and optimizer after every epoch and ``--resume`` continues
from the latest (the samples of an epoch derive from the seed and the epoch, so a resumed run
sees the same ones). Ctrl-C writes the summary of the finished epochs and exits with code 130.
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import sys
from typing import NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import optax
from flax import nnx

import spikejax
from spikejax import train
from spikejax.functional import LIFParameters, LIParameters, LSNNParameters, poisson_encode
from spikejax.functional import firing_rate_loss
from spikejax.functional._validate import check_int, check_key, check_positive
from spikejax.nn import LI, LIFRecurrent, LSNNRecurrent
from spikejax.online import RecurrentReadout, make_eprop_train_step, make_tbptt_train_step
from tasks._cli import RunRecord, run_main

__all__ = ["StoreRecallBatch", "store_recall_data", "MemoryNet", "recall_loss", "step_recall_loss",
           "build_parser", "main"]

NEURON_MODELS = ("lsnn", "lif", "lsnnlif")
LEARNING = ("bptt", "eprop", "tbptt")
ENCODINGS = ("poisson", "constant")


class StoreRecallBatch(NamedTuple):
    """A batch of the store/recall task.

    Attributes:
        inputs: ``(T, B, 4 * population_size)`` input spikes (or intensities): the populations of
            data bit 0, data bit 1, STORE and RECALL, in that order; ``T = S * seq_length``.
        labels: ``(S, B, 2)`` the one-hot stored bit at each recall period, zeros elsewhere;
            ``S = seq_periods * seq_repetitions`` periods.
        mask: ``(S, B)`` true at the recall periods.
    """

    inputs: jax.Array
    labels: jax.Array
    mask: jax.Array


def store_recall_data(
    key: jax.Array,
    batch_size: int,
    *,
    seq_length: int = 100,
    seq_periods: int = 12,
    seq_repetitions: int = 1,
    population_size: int = 5,
    poisson_rate: float = 100.0,
    dt: float = 1e-3,
    encoding: str = "poisson",
) -> StoreRecallBatch:
    """Random samples of the store/recall task, time-major (Norse's ``MemoryStoreRecallDataset``).

    Each repetition has one STORE in its first ``seq_periods // 2`` periods and one RECALL in
    the rest; the label at the recall is the data bit shown during the store, which is the last
    store before that recall. Pure and jittable (the sizes are static).

    Args:
        key: a ``jax.random`` key.
        batch_size: samples ``B``.
        seq_length: steps per period.
        seq_periods: periods per repetition, even and at least 2.
        seq_repetitions: store/recall pairs per sample.
        population_size: input neurons per channel.
        poisson_rate: rate in Hz of a data channel that is on (commands: half of it).
        dt: step in seconds.
        encoding: ``"poisson"`` (spikes) or ``"constant"`` (the rates' fractions
            ``1`` / ``0.5`` as a constant input, the same at every step of a period).

    Returns:
        A :class:`StoreRecallBatch`.

    Example:
        >>> import jax
        >>> batch = store_recall_data(jax.random.key(0), 3, seq_length=10, seq_periods=4)
        >>> batch.inputs.shape, batch.labels.shape, batch.mask.shape
        ((40, 3, 20), (4, 3, 2), (4, 3))
        >>> batch.mask.sum(axis=0).tolist()                # one recall per sample
        [1, 1, 1]
    """
    check_key(key)
    batch_size, seq_length, reps, population_size = (check_int(name, value) for name, value in (
        ("batch_size", batch_size), ("seq_length", seq_length), ("seq_repetitions", seq_repetitions),
        ("population_size", population_size)))
    seq_periods = check_int("seq_periods", seq_periods, minimum=2)
    if seq_periods % 2:
        raise ValueError(f"seq_periods must be even (a store half and a recall half), got {seq_periods}")
    check_positive("poisson_rate", poisson_rate)
    check_positive("dt", dt)
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {list(ENCODINGS)}, got {encoding!r}")

    k_bits, k_store, k_recall, k_spikes = jax.random.split(key, 4)
    half = seq_periods // 2
    shape = (reps, batch_size)
    bits = jax.random.bernoulli(k_bits, 0.5, (reps, seq_periods, batch_size)).astype(jnp.int32)
    values = jax.nn.one_hot(bits, 2)  # (R, P, B, 2)
    store = jax.nn.one_hot(jax.random.randint(k_store, shape, 0, half), seq_periods, axis=1)
    recall = jax.nn.one_hot(jax.random.randint(k_recall, shape, half, seq_periods), seq_periods, axis=1)
    stored = jnp.sum(values * store[..., None], axis=1)  # (R, B, 2): the bit at the store
    labels = recall[..., None] * stored[:, None]
    data = values * (1 - recall[..., None])  # silent data channels during the recall
    pattern = jnp.concatenate([data, store[..., None], recall[..., None]], axis=-1)
    periods = reps * seq_periods
    # Commands at half the data rate, as Norse; each channel spread over its population.
    intensity = pattern * jnp.array([1.0, 1.0, 0.5, 0.5])
    intensity = jnp.repeat(intensity.reshape(periods, batch_size, 4), population_size, axis=-1)
    if encoding == "poisson":
        steps = poisson_encode(k_spikes, intensity, seq_length, f_max=poisson_rate, dt=dt)
    else:
        steps = jnp.broadcast_to(intensity, (seq_length,) + intensity.shape)
    # (L, S, B, F) -> (S, L, B, F) -> (S * L, B, F): period after period.
    inputs = jnp.swapaxes(steps, 0, 1).reshape(periods * seq_length, batch_size, -1)
    return StoreRecallBatch(inputs, labels.reshape(periods, batch_size, 2), recall.reshape(periods, batch_size) > 0)


class MemoryNet(nnx.Module):
    """Recurrent spiking layer and leaky-integrator readout; ``__call__(inputs) -> (voltages, spikes)``.

    Args:
        input_size: input channels.
        hidden_size: spiking neurons (``"lsnnlif"``: the first ``hidden_size // 2`` are LSNN,
            the rest LIF).
        neuron_model: ``"lsnn"``, ``"lif"`` or ``"lsnnlif"``.
        p_lsnn, p_lif: the neuron parameters.
        detach_reset: stop the gradient through the spike in the reset (and the LSNN's
            threshold jump).
        rngs: ``nnx.Rngs`` for the weights.

    Example:
        >>> import jax.numpy as jnp
        >>> from flax import nnx
        >>> net = MemoryNet(8, 6, neuron_model="lsnnlif", rngs=nnx.Rngs(0))
        >>> voltages, spikes = net(jnp.ones((5, 2, 8)))
        >>> voltages.shape, spikes.shape
        ((5, 2, 2), (5, 2, 6))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        neuron_model: str = "lsnn",
        p_lsnn: LSNNParameters = LSNNParameters(v_th=0.5),
        p_lif: LIFParameters = LIFParameters(v_th=0.5),
        detach_reset: bool = False,
        rngs: nnx.Rngs,
    ):
        if neuron_model not in NEURON_MODELS:
            raise ValueError(f"neuron_model must be one of {list(NEURON_MODELS)}, got {neuron_model!r}")
        check_int("hidden_size", hidden_size, minimum=2 if neuron_model == "lsnnlif" else 1)
        n_lsnn = {"lsnn": hidden_size, "lif": 0, "lsnnlif": hidden_size // 2}[neuron_model]
        options = {"detach_reset": detach_reset, "rngs": rngs}
        layers = [LSNNRecurrent(input_size, n_lsnn, p_lsnn, **options)] if n_lsnn else []
        if n_lsnn < hidden_size:
            layers.append(LIFRecurrent(input_size, hidden_size - n_lsnn, p_lif, **options))
        self.layers = nnx.List(layers)
        # Norse's LILinearCell: no bias, normal weights with standard deviation 1 / sqrt(input).
        self.readout_weights = nnx.Param(
            jax.random.normal(rngs.params(), (hidden_size, 2)) / math.sqrt(hidden_size))
        self.readout = LI(LIParameters())

    def __call__(self, inputs: jax.Array):
        spikes = jnp.concatenate([layer(inputs)[0] for layer in self.layers], axis=-1)
        voltages, _ = self.readout(spikes @ self.readout_weights[...])
        return voltages, spikes


def recall_loss(voltages: jax.Array, labels: jax.Array, mask: jax.Array):
    """Cross-entropy and accuracy at the recall periods.

    Args:
        voltages: readout ``(T, B, 2)``, ``T`` a multiple of the periods ``S``.
        labels: ``(S, B, 2)`` one-hot targets.
        mask: ``(S, B)`` the periods that count.

    Returns:
        ``(loss, accuracy, logits)``, the logits being the mean voltage of each period ``(S, B, 2)``.

    Example:
        >>> import jax.numpy as jnp
        >>> v = jnp.zeros((4, 1, 2)).at[2:, 0, 1].set(1.0)      # 2 periods of 2 steps
        >>> labels = jnp.array([[[0.0, 0.0]], [[0.0, 1.0]]])
        >>> loss, acc, _ = recall_loss(v, labels, labels.sum(-1) > 0)
        >>> round(float(loss), 4), float(acc)
        (0.3133, 1.0)
    """
    periods, batch = mask.shape
    if voltages.shape[0] % periods:
        raise ValueError(f"voltages has {voltages.shape[0]} steps, expected a multiple of the {periods} periods")
    logits = voltages.reshape(periods, -1, batch, voltages.shape[-1]).mean(axis=1)
    weights = mask.astype(logits.dtype)
    count = jnp.maximum(weights.sum(), 1.0)
    loss = jnp.sum(optax.softmax_cross_entropy(logits, labels) * weights) / count
    correct = jnp.argmax(logits, -1) == jnp.argmax(labels, -1)
    return loss, jnp.sum(correct * weights) / count, logits


def step_recall_loss(voltages: jax.Array, targets) -> jax.Array:
    """The per-step loss of online learning: cross-entropy of one step's readout at a recall.

    Args:
        voltages: the readout ``(B, 2)`` of one step.
        targets: ``(labels, weights)``: the one-hot stored bit ``(B, 2)`` and ``(B,)`` weights,
            zero outside the recall periods and ``1 / (recall steps of the batch)`` inside, so
            that the sum over the steps is the mean cross-entropy over the recall steps.

    Example:
        >>> import jax.numpy as jnp
        >>> labels = jnp.array([[1.0, 0.0], [0.0, 1.0]])
        >>> round(float(step_recall_loss(jnp.zeros((2, 2)), (labels, jnp.array([0.5, 0.0])))), 4)
        0.3466
    """
    labels, weights = targets
    return jnp.sum(optax.softmax_cross_entropy(voltages, labels) * weights)


def online_targets(batch: StoreRecallBatch, seq_length: int):
    """``(labels, weights)`` per step ``(T, B, 2)``, ``(T, B)`` for :func:`step_recall_loss`."""
    labels = jnp.repeat(batch.labels, seq_length, axis=0)
    mask = jnp.repeat(batch.mask, seq_length, axis=0).astype(labels.dtype)
    return labels, mask / jnp.maximum(mask.sum(), 1.0)


# (full run, --smoke) defaults of the flags left unset.
DEFAULTS = {"seq_length": (50, 10), "seq_periods": (12, 4), "hidden": (40, 16), "epochs": (10, 1),
            "steps": (50, 20), "batch_size": (64, 32), "eval_samples": (512, 64)}


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m tasks.memory``."""
    parser = argparse.ArgumentParser(
        prog="python -m tasks.memory", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Train a recurrent SNN on Norse's store/recall memory task with BPTT.")
    add = parser.add_argument

    def sized(*flags, dest, help):
        full, smoke = DEFAULTS[dest]
        add(*flags, dest=dest, type=int, default=None, help=f"{help} (default {full}; {smoke} with --smoke)")

    # Norse's spellings (--neuron_model, --seq_length, --batch_size) work as well as the dashed ones.
    add("--neuron-model", "--neuron_model", dest="neuron_model", choices=NEURON_MODELS, default="lsnn",
        help="100%% LSNN, 100%% LIF, or half of each")
    add("--learning", choices=LEARNING, default="bptt",
        help="BPTT through the whole sample, e-prop (online) or truncated BPTT")
    add("--tbptt-window", type=int, default=None, help="steps per truncated-BPTT window (default: one period)")
    add("--feedback", choices=("symmetric", "random"), default="symmetric",
        help="e-prop's learning signal through the readout weights or a fixed random matrix")
    add("--update-every", type=int, default=None,
        help="e-prop: optimizer step every this many time steps; tbptt: after every window (any value)")
    sized("--seq-length", "--seq_length", dest="seq_length", help="steps (ms) per period")
    sized("--seq-periods", dest="seq_periods", help="periods per store/recall repetition, even")
    add("--seq-repetitions", type=int, default=1, help="store/recall pairs per sample")
    add("--population-size", type=int, default=5, help="input neurons per channel")
    add("--poisson-rate", type=float, default=100.0, help="data channel rate in Hz (commands: half)")
    add("--encoding", choices=ENCODINGS, default="poisson", help="input spikes or constant intensities")
    sized("--hidden", dest="hidden", help="spiking neurons")
    sized("--epochs", dest="epochs", help="epochs")
    sized("--steps", dest="steps", help="training steps per epoch, each on fresh samples")
    sized("--batch-size", "--batch_size", dest="batch_size", help="samples per step")
    sized("--eval-samples", dest="eval_samples", help="held-out samples, rounded up to whole batches")
    add("--lr", type=float, default=1e-2, help="Adam learning rate (cosine decay to 10%%)")
    add("--surrogate", default="super", help="surrogate gradient (spikejax.functional.surrogate_names())")
    add("--alpha", type=float, default=10.0, help="surrogate sharpness")
    add("--v-th", type=float, default=0.5, help="threshold (Norse's task: 0.5)")
    add("--beta", type=float, default=0.3, help="LSNN threshold jump per spike")
    add("--tau-adapt-inv", type=float, default=1.0, help="LSNN inverse adaptation time constant (1/s)")
    add("--detach-reset", action=argparse.BooleanOptionalAction, default=False,
        help="stop the gradient through the reset and the threshold jump")
    add("--reg-factor", type=float, default=1e-5, help="weight of the firing-rate regulariser")
    add("--reg-target", type=float, default=10.0, help="target firing rate of the regulariser (Hz)")
    add("--seed", type=int, default=0, help="random seed (weights, samples)")
    add("--checkpoint-dir", default=None, help="save a checkpoint here after every epoch")
    add("--resume", action="store_true", help="continue from the latest checkpoint in --checkpoint-dir")
    add("--output", default=None, help="JSON summary path (default runs/memory_<neuron_model>[-smoke].json)")
    add("--plot", default=None, help="save the accuracy curve(s) to this image file")
    add("--compare", nargs="*", default=[], help="summaries of other runs to draw in --plot")
    add("--smoke", action="store_true", help="20 steps on a short 4-period task (seconds; for CI)")
    add("--no-progress", action="store_true", help="no progress bars")
    return parser


def _check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    def flag(name):
        return "--" + name.replace("_", "-")

    for name in (*DEFAULTS, "seq_repetitions", "population_size"):
        if getattr(args, name) < 1:
            parser.error(f"{flag(name)} must be a positive int, got {getattr(args, name)}")
    for name in ("lr", "poisson_rate", "tau_adapt_inv", "alpha"):
        if not getattr(args, name) > 0:
            parser.error(f"{flag(name)} must be positive, got {getattr(args, name)}")
    if args.seq_periods % 2:
        parser.error(f"--seq-periods must be even (a store half and a recall half), got {args.seq_periods}")
    if args.neuron_model == "lsnnlif" and args.hidden < 2:
        parser.error(f"--hidden must be at least 2 for lsnnlif (half LSNN, half LIF), got {args.hidden}")
    if args.surrogate not in spikejax.functional.surrogate_names():
        parser.error(f"--surrogate must be one of {spikejax.functional.surrogate_names()}, got {args.surrogate!r}")
    for path in args.compare:
        if not pathlib.Path(path).is_file():
            parser.error(f"--compare: no such summary file {path!r}")
    if args.learning != "bptt" and args.neuron_model == "lsnnlif":
        parser.error(f"--learning {args.learning} trains one population: --neuron-model lsnn or lif, got lsnnlif")
    steps = args.seq_length * args.seq_periods * args.seq_repetitions
    for name in ("tbptt_window", "update_every"):
        value = getattr(args, name)
        if value is not None and (value < 1 or steps % value):
            parser.error(f"{flag(name)} must be a positive divisor of the {steps} steps of a sample, got {value}")
    if args.resume and not args.checkpoint_dir:
        parser.error("--resume needs --checkpoint-dir (the folder of the run to continue), got none")


def plot_accuracy(summaries: Sequence[dict], path: str | pathlib.Path) -> None:
    """Draw the recall accuracy per epoch of each summary (``main``'s return value) to ``path``."""
    from matplotlib.figure import Figure  # no pyplot: no global backend or figure state

    fig = Figure(figsize=(6, 4), layout="tight")
    ax = fig.subplots()
    for summary in summaries:
        config = summary["config"]
        ax.plot([100 * a for a in summary["accuracy_curve"]], marker="o",
                label=f"{config['neuron_model']} (periods of {config['seq_length']} ms)")
    ax.axhline(50, color="grey", linestyle=":", label="chance")
    ax.set(xlabel="epoch", ylabel="recall accuracy (%)", ylim=(0, 100))
    ax.legend(loc="lower right")
    fig.savefig(path, dpi=120)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    for name, (full, smoke) in DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, smoke if args.smoke else full)
    _check_args(parser, args)
    learning = "" if args.learning == "bptt" else f"_{args.learning}"
    output = pathlib.Path(args.output or f"runs/memory_{args.neuron_model}{learning}{'-smoke' if args.smoke else ''}.json")
    data_options = dict(seq_length=args.seq_length, seq_periods=args.seq_periods,
                        seq_repetitions=args.seq_repetitions, population_size=args.population_size,
                        poisson_rate=args.poisson_rate, encoding=args.encoding)
    method = {"method": args.surrogate, "alpha": args.alpha, "v_th": args.v_th}
    p_lsnn = LSNNParameters(beta=args.beta, tau_adapt_inv=args.tau_adapt_inv, **method)
    if args.learning == "bptt":
        model = MemoryNet(
            4 * args.population_size, args.hidden, neuron_model=args.neuron_model, p_lsnn=p_lsnn,
            p_lif=LIFParameters(**method), detach_reset=args.detach_reset, rngs=nnx.Rngs(args.seed),
        )
    else:
        rngs = nnx.Rngs(args.seed)
        layer = (LSNNRecurrent(4 * args.population_size, args.hidden, p_lsnn, detach_reset=args.detach_reset,
                               rngs=rngs) if args.neuron_model == "lsnn" else
                 LIFRecurrent(4 * args.population_size, args.hidden, LIFParameters(**method),
                              detach_reset=args.detach_reset, rngs=rngs))
        model = RecurrentReadout(layer, 2, readout_p=LIParameters(), bias=False, feedback=args.feedback,
                                 rngs=rngs)
    schedule = optax.cosine_decay_schedule(args.lr, args.epochs * args.steps, alpha=0.1)
    optimizer = nnx.Optimizer(model, optax.adam(schedule), wrt=nnx.Param)
    train_key, eval_key = jax.random.split(jax.random.key(args.seed))

    def recall_metrics(model, batch):
        voltages, spikes = model(batch.inputs)
        loss, accuracy, _ = recall_loss(voltages, batch.labels, batch.mask)
        return loss, {"accuracy": accuracy, "spikes": spikes}

    def loss_fn(model, batch):
        loss, aux = recall_metrics(model, batch)
        rate_penalty = firing_rate_loss(aux.pop("spikes"), args.reg_target, dt=1e-3, batch_mean=True)
        return loss + args.reg_factor * rate_penalty, aux

    def online_split(batch):
        return batch.inputs, online_targets(batch, args.seq_length)

    def online_metrics(voltages, batch):
        return {"accuracy": recall_loss(voltages, batch.labels, batch.mask)[1]}

    online = dict(split_batch=online_split, metrics_fn=online_metrics)
    if args.learning == "eprop":
        train_step = make_eprop_train_step(step_recall_loss, update_every=args.update_every, **online)
    elif args.learning == "tbptt":
        train_step = make_tbptt_train_step(step_recall_loss, window=args.tbptt_window or args.seq_length,
                                           update_each_window=args.update_every is not None, **online)
    else:
        train_step = train.make_train_step(loss_fn)
    eval_step = train.make_eval_step(recall_metrics)  # its "loss" is the recall loss alone
    generate = jax.jit(lambda key, size: store_recall_data(key, size, **data_options), static_argnums=1)

    class Epoch:
        """The batches of one epoch, generated as they are drawn, with a length for the bar."""

        def __init__(self, epoch: int):
            self.keys = jax.random.split(jax.random.fold_in(train_key, epoch), args.steps)

        def __len__(self):
            return args.steps

        def __iter__(self):
            return (generate(key, args.batch_size) for key in self.keys)

    # Time-major batches: evaluate weighs each batch by its axis 1 (batch_axis=1).
    eval_set = [generate(key, args.batch_size)
                for key in jax.random.split(eval_key, -(-args.eval_samples // args.batch_size))]

    print(f"spikejax {spikejax.__version__} | jax {jax.__version__} on {jax.devices()[0]} | "
          f"memory task, {args.neuron_model}, {args.learning}, {args.hidden} neurons, "
          f"{args.seq_periods * args.seq_repetitions * args.seq_length} steps per sample")
    initial = None  # the recall before training, measured inside the Ctrl-C handling below

    def fields(complete: bool) -> dict:
        before = initial or {"accuracy": None, "loss": None}
        history = record.history
        final = history[-1]["eval"] if history else before
        curve = [before["accuracy"]] + [h["eval"]["accuracy"] for h in history]
        return {
            "task": "memory", "complete": complete, "recall_accuracy": final["accuracy"],
            "recall_loss": final["loss"], "accuracy_curve": curve,
            "best_recall_accuracy": max((a for a in curve if a is not None), default=None),
            "loss_curve": [before["loss"]] + [h["eval"]["loss"] for h in history],
            "initial_recall_loss": before["loss"],
        }

    record = RunRecord("tasks.memory", argv, output, config=dict(vars(args)), fields=fields)
    checkpointer = record.open_checkpointer(args.checkpoint_dir)
    interrupt = record.interruptible(epochs=args.epochs, checkpoint_dir=args.checkpoint_dir,
                                     start=(checkpointer.latest_epoch() or 0) if args.resume else 0)
    with interrupt:
        initial = train.evaluate(model, eval_step, eval_set, batch_axis=1)
        try:
            train.fit(model, optimizer, train_step, Epoch, epochs=args.epochs, eval_step=eval_step,
                      eval_batches=lambda: eval_set, eval_batch_axis=1, progress=not args.no_progress,
                      checkpointer=checkpointer, resume=args.resume, metadata={"config": record.config},
                      on_epoch_end=record.record_epoch)
        finally:
            if checkpointer is not None:
                checkpointer.close()
    summary = record.write(complete=True)
    if args.plot:
        others = [json.loads(pathlib.Path(path).read_text()) for path in args.compare]
        plot_accuracy([summary] + others, args.plot)
    print(f"recall accuracy {summary['recall_accuracy'] * 100:.2f}% ({args.neuron_model}); summary in {output}")
    return summary


if __name__ == "__main__":
    run_main(main)
