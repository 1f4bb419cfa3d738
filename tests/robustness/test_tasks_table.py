"""Bad and edge inputs of the tasks' command lines, the data loader and the optional dependencies.

A task's bad flag ends in ``argparse``'s usage error (exit code 2, the message on stderr): the rows
run the task's argument parsing and turn that into :class:`UsageError` carrying the message.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import pathlib
import sys
import tempfile

import numpy as np
import pytest
from flax import nnx

from spikejax import data
from spikejax.data import _files  # private modules are importable, not package attributes
from tests.robustness._table import Case, check, params


class UsageError(Exception):
    """A command line refused by argparse (``SystemExit(2)``), with what it printed."""


def usage(parse, argv):
    """Run ``parse(argv)``; raise :class:`UsageError` with the printed message if it exits."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            return parse(argv)
    except SystemExit as error:
        raise UsageError(f"exit code {error.code}: {err.getvalue()}") from error


def task(name):
    return importlib.import_module(f"tasks.{name}")


def without(*modules):
    """``call`` run as if ``modules`` were not installed (``sys.modules[name] = None``)."""
    def run(call):
        saved = {name: sys.modules.get(name, "absent") for name in modules}
        try:
            for name in modules:
                sys.modules[name] = None
            return call()
        finally:
            for name, module in saved.items():
                if module == "absent":
                    sys.modules.pop(name, None)
                else:
                    sys.modules[name] = module
    return run


def in_empty_folder(call):
    with tempfile.TemporaryDirectory() as folder:
        return call(pathlib.Path(folder))


def with_corrupt_mnist(call):
    with tempfile.TemporaryDirectory() as folder:
        for file in data.DATASETS["mnist"].files:
            (pathlib.Path(folder) / file).write_bytes(b"not the published file")
        return call(pathlib.Path(folder))


def mnist_args(*argv):
    return lambda: usage(task("mnist").parse_args, list(argv))


FLAG_CASES = [
    Case("mnist --epochs -1", mnist_args("--epochs", "-1"), UsageError,
         ("--epochs must be a positive integer", "got -1")),
    Case("mnist --epochs 0", mnist_args("--epochs", "0"), UsageError, ("--epochs", "got 0")),
    Case("mnist --batch-size 0", mnist_args("--batch-size", "0"), UsageError, ("--batch-size", "got 0")),
    Case("mnist --time-steps -3", mnist_args("--time-steps", "-3"), UsageError, ("--time-steps", "got -3")),
    Case("mnist --lr 0", mnist_args("--lr", "0"), UsageError, ("--lr must be positive", "got 0.0")),
    Case("mnist --f-max -5", mnist_args("--f-max", "-5"), UsageError, ("--f-max", "got -5.0")),
    Case("mnist --dropout 1.5", mnist_args("--dropout", "1.5"), UsageError, ("--dropout must be in [0, 1)", "1.5")),
    Case("mnist --channels 0 8", mnist_args("--channels", "0", "8"), UsageError, ("--channels", "[0, 8]")),
    Case("mnist unknown --dataset", mnist_args("--dataset", "cifar"), UsageError,
         ("argument --dataset", "'cifar'", "'mnist'", "'fashion_mnist'")),
    Case("mnist missing --data-dir", mnist_args("--data-dir", "/no/such/folder"), UsageError,
         ("--data-dir must be an existing folder", "'/no/such/folder'")),
    Case("mnist --resume without --checkpoint-dir", mnist_args("--resume"), UsageError,
         ("--resume needs --checkpoint-dir",)),
    Case("mnist --precision float16", mnist_args("--precision", "float16"), UsageError,
         ("argument --precision", "'float16'", "'bfloat16'")),
    Case("mnist --smoke defaults", mnist_args("--smoke"),
         ok=lambda args: (args.epochs, args.batch_size, args.train_limit) == (1, 16, 1024) or pytest.fail(vars(args))),
    Case("cifar10 --resume without --checkpoint-dir", lambda: usage(task("cifar10").parse_args, ["--resume"]),
         UsageError, ("--resume needs --checkpoint-dir",)),
    Case("cifar10 --test-limit 0", lambda: usage(task("cifar10").parse_args, ["--test-limit", "0"]),
         UsageError, ("--test-limit", "got 0")),
    Case("mnist_stdp missing --data-dir", lambda: usage(task("mnist_stdp").parse_args, ["--data-dir", "/nope"]),
         UsageError, ("--data-dir must be an existing folder", "'/nope'")),
    Case("mnist_stdp --resume without --checkpoint-dir",
         lambda: usage(task("mnist_stdp").parse_args, ["--resume"]), UsageError, ("--resume needs --checkpoint-dir",)),
    Case("memory --resume without --checkpoint-dir", lambda: usage(task("memory").main, ["--resume"]),
         UsageError, ("--resume needs --checkpoint-dir",)),
    Case("memory --seq-periods 3", lambda: usage(task("memory").main, ["--seq-periods", "3"]),
         UsageError, ("--seq-periods must be even", "got 3")),
    Case("cartpole --gamma 2", lambda: usage(task("cartpole").main, ["--gamma", "2"]),
         UsageError, ("--gamma must be in (0, 1]", "got 2.0")),
    Case("quickstart --steps 0", lambda: usage(task("quickstart").main, ["--steps", "0"]),
         UsageError, ("--steps must be a positive integer", "got 0")),
    Case("quickstart --smoke", lambda: task("quickstart").main(["--smoke"]),
         ok=lambda summary: summary["output_shape"] == (20, 2, 1) or pytest.fail(summary)),
    Case("ConvSNN mean_std with std 0", lambda: task("mnist").ConvSNN(mean_std=(0.5, 0.0), rngs=nnx.Rngs(0)),
         ValueError, ("mean_std", "std > 0", "(0.5, 0.0)")),
]

