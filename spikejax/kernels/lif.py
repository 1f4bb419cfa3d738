r"""Whole-sequence LIF-family neurons: one fused GPU kernel, or the scan, with the same numbers.

:func:`lif_sequence` runs a feed-forward LIF neuron over input currents ``(T, B, N)`` and returns
the spikes ``(T, B, N)`` and the final state. The equations are those of
:func:`spikejax.functional.lif_feed_forward_step` (Norse 1.1: the input current jumps, then
:math:`v` and :math:`i` are integrated, then the neuron spikes and resets):

.. math::
    \begin{aligned}
        i_j &= i_t + x_t, \qquad
        u = v_t + \Delta t\, \tau_{\text{mem}}^{-1} ((v_{\text{leak}} - v_t) + i_j), \qquad
        i_{t+1} = i_j - \Delta t\, \tau_{\text{syn}}^{-1} i_j \\
        z_t &= \Theta(u - v_{\text{th}}), \qquad
        v_{t+1} = (1 - z_t)\, u + z_t\, v_{\text{reset}}
    \end{aligned}

The input projection is hoisted out of the time loop: compute the currents of all steps with
one matmul, then call this. Units and defaults are Norse's (``dt=1e-3`` s, ``tau_syn_inv=200``,
``tau_mem_inv=100``, ``v_th=1``, ``method="super"``, ``alpha=100``).

``implementation`` picks how:

* ``"scan"``: :func:`spikejax.functional.run` over the model's feed-forward step.
* ``"pallas"``: one Pallas kernel (a grid over blocks of ``block`` neurons, each running the
  whole time loop with the state in registers) and a second kernel for the backward pass, tied
  by ``jax.custom_vjp`` (see :mod:`spikejax.kernels._fused` for what is saved). On a machine
  without a GPU it runs in Pallas' interpreter (slow, exact; for tests).
* ``"auto"`` (default): ``"pallas"`` when compiling for a GPU, for floating inputs of 16 or 32
  bits, the scan everywhere else (and for options the kernel cannot run, see
  :func:`select_implementation`). Where the kernel does not lower for the GPU at hand (a
  surrogate written with an operation Triton lacks, say), ``"auto"`` takes the scan and warns
  once with a :class:`KernelFallbackWarning` that says why. The sequence modules of
  :mod:`spikejax.nn` follow the same decision.

On several devices: where the batch axis of the currents is split over a mesh (data-parallel
training with :func:`spikejax.train.data_parallel`, or any ``jit`` of arrays on a mesh), the
kernel runs on each device's rows inside ``jax.shard_map``, forward and backward, instead of
XLA gathering the whole batch onto every device for an opaque kernel call (see
:mod:`spikejax.kernels._sharded`). A batch that does not divide by the devices runs whole.

The kernel computes in float32 for every input dtype: bfloat16 and float16 currents are cast
to float32 as they are loaded and the results rounded back as they are stored, so a bfloat16
kernel call equals the float32 scan of the same inputs rounded to bfloat16 (the bfloat16 scan,
which rounds every step, drifts from both). The GPU it compiles for is the abstract device of
:func:`jax.sharding.use_abstract_mesh` when one is set (an export for CUDA from a CPU machine),
else the default backend's.

Both give the same spikes and, up to float rounding, the same states and gradients, for the
currents, the initial state, and array-valued parameters (learnable ones, say). Python-number
parameters are constants, as in the scan. The kernel has reverse-mode gradients only
(``jax.grad``, ``jax.vjp``); forward mode (``jax.jvp``) needs ``implementation="scan"``.

:func:`lif_box_sequence`, :func:`iaf_sequence` and :func:`li_sequence` do the same for LIFBox,
IAF and the leaky integrator, :func:`~spikejax.kernels.lsnn_sequence` and
:func:`~spikejax.kernels.alif_sequence` for the adaptive-threshold neurons;
:func:`neuron_sequence` for any model in :data:`FUSED_MODELS` given its model.

Example:
    >>> import jax.numpy as jnp
    >>> from spikejax.kernels import lif_sequence
    >>> spikes, state = lif_sequence(jnp.ones((9, 1, 3)))
    >>> spikes[:, 0, 0]
    Array([0., 0., 0., 0., 0., 1., 0., 0., 1.], dtype=float32)
    >>> state.v
    Array([[0., 0., 0.]], dtype=float32)
    >>> kernel_spikes, _ = lif_sequence(jnp.ones((9, 1, 3)), implementation="pallas")
    >>> bool((kernel_spikes == spikes).all())      # interpreted here: no GPU
    True
"""

