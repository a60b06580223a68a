"""Read IDX files (the MNIST container format), gzip or raw, checking every field.

IDX: a big-endian int32 magic (2051 for images, 2049 for labels), one big-endian int32 per
dimension, then the uint8 payload. Every failure is a `DatasetError` naming the file and what is
wrong, so a damaged download never surfaces as a numpy traceback.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
_EXPECTED_DIMS = {IMAGES_MAGIC: 3, LABELS_MAGIC: 1}


class DatasetError(Exception):
    """A data set file is missing, damaged or inconsistent; the message names the file."""


@dataclass(frozen=True)
class IdxFile:
    """One decoded IDX file.

    array: uint8, shape (count, rows, cols) for images or (count,) for labels.
    md5: hex md5 of the decompressed bytes, comparable with the official checksums.
    """

    path: Path
    array: np.ndarray
    md5: str


def read_bytes(path: Path) -> bytes:
    """Return the decompressed content of `path` (gzip when it starts with the gzip magic)."""
    if not path.is_file():
        raise DatasetError(f"{path}: file is missing")
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            return gzip.decompress(raw)
        return raw
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DatasetError(f"{path}: cannot decompress ({exc})") from exc


def parse_idx(path: Path, content: bytes, expected_magic: int) -> np.ndarray:
    """Check the header of `content` and return its payload as a uint8 array.

    The payload length must equal the product of the header's dimensions exactly: a truncated
    file and one with trailing bytes are both errors.
    """
    kind = "images" if expected_magic == IMAGES_MAGIC else "labels"
    if len(content) < 4:
        raise DatasetError(f"{path}: truncated: {len(content)} bytes, no IDX header")
    (magic,) = struct.unpack(">i", content[:4])
    if magic != expected_magic:
        raise DatasetError(
            f"{path}: wrong magic number {magic}, expected {expected_magic} ({kind} file)"
        )
    ndim = _EXPECTED_DIMS[expected_magic]
    header_len = 4 + 4 * ndim
    if len(content) < header_len:
        raise DatasetError(f"{path}: truncated header: {len(content)} of {header_len} bytes")
    dims = struct.unpack(f">{ndim}i", content[4:header_len])
    if any(d <= 0 for d in dims):
        raise DatasetError(f"{path}: bad dimensions {dims} in header")
    # Python ints: numpy's product of a forged header (2^21·2^21·2^22) would wrap to 0.
    expected = math.prod(dims)
    payload = len(content) - header_len
    if payload < expected:
        raise DatasetError(
            f"{path}: truncated: header says {'x'.join(map(str, dims))} = {expected} bytes "
            f"of data, file has {payload}"
        )
    if payload > expected:
        raise DatasetError(
            f"{path}: {payload - expected} unexpected bytes after the {expected} data bytes"
        )
    return np.frombuffer(content, dtype=np.uint8, offset=header_len).reshape(dims)


def read_idx(path: Path, expected_magic: int) -> IdxFile:
    """Read and check one IDX file, gzip or raw."""
    content = read_bytes(path)
    array = parse_idx(path, content, expected_magic)
    return IdxFile(path=path, array=array, md5=hashlib.md5(content).hexdigest())
