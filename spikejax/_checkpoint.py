"""Orbax checkpoints of an NNX model and its optimizer (re-exported as ``spikejax.train.Checkpointer``).

What is on disk is never lost or ignored without a word:

* A save never overwrites a checkpoint, nor writes one older than a checkpoint already there
  (a stale run would then be the one a resume loads), unless ``overwrite=True`` asks for it.
* Each checkpoint carries a SHA-256 checksum of its arrays in its metadata: orbax (tensorstore's
  OCDBT) checksums its index but not the compressed array chunks, so a flipped bit in a data file
  would otherwise restore as a silently different number.
* Only complete checkpoints count (:meth:`Checkpointer.epochs`); orbax writes into a temporary
  folder and renames it at the end, so a save killed half-way leaves nothing that counts.
* Restoring a damaged epoch raises :class:`CheckpointError` naming the epoch and the folder;
  restoring the latest falls back to the newest intact checkpoint with a
  :class:`CheckpointWarning` naming the damaged epochs, and moves those aside
  (``<epoch>.damaged``) so that the resumed run can save its own.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import warnings
from typing import Mapping, Optional, Sequence

import jax
from flax import nnx

from spikejax._checkpoint_payload import RESERVED, check_history, check_metadata, checksum, match_keys

__all__ = ["Checkpointer", "CheckpointError", "CheckpointWarning"]

# What orbax writes that a restore cannot do without (relative to the epoch's folder).
_REQUIRED = ("state/_METADATA", "state/manifest.ocdbt", "metadata/metadata")


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read back: damaged, incomplete, or not written.

    Attributes:
        epoch: the checkpoint's epoch (``None`` when no epoch is concerned).
        directory: the checkpointer's folder.

    Example:
        >>> import pathlib, tempfile, optax
        >>> from flax import nnx
        >>> model = nnx.Linear(2, 2, rngs=nnx.Rngs(0))
        >>> with tempfile.TemporaryDirectory() as folder, Checkpointer(folder) as ckpt:
        ...     ckpt.save(1, model)
        ...     (pathlib.Path(folder) / "1" / "state" / "_METADATA").unlink()   # damage it
        ...     try:
        ...         ckpt.restore(model, epoch=1)
        ...     except CheckpointError as error:
        ...         print("epoch", error.epoch, "is damaged")
        epoch 1 is damaged
    """

    def __init__(self, message: str, *, epoch: Optional[int] = None, directory=None):
        super().__init__(message)
        self.epoch = epoch
        self.directory = directory


class CheckpointWarning(UserWarning):
    """A damaged checkpoint was skipped (and moved aside) when restoring the latest one.

    Example:
        >>> import pathlib, tempfile, warnings
        >>> from flax import nnx
        >>> model = nnx.Linear(2, 2, rngs=nnx.Rngs(0))
        >>> with tempfile.TemporaryDirectory() as folder, Checkpointer(folder) as ckpt:
        ...     ckpt.save(1, model)
        ...     ckpt.save(2, model)
        ...     (pathlib.Path(folder) / "2" / "state" / "_METADATA").unlink()   # damage epoch 2
        ...     with warnings.catch_warnings(record=True) as caught:
        ...         warnings.simplefilter("always")
        ...         _ = ckpt.restore(model)                                      # the latest intact
        ...     print(ckpt.restored_epoch, caught[0].category.__name__)
        1 CheckpointWarning
    """


