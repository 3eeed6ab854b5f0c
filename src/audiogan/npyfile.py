"""Writing large `.npy` arrays sequentially, atomically, in bounded memory.

The converted shards and `clips.npy` are written header first, then row blocks, instead of being
built in memory or through a memory map (which costs a page fault per 4 KiB written). Readers
open them with `np.load(path, mmap_mode="r")` as usual.
"""

from __future__ import annotations

import contextlib
import math
import os
from typing import BinaryIO, Iterator

import numpy as np

from .atomic import atomic_path


@contextlib.contextmanager
def npy_writer(path: str | os.PathLike, shape: tuple[int, ...], dtype=np.float32) -> Iterator[BinaryIO]:
    """Yield a handle positioned after the .npy header; write exactly `shape` worth of `dtype` rows.

    The file appears under `path` only if the block succeeds and the byte count matches the shape,
    so a planning mistake or a crash never leaves a wrong array under the final name.
    """
    dtype = np.dtype(dtype)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": tuple(shape)}
            np.lib.format.write_array_header_1_0(handle, header)
            data_start = handle.tell()
            yield handle
            written = handle.tell() - data_start
        expected = math.prod(shape) * dtype.itemsize
        if written != expected:
            raise ValueError(f"{path}: wrote {written} bytes of array data, the shape {shape} needs {expected}")


def write_rows(handle: BinaryIO, rows: np.ndarray, dtype=np.float32) -> None:
    """Append `rows` (converted to `dtype`, C order) to a handle from `npy_writer`."""
    handle.write(np.ascontiguousarray(rows, dtype=dtype).data)


# Room for any shape of up to two 19-digit dimensions, so the header can be rewritten in place.
_GROWING_HEADER_BYTES = 256  # room for a structured dtype (the clip index has 4 fields) and a large shape


class GrowingNpy:
    """Rows appended to a `.npy` whose length is not known in advance (see `npy_appender`)."""

    def __init__(self, handle: BinaryIO, row_shape: tuple[int, ...], dtype: np.dtype):
        self.handle, self.row_shape, self.dtype = handle, tuple(row_shape), dtype
        self.rows = 0
        self._row_items = math.prod(self.row_shape)

    def append(self, rows: np.ndarray) -> int:
        """Append rows (shape [k, *row_shape], or 1-D samples when row_shape is ()); returns the
        index of the first appended row."""
        data = np.ascontiguousarray(rows, dtype=self.dtype)
        if data.size % max(self._row_items, 1):
            raise ValueError(f"{data.shape} is not a whole number of rows of {self.row_shape}")
        first = self.rows
        self.handle.write(data.data)
        self.rows += data.size // max(self._row_items, 1)
        return first


def _npy_header(shape: tuple[int, ...], dtype: np.dtype, size: int) -> bytes:
    """A version 1.0 .npy header padded with spaces to exactly `size` bytes."""
    text = repr({"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": tuple(shape)})
    body = text.encode("latin1")
    room = size - 10 - len(body) - 1
    if room < 0:
        raise ValueError(f"shape {shape} does not fit a {size}-byte .npy header")
    body += b" " * room + b"\n"
    return np.lib.format.MAGIC_PREFIX + bytes([1, 0]) + len(body).to_bytes(2, "little") + body


@contextlib.contextmanager
def npy_appender(path: str | os.PathLike, row_shape: tuple[int, ...] = (), dtype=np.float32) -> Iterator[GrowingNpy]:
    """Stream rows of unknown count into a `.npy` (memory: one block); the header's shape is
    filled in at the end. Like `npy_writer`, the file takes its name only if the block succeeds."""
    dtype = np.dtype(dtype)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(b"\0" * _GROWING_HEADER_BYTES)
            growing = GrowingNpy(handle, row_shape, dtype)
            yield growing
            handle.seek(0)
            handle.write(_npy_header((growing.rows, *growing.row_shape), dtype, _GROWING_HEADER_BYTES))
