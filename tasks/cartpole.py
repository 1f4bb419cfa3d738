"""Balance CartPole-v1 with a spiking policy trained by policy gradients (REINFORCE).

    python -m tasks.cartpole                     # LIF policy, until solved (CPU: minutes)
    python -m tasks.cartpole --policy lsnn       # adaptive-threshold (LSNN) hidden layer
    python -m tasks.cartpole --policy ann        # the non-spiking baseline
    python -m tasks.cartpole --smoke             # a few iterations of a tiny policy (CI)

It needs gymnax, an optional dependency: ``pip install -e ".[tasks]"``. Ctrl-C writes the
summary of the updates done so far (``"interrupted": true``) and exits with code 130.

The environment is gymnax's JAX port of gymnasium's CartPole-v1 (termination at 12 degrees or
2.4 m, truncation after 500 steps, reward 1 per step), so a batch of episodes runs inside
``jit``. The policy is Norse's (``norse.task.cartpole``): the observation, split into positive
and negative parts and scaled, is a constant current into a LIF encoder for ``--steps`` steps;
its spikes drive a recurrent LIF (or LSNN) layer, whose spikes drive a leaky-integrator readout;
the readout's maximum membrane over time gives the logits of a softmax over the two actions.

One jitted call runs ``--batch`` episodes in parallel (``vmap`` over environments inside a
``lax.while_loop`` over time that stops when every episode has ended) and one REINFORCE update:
discounted returns, normalised over the batch, weight the log-probabilities of the actions
taken, recomputed for chunks of steps in parallel (not kept from the rollout, whose steps run
one after the other). Training stops when the mean return of the last 100
training episodes reaches ``--threshold`` (475, gymnasium's ``reward_threshold``) and 100 fresh
episodes of the final policy confirm it. A JSON summary (returns curve, episodes, evaluation,
wall time, device, versions, configuration) goes to ``--output``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import sys
import time
from typing import NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from tqdm.auto import tqdm

import spikejax
from spikejax import train
from spikejax.functional import LIFParameters, run
from spikejax.functional.temporal_encode import lif_current_encoder
from spikejax.nn import MODULES, LILinearCell
from tasks._cli import Interruptible, require, run_main

POLICIES = {"snn": "LIF", "lsnn": "LSNN", "ann": None}
OBSERVATIONS, ACTIONS = 4, 2
SOLVED_WINDOW = 100  # gymnasium: solved when the mean return of 100 consecutive episodes >= 475


def make_env():
    """gymnax's CartPole-v1 and its parameters (imported here: gymnax takes seconds to import).

    Raises:
        ModuleNotFoundError: gymnax is not installed; the message names the extra that installs it.
    """
    gymnax = require("gymnax", purpose="tasks.cartpole (the CartPole-v1 environment)", extra="tasks")
    return gymnax.make("CartPole-v1")


def signed_current(observation: jax.Array, scale: float) -> jax.Array:
    """Norse's input code: ``relu(scale * x)`` and ``relu(-scale * x)`` side by side, so that
    both signs of each observation drive a non-negative current.

    Example:
        >>> signed_current(jnp.array([[0.1, -0.2]]), 10.0)
        Array([[1., 0., 0., 2.]], dtype=float32)
    """
    return jnp.concatenate([jax.nn.relu(scale * observation), jax.nn.relu(-scale * observation)], -1)


class SpikingPolicy(nnx.Module):
    """Norse's CartPole policy: LIF encoder -> recurrent LIF or LSNN -> LI readout.

    ``policy(observations (B, 4)) -> logits (B, 2)``: the readout's maximum membrane over the
    ``steps`` time steps. Encoder, hidden layer and readout advance together in one scan.

    Example:
        >>> policy = SpikingPolicy(neuron="LIF", hidden=8, steps=4, rngs=nnx.Rngs(0))
        >>> policy(jnp.zeros((3, 4))).shape
        (3, 2)
    """

    def __init__(self, *, neuron: str = "LIF", hidden: int = 128, steps: int = 16,
                 scale: float = 50.0, alpha: float = 1.0, rngs: nnx.Rngs):
        self.steps = steps
        self.scale = scale
        self.encoder_p = nnx.data(LIFParameters())  # Norse's ConstantCurrentLIFEncoder defaults
        cell = MODULES[neuron]["RecurrentCell"]
        p = cell.model.parameters(method="super", alpha=alpha)
        self.hidden = cell(2 * OBSERVATIONS, hidden, p, rngs=rngs)
        self.readout = LILinearCell(hidden, ACTIONS, rngs=rngs)

    def __call__(self, observation: jax.Array) -> jax.Array:
        current = signed_current(observation, self.scale)
        batch, dtype = current.shape[:-1], current.dtype
        hidden, readout = self.hidden, self.readout
        rest = (
            jnp.zeros_like(current),
            hidden.model.recurrent_state(batch + (hidden.hidden_size,), hidden.parameters, dtype),
            readout.model.feed_forward_state(batch + (ACTIONS,), readout.parameters, dtype),
        )

        def step(x, state):
            encoder_v, hidden_state, readout_state = state
            spikes, encoder_v = lif_current_encoder(x, encoder_v, self.encoder_p)
            spikes, hidden_state = hidden(spikes, hidden_state)
            voltage, readout_state = readout(spikes, readout_state)
            return voltage, (encoder_v, hidden_state, readout_state)

        _, voltages = run(step, rest, current, length=self.steps)
        return jnp.max(voltages, axis=0)


class ANNPolicy(nnx.Module):
    """Norse's non-spiking baseline: linear -> relu -> linear, no biases (without its dropout,
    so that the rollout and the update see the same policy).

    Example:
        >>> ANNPolicy(hidden=8, rngs=nnx.Rngs(0))(jnp.zeros((3, 4))).shape
        (3, 2)
    """

    def __init__(self, *, hidden: int = 128, rngs: nnx.Rngs):
        self.l1 = nnx.Linear(OBSERVATIONS, hidden, use_bias=False, rngs=rngs)
        self.l2 = nnx.Linear(hidden, ACTIONS, use_bias=False, rngs=rngs)

    def __call__(self, observation: jax.Array) -> jax.Array:
        return self.l2(jax.nn.relu(self.l1(observation)))


def make_policy(name: str, *, hidden: int, steps: int, scale: float, alpha: float = 1.0,
                rngs: nnx.Rngs) -> nnx.Module:
    """The policy called ``name`` (``"snn"``, ``"lsnn"`` or ``"ann"``).

    Example:
        >>> type(make_policy("lsnn", hidden=8, steps=4, scale=50.0, rngs=nnx.Rngs(0))).__name__
        'SpikingPolicy'
    """
    if name not in POLICIES:
        raise ValueError(f"policy must be one of {sorted(POLICIES)}, got {name!r}")
    if name == "ann":
        return ANNPolicy(hidden=hidden, rngs=rngs)
    return SpikingPolicy(neuron=POLICIES[name], hidden=hidden, steps=steps, scale=scale,
                         alpha=alpha, rngs=rngs)


class Episodes(NamedTuple):
    """A batch of episodes, time-major: ``observations (T, B, 4)``, ``actions (T, B)``, and
    ``alive (T, B)``, 1.0 where the step belongs to the episode (each such step earns reward 1)."""

    observations: jax.Array
    actions: jax.Array
    alive: jax.Array


def rollout(policy: nnx.Module, env, env_params, key: jax.Array, batch: int, *, greedy=False) -> Episodes:
    """Play ``batch`` episodes in parallel until all have ended (at most
    ``env_params.max_steps_in_episode`` steps). Actions are sampled from the softmax policy,
    or its argmax with ``greedy`` (a bool, traced or not). The buffers keep the full length;
    steps after an episode's end are marked dead in ``alive``."""
    horizon = int(env_params.max_steps_in_episode)
    reset_key, key = jax.random.split(key)
    reset = jax.vmap(env.reset, in_axes=(0, None))
    observation, env_state = reset(jax.random.split(reset_key, batch), env_params)
    step_env = jax.vmap(env.step, in_axes=(0, 0, 0, None))
    buffers = Episodes(
        jnp.zeros((horizon, batch, OBSERVATIONS), observation.dtype),
        jnp.zeros((horizon, batch), jnp.int32),
        jnp.zeros((horizon, batch), jnp.float32),
    )

    def unfinished(carry):
        t, _, _, alive, _, _ = carry
        return (t < horizon) & jnp.any(alive)

    def body(carry):
        t, env_state, observation, alive, key, buffers = carry
        key, action_key, step_key = jax.random.split(key, 3)
        logits = jax.lax.stop_gradient(policy(observation))
        action = jnp.where(greedy, jnp.argmax(logits, -1),
                           jax.random.categorical(action_key, logits)).astype(jnp.int32)
        buffers = Episodes(
            buffers.observations.at[t].set(observation),
            buffers.actions.at[t].set(action),
            buffers.alive.at[t].set(alive.astype(jnp.float32)),
        )
        # gymnax resets an ended episode by itself; ``alive`` masks what follows.
        observation, env_state, _, terminated, truncated, _ = step_env(
            jax.random.split(step_key, batch), env_state, action, env_params)
        alive = alive & ~(terminated | truncated)
        return t + 1, env_state, observation, alive, key, buffers

    carry = (0, env_state, observation, jnp.ones(batch, bool), key, buffers)
    return jax.lax.while_loop(unfinished, body, carry)[-1]


