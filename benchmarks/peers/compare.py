"""spikejax against Norse, snnTorch, SpikingJelly and Spyx on one Linear + spiking layer.

The same weights and input spikes (written to an ``.npz``) go to every library; each peer runs
in its own process under its own interpreter (a worker, see :mod:`benchmarks.peers._protocol`),
spikejax in this one. Every library must produce spikejax's spikes, step for step: the table
shows the fraction of equal spikes and the spike counts. Two neuron semantics, each library
taking those it can express (the mapping is in the workers' docstrings):

* ``lif``: Norse's LIF (tau_syn_inv 200, tau_mem_inv 100, v_th 1, reset to 0, dt 1 ms):
  spikejax ``LIF``, Norse ``LIF``, snnTorch ``Synaptic`` (zero reset, no reset delay, input
  scaled by dt tau_mem_inv), SpikingJelly ``CUBALIFNode`` (likewise).
* ``leaky``: snnTorch's ``Leaky`` (beta 0.9, threshold 1, subtract reset one step later):
  spikejax ``Leaky``, snnTorch ``Leaky``, Spyx ``LIF`` (spikes realigned by one step).

Times: forward (no gradient) and forward+backward (gradients for the weights and the input
spikes of the summed spikes), medians over ``--repeats`` rounds that run every library once in
turn, and ``lax.scan (plain)``: the same layer hand-written as one ``lax.scan`` in this
process (``--no-reference`` leaves it out), which tells the cost of spikejax's module path from
that of the computation; ``/spikejax`` is the median of the per-round ratios peer / spikejax, of wall time and of
the process's CPU time (which on a shared machine counts the work rather than the waiting; it
includes the spinning of idle OpenMP threads, so give PyTorch ``--torch-threads 1`` there). A library that its
interpreter cannot import is skipped, and the reason printed.

    python -m benchmarks.peers.compare --torch-python /tmp/refenv/bin/python \\
        --spyx-python /tmp/spyxenv/bin/python       # CPU: T 100, B 16, n 256 1024
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from benchmarks._results import command_line, write_json
from benchmarks.common import environment, layer_inputs, matmul_precision, nn_layer
from benchmarks.neuron_kernels import P, _spike, reference_lif
from benchmarks.peers._protocol import Worker, timed_rounds
from spikejax.functional import LeakyParameters
from spikejax.nn import Leaky, Lift, SequentialState

HERE = pathlib.Path(__file__).resolve().parent
LIBRARIES = {"norse": "torch", "snntorch": "torch", "spikingjelly": "torch", "spyx": "spyx"}
LEAKY = LeakyParameters(beta=0.9, v_th=1.0, reset_mechanism="subtract", method="super", alpha=100.0)
# In this process, next to spikejax: the same layer hand-written as one lax.scan in plain JAX,
# so that what spikejax's module path costs shows apart from what the computation costs.
REFERENCE = "lax.scan (plain)"


def spikejax_calls(model: str, w, x) -> dict:
    """``mode -> (jitted function, operands)``: spikejax's layer, as a user would write it."""
    if model == "lif":
        module = nn_layer(w)
    else:
        linear = nnx.Linear(*w.shape, use_bias=False, rngs=nnx.Rngs(0))
        linear.kernel[...] = w
        module = SequentialState(Lift(linear), Leaky(LEAKY))
    graphdef, params = nnx.split(module)

    def forward(params, x):
        return nnx.merge(graphdef, params)(x)[0]

    gradient = jax.grad(lambda params, x: jnp.sum(forward(params, x)), argnums=(0, 1))
    return {"forward": (jax.jit(forward), (params, x)),
            "forward+backward": (jax.jit(gradient), (params, x))}


def plain_scan_calls(model: str, w, x) -> dict:
    """``mode -> (jitted function, operands)``: the layer as one hand-written ``lax.scan``.

    ``lif``: :func:`benchmarks.neuron_kernels.reference_lif` (Norse's equations); ``leaky``:
    snnTorch's ``Leaky`` (reset by subtraction of the previous membrane's spike, detached). The
    spike is the same threshold as spikejax's (SuperSpike, alpha 100, a NaN stays NaN).
    """
    assert LEAKY.alpha == P.alpha  # _spike's slope is SuperSpike with P.alpha

    def leaky(currents):
        def step(mem, current):
            reset = jax.lax.stop_gradient(_spike(mem - LEAKY.v_th))
            mem = LEAKY.beta * mem + current - reset * LEAKY.v_th
            return mem, _spike(mem - LEAKY.v_th)

        return jax.lax.scan(step, jnp.zeros_like(currents[0]), currents)[1]

    def forward(w, x):
        currents = x @ w
        if model == "lif":
            zeros = jnp.zeros_like(currents[0])
            return reference_lif(currents, zeros, zeros)[0]
        return leaky(currents)

    gradient = jax.grad(lambda w, x: jnp.sum(forward(w, x)), argnums=(0, 1))
    return {"forward": (jax.jit(forward), (w, x)), "forward+backward": (jax.jit(gradient), (w, x))}


