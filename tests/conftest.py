"""Shared fixtures: peer reference data, tree comparison, data locations; the temp-folder check."""

from __future__ import annotations

import io
import json
import os
import pathlib
import pickle
import shutil
import tarfile
import tempfile

import jax
import numpy as np
import pytest

# The reference generators import torch and the peer libraries; they are not tests.
collect_ignore = ["reference"]

# Tests must leave nothing in the system temp folder. The session points TMPDIR (and tempfile)
# at a fresh folder of its own, which subprocesses, notebook kernels and xdist workers inherit;
# at the end, whatever is in it besides pytest's own basetemp (pytest-of-<user>) was left by a
# test or a doctest: the session fails and lists it. The folder is removed either way.
# SPIKEJAX_TEST_TMP_LEFTOVERS=warn only reports them.
TMP_VARIABLE = "SPIKEJAX_TEST_TMPDIR"
_session_tmp: dict = {}


def _temp_leftovers(folder: pathlib.Path) -> list[str]:
    """What ``folder`` holds besides pytest's basetemp, as paths relative to it (a few levels deep)."""
    found = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("pytest-of-"):
            continue
        found.append(entry.name + ("/" if entry.is_dir() else ""))
        if entry.is_dir():
            found += [f"  {child.relative_to(folder)}" for child in sorted(entry.rglob("*"))[:5]]
    return found


def pytest_configure(config):
    inherited = os.environ.get(TMP_VARIABLE)
    if inherited and pathlib.Path(inherited).is_dir():  # an xdist worker: the controller owns it
        tempfile.tempdir = inherited
        return
    folder = tempfile.mkdtemp(prefix="spikejax-tests-")
    _session_tmp["folder"] = pathlib.Path(folder)
    _session_tmp["saved"] = {name: os.environ.get(name) for name in ("TMPDIR", TMP_VARIABLE)}
    os.environ["TMPDIR"] = os.environ[TMP_VARIABLE] = folder
    tempfile.tempdir = folder


def pytest_sessionfinish(session, exitstatus):
    folder = _session_tmp.get("folder")
    if folder is None or not folder.is_dir():
        return
    leftovers = _temp_leftovers(folder)
    _session_tmp["leftovers"] = leftovers
    if leftovers and os.environ.get("SPIKEJAX_TEST_TMP_LEFTOVERS") != "warn" and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter):
    leftovers = _session_tmp.get("leftovers")
    if leftovers:
        terminalreporter.section("files left in the temp folder", sep="=", red=True, bold=True)
        terminalreporter.line("These tests or doctests left files in the system temp folder (TMPDIR); each "
                              "must write into tmp_path or a TemporaryDirectory it removes:")
        for line in leftovers:
            terminalreporter.line(f"  {line}")


def pytest_unconfigure(config):
    folder = _session_tmp.pop("folder", None)
    if folder is None:
        return
    for name, value in _session_tmp.pop("saved", {}).items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    tempfile.tempdir = None
    shutil.rmtree(folder, ignore_errors=True)

TESTS = pathlib.Path(__file__).parent
REPO = TESTS.parent


@pytest.fixture(scope="session")
def reference():
    """``reference(name)`` loads ``tests/reference/data/<name>.json`` (numbers as float64 arrays)."""

    def load(name: str):
        path = TESTS / "reference" / "data" / f"{name}.json"
        return _arrays(json.loads(path.read_text()))

    return load


