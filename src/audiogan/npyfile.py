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
