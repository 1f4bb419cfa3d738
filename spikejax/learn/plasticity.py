r"""Plasticity rules as optax transformations, so local learning composes like an optimiser.

Each rule from :mod:`spikejax.functional.plasticity` becomes an
``optax.GradientTransformationExtraArgs`` whose ``update`` takes this step's spikes as extra
keyword arguments and keeps the rule's traces in its state:

.. code-block:: python

    tx = optax.chain(
        stdp(STDPParameters(hardbound=False), pre_shape=(B, n_in), post_shape=(B, n_out)),
        bound_multiplicative(upper=1.0),
        clamp(min=0.0),
    )
    opt_state = tx.init(w)
    updates, opt_state = tx.update(jnp.zeros_like(w), opt_state, w, pre=z_in, post=z_out)
    w = optax.apply_updates(w, updates)

**Sign convention.** optax applies ``params + updates``. A rule *adds* its weight change
``dw`` to the incoming updates, with potentiation positive, so STDP potentiation increases
``w``. Start from ``jnp.zeros_like(params)`` for pure plasticity, or pass the output of a
gradient optimiser (already ``-lr * grad``) to add both. The rule's own learning rates set
the size of ``dw``; chain ``optax.scale`` to rescale it (not ``optax.sgd``, which negates).

**Bounds.** :func:`bound_power`, :func:`bound_multiplicative` and :func:`bound_sharp` split the
incoming update of every weight by its sign into potentiation ``max(u, 0)`` and depression
``max(-u, 0)`` and scale each by the distance to its bound (formulas in
:mod:`spikejax.functional.plasticity.bounds`); :func:`clamp` returns the update that keeps
``params + updates`` inside ``[min, max]``. Because the split sees the *net* update of a step,
a step that both potentiates and depresses a weight is bounded on its net sign; pass ``bound=``
to the rule itself to bound each part separately.

**Layouts.** ``params`` is one weight array, or a pytree of them; ``pre`` and ``post`` (and
``pre_shape``, ``post_shape``) then have the same structure, one entry per weight. Traces are
kept for the shapes given at construction, so the whole state is a fixed-shape pytree and a
full unsupervised run fits in one ``jit`` + ``lax.scan``.

Example:
    >>> import jax, jax.numpy as jnp, optax
    >>> from spikejax.functional.plasticity import STDPParameters
    >>> from spikejax.learn import stdp, clamp
    >>> tx = optax.chain(stdp(STDPParameters(eta_plus=0.1), pre_shape=(2, 3), post_shape=(2, 1)),
    ...                  clamp(min=0.0, max=1.0))
    >>> w = jnp.full((1, 3), 0.5)
    >>> state = tx.init(w)
    >>> for pre, post in [([1., 0., 0.], [0.]), ([0., 0., 0.], [1.])]:
    ...     pre, post = jnp.tile(jnp.array(pre), (2, 1)), jnp.tile(jnp.array(post), (2, 1))
    ...     updates, state = tx.update(jnp.zeros_like(w), state, w, pre=pre, post=post)
    ...     w = optax.apply_updates(w, updates)
    >>> w  # only the synapse whose input fired before the output grew: 0.5 + 2 * 0.1 * 0.0196
    Array([[0.50392, 0.5    , 0.5    ]], dtype=float32)
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import optax

from ..functional._validate import check_non_negative
from ..functional.plasticity import bounds as _bounds
from ..functional.plasticity._common import check_bounds
from ..functional.plasticity import (
    InfernoSTDPParameters,
    MSTDPParameters,
    STDPParameters,
    TripletSTDPParameters,
    inferno_stdp_step,
    mstdp_step,
    mstdpet_state,
    mstdpet_step,
    stdp_state,
    stdp_step,
    triplet_stdp_state,
    triplet_stdp_step,
)

__all__ = [
    "PlasticityState",
    "plasticity_rule",
    "stdp",
    "inferno_stdp",
    "triplet_stdp",
    "mstdp",
    "mstdpet",
    "bound_power",
    "bound_multiplicative",
    "bound_sharp",
    "clamp",
]


class PlasticityState(NamedTuple):
    """State of a plasticity transformation: the rule's state for every weight (a pytree).

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.learn import PlasticityState, stdp
        >>> state = stdp(pre_shape=(4, 3), post_shape=(4, 2)).init(jnp.zeros((2, 3)))
        >>> isinstance(state, PlasticityState), state.rule_state.t_pre.shape
        (True, (4, 3))
    """

    rule_state: Any


def _per_weight(params: Any, name: str, tree: Any, *, arrays: bool = False) -> list:
    """``tree``'s entries for the leaves of ``params`` (``tree`` has params' structure)."""
    treedef = jax.tree_util.tree_structure(params)
    try:
        entries = treedef.flatten_up_to(tree)
    except (ValueError, TypeError) as err:
        entries = None
        cause = err
    else:
        cause = None
    if entries is None or (arrays and not all(hasattr(e, "shape") for e in entries)):
        raise ValueError(
            f"{name} must have the structure of params ({treedef}), one "
            f"{'array' if arrays else 'entry'} per weight; got {jax.tree_util.tree_structure(tree)}"
        ) from cause
    return entries


def _require_params(params: Any, who: str) -> None:
    if params is None:
        raise ValueError(f"{who} needs params (the weights): call tx.update(updates, state, params, ...)")


def plasticity_rule(
    step: Callable,
    init_state: Callable,
    *,
    pre_shape: Any,
    post_shape: Any,
    extra_args: Sequence[str] = (),
    trace_dtype=jnp.float32,
    name: str = "plasticity_rule",
) -> optax.GradientTransformationExtraArgs:
    """Any local rule as an optax transformation.

    Args:
        step: ``step(pre, post, state, w, **extras) -> (dw, state)``, e.g. a rule step with its
            parameters bound.
        init_state: ``init_state(pre_shape, post_shape, dtype)``: the rule's empty state.
        pre_shape: the shape of ``pre`` (a tuple), or a pytree of them with params' structure.
        post_shape: the same for ``post``.
        extra_args: names of further keyword arguments ``update`` must receive and pass to
            ``step`` (``("reward",)`` for reward-modulated rules).
        trace_dtype: dtype of the rule's state, a floating-point dtype (float32 keeps bfloat16
            weights' traces exact).
        name: the transformation's name in error messages.

    Returns:
        A transformation whose ``update(updates, state, params, *, pre, post, ...)`` returns
        ``updates + dw`` for every weight and the new state.

    Example:
        >>> import jax.numpy as jnp, optax
        >>> from spikejax.functional.plasticity import STDPParameters, stdp_state, stdp_step
        >>> from spikejax.learn import plasticity_rule
        >>> p = STDPParameters(eta_plus=0.1)
        >>> step = lambda pre, post, state, w: stdp_step(pre, post, state, w, p)
        >>> tx = plasticity_rule(step, stdp_state, pre_shape=(1, 2), post_shape=(1, 1))
        >>> w = jnp.full((1, 2), 0.5)
        >>> state = tx.init(w)
        >>> for pre, post in [([[1.0, 0.0]], [[0.0]]), ([[0.0, 0.0]], [[1.0]])]:
        ...     pre, post = jnp.array(pre), jnp.array(post)
        ...     dw, state = tx.update(jnp.zeros_like(w), state, w, pre=pre, post=post)
        ...     w = optax.apply_updates(w, dw)
        >>> (w > 0.5).tolist()
        [[True, False]]
    """
    if not jnp.issubdtype(jnp.dtype(trace_dtype), jnp.floating):
        # An integer trace rounds every decayed value to 0: the rule would learn nothing.
        raise TypeError(
            f"{name}: trace_dtype must be a floating-point dtype, got {jnp.dtype(trace_dtype)}"
        )
    required = ("pre", "post") + tuple(extra_args)

    def init_fn(params):
        _require_params(params, f"{name}.init")
        leaves = jax.tree_util.tree_leaves(params)
        pre_shapes = _per_weight(params, "pre_shape", pre_shape)
        post_shapes = _per_weight(params, "post_shape", post_shape)
        states = []
        for w, ps, qs in zip(leaves, pre_shapes, post_shapes):
            state = init_state(tuple(ps), tuple(qs), trace_dtype)
            # Run the rule abstractly once, so bad shapes fail here with the rule's own message.
            example = {k: jnp.zeros((), trace_dtype) for k in extra_args}
            jax.eval_shape(
                lambda s, w: step(jnp.zeros(ps, trace_dtype), jnp.zeros(qs, trace_dtype), s, w,
                                  **example), state, w)
            states.append(state)
        treedef = jax.tree_util.tree_structure(params)
        return PlasticityState(jax.tree_util.tree_unflatten(treedef, states))

    def update_fn(updates, state, params=None, **extras):
        _require_params(params, f"{name}.update")
        missing = [k for k in required if extras.get(k) is None]
        if missing:
            raise ValueError(
                f"{name}.update needs the keyword arguments {', '.join(required)}; "
                f"missing {', '.join(missing)}"
            )
        treedef = jax.tree_util.tree_structure(params)
        leaves = treedef.flatten_up_to(params)
        per = {k: _per_weight(params, k, extras[k], arrays=k in ("pre", "post"))
               for k in required}
        shapes = {"pre": _per_weight(params, "pre_shape", pre_shape),
                  "post": _per_weight(params, "post_shape", post_shape)}
        rule_states = treedef.flatten_up_to(state.rule_state)
        u_leaves = _per_weight(params, "updates", updates, arrays=True)
        new_updates, new_states = [], []
        for i, w in enumerate(leaves):
            for side in ("pre", "post"):
                got = tuple(jnp.shape(per[side][i]))
                if got != tuple(shapes[side][i]):
                    raise ValueError(
                        f"{side} has shape {got}, expected {tuple(shapes[side][i])} "
                        f"(the {side}_shape given to {name})"
                    )
            kwargs = {k: per[k][i] for k in extra_args}
            dw, s = step(per["pre"][i], per["post"][i], rule_states[i], w, **kwargs)
            new_updates.append((u_leaves[i] + dw).astype(jnp.result_type(u_leaves[i])))
            new_states.append(s)
        return (
            jax.tree_util.tree_unflatten(treedef, new_updates),
            PlasticityState(jax.tree_util.tree_unflatten(treedef, new_states)),
        )

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def stdp(p: STDPParameters = STDPParameters(), *, pre_shape, post_shape, dt: float = 1e-3):
    """Norse's pair STDP (:func:`~spikejax.functional.plasticity.stdp_step`; dense or conv2d).

    ``update(updates, state, params, *, pre, post)``. With ``p.hardbound`` the update keeps the
    weights in ``[p.w_min, p.w_max]``, as Norse's step does.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional.plasticity import STDPParameters
        >>> from spikejax.learn import stdp
        >>> tx = stdp(STDPParameters(eta_plus=0.1), pre_shape=(1, 2), post_shape=(1, 1))
        >>> w = jnp.full((1, 2), 0.5)
        >>> state, zeros = tx.init(w), jnp.zeros_like(w)
        >>> pre, post = jnp.array([[1.0, 0.0]]), jnp.ones((1, 1))
        >>> _, state = tx.update(zeros, state, w, pre=pre, post=0 * post)       # input 0 spikes
        >>> dw, state = tx.update(zeros, state, w, pre=0 * pre, post=post)      # then the output
        >>> (dw > 0).tolist()
        [[True, False]]
    """
    step = functools.partial(_call, stdp_step, p=p, dt=dt)
    return plasticity_rule(step, stdp_state, pre_shape=pre_shape, post_shape=post_shape,
                           name="stdp")


def inferno_stdp(p: InfernoSTDPParameters = InfernoSTDPParameters(), *, pre_shape, post_shape,
                 dt: float = 1e-3, bound: Optional[Callable] = None):
    """Inferno-style pair STDP (:func:`~spikejax.functional.plasticity.inferno_stdp_step`).

    ``update(updates, state, params, *, pre, post)``; ``dt`` in seconds, ``p``'s time
    constants in ms.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.functional.plasticity import InfernoSTDPParameters
        >>> from spikejax.learn import inferno_stdp
        >>> tx = inferno_stdp(InfernoSTDPParameters(), pre_shape=(1, 2), post_shape=(1, 1))
        >>> w = jnp.full((1, 2), 0.5)
        >>> state, zeros = tx.init(w), jnp.zeros_like(w)
        >>> pre, post = jnp.array([[1.0, 0.0]]), jnp.ones((1, 1))
        >>> _, state = tx.update(zeros, state, w, pre=pre, post=0 * post)
        >>> dw, state = tx.update(zeros, state, w, pre=0 * pre, post=post)
        >>> (dw > 0).tolist()
        [[True, False]]
    """
    step = functools.partial(_call, inferno_stdp_step, p=p, dt=dt, bound=bound)
    return plasticity_rule(step, stdp_state, pre_shape=pre_shape, post_shape=post_shape,
                           name="inferno_stdp")


def triplet_stdp(p: TripletSTDPParameters = TripletSTDPParameters(), *, pre_shape, post_shape,
                 dt: float = 1e-3, bound: Optional[Callable] = None):
    """Triplet STDP (:func:`~spikejax.functional.plasticity.triplet_stdp_step`).

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.learn import triplet_stdp
        >>> tx = triplet_stdp(pre_shape=(1, 2), post_shape=(1, 1))
        >>> w = jnp.full((1, 2), 0.5)
        >>> state, zeros = tx.init(w), jnp.zeros_like(w)
        >>> pre, post = jnp.array([[1.0, 0.0]]), jnp.ones((1, 1))
        >>> _, state = tx.update(zeros, state, w, pre=pre, post=0 * post)
        >>> dw, state = tx.update(zeros, state, w, pre=0 * pre, post=post)
        >>> (dw > 0).tolist()
        [[True, False]]
    """
    step = functools.partial(_call, triplet_stdp_step, p=p, dt=dt, bound=bound)
    return plasticity_rule(step, triplet_stdp_state, pre_shape=pre_shape, post_shape=post_shape,
                           name="triplet_stdp")


def mstdp(p: MSTDPParameters = MSTDPParameters(), *, pre_shape, post_shape, dt: float = 1e-3,
          bound: Optional[Callable] = None):
    """MSTDP (:func:`~spikejax.functional.plasticity.mstdp_step`).

    ``update(updates, state, params, *, pre, post, reward)``; ``reward`` is a scalar or
    ``(B,)`` (for a pytree of weights: one per weight, with params' structure).

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.learn import mstdp
        >>> tx = mstdp(pre_shape=(1, 2), post_shape=(1, 1))
        >>> w = jnp.full((1, 2), 0.5)
        >>> state, zeros = tx.init(w), jnp.zeros_like(w)
        >>> pre, post = jnp.array([[1.0, 0.0]]), jnp.ones((1, 1))
        >>> _, state = tx.update(zeros, state, w, pre=pre, post=0 * post, reward=-1.0)
        >>> dw, state = tx.update(zeros, state, w, pre=0 * pre, post=post, reward=-1.0)
        >>> (dw < 0).tolist()        # pre before post, but punished: the synapse weakens
        [[True, False]]
    """
    step = functools.partial(_call, mstdp_step, p=p, dt=dt, bound=bound)
    return plasticity_rule(step, stdp_state, pre_shape=pre_shape, post_shape=post_shape,
                           extra_args=("reward",), name="mstdp")


def mstdpet(p: MSTDPParameters = MSTDPParameters(), *, pre_shape, post_shape, dt: float = 1e-3,
            bound: Optional[Callable] = None):
    """MSTDPET (:func:`~spikejax.functional.plasticity.mstdpet_step`); arguments as :func:`mstdp`.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.learn import mstdpet
        >>> tx = mstdpet(pre_shape=(1, 2), post_shape=(1, 1))
        >>> w = jnp.full((1, 2), 0.5)
        >>> state, zeros = tx.init(w), jnp.zeros_like(w)
        >>> pre, post = jnp.array([[1.0, 0.0]]), jnp.ones((1, 1))
        >>> _, state = tx.update(zeros, state, w, pre=pre, post=0 * post, reward=0.0)
        >>> _, state = tx.update(zeros, state, w, pre=0 * pre, post=post, reward=0.0)
        >>> dw, state = tx.update(zeros, state, w, pre=0 * pre, post=0 * post, reward=1.0)
        >>> (dw > 0).tolist()        # the reward comes after the pairing
        [[True, False]]
    """
    step = functools.partial(_call, mstdpet_step, p=p, dt=dt, bound=bound)
    return plasticity_rule(step, mstdpet_state, pre_shape=pre_shape, post_shape=post_shape,
                           extra_args=("reward",), name="mstdpet")


def _call(rule, pre, post, state, w, *, p, dt, **kwargs):
    return rule(pre, post, state, w, p, dt, **kwargs)


def _bounding(name: str, bound_fn: Callable, lower, upper) -> optax.GradientTransformation:
    if lower is None and upper is None:
        raise ValueError(f"{name} needs lower or upper (or both), got neither")
    check_bounds("lower", lower, "upper", upper)

    def update_fn(updates, state, params=None):
        _require_params(params, name)

        def one(u, w):
            pos, neg = _bounds.split_update(u)
            return bound_fn(w, pos, neg, w_min=lower, w_max=upper).astype(jnp.result_type(u))

        return jax.tree_util.tree_map(one, updates, params), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update_fn)


def bound_power(*, lower=None, upper=None, lower_power=1.0, upper_power=1.0):
    """Soft power bounds: ``u > 0`` scaled by ``(upper - w)**upper_power``, ``u < 0`` by
    ``(w - lower)**lower_power`` (Inferno's ``bound_power``).

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.learn import bound_power
        >>> tx = bound_power(lower=0.0, upper=1.0, upper_power=2.0)
        >>> w = jnp.array([0.0, 0.5, 1.0])
        >>> updates, _ = tx.update(jnp.full(3, 0.1), tx.init(w), w)
        >>> updates                  # 0.1 * (1 - w) ** 2
        Array([0.1  , 0.025, 0.   ], dtype=float32)
    """
    check_non_negative("upper_power", upper_power)
    check_non_negative("lower_power", lower_power)
    fn = functools.partial(_bounds.bound_power, upper_power=upper_power, lower_power=lower_power)
    return _bounding("bound_power", fn, lower, upper)


def bound_multiplicative(*, lower=None, upper=None):
    """Soft multiplicative bounds: ``u > 0`` scaled by ``upper - w``, ``u < 0`` by ``w - lower``.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.learn import bound_multiplicative
        >>> tx = bound_multiplicative(lower=0.0, upper=1.0)
        >>> w = jnp.array([0.0, 0.5, 1.0])
        >>> tx.update(jnp.full(3, 0.1), tx.init(w), w)[0]       # potentiation: times (1 - w)
        Array([0.1 , 0.05, 0.  ], dtype=float32)
        >>> tx.update(jnp.full(3, -0.1), tx.init(w), w)[0]      # depression: times w
        Array([ 0.  , -0.05, -0.1 ], dtype=float32)
    """
    return _bounding("bound_multiplicative", _bounds.bound_multiplicative, lower, upper)


def bound_sharp(*, lower=None, upper=None):
    """Hard bounds: no potentiation at or above ``upper``, no depression at or below ``lower``.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.learn import bound_sharp
        >>> tx = bound_sharp(lower=0.0, upper=1.0)
        >>> w = jnp.array([0.0, 0.5, 1.0])
        >>> tx.update(jnp.full(3, 0.1), tx.init(w), w)[0]       # none at the upper bound
        Array([0.1, 0.1, 0. ], dtype=float32)
    """
    return _bounding("bound_sharp", _bounds.bound_sharp, lower, upper)


def clamp(min=None, max=None):  # noqa: A002 - optax-style names for the bounds
    """The update that keeps ``params + updates`` in ``[min, max]`` (either may be ``None``).

    Example:
        >>> import jax.numpy as jnp, optax
        >>> from spikejax.learn import clamp
        >>> tx = clamp(min=0.0, max=1.0)
        >>> w = jnp.array([0.2, 0.9])
        >>> updates, _ = tx.update(jnp.array([-0.5, 0.5]), tx.init(w), w)
        >>> optax.apply_updates(w, updates)
        Array([0., 1.], dtype=float32)
    """
    if min is None and max is None:
        raise ValueError("clamp needs min or max (or both), got neither")
    check_bounds("min", min, "max", max)

    def update_fn(updates, state, params=None):
        _require_params(params, "clamp")

        def one(u, w):
            return _bounds.clamp_update(w, u, w_min=min, w_max=max).astype(jnp.result_type(u))

        return jax.tree_util.tree_map(one, updates, params), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update_fn)
