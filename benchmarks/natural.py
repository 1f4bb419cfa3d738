"""The tutorial-5 network written the natural way against hand-written JAX, same run.

snnTorch's tutorial-5 network: 784-1000-10, Leaky neurons (beta 0.95, subtract reset, atan
surrogate), 25 time steps, Adam (lr 5e-4), batch 128, MNIST. Two versions train on the same
batches from the same weights, in this one process:

* **natural**: what a new user writes from the README, a ``SequentialState(Lift(nnx.Linear(784,
  1000)), Leaky(p), Lift(nnx.Linear(1000, 10)), Leaky(p, record_states=True))`` called on the
  image once, ``model(image, steps=25)`` (with ``--broadcast``: on the image broadcast over the
  25 steps, ``model(jnp.broadcast_to(image, (25, ...)))``, the only way before ``steps=``);
* **hand-written**: one ``lax.scan`` in plain JAX, the first layer computed once
  (:func:`hand_forward`).

The natural version's training step is an ``nnx.jit`` bound with ``nnx.cached_partial``, as
``spikejax.train.fit`` binds its steps (``--uncached``: called bare, which adds Flax's graph walk,
about 7 % of this step's CPU time, to every call); the hand-written one is a ``jax.jit``.
The loss is the cross-entropy of the output membrane summed over the steps. Prints the seconds
per epoch (or per ``--batches N`` batches) of each and their ratio, then the ratio of single
training steps timed in ``--paired-rounds`` paired rounds (:func:`paired_steps`: the measure a
shared machine disturbs least); ``--output`` writes JSON.

The same for one training batch of ``tasks.mnist``'s conv network (``--conv-repeats``, 0 to
skip): its ``SequentialState`` run with ``steps=`` against the same layers threaded through
:func:`spikejax.functional.run` by hand, as ``tasks.mnist`` did before (best of the repeats,
the two alternating).

    python -m benchmarks.natural                     # one epoch (468 batches)
    python -m benchmarks.natural --batches 60        # a quick look
"""

from __future__ import annotations

import argparse
import functools
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
from spikejax.nn import Leaky, Lift, SequentialState

# The tutorial-5 network and training: this module is their one definition
# (benchmarks.train_speed and benchmarks.precision train the same model).
T, HIDDEN, BETA, LR = 25, 1000, 0.95, 5e-4


def natural_model(rngs: nnx.Rngs, *, matmul_dtype=None, state_dtype=None) -> SequentialState:
    """The network as the README writes it: lifted Linear layers and Leaky sequence layers.

    ``matmul_dtype`` and ``state_dtype`` are the Flax ``dtype`` of the Linear layers and of the
    neurons (``None``: the input's, float32 here); the parameters are float32 either way, and
    the same ``rngs`` give the same initial weights (``benchmarks.precision`` compares them).
    """
    p = LeakyParameters(beta=BETA)
    return SequentialState(
        Lift(nnx.Linear(784, HIDDEN, dtype=matmul_dtype, rngs=rngs)),
        Leaky(p, dtype=state_dtype),
        Lift(nnx.Linear(HIDDEN, 10, dtype=matmul_dtype, rngs=rngs)),
        Leaky(p, record_states=True, dtype=state_dtype),
    )


def hand_parameters(model: SequentialState) -> dict:
    """The weights of a :func:`natural_model` as :func:`hand_forward` takes them."""
    return {"w1": model[0].module.kernel[...], "b1": model[0].module.bias[...],
            "w2": model[2].module.kernel[...], "b2": model[2].module.bias[...]}


def loss_and_accuracy(out_spikes, membranes, labels):
    """Cross-entropy of the output membrane summed over steps; accuracy of the spike counts."""
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
    """One ``lax.scan`` in plain JAX, the first layer computed once: ``(spikes, membranes)``."""
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


def natural_forward(model: SequentialState, images: jax.Array, broadcast: bool = False):
    """``(output spikes, output membranes)``, both ``(T, B, 10)``."""
    flat = images.reshape(images.shape[0], -1)
    if broadcast:
        out_spikes, state = model(jnp.broadcast_to(flat, (T,) + flat.shape))
    else:
        out_spikes, state = model(flat, steps=T)
    return out_spikes, state[-1].mem


