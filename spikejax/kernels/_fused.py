r"""One fused Pallas kernel for any feed-forward neuron model, with a custom VJP.

The kernel runs a model's own ``feed_forward_step`` (for LIF, :func:`spikejax.functional.\
lif_feed_forward_step`), so the equations live in ``functional/`` only. A grid over blocks of
neurons (the non-time axes flattened to ``M`` neurons, padded to a multiple of ``block``) gives
each program ``block`` independent neurons; it runs the whole time loop with the state in
registers, reading one input row and writing one output row per step.

Backward pass (what is saved, and what is recomputed):

* The forward kernel used under differentiation (``jax.grad``/``jax.vjp``; plain calls use a
  forward kernel that saves nothing) also writes the state at the start of every chunk of
  ``checkpoint_every`` (``k``) steps: ``S`` rows every ``k`` steps, ``S`` the number of state
  fields (2 for LIF). The residuals are these checkpoints, the input currents (padded, if the
  neurons do not fill whole blocks) and the parameter rows; spikes are not kept.
* The backward kernel walks the chunks from last to first. For each chunk it recomputes the
  ``k`` states forward from the checkpoint (unrolled, so they stay in registers), then runs the
  adjoint back through those steps with ``jax.vjp`` of the same step function, so that the
  surrogate gradient is the model's registered one and the gradients equal the scan's.
* Memory kept for the backward pass, per neuron and step: the current (1 value) and ``S / k``
  checkpoint values (0.25 for LIF with ``k = 8``). The scan's autodiff keeps several values per
  step instead (pre-reset membrane, surrogate slope, spikes, ...). Traffic per neuron and step:
  forward, read 1 + write 1 (+ ``S / k``); backward, read 2 (current, output cotangent) + write 1.
* Only reverse mode: ``jax.jvp`` of a ``custom_vjp`` function is an error in JAX; forward-mode
  users take ``implementation="scan"``.

Parameters: every numeric leaf that is a Python scalar is baked into the kernel as a constant,
exactly as the scan sees it (``dt * tau_mem_inv`` is then folded in double precision in both);
every array leaf (and an array ``dt``) is broadcast to the neurons and passed as one row per
leaf, which is what makes its gradient flow: the backward kernel accumulates the per-neuron
parameter gradients over time, and ordinary autodiff of the broadcast sums them to the leaf's
shape.

Precision: the kernel computes in float32 whatever the input dtype. Currents, states and
output cotangents of 16 bits (bfloat16, float16) are cast to float32 as they are loaded and the
results back to the input dtype as they are stored; parameter rows and the checkpoints are kept
in float32. A bfloat16 call of the kernel therefore equals the float32 scan of the same
(bfloat16-valued) inputs, rounded to bfloat16, not the bfloat16 scan, whose every step rounds.
(Pallas' Triton lowering also has no 16-bit division.)

Memory order: each chunk of ``checkpoint_every`` steps loads all its input rows before it
stores anything. The compiler cannot prove that an output row does not alias a later input
row, so a store placed between two loads serialises them; loading first lets the loads overlap.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
from jax import lax
from jax.experimental import pallas as pl

from ._target import auto_block, gpu_target

__all__ = ["FusedConfig", "fused_sequence", "triton_params"]

# One neuron per thread: a program of `block` neurons gets block // 32 warps (1 to 32). With 4
# neurons per thread (4 warps per 512) the backward kernels, which hold a whole chunk of states
# per neuron, took 113-255 registers on sm_90 and ALIF's spilled; one per thread about 100.
_NEURONS_PER_WARP = 32
_MAX_WARPS = 32

# The kernel's arithmetic type for every supported input dtype (see "Precision" above).
COMPUTE_DTYPE = jnp.float32


class FusedConfig(NamedTuple):
    """Everything static about one fused call (hashable: it keys jit's cache).

    ``statics`` holds ``(leaf_index, value)`` for the Python-scalar leaves of ``(p, dt)``;
    the other leaves arrive as rows.
    """

    step: Callable  # feed_forward_step(x, state, p, dt, **options) -> (out, state)
    options: tuple  # sorted (name, value) keyword options, e.g. (("detach_reset", False),)
    state_treedef: Any
    param_treedef: Any  # of (p, dt)
    statics: tuple
    n_rows: int  # array leaves of (p, dt)
    length: int  # T
    block: int
    checkpoint_every: int
    interpret: bool
    compute_dtype: Any = COMPUTE_DTYPE


def _leaves_with_rows(config: FusedConfig, rows):
    """Rebuild the leaves of ``(p, dt)``: static scalars in place, rows for the others."""
    leaves, rows = [], list(rows)
    statics = dict(config.statics)
    for index in range(len(statics) + config.n_rows):
        leaves.append(statics[index] if index in statics else rows.pop(0))
    return leaves


def _step_fn(config: FusedConfig):
    """``step(x, state_rows, param_rows) -> (out, state_rows)`` on rows of one block."""
    options = dict(config.options)

    def step(x, state_rows, param_rows):
        p, dt = jax.tree_util.tree_unflatten(
            config.param_treedef, _leaves_with_rows(config, param_rows)
        )
        state = jax.tree_util.tree_unflatten(config.state_treedef, list(state_rows))
        out, new = config.step(x, state, p, dt, **options)
        return out, tuple(jax.tree_util.tree_leaves(new))

    return step


def _load_rows(ref, count, dtype):
    return tuple(ref[r].astype(dtype) for r in range(count))


def _store(ref, index, value):
    ref[index] = value.astype(ref.dtype)


def _forward_kernel(config: FusedConfig, n_state: int, save: bool):
    step = _step_fn(config)
    every = config.checkpoint_every
    full, tail = divmod(config.length, every)

    compute = config.compute_dtype

    def kernel(xs_ref, state_ref, *refs):
        if config.n_rows:
            params_ref, *refs = refs
            params = _load_rows(params_ref, config.n_rows, compute)
        else:
            params = ()
        out_ref, final_ref, *ckpt = refs

        def chunk(c, count, state):
            start = c * every
            # Every load of the chunk before its first store (see "Memory order").
            xs = [xs_ref[start + s].astype(compute) for s in range(count)]
            if save:
                for f in range(n_state):
                    _store(ckpt[0], c * n_state + f, state[f])
            outs = []
            for s in range(count):  # unrolled: the state stays in registers
                out, state = step(xs[s], state, params)
                outs.append(out)
            for s in range(count):
                _store(out_ref, start + s, outs[s])
            return state

        state = _load_rows(state_ref, n_state, compute)
        if full:
            state = lax.fori_loop(0, full, lambda c, s: chunk(c, every, s), state)
        if tail:
            state = chunk(full, tail, state)
        for f in range(n_state):
            _store(final_ref, f, state[f])

    return kernel


def _backward_kernel(config: FusedConfig, n_state: int):
    step = _step_fn(config)
    every = config.checkpoint_every
    full, tail = divmod(config.length, every)

    compute = config.compute_dtype

    def kernel(xs_ref, ckpt_ref, gout_ref, gfinal_ref, *refs):
        if config.n_rows:
            params_ref, gxs_ref, gstate_ref, gparams_ref = refs
            params = _load_rows(params_ref, config.n_rows, compute)
        else:
            gxs_ref, gstate_ref = refs
            params = ()

        def chunk(c, count, carry):
            gstate, gparams = carry
            start = c * every
            # Every load of the chunk before its first store (see "Memory order").
            states = [tuple(ckpt_ref[c * n_state + f].astype(compute) for f in range(n_state))]
            xs = [xs_ref[start + s].astype(compute) for s in range(count)]
            gouts = [gout_ref[start + s].astype(compute) for s in range(count)]
            for s in range(count - 1):  # recompute the chunk's states from its checkpoint
                states.append(step(xs[s], states[s], params)[1])
            gxs = [None] * count
            for s in reversed(range(count)):
                _, adjoint = jax.vjp(step, xs[s], states[s], params)
                gxs[s], gstate, gp = adjoint((gouts[s], gstate))
                gparams = tuple(a + b.astype(a.dtype) for a, b in zip(gparams, gp))
            for s in range(count):
                _store(gxs_ref, start + s, gxs[s])
            return gstate, gparams

        carry = (
            _load_rows(gfinal_ref, n_state, compute),
            tuple(jnp.zeros_like(p, compute) for p in params),
        )
        if tail:
            carry = chunk(full, tail, carry)
        if full:
            carry = lax.fori_loop(0, full, lambda c, cy: chunk(full - 1 - c, every, cy), carry)
        gstate, gparams = carry
        for f in range(n_state):
            _store(gstate_ref, f, gstate[f])
        for r in range(config.n_rows):
            _store(gparams_ref, r, gparams[r])

    return kernel


def _call(config: FusedConfig, kernel, inputs, outputs):
    """``pallas_call`` over neuron blocks; ``inputs``/``outputs`` are ``(rows, padded M)``."""
    block = config.block
    width = inputs[0].shape[1]
    spec = lambda rows: pl.BlockSpec((rows, block), lambda j: (0, j))
    kwargs = {}
    if not config.interpret:
        # Whenever the kernel is compiled, whatever the default backend (an export for CUDA
        # from a CPU machine too): without these Pallas picks Mosaic GPU, which wants
        # warp-group layouts that a per-row time loop does not give and cannot lower the
        # surrogate's custom_jvp ("Resource estimation does not support custom_jvp_call").
        kwargs["compiler_params"] = triton_params(block)
    return pl.pallas_call(
        kernel,
        out_shape=[jax.ShapeDtypeStruct(shape, dtype) for shape, dtype in outputs],
        grid=(width // block,),
        in_specs=[spec(a.shape[0]) for a in inputs],
        out_specs=[spec(shape[0]) for shape, _ in outputs],
        interpret=config.interpret,
        name="spikejax_fused_neuron",
        **kwargs,
    )(*inputs)


def triton_params(block: int):
    """Pallas' Triton compiler parameters for a program of ``block`` neurons (one per thread)."""
    from jax.experimental.pallas import triton as pltriton

    warps = max(1, min(_MAX_WARPS, block // _NEURONS_PER_WARP))
    return pltriton.CompilerParams(num_warps=warps, num_stages=1)


def _checkpoints(config: FusedConfig) -> int:
    return -(-config.length // config.checkpoint_every)


def _forward(config: FusedConfig, xs, state, params, save: bool):
    n_state = state.shape[0]
    inputs = [xs, state] + ([params] if config.n_rows else [])
    outputs = [(xs.shape, xs.dtype), (state.shape, state.dtype)]
    if save:
        # In the compute dtype: the backward pass recomputes exactly the forward's states.
        outputs.append(((_checkpoints(config) * n_state, xs.shape[1]), config.compute_dtype))
    return _call(config, _forward_kernel(config, n_state, save), inputs, outputs)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _fused(config: FusedConfig, xs, state, params):
    out, final = _forward(config, xs, state, params, save=False)
    return out, final


def _fused_fwd(config, xs, state, params):
    out, final, ckpt = _forward(config, xs, state, params, save=True)
    return (out, final), (xs, params, ckpt)


def _fused_bwd(config, residuals, cotangents):
    xs, params, ckpt = residuals
    gout, gfinal = cotangents
    n_state = gfinal.shape[0]
    inputs = [xs, ckpt, gout.astype(xs.dtype), gfinal.astype(xs.dtype)]
    outputs = [(xs.shape, xs.dtype), (gfinal.shape, xs.dtype)]
    if config.n_rows:
        inputs.append(params)
        # Parameter gradients are sums over time, accumulated in the compute dtype.
        outputs.append((params.shape, config.compute_dtype))
    grads = _call(config, _backward_kernel(config, n_state), inputs, outputs)
    if config.n_rows:
        gxs, gstate, gparams = grads
        return gxs, gstate, gparams.astype(params.dtype)
    gxs, gstate = grads
    return gxs, gstate, jnp.zeros_like(params)


_fused.defvjp(_fused_fwd, _fused_bwd)


def _is_static_scalar(leaf) -> bool:
    return isinstance(leaf, (int, float)) and not isinstance(leaf, bool)


def _configure(step, xs_shape, state_treedef, p, dt, options: dict, *, block: Optional[int],
               checkpoint_every: int, interpret: bool):
    """``(config, padded width, [(path, leaf)] of the parameter rows)`` for one fused call."""
    length, width = xs_shape[0], math.prod(xs_shape[1:])
    if block is None:
        target = gpu_target()
        block = auto_block(width, target.num_cores if target is not None else None)
    block = min(block, 1 << (width - 1).bit_length())
    leaves_with_path, param_treedef = jax.tree_util.tree_flatten_with_path((p, dt))
    statics, rows = [], []
    for index, (path, leaf) in enumerate(leaves_with_path):
        if _is_static_scalar(leaf):
            statics.append((index, leaf))
        else:
            rows.append((path, leaf))
    config = FusedConfig(
        step=step,
        options=tuple(sorted(options.items())),
        state_treedef=state_treedef,
        param_treedef=param_treedef,
        statics=tuple(statics),
        n_rows=len(rows),
        length=length,
        block=block,
        checkpoint_every=min(checkpoint_every, length),
        interpret=interpret,
    )
    return config, -(-width // block) * block, rows


def fused_sequence(step, xs, state, p, dt, options: dict, *, block: Optional[int],
                   checkpoint_every: int, interpret: bool,
                   check_param: Optional[Callable[[str, Any], None]] = None):
    """Run ``step`` over ``xs`` ``(T, *shape)`` from ``state`` (leaves of ``shape``) in one kernel.

    Arguments are assumed checked by the caller, except that ``check_param(name, leaf)``, if
    given, is called on each array leaf of ``p`` before it is broadcast to ``shape``. ``block=None``
    takes :func:`auto_block` for the GPU target. Whether the kernel lowers for the target is
    the caller's to decide (:func:`spikejax.kernels._lowering.lowering_error`). Returns ``(outputs (T, *shape),
    final_state)``.
    """
    length, shape = xs.shape[0], xs.shape[1:]
    dtype = xs.dtype
    width = math.prod(shape)
    state_leaves, state_treedef = jax.tree_util.tree_flatten(state)
    config, padded, param_leaves = _configure(
        step, xs.shape, state_treedef, p, dt, options, block=block,
        checkpoint_every=checkpoint_every, interpret=interpret,
    )

    def flat(a, name=None, dtype=dtype):
        a = jnp.asarray(a, dtype)
        if name is not None and check_param is not None:
            check_param(name, a)
        row = jnp.broadcast_to(a, shape).reshape(width)
        # Edge padding keeps the padded neurons' arithmetic finite.
        return jnp.pad(row, (0, padded - width), mode="edge") if padded > width else row

    # Parameter rows in the compute dtype (one row each: the cost is nil); the cast here takes
    # their gradients back to the leaf's dtype.
    rows = [flat(leaf, _param_name(path), COMPUTE_DTYPE) for path, leaf in param_leaves]
    seq = xs.reshape(length, width)
    if padded > width:
        seq = jnp.pad(seq, ((0, 0), (0, padded - width)))
    state_rows = jnp.stack([flat(leaf) for leaf in state_leaves])
    params = jnp.stack(rows) if rows else jnp.zeros((0, padded), COMPUTE_DTYPE)
    out, final = _fused(config, seq, state_rows, params)
    out = out[:, :width].reshape(xs.shape)
    final_leaves = [final[f, :width].reshape(shape) for f in range(final.shape[0])]
    return out, jax.tree_util.tree_unflatten(state_treedef, final_leaves)


def _param_name(path) -> str:
    """``p.v_th`` or ``dt`` for a path into ``(p, dt)``."""
    head, *rest = path
    name = "p" if getattr(head, "idx", 0) == 0 else "dt"
    return name + "".join(
        f".{k.name}" if hasattr(k, "name") else f"[{getattr(k, 'idx', getattr(k, 'key', k))}]"
        for k in rest
    )
