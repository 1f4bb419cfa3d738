"""The common SNN benchmark: one Linear layer + LIF neurons, spikejax against a plain ``lax.scan``.

Norse's LIF (SuperSpike, alpha=100), float32, ``n`` inputs to ``n`` neurons, batch B, T steps,
binary input spikes at a rate of 0.2, in one process and at one matmul precision:

(a) The layer, forward and forward+backward (gradients for the weights and the inputs), in
    three versions: a hand-written ``lax.scan``; ``spikejax.nn`` (``SequentialState(Lift(Linear),
    LIF())``, what a user writes); ``spikejax.kernels.lif_sequence`` (``implementation="auto"``:
    the fused kernel on a GPU, the scan elsewhere) behind the same matmul. The Linear layer
    alone (its forward and both backward matmuls) gives the neurons' overhead.
(b) The neurons alone (currents in): the bytes a fused kernel must move divided by its time,
    as a fraction of the copy bandwidth measured here (a jitted ``x + 1`` and ``jnp.copy`` of
    ``--copy-mb``).
(c) Memory: XLA's ``memory_analysis`` (temp + output bytes) of every compiled function, and the
    measured peak, one fresh process per configuration (GPU: the device's peak bytes in use;
    CPU: the growth of the process's peak resident set during the call, Linux only). And a
    T=2000 training step (one SGD step), ``run(..., remat=k)`` against the plain scan, in three layouts: the Linear
    inside the time loop with a per-step readout (the mean spike rate), the same returning every
    step's spikes, and the Linear hoisted out of the loop (``LIF(remat=k)``).

    python -m benchmarks.common                 # GPU: n 1024 4096 16384, T 500; CPU: 256 1024, T 100
    python -m benchmarks.common --sizes 64 --steps 20 --remat-steps 40 --no-memory-probes --no-write

Times are medians over ``--repeats`` rounds that run every version once, in a fresh (seeded)
random order each round, so that drift in a shared machine's speed hits all versions alike
("paired": the median of the per-round ratios; "of min": the ratio of the fastest rounds).
Compile time (lower + compile) is reported separately. Each row also lists the compiled
program's while loops and how many of its instructions (names and source locations aside) differ
from the reference's ("Δinstr"): on CPU spikejax takes a scan that compiles to the program of the
hand-written one (``i - 0.2 i`` written as ``i + (-0.2) i`` aside), so there its ratios away from 1
are the machine's noise, which the plain scan compiled twice (an A/A control) shows.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from benchmarks._results import command_line, write_json
from benchmarks.neuron_kernels import (
    P, compile_timed, kernel_bytes, make_inputs, neuron_functions, reference_lif,
    spikejax_lif, static_memory, summarize,
)
from benchmarks.peers._protocol import timed_rounds
import spikejax
from spikejax import train
from spikejax.train import _cpu_model as cpu_model  # the CPU's model name, or None
from spikejax.functional import LIF_MODEL, lif_feed_forward_state, run
from spikejax.kernels import select_implementation
from spikejax.nn import LIF, LIFCell, Lift, SequentialState

REFERENCE = "plain lax.scan"
AGAIN = "plain lax.scan, compiled again"  # an A/A control: its ratios show the noise
NN = "spikejax.nn"
# The same module with its parameters passed as an ``nnx.State`` rather than a plain dict: the
# same compiled program, but each call flattens the State (Flax's cost, ~15 us a call here).
NN_STATE = "spikejax.nn, nnx.State arguments"
KERNELS = "spikejax.kernels (auto)"
LINEAR = "Linear only"


# ---- (a) the layer ---------------------------------------------------------------------------


def nn_layer(w, *, remat=False, unroll=1):
    """``SequentialState(Lift(Linear), LIF())`` with the kernel ``w`` ``(n_in, n_out)``."""
    linear = nnx.Linear(*w.shape, use_bias=False, rngs=nnx.Rngs(0))
    linear.kernel[...] = w
    return SequentialState(Lift(linear), LIF(P, remat=remat, unroll=unroll))


def layer_versions(w):
    """``name -> (forward(params, x) -> (spikes, v_final), params)``; all compute ``x @ w``.

    ``spikejax.nn`` takes its parameters as a plain dict (``nnx.to_pure_dict``, NNX's "tree
    mode"), as the plain scan takes ``w``, so that both pay the same to call; ``NN_STATE`` passes
    the ``nnx.State`` itself and shows what that adds.
    """
    graphdef, params = nnx.split(nn_layer(w))

    def nn_forward(params, x):
        spikes, state = nnx.merge(graphdef, params)(x)
        return spikes, state[-1].v

    def scan_forward(lif):
        def forward(w, x):
            zeros = jnp.zeros(x.shape[1:2] + w.shape[1:], x.dtype)
            return lif(x @ w, zeros, zeros)
        return forward

    return {REFERENCE: (scan_forward(reference_lif), w), AGAIN: (scan_forward(reference_lif), w),
            NN: (nn_forward, nnx.to_pure_dict(params)), NN_STATE: (nn_forward, params),
            KERNELS: (scan_forward(spikejax_lif("auto")), w)}


def layer_calls(w, x):
    """``(name, mode) -> (function, operands)`` for every version, and the Linear layer alone."""
    calls = {}
    for name, (forward, params) in layer_versions(w).items():
        def loss(params, x, forward=forward):
            spikes, v = forward(params, x)
            return jnp.sum(spikes) + jnp.sum(v)
        calls[name, "forward"] = (forward, (params, x))
        calls[name, "forward+backward"] = (jax.grad(loss, argnums=(0, 1)), (params, x))
    cotangent = jnp.asarray(np.random.default_rng(1).normal(size=x.shape[:2] + w.shape[1:]), x.dtype)

    def linear_backward(w, x, cotangent):
        return jax.vjp(lambda w, x: x @ w, w, x)[1](cotangent)

    calls[LINEAR, "forward"] = (lambda w, x: x @ w, (w, x))
    calls[LINEAR, "forward+backward"] = (linear_backward, (w, x, cotangent))
    return calls


def layer_inputs(n, steps, batch):
    w, x, _, _ = make_inputs(n, steps, batch)
    return w.T, x  # (n_in, n_out), as nnx.Linear stores it


def xla_loops(compiled) -> dict:
    """The compiled program's while loops (their carried types), instruction count, and its
    instructions without names or source locations (``"program"``, dropped from the results):
    two versions with the same loops and instructions run the same work."""
    try:
        text = compiled.as_text()
    except Exception:  # noqa: BLE001 - not every backend gives its program as text
        return {}
    carried = [re.sub(r"\{[0-9,]*\}", "", line.split(" while(")[0].split("= ", 1)[1])
               for line in text.splitlines() if " while(" in line]
    program = sorted(re.sub(r"%[\w.\-]+", "%", re.sub(r",? metadata=\{[^}]*\}", "", line)).strip()
                     for line in text.splitlines() if re.match(r"\s*(ROOT )?%\S+ = ", line))
    return {"while_loops": carried, "instructions": len(program), "program": program}


def program_difference(a: list, b: list) -> int:
    """How many instructions of one canonical program have no equal in the other (the larger
    count of the two sides)."""
    from collections import Counter

    ca, cb = Counter(a), Counter(b)
    return max(sum((ca - cb).values()), sum((cb - ca).values()))


def measure(calls: dict, repeats: int, reference: str, part: str, n: int) -> list[dict]:
    """Compile, then time in rounds; one row per call, with compile time, static memory and
    the compiled loops."""
    compiled, compile_s, memory = {}, {}, {}
    for name, (fn, operands) in calls.items():
        compiled[name], compile_s[name] = compile_timed(fn, *operands)
        memory[name] = static_memory(compiled[name])
    timed = {name: (lambda c=compiled[name], o=calls[name][1]: jax.block_until_ready(c(*o)))
             for name in calls}
    seconds = timed_rounds(timed, repeats)
    wall = {name: np.asarray(t["wall"]) for name, t in seconds.items()}
    cpu = {name: np.asarray(t["cpu"]) for name, t in seconds.items()}
    timing, cpu_timing = summarize(wall, reference), summarize(cpu, reference)
    rows = []
    for name in calls:
        static = memory[name] or {}
        peak = static.get("temp_size_in_bytes", 0) + static.get("output_size_in_bytes", 0)
        rows.append({"part": part, "n": n, "version": name, **timing[name], "compile_s": compile_s[name],
                     "static_memory": memory[name], "temp_plus_output_mb": peak / 2**20 if memory[name] else None,
                     "xla": xla_loops(compiled[name]),
                     "cpu_median_ms": cpu_timing[name]["median_ms"],
                     "cpu_paired_ratio_to_reference": cpu_timing[name]["paired_ratio_to_reference"]})
    base = rows[[r["version"] for r in rows].index(reference)]
    for row in rows:
        row["same_loops_as_reference"] = row["xla"].get("while_loops") == base["xla"].get("while_loops")
        if "program" in base["xla"] and "program" in row["xla"]:
            row["instructions_differing_from_reference"] = program_difference(
                row["xla"]["program"], base["xla"]["program"])
        # The fastest round is the one least disturbed by other jobs on a shared machine.
        row["min_ratio_to_reference"] = row["min_ms"] / base["min_ms"]
    for row in rows:
        row["xla"].pop("program", None)
    return rows


def part_layer(args, n):
    w, x = layer_inputs(n, args.steps, args.batch)
    calls = layer_calls(w, x)
    rows = []
    for mode in ("forward", "forward+backward"):
        mode_calls = {name: call for (name, m), call in calls.items() if m == mode}
        for row in measure(mode_calls, args.repeats, REFERENCE, "layer", n):
            rows.append(dict(row, mode=mode))
    reference = np.asarray(jax.jit(calls[REFERENCE, "forward"][0])(*calls[REFERENCE, "forward"][1])[0])
    for name in (NN, NN_STATE, KERNELS):
        spikes = np.asarray(jax.jit(calls[name, "forward"][0])(*calls[name, "forward"][1])[0])
        for row in rows:
            if row["version"] == name:
                row["spike_agreement_with_reference"] = float(np.mean(spikes == reference))
    for row in rows:
        row["spike_rate"] = float(reference.mean())
    return rows


def neuron_overhead(rows):
    """Per size and version: forward+backward time of the layer over that of the Linear alone,
    by wall time and by CPU time."""
    out = {}
    for n in sorted({r["n"] for r in rows if r["part"] == "layer"}):
        layer = {r["version"]: r for r in rows
                 if r["part"] == "layer" and r["n"] == n and r["mode"] == "forward+backward"}
        out[str(n)] = {
            name: {f"{kind}_{what}": value
                   for kind, key in (("wall", "median_ms"), ("cpu", "cpu_median_ms"))
                   for what, value in (("layer_over_linear", r[key] / layer[LINEAR][key]),
                                       ("neuron_share_of_layer", 1 - layer[LINEAR][key] / r[key]))}
            for name, r in layer.items() if name not in (LINEAR, AGAIN)}
    return out


# ---- (b) the neurons alone against the copy bandwidth ----------------------------------------


def copy_bandwidth(megabytes: int, repeats: int) -> dict:
    """Bytes read + written per second by a jitted ``x + 1`` and a ``jnp.copy`` of ``megabytes``."""
    a = jnp.ones((megabytes * 2**20 // 4,), jnp.float32)
    calls = {"x + 1": (lambda a: a + 1, (a,)), "jnp.copy": (jnp.copy, (a,))}
    compiled = {k: compile_timed(fn, *ops)[0] for k, (fn, ops) in calls.items()}
    seconds = timed_rounds({k: (lambda c=c: jax.block_until_ready(c(a))) for k, c in compiled.items()},
                           repeats)
    gbps = {k: 2 * a.nbytes / float(np.median(s["wall"])) / 1e9 for k, s in seconds.items()}
    return {"megabytes": megabytes, "gbytes_per_s": gbps, "best_gbytes_per_s": max(gbps.values())}


def part_neuron(args, n, bandwidth):
    _, x, v, i = make_inputs(n, args.steps, args.batch)
    currents = x * 0.6
    versions = {REFERENCE: reference_lif, AGAIN: reference_lif, KERNELS: spikejax_lif("auto")}
    if args.gpu:
        versions["spikejax.kernels (scan)"] = spikejax_lif("scan")
    rows = []
    for mode in ("forward", "forward+backward"):
        operands = (currents, v, i) + ((jnp.ones_like(currents),) if mode != "forward" else ())
        calls = {name: (neuron_functions(lif)[mode], operands) for name, lif in versions.items()}
        nbytes = kernel_bytes(args.steps, args.batch * n, mode)
        for row in measure(calls, args.repeats, REFERENCE, "neuron", n):
            achieved = nbytes / (row["median_ms"] / 1e3)
            rows.append(dict(row, mode=mode, minimum_bytes=nbytes, gbytes_per_s=achieved / 1e9,
                             fraction_of_copy=achieved / 1e9 / bandwidth["best_gbytes_per_s"]))
    return rows


def dispatch_cost(repeats: int, calls_per_round: int = 200) -> dict:
    """Microseconds to call a compiled function that does nothing (returns one element of its
    input), with an array, a plain dict, and an ``nnx.State`` as its parameters: what calling
    costs apart from the work, per call."""
    w, x = layer_inputs(16, 4, 2)
    _, state = nnx.split(nn_layer(w))
    arguments = {"array": w, "dict (nnx.to_pure_dict)": nnx.to_pure_dict(state), "nnx.State": state}
    compiled = {k: compile_timed(lambda p, x: x[0, 0, 0], a, x)[0] for k, a in arguments.items()}

    def many(c, a):
        def call():
            for _ in range(calls_per_round):
                out = c(a, x)
            return jax.block_until_ready(out)
        return call

    seconds = timed_rounds({k: many(c, arguments[k]) for k, c in compiled.items()}, repeats)
    return {"us_per_call": {k: round(float(np.median(s["wall"])) / calls_per_round * 1e6, 2)
                            for k, s in seconds.items()}}


# ---- (c) a long training step: rematerialisation ---------------------------------------------


READOUT = "Linear in the loop + rate readout"
SPIKES_OUT = "Linear in the loop + spikes out"
HOISTED = "Linear hoisted"


def remat_models(args, w, remat):
    """The three layouts of the layer, each ``(model, forward(model, x) -> outputs (T, ...))``.

    With a per-step readout (the mean spike rate over neurons, inside the loop) nothing of size
    ``T * B * n`` is kept but the input, so checkpointing can cut the memory by far more than
    when the layer returns every step's spikes (which a next layer would need) or when the
    Linear's currents for all steps are computed before the loop.
    """
    batch, n = args.batch, w.shape[1]
    rest = [None, lif_feed_forward_state((batch, n), P)]

    def cell():
        linear = nnx.Linear(*w.shape, use_bias=False, rngs=nnx.Rngs(0))
        linear.kernel[...] = w
        return SequentialState(linear, LIFCell(P))

    def readout(model, x):
        def step(x_t, state):
            spikes, state = model(x_t, state)
            return jnp.mean(spikes, axis=-1), state
        return run(step, rest, x, remat=remat)[1]

    return {READOUT: (cell(), readout),
            SPIKES_OUT: (Lift(cell(), remat=remat), lambda model, x: model(x, rest)[0]),
            HOISTED: (nn_layer(w, remat=remat), lambda model, x: model(x)[0])}


def remat_calls(args):
    """``name -> (train_step(params, x), operands)`` at ``--remat-steps``: one SGD step on the
    mean output of every layout, with ``run``'s ``remat`` off and at each ``--remat-every``."""
    w, x = layer_inputs(args.remat_size, args.remat_steps, args.batch)
    calls = {}
    for k in [0] + args.remat_every:
        label = "plain scan" if k == 0 else ("remat=True" if k == 1 else f"remat={k}")
        for layout, (model, forward) in remat_models(args, w, k if k > 1 else bool(k)).items():
            graphdef, params = nnx.split(model)

            def train_step(params, x, graphdef=graphdef, forward=forward):
                loss = lambda params: jnp.mean(forward(nnx.merge(graphdef, params), x))
                value, grads = jax.value_and_grad(loss)(params)
                return jax.tree_util.tree_map(lambda p, g: p - 0.1 * g, params, grads), value

            calls[f"{layout}, {label}"] = (train_step, (params, x))
    return calls


def part_remat(args):
    rows = measure(remat_calls(args), args.remat_repeats, f"{READOUT}, plain scan", "remat",
                   args.remat_size)
    for row in rows:
        row.update(mode="train step", steps=args.remat_steps)
        plain = next(r for r in rows if r["version"] == row["version"].split(",")[0] + ", plain scan")
        if row["temp_plus_output_mb"]:
            row["memory_reduction_vs_plain"] = plain["temp_plus_output_mb"] / row["temp_plus_output_mb"]
    return rows


# ---- measured peaks, one fresh process per configuration ------------------------------------


def _process_memory_mb(field: str):
    """``VmRSS`` or ``VmHWM`` (the peak resident set) of this process, in MB; ``None`` off Linux."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    """Reset this process's ``VmHWM`` to its current RSS (Linux >= 4.0); ``False`` if it cannot."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
        return True
    except OSError:
        return False


def probe(args):
    """Print the memory the call adds at its peak, above what was in use before it (compiled
    first, so that the compiler's own memory is not counted): on a GPU the device's
    ``peak_bytes_in_use``; on a CPU the process's peak resident set (``VmHWM``, reset just
    before the call), which also counts the runtime's own allocations (a few MB)."""
    name, mode = args.probe
    if mode == "train step":
        fn, operands = remat_calls(args)[name]
    else:
        fn, operands = layer_calls(*layer_inputs(args.sizes[0], args.steps, args.batch))[name, mode]
    compiled = jax.jit(fn).lower(*operands).compile()
    jax.block_until_ready(operands)
    device = jax.devices()[0]
    stats = device.memory_stats()
    if stats is not None:
        before = stats.get("bytes_in_use")
        jax.block_until_ready(compiled(*operands))
        peak = (device.memory_stats() or {}).get("peak_bytes_in_use")
        print(json.dumps({"peak_above_inputs_mb": None if peak is None or before is None else (peak - before) / 2**20,
                          "peak_measured_by": "device memory_stats: peak_bytes_in_use - bytes_in_use before"}))
        return
    before = _process_memory_mb("VmRSS")
    if before is None or not _reset_peak_rss():
        print(json.dumps({"peak_above_inputs_mb": None, "peak_measured_by": "nothing (no memory_stats, no /proc)"}))
        return
    jax.block_until_ready(compiled(*operands))
    print(json.dumps({"peak_above_inputs_mb": _process_memory_mb("VmHWM") - before,
                      "peak_measured_by": "process VmHWM (reset before the call) - VmRSS before"}))


def measured_peak(args, row):
    n = row["n"]
    command = [sys.executable, "-m", "benchmarks.common", "--probe", row["version"], row["mode"],
               "--sizes", str(n), "--steps", str(args.steps), "--batch", str(args.batch),
               *(["--precision", args.precision] if args.precision else []),
               "--remat-steps", str(args.remat_steps),
               "--remat-size", str(args.remat_size),
               "--remat-every", *map(str, args.remat_every)]
    env = dict(os.environ, XLA_PYTHON_CLIENT_PREALLOCATE="false")
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600,
                          cwd=pathlib.Path(__file__).resolve().parent.parent)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        return {"probe_error": done.stderr[-1000:]}
    return json.loads(lines[-1])