def write_inputs(path, w, x):
    np.savez(path, w=np.asarray(w), x=np.asarray(x), dt=1e-3, tau_syn_inv=P.tau_syn_inv,
             tau_mem_inv=P.tau_mem_inv, v_leak=P.v_leak, v_th=P.v_th, v_reset=P.v_reset,
             alpha=P.alpha, beta=LEAKY.beta)


def start_workers(args) -> tuple[dict, dict]:
    """Started workers by library, and the reasons of those skipped."""
    workers, skipped = {}, {}
    for library in args.libraries:
        python = args.python.get(library) or (args.torch_python if LIBRARIES[library] == "torch"
                                               else args.spyx_python)
        script = HERE / ("torch_worker.py" if LIBRARIES[library] == "torch" else "spyx_worker.py")
        worker = Worker([python, str(script)] + ([library] if LIBRARIES[library] == "torch" else []),
                        cwd=str(HERE))
        if "unavailable" in worker.greeting:
            skipped[library] = f"not importable with {python}: {worker.greeting['unavailable'][-300:]}"
            print(f"skipping {library}: {skipped[library]}")
            worker.close()
        else:
            workers[library] = worker
    return workers, skipped


def compare_size(args, workers, n, folder) -> list[dict]:
    w, x = layer_inputs(n, args.steps, args.batch)
    npz = folder / f"inputs_{n}.npz"
    write_inputs(npz, w, x)
    rows = []
    for model in args.models:
        ours = spikejax_calls(model, w, x)
        reference = np.asarray(ours["forward"][0](*ours["forward"][1]))
        plain = plain_scan_calls(model, w, x)
        plain_spikes = np.asarray(plain["forward"][0](*plain["forward"][1]))
        peers, facts = {}, {REFERENCE: {"equal_spike_fraction": float(np.mean(plain_spikes == reference))}}
        for library, worker in workers.items():
            if model not in worker.greeting["models"]:
                continue
            out = folder / f"spikes_{library}_{model}_{n}.npy"
            try:
                facts[library] = worker.request(cmd="load", npz=str(npz), model=model,
                                                spikes_out=str(out), threads=args.torch_threads)["info"]
            except RuntimeError as error:
                args.errors[f"{library} {model} n={n}"] = str(error)[-2000:]
                print(f"{library} failed on {model}, n={n}: {str(error)[-300:]}")
                continue
            spikes = np.load(out).astype(reference.dtype)
            facts[library].update(
                equal_spike_fraction=float(np.mean(spikes == reference)),
                equal_count_fraction=float(np.mean(spikes.sum(0) == reference.sum(0))),
                max_count_difference=int(np.abs(spikes.sum(0) - reference.sum(0)).max()))
            peers[library] = worker
        for mode in ("forward", "forward+backward"):
            fn, operands = ours[mode]
            calls = {"spikejax": lambda fn=fn, operands=operands: jax.block_until_ready(fn(*operands))}
            if args.reference:
                fn, operands = plain[mode]
                calls[REFERENCE] = lambda fn=fn, operands=operands: jax.block_until_ready(fn(*operands))
            calls.update({library: (worker, mode) for library, worker in peers.items()})
            seconds = {name: {k: np.asarray(v) for k, v in times.items()}
                       for name, times in timed_rounds(calls, args.repeats).items()}
            ours_s = seconds["spikejax"]
            for library, measured in seconds.items():
                row = {"n": n, "model": model, "mode": mode, "library": library,
                       "median_ms": float(np.median(measured["wall"])) * 1e3,
                       "min_ms": float(np.min(measured["wall"])) * 1e3,
                       "paired_ratio_to_spikejax": float(np.median(measured["wall"] / ours_s["wall"])),
                       "cpu_median_ms": float(np.median(measured["cpu"])) * 1e3,
                       "cpu_paired_ratio_to_spikejax": float(np.median(measured["cpu"] / ours_s["cpu"])),
                       "spike_count": int(reference.sum())}
                rows.append({**row, **facts.get(library, {})})
    return rows


