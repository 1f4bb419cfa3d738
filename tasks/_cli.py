"""What every task's command line shares: optional imports that name their extra, the JSON
summary of a run (:class:`RunRecord`), and Ctrl-C.

A task's ``main(argv)`` wraps its training in :class:`Interruptible`. On Ctrl-C it writes the
JSON summary of the epochs that finished (``"interrupted": true``), prints one short message
(what finished, where the checkpoints are and the exact command to resume, or the hint to pass
``--checkpoint-dir`` next time) and lets the ``KeyboardInterrupt`` go on, so that callers of
``main`` see it. :func:`run_main`, the tasks' ``__main__`` entry, turns it into exit code 130
(128 + SIGINT, what a shell reports for a process ended by Ctrl-C) without a traceback.
"""

from __future__ import annotations

import importlib
import json
import os
import pathlib
import shlex
import sys
import time
from typing import Callable, Optional, Sequence

__all__ = ["EXIT_INTERRUPTED", "Interruptible", "RunRecord", "require", "run_main"]

EXIT_INTERRUPTED = 130

# Optional packages: the extra of pyproject.toml that installs each one.
EXTRAS = {"gymnax": "tasks", "nbclient": "notebooks", "nbformat": "notebooks", "ipykernel": "notebooks",
          "jupyter_client": "notebooks", "torch": "bench", "norse": "bench", "snntorch": "bench",
          "spikingjelly": "bench", "sphinx": "docs", "myst_nb": "docs", "h5py": "events", "tonic": "events"}


