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


def _tiny_filesystem(folder):
    """A 64 KiB tmpfs at `folder` (root), else None."""
    import subprocess

    folder.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], capture_output=True)
    return folder if result.returncode == 0 else None


def test_full_disk_names_the_file_being_written(tmp_path):
    """A real full file system (a 64 KiB tmpfs); without the right to mount one, a real file-size
    limit (RLIMIT_FSIZE) in a child process, which the kernel reports the same way (EFBIG)."""
    import errno
    import subprocess
    import sys
    import textwrap

    from conftest import REPO

    tiny = _tiny_filesystem(tmp_path / "tiny")
    target = (tiny or tmp_path) / "results" / "clips.npy"
    script = textwrap.dedent(f"""
        import resource, signal, sys
        sys.path.insert(0, {str(REPO / 'src')!r})
        from audiogan.atomic import DiskFullError, atomic_write_bytes, atomic_write_text
        if {tiny is None}:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))
        atomic_write_text({str(target)!r}, "old")
        try:
            atomic_write_bytes({str(target)!r}, b"x" * 1_000_000)
        except DiskFullError as error:
            print(error.errno, error)
    """)
    try:
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        code, message = result.stdout.split(" ", 1)
        assert int(code) in (errno.ENOSPC, errno.EFBIG)
        assert f"cannot write {target}" in message and "free some space" in message
        assert target.read_text() == "old" and [p.name for p in target.parent.iterdir()] == ["clips.npy"]
    finally:
        if tiny:
            subprocess.run(["umount", str(tiny)], check=True)