def print_table(rows):
    print(f"{'n':>6s} {'model':6s} {'mode':16s} {'library':13s} {'median ms':>10s} {'min ms':>9s} "
          f"{'/spikejax':>9s} {'cpu ms':>9s} {'/spikejax':>9s} {'spikes':>8s} {'equal spikes':>12s}")
    for r in rows:
        equal = r.get("equal_spike_fraction")
        print(f"{r['n']:6d} {r['model']:6s} {r['mode']:16s} {r['library']:13s} {r['median_ms']:10.3f} "
              f"{r['min_ms']:9.3f} {r['paired_ratio_to_spikejax']:9.3f} {r['cpu_median_ms']:9.3f} "
              f"{r['cpu_paired_ratio_to_spikejax']:9.3f} {r['spike_count']:8d} "
              f"{'-' if equal is None else f'{equal:.6f}':>12s}")


def parse_pythons(values):
    out = {}
    for value in values:
        library, sep, path = value.partition("=")
        if not sep or library not in LIBRARIES:
            raise SystemExit(f"--python takes LIBRARY=PATH with LIBRARY one of {sorted(LIBRARIES)}, got {value!r}")
        out[library] = path
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--sizes", type=int, nargs="+", default=None, help="n (default: 256 1024 CPU, 1024 4096 16384 GPU)")
    add("--steps", type=int, default=None, help="T (default: 100 CPU, 500 GPU)")
    add("--batch", type=int, default=16, help="B")
    add("--repeats", type=int, default=10, help="rounds")
    add("--models", nargs="+", default=["lif", "leaky"], choices=["lif", "leaky"])
    add("--libraries", nargs="+", default=list(LIBRARIES), choices=list(LIBRARIES))
    add("--torch-python", default=sys.executable, help="interpreter with torch for Norse, snnTorch, SpikingJelly")
    add("--torch-threads", type=int, default=0, help="torch's intra-op threads (0: its default)")
    add("--spyx-python", default=sys.executable, help="interpreter with Spyx")
    add("--python", action="append", default=[], metavar="LIBRARY=PATH", help="one library's interpreter")
    add("--no-reference", dest="reference", action="store_false",
        help=f"leave out the in-process {REFERENCE!r} row (the same layer as one hand-written scan)")
    add("--no-write", action="store_true", help="print only")
    add("--output", default=None, help="default benchmarks/results/peers_<platform>.json")
    args = parser.parse_args(argv)
    args.python = parse_pythons(args.python)
    gpu = jax.default_backend() == "gpu"
    args.sizes = args.sizes or ([1024, 4096, 16384] if gpu else [256, 1024])
    args.steps = args.steps or (500 if gpu else 100)

    args.errors = {}
    workers, skipped = start_workers(args)
    try:
        with tempfile.TemporaryDirectory() as folder:
            rows = [row for n in args.sizes for row in compare_size(args, workers, n, pathlib.Path(folder))]
    finally:
        for worker in workers.values():
            worker.close()
    print_table(rows)
    for library, reason in skipped.items():
        print(f"skipped {library}: {reason}")
    disagreements = {f"{r['library']} {r['model']} n={r['n']}": r["equal_spike_fraction"] for r in rows
                     if r.get("equal_spike_fraction", 1.0) < 1.0 and r["mode"] == "forward"}
    print("spikes equal to spikejax's everywhere" if not disagreements else f"spikes differ: {disagreements}")
    result = {
        "benchmark": "peers",
        "layer": "Linear n->n without bias (hoisted out of the time loop) + neurons; float32",
        "steps": args.steps, "batch": args.batch, "sizes": args.sizes, "repeats": args.repeats,
        "models": {"lif": "Norse LIF defaults (tau_syn_inv 200, tau_mem_inv 100, v_th 1, v_reset 0, dt 1 ms)",
                   "leaky": "snnTorch Leaky, beta 0.9, threshold 1, subtract reset one step later"},
        "libraries": {name: worker.greeting for name, worker in workers.items()},
        "skipped": skipped, "errors": args.errors, "rows": rows, "spike_disagreements": disagreements,
        "matmul_precision": matmul_precision(),
        "environment": environment(),
        "command": command_line("benchmarks.peers.compare", argv),
    }
    if not args.no_write:
        write_json(result, args.output or f"benchmarks/results/peers_{jax.default_backend()}.json")
    return result


if __name__ == "__main__":
    main()