def discounted_returns(rewards: jax.Array, gamma: float) -> jax.Array:
    """Returns-to-go ``G_t = r_t + gamma * G_{t+1}`` along axis 0 (time).

    Example:
        >>> discounted_returns(jnp.array([1.0, 1.0, 1.0, 0.0]), 0.5)
        Array([1.75, 1.5 , 1.  , 0.  ], dtype=float32)
    """
    def step(future, reward):
        value = reward + gamma * future
        return value, value

    return jax.lax.scan(step, jnp.zeros_like(rewards[0]), rewards, reverse=True)[1]


def normalise(values: jax.Array, mask: jax.Array, eps: float = 1e-8) -> jax.Array:
    """``values`` minus their mean over the entries where ``mask`` is 1, divided by their
    standard deviation there (Norse normalises each episode's returns; here the batch's).

    Example:
        >>> normalise(jnp.array([1.0, 3.0, 100.0]), jnp.array([1.0, 1.0, 0.0]))
        Array([-1.,  1., 98.], dtype=float32)
    """
    count = jnp.maximum(jnp.sum(mask), 1.0)
    mean = jnp.sum(values * mask) / count
    std = jnp.sqrt(jnp.sum(jnp.square(values - mean) * mask) / count)
    return (values - mean) / (std + eps)


