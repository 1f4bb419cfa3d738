"""Memory of one training step of a recurrent LSNN layer: e-prop against BPTT and remat.

    python -m benchmarks.online_memory                       # XLA's analysis, T = 1,000 and 10,000
    python -m benchmarks.online_memory --rss                 # plus peak RSS, one subprocess each
    python -m benchmarks.online_memory --tiny                # seconds (tests)

One step computes the gradient of a :class:`spikejax.online.RecurrentReadout` (an LSNN layer of
``--hidden`` neurons, ``--inputs`` Poisson inputs at 10 %, batch ``--batch-size``, a leaky
readout of 2 outputs and a squared error at every step) and applies Adam: with e-prop
(:func:`spikejax.online.make_eprop_train_step`), with BPTT (:func:`spikejax.train.make_train_step`
through the layer's scan), and with BPTT whose scan is rematerialised (``remat=True``: every
step recomputed; ``remat=K``: checkpoints every ``K`` steps). The input spikes are booleans
(``T * B * inputs`` bytes, part of every method's arguments).

For each method and length it records XLA's memory analysis of the compiled step (arguments,
outputs, temporaries; ``temp`` is what the step itself needs) and, with ``--rss``, the peak
resident memory of a fresh process that compiles and runs the step once (``ru_maxrss``, which
includes the Python process and JAX's runtime, about the same for every method).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from typing import Optional, Sequence

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from benchmarks._results import command_line, write_json

METHODS = ("eprop", "bptt", "remat")


def build(method: str, length: int, hidden: int, batch: int, inputs: int, remat):
    """``(step, model, optimizer, batch)`` of one method (not compiled)."""
    from spikejax import train
    from spikejax.functional import LSNNParameters
    from spikejax.nn import LSNNRecurrent
    from spikejax.online import RecurrentReadout, make_eprop_train_step

    p = LSNNParameters(v_th=0.5, beta=0.3, tau_adapt_inv=1.0, alpha=10.0)
    options = {"remat": remat} if method == "remat" else {}
    layer = LSNNRecurrent(inputs, hidden, p, detach_reset=False, rngs=nnx.Rngs(0), **options)
    model = RecurrentReadout(layer, 2, rngs=nnx.Rngs(1))
    optimizer = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)
    xs = jax.random.bernoulli(jax.random.key(2), 0.1, (length, batch, inputs))
    targets = jnp.full((length, batch, 2), 0.5)

    def loss_step(y, target):
        return 0.5 * jnp.sum((y - target) ** 2) / batch

    if method == "eprop":
        step = make_eprop_train_step(loss_step)
    else:
        def loss_fn(model, data):
            ys, _ = model(data[0].astype(jnp.float32))
            return jax.vmap(loss_step)(ys, data[1]).sum(), {}
        step = train.make_train_step(loss_fn)
    return step, model, optimizer, (xs, targets)


def analysis(method, length, hidden, batch, inputs, remat) -> dict:
    """XLA's memory analysis of the compiled step (compiled, not run)."""
    step, model, optimizer, data = build(method, length, hidden, batch, inputs, remat)
    began = time.perf_counter()
    compiled = step.lower(model, optimizer, data).compile()
    stats = compiled.memory_analysis()
    fields = ("argument_size_in_bytes", "output_size_in_bytes", "temp_size_in_bytes",
              "alias_size_in_bytes", "generated_code_size_in_bytes")
    result = {name.replace("_size_in_bytes", "_bytes"): int(getattr(stats, name)) for name in fields}
    result["total_bytes"] = (result["argument_bytes"] + result["output_bytes"] + result["temp_bytes"]
                             - result["alias_bytes"])
    result["compile_seconds"] = time.perf_counter() - began
    return result


def run_once(method, length, hidden, batch, inputs, remat) -> dict:
    """Compile and run the step once in this process; its peak RSS."""
    step, model, optimizer, data = build(method, length, hidden, batch, inputs, remat)
    began = time.perf_counter()
    metrics = step(model, optimizer, data)
    loss = float(metrics["loss"])
    return {"seconds": time.perf_counter() - began, "loss": loss,
            "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def rss_in_subprocess(method, length, args) -> dict:
    command = [sys.executable, "-m", "benchmarks.online_memory", "--child", method, str(length),
               "--hidden", str(args.hidden), "--batch-size", str(args.batch_size), "--inputs", str(args.inputs),
               "--remat", str(args.remat)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout)
    if done.returncode:
        return {"error": done.stderr[-2000:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _remat(value: str):
    return True if value == "True" else int(value)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.online_memory", description=__doc__.split("\n")[0])
    add = parser.add_argument
    add("--hidden", type=int, default=256)
    add("--batch-size", type=int, default=32)
    add("--inputs", type=int, default=20)
    add("--lengths", type=int, nargs="+", default=[1000, 10000])
    add("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    add("--remat", type=_remat, default=True, help="remat: True (every step) or steps per checkpoint")
    add("--rss", action="store_true", help="also run each step in a fresh process and record its peak RSS")
    add("--rss-methods", nargs="+", choices=METHODS, default=None, help="(default: --methods)")
    add("--rss-max-length", type=int, default=None, help="measure RSS only up to this length")
    add("--timeout", type=float, default=3600.0, help="seconds per RSS subprocess")
    add("--tiny", action="store_true", help="hidden 8, batch 2, lengths 20 and 200 (seconds)")
    add("--output", default="benchmarks/results/online_memory_eprop_cpu.json")
    add("--child", nargs=2, metavar=("METHOD", "LENGTH"), default=None, help=argparse.SUPPRESS)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = build_parser().parse_args(argv)
    if args.tiny:
        args.hidden, args.batch_size, args.lengths = 8, 2, [20, 200]
    if args.child:
        method, length = args.child[0], int(args.child[1])
        result = run_once(method, length, args.hidden, args.batch_size, args.inputs, args.remat)
        print(json.dumps(result))
        return result
    rows = []
    for method in args.methods:
        for length in args.lengths:
            row = {"method": method, "length": length,
                   "remat": args.remat if method == "remat" else None,
                   "xla": analysis(method, length, args.hidden, args.batch_size, args.inputs, args.remat)}
            measure = args.rss and method in (args.rss_methods or args.methods) and (
                args.rss_max_length is None or length <= args.rss_max_length)
            row["rss"] = rss_in_subprocess(method, length, args) if measure else None
            print(json.dumps(row), flush=True)
            rows.append(row)

    def ratio(method, key):
        values = [r for r in rows if r["method"] == method]
        if len(values) < 2:
            return None
        first, last = values[0], values[-1]
        a, b = key(first), key(last)
        return None if a is None or b is None else b / a

    temp = lambda r: r["xla"]["temp_bytes"] + r["xla"]["output_bytes"]
    rss = lambda r: (r["rss"] or {}).get("peak_rss_bytes")
    summary = {
        "benchmark": "online_memory", "command": command_line("benchmarks.online_memory", argv),
        "config": {k: v for k, v in vars(args).items() if k != "child"},
        "device": str(jax.devices()[0]), "jax": jax.__version__, "rows": rows,
        # Longest over shortest length, per method: e-prop's memory does not grow with T.
        "growth_temp_plus_output": {m: ratio(m, temp) for m in args.methods},
        "growth_total": {m: ratio(m, lambda r: r["xla"]["total_bytes"]) for m in args.methods},
        "growth_peak_rss": {m: ratio(m, rss) for m in args.methods},
    }
    write_json(summary, args.output)
    return summary


if __name__ == "__main__":
    main()
