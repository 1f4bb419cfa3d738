"""fit keeps a data-parallel batch split through ``Lift`` (issue 14), counted in what XLA compiled.

``Lift`` merges ``(T, B)`` into one axis; in ``(T, B)`` order that interleaves the devices' rows and
XLA gathers the whole batch onto every device. The steps built with ``parallel=`` trace in a
batch-major context; ``fit`` must call them in it too. XLA reads the simulated device count once,
when JAX starts, so the run happens in a subprocess (this file, run as a script) with 8 CPU devices,
and XLA dumps the optimised HLO of every program it compiles for the test to count collectives in.
"""

from __future__ import annotations

import glob
import os
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent


def _fit_with_lift(devices: int) -> None:
    """Train a Lift(Linear) -> LIF -> Lift(Linear) model for one epoch with fit, data-parallel."""
    import jax
    import numpy as np
    import optax
    from flax import nnx

    from spikejax import train
    from spikejax.nn import LIF, Lift, SequentialState

    assert jax.device_count() == devices, jax.devices()

    class Net(nnx.Module):
        def __init__(self, rngs):
            self.net = SequentialState(Lift(nnx.Linear(8, 16, rngs=rngs)), LIF(), Lift(nnx.Linear(16, 4, rngs=rngs)))

        def __call__(self, x):
            return self.net(x * 20.0)[0].mean(0)

    def loss_fn(model, batch):
        logits = model(batch["x"])
        return optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]).mean(), {"logits": logits}

    rng = np.random.default_rng(0)
    batches = [{"x": rng.normal(size=(4, 16, 8)).astype(np.float32), "y": rng.integers(0, 4, 16).astype(np.int32)}
               for _ in range(3)]
    model = Net(nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.sgd(0.05), wrt=nnx.Param)
    parallel = train.data_parallel(batch_axis={"x": 1, "y": 0})
    history = train.fit(model, optimizer, train.make_train_step(loss_fn, parallel=parallel), lambda e: batches,
                        epochs=1, progress=False, log=None)
    assert np.isfinite(history[0]["train"]["loss"])


def _compiled_train_steps(dump: pathlib.Path) -> dict[str, str]:
    files = glob.glob(str(dump / "*train_step*after_optimizations.txt"))
    return {pathlib.Path(f).name: pathlib.Path(f).read_text() for f in files}


def test_fit_keeps_the_batch_split_through_lift_on_eight_devices(tmp_path):
    dump = tmp_path / "hlo"
    flags = f"--xla_force_host_platform_device_count=8 --xla_dump_to={dump} --xla_dump_hlo_as_text"
    env = dict(os.environ, XLA_FLAGS=(os.environ.get("XLA_FLAGS", "") + " " + flags).strip(), JAX_PLATFORMS="cpu",
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, __file__, "8"], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    steps = _compiled_train_steps(dump)
    assert steps, sorted(os.listdir(dump))[:20]
    for name, text in steps.items():
        assert text.count("all-reduce") > 0, name  # data-parallel: gradients summed over devices
        assert text.count("all-gather") == 0, name  # and the batch never gathered on one device


if __name__ == "__main__":
    _fit_with_lift(int(sys.argv[1]))
