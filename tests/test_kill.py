"""SIGKILL a training run, resume it in a fresh process: bitwise the parameters of an uninterrupted run.

The run is this file executed as a script (a tiny fit with a checkpointer). It can be told to stop
and wait, writing a marker file, in the middle of an epoch, in the middle of a checkpoint write
(inside orbax's JSON handler, while the array data are being written into the temporary folder),
or with the checkpoint written but not yet renamed into place. The test then kills it with
``os.kill(pid, SIGKILL)`` and resumes in a new process.

    python tests/test_kill.py DIR OUT.npz EPOCHS [--resume] [--hang epoch|write|rename EPOCH]
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent


def _hang(marker: pathlib.Path) -> None:
    marker.write_text(str(os.getpid()))
    time.sleep(600)  # until killed


def main(argv: list[str]) -> None:
    import jax
    import optax
    from flax import nnx

    from spikejax import train

    directory, out, epochs = pathlib.Path(argv[0]), argv[1], int(argv[2])
    resume = "--resume" in argv
    hang, hang_epoch = (argv[argv.index("--hang") + 1], int(argv[argv.index("--hang") + 2])) if "--hang" in argv \
        else (None, None)
    marker = directory.parent / "hanging"

    if hang == "write":
        from orbax.checkpoint._src.handlers import json_checkpoint_handler as handler

        original = handler.JsonCheckpointHandler.async_save

        async def slow_save(self, directory_, *args, **kwargs):
            if directory_.parent.name.startswith(f"{hang_epoch}."):  # the temporary folder of that epoch
                # orbax may create that folder in another thread or task after calling the handler
                # (CI once killed the run before the folder existed): wait until it is on disk.
                deadline = time.monotonic() + 120
                while not directory_.parent.exists() and time.monotonic() < deadline:
                    await asyncio.sleep(0.01)
                _hang(marker)
            return await original(self, directory_, *args, **kwargs)

        handler.JsonCheckpointHandler.async_save = slow_save
    if hang == "rename":
        from orbax.checkpoint._src.path import atomicity

        original_finalize = atomicity.AtomicRenameTemporaryPath.finalize

        async def slow_finalize(self):
            if self.get_final().name == str(hang_epoch):
                _hang(marker)
            return await original_finalize(self)

        atomicity.AtomicRenameTemporaryPath.finalize = slow_finalize

    def batches(epoch):
        rng = np.random.default_rng([3, epoch])
        for index in range(4):
            if hang == "epoch" and epoch + 1 == hang_epoch and index == 2:
                _hang(marker)
            y = rng.integers(0, 3, 8).astype(np.int32)
            yield {"x": (rng.normal(size=(8, 4)) + np.eye(3, 4)[y] * 2).astype(np.float32), "y": y}

    def loss_fn(model, batch):
        logits = model(batch["x"])
        return optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]).mean(), {"logits": logits}

    rngs = nnx.Rngs(0)
    model = nnx.Sequential(nnx.Linear(4, 32, rngs=rngs), nnx.relu, nnx.Linear(32, 3, rngs=rngs))
    optimizer = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)
    with train.Checkpointer(directory, max_to_keep=None) as ckpt:
        train.fit(model, optimizer, train.make_train_step(loss_fn), batches, epochs=epochs, checkpointer=ckpt,
                  resume=resume, progress=False, log=None)
    leaves = jax.tree_util.tree_leaves(nnx.to_pure_dict(nnx.state((model, optimizer))))
    np.savez(out, *[np.asarray(leaf) for leaf in leaves])


def _environment() -> dict:
    path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    return dict(os.environ, PYTHONPATH=path, JAX_PLATFORMS="cpu")


def _run(*args, timeout=300) -> None:
    done = subprocess.run([sys.executable, __file__, *map(str, args)], env=_environment(), cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]


def _kill_when_hanging(tmp_path, *args) -> None:
    marker = tmp_path / "hanging"
    worker = subprocess.Popen([sys.executable, __file__, *map(str, args)], env=_environment(), cwd=REPO,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not marker.exists():
            assert worker.poll() is None, worker.stderr.read()[-3000:]
            assert time.monotonic() < deadline, "the run never reached the point to kill it at"
            time.sleep(0.05)
        os.kill(worker.pid, signal.SIGKILL)
        assert worker.wait(timeout=60) == -signal.SIGKILL
    finally:
        if worker.poll() is None:
            worker.kill()
        worker.stderr.close()


def _leaves(path) -> list:
    with np.load(path) as data:
        return [data[f"arr_{i}"] for i in range(len(data.files))]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    root = tmp_path_factory.mktemp("uninterrupted")
    _run(root / "ckpt", root / "final.npz", 4)
    return _leaves(root / "final.npz")


@pytest.mark.parametrize("where, leftover", [
    # in the middle of epoch 3 (slow for CI time, as is "rename": "write" covers the most)
    pytest.param("epoch", None, marks=pytest.mark.slow),
    ("write", "3.orbax-checkpoint-tmp"),        # writing epoch 3's checkpoint: the arrays half written
    # epoch 3's checkpoint written but not renamed into place
    pytest.param("rename", "3.orbax-checkpoint-tmp", marks=pytest.mark.slow),
])
def test_sigkill_then_resume_ends_bitwise_like_an_uninterrupted_run(where, leftover, uninterrupted, tmp_path):
    from spikejax import train

    directory = tmp_path / "ckpt"
    _kill_when_hanging(tmp_path, directory, tmp_path / "killed.npz", 4, "--hang", where, 3)
    with train.Checkpointer(directory) as ckpt:
        assert ckpt.epochs() == [1, 2]  # nothing of epoch 3 counts
    names = sorted(os.listdir(directory))
    assert names[:2] == ["1", "2"] and names[2:] == ([leftover] if leftover else []), names
    _run(directory, tmp_path / "resumed.npz", 4, "--resume")
    resumed = _leaves(tmp_path / "resumed.npz")
    assert len(resumed) == len(uninterrupted) > 0
    for a, b in zip(resumed, uninterrupted):
        np.testing.assert_array_equal(a, b)
    assert sorted(os.listdir(directory)) == ["1", "2", "3", "4"]  # orbax replaced the unfinished folder


if __name__ == "__main__":
    main(sys.argv[1:])
