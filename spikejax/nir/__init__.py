r"""Exchange networks with other SNN libraries and neuromorphic hardware through NIR.

`NIR <https://neuroir.org>`_ (the Neuromorphic Intermediate Representation) describes a network
as a graph of nodes (``nir.Affine``, ``nir.Conv2d``, ``nir.LIF``, ...) whose neurons are
continuous-time equations. :func:`to_nir` writes a spikejax model as a ``nir.NIRGraph``;
:func:`from_nir` builds spikejax modules from one; ``nir.write`` and ``nir.read`` store graphs
in HDF5 files.

Example:
    >>> import jax, jax.numpy as jnp
    >>> from flax import nnx
    >>> from spikejax.nir import from_nir, to_nir
    >>> from spikejax.nn import LICell, LIFCell, Lift, SequentialState
    >>> rngs = nnx.Rngs(0)
    >>> model = SequentialState(
    ...     nnx.Linear(4, 8, rngs=rngs), LIFCell(), nnx.Linear(8, 2, rngs=rngs), LICell()
    ... )
    >>> graph = to_nir(model, jnp.zeros((1, 4)))          # one time step (B, ...)
    >>> [type(graph.nodes[k]).__name__ for k in "0123"]
    ['Affine', 'CubaLIF', 'Affine', 'CubaLI']
    >>> copy = from_nir(graph)
    >>> xs = jax.random.uniform(jax.random.key(1), (20, 3, 4))    # (T, B, N)
    >>> bool(jnp.allclose(Lift(copy)(xs)[0], Lift(model)(xs)[0], atol=1e-5))
    True

What maps to what:

.. list-table::
   :header-rows: 1
   :widths: 45 55

   * - spikejax module
     - NIR node
   * - ``nnx.Linear``
     - ``Affine`` (``Linear`` without a bias)
   * - ``nnx.Conv`` (1-d, 2-d)
     - ``Conv1d``, ``Conv2d``
   * - :class:`Flatten`, :class:`SumPool2d`, :class:`AvgPool2d`, :class:`Scale`,
       :class:`Threshold`
     - ``Flatten``, ``SumPool2d``, ``AvgPool2d``, ``Scale``, ``Threshold``
   * - ``LIFCell`` (current-based LIF)
     - ``CubaLIF``
   * - ``LIFBoxCell`` (``reset_mechanism="value"``)
     - ``LIF``
   * - ``LICell``
     - ``CubaLI``; ``LI`` when ``tau_syn_inv = 1 / dt``
   * - ``IAFCell``
     - ``IF``
   * - ``LeakyCell`` (snnTorch's ``Leaky``; ``reset_mechanism="zero"``, ``reset_delay=False``)
     - ``LIF`` as snnTorch writes it: ``tau = dt / (1 - beta)``, ``r = tau / dt``; read back as
       ``LIFBox``, or as ``Leaky`` with ``from_nir(..., snntorch=True)``
   * - ``SynapticCell`` (snnTorch's ``Synaptic``; the same reset)
     - ``CubaLIF`` as snnTorch writes it: ``tau_syn = dt / (1 - alpha_syn)``, ``tau_mem = dt /
       (1 - beta)``, ``r = tau_mem / dt``, ``w_in = tau_syn / dt``; read back as ``LIF``, or as
       ``Synaptic`` with ``snntorch=True``
   * - ``LIFRecurrentCell``, ``LIFBoxRecurrentCell``, ``IAFRecurrentCell``
     - a ``NIRGraph``: ``Linear`` (input weights) into the neuron, which feeds itself through a
       ``Linear`` (recurrent weights)
   * - ``LeakyRecurrentCell`` (``RLeaky``), ``SynapticRecurrentCell`` (``RSynaptic``)
     - as snnTorch's exporter leaves them, in the enclosing graph: ``{name}_w_in`` (``Linear``)
       into ``{name}.lif`` (``LIF``, ``CubaLIF``) in a cycle with ``{name}.w_rec`` (``Linear``),
       the cycle snnTorch's ``import_from_nir`` turns into ``RLeaky`` / ``RSynaptic``
   * - ``LILinearCell``
     - ``Linear`` then ``CubaLI``
   * - ``AxonalDelay``, ``AxonalDelayCell``; ``DelayedLinear``
     - ``Delay`` (``steps * dt`` seconds); ``Linear`` (a copy per synapse), ``Delay``, ``Linear``
   * - ``SequentialState``, ``Lift``; :class:`Graph`
     - a chain of nodes; any graph
   * - ``LSNN``, ``ALIF``, ``CobaLIF``, ``Izhikevich``, ``LIFRefrac``, ``LIFEx``, ``LIFAdEx``
       (cells, recurrent cells, layers)
     - none in NIR 1.0 (no adaptive threshold, conductance, quadratic or exponential membrane,
       refractory period): a ``TypeError`` naming the model, ``nir.__version__`` and the
       closest node (``CubaLIF`` for LSNN, CobaLIF, LIFRefrac, LIFEx, LIFAdEx; ``LIF`` for
       ALIF and Izhikevich) and what it drops

The sequence forms (``LIF``, ``LIFRecurrent``, ...) are written as the step they scan. Other
modules and nodes (``nir.I``, a ``LearnableDelayedLinear`` before ``to_fixed()``, ...) raise a
``TypeError`` naming their type. Surrogate gradients, ``detach_reset`` and ``learnable`` are not
part of NIR: export drops them, and :func:`from_nir` takes ``method`` and ``alpha`` for every
spiking neuron.

**Equations.** A NIR neuron is an ODE in time constants :math:`\tau` (seconds for Norse,
snnTorch and Rockpool; NIR's documentation says ms, so give ``dt`` in the unit of the graph).
spikejax integrates with one forward-Euler step of ``dt`` and inverse time constants
``tau_*_inv`` :math:`= 1/\tau` (1/s). With :math:`I_t` the input of step :math:`t` (the sum over
the node's incoming edges), the current is updated first and the membrane sees the new current,
as Norse's and snnTorch's importers and spikejax's LIF do:

.. math::
    \begin{aligned}
    \text{CubaLIF:}\quad i_t &= i_{t-1} + \tfrac{dt}{\tau_\text{syn}} (-i_{t-1} + w_\text{in} I_t),
        \quad v_t = v_{t-1} + \tfrac{dt}{\tau_\text{mem}} (v_\text{leak} - v_{t-1} + r\, i_t) \\
    \text{LIF:}\quad v_t &= v_{t-1} + \tfrac{dt}{\tau} (v_\text{leak} - v_{t-1} + r I_t) \qquad
    \text{IF:}\quad v_t = v_{t-1} + dt\, r I_t
    \end{aligned}

then :math:`z_t = \Theta(v_t - v_\text{threshold})` (strictly above) and :math:`v_t \leftarrow
v_\text{reset}` where :math:`z_t = 1`; CubaLI and LI are CubaLIF and LIF without the threshold
(their output is :math:`v_t`), ``Threshold`` is :math:`\Theta(I_t - \theta)`. spikejax's steps
are these equations with unit resistance and the input added as it comes (``LIF``: :math:`i
\mathrel{+}= x`; ``LIFBox``: :math:`v` moves towards :math:`v_\text{leak} + x`; ``IAF``:
:math:`v \mathrel{+}= x`), so the NIR input reaches spikejax through an elementwise gain
:math:`x = g I`:

* ``CubaLIF`` (``CubaLI``) is ``LIF`` (``LI``) with ``tau_syn_inv = 1 / tau_syn``,
  ``tau_mem_inv = 1 / tau_mem``, ``v_leak``, ``v_th = v_threshold``, ``v_reset``, and gain
  :math:`g = w_\text{in} r\, dt / \tau_\text{syn}`; :func:`to_nir` writes :math:`r = 1` and
  :math:`w_\text{in} = g \tau_\text{syn} / dt` (5 for the default LIF at ``dt = 1e-3``).
* ``LIF`` is ``LIFBox`` with ``tau_mem_inv = 1 / tau`` and gain :math:`g = r`.
* ``LI`` is ``LI`` with ``tau_syn_inv = 1 / dt`` (a synapse that empties within one step, so
  only this step's input reaches the membrane) and gain :math:`g = r`.
* ``IF`` is ``IAF`` with gain :math:`g = dt\, r`; :func:`to_nir` writes :math:`r = g / dt`.

:func:`from_nir` puts a :class:`Scale` of :math:`g` before the cell unless :math:`g = 1`;
:func:`to_nir` folds a :class:`Scale` just before a cell back into :math:`w_\text{in}` or
:math:`r`. Neurons start at spikejax's rest state (:math:`v = v_\text{leak}`, or
:math:`v_\text{reset}` for IF, and :math:`i = 0`); parameters with one value for all neurons
become Python floats.

**Layout.** NIR, like PyTorch, lays samples out channels first, ``(C, H, W)``; spikejax and Flax
channels last, ``(B, H, W, C)``. Conversion happens at the boundary: kernels ``(kh, kw, in,
out)`` become weights ``(out, in, kh, kw)``, per-neuron arrays ``(H, W, C)`` become ``(C, H,
W)``, and :class:`Flatten` flattens in NIR's order, so linear weights need no permutation.
Modules from :func:`from_nir` take channels-last input: give them NCHW data as
``x.transpose(0, 2, 3, 1)``.

**Recurrence.** A cycle carries the previous step's output along the edge that closes it (see
:class:`Graph`), which is what the recurrent cells compute. In the first step it carries what its
source gives for zero input: a recurrent ``Affine`` adds its bias from step one, as snnTorch's
``RLeaky`` and ``RSynaptic`` do (their recurrent layer sees zero spikes, plus its bias).

**Checks.** :func:`from_nir` checks a graph before it builds anything, without nir's type
inference (so also for graphs made with ``type_check=False``): every edge's shapes, from the
nodes' parameters (weights, per-neuron arrays, ``Conv`` ``input_shape``, ``Flatten`` and pooling
arithmetic, ``Input``/``Output`` types) and carried through nodes of single-value parameters; a
mismatch is a ``ValueError`` that names the edge, both nodes and both shapes (channels first). A
node off every path from an ``Input`` to an ``Output``, neuron parameters of different shapes
and NaN, infinite or empty parameters are errors that name the node. :func:`to_nir` names the
module that ``sample_input``'s shape does not fit, and refuses non-finite weights.

**Other writers.** Norse 1.1 writes every time constant as ``dt / tau_inv`` (``5e-06`` for a
5 ms synapse at ``dt = 1e-3``: ``dt`` times the time constant) and ``r = w_in = 1`` for a gain of
1 (an ``IAFCell`` gives ``r = 1``); its reader takes ``1 / tau``, so it reads its own files
back with ``tau_mem_inv = 1e5`` instead of 100. ``convention="norse"`` reads such files (and
:func:`to_nir` writes them): ``tau_inv = dt / tau`` and gain :math:`w_\text{in} r` (CubaLIF,
CubaLI) or :math:`r` (LIF, LI, IF). Under the default ``convention="spec"`` a time constant
below ``dt`` raises a warning that points here. snnTorch 1.0 writes its graphs for
``dt = 1e-4``: ``Leaky(beta)`` as ``LIF(tau = dt / (1 - beta), r = tau / dt, v_leak = 0)`` and
``Synaptic(alpha, beta)`` as ``CubaLIF(tau_syn = dt / (1 - alpha), tau_mem = dt / (1 - beta),
r = tau_mem / dt, w_in = tau_syn / dt)``; ``from_nir(graph, dt=1e-4)`` gives back
:math:`v \leftarrow \beta v + I` and :math:`i \leftarrow \alpha i + I,\ v \leftarrow \beta v + i`
(with NIR's reset to ``v_reset``, not snnTorch's subtraction one step later). These are NIR's
equations, so :func:`to_nir` writes spikejax's ``Leaky`` and ``Synaptic`` (whose ``beta`` is per
step; the module's ``dt`` does not enter) with the same formulas at its ``dt``: give
``dt=1e-4`` for a file that snnTorch's ``import_from_nir`` reads. That importer builds
``Leaky``/``Synaptic`` with ``beta = 1 - dt / tau``, the threshold divided by the input gain,
``reset_mechanism="zero"`` and ``reset_delay=False``; ``from_nir(graph, snntorch=True)`` builds
the same spikejax cells (``dt`` defaults to ``1e-4`` there), and :func:`to_nir` writes only
``Leaky``/``Synaptic`` with that reset (the one NIR's neurons have), so a network goes to
snnTorch and back with the same spikes. snnTorch 1.0's
exporter fails in nir 1.0.8's type inference (its ``Input`` and ``Output`` shapes keep the batch
axis, ``[1, 3]``); :func:`from_nir` needs no type inference, takes a leading axis of size 1 on
those two nodes for the batch axis where that makes the shapes agree, and broadcasts the scalar
parameters that Norse and snnTorch write.
"""

from ._export import to_nir
from ._graph import Graph
from ._import import from_nir
from ._layers import AvgPool2d, Flatten, Scale, SumPool2d, Threshold

__all__ = ["to_nir", "from_nir", "Graph", "Flatten", "SumPool2d", "AvgPool2d", "Scale", "Threshold"]
