"""What the plasticity rules share: spike/weight checks, pre-post correlations, batch reduction.

A rule sees presynaptic spikes ``pre`` and postsynaptic spikes ``post`` for one time step and
a weight ``w``. Two layouts are supported, both as in Norse and PyTorch:

* dense: ``w`` is ``(post, pre)`` (``torch.nn.Linear``), spikes are ``(B, pre)`` and
  ``(B, post)`` (or unbatched ``(pre,)`` and ``(post,)``);
* conv2d: ``w`` is ``(C_out, C_in, kh, kw)``, spikes are ``(B, C_in, H, W)`` and
  ``(B, C_out, H', W')`` (NCHW), with ``H'`` and ``W'`` given by stride, padding and dilation.

The core operation is the correlation :math:`\\sum_k a_{b,i,k}\\, c_{b,j,k}` of a postsynaptic
quantity ``a`` (spikes or a trace) with a presynaptic one ``c``, for every synapse ``(i, j)``
and batch entry ``b``; for conv2d the presynaptic side is first unfolded into patches (what
``torch.nn.functional.unfold`` does in Norse's ``stdp_step_conv2d``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

import numpy as np

from .._validate import check_array, check_int, is_concrete

REDUCTIONS = ("sum", "mean", "max")

_HIGHEST = jax.lax.Precision.HIGHEST


class Geometry(NamedTuple):
    """How a weight connects two layers: dense, or a 2-D convolution with its options."""

    convolutional: bool = False
    stride: int = 1
    padding: int = 0
    dilation: int = 1


def geometry_of(p: Any) -> Geometry:
    """The :class:`Geometry` named by a parameter object's static fields (dense if absent)."""
    return Geometry(
        bool(getattr(p, "convolutional", False)),
        int(getattr(p, "stride", 1)),
        int(getattr(p, "padding", 0)),
        int(getattr(p, "dilation", 1)),
    )


