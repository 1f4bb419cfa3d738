"""Orbax checkpoints of an NNX model and its optimizer (re-exported as ``spikejax.train.Checkpointer``)."""

from __future__ import annotations

import os
import pathlib
from typing import Mapping, Optional

import jax
import jax.numpy as jnp
from flax import nnx

__all__ = ["Checkpointer"]


class Checkpointer:
    """Orbax checkpoints of a model, its optimizer and a small JSON-able metadata dict.

    Args:
        directory: where checkpoints live (one sub-folder per epoch).
        max_to_keep: how many recent checkpoints to keep (``None``: all).

    Example:
        >>> import tempfile, optax
        >>> from flax import nnx
        >>> model = nnx.Linear(2, 2, rngs=nnx.Rngs(0))
        >>> optimizer = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)
        >>> ckpt = Checkpointer(tempfile.mkdtemp())
        >>> ckpt.save(1, model, optimizer, {"seed": 0})
        >>> ckpt.latest_epoch()
        1
        >>> ckpt.restore(model, optimizer)["seed"]
        0
        >>> ckpt.close()
    """

    def __init__(self, directory: str | os.PathLike, *, max_to_keep: Optional[int] = 3):
        import orbax.checkpoint as ocp

        self._ocp = ocp
        self.directory = pathlib.Path(directory).absolute()
        self._manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True),
        )

    def latest_epoch(self) -> Optional[int]:
        """The epoch of the newest checkpoint, or ``None`` when there is none."""
        return self._manager.latest_step()

    def save(self, epoch: int, model, optimizer=None, metadata: Optional[Mapping] = None) -> None:
        """Save after ``epoch`` (blocking until written, so that a crash right after keeps it)."""
        payload = {"model": nnx.to_pure_dict(nnx.state(model))}
        if optimizer is not None:
            payload["optimizer"] = nnx.to_pure_dict(nnx.state(optimizer))
        args = self._ocp.args
        self._manager.save(
            epoch,
            args=args.Composite(
                state=args.StandardSave(payload), metadata=args.JsonSave(dict(metadata or {}))
            ),
        )
        self._manager.wait_until_finished()

    def restore(self, model, optimizer=None, epoch: Optional[int] = None) -> dict:
        """Load ``epoch`` (default: the latest) into ``model`` and ``optimizer`` in place.

        Returns:
            The metadata dict saved with it.

        Raises:
            FileNotFoundError: when the directory holds no checkpoint.
        """
        epoch = self.latest_epoch() if epoch is None else epoch
        if epoch is None:
            raise FileNotFoundError(f"no checkpoint to restore in {self.directory}")
        targets = {"model": model}
        if optimizer is not None:
            targets["optimizer"] = optimizer
        args = self._ocp.args
        # Restore the saved tree as it is on disk (so that the model can be restored without the
        # optimizer saved beside it), then match it onto each object's current structure.
        restored = self._manager.restore(
            epoch, args=args.Composite(state=args.StandardRestore(), metadata=args.JsonRestore())
        )
        for name, obj in targets.items():
            if name not in restored["state"]:
                raise ValueError(f"the checkpoint of epoch {epoch} holds no {name} state")
            state = nnx.state(obj)
            pure = _match_keys(nnx.to_pure_dict(state), restored["state"][name], name)
            nnx.replace_by_pure_dict(state, pure)
            nnx.update(obj, state)
        return dict(restored["metadata"] or {})

    def close(self) -> None:
        self._manager.close()


def _match_keys(target, saved, path: str):
    """``saved`` rearranged to the structure of ``target``; orbax stores every dict key as str."""
    if isinstance(target, Mapping):
        if not isinstance(saved, Mapping):
            raise ValueError(f"checkpoint entry {path} is not a mapping, expected keys {list(target)}")
        out = {}
        for key, value in target.items():
            if str(key) not in saved:
                raise ValueError(f"checkpoint has no entry {path}/{key}; the model's structure changed")
            out[key] = _match_keys(value, saved[str(key)], f"{path}/{key}")
        return out
    saved = jnp.asarray(saved)
    if hasattr(target, "dtype") and jax.dtypes.issubdtype(target.dtype, jax.dtypes.prng_key):
        # Typed PRNG keys (e.g. a Dropout's RNG stream) are stored as their raw key data.
        if not jax.dtypes.issubdtype(saved.dtype, jax.dtypes.prng_key):
            saved = jax.random.wrap_key_data(saved, impl=jax.random.key_impl(target))
        return saved
    if hasattr(target, "shape") and tuple(saved.shape) != tuple(target.shape):
        raise ValueError(
            f"checkpoint entry {path} has shape {tuple(saved.shape)}, the model expects {tuple(target.shape)}"
        )
    return saved.astype(target.dtype) if hasattr(target, "dtype") else saved
