"""Reading and writing gzip-compressed IDX files with numpy alone.

IDX (LeCun's format for MNIST) is a 4-byte magic number ``00 00 <type> <ndim>``, then ``ndim``
big-endian uint32 dimensions, then the values in C order. Only type ``0x08`` (unsigned byte) is
used by MNIST and Fashion-MNIST, so only that type is supported.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib

import numpy as np

_UBYTE = 0x08


def read_idx(path: str | os.PathLike, *, ndim: int) -> np.ndarray:
    """Read a gzip-compressed IDX file of unsigned bytes with ``ndim`` dimensions."""
    with open(path, "rb") as file:
        return parse_idx(file.read(), ndim=ndim, source=str(path))


def parse_idx(compressed: bytes, *, ndim: int, source: str) -> np.ndarray:
    """Decode the bytes of a gzip-compressed IDX file into a writable ``uint8`` array.

    Raises ``ValueError`` naming ``source`` when the gzip stream is damaged or the magic number,
    rank or length is wrong.
    """
    try:
        # One-shot zlib (wbits=31: gzip container) is the fastest decoder in the standard library.
        raw = zlib.decompress(compressed, 31)
    except zlib.error as error:
        raise ValueError(f"{source}: cannot decompress: {error}") from error
    expected = bytes((0, 0, _UBYTE, ndim))
    if raw[:4] != expected:
        raise ValueError(
            f"{source}: not a {ndim}-dimensional IDX file of unsigned bytes: magic number "
            f"{raw[:4].hex(' ') or '(empty)'}, expected {expected.hex(' ')}"
        )
    offset = 4 + 4 * ndim
    if len(raw) < offset:
        raise ValueError(f"{source}: IDX header is truncated ({len(raw)} of {offset} bytes)")
    dims = struct.unpack(f">{ndim}I", raw[4:offset])
    size = int(np.prod(dims))
    if len(raw) - offset != size:
        raise ValueError(
            f"{source}: header says shape {dims} = {size} bytes of data, the file holds {len(raw) - offset}"
        )
    # frombuffer views the immutable bytes; copy so callers get an ordinary writable array.
    return np.frombuffer(raw, np.uint8, count=size, offset=offset).reshape(dims).copy()


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` (any shape, values 0..255) as a gzip-compressed IDX file of unsigned bytes."""
    array = np.ascontiguousarray(array)
    if array.dtype != np.uint8:
        raise TypeError(f"array must have dtype uint8, got {array.dtype}")
    header = bytes((0, 0, _UBYTE, array.ndim)) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as stream:
        stream.write(header)
        stream.write(array.tobytes())