from __future__ import annotations

import inspect
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np

from ..functional._model import NeuronModel, check_dt
from ..functional._validate import check_int, check_min_rank, check_state
from ..functional.iaf import IAF_MODEL, IAFParameters
from ..functional.integrate import run
from ..functional.leaky_integrator import LI_MODEL, LIParameters
from ..functional.lif import LIF_MODEL, LIFParameters
from ..functional.lif_box import LIF_BOX_MODEL, LIFBoxParameters
from ._fused import _is_static_scalar, _param_name, fused_sequence
from ._select import (  # noqa: F401  (re-exported)
    FUSED_MODELS,
    IMPLEMENTATIONS,
    KernelFallbackWarning,
    _check_implementation,
    _choose,
    _kernel_obstacle,
    select_implementation,
)
from ._sharded import per_shard
from ._target import gpu_target

__all__ = [
    "FUSED_MODELS",
    "IMPLEMENTATIONS",
    "KernelFallbackWarning",
    "neuron_sequence",
    "lif_sequence",
    "lif_box_sequence",
    "iaf_sequence",
    "li_sequence",
    "select_implementation",
]

def neuron_sequence(
    model: NeuronModel,
    currents: jax.Array,
    state0: Any = None,
    p: Any = None,
    dt: Any = 1e-3,
    *,
    implementation: str = "auto",
    interpret: Optional[bool] = None,
    block: Optional[int] = None,
    checkpoint_every: int = 8,
    unroll: int | bool = 1,
    **options,
) -> tuple[jax.Array, Any]:
    """Run ``model``'s feed-forward step over ``currents`` ``(T, B, ...)``; one kernel on a GPU.

    Args:
        model: a :class:`~spikejax.functional.NeuronModel`; the kernel exists for those in
            :data:`FUSED_MODELS`, others always take the scan.
        currents: the input of every step, time-major ``(T, B, N)`` (any trailing shape).
        state0: the initial feed-forward state (leaves of shape ``currents.shape[1:]``, or
            scalars), or ``None`` for the rest state.
        p: the model's parameters (``None``: its defaults).
        dt: the integration step in seconds.
        implementation: ``"auto"``, ``"pallas"`` or ``"scan"`` (see the module docs).
        interpret: run the kernel in Pallas' interpreter; ``None`` does so unless compiling
            for a GPU (see :func:`select_implementation`). Ignored by the scan.
        block: neurons per kernel program, a power of two (Triton's requirement); ``None``
            picks one that gives about one program per core of the GPU (128 to 512, see
            ``spikejax.kernels._target.auto_block``). Shapes whose neuron count is not a
            multiple are padded, which costs one copy of the currents.
        checkpoint_every: the kernel's backward pass keeps the state every this many steps and
            recomputes the steps in between (register pressure grows with it).
        unroll: passed to :func:`~spikejax.functional.run` by the scan.
        **options: keyword options of the model's step (``detach_reset``; for ALIF also
            ``adapt`` and ``share_theta``, whose ``True`` the kernel cannot run).

    Returns:
        ``(outputs, final_state)``: outputs ``(T, B, ...)`` (spikes, or the membrane for LI) and
        the model's feed-forward state after the last step.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.kernels import FUSED_MODELS, neuron_sequence
        >>> sorted(FUSED_MODELS)
        ['ALIF', 'IAF', 'LI', 'LIF', 'LIFBox', 'LSNN']
        >>> spikes, state = neuron_sequence(FUSED_MODELS["LIF"], jnp.ones((9, 1, 3)))
        >>> spikes[:, 0, 0]                            # the scan here: no GPU
        Array([0., 0., 0., 0., 0., 1., 0., 0., 1.], dtype=float32)
    """
    if p is None:
        p = model.parameters()
    _check_arguments(model, currents, p, dt, implementation, interpret, block, checkpoint_every)
    _check_options(model, options)
    shape = tuple(currents.shape[1:])
    rest = model.feed_forward_state(shape, p, currents.dtype)
    if state0 is None:
        state0 = rest
    else:
        _check_state0(model, state0, rest, shape)
        # Scalar leaves would change the scan's carry shape after one step: broadcast them.
        state0 = jax.tree_util.tree_map(
            lambda a: jnp.broadcast_to(jnp.asarray(a, currents.dtype), shape), state0
        )
    _check_implementation(implementation)
    if implementation == "auto":
        # A kernel run in the interpreter needs no GPU lowering.
        chosen = _choose(model, currents, options, p, dt, block=block,
                         checkpoint_every=checkpoint_every, check_lowering=interpret is not True)
    else:
        chosen = implementation

    def scan():
        step = lambda x, s: model.feed_forward_step(x, s, p, dt, **options)
        final, outputs = run(step, state0, currents, unroll=unroll)
        return outputs, final

    if chosen == "scan":
        return scan()
    obstacle = _kernel_obstacle(model, currents, options)
    if obstacle is not None:
        error, message = obstacle
        raise error(message)
    on_gpu = gpu_target() is not None
    if interpret is None:
        interpret = not on_gpu
    elif not interpret and not on_gpu:
        raise ValueError(
            f"interpret=False compiles the kernel for a GPU, but the default backend is "
            f"{jax.default_backend()!r} and no abstract GPU device is set "
            f"(jax.sharding.use_abstract_mesh); expected interpret=None or True here"
        )

    def check_param(name, value):
        try:
            np.broadcast_shapes(value.shape, shape)
        except ValueError:
            raise ValueError(
                f"{name} has shape {tuple(value.shape)}, which does not broadcast to the "
                f"neurons {shape} (currents.shape[1:]) of implementation='pallas'"
            ) from None
        if np.broadcast_shapes(value.shape, shape) != shape:
            raise ValueError(
                f"{name} has shape {tuple(value.shape)}, which would broadcast the neurons "
                f"{shape} (currents.shape[1:]) to {np.broadcast_shapes(value.shape, shape)}"
            )

    # Checked on the whole batch: the kernel below may see one device's rows of it.
    for path, leaf in jax.tree_util.tree_flatten_with_path((p, dt))[0]:
        if not _is_static_scalar(leaf):
            check_param(_param_name(path), jnp.asarray(leaf))

    def kernel(currents, state0, p, dt):
        return fused_sequence(
            model.feed_forward_step, currents, state0, p, dt, options,
            block=block, checkpoint_every=checkpoint_every, interpret=interpret,
        )

    # On a batch split over devices, one kernel per device (see spikejax.kernels._sharded).
    return per_shard(kernel, currents, state0, p, dt)


