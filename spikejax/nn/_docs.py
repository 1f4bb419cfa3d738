"""Docstring templates of the modules that :func:`spikejax.nn.neuron_modules` generates."""

DOC = """{kind} {name} neuron ({what}).

The equations, units and defaults are in :mod:`{module}`. Parameters are a
:class:`{module}.{params}`; name fields in ``learnable`` to train them as ``nnx.Param``.

Args:
{args}    p: the neuron parameters (defaults: ``{params}()``).
    dt: integration step in seconds.
    learnable: parameter names to make trainable, e.g. ``("tau_mem_inv", "v_th")``.
    param_dtype: dtype of the learnable parameters{weights} (default float32).
    dtype: dtype of the neuron state and its arithmetic, to which the input, a given state and
        the array parameters{weights} are cast (Flax's ``dtype``); ``None`` (default): the
        input's dtype.
        ``jnp.float32`` keeps the state in float32 behind bfloat16 layers.
{detach}{extra}
Example:
    >>> import jax.numpy as jnp
    >>> from spikejax.nn import {cls}
    >>> module = {cls}({ctor})
    >>> out, state = module(jnp.ones({shape}))
    >>> out.shape
    {out_shape}
"""

RECURRENT_ARGS = """    input_size: features of the input.
    hidden_size: neurons in the layer.
"""
RECURRENT_EXTRA = """    autapses: allow self-connections; when ``False`` (default) the diagonal of the recurrent
        weights is zero and stays zero under training.
    input_weights: initial input weights ``(hidden, input)``; default normal with standard
        deviation ``sqrt(2 / hidden)``.
    recurrent_weights: initial recurrent weights ``(hidden, hidden)``; default normal with
        standard deviation ``sqrt(2 / hidden)``.
    rngs: ``nnx.Rngs`` for the initial weights (default ``nnx.Rngs(0)``).
"""
SEQUENCE_ARGS = """    unroll: time steps that the scan unrolls per loop iteration (``True``: all of them);
        faster on GPU, slower to compile (:func:`spikejax.functional.run`'s ``unroll``).
    remat: ``False`` (default) stores every step for the backward pass, ``True`` recomputes
        each step, an integer ``k`` keeps the state every ``k`` steps and recomputes the rest:
        memory for time (:func:`spikejax.functional.run`'s ``remat``).
    record_states: ``True`` returns the state after every step, stacked on a leading time
        axis, instead of the last state.
"""
SEQUENCE_CALL = """
Call it as ``module(inputs, state=None)`` with time-major ``inputs``, or as
``module(x, state=None, steps=T)`` to run ``T`` steps on a constant input ``x`` without a
time axis (faster than broadcasting ``x`` over time, notably for gradients on CPU).
"""
KERNEL_ARGS = """    implementation: ``"auto"`` (default), ``"pallas"`` or ``"scan"``. ``"pallas"`` runs the
        whole sequence as one fused kernel with a custom VJP (:mod:`spikejax.kernels`; in
        Pallas' interpreter without a GPU): the same numbers and gradients (inputs, state,
        learnable parameters), reverse mode only; ``unroll`` and ``remat`` do not apply.
        ``"auto"`` takes it on a GPU for models in :data:`spikejax.kernels.FUSED_MODELS`
        with float32/16 inputs, and the scan for ``steps=``, ``record_states`` and elsewhere.
"""