def require(module: str, *, purpose: str, extra: Optional[str] = None, package: Optional[str] = None):
    """Import the optional ``module``, or raise ``ModuleNotFoundError`` naming the extra that installs it.

    Args:
        module: the module to import (``"gymnax"``).
        purpose: what needs it, for the message (``"tasks.cartpole"``).
        extra: the ``pyproject.toml`` extra that installs it (default: looked up in ``EXTRAS``).
        package: the name to ``pip install`` when it differs from ``module``.

    Example:
        >>> require("json", purpose="this example").__name__
        'json'
        >>> require("no_such_module_here", purpose="tasks.example", extra="tasks")
        Traceback (most recent call last):
        ...
        ModuleNotFoundError: tasks.example needs the optional package 'no_such_module_here', which is not installed: pip install -e ".[tasks]" (from the repository's root), or pip install no_such_module_here
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        extra = extra or EXTRAS.get(module.split(".")[0])
        package = package or module.split(".")[0]
        how = (f'pip install -e ".[{extra}]" (from the repository\'s root), or pip install {package}'
               if extra else f"pip install {package}")
        raise ModuleNotFoundError(
            f"{purpose} needs the optional package {package!r}, which is not installed: {how}",
            name=module,
        ) from error


class Interruptible:
    """``with Interruptible(...) as run:`` around a task's training, for a clean Ctrl-C.

    The task sets ``run.completed`` (the last epoch whose checkpoint and summary are written)
    as epochs end, and gives ``summary()``, which returns the JSON summary of what finished.

    Args:
        task: the module name after ``python -m`` (``"tasks.mnist"``).
        argv: the command-line arguments of this run (for the resume command).
        output: where the JSON summary goes.
        summary: ``summary() -> dict`` of the epochs completed so far.
        epochs: the number of epochs the run was asked for (``None`` when it has no epochs).
        checkpoint_dir: the ``--checkpoint-dir`` of the run, or ``None``.
        unit: what one completed step of progress is called (``"epoch"``, ``"update"``).
        start: the epoch the run starts from (the checkpoint's, after ``--resume``).
        checkpoints: whether the task has ``--checkpoint-dir`` (the message hints at it).

    Example:
        >>> import io, json, pathlib, tempfile, contextlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> message = io.StringIO()
        >>> try:
        ...     with contextlib.redirect_stderr(message):
        ...         with Interruptible("tasks.mnist", ["--epochs", "3"], folder / "s.json",
        ...                            summary=lambda: {"epochs_run": 1}, epochs=3) as run:
        ...             run.completed = 1
        ...             raise KeyboardInterrupt
        ... except KeyboardInterrupt:
        ...     pass
        >>> print(message.getvalue().strip().splitlines()[0])
        Interrupted (Ctrl-C) during epoch 2 of 3; epoch 1 finished.
        >>> json.loads((folder / "s.json").read_text())
        {'epochs_run': 1, 'complete': False, 'interrupted': True, 'last_completed_epoch': 1}
        >>> import shutil; shutil.rmtree(folder)
    """

    def __init__(self, task: str, argv: Sequence[str], output: pathlib.Path, *,
                 summary: Callable[[], dict], epochs: Optional[int] = None,
                 checkpoint_dir: Optional[str] = None, unit: str = "epoch", start: int = 0,
                 checkpoints: bool = True):
        self.task, self.argv, self.output = task, list(argv), pathlib.Path(output)
        self.summary, self.epochs, self.checkpoint_dir = summary, epochs, checkpoint_dir
        self.unit, self.completed, self.checkpoints = unit, start, checkpoints

    def __enter__(self) -> "Interruptible":
        return self

    def __exit__(self, kind, error, traceback) -> bool:
        if kind is not None and issubclass(kind, KeyboardInterrupt):
            self.interrupted()
        return False  # the KeyboardInterrupt goes on

    def resume_command(self) -> str:
        """The command that continues this run: the same arguments, plus ``--resume``."""
        argv = self.argv if "--resume" in self.argv else self.argv + ["--resume"]
        return shlex.join(["python", "-m", self.task, *argv])

    def interrupted(self) -> None:
        """Write the summary (marked interrupted) and print what finished and how to go on."""
        written = None
        try:
            summary = dict(self.summary())
            summary.update(complete=False, interrupted=True, last_completed_epoch=self.completed)
            self.output.parent.mkdir(parents=True, exist_ok=True)
            self.output.write_text(json.dumps(summary, indent=2, default=str))
            written = self.output
        except Exception as error:  # a summary that fails must not hide the interruption
            print(f"(could not write the summary to {self.output}: {type(error).__name__}: {error})",
                  file=sys.stderr)
        print(self.message(written), file=sys.stderr, flush=True)
        global _reported
        _reported = True

    def message(self, written: Optional[pathlib.Path]) -> str:
        unit, done = self.unit, self.completed
        of = f" of {self.epochs}" if self.epochs else ""
        finished = f"{unit} {done} finished" if done == 1 else (
            f"{unit}s 1-{done} finished" if done else f"no {unit} finished")
        lines = [f"Interrupted (Ctrl-C) during {unit} {done + 1}{of}; {finished}."]
        if written is not None:
            lines.append(f"Summary of the completed {unit}s: {written} (marked \"interrupted\": true).")
        if self.checkpoint_dir and done:
            where = pathlib.Path(self.checkpoint_dir).absolute()
            lines.append(f"Checkpoints in {where} (latest: {unit} {done}). Resume with:")
            lines.append(f"  {self.resume_command()}")
        elif self.checkpoint_dir:
            lines.append(f"No checkpoint was written yet in {self.checkpoint_dir}; run the same command "
                         f"again to start over.")
        elif not self.checkpoints:
            lines.append(f"{self.task} keeps no checkpoints: run the command again to start over.")
        else:
            lines.append("Nothing was checkpointed: pass --checkpoint-dir DIR to save a checkpoint after "
                         "every epoch, and add --resume to continue from it.")
        return "\n".join(lines)


class RunRecord:
    """The JSON summary of a task's run, written after every epoch and at the end.

    A summary is the task's own fields (``fields(complete) -> dict``: its accuracy, curves,
    model) followed by what every run records: the epochs (``epochs_run``, ``epoch_seconds``,
    ``history``), the wall and CPU seconds since the record began, the load averages over 1, 5
    and 15 minutes at the start and now (on a shared machine the wall time is mostly waiting),
    the environment (device, machine, versions), the configuration and the command.

    Args:
        task: the module name after ``python -m`` (``"tasks.mnist"``).
        argv: the command-line arguments of this run.
        output: where the JSON summary goes.
        config: the run's configuration (usually ``vars(args)``).
        fields: ``fields(complete) -> dict``, the task's own fields.

    Example:
        >>> import json, pathlib, tempfile
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> record = RunRecord("tasks.example", ["--epochs", "2"], folder / "s.json", config={"epochs": 2},
        ...                    fields=lambda complete: {"task": "example", "complete": complete})
        >>> record.record_epoch({"epoch": 1, "seconds": 0.5, "eval": {"accuracy": 0.9}})
        >>> written = json.loads((folder / "s.json").read_text())
        >>> written["complete"], written["epochs_run"], written["epoch_seconds"], written["command"]
        (False, 1, [0.5], 'python -m tasks.example --epochs 2')
        >>> sorted(written["load_average"])
        ['end', 'start']
        >>> import shutil; shutil.rmtree(folder)
    """

    def __init__(self, task: str, argv: Sequence[str], output: pathlib.Path, *, config: dict,
                 fields: Callable[[bool], dict]):
        self.task, self.argv, self.output = task, list(argv), pathlib.Path(output)
        self.config, self.fields = config, fields
        self.history: list = []
        #: The run's :class:`spikejax.train.Checkpointer`, if any: after a resume, the epochs run
        #: before it (saved with the checkpoint) head :attr:`history`, so that nothing of them is lost.
        self.checkpointer = None
        self.resumed_from: Optional[int] = None
        self.earlier_summary: Optional[dict] = None  # the figures of the run before the resume, when read
        self.interrupt: Optional[Interruptible] = None
        self.began, self.cpu_began, self.load_start = time.perf_counter(), time.process_time(), os.getloadavg()

    def open_checkpointer(self, directory: Optional[str]):
        """The run's :class:`spikejax.train.Checkpointer` in ``directory`` (``None`` without one),
        kept as :attr:`checkpointer`, so that a resumed run's summary starts with the epochs before it."""
        from spikejax import train

        self.checkpointer = train.Checkpointer(directory) if directory else None
        return self.checkpointer

    def _take_restored(self) -> None:
        """After a resume, once: the epochs before it head :attr:`history`, from the checkpoint or,
        for a checkpoint saved without them, from this run's earlier summary at ``output``."""
        restored = getattr(self.checkpointer, "restored_epoch", None)
        if self.history or restored is None or self.resumed_from is not None:
            return
        self.resumed_from = restored
        saved = self.checkpointer.restored_history
        if saved is None:
            saved = self._earlier_summary_history(restored)
        self.history.extend(h for h in saved or [] if h["epoch"] <= restored)

    def _earlier_summary_history(self, restored: int) -> Optional[list]:
        """The history in the summary already at ``output`` when it is this run's (the same
        configuration but for how it is shown and resumed) and covers epochs 1 to ``restored``."""
        try:
            earlier = json.loads(self.output.read_text())
        except (OSError, ValueError):
            return None
        config = earlier.get("config") if isinstance(earlier, dict) else None
        if not isinstance(config, dict) or not str(earlier.get("command", "")).startswith(f"python -m {self.task} "):
            return None
        shown = {"resume", "output", "no_progress"}
        if any(config[k] != v for k, v in self.config.items() if k in config and k not in shown):
            return None
        history = [h for h in earlier.get("history") or [] if isinstance(h, dict) and h.get("epoch", 0) <= restored]
        if [h["epoch"] for h in history] != list(range(1, restored + 1)):
            return None
        self.earlier_summary = {"path": str(self.output), "wall_seconds": earlier.get("wall_seconds"),
                                "cpu_seconds": earlier.get("cpu_seconds"), "load_average": earlier.get("load_average")}
        return history

    def summary(self, complete: bool) -> dict:
        """The task's fields and the common ones."""
        self._take_restored()
        import spikejax
        from spikejax import train

        return {
            **self.fields(complete),
            "epochs_run": len(self.history), "epoch_seconds": [h["seconds"] for h in self.history],
            "history": self.history, "resumed_from_epoch": self.resumed_from,
            **({"before_resume": self.earlier_summary} if self.earlier_summary else {}),
            "wall_seconds": time.perf_counter() - self.began, "cpu_seconds": time.process_time() - self.cpu_began,
            "load_average": {"start": list(self.load_start), "end": list(os.getloadavg())},
            "environment": train.environment(), "spikejax": spikejax.__version__,
            "config": self.config, "command": shlex.join(["python", "-m", self.task]) + " " + " ".join(self.argv),
        }

    def write(self, complete: bool = False) -> dict:
        """Write the summary to ``output`` and return it."""
        summary = self.summary(complete)
        self.output.parent.mkdir(parents=True, exist_ok=True)
        self.output.write_text(json.dumps(summary, indent=2, default=str))
        return summary

    def record_epoch(self, result: dict) -> None:
        """``fit``'s ``on_epoch_end``: keep the epoch, write the summary (so that a run cut off
        leaves its figures, ``"complete": false``) and tell the :meth:`interruptible` the epoch.
        The first epoch after a resume puts the epochs saved with the checkpoint before it."""
        self._take_restored()
        self.history.append(result)
        self.write(complete=False)
        if self.interrupt is not None:
            self.interrupt.completed = result["epoch"]

    def interruptible(self, *, epochs: Optional[int], checkpoint_dir: Optional[str], start: int = 0) -> Interruptible:
        """The :class:`Interruptible` of this run, writing this record on Ctrl-C."""
        self.interrupt = Interruptible(self.task, self.argv, self.output, summary=lambda: self.summary(False),
                                       epochs=epochs, checkpoint_dir=checkpoint_dir, start=start)
        return self.interrupt


_reported = False  # whether an Interruptible has printed its message


def run_main(main: Callable[[], object]) -> None:
    """The tasks' ``__main__`` entry: ``main()``, and exit code 130 without a traceback on Ctrl-C."""
    global _reported
    _reported = False
    try:
        main()
    except KeyboardInterrupt:
        if not _reported:  # stopped before training began (loading data, compiling)
            print("Interrupted (Ctrl-C) outside the training loop (loading data, compiling or the final "
                  "evaluation); no summary was written by this step.", file=sys.stderr, flush=True)
        sys.exit(EXIT_INTERRUPTED)
