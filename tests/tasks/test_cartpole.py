import doctest
import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

pytest.importorskip("gymnax")

from tasks import cartpole  # noqa: E402


def test_help_lists_the_flags():
    out = subprocess.run([sys.executable, "-m", "tasks.cartpole", "--help"],
                         capture_output=True, text=True, check=True)
    for flag in ["--policy", "--episodes", "--iterations", "--batch", "--lr", "--steps", "--seed",
                 "--output", "--smoke", "--no-progress", "--threshold", "--eval-episodes"]:
        assert flag in out.stdout, flag
    assert "{ann,lsnn,snn}" in out.stdout


@pytest.mark.slow  # CI time; run with `pytest -m slow`
def test_smoke_run_writes_the_summary(tmp_path):
    output = tmp_path / "summary.json"
    summary = cartpole.main(["--smoke", "--no-progress", "--output", str(output)])
    written = json.loads(output.read_text())
    assert written["eval_mean_return"] == summary["eval_mean_return"]
    assert written["episodes"] == len(written["returns"]) == 8 and written["iterations"] == 2
    assert all(1 <= r <= 500 and r == int(r) for r in written["returns"]), written["returns"]
    assert written["eval_episodes"] == 4 and 1 <= written["eval_mean_return"] <= 500
    assert [c["episodes"] for c in written["curve"]] == [4, 8]
    assert written["solved"] is False and written["threshold"] == 475
    for key in ("device", "jax", "flax", "optax"):
        assert key in written["environment"]
    assert written["config"]["smoke"] is True and written["config"]["hidden"] == 16
    assert written["command"].startswith("python -m tasks.cartpole --smoke")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--batch", "0"], "--batch must be a positive int, got 0"),
        (["--steps", "-1"], "--steps must be a positive int, got -1"),
        (["--lr", "0"], "--lr must be positive, got 0.0"),
        (["--gamma", "1.5"], r"--gamma must be in (0, 1], got 1.5"),
        (["--policy", "cnn"], "argument --policy: invalid choice: 'cnn'"),
        (["--episodes", "10", "--iterations", "2"], "not allowed with argument"),
    ],
)
def test_bad_flags_are_clear_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as raised:
        cartpole.main(argv)
    assert raised.value.code == 2
    assert message in capsys.readouterr().err


def test_unknown_policy_name_is_a_value_error():
    with pytest.raises(ValueError, match=r"policy must be one of \['ann', 'lsnn', 'snn'\], got 'rnn'"):
        cartpole.make_policy("rnn", hidden=4, steps=2, scale=50.0, rngs=nnx.Rngs(0))


@pytest.mark.parametrize("name", ["snn", "lsnn", "ann"])
def test_policies_give_finite_logits_and_gradients(name):
    policy = cartpole.make_policy(name, hidden=8, steps=6, scale=50.0, rngs=nnx.Rngs(1))
    observations = jax.random.uniform(jax.random.key(0), (5, 4), minval=-0.2, maxval=0.2)
    logits = policy(observations)
    assert logits.shape == (5, 2) and bool(jnp.all(jnp.isfinite(logits)))
    graphdef, params = nnx.split(policy, nnx.Param)
    log_prob = lambda p: jnp.sum(jax.nn.log_softmax(nnx.merge(graphdef, p)(observations))[:, 0])
    grads = jax.grad(log_prob)(params)
    norms = [float(jnp.linalg.norm(g)) for g in jax.tree_util.tree_leaves(grads)]
    assert all(np.isfinite(norms)) and max(norms) > 0, norms


def test_discounted_returns_match_a_python_loop():
    rewards = np.random.default_rng(0).random((7, 3)).astype(np.float32)
    expected, future = np.zeros_like(rewards), np.zeros(3, np.float32)
    for t in reversed(range(7)):
        future = rewards[t] + 0.9 * future
        expected[t] = future
    np.testing.assert_allclose(cartpole.discounted_returns(jnp.asarray(rewards), 0.9), expected, rtol=1e-6)