def reinforce_loss(policy: nnx.Module, episodes: Episodes, advantages: jax.Array) -> jax.Array:
    """``-sum(advantage * log pi(action | observation))`` over the live steps; the policy runs on
    every step of every episode in one batch."""
    horizon, batch = episodes.actions.shape
    logits = policy(episodes.observations.reshape(horizon * batch, OBSERVATIONS))
    log_probs = jax.nn.log_softmax(logits).reshape(horizon, batch, ACTIONS)
    taken = jnp.take_along_axis(log_probs, episodes.actions[..., None], -1)[..., 0]
    return -jnp.sum(taken * advantages * episodes.alive)


def reinforce_gradient(graphdef, params, episodes: Episodes, advantages: jax.Array, *, chunk: int):
    """The mean REINFORCE loss over the live steps and its gradient, summed over chunks of
    ``chunk`` time steps that hold a live step: the chunks after every episode has ended are
    skipped, which saves most of the work while episodes are short."""
    horizon = episodes.actions.shape[0]
    pad = -horizon % chunk
    if pad:
        padding = lambda a: jnp.pad(a, [(0, pad)] + [(0, 0)] * (a.ndim - 1))
        episodes, advantages = jax.tree_util.tree_map(padding, episodes), padding(advantages)
    length = jnp.sum(jnp.any(episodes.alive > 0, axis=1))
    chunks = (length + chunk - 1) // chunk
    count = jnp.maximum(jnp.sum(episodes.alive), 1.0)

    def loss(p, piece, advantage):
        return reinforce_loss(nnx.merge(graphdef, p), piece, advantage) / count

    def body(carry):
        k, total, grads = carry
        part = lambda a: jax.lax.dynamic_slice_in_dim(a, k * chunk, chunk, 0)
        value, grad = jax.value_and_grad(loss)(
            params, jax.tree_util.tree_map(part, episodes), part(advantages))
        return k + 1, total + value, jax.tree_util.tree_map(jnp.add, grads, grad)

    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    _, total, grads = jax.lax.while_loop(lambda c: c[0] < chunks, body, (0, jnp.zeros(()), zeros))
    return total, grads