# ---- report ----------------------------------------------------------------------------------


def matmul_precision() -> str:
    """``jax_default_matmul_precision`` as set, or what the default means."""
    value = jax.config.jax_default_matmul_precision
    if value is not None:
        return str(value)
    return ("default (jax_default_matmul_precision unset: float32 matmuls in float32 on CPU, "
            "TF32 where a GPU allows it)")


def environment():
    import jaxlib

    return {**train.environment(), "jaxlib": jaxlib.__version__, "spikejax": spikejax.__version__,
            "cpu_model": cpu_model(),
            "load_average_1_5_15_min": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}


def print_table(rows):
    print(f"{'part':6s} {'n':>6s} {'mode':16s} {'version':46s} {'median ms':>10s} {'min ms':>9s} "
          f"{'paired':>6s} {'of min':>6s} {'cpu ms':>9s} {'paired':>6s} {'compile s':>9s} "
          f"{'tmp+out MB':>10s} {'peak MB':>8s} {'Δinstr':>6s}")
    for r in rows:
        memory = r["temp_plus_output_mb"]
        peak = r.get("peak_above_inputs_mb")
        extra = f"  {r['fraction_of_copy']:.2f} of copy" if "fraction_of_copy" in r else ""
        extra += f"  {r['memory_reduction_vs_plain']:.1f}x less memory" if "memory_reduction_vs_plain" in r else ""
        extra += (f" ({r['measured_peak_reduction_vs_plain']:.1f}x measured)"
                  if "measured_peak_reduction_vs_plain" in r else "")
        print(f"{r['part']:6s} {r['n']:6d} {r['mode']:16s} {r['version']:46s} {r['median_ms']:10.3f} "
              f"{r['min_ms']:9.3f} {r['paired_ratio_to_reference']:6.3f} {r['min_ratio_to_reference']:6.3f} "
              f"{r['cpu_median_ms']:9.3f} {r['cpu_paired_ratio_to_reference']:6.3f} "
              f"{r['compile_s']:9.2f} {'-' if memory is None else f'{memory:.1f}':>10s} "
              f"{'-' if peak is None else f'{peak:.1f}':>8s} "
              f"{r.get('instructions_differing_from_reference', '-'):>6}{extra}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--sizes", type=int, nargs="+", default=None, help="n (default: 1024 4096 16384 GPU, 256 1024 CPU)")
    add("--steps", type=int, default=None, help="T (default: 500 GPU, 100 CPU)")
    add("--batch", type=int, default=16, help="B")
    add("--repeats", type=int, default=None, help="rounds (default: 20 GPU, 10 CPU)")
    add("--precision", default=None, help="jax_default_matmul_precision (default: jax's)")
    add("--copy-mb", type=int, default=None, help="array size for the copy bandwidth (default 1024 GPU, 64 CPU)")
    add("--remat-steps", type=int, default=2000, help="T of the rematerialisation training step")
    add("--remat-size", type=int, default=None, help="n of that step (default 4096 GPU, 256 CPU)")
    add("--remat-every", type=int, nargs="+", default=[1, 50], help="run's remat=k (1: remat=True)")
    add("--remat-repeats", type=int, default=3, help="rounds for the training step")
    add("--no-memory-probes", action="store_true", help="skip the measured peaks (a fresh process each)")
    add("--no-write", action="store_true", help="print only")
    add("--output", default=None, help="default benchmarks/results/common_<platform>.json")
    add("--probe", nargs=2, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # before the backend starts
    if args.precision:
        jax.config.update("jax_default_matmul_precision", args.precision)
    args.gpu = jax.default_backend() == "gpu"
    args.sizes = args.sizes or ([1024, 4096, 16384] if args.gpu else [256, 1024])
    args.steps = args.steps or (500 if args.gpu else 100)
    args.repeats = args.repeats or (20 if args.gpu else 10)
    args.copy_mb = args.copy_mb or (1024 if args.gpu else 64)
    args.remat_size = args.remat_size or (4096 if args.gpu else 256)
    if args.probe:
        return probe(args)

    bandwidth = copy_bandwidth(args.copy_mb, args.repeats)
    dispatch = dispatch_cost(args.repeats)
    rows = []
    for n in args.sizes:
        rows += part_layer(args, n) + part_neuron(args, n, bandwidth)
    rows += part_remat(args)
    if not args.no_memory_probes:
        for row in rows:
            if row["part"] in ("layer", "remat"):
                row.update(measured_peak(args, row))
        for row in rows:
            if row["part"] == "remat" and row.get("peak_above_inputs_mb"):
                plain = next(r for r in rows if r["version"] == row["version"].split(",")[0] + ", plain scan")
                if plain.get("peak_above_inputs_mb"):
                    row["measured_peak_reduction_vs_plain"] = plain["peak_above_inputs_mb"] / row["peak_above_inputs_mb"]
    print_table(rows)
    print(f"copy bandwidth: {bandwidth['gbytes_per_s']} GB/s")
    ratios = {}
    groups = (("spikejax", (NN, KERNELS)), ("spikejax.nn, nnx.State arguments", (NN_STATE,)),
              ("control", (AGAIN,)))
    for kind, key in (("wall", "paired_ratio_to_reference"), ("cpu", "cpu_paired_ratio_to_reference")):
        for part in ("layer", "neuron"):
            for who, versions in groups:
                found = {f"n={r['n']} {r['mode']} {r['version']}": r[key] for r in rows
                         if r["part"] == part and r["version"] in versions}
                if found:
                    ratios[part, kind, who] = found
    worst = {f"{part}: {who} / plain scan, {kind} time": max(v.values()) for (part, kind, who), v in ratios.items()
             if who != "control"}
    control = {f"{part}: {kind} time": [min(v.values()), max(v.values())]
               for (part, kind, who), v in ratios.items() if who == "control"}
    judged = "wall" if args.gpu else "cpu"
    for part in ("layer", "neuron"):
        print(f"{part}: spikejax / plain scan (paired), worst: "
              f"{worst[f'{part}: spikejax / plain scan, wall time']:.3f} wall, "
              f"{worst[f'{part}: spikejax / plain scan, cpu time']:.3f} CPU time; the plain scan against "
              f"itself (A/A control): {control[f'{part}: wall time'][0]:.3f}-{control[f'{part}: wall time'][1]:.3f} "
              f"wall, {control[f'{part}: cpu time'][0]:.3f}-{control[f'{part}: cpu time'][1]:.3f} CPU time"
              + (f"; spikejax.nn with nnx.State arguments: {worst[f'{part}: spikejax.nn, nnx.State arguments / plain scan, wall time']:.3f} wall"
                 if part == "layer" else ""))
    print(f"goal: <= 1.0 (judged by {judged} time" + ("" if args.gpu else ", which a shared machine's load changes least") + ")")
    print(f"calling a compiled function (no work): {dispatch['us_per_call']} us")
    remat = {r["version"]: r.get("memory_reduction_vs_plain") for r in rows if r["part"] == "remat"}
    measured = {r["version"]: r.get("measured_peak_reduction_vs_plain") for r in rows if r["part"] == "remat"}
    print("memory, plain scan over remat (goal >= 4), XLA's temp + output: "
          + ", ".join(f"{k}: {v:.2f}" for k, v in remat.items() if v and "plain" not in k))
    if any(measured.values()):
        print("  the same, measured peaks: "
              + ", ".join(f"{k}: {v:.2f}" for k, v in measured.items() if v and "plain" not in k))
    result = {
        "benchmark": "common",
        "model": "Linear n->n (no bias) + LIF, Norse defaults, SuperSpike alpha=100, float32",
        "steps": args.steps, "batch": args.batch, "sizes": args.sizes, "repeats": args.repeats,
        "kernels_auto_selects": select_implementation(LIF_MODEL, jnp.zeros((1, 1), jnp.float32)),
        "nn_lif_implementation": getattr(LIF(), "implementation", "scan (no implementation option)"),
        "remat": {"steps": args.remat_steps, "n": args.remat_size, "every": args.remat_every},
        "copy_bandwidth": bandwidth, "rows": rows, "neuron_overhead": neuron_overhead(rows),
        "paired_ratios_to_plain_scan": {f"{part}: {who}, {kind} time": v for (part, kind, who), v in ratios.items()},
        "worst_paired_ratios": worst, "control_paired_ratio_range": control,
        "worst_paired_ratio": worst[f"layer: spikejax / plain scan, {judged} time"], "judged_by": f"{judged} time",
        "dispatch": dispatch,
        "memory_reduction_vs_plain": remat,
        "measured_peak_reduction_vs_plain": measured,
        "memory_measured_by": {
            "memory_reduction_vs_plain": "XLA memory_analysis of the compiled step: temp + output bytes",
            "measured_peak_reduction_vs_plain": next(
                (r["peak_measured_by"] for r in rows if r.get("peak_measured_by")), "not measured")},
        "matmul_precision": matmul_precision(),
        "environment": environment(),
        "command": command_line("benchmarks.common", argv),
    }
    if not args.no_write:
        write_json(result, args.output or f"benchmarks/results/common_{jax.default_backend()}.json")
    return result


if __name__ == "__main__":
    main()