DATA_CASES = [
    Case("load unknown data set", lambda: data.load("cifar"), ValueError,
         ("name must be one of", "'mnist'", "'fashion_mnist'", "'cifar10'", "got 'cifar'")),
    Case("load bad split", lambda: data.load("mnist", "validation"), ValueError,
         ("split must be one of", "'train'", "'test'", "got 'validation'")),
    Case("load bad source", lambda: data.load("mnist", source="web"), ValueError,
         ("source must be one of", "got 'web'")),
    Case("find data_dir not a path", lambda: data.find("mnist", data_dir=3), TypeError,
         ("data_dir must be a path", "got int")),
    Case("cifar10 missing: says where it looked and where it is published",
         lambda: in_empty_folder(lambda folder: data.load("cifar10", "test", data_dir=folder)), FileNotFoundError,
         ("cifar-10-python.tar.gz", "data_dir argument:", "$SPIKEJAX_DATA", "repository data folder:",
          "user cache:", "https://www.cs.toronto.edu/~kriz/cifar.html", "spikejax.data.download('cifar10')")),
    Case("mnist with corrupt files: bad checksum",
         lambda: with_corrupt_mnist(lambda folder: data.load("mnist", "test", data_dir=folder)), data.ChecksumError,
         ("checksum mismatch", "t10k-images-idx3-ubyte.gz", "expected md5 9fb629c4189551a2d022fa330f9573f3")),
    Case("download timeout 0", lambda: data.download("mnist", timeout=0), ValueError,
         ("timeout must be a positive number", "got 0")),
    Case("fashion_mnist ships with the repository", lambda: data.find("fashion_mnist"),
         ok=lambda folder: folder == _files.repo_data_dir() / "fashion_mnist" or pytest.fail(str(folder))),
]

OPTIONAL_CASES = [
    Case("cartpole without gymnax", lambda: without("gymnax")(lambda: task("cartpole").make_env()),
         ModuleNotFoundError, ("tasks.cartpole", "'gymnax'", 'pip install -e ".[tasks]"')),
    Case("notebooks without nbclient",
         lambda: without("nbclient")(lambda: _notebook_runner().execute("x.ipynb", small=True)),
         ModuleNotFoundError, ("'nbclient'", 'pip install -e ".[notebooks]"')),
    Case("require torch names the bench extra",
         lambda: without("torch")(lambda: task("_cli").require("torch", purpose="benchmarks.peers")),
         ModuleNotFoundError, ("benchmarks.peers", "'torch'", 'pip install -e ".[bench]"')),
    Case("load source=tfds without tensorflow-datasets",
         lambda: without("tensorflow_datasets")(lambda: data.load("mnist", "test", source="tfds")),
         ImportError, ("source='tfds' needs tensorflow-datasets", "pip install")),
]


def _notebook_runner():
    spec = importlib.util.spec_from_file_location(
        "spikejax_notebooks_execute", pathlib.Path(__file__).resolve().parents[2] / "notebooks" / "execute.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@params(FLAG_CASES)
def test_bad_task_flags(case):
    check(case)


@params(DATA_CASES)
def test_bad_data_loader_inputs(case):
    check(case)


@params(OPTIONAL_CASES)
def test_missing_optional_dependency_names_its_extra(case):
    check(case)
