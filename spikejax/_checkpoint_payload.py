"""What a checkpoint carries besides orbax's arrays, checked on the way in and out.

The user's metadata and the run's per-epoch history (JSON-able, validated before a save), the
SHA-256 checksum over every array (orbax does not checksum the compressed chunks), and the
matching of a restored tree against the model and optimizer it is loaded into.
"""

from __future__ import annotations

import hashlib
import json
from typing import Mapping, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

# The metadata key under which a checkpoint keeps its checksum (stripped from what restore returns).
RESERVED = "_spikejax"


def check_metadata(metadata) -> dict:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise TypeError(f"metadata must be a mapping (JSON-able dict) or None, got {type(metadata).__name__}")
    if RESERVED in metadata:
        raise ValueError(f"metadata must not use the key {RESERVED!r}: the checkpointer keeps its checksum there")
    try:
        json.dumps(dict(metadata))
    except (TypeError, ValueError) as error:
        raise TypeError(f"metadata must be JSON-able (str keys; numbers, strings, lists, dicts): {error}") from None
    return dict(metadata)


def check_history(history) -> Optional[list]:
    """``history`` as a JSON-able list of dicts (numpy and jax scalars as numbers), or ``None``."""
    if history is None:
        return None
    if isinstance(history, (str, bytes, Mapping)) or not isinstance(history, Sequence):
        raise TypeError(f"history must be a list of per-epoch dicts or None, got {type(history).__name__}")

    def number(value):
        if hasattr(value, "item") and getattr(value, "size", 1) == 1:
            return value.item()
        raise TypeError(f"history must be JSON-able, got a {type(value).__name__}")

    try:
        return json.loads(json.dumps(list(history), default=number))
    except (TypeError, ValueError) as error:
        raise TypeError(f"history must be JSON-able (dicts of numbers and strings): {error}") from None


def host(leaf) -> Optional[np.ndarray]:
    """``leaf`` as a numpy array (typed PRNG keys as their key data), or ``None`` if unreadable here."""
    if hasattr(leaf, "dtype") and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
        leaf = jax.random.key_data(leaf)
    if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
        if not leaf.is_fully_replicated:
            return None  # a shard of it lives in another process
        leaf = leaf.addressable_data(0)
    return np.asarray(leaf)


def checksum(tree) -> Optional[str]:
    """SHA-256 over every leaf's path, dtype, shape and bytes, in path order (``None`` if sharded)."""
    flat = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        name = "/".join(str(getattr(k, "key", getattr(k, "idx", getattr(k, "name", k)))) for k in path)
        flat.append((name, leaf))
    digest = hashlib.sha256()
    for name, leaf in sorted(flat, key=lambda item: item[0]):
        array = host(leaf)
        if array is None:
            return None
        array = np.ascontiguousarray(array)
        digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def match_keys(target, saved, path: str, where: str = "the checkpoint"):
    """``saved`` rearranged to the structure of ``target``; orbax stores every dict key as str.

    Every entry of ``target`` must be in ``saved`` and every entry of ``saved`` in ``target``:
    a checkpoint of another model (a layer more) or another optimizer (Adam's moments into
    SGD) is an error naming the entries, not a partial load.
    """
    if isinstance(target, Mapping):
        if not isinstance(saved, Mapping):
            raise ValueError(f"{where}: entry {path} is not a mapping, expected keys {list(target)}")
        wanted = {str(key) for key in target}
        unexpected = sorted(f"{path}/{key}" for key in saved if str(key) not in wanted)
        missing = sorted(f"{path}/{key}" for key in target if str(key) not in saved)
        if missing or unexpected:
            parts = []
            if missing:
                parts.append(f"has no entry {', '.join(missing)}")
            if unexpected:
                parts.append(f"has unexpected entries {', '.join(unexpected)}")
            raise ValueError(
                f"{where} {' and '.join(parts)}; the {path.split('/')[0]}'s structure changed "
                f"(restore into the architecture and optimizer it was saved from)"
            )
        return {key: match_keys(value, saved[str(key)], f"{path}/{key}", where) for key, value in target.items()}
    saved = jnp.asarray(saved)
    if hasattr(target, "dtype") and jax.dtypes.issubdtype(target.dtype, jax.dtypes.prng_key):
        # Typed PRNG keys (e.g. a Dropout's RNG stream) are stored as their raw key data.
        if not jax.dtypes.issubdtype(saved.dtype, jax.dtypes.prng_key):
            saved = jax.random.wrap_key_data(saved, impl=jax.random.key_impl(target))
        return saved
    if hasattr(target, "shape") and tuple(saved.shape) != tuple(target.shape):
        raise ValueError(
            f"{where}: entry {path} has shape {tuple(saved.shape)}, the model expects {tuple(target.shape)}"
        )
    return saved.astype(target.dtype) if hasattr(target, "dtype") else saved
