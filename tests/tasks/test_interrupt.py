"""Ctrl-C in a task: one short message, the JSON summary of what finished, exit code 130.

The main check sends SIGINT to ``python -m tasks.mnist --smoke`` while it trains; the others stop
each task in-process (a ``KeyboardInterrupt`` where Ctrl-C would land) and check what it wrote.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shlex
import signal
import subprocess
import sys
import time

import pytest

from spikejax import train
from tasks import _cli, cartpole, cifar10, memory, mnist, mnist_stdp, quickstart

REPO = pathlib.Path(__file__).resolve().parents[2]


def test_sigint_in_epoch_1_of_the_mnist_smoke_run_exits_130_with_a_summary_and_a_hint(tmp_path):
    output = tmp_path / "summary.json"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    # SIGINT must raise KeyboardInterrupt in the child even if this process ignores it (as a shell's
    # background jobs do, and a child inherits): install Python's handler, then run the module as -m does.
    launcher = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
                "sys.argv = ['tasks.mnist'] + sys.argv[1:]; runpy.run_module('tasks.mnist', run_name='__main__')")
    child = subprocess.Popen(
        [sys.executable, "-c", launcher, "--smoke", "--output", str(output)], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen, began = "", time.monotonic()
    try:
        # Wait until it trains: the progress bar of epoch 1 shows at least one step done.
        while not re.search(r"epoch 1/1:\s+\d+%.*\|\s*[1-9]\d*/\d+", seen):
            chunk = child.stdout.read(1)
            assert chunk, f"the run ended before training:\n{seen[-3000:]}"
            seen += chunk
            assert time.monotonic() - began < 600, seen[-3000:]
        child.send_signal(signal.SIGINT)
        rest, _ = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 130, rest[-3000:]
    assert "Traceback" not in rest, rest[-3000:]
    assert "Interrupted (Ctrl-C) during epoch 1 of 1; no epoch finished." in rest
    assert f"Summary of the completed epochs: {output}" in rest
    assert "pass --checkpoint-dir DIR" in rest and "--resume" in rest
    summary = json.loads(output.read_text())
    assert summary["interrupted"] is True and summary["complete"] is False
    assert summary["epochs_run"] == 0 and summary["last_completed_epoch"] == 0 and summary["history"] == []
    assert summary["config"]["smoke"] is True


TINY = ["--train-limit", "64", "--test-limit", "32", "--batch-size", "32", "--no-progress", "--channels", "4", "8"]


@pytest.mark.slow  # CI time; run with `pytest -m slow`
def test_interrupted_mnist_run_names_its_checkpoints_and_the_command_that_resumes_it(tmp_path, capsys):
    output, checkpoints = tmp_path / "s.json", tmp_path / "ckpt"
    argv = TINY + ["--epochs", "2", "--output", str(output), "--checkpoint-dir", str(checkpoints)]

    def interrupt(result):
        if result["epoch"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        mnist.main(argv, on_epoch_end=interrupt)
    message = capsys.readouterr().err
    assert "Interrupted (Ctrl-C) during epoch 2 of 2; epoch 1 finished." in message
    assert f"Checkpoints in {checkpoints} (latest: epoch 1). Resume with:" in message
    command = message.strip().splitlines()[-1].strip()
    assert command == shlex.join(["python", "-m", "tasks.mnist", *argv, "--resume"])
    summary = json.loads(output.read_text())
    assert summary["interrupted"] and summary["epochs_run"] == 1 and summary["last_completed_epoch"] == 1
    assert summary["test_accuracy"] == summary["history"][0]["eval"]["accuracy"]
    # The printed command continues the run: only epoch 2 runs.
    resumed = mnist.main(shlex.split(command)[3:])
    assert resumed["complete"] and "interrupted" not in resumed
    assert resumed["epochs_run"] == 2 and resumed["resumed_from_epoch"] == 1  # epoch 1 read back from its checkpoint


def _interrupted(*args, **kwargs):
    raise KeyboardInterrupt


def test_cifar10_and_memory_write_their_summary_when_interrupted(tmp_path, monkeypatch, cifar_archive, capsys):
    cifar_archive(tmp_path / "data", per_batch=8, test=16)
    with monkeypatch.context() as patch:
        patch.setattr(train, "evaluate", _interrupted)  # Ctrl-C in its first evaluation, before training
        with pytest.raises(KeyboardInterrupt):
            cifar10.main(["--smoke", "--no-progress", "--data-dir", str(tmp_path / "data"), "--no-verify",
                          "--output", str(tmp_path / "c.json")])
    assert "Interrupted (Ctrl-C) during epoch 1 of 1; no epoch finished." in capsys.readouterr().err
    summary = json.loads((tmp_path / "c.json").read_text())
    assert summary["task"] == "cifar10" and summary["interrupted"] and summary["epochs_run"] == 0
    monkeypatch.setattr(train, "evaluate", _interrupted)  # in the recall measured before training
    with pytest.raises(KeyboardInterrupt):
        memory.main(["--smoke", "--no-progress", "--output", str(tmp_path / "m.json"),
                     "--checkpoint-dir", str(tmp_path / "mc")])
    message = capsys.readouterr().err
    assert f"No checkpoint was written yet in {tmp_path / 'mc'}" in message
    summary = json.loads((tmp_path / "m.json").read_text())
    assert summary["task"] == "memory" and summary["interrupted"] and summary["epochs_run"] == 0


@pytest.mark.slow  # CI time; run with `pytest -m slow`
def test_mnist_stdp_writes_its_summary_when_interrupted(tmp_path, capsys):
    def interrupt(result):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        mnist_stdp.main(["--smoke", "--no-progress", "--train-limit", "32", "--test-limit", "16", "--steps", "20",
                         "--epochs", "2", "--output", str(tmp_path / "s.json")], on_epoch_end=interrupt)
    assert "Interrupted (Ctrl-C) during epoch 2 of 2; epoch 1 finished." in capsys.readouterr().err
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["interrupted"] and summary["epochs_total"] == 1 and summary["test_accuracy"] is not None


@pytest.mark.slow  # CI time; run with `pytest -m slow`
def test_cartpole_writes_its_summary_when_interrupted(tmp_path, monkeypatch, capsys):
    pytest.importorskip("gymnax")
    real = cartpole.make_iteration

    def make_iteration(*args, **kwargs):
        iteration, calls = real(*args, **kwargs), []

        def interrupted_at_the_second(*a):
            calls.append(1)
            if len(calls) == 2:
                raise KeyboardInterrupt
            return iteration(*a)

        return interrupted_at_the_second

    monkeypatch.setattr(cartpole, "make_iteration", make_iteration)
    with pytest.raises(KeyboardInterrupt):
        cartpole.main(["--smoke", "--no-progress", "--output", str(tmp_path / "c.json")])
    message = capsys.readouterr().err
    assert "Interrupted (Ctrl-C) during update 2 of 2; update 1 finished." in message
    assert "tasks.cartpole keeps no checkpoints" in message
    summary = json.loads((tmp_path / "c.json").read_text())
    assert summary["interrupted"] and summary["iterations"] == 1 and len(summary["returns"]) == 4


def test_run_main_exits_130_without_a_traceback(capsys):
    def stopped():
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as info:
        _cli.run_main(stopped)
    assert info.value.code == _cli.EXIT_INTERRUPTED == 130
    assert "Interrupted (Ctrl-C) outside the training loop" in capsys.readouterr().err
    _cli.run_main(lambda: None)  # a run that ends normally exits normally


def test_the_message_names_the_last_epoch_and_the_resume_command(tmp_path):
    run = _cli.Interruptible("tasks.memory", ["--epochs", "5", "--checkpoint-dir", "ck"], tmp_path / "s.json",
                             summary=dict, epochs=5, checkpoint_dir="ck", start=2)
    run.completed = 3
    message = run.message(tmp_path / "s.json")
    assert message.splitlines()[0] == "Interrupted (Ctrl-C) during epoch 4 of 5; epochs 1-3 finished."
    assert f"Checkpoints in {pathlib.Path('ck').absolute()} (latest: epoch 3)" in message
    assert message.splitlines()[-1] == "  python -m tasks.memory --epochs 5 --checkpoint-dir ck --resume"
    run.argv.append("--resume")  # already resuming: --resume is not repeated
    assert run.resume_command().count("--resume") == 1


def test_every_task_has_help_and_smoke():
    tasks = sorted(p.stem for p in (REPO / "tasks").glob("*.py") if not p.stem.startswith("_"))
    assert tasks == ["cartpole", "cifar10", "memory", "mnist", "mnist_stdp", "quickstart", "shd", "timing"]
    for name in tasks:
        module = __import__(f"tasks.{name}", fromlist=["build_parser"])
        text = module.build_parser().format_help()
        assert "--smoke" in text and "--help" in text, name
        assert f"python -m tasks.{name}" in module.build_parser().prog, name


def test_quickstart_smoke_runs(capsys):
    summary = quickstart.main(["--smoke"])
    assert summary["output_shape"] == (20, 2, 1) and summary["spikes"] > 0
    assert "output shape (20, 2, 1)" in capsys.readouterr().out
