"""A first spiking network: Norse's quickstart, in spikejax.

Run with ``python -m tasks.quickstart`` (``--smoke``: 20 time steps on a batch of 2, as every task
has; ``--help``: the flags). It builds a ``SequentialState`` of a lifted linear layer, a recurrent
LIF layer and a lifted readout, runs 100 time steps on a batch of 8 and prints the output shape
and the spike count of the recurrent layer.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
from flax import nnx

import spikejax
from spikejax.nn import LIFRecurrent, Lift, SequentialState
from tasks._cli import run_main

# (full run, --smoke) defaults of the flags left unset.
DEFAULTS = {"steps": (100, 20), "batch": (8, 2)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tasks.quickstart", description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None, help="time steps (default 100; 20 with --smoke)")
    parser.add_argument("--batch", type=int, default=None, help="batch size (default 8; 2 with --smoke)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--smoke", action="store_true", help="a shorter run (for CI), as every task has")
    return parser


def main(argv=None) -> dict:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name, (full, smoke) in DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, smoke if args.smoke else full)
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be a positive integer, got {getattr(args, name)}")

    rngs = nnx.Rngs(args.seed)
    model = SequentialState(
        Lift(nnx.Linear(10, 5, rngs=rngs)),
        LIFRecurrent(5, 5, rngs=rngs),
        Lift(nnx.Linear(5, 1, rngs=rngs)),
        return_hidden=True,
    )
    data = jax.random.uniform(rngs.data(), (args.steps, args.batch, 10)) * 10
    hidden, state = model(data)
    spikes = hidden[1]
    summary = {"output_shape": tuple(hidden[-1].shape), "spikes": int(jnp.sum(spikes))}
    print(f"spikejax {spikejax.__version__}, jax {jax.__version__} on {jax.devices()[0].platform}")
    print(f"output shape {summary['output_shape']}, {summary['spikes']} spikes in the recurrent layer")
    return summary


if __name__ == "__main__":
    run_main(main)