def test_chunked_gradient_equals_the_whole_gradient():
    # Episodes of lengths 5, 2 and 1 in a horizon of 13: with chunks of 3 the gradient sums two
    # chunks, skips the rest, and pads the horizon to 15; it must equal the one-piece gradient.
    horizon, lengths = 13, np.array([5, 2, 1])
    rng = np.random.default_rng(0)
    alive = jnp.asarray((np.arange(horizon)[:, None] < lengths).astype(np.float32))
    episodes = cartpole.Episodes(
        jnp.asarray(rng.normal(0, 0.1, (horizon, 3, 4)), jnp.float32),
        jnp.asarray(rng.integers(0, 2, (horizon, 3)), jnp.int32),
        alive,
    )
    advantages = cartpole.normalise(cartpole.discounted_returns(alive, 0.99), alive)
    policy = cartpole.make_policy("snn", hidden=8, steps=4, scale=50.0, rngs=nnx.Rngs(2))
    graphdef, params = nnx.split(policy, nnx.Param)
    loss, grads = cartpole.reinforce_gradient(graphdef, params, episodes, advantages, chunk=3)
    whole = lambda p: cartpole.reinforce_loss(nnx.merge(graphdef, p), episodes, advantages) / jnp.sum(alive)
    expected_loss, expected = jax.value_and_grad(whole)(params)
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-5, atol=1e-7)
    for a, b in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(expected)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-7)
    assert max(float(jnp.abs(g).max()) for g in jax.tree_util.tree_leaves(grads)) > 0


def _lean(observation):
    # A linear controller that balances the pole: push the cart under the side it falls to.
    x, x_dot, theta, theta_dot = (observation[..., i] for i in range(4))
    return theta + 0.5 * theta_dot + 0.01 * x + 0.1 * x_dot


CONTROLLERS = {"push_right": lambda observation: 1,
               "balance": lambda observation: int(_lean(observation) > 0)}


def _gymnasium_episode(initial_observation, controller):
    """Play ``controller`` in gymnasium's CartPole-v1 from ``initial_observation``; returns the
    observations seen before each action."""
    gymnasium = pytest.importorskip("gymnasium")
    env = gymnasium.make("CartPole-v1")
    env.reset(seed=0)
    env.unwrapped.state = np.asarray(initial_observation, np.float64)
    observations, observation = [], np.asarray(initial_observation)
    while True:
        observations.append(observation)
        observation, reward, terminated, truncated, _ = env.step(CONTROLLERS[controller](observation))
        assert reward == 1.0
        if terminated or truncated:
            return np.array(observations)


@pytest.mark.parametrize("controller", ["push_right", "balance"])
def test_rollout_matches_gymnasium(controller):
    # A constant push ends the episode early (termination); the balancing controller lasts until
    # gymnasium's 500-step truncation.
    def policy(observation):
        if controller == "push_right":
            return jnp.stack([jnp.zeros(observation.shape[0]), jnp.ones(observation.shape[0])], -1)
        return jnp.stack([-_lean(observation), _lean(observation)], -1)

    env, env_params = cartpole.make_env()
    play = jax.jit(lambda key: cartpole.rollout(policy, env, env_params, key, 3, greedy=True))
    episodes = play(jax.random.key(4))
    lengths = np.asarray(jnp.sum(episodes.alive, 0)).astype(int)
    for b in range(3):
        observations = np.asarray(episodes.observations[:, b])
        expected = _gymnasium_episode(observations[0], controller)
        assert lengths[b] == len(expected), (b, lengths, len(expected))
        assert 5 < len(expected) < 100 if controller == "push_right" else len(expected) == 500
        # The upright pole is unstable: float32 (gymnax) and float64 (gymnasium) states part
        # after a while, so compare the first second (50 steps) of the trajectories.
        np.testing.assert_allclose(observations[:50][: len(expected)], expected[:50], atol=1e-4)
        assert np.all(np.asarray(episodes.alive[lengths[b]:, b]) == 0)


def test_docstring_examples_run():
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    failures, tried = doctest.testmod(cartpole, optionflags=flags, extraglobs={"jnp": jnp, "nnx": nnx})
    assert tried >= 6 and failures == 0


@pytest.mark.slow
def test_ann_policy_solves_cartpole(tmp_path):
    summary = cartpole.main(["--policy", "ann", "--episodes", "2000", "--no-progress",
                             "--output", str(tmp_path / "ann.json")])
    assert summary["solved"] and summary["eval_mean_return"] >= 475, summary["solve_checks"]
