"""A first spiking network: Norse's quickstart, in spikejax.

Run with ``python -m tasks.quickstart``. It builds a ``SequentialState`` of a lifted linear layer,
a recurrent LSNN-style LIF layer and a lifted readout, runs 100 time steps on a batch of 8 and
prints the output shape and the spike count of the recurrent layer.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
from flax import nnx

import spikejax
from spikejax.nn import LIFRecurrent, Lift, SequentialState


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100, help="time steps (default 100)")
    parser.add_argument("--batch", type=int, default=8, help="batch size (default 8)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)

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
    main()