def lif_sequence(
    currents: jax.Array,
    state0: Any = None,
    p: LIFParameters = LIFParameters(),
    dt: Any = 1e-3,
    *,
    detach_reset: bool = False,
    implementation: str = "auto",
    interpret: Optional[bool] = None,
    block: Optional[int] = None,
    checkpoint_every: int = 8,
    unroll: int | bool = 1,
):
    """A feed-forward LIF neuron over the currents ``(T, B, N)``: ``(spikes, LIFFeedForwardState)``.

    ``detach_reset`` stops the gradient through the spike in the reset (Norse's feed-forward
    step does not: ``False``). The other arguments are those of :func:`neuron_sequence`.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.kernels import lif_sequence
        >>> spikes, state = lif_sequence(jnp.ones((9, 1, 3)))
        >>> spikes[:, 0, 0]
        Array([0., 0., 0., 0., 0., 1., 0., 0., 1.], dtype=float32)
        >>> state.v.shape, state.i.shape
        ((1, 3), (1, 3))
    """
    _check_bool("detach_reset", detach_reset)
    return neuron_sequence(
        LIF_MODEL, currents, state0, p, dt, detach_reset=detach_reset,
        implementation=implementation, interpret=interpret, block=block,
        checkpoint_every=checkpoint_every, unroll=unroll,
    )


def lif_box_sequence(
    currents: jax.Array,
    state0: Any = None,
    p: LIFBoxParameters = LIFBoxParameters(),
    dt: Any = 1e-3,
    *,
    detach_reset: bool = False,
    implementation: str = "auto",
    interpret: Optional[bool] = None,
    block: Optional[int] = None,
    checkpoint_every: int = 8,
    unroll: int | bool = 1,
):
    """A feed-forward boxed LIF neuron (:mod:`spikejax.functional.lif_box`) over ``(T, B, N)``.

    Returns ``(spikes, LIFBoxFeedForwardState)``; arguments as :func:`lif_sequence`.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.kernels import lif_box_sequence
        >>> spikes, state = lif_box_sequence(jnp.full((9, 1, 2), 3.0))
        >>> spikes[:, 0, 0]
        Array([0., 0., 0., 1., 0., 0., 0., 1., 0.], dtype=float32)
    """
    _check_bool("detach_reset", detach_reset)
    return neuron_sequence(
        LIF_BOX_MODEL, currents, state0, p, dt, detach_reset=detach_reset,
        implementation=implementation, interpret=interpret, block=block,
        checkpoint_every=checkpoint_every, unroll=unroll,
    )