def _arrays(obj):
    if isinstance(obj, dict):
        return {k: _arrays(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return np.asarray(obj, dtype=np.float64)
    return obj


def tree_allclose(a, b, *, rtol=1e-5, atol=1e-6) -> bool:
    """Whether two pytrees have the same structure and close leaves."""
    la, ta = jax.tree_util.tree_flatten(a)
    lb, tb = jax.tree_util.tree_flatten(b)
    if ta != tb:
        return False
    return all(np.allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol) for x, y in zip(la, lb))


@pytest.fixture(scope="session")
def allclose_tree():
    return tree_allclose


def shared_data_dir() -> pathlib.Path | None:
    """The shared data folder beside the checkout (or the repo's own copy), if present."""
    for candidate in (REPO / "data", REPO.parent / "shared" / "data"):
        if (candidate / "mnist").is_dir():
            return candidate
    return None


@pytest.fixture(autouse=True, scope="session")
def _no_network():
    """Tests never touch the network: fail loudly if something tries."""
    import socket

    real_connect = socket.socket.connect

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and (host.startswith("127.") or host in ("localhost", "::1")):
            return real_connect(self, address)
        if isinstance(address, (str, bytes)):  # unix sockets
            return real_connect(self, address)
        raise RuntimeError(f"tests must not touch the network (tried to connect to {address!r})")

    socket.socket.connect = guarded
    os.environ.setdefault("TFDS_DISABLE_GCS", "1")
    yield
    socket.socket.connect = real_connect


class ModelChecks:
    """Checks every neuron model must pass; use through the ``model_checks`` fixture.

    ``step(x, state) -> (out, state)`` is a feed-forward step with its parameters bound, ``xs`` a
    ``(T, B, N)`` drive that makes the model spike.
    """

    @staticmethod
    def transforms(step, xs):
        """``jit`` equals eager, ``vmap`` over a leading axis equals the batch, ``grad`` is finite."""
        from spikejax.functional import run

        eager_state, eager = run(step, None, xs)
        jit_state, jitted = jax.jit(lambda x: run(step, None, x))(xs)
        assert tree_allclose(eager, jitted) and tree_allclose(eager_state, jit_state)
        # vmap over the batch axis: run each batch entry as its own (T, 1, N) sequence.
        per_item = jax.vmap(lambda x: run(step, None, x[:, None])[1][:, 0], in_axes=1, out_axes=1)(xs)
        assert tree_allclose(per_item, eager)
        grad = jax.grad(lambda x: jax.numpy.sum(run(step, None, x)[1]))(xs)
        assert np.all(np.isfinite(np.asarray(grad)))
        return eager

    @staticmethod
    def dtypes(step, xs):
        """float32 and bfloat16 runs give no NaN and keep the input dtype."""
        from spikejax.functional import run

        for dtype in (jax.numpy.float32, jax.numpy.bfloat16):
            state, out = run(step, None, xs.astype(dtype))
            leaves = jax.tree_util.tree_leaves((state, out))
            for leaf in leaves:
                assert not np.any(np.isnan(np.asarray(leaf, dtype=np.float32))), dtype
            assert out.dtype == dtype, (out.dtype, dtype)


@pytest.fixture(scope="session")
def model_checks():
    return ModelChecks


def _pickle(obj) -> bytes:
    return pickle.dumps(obj, protocol=2)


def _write_cifar_archive(folder, *, per_batch=3, test=2, seed=0, members=None):
    """A ``cifar-10-python.tar.gz`` with the real layout and ``per_batch`` images per train batch;
    ``members(contents)`` may change the pickled files before they are written."""
    rng = np.random.default_rng(seed)
    batches = {}
    for name, n in [(f"data_batch_{i}", per_batch) for i in range(1, 6)] + [("test_batch", test)]:
        batches[name] = {b"batch_label": name.encode(), b"labels": rng.integers(0, 10, n).tolist(),
                         b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                         b"filenames": [f"{name}_{i}.png".encode() for i in range(n)]}
    contents = {name: _pickle(batch) for name, batch in batches.items()}
    contents["batches.meta"] = _pickle({b"label_names": [b"airplane"] * 10, b"num_vis": 3072})
    if members is not None:
        contents = members(contents)
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(folder / "cifar-10-python.tar.gz", "w:gz") as archive:
        for name, payload in contents.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
    return batches


@pytest.fixture(scope="session")
def cifar_archive():
    """``cifar_archive(folder, per_batch=3, test=2, seed=0, members=None)`` writes a small
    CIFAR-10 "python version" archive into ``folder`` and returns the batches it pickled."""
    return _write_cifar_archive
