"""Sequential .npy writing: readable by np.load, and never a wrong array under the final name."""

import numpy as np
import pytest

from audiogan.npyfile import npy_writer, write_rows


def test_rows_written_in_blocks_load_back_memory_mapped(tmp_path):
    rows = np.arange(24, dtype=np.float32).reshape(6, 4)
    with npy_writer(tmp_path / "a.npy", rows.shape) as handle:
        write_rows(handle, rows[:4])
        write_rows(handle, rows[4:].astype(np.float64))  # converted to the file's dtype
    loaded = np.load(tmp_path / "a.npy", mmap_mode="r")
    assert loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, rows)


def test_short_write_leaves_no_file(tmp_path):
    with pytest.raises(ValueError, match="shape"):
        with npy_writer(tmp_path / "a.npy", (3, 4)) as handle:
            write_rows(handle, np.zeros((2, 4)))
    assert list(tmp_path.iterdir()) == []


def test_error_inside_the_block_leaves_no_file(tmp_path):
    with pytest.raises(RuntimeError):
        with npy_writer(tmp_path / "a.npy", (1, 4)) as handle:
            write_rows(handle, np.zeros((1, 4)))
            raise RuntimeError("crash while writing")
    assert list(tmp_path.iterdir()) == []


def test_appender_of_unknown_length_fills_in_the_shape(tmp_path):
    from audiogan.npyfile import npy_appender

    with npy_appender(tmp_path / "a.npy", (3,), np.int16) as out:
        assert out.append(np.ones((2, 3))) == 0
        assert out.append(np.full((1, 3), 7)) == 2
    loaded = np.load(tmp_path / "a.npy", mmap_mode="r")
    assert loaded.dtype == np.int16 and loaded.shape == (3, 3) and loaded[2, 0] == 7
    with npy_appender(tmp_path / "empty.npy", (), np.float32):
        pass
    assert np.load(tmp_path / "empty.npy").shape == (0,)
    with pytest.raises(RuntimeError):
        with npy_appender(tmp_path / "b.npy") as out:
            out.append(np.zeros(4))
            raise RuntimeError("crash while writing")
    assert not (tmp_path / "b.npy").exists()
    with pytest.raises(ValueError, match="whole number of rows"):
        with npy_appender(tmp_path / "c.npy", (3,)) as out:
            out.append(np.zeros(4))
    assert not (tmp_path / "c.npy").exists()