def make_iteration(graphdef, optimizer: optax.GradientTransformation, env, env_params, *,
                   batch: int, gamma: float, chunk: int = 50):
    """One jitted ``iteration(params, opt_state, key) -> (params, opt_state, returns, loss)``:
    ``batch`` episodes with the current policy, then one REINFORCE update with ``optimizer``;
    ``returns`` (B,) are the episodes' undiscounted returns."""

    @jax.jit
    def iteration(params, opt_state, key):
        episodes = rollout(nnx.merge(graphdef, params), env, env_params, key, batch)
        advantages = normalise(discounted_returns(episodes.alive, gamma), episodes.alive)
        loss, grads = reinforce_gradient(graphdef, params, episodes, advantages, chunk=chunk)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, jnp.sum(episodes.alive, 0), loss

    return iteration


def make_evaluation(graphdef, env, env_params, *, episodes: int):
    """``evaluate(params, key, greedy=False) -> returns (episodes,)`` of fresh episodes, one
    jitted function for sampled and greedy actions."""

    @jax.jit
    def play(params, key, greedy):
        policy = nnx.merge(graphdef, params)
        return jnp.sum(rollout(policy, env, env_params, key, episodes, greedy=greedy).alive, 0)

    def evaluate(params, key, greedy=False):
        return play(params, key, jnp.asarray(greedy))

    return evaluate


# (full run, --smoke) defaults of the flags left unset.
DEFAULTS = {"batch": (16, 4), "hidden": (128, 16), "steps": (16, 4), "eval_episodes": (100, 4),
            "episodes": (4000, 8)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tasks.cartpole",
        description="Train a spiking policy on CartPole-v1 (gymnax) with REINFORCE.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--policy", choices=sorted(POLICIES), default="snn",
        help="snn: recurrent LIF; lsnn: recurrent LSNN; ann: relu network")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--episodes", type=int, default=None, help="most training episodes "
                        f"(default {DEFAULTS['episodes'][0]}; stops once solved)")
    budget.add_argument("--iterations", type=int, default=None, help="most updates, instead of --episodes")
    add("--batch", type=int, default=None,
        help=f"parallel episodes per update (default {DEFAULTS['batch'][0]})")
    add("--lr", type=float, default=1e-2, help="Adam learning rate")
    add("--gamma", type=float, default=0.99, help="discount factor")
    add("--steps", type=int, default=None,
        help=f"SNN time steps per action (default {DEFAULTS['steps'][0]})")
    add("--hidden", type=int, default=None, help=f"hidden neurons (default {DEFAULTS['hidden'][0]})")
    add("--scale", type=float, default=50.0, help="gain from observation to encoder current (Norse: 50)")
    add("--alpha", type=float, default=1.0,
        help="SuperSpike surrogate sharpness (1: what Norse 1.1's task effectively trains with)")
    add("--threshold", type=float, default=475.0, help="solved at this mean return over 100 episodes")
    add("--eval-episodes", type=int, default=None,
        help=f"fresh episodes to evaluate the final policy (default {DEFAULTS['eval_episodes'][0]})")
    add("--seed", type=int, default=0, help="random seed (weights, environments, actions)")
    add("--output", default=None, help="JSON summary path (default runs/cartpole_<policy>[-smoke].json)")
    add("--smoke", action="store_true", help="a tiny policy for a few updates (seconds; for CI)")
    add("--no-progress", action="store_true", help="no progress bar")
    return parser