def natural_step(broadcast: bool = False):
    """The natural version's training step (Adam): ``nnx.jit``, ``(model, optimizer, x, y) ->
    (loss, accuracy)``, updating ``model`` and ``optimizer`` in place."""

    @nnx.jit
    def step(model, optimizer, x, y):
        def loss_fn(model):
            return loss_and_accuracy(*natural_forward(model, x, broadcast), y)

        (loss, accuracy), grads = nnx.value_and_grad(loss_fn, has_aux=True)(model)
        optimizer.update(model, grads)
        return loss, accuracy

    return step


def hand_step(tx):
    """The hand-written version's training step: ``jax.jit``, ``(params, opt_state, x, y) ->
    (params, opt_state, loss)`` with the optax transformation ``tx``."""

    @jax.jit
    def step(params, opt_state, x, y):
        def loss_fn(params):
            return loss_and_accuracy(*hand_forward(params, x), y)

        (loss, accuracy), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return step


def bind(step, model, optimizer, cached: bool = True):
    """``(x, y) -> step(model, optimizer, x, y)``; ``cached``: through ``nnx.cached_partial``,
    as ``spikejax.train.fit`` binds its steps.

    A bare ``nnx.jit`` call walks the model's and the optimizer's graph at every step: about 7 %
    of this network's CPU step here (1.066-1.076x the hand-written step's CPU time, against
    1.006 bound; paired rounds on the shared 2-core CPU), which is Flax's cost per call, not the
    network's: the compiled programs of the two versions count the same FLOPs and bytes.
    """
    return nnx.cached_partial(step, model, optimizer) if cached else functools.partial(step, model, optimizer)


def time_natural(model, batches, broadcast, *, cached: bool = True):
    """Adam on :func:`natural_forward` over ``batches``, compiled first (its update discarded):
    ``(seconds, compile seconds, last loss)``; ``cached``: see :func:`bind`."""
    optimizer = nnx.Optimizer(model, optax.adam(LR), wrt=nnx.Param)
    bound = bind(natural_step(broadcast), model, optimizer, cached)
    before = jax.tree_util.tree_map(jnp.copy, nnx.state((model, optimizer)))
    began = time.perf_counter()
    jax.block_until_ready(bound(batches[0]["x"], batches[0]["y"]))
    compile_seconds = time.perf_counter() - began
    nnx.update((model, optimizer), before)
    began = time.perf_counter()
    for batch in batches:
        loss, accuracy = bound(batch["x"], batch["y"])
    jax.block_until_ready((loss, nnx.state(model)))
    return time.perf_counter() - began, compile_seconds, float(loss)


def time_hand_written(params, batches):
    """Adam on :func:`hand_forward` over ``batches``, compiled first (on the first batch, its
    update discarded): ``(seconds, compile seconds, last loss, trained params)``."""
    tx = optax.adam(LR)
    opt_state = tx.init(params)
    step = hand_step(tx)
    began = time.perf_counter()
    jax.block_until_ready(step(params, opt_state, batches[0]["x"], batches[0]["y"]))
    compile_seconds = time.perf_counter() - began
    began = time.perf_counter()
    for batch in batches:
        params, opt_state, loss = step(params, opt_state, batch["x"], batch["y"])
    jax.block_until_ready(params)
    return time.perf_counter() - began, compile_seconds, float(loss), params


def paired_steps(batch: dict, rounds: int, broadcast: bool = False) -> dict:
    """One training step of each version per round, in a fresh random order every round
    (:func:`benchmarks.peers._protocol.timed_rounds`), on the same batch and the same initial
    weights: the natural step bound (:func:`bind`) and bare, and the hand-written step. Steps
    repeat on the same inputs (each version keeps its own copy, so the work is that of real
    steps). Returns the median seconds and the median per-round ratio to the hand-written step,
    of wall and of CPU time: on a shared machine this pairing, not two epochs one after the
    other, is what the noise affects least."""
    from benchmarks.peers._protocol import timed_rounds

    model = natural_model(nnx.Rngs(0))
    params = hand_parameters(model)
    tx = optax.adam(LR)
    opt_state = tx.init(params)
    hand = hand_step(tx)
    optimizer = nnx.Optimizer(model, optax.adam(LR), wrt=nnx.Param)
    # Bound and bare steps update their own model: the bare one gets a copy.
    model_bare = nnx.clone(model)
    optimizer_bare = nnx.Optimizer(model_bare, optax.adam(LR), wrt=nnx.Param)
    step = natural_step(broadcast)
    bound, bare = bind(step, model, optimizer), bind(step, model_bare, optimizer_bare, cached=False)
    x, y = batch["x"], batch["y"]
    calls = {"hand_written": lambda: jax.block_until_ready(hand(params, opt_state, x, y)),
             "natural": lambda: jax.block_until_ready(bound(x, y)),
             "natural_uncached": lambda: jax.block_until_ready(bare(x, y))}
    for call in calls.values():  # compile outside the rounds
        call()
    seconds = {name: {k: np.asarray(v) for k, v in t.items()}
               for name, t in timed_rounds(calls, rounds).items()}
    base = seconds["hand_written"]
    return {"rounds": rounds, **{name: {
        "median_ms": float(np.median(t["wall"])) * 1e3, "cpu_median_ms": float(np.median(t["cpu"])) * 1e3,
        "ratio_to_hand_written": float(np.median(t["wall"] / base["wall"])),
        "cpu_ratio_to_hand_written": float(np.median(t["cpu"] / base["cpu"]))} for name, t in seconds.items()}}


