"""The one scan helper: runs any step function over the leading (time) axis.

Every sequence module and training loop in spikejax goes through :func:`run`, so unrolling and
rematerialisation are chosen in one place.

Example:
    >>> import jax.numpy as jnp
    >>> from spikejax.functional import run, lif_feed_forward_step
    >>> xs = jnp.ones((9, 1, 3))                      # (T, B, N)
    >>> state, zs = run(lif_feed_forward_step, None, xs)
    >>> zs.shape
    (9, 1, 3)
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

import jax
import jax.numpy as jnp
from jax import lax

from ._validate import check_min_rank

__all__ = ["run", "sequence_length"]

State = TypeVar("State")
Step = Callable[[Any, Any], tuple[Any, Any]]


def sequence_length(xs: Any, name: str = "xs") -> int:
    """The common leading (time) length of every array in the pytree ``xs``.

    Raises:
        ValueError: if a leaf has rank 0, the lengths differ, or the length is 0.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import sequence_length
        >>> sequence_length({"currents": jnp.zeros((5, 2)), "mask": jnp.zeros(5)})
        5
    """
    leaves = jax.tree_util.tree_leaves(xs)
    if not leaves:
        raise ValueError(f"{name} must contain at least one array with a leading time axis, got {xs!r}")
    lengths = set()
    for leaf in leaves:
        check_min_rank(name, leaf, 1, "(T, ...)")
        lengths.add(leaf.shape[0])
    if len(lengths) != 1:
        raise ValueError(f"{name} must share one time length on axis 0, got lengths {sorted(lengths)}")
    (length,) = lengths
    if length == 0:
        raise ValueError(f"{name} has an empty time axis (T = 0); expected T >= 1")
    return length


def run(
    step: Step,
    state: State,
    xs: Any,
    *,
    length: int | None = None,
    unroll: int | bool = 1,
    remat: bool | int = False,
    record_states: bool = False,
) -> tuple[Any, Any]:
    """Scan ``step(x_t, state) -> (y_t, state)`` over axis 0 of ``xs``.

    Args:
        step: a pure step function; ``state`` may be ``None`` on the first call if the step
            function creates its rest state (every spikejax ``*_feed_forward_step`` does).
        state: the initial state, or ``None`` for the step function's rest state. With
            ``None`` the first step runs outside the scan and its output is concatenated with
            the rest, which costs about one extra pass over the outputs: pass the rest state
            explicitly (e.g. ``lif_feed_forward_state(xs.shape[1:])``) where speed matters.
            The modules in :mod:`spikejax.nn` always do.
        xs: the inputs, a pytree of arrays with a leading time axis ``(T, ...)``; or, with
            ``length``, one input (no time axis) given to every step.
        length: run ``length`` steps on the constant input ``xs``. Prefer this to
            broadcasting a constant input over time: XLA's CPU backend computes the gradient of
            a scan over a broadcast input about four times slower than over a closed-over one.
        unroll: how many steps ``lax.scan`` unrolls per loop iteration (``True``: all of them).
            On GPU and for convolutional bodies on CPU, unrolling is much faster.
        remat: ``False`` stores every step for the backward pass. ``True`` recomputes each step
            in the backward pass. An integer ``k > 1`` checkpoints the state every ``k`` steps and
            recomputes the steps in between, so memory grows as ``O(T / k + k)`` instead of
            ``O(T)``; the gradients equal those of the plain scan.
        record_states: also return the state after every step, stacked on a leading time axis.

    Returns:
        ``(final_state, ys)``, or ``(states, ys)`` with ``record_states=True``; ``ys`` has a
        leading time axis of length ``T``.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional import run
        >>> def step(x, total):                       # a running sum
        ...     total = total + x
        ...     return total, total
        >>> final, ys = run(step, jnp.zeros(2), jnp.ones((4, 2)))
        >>> final, ys[:, 0]
        (Array([4., 4.], dtype=float32), Array([1., 2., 3., 4.], dtype=float32))
        >>> _, ys = run(step, jnp.zeros(2), jnp.ones(2), length=3, remat=2)   # constant input
        >>> ys[:, 0]
        Array([1., 2., 3.], dtype=float32)
        >>> states, _ = run(step, jnp.zeros(2), jnp.ones((4, 2)), record_states=True)
        >>> states.shape
        (4, 2)
    """
    if length is None:
        length = sequence_length(xs)
        sequence = xs
    else:
        if isinstance(length, bool) or not isinstance(length, int) or length < 1:
            raise ValueError(f"length must be a positive int (the number of steps), got {length!r}")
        sequence = None
    if isinstance(remat, bool) or remat is None:
        every = 1 if remat else 0
    elif isinstance(remat, int) and remat >= 1:
        every = remat
    else:
        raise ValueError(f"remat must be a bool or a positive int (steps per checkpoint), got {remat!r}")
    if not (isinstance(unroll, bool) or (isinstance(unroll, int) and unroll >= 1)):
        raise ValueError(f"unroll must be a bool or a positive int, got {unroll!r}")
    options = dict(unroll=unroll, remat=remat, record_states=record_states)

    if state is None:
        # The step function builds its rest state from the first input. Take that first step
        # outside the scan so that the scan carry has a fixed structure, then prepend its output.
        first = xs if sequence is None else jax.tree_util.tree_map(lambda a: a[0], xs)
        y0, state = step(first, None)
        if length == 1:
            out0 = (y0, state) if record_states else y0
            out = jax.tree_util.tree_map(lambda a: a[None], out0)
            return (out[1], out[0]) if record_states else (state, out)
        if sequence is None:
            final, out = run(step, state, xs, length=length - 1, **options)
        else:
            final, out = run(step, state, jax.tree_util.tree_map(lambda a: a[1:], xs), **options)
        prepend = lambda a0, a: jnp.concatenate([a0[None], a])
        if record_states:
            return (
                jax.tree_util.tree_map(prepend, state, final),
                jax.tree_util.tree_map(prepend, y0, out),
            )
        return final, jax.tree_util.tree_map(prepend, y0, out)

    if sequence is None:
        def body(carry, _):
            y, new = step(xs, carry)
            return new, ((y, new) if record_states else y)
    else:
        def body(carry, x):
            y, new = step(x, carry)
            return new, ((y, new) if record_states else y)

    if every == 1:
        body = jax.checkpoint(body)
    if every <= 1 or every >= length:
        final, out = lax.scan(body, state, sequence, length=length, unroll=unroll)
    else:
        final, out = _chunked_remat_scan(body, state, sequence, length, every, unroll)

    if record_states:
        ys, states = out
        return states, ys
    return final, out


def _chunked_remat_scan(body, state, xs, length: int, every: int, unroll):
    """Scan over chunks of ``every`` steps; only chunk boundaries are stored for the backward pass.

    ``xs`` is the time-major input, or ``None`` when ``body`` closes over a constant input.
    """
    chunks, tail = divmod(length, every)
    head = None if xs is None else jax.tree_util.tree_map(
        lambda a: a[: chunks * every].reshape((chunks, every) + a.shape[1:]), xs
    )

    @jax.checkpoint
    def chunk(carry, xs_chunk):
        return lax.scan(body, carry, xs_chunk, length=every, unroll=unroll)

    state, out = lax.scan(chunk, state, head, length=chunks)
    out = jax.tree_util.tree_map(lambda a: a.reshape((chunks * every,) + a.shape[2:]), out)
    if tail:
        rest = None if xs is None else jax.tree_util.tree_map(lambda a: a[chunks * every :], xs)
        state, out_tail = lax.scan(body, state, rest, length=tail, unroll=unroll)
        out = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a, b]), out, out_tail)
    return state, out
