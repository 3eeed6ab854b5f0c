"""Atomic writes: all or nothing under the final name, with ordinary file permissions."""

import stat

import pytest

from audiogan.atomic import atomic_open, atomic_write_text


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "table.tsv"
    atomic_write_text(target, "old\n")
    with pytest.raises(RuntimeError):
        with atomic_open(target) as handle:
            handle.write("half of the new conten")
            raise RuntimeError("crash")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["table.tsv"]


def test_written_files_get_the_permissions_open_would_give(tmp_path):
    atomic_write_text(tmp_path / "atomic.txt", "x")
    (tmp_path / "plain.txt").write_text("x")
    mode = lambda name: stat.S_IMODE((tmp_path / name).stat().st_mode)  # noqa: E731
    assert mode("atomic.txt") == mode("plain.txt")