class Checkpointer:
    """Orbax checkpoints of a model, its optimizer and a small JSON-able metadata dict.

    One sub-folder per epoch (``directory/3`` holds the state after epoch 3). A save at an
    epoch that exists, or older than the newest checkpoint there, raises
    :class:`FileExistsError` unless ``overwrite=True``: then it replaces that checkpoint and
    removes the newer ones (an earlier run's), so that the folder holds one run.

    Args:
        directory: where checkpoints live (created if missing).
        max_to_keep: how many recent checkpoints to keep (``None``: all).
        overwrite: let saves replace checkpoints already in ``directory`` (see above).

    Example:
        >>> import tempfile, optax
        >>> from flax import nnx
        >>> model = nnx.Linear(2, 2, rngs=nnx.Rngs(0))
        >>> optimizer = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)
        >>> with tempfile.TemporaryDirectory() as folder, Checkpointer(folder) as ckpt:
        ...     ckpt.save(1, model, optimizer, {"seed": 0})
        ...     print(ckpt.latest_epoch(), ckpt.restore(model, optimizer))
        1 {'seed': 0}

        Saving over an existing epoch is an error unless asked for:

        >>> with tempfile.TemporaryDirectory() as folder:
        ...     with Checkpointer(folder) as ckpt:
        ...         ckpt.save(1, model)
        ...         try:
        ...             ckpt.save(1, model)
        ...         except FileExistsError as error:
        ...             print("refused")
        ...     with Checkpointer(folder, overwrite=True) as ckpt:
        ...         ckpt.save(1, model)
        ...         print(ckpt.epochs())
        refused
        [1]
    """

    def __init__(self, directory: str | os.PathLike, *, max_to_keep: Optional[int] = 3, overwrite: bool = False):
        import orbax.checkpoint as ocp

        if not isinstance(directory, (str, os.PathLike)):
            raise TypeError(f"directory must be a str or os.PathLike, got {type(directory).__name__}")
        if max_to_keep is not None and (
            not isinstance(max_to_keep, int) or isinstance(max_to_keep, bool) or max_to_keep < 1
        ):
            raise ValueError(f"max_to_keep must be a positive int or None, got {max_to_keep!r}")
        if not isinstance(overwrite, bool):
            raise TypeError(f"overwrite must be a bool, got {overwrite!r}")
        path = pathlib.Path(directory).absolute()
        if path.exists() and not path.is_dir():
            raise NotADirectoryError(f"directory must be a folder, got {str(path)!r}, which is a file")
        self._ocp = ocp
        self.directory = path
        self.overwrite = overwrite
        #: The epoch the last :meth:`restore` loaded (``None`` before any).
        self.restored_epoch: Optional[int] = None
        #: The per-epoch results saved with that checkpoint (``save(..., history=...)``; :func:`~spikejax.train.fit`
        #: saves the run's so far), so that a resumed run can report its whole history; ``None``
        #: when that checkpoint holds none (saved without it, or before spikejax kept it).
        self.restored_history: Optional[list] = None
        self._manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True),
        )

    # -- what is there ---------------------------------------------------------------------------

    def _folders(self) -> dict[int, pathlib.Path]:
        """Every epoch folder (complete or not): the sub-folders named by an integer."""
        if not self.directory.is_dir():
            return {}
        return {int(p.name): p for p in self.directory.iterdir() if p.name.isdigit() and p.is_dir()}

    def _problem(self, epoch: int) -> Optional[str]:
        """Why the folder of ``epoch`` is not a complete checkpoint, or ``None`` if it is one."""
        folder = self.directory / str(epoch)
        if not folder.is_dir():
            return "its folder does not exist"
        if not any(folder.iterdir()):
            return "its folder is empty"
        missing = [name for name in _REQUIRED if not (folder / name).is_file()]
        if missing:
            return f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing"
        try:
            metadata = json.loads((folder / "metadata" / "metadata").read_text())
        except (OSError, UnicodeDecodeError, ValueError) as error:
            return f"metadata/metadata is not readable JSON ({error})"
        if not isinstance(metadata, dict):
            return "metadata/metadata does not hold a JSON object"
        return None

    def epochs(self) -> list[int]:
        """The epochs of the complete checkpoints, oldest first.

        A folder that lacks what a restore needs (an empty folder, a deleted ``_METADATA`` or
        manifest) does not count; damage inside the data files shows only when restoring.
        """
        return sorted(epoch for epoch in self._folders() if self._problem(epoch) is None)

    def latest_epoch(self) -> Optional[int]:
        """The epoch of the newest complete checkpoint, or ``None`` when there is none."""
        epochs = self.epochs()
        return epochs[-1] if epochs else None

    # -- save --------------------------------------------------------------------------------------

    def save(self, epoch: int, model, optimizer=None, metadata: Optional[Mapping] = None, *,
             history: Optional[Sequence[Mapping]] = None) -> None:
        """Save after ``epoch`` (blocking until written, so that a crash right after keeps it).

        ``history``: the per-epoch results of the run up to ``epoch`` (JSON-able; numpy and jax
        scalars become numbers), read back by :meth:`restore` into :attr:`restored_history`.

        Raises:
            FileExistsError: when ``epoch``, or a newer epoch, is already in the folder and
                ``overwrite`` is off.
            TypeError: when ``metadata`` is not a JSON-able mapping.
            CheckpointError: when orbax did not write the checkpoint.
        """
        if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
            raise ValueError(f"epoch must be a non-negative int, got {epoch!r}")
        metadata = check_metadata(metadata)
        history = check_history(history)
        in_the_way = sorted(e for e in self._folders() if e >= epoch)
        if in_the_way and not self.overwrite:
            raise FileExistsError(
                f"cannot save epoch {epoch} in {self.directory}: it already holds "
                f"{_describe(in_the_way, epoch)}, and saving would "
                f"{'overwrite it' if epoch in in_the_way else 'leave a newer, stale checkpoint that a resume would load'}. "
                f"Resume that run (fit(..., resume=True)), pass Checkpointer(..., overwrite=True) to replace it, "
                f"or use a fresh folder"
            )
        if in_the_way:
            if _primary():
                for stale in in_the_way:
                    shutil.rmtree(self.directory / str(stale))
            _sync("spikejax_checkpoint_overwrite")
        payload = {"model": nnx.to_pure_dict(nnx.state(model))}
        if optimizer is not None:
            payload["optimizer"] = nnx.to_pure_dict(nnx.state(optimizer))
        stored = dict(metadata)
        stored[RESERVED] = {"format": 1, "checksum": checksum(payload)}
        if history is not None:
            stored[RESERVED]["history"] = history
        args = self._ocp.args
        self._manager.reload()  # orbax caches the listing; folders may have changed under it
        saved = self._manager.save(
            epoch,
            args=args.Composite(state=args.StandardSave(payload), metadata=args.JsonSave(stored)),
            force=True,
        )
        self._manager.wait_until_finished()
        problem = self._problem(epoch) if saved else "orbax skipped the save"
        if problem is not None:
            raise CheckpointError(
                f"the checkpoint of epoch {epoch} was not written to {self.directory}: {problem}",
                epoch=epoch, directory=self.directory,
            )

    # -- restore -----------------------------------------------------------------------------------

    def restore(self, model, optimizer=None, epoch: Optional[int] = None) -> dict:
        """Load ``epoch`` (default: the latest intact one) into ``model`` and ``optimizer`` in place.

        With ``epoch=None`` every epoch folder is tried from the newest: a damaged or incomplete
        one is skipped with a :class:`CheckpointWarning` naming it, and moved aside to
        ``<epoch>.damaged`` so that a resumed run can save that epoch again. The epoch loaded is
        in :attr:`restored_epoch`. Nothing is changed in ``model`` or ``optimizer`` unless the
        whole restore succeeds.

        Returns:
            The metadata dict saved with it.

        Raises:
            FileNotFoundError: when the folder holds no checkpoint, or none of ``epoch``.
            CheckpointError: when the checkpoint of ``epoch`` is damaged (or, for the latest,
                when every one is).
            ValueError: when the checkpoint does not fit ``model`` or ``optimizer`` (a missing,
                unexpected or differently shaped entry).
        """
        targets = {"model": model}
        if optimizer is not None:
            targets["optimizer"] = optimizer
        if epoch is not None:
            if not isinstance(epoch, int) or isinstance(epoch, bool):
                raise TypeError(f"epoch must be an int or None, got {epoch!r}")
            if epoch not in self._folders():
                raise FileNotFoundError(
                    f"no checkpoint of epoch {epoch} in {self.directory}; the complete ones are "
                    f"epochs {self.epochs()}"
                )
            problem = self._problem(epoch)
            loaded = self._load(epoch) if problem is None else problem
            if isinstance(loaded, str):
                raise CheckpointError(
                    f"the checkpoint of epoch {epoch} in {self.directory} is damaged: {loaded}",
                    epoch=epoch, directory=self.directory,
                )
            return self._apply(epoch, loaded, targets)
        folders = sorted(self._folders(), reverse=True)
        if not folders:
            raise FileNotFoundError(f"no checkpoint to restore in {self.directory}")
        damaged = []
        for candidate in folders:
            problem = self._problem(candidate)
            loaded = self._load(candidate) if problem is None else problem
            if isinstance(loaded, str):
                damaged.append((candidate, loaded))
                continue
            metadata = self._apply(candidate, loaded, targets)
            if damaged:
                moved = self._set_aside([e for e, _ in damaged])
                warnings.warn(
                    f"restored epoch {candidate} from {self.directory}, skipping damaged "
                    f"checkpoints: " + "; ".join(f"epoch {e}: {why}" for e, why in damaged) + f". {moved}",
                    CheckpointWarning, stacklevel=2,
                )
            return metadata
        raise CheckpointError(
            f"every checkpoint in {self.directory} is damaged: "
            + "; ".join(f"epoch {e}: {why}" for e, why in damaged),
            epoch=damaged[0][0], directory=self.directory,
        )

    def _load(self, epoch: int):
        """``(state, metadata, history)`` read back and verified, or a string saying why it could not be."""
        args = self._ocp.args
        self._manager.reload()
        try:
            restored = self._manager.restore(
                epoch, args=args.Composite(state=args.StandardRestore(), metadata=args.JsonRestore())
            )
        except Exception as error:  # orbax and tensorstore raise anything from KeyError to ValueError
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            return f"orbax could not read it ({type(error).__name__}: {first[:300]})"
        state, metadata = restored["state"], dict(restored["metadata"] or {})
        integrity = metadata.pop(RESERVED, None)
        if isinstance(integrity, Mapping) and integrity.get("checksum") is not None:
            found = checksum(state)
            if found != integrity["checksum"]:
                return (f"its arrays do not match the checksum saved with them "
                        f"(saved {integrity['checksum'][:16]}..., read {str(found)[:16]}...)")
        history = integrity.get("history") if isinstance(integrity, Mapping) else None
        return state, metadata, history if isinstance(history, list) else None

    def _apply(self, epoch: int, loaded, targets: dict) -> dict:
        state, metadata, history = loaded
        where = f"the checkpoint of epoch {epoch} in {self.directory}"
        matched = {}
        for name, obj in targets.items():
            if name not in state:
                raise ValueError(f"{where} holds no {name} state (it holds {sorted(state)})")
            current = nnx.state(obj)
            pure = match_keys(nnx.to_pure_dict(current), state[name], name, where)
            matched[name] = (obj, current, pure)
        # Everything fits: only now change the objects, so that a failure leaves them as they were.
        for obj, current, pure in matched.values():
            nnx.replace_by_pure_dict(current, pure)
            nnx.update(obj, current)
        self.restored_epoch = epoch
        self.restored_history = history
        return metadata

    def _set_aside(self, epochs: list[int]) -> str:
        """Rename damaged epoch folders to ``<epoch>.damaged`` (kept, but no longer counted)."""
        moved, failed = [], []
        for epoch in epochs:
            source = self.directory / str(epoch)
            target = self.directory / f"{epoch}.damaged"
            suffix = 1
            while target.exists():
                suffix += 1
                target = self.directory / f"{epoch}.damaged-{suffix}"
            try:
                if _primary():
                    source.rename(target)
                moved.append(target.name)
            except OSError as error:
                failed.append(f"{source} ({error})")
        _sync("spikejax_checkpoint_set_aside")
        self._manager.reload()
        text = f"Moved them aside to {', '.join(moved)} in {self.directory}." if moved else ""
        if failed:
            text += f" Could not move {', '.join(failed)}: remove them before saving those epochs again."
        return text.strip()

    def close(self) -> None:
        self._manager.close()

    def __enter__(self) -> "Checkpointer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Checkpointer({str(self.directory)!r}, overwrite={self.overwrite})"


def _describe(epochs: list[int], epoch: int) -> str:
    listed = ", ".join(map(str, epochs[:5])) + (", ..." if len(epochs) > 5 else "")
    return f"checkpoint folders of epochs {listed} (latest epoch {epochs[-1]})"


def _primary() -> bool:
    return jax.process_index() == 0


def _sync(name: str) -> None:
    if jax.process_count() > 1:
        from orbax.checkpoint import multihost

        multihost.sync_global_processes(name)