def _check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    for name in ("episodes", "iterations", "batch", "steps", "hidden", "eval_episodes"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive int, got {value}")
    for name in ("lr", "scale", "alpha"):
        if not getattr(args, name) > 0:
            parser.error(f"--{name} must be positive, got {getattr(args, name)}")
    if not 0 < args.gamma <= 1:
        parser.error(f"--gamma must be in (0, 1], got {args.gamma}")


def main(argv: Optional[Sequence[str]] = None) -> dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    for name, (full, smoke) in DEFAULTS.items():
        if getattr(args, name) is None and not (name == "episodes" and args.iterations is not None):
            setattr(args, name, smoke if args.smoke else full)
    _check_args(parser, args)
    iterations = args.iterations or math.ceil(args.episodes / args.batch)
    output = pathlib.Path(args.output or f"runs/cartpole_{args.policy}{'-smoke' if args.smoke else ''}.json")

    env, env_params = make_env()
    model = make_policy(args.policy, hidden=args.hidden, steps=args.steps, scale=args.scale,
                        alpha=args.alpha, rngs=nnx.Rngs(args.seed))
    graphdef, params = nnx.split(model, nnx.Param)
    optimizer = optax.adam(args.lr)
    opt_state = optimizer.init(params)
    iteration = make_iteration(graphdef, optimizer, env, env_params, batch=args.batch, gamma=args.gamma)
    evaluate = make_evaluation(graphdef, env, env_params, episodes=args.eval_episodes)
    train_key, check_key, final_key = jax.random.split(jax.random.key(args.seed), 3)
    print(f"spikejax {spikejax.__version__} | jax {jax.__version__} on {jax.devices()[0]} | "
          f"CartPole-v1, {args.policy} policy, {args.batch} episodes per update")

    load_at_start = os.getloadavg() if hasattr(os, "getloadavg") else None
    returns, curve, checks, solved_at, first_seconds = [], [], [], None, None
    began = time.perf_counter()
    bar = tqdm(total=iterations, desc="cartpole", dynamic_ncols=True, disable=args.no_progress)

    def partial_summary() -> dict:
        return {"task": "cartpole", "environment_name": "CartPole-v1 (gymnax)", "policy": args.policy,
                "solved": False, "episodes": len(returns), "iterations": len(curve), "threshold": args.threshold,
                "solve_checks": checks, "returns": returns, "curve": curve,
                "train_seconds": time.perf_counter() - began, "environment": train.environment(),
                "spikejax": spikejax.__version__, "config": vars(args),
                "command": "python -m tasks.cartpole " + " ".join(argv)}

    with Interruptible("tasks.cartpole", argv, output, summary=partial_summary, epochs=iterations,
                       unit="update", checkpoints=False) as interrupt:
        for index in range(iterations):
            params, opt_state, batch_returns, loss = iteration(
                params, opt_state, jax.random.fold_in(train_key, index))
            batch_returns = np.asarray(batch_returns).tolist()
            first_seconds = first_seconds or time.perf_counter() - began
            returns.extend(batch_returns)
            window = float(np.mean(returns[-SOLVED_WINDOW:]))
            curve.append({"iteration": index, "episodes": len(returns),
                          "mean_return": float(np.mean(batch_returns)), "mean_return_100": window, "loss": float(loss), "seconds": time.perf_counter() - began})
            bar.update()
            interrupt.completed = index + 1
            bar.set_postfix(ret=f"{np.mean(batch_returns):.1f}", avg100=f"{window:.1f}")
            if len(returns) >= SOLVED_WINDOW and window >= args.threshold:
                # The training window says solved; fresh episodes of the policy as it is now confirm it.
                check = float(jnp.mean(evaluate(params, jax.random.fold_in(check_key, index))))
                checks.append({"iteration": index, "episodes": len(returns), "eval_mean_return": check})
                if check >= args.threshold:
                    solved_at = len(returns)
                    break
    bar.close()
    train_seconds = time.perf_counter() - began
    # The same starting states for the sampled and the greedy evaluation.
    final = np.asarray(evaluate(params, final_key))
    greedy = np.asarray(evaluate(params, final_key, greedy=True))
    summary = {
        "task": "cartpole",
        "environment_name": "CartPole-v1 (gymnax)",
        "policy": args.policy,
        "solved": solved_at is not None,
        "episodes": len(returns),
        "iterations": len(curve),
        "eval_mean_return": float(final.mean()),
        "eval_episodes": len(final),
        "eval_greedy_mean_return": float(greedy.mean()),
        "threshold": args.threshold,
        "solve_checks": checks,
        "returns": returns,
        "curve": curve,
        "first_iteration_seconds": first_seconds,
        "train_seconds": train_seconds,
        "wall_seconds": time.perf_counter() - began,
        "environment": train.environment(),
        # Wall times on a shared machine depend on what else runs: (1, 5, 15)-minute load averages.
        "load_average": {"start": load_at_start, "end": os.getloadavg() if load_at_start else None},
        "spikejax": spikejax.__version__,
        "config": vars(args),
        "command": "python -m tasks.cartpole " + " ".join(argv),
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(summary, indent=2))
    state = f"solved after {solved_at} episodes" if solved_at else f"not solved in {len(returns)} episodes"
    print(f"{state} ({train_seconds:.0f} s); final policy: mean return {final.mean():.1f} over "
          f"{len(final)} fresh episodes ({greedy.mean():.1f} greedy); summary in {output}")
    return summary


if __name__ == "__main__":
    run_main(main)