class HandThreadedConvSNN:
    """``tasks.mnist``'s network (constant encoder) with its cells threaded through ``run`` by
    hand, on the very layers of a ``tasks.mnist.ConvSNN``."""

    def __init__(self, model):
        self.model = model

    def __call__(self, images):
        from tasks.mnist import as_float32, max_pool_2x2

        m = self.model
        neuron1, neuron2, readout = m.net[2].module, m.net[7].module, m.net[14].module
        currents = as_float32(m.conv1(images[..., None]))

        def step(current, state):
            s1, s2, s3 = (None, None, None) if state is None else state
            z1, s1 = neuron1(current, s1)
            z2, s2 = neuron2(as_float32(m.conv2(max_pool_2x2(z1))), s2)
            flat = max_pool_2x2(z2).reshape(z2.shape[0], -1)
            v, s3 = readout(as_float32(m.fc(m.dropout(flat))), s3)
            return (v, jnp.sum(z1) + jnp.sum(z2)), (s1, s2, s3)

        _, (voltages, spike_counts) = run(step, None, currents, length=m.time_steps, unroll=True)
        return jnp.max(voltages, axis=0), jnp.sum(spike_counts)


def time_conv(batch_size: int, repeats: int, channels=(32, 64)) -> dict:
    """Seconds of one training step (Adam) of ``tasks.mnist``'s network, both ways."""
    from tasks.mnist import ConvSNN

    rng = np.random.default_rng(0)
    images = jnp.asarray(rng.normal(size=(batch_size, 28, 28)), jnp.float32)
    labels = jnp.asarray(rng.integers(0, 10, batch_size))
    versions = {"natural": lambda m, x: m(x), "hand_threaded": lambda m, x: HandThreadedConvSNN(m)(x)}
    steps, logits = {}, {}
    for name, forward in versions.items():
        model = ConvSNN(channels=channels, rngs=nnx.Rngs(0))
        optimizer = nnx.Optimizer(model, optax.adam(LR), wrt=nnx.Param)

        @nnx.jit
        def step(model, optimizer, forward=forward):
            def loss_fn(model):
                out = forward(model, images)[0]
                return optax.softmax_cross_entropy_with_integer_labels(out, labels).mean(), out

            (loss, out), grads = nnx.value_and_grad(loss_fn, has_aux=True)(model)
            optimizer.update(model, grads)
            return out

        logits[name] = np.asarray(jax.block_until_ready(step(model, optimizer)))
        steps[name] = (step, model, optimizer)
    seconds = {name: [] for name in versions}
    for _ in range(repeats):
        for name, (step, model, optimizer) in steps.items():
            began = time.perf_counter()
            jax.block_until_ready(step(model, optimizer))
            seconds[name].append(time.perf_counter() - began)
    best = {name: min(values) for name, values in seconds.items()}
    return {
        "network": f"tasks.mnist ConvSNN channels {list(channels)}, T 4, batch {batch_size}",
        "seconds": seconds, "best_seconds": best,
        "ratio": best["natural"] / best["hand_threaded"],
        "max_logit_difference": float(np.abs(logits["natural"] - logits["hand_threaded"]).max()),
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=None,
                        help="time the first N batches of 128 (default: one epoch, 468)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="alternate the two versions this many times; the best of each counts")
    parser.add_argument("--broadcast", action="store_true",
                        help="give the natural version the image broadcast over time, not steps=")
    parser.add_argument("--uncached", action="store_true",
                        help="call the natural version's nnx.jit step bare, not bound with "
                             "nnx.cached_partial as spikejax.train.fit binds it (shows Flax's cost per call)")
    parser.add_argument("--paired-rounds", type=int, default=30,
                        help="then time single training steps of each version in this many paired "
                             "rounds (0: skip)")
    parser.add_argument("--conv-repeats", type=int, default=3,
                        help="time this many training batches of tasks.mnist's network (0: skip)")
    parser.add_argument("--conv-batch-size", type=int, default=128)
    parser.add_argument("--output", default=None, help="write the result as JSON here")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    for name in ("batches", "repeats", "conv_batch_size"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer, got {value}")
    for name in ("conv_repeats", "paired_rounds"):
        if getattr(args, name) < 0:
            parser.error(f"--{name.replace('_', '-')} must be 0 or more, got {getattr(args, name)}")

    images, labels = sdata.load("mnist", "train", data_dir=args.data_dir)
    if args.batches is not None:
        images, labels = images[: args.batches * 128], labels[: args.batches * 128]
    batches = [
        {"x": jnp.asarray(sdata.normalize(x)), "y": jnp.asarray(y)}
        for x, y in sdata.batches(images, labels, 128, shuffle_seed=0, drop_last=True)
    ]
    if not batches:
        parser.error(f"no full batch of 128 in {len(images)} images")
    seconds = {"natural": [], "hand_written": []}
    compile_seconds, losses = {}, {}
    for _ in range(args.repeats):
        model = natural_model(nnx.Rngs(0))
        hand, compile_seconds["hand_written"], losses["hand_written"], _ = time_hand_written(
            hand_parameters(model), batches)
        ours, compile_seconds["natural"], losses["natural"] = time_natural(
            model, batches, args.broadcast, cached=not args.uncached)
        seconds["hand_written"].append(hand)
        seconds["natural"].append(ours)
    best = {key: min(values) for key, values in seconds.items()}
    ratio = best["natural"] / best["hand_written"]
    way = "broadcast image" if args.broadcast else "steps="
    print(f"{len(batches)} batches of 128, best of {args.repeats}")
    print(f"{'version':34s} {'seconds':>9s} {'compile s':>10s} {'last loss':>10s}")
    for key, name in (("hand_written", "hand-written JAX (one lax.scan)"),
                      ("natural", f"SequentialState ({way})")):
        print(f"{name:34s} {best[key]:9.2f} {compile_seconds[key]:10.2f} {losses[key]:10.4f}")
    print(f"natural / hand-written: {ratio:.3f} (goal <= 1.1)")
    paired = None
    if args.paired_rounds:
        paired = paired_steps(batches[0], args.paired_rounds, args.broadcast)
        print(f"one training step, {args.paired_rounds} paired rounds, / hand-written (wall, CPU): "
              + ", ".join(f"{name} {paired[name]['ratio_to_hand_written']:.3f} "
                          f"({paired[name]['cpu_ratio_to_hand_written']:.3f})"
                          for name in ("natural", "natural_uncached")))
    conv = None
    if args.conv_repeats:
        conv = time_conv(args.conv_batch_size, args.conv_repeats)
        print(f"tasks.mnist conv network, one training batch of {args.conv_batch_size}, best of "
              f"{args.conv_repeats}: SequentialState {conv['best_seconds']['natural']:.3f} s, "
              f"hand-threaded {conv['best_seconds']['hand_threaded']:.3f} s, ratio "
              f"{conv['ratio']:.3f} (goal <= 1.1)")
    result = {
        "benchmark": "natural",
        "network": "784-1000-10 Leaky(beta=0.95), T=25, Adam 5e-4, batch 128",
        "natural_input": way,
        "natural_step": "nnx.jit, called bare" if args.uncached else "nnx.jit bound with nnx.cached_partial",
        "batches": len(batches),
        "repeats": args.repeats,
        "seconds": seconds,
        "best_seconds": best,
        "compile_seconds": compile_seconds,
        "last_loss": losses,
        "ratio": ratio,
        "paired_steps": paired,
        "conv": conv,
        "environment": train.environment(),
        "command": command_line("benchmarks.natural", argv),
    }
    if args.output:
        write_json(result, args.output)
    return result


if __name__ == "__main__":
    main()
