"""Neuron kernels: spikejax's whole-sequence LIF (fused kernel on GPU) against a plain ``lax.scan``.

All parts use Norse's LIF (SuperSpike, alpha=100) in float32, batch B, T steps:

(a) Linear + LIF (``n`` inputs to ``n`` neurons, the matmul hoisted out of the time loop),
    forward and forward+backward (gradients for the weights and the inputs): spikejax's
    ``lif_sequence`` (``--implementation``, default ``auto``: the kernel on a GPU) and its scan,
    against a hand-written ``lax.scan``, in this one run at one matmul precision.
(b) The neuron alone (currents in): the bytes the kernel must move divided by its time, as a
    fraction of the bandwidth of a ``jnp.copy`` of the same bytes, measured here.
(c) Peak memory per configuration: XLA's static ``memory_analysis`` of each compiled function,
    and, where the device has ``memory_stats`` (GPUs), the peak measured in a fresh process per
    configuration (a process's peak only grows).
(d) On CPU (T=100, B=16, n in {256, 1024}): part (a) for spikejax's scan fallback against the
    plain scan; the ratio of their times should be <= 1.

    python -m benchmarks.neuron_kernels             # GPU: (a)-(c); CPU: (d); writes results/
    python -m benchmarks.neuron_kernels --sizes 64 --steps 20 --no-write    # a quick look

Times are medians over ``--repeats`` rounds, each running every version once in turn (so that
drift in the machine's speed hits all versions alike). Compile time (lower + compile) is
reported separately.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from benchmarks._results import command_line, write_json
from spikejax.functional import LIF_MODEL, LIFParameters, lif_feed_forward_state
from spikejax.kernels import lif_sequence, select_implementation

P = LIFParameters()  # Norse's defaults: dt 1 ms, tau_syn 5 ms, tau_mem 10 ms, v_th 1, alpha 100
DT = 1e-3
INPUT_RATE = 0.2


# ---- the plain reference: a hand-written lax.scan -------------------------------------------


@jax.custom_jvp
def _spike(x):
    # x > 0, except that a nan stays nan, as spikejax's threshold does (a NaN never hides as "no
    # spike"): the same math, so that the compiled programs can be compared.
    return jnp.where(jnp.isnan(x), x, (x > 0).astype(x.dtype))


@_spike.defjvp
def _spike_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    slope = 1.0 / (P.alpha * jnp.abs(x) + 1.0) ** 2
    return _spike(x), jnp.where(jnp.isnan(x), x, slope) * dx


def reference_lif(currents, v, i):
    def step(carry, x):
        v, i = carry
        i = i + x
        v_decayed = v + DT * P.tau_mem_inv * ((P.v_leak - v) + i)
        i = i - DT * P.tau_syn_inv * i
        z = _spike(v_decayed - P.v_th)
        return ((1 - z) * v_decayed + z * P.v_reset, i), z

    (v, i), spikes = lax.scan(step, (v, i), currents)
    return spikes, v


def spikejax_lif(implementation, **options):
    def lif(currents, v, i):
        spikes, state = lif_sequence(
            currents, lif_feed_forward_state(v.shape, P)._replace(v=v, i=i), P, DT,
            implementation=implementation, **options,
        )
        return spikes, state.v

    return lif


# ---- the functions timed ---------------------------------------------------------------------


def layer_functions(lif):
    """Linear + LIF: forward, and forward+backward (gradients for the weights and inputs)."""

    def forward(w, x, v, i):
        currents = jnp.einsum("tbi,hi->tbh", x, w)
        return lif(currents, v, i)

    def loss(w, x, v, i):
        spikes, v_final = forward(w, x, v, i)
        return jnp.sum(spikes) + jnp.sum(v_final)

    return {"forward": forward, "forward+backward": jax.grad(loss, argnums=(0, 1))}


def neuron_functions(lif):
    """The neuron alone: forward, and the forward-with-residuals + backward of one VJP."""

    def vjp(currents, v, i, cotangent):
        _, pullback = jax.vjp(lambda c: lif(c, v, i), currents)
        return pullback((cotangent, jnp.zeros_like(v)))[0]

    return {"forward": lif, "forward+backward": vjp}


def kernel_bytes(steps, neurons, mode, checkpoint_every=8, state_fields=2, itemsize=4):
    """Bytes the fused kernels must move: each array read or written once."""
    sequence = steps * neurons * itemsize
    if mode == "forward":
        return 2 * sequence  # currents in, spikes out
    checkpoints = -(-steps // checkpoint_every) * state_fields * neurons * itemsize
    # forward: currents in, spikes and checkpoints out; backward: currents, cotangents and
    # checkpoints in, gradients out.
    return 2 * sequence + checkpoints + 3 * sequence + checkpoints


# ---- measuring -------------------------------------------------------------------------------


def compile_timed(fn, *args):
    began = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    return compiled, time.perf_counter() - began


def static_memory(compiled):
    try:
        analysis = compiled.memory_analysis()
    except Exception:  # noqa: BLE001 - not every backend has it
        return None
    if analysis is None:
        return None
    fields = ("argument_size_in_bytes", "output_size_in_bytes", "temp_size_in_bytes",
              "alias_size_in_bytes", "generated_code_size_in_bytes")
    return {f: int(getattr(analysis, f)) for f in fields if hasattr(analysis, f)}


def time_rounds(calls: dict, repeats: int, warmup: int = 2, rounds: bool = False) -> dict:
    """Median wall seconds of each call, over ``repeats`` rounds that run every call once, in a
    fresh random order each round (``rounds=True``: every round's seconds). The rounds are
    :func:`benchmarks.peers._protocol.timed_rounds`', shared by all the benchmarks."""
    from benchmarks.peers._protocol import timed_rounds

    blocking = {name: (lambda call=call: jax.block_until_ready(call())) for name, call in calls.items()}
    seconds = {name: np.asarray(t["wall"]) for name, t in timed_rounds(blocking, repeats, warmup).items()}
    if rounds:
        return seconds
    return {name: float(np.median(s)) for name, s in seconds.items()}


def summarize(seconds: dict, reference: str) -> dict:
    """Median and minimum ms, and the ratio to ``reference``: of the medians, and the median of
    the per-round ratios (paired: a slow spell of a shared machine hits both in one round)."""
    return {
        name: {"median_ms": float(np.median(s)) * 1e3, "min_ms": float(np.min(s)) * 1e3,
               "ratio_to_reference": float(np.median(s) / np.median(seconds[reference])),
               "paired_ratio_to_reference": float(np.median(s / seconds[reference]))}
        for name, s in seconds.items()
    }


def make_inputs(n, steps, batch, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.random((steps, batch, n)) < INPUT_RATE).astype(np.float32)
    # Currents of about unit spread: some neurons fire often, some never.
    w = rng.normal(0.0, 1.0 / np.sqrt(INPUT_RATE * n), (n, n)).astype(np.float32)
    v = np.zeros((batch, n), np.float32)
    return jnp.asarray(w), jnp.asarray(x), jnp.asarray(v), jnp.asarray(v)


def versions(args):
    options = dict(block=args.block, checkpoint_every=args.checkpoint_every)
    out = {"reference (lax.scan)": reference_lif,
           f"spikejax ({args.implementation})": spikejax_lif(args.implementation, **options)}
    if args.implementation != "scan" and not args.cpu_suite:
        out["spikejax (scan)"] = spikejax_lif("scan")
        out["spikejax (scan, unroll=8)"] = spikejax_lif("scan", unroll=8)
    return out


def part_layer(args, n):
    """(a)/(d) and the static part of (c) for one size."""
    w, x, v, i = make_inputs(n, args.steps, args.batch)
    rows = []
    for mode in ("forward", "forward+backward"):
        calls, compile_s, memory = {}, {}, {}
        for name, lif in versions(args).items():
            fn = layer_functions(lif)[mode]
            compiled, compile_s[name] = compile_timed(fn, w, x, v, i)
            memory[name] = static_memory(compiled)
            calls[name] = (lambda c=compiled: c(w, x, v, i))
        timing = summarize(time_rounds(calls, args.repeats, rounds=True), "reference (lax.scan)")
        for name in calls:
            rows.append({"part": "layer", "n": n, "mode": mode, "version": name, **timing[name],
                         "compile_s": compile_s[name], "static_memory": memory[name]})
    spikes_ref = jax.jit(layer_functions(reference_lif)["forward"])(w, x, v, i)[0]
    ours = versions(args)[f"spikejax ({args.implementation})"]
    spikes_ours = jax.jit(layer_functions(ours)["forward"])(w, x, v, i)[0]
    agreement = float(jnp.mean(spikes_ref == spikes_ours))
    for row in rows:
        row["spike_agreement_with_reference"] = agreement
        row["spike_rate"] = float(jnp.mean(spikes_ref))
    return rows


def copy_bandwidth(nbytes, repeats):
    """Bytes per second of ``jnp.copy`` reading and writing ``nbytes`` in all."""
    a = jnp.ones((nbytes // 8,), jnp.float32)
    compiled, _ = compile_timed(jnp.copy, a)
    seconds = time_rounds({"copy": lambda: compiled(a)}, repeats)["copy"]
    return nbytes / seconds, seconds


def part_neuron(args, n):
    """(b): the neuron alone (currents in), every version; the kernel against a copy's bandwidth."""
    _, x, v, i = make_inputs(n, args.steps, args.batch)
    currents = x * 0.6
    cotangent = jnp.ones_like(currents)
    chosen = select_implementation(LIF_MODEL, currents, args.implementation)
    rows = []
    for mode in ("forward", "forward+backward"):
        operands = (currents, v, i) if mode == "forward" else (currents, v, i, cotangent)
        calls, compile_s = {}, {}
        for name, lif in versions(args).items():
            compiled, compile_s[name] = compile_timed(neuron_functions(lif)[mode], *operands)
            calls[name] = (lambda c=compiled: c(*operands))
        timing = summarize(time_rounds(calls, args.repeats, rounds=True), "reference (lax.scan)")
        nbytes = kernel_bytes(args.steps, args.batch * n, mode, args.checkpoint_every)
        copy_bw, copy_s = copy_bandwidth(nbytes, args.repeats) if chosen == "pallas" else (None, None)
        for name in calls:
            row = {"part": "neuron", "n": n, "mode": mode, "version": name, **timing[name],
                   "compile_s": compile_s[name]}
            if copy_bw and name == f"spikejax ({args.implementation})":
                seconds = timing[name]["median_ms"] / 1e3
                row.update(kernel_bytes=nbytes, gbytes_per_s=nbytes / seconds / 1e9,
                           copy_gbytes_per_s=copy_bw / 1e9, copy_ms=copy_s * 1e3,
                           fraction_of_copy=(nbytes / seconds) / copy_bw)
            rows.append(row)
    return rows


def part_memory_probes(args, n):
    """(c): the measured peak of each version, one fresh process per (n, version)."""
    rows = []
    for name in versions(args):
        command = [sys.executable, "-m", "benchmarks.neuron_kernels", "--probe", name, "--sizes", str(n),
                   "--steps", str(args.steps), "--batch", str(args.batch), "--implementation",
                   args.implementation, "--precision", args.precision,
                   *(["--block", str(args.block)] if args.block is not None else []),
                   "--checkpoint-every", str(args.checkpoint_every)]
        env = dict(os.environ, XLA_PYTHON_CLIENT_PREALLOCATE="false")
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600,
                              cwd=pathlib.Path(__file__).resolve().parent.parent)
        lines = [l for l in done.stdout.splitlines() if l.startswith("{")]
        if done.returncode or not lines:
            rows.append({"part": "memory", "n": n, "version": name, "error": done.stderr[-2000:]})
            continue
        rows.append(dict(json.loads(lines[-1]), part="memory", n=n, version=name))
    return rows


def probe(args):
    """Run in a fresh process: peak device memory of one version, forward then forward+backward."""
    n = args.sizes[0]
    lif = versions(args)[args.probe]
    w, x, v, i = make_inputs(n, args.steps, args.batch)
    device = jax.devices()[0]
    stats = device.memory_stats() or {}
    result = {"inputs_bytes_in_use": stats.get("bytes_in_use")}
    for mode in ("forward", "forward+backward"):
        out = jax.jit(layer_functions(lif)[mode])(w, x, v, i)
        jax.block_until_ready(out)
        del out
        stats = device.memory_stats() or {}
        result[f"peak_bytes_{mode}"] = stats.get("peak_bytes_in_use")
        if result["inputs_bytes_in_use"] is not None and stats.get("peak_bytes_in_use") is not None:
            result[f"peak_above_inputs_mb_{mode}"] = (
                stats["peak_bytes_in_use"] - result["inputs_bytes_in_use"]) / 2**20
    print(json.dumps(result))


def environment(args):
    import jaxlib

    device = jax.devices()[0]
    return {
        "device": getattr(device, "device_kind", str(device)), "platform": device.platform,
        "cpu_count": os.cpu_count(), "python": sys.version.split()[0], "jax": jax.__version__,
        "jaxlib": jaxlib.__version__, "numpy": np.__version__,
        "load_average_1_5_15_min": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def print_table(rows):
    print(f"{'part':7s} {'n':>6s} {'mode':17s} {'version':26s} {'median ms':>9s} {'min ms':>9s} "
          f"{'ratio':>6s} {'paired':>6s} {'compile s':>9s} {'temp MB':>8s}")
    timing = lambda r: (f"{r['median_ms']:9.3f} {r['min_ms']:9.3f} {r['ratio_to_reference']:6.3f} "
                        f"{r['paired_ratio_to_reference']:6.3f} {r['compile_s']:9.2f}")
    for r in rows:
        if r["part"] == "layer":
            temp = (r["static_memory"] or {}).get("temp_size_in_bytes")
            temp = f"{temp / 2**20:8.1f}" if temp is not None else f"{'-':>8s}"
            print(f"{'layer':7s} {r['n']:6d} {r['mode']:17s} {r['version']:26s} {timing(r)} {temp}")
        elif r["part"] == "neuron":
            bandwidth = (f"   {r['gbytes_per_s']:.1f} GB/s = {r['fraction_of_copy']:.2f} of copy "
                         f"({r['copy_gbytes_per_s']:.1f} GB/s)" if "fraction_of_copy" in r else "")
            print(f"{'neuron':7s} {r['n']:6d} {r['mode']:17s} {r['version']:26s} {timing(r)}{bandwidth}")
        elif r["part"] == "memory":
            peaks = {k: (round(v, 1) if isinstance(v, float) else v) for k, v in r.items()
                     if k.startswith("peak_above") or k == "error"}
            print(f"{'memory':7s} {r['n']:6d} {'':17s} {r['version']:26s} {peaks}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=None,
                        help="neurons n (default: 1024 4096 16384 on GPU, 256 1024 on CPU)")
    parser.add_argument("--steps", type=int, default=None, help="T (default: 500 on GPU, 100 on CPU)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=None, help="rounds (default: 20 GPU, 10 CPU)")
    parser.add_argument("--implementation", default="auto", choices=("auto", "pallas", "scan"),
                        help="lif_sequence's implementation ('pallas' on CPU: the interpreter)")
    parser.add_argument("--precision", default="default", help="jax_default_matmul_precision")
    parser.add_argument("--checkpoint-every", type=int, default=8, help="lif_sequence's checkpoint_every")
    parser.add_argument("--block", type=int, default=None,
                        help="lif_sequence's block of neurons per program (default: the kernels' automatic block)")
    parser.add_argument("--no-memory-probes", action="store_true", help="skip (c)'s measured peaks")
    parser.add_argument("--no-write", action="store_true", help="print only (for sanity runs)")
    parser.add_argument("--output", default=None,
                        help="default benchmarks/results/neuron_kernels_<platform>.json")
    parser.add_argument("--probe", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    # Allocate on demand, so that the memory probes' fresh processes find the device free
    # (must be set before the backend starts, i.e. before the first device use below).
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    jax.config.update("jax_default_matmul_precision", args.precision)
    on_gpu = jax.default_backend() == "gpu"
    args.cpu_suite = not on_gpu
    args.sizes = args.sizes or ([1024, 4096, 16384] if on_gpu else [256, 1024])
    args.steps = args.steps or (500 if on_gpu else 100)
    args.repeats = args.repeats or (20 if on_gpu else 10)
    if args.probe:
        return probe(args)

    rows = []
    for n in args.sizes:
        rows += part_layer(args, n)
        rows += part_neuron(args, n)
        if on_gpu and not args.no_memory_probes:
            rows += part_memory_probes(args, n)
    print_table(rows)
    ours = f"spikejax ({args.implementation})"
    worst = {f"{part} {kind}": max(r[kind] for r in rows if r["part"] == part and r["version"] == ours)
             for part in ("layer", "neuron") for kind in ("ratio_to_reference", "paired_ratio_to_reference")}
    print(f"{ours} / plain scan, worst ratios: " + ", ".join(f"{k} {v:.3f}" for k, v in worst.items())
          + (" (goal on CPU: <= 1.0)" if not on_gpu else ""))
    result = {
        "benchmark": "neuron_kernels",
        "suite": "gpu (a)-(c)" if on_gpu else "cpu (d)",
        "model": "LIF, Norse defaults, SuperSpike alpha=100, float32; Linear n->n without bias",
        "steps": args.steps, "batch": args.batch, "sizes": args.sizes, "repeats": args.repeats,
        "implementation": args.implementation,
        "selected": select_implementation(LIF_MODEL, jnp.zeros((1, 1), jnp.float32), args.implementation),
        "block": args.block, "checkpoint_every": args.checkpoint_every,
        "rows": rows, "worst_ratio_to_reference": worst,
        "notes": (
            "ratio: of the medians; paired: median over rounds of the per-round ratio. On CPU "
            "'auto' takes spikejax's scan, which compiles to the same XLA program as the "
            "reference up to a few scalar ops (same loops and residuals): ratios away from 1 "
            "are the shared machine's noise (see load_average)." if not on_gpu else
            "spikejax (auto) is the fused Pallas kernel; (scan) is spikejax.functional.run."),
        "environment": environment(args),
        "matmul_precision": str(jax.config.jax_default_matmul_precision),
        "command": command_line("benchmarks.neuron_kernels", argv),
    }
    if not args.no_write:
        write_json(result, args.output or f"benchmarks/results/neuron_kernels_{jax.default_backend()}.json")
    return result


if __name__ == "__main__":
    main()