def check_choice(name: str, value: Any, choices) -> None:
    """``ValueError`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")


def check_finite_fields(params: Any) -> None:
    """``ValueError`` naming the field if a concrete parameter has a NaN or infinite entry.

    A NaN learning rate or time constant would otherwise turn every weight into NaN without a
    word; traced values (under ``jit``) are not checked.
    """
    cls = type(params).__name__
    for field in dataclasses.fields(params):
        value = getattr(params, field.name)
        if not is_concrete(value):
            continue
        array = np.asarray(value)
        if array.dtype.kind in "fc" and not np.all(np.isfinite(array)):
            shown = array.tolist() if array.size <= 6 else f"an array of shape {array.shape}"
            raise ValueError(f"{cls}.{field.name} must be finite, got {shown}")


def check_finite_bound(name: str, value: Any) -> None:
    """``ValueError`` if a concrete weight bound has a NaN or infinite entry (``None`` is no bound)."""
    if value is None or not is_concrete(value):
        return
    array = np.asarray(value)
    if not np.all(np.isfinite(array)):
        shown = array.tolist() if array.size <= 6 else f"an array of shape {array.shape}"
        raise ValueError(f"{name} must be finite (None for no bound), got {shown}")


def check_geometry(cls: str, g: Geometry) -> None:
    check_int(f"{cls}.stride", g.stride, 1)
    check_int(f"{cls}.padding", g.padding, 0)
    check_int(f"{cls}.dilation", g.dilation, 1)


def check_bounds(lower_name: str, lower: Any, upper_name: str, upper: Any) -> None:
    """``ValueError`` if a concrete bound is not finite, or both are and some ``upper <= lower``."""
    check_finite_bound(lower_name, lower)
    check_finite_bound(upper_name, upper)
    if lower is None or upper is None or not (is_concrete(lower) and is_concrete(upper)):
        return
    if not np.all(np.asarray(upper) > np.asarray(lower)):
        raise ValueError(
            f"{upper_name} must be greater than {lower_name}, got {lower_name}={lower!r} and "
            f"{upper_name}={upper!r}"
        )


def conv_output_hw(hw, kernel, g: Geometry):
    return tuple(
        (size + 2 * g.padding - g.dilation * (k - 1) - 1) // g.stride + 1
        for size, k in zip(hw, kernel)
    )


def spike_shapes(w_shape, pre_shape, g: Geometry) -> tuple[tuple, tuple]:
    """The expected ``(pre, post)`` shapes for ``w_shape`` and the batch of ``pre_shape``."""
    if g.convolutional:
        batch = tuple(pre_shape[:-3])
        post_hw = conv_output_hw(pre_shape[-2:], w_shape[2:], g)
        return batch + (w_shape[1],) + tuple(pre_shape[-2:]), batch + (w_shape[0],) + post_hw
    batch = tuple(pre_shape[:-1])
    return batch + (w_shape[1],), batch + (w_shape[0],)


def check_spikes(pre: Any, post: Any, w: Any, g: Geometry) -> None:
    """Check ``pre``, ``post`` and ``w`` against each other for the layout ``g``."""
    check_array("pre", pre)
    check_array("post", post)
    check_array("w", w)
    if g.convolutional:
        if w.ndim != 4:
            raise ValueError(
                f"w must have rank 4 with layout (C_out, C_in, kh, kw) for a convolutional rule, "
                f"got shape {tuple(w.shape)}"
            )
        ranks, layout = (3, 4), "(B, C_in, H, W) or (C_in, H, W)"
    else:
        if w.ndim != 2:
            raise ValueError(
                f"w must have rank 2 with layout (post, pre), got shape {tuple(w.shape)}"
            )
        ranks, layout = (1, 2), "(B, pre) or (pre,)"
    if pre.ndim not in ranks:
        raise ValueError(f"pre must have layout {layout}, got shape {tuple(pre.shape)}")
    if pre.ndim == ranks[1] and pre.shape[0] == 0:
        # A "mean" over no entries is NaN and would silently poison every weight.
        raise ValueError(
            f"pre has shape {tuple(pre.shape)}: an empty batch (B = 0), expected at least one "
            "batch entry"
        )
    if g.convolutional:
        small = conv_output_hw(pre.shape[-2:], w.shape[2:], g)
        if min(small) < 1:
            raise ValueError(
                f"pre has spatial shape {tuple(pre.shape[-2:])}, too small for the kernel "
                f"{tuple(w.shape[2:])} with stride {g.stride}, padding {g.padding}, "
                f"dilation {g.dilation}"
            )
    want_pre, want_post = spike_shapes(w.shape, pre.shape, g)
    if tuple(pre.shape) != want_pre:
        raise ValueError(
            f"pre has shape {tuple(pre.shape)}, expected {want_pre} (the input size of w "
            f"{tuple(w.shape)})"
        )
    if tuple(post.shape) != want_post:
        raise ValueError(
            f"post has shape {tuple(post.shape)}, expected {want_post} (the batch of pre "
            f"{tuple(pre.shape)} and the output size of w {tuple(w.shape)})"
        )


def check_trace_state(state, pre, post, fields=("t_pre", "t_post")) -> None:
    """Each trace of ``state`` must have the shape of the spikes it follows."""
    for field, spikes, name in zip(fields, (pre, post), ("pre", "post")):
        trace = getattr(state, field)
        if tuple(jnp.shape(trace)) != tuple(spikes.shape):
            raise ValueError(
                f"state.{field} has shape {tuple(jnp.shape(trace))}, expected "
                f"{tuple(spikes.shape)} (the shape of {name})"
            )


def with_batch(x: jax.Array, g: Geometry) -> jax.Array:
    """``x`` with a leading batch axis (unbatched spikes become a batch of one)."""
    unbatched = 3 if g.convolutional else 1
    return x[None] if x.ndim == unbatched else x


def unfold(x: jax.Array, kernel, g: Geometry) -> jax.Array:
    """``(B, C, H, W)`` to patches ``(B, C*kh*kw, L)``: ``torch.nn.functional.unfold``."""
    patches = jax.lax.conv_general_dilated_patches(
        x,
        filter_shape=tuple(kernel),
        window_strides=(g.stride, g.stride),
        padding=((g.padding, g.padding), (g.padding, g.padding)),
        rhs_dilation=(g.dilation, g.dilation),
        dimension_numbers=("NCHW", "OIHW", "NCHW"),
        precision=_HIGHEST,
    )
    return patches.reshape(patches.shape[0], patches.shape[1], -1)


def correlate_batched(post_like: jax.Array, pre_like: jax.Array, w_shape, g: Geometry):
    """Per batch entry ``b``: ``out[b, i, j] = sum_k post_like[b, i, k] * pre_like[b, j, k]``.

    ``post_like`` and ``pre_like`` are batched (see :func:`with_batch`); the result is
    ``(B, *w_shape)``.
    """
    if not g.convolutional:
        return jnp.einsum("bi,bj->bij", post_like, pre_like, precision=_HIGHEST)
    pre_uf = unfold(pre_like, w_shape[2:], g)
    post_flat = post_like.reshape(post_like.shape[0], post_like.shape[1], -1)
    out = jnp.einsum("bik,bjk->bij", post_flat, pre_uf, precision=_HIGHEST)
    return out.reshape((out.shape[0],) + tuple(w_shape))


def reduce_batch(x: jax.Array, reduction: str) -> jax.Array:
    """Reduce the leading batch axis with ``"sum"``, ``"mean"`` or ``"max"``."""
    if reduction == "sum":
        return jnp.sum(x, axis=0)
    if reduction == "mean":
        return jnp.mean(x, axis=0)
    return jnp.max(x, axis=0)


def correlate(post_like, pre_like, w_shape, g: Geometry, reduction: str = "sum") -> jax.Array:
    """:func:`correlate_batched` reduced over the batch (``"sum"`` is Norse's einsum).

    Sums and means contract the batch inside the einsum, so no ``(B, *w_shape)`` array is made.
    """
    if reduction == "max":
        return jnp.max(correlate_batched(post_like, pre_like, w_shape, g), axis=0)
    if g.convolutional:
        pre_uf = unfold(pre_like, w_shape[2:], g)
        post_flat = post_like.reshape(post_like.shape[0], post_like.shape[1], -1)
        out = jnp.einsum("bik,bjk->ij", post_flat, pre_uf, precision=_HIGHEST)
        out = out.reshape(tuple(w_shape))
    else:
        out = jnp.einsum("bi,bj->ij", post_like, pre_like, precision=_HIGHEST)
    return out / post_like.shape[0] if reduction == "mean" else out


def float_dtype(x: jax.Array):
    """The dtype traces take for spikes ``x``: its own if floating, else float32."""
    return x.dtype if jnp.issubdtype(x.dtype, jnp.floating) else jnp.float32


def split_signed(*terms: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Potentiation and depression magnitudes ``(pos, neg)`` of a sum of signed terms.

    Each term is split by sign element-wise, so ``pos - neg == sum(terms)``, ``pos, neg >= 0``.
    """
    pos = sum(jnp.maximum(t, 0) for t in terms)
    neg = sum(jnp.maximum(-t, 0) for t in terms)
    return pos, neg


def apply_bound(bound, w: jax.Array, pos: jax.Array, neg: jax.Array) -> jax.Array:
    """``bound(w, pos, neg)``, or the unbounded ``pos - neg`` when ``bound`` is ``None``."""
    return pos - neg if bound is None else bound(w, pos, neg)