def iaf_sequence(
    currents: jax.Array,
    state0: Any = None,
    p: IAFParameters = IAFParameters(),
    dt: Any = 1e-3,
    *,
    detach_reset: bool = False,
    implementation: str = "auto",
    interpret: Optional[bool] = None,
    block: Optional[int] = None,
    checkpoint_every: int = 8,
    unroll: int | bool = 1,
):
    """A feed-forward integrate-and-fire neuron (:mod:`spikejax.functional.iaf`) over ``(T, B, N)``.

    Returns ``(spikes, IAFFeedForwardState)``; arguments as :func:`lif_sequence`.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.kernels import iaf_sequence
        >>> spikes, state = iaf_sequence(jnp.ones((6, 1, 2)))
        >>> spikes[:, 0, 0]
        Array([0., 1., 0., 1., 0., 1.], dtype=float32)
    """
    _check_bool("detach_reset", detach_reset)
    return neuron_sequence(
        IAF_MODEL, currents, state0, p, dt, detach_reset=detach_reset,
        implementation=implementation, interpret=interpret, block=block,
        checkpoint_every=checkpoint_every, unroll=unroll,
    )


def li_sequence(
    currents: jax.Array,
    state0: Any = None,
    p: LIParameters = LIParameters(),
    dt: Any = 1e-3,
    *,
    implementation: str = "auto",
    interpret: Optional[bool] = None,
    block: Optional[int] = None,
    checkpoint_every: int = 8,
    unroll: int | bool = 1,
):
    """A leaky integrator (:mod:`spikejax.functional.leaky_integrator`) over ``(T, B, N)``.

    Returns ``(membrane (T, B, N), LIState)``; arguments as :func:`lif_sequence`.

    Example:
        >>> import jax.numpy as jnp
        >>> from spikejax.kernels import li_sequence
        >>> v, state = li_sequence(jnp.ones((3, 1, 2)))
        >>> v[:, 0, 0]                                 # no spikes: the membrane itself
        Array([0.1  , 0.27 , 0.487], dtype=float32)
    """
    return neuron_sequence(
        LI_MODEL, currents, state0, p, dt, implementation=implementation, interpret=interpret,
        block=block, checkpoint_every=checkpoint_every, unroll=unroll,
    )


def _check_bool(name: str, value) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__} {value!r}")


def _check_arguments(model, currents, p, dt, implementation, interpret, block, checkpoint_every):
    check_min_rank("currents", currents, 2, "(T, B, N)")
    if not jnp.issubdtype(currents.dtype, jnp.floating):
        raise TypeError(f"currents must have a floating dtype, got {currents.dtype}")
    if currents.shape[0] == 0:
        raise ValueError(
            f"currents has an empty time axis: shape {tuple(currents.shape)}; expected T >= 1"
        )
    if not isinstance(p, model.parameters):
        raise TypeError(
            f"p must be a {model.parameters.__name__} for the {model.name} model, "
            f"got {type(p).__name__}"
        )
    check_dt(dt)
    _check_implementation(implementation)
    if interpret is not None:
        _check_bool("interpret", interpret)
    if block is None:
        pass
    elif check_int("block", block) < 1 or block & (block - 1):
        raise ValueError(f"block must be a power of two (neurons per kernel program), got {block}")
    check_int("checkpoint_every", checkpoint_every)


def _check_options(model, options) -> None:
    accepted = inspect.signature(model.feed_forward_step).parameters
    for name in options:
        if name not in accepted or accepted[name].kind != inspect.Parameter.KEYWORD_ONLY:
            known = [k for k, v in accepted.items() if v.kind == inspect.Parameter.KEYWORD_ONLY]
            raise TypeError(
                f"{name} is not an option of the {model.name} model's feed_forward_step; "
                f"expected some of {known}"
            )


def _check_state0(model, state0, rest, shape) -> None:
    if jax.tree_util.tree_structure(state0) != jax.tree_util.tree_structure(rest):
        raise TypeError(
            f"state0 must be a {type(rest).__name__} (the {model.name} model's feed-forward "
            f"state) or None, got {type(state0).__name__}"
        )
    check_state("state0", state0, shape, "currents.shape[1:]")
