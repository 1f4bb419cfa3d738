import jax
import jax.numpy as jnp
import numpy as np
import pytest

from spikejax.functional.plasticity import (
    TsodyksMakramParameters,
    TsodyksMakramState,
    stp_step,
    tsodyks_makram_state,
)


@jax.jit
def _trajectory(zs, p):
    def step(s, z):
        out, s = stp_step(z, s, p)
        return s, (out, s.u, s.x)

    return jax.lax.scan(step, tsodyks_makram_state(zs.shape[1:], p), zs)[1]


@pytest.mark.parametrize("case", ["depressing", "facilitating"])
def test_equals_norse(reference, case):
    ref = reference("norse_stdp")["stp"][case]
    p = TsodyksMakramParameters(**{k: float(v) for k, v in ref["params"].items()})
    out, u, x = _trajectory(jnp.asarray(ref["z"], jnp.float32), p)
    np.testing.assert_allclose(out, ref["out"], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(u, ref["u"], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(x, ref["x"], rtol=1e-6, atol=1e-7)


def test_equals_the_formula():
    zs = (np.random.default_rng(8).random((60, 2, 3)) < 0.2).astype(np.float32)
    p = TsodyksMakramParameters(tau_f_inv=10.0, tau_d_inv=5.0, U=0.3)
    u, x, outs = np.zeros((2, 3)), np.ones((2, 3)), []
    for z in zs:
        u = u - 1e-3 * 10.0 * u + 0.3 * (1 - u) * z
        outs.append(u * x * z)
        x = x + 1e-3 * 5.0 * (1 - x) - u * x * z
    np.testing.assert_allclose(_trajectory(zs, p)[0], np.stack(outs), rtol=1e-5, atol=1e-7)


def _norse_example_current(p):
    """Norse's test_tsodyks_makram.py example: a spike every 100 ms, a synaptic current."""
    z = np.zeros(1000, np.float32)
    z[::100] = 1.0
    z[0:10] = 0.0
    out = _trajectory(jnp.asarray(z)[:, None], p)[0][:, 0]
    current, i = [], 0.0
    for o in np.asarray(out):
        i = i - 1e-3 * p.tau_s_inv * i + o
        current.append(i)
    return np.array(current)


def test_norse_depressing_and_facilitating_examples():
    depressing = TsodyksMakramParameters()
    current = _norse_example_current(depressing)
    np.testing.assert_allclose(current[100], 0.45, rtol=1e-6)
    assert current[500:].max() < current[:500].max()
    facilitating = TsodyksMakramParameters(tau_f_inv=1 / 750e-3, tau_d_inv=1 / 50e-3, U=0.15)
    current = _norse_example_current(facilitating)
    np.testing.assert_allclose(current[100], 0.15, rtol=1e-6)
    assert current[500:].max() > current[:500].max()


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"TsodyksMakramParameters.U must lie in \[0.0, 1.0\]"):
        TsodyksMakramParameters(U=1.5)
    with pytest.raises(ValueError, match="TsodyksMakramParameters.tau_d_inv must be positive"):
        TsodyksMakramParameters(tau_d_inv=-1.0)
    with pytest.raises(ValueError, match=r"s.u has shape \(3,\), expected \(2,\)"):
        stp_step(jnp.ones(2), TsodyksMakramState(u=jnp.zeros(3), x=jnp.ones(3)))


def test_uses_its_dt():
    """u decays and x recovers by dt * tau_inv per step: 2 ms steps follow the formula at 2 ms."""
    zs = (np.random.default_rng(11).random((40, 3)) < 0.3).astype(np.float32)
    p = TsodyksMakramParameters(tau_f_inv=30.0, tau_d_inv=12.0, U=0.35)

    def formula(dt):
        u, x, outs = np.zeros(3), np.ones(3), []
        for z in zs:
            u = u - dt * 30.0 * u + 0.35 * (1 - u) * z
            outs.append(u * x * z)
            x = x + dt * 12.0 * (1 - x) - u * x * z
        return np.stack(outs)

    state, outs = None, []
    for z in zs:
        out, state = stp_step(jnp.asarray(z), state, p, 2e-3)
        outs.append(out)
    np.testing.assert_allclose(np.stack(outs), formula(2e-3), rtol=1e-5, atol=1e-7)
    assert np.abs(formula(2e-3) - formula(1e-3)).max() > 1e-3
