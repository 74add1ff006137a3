"""Saved copies of personal and bank data are owner-only, and only named plain files are purged."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from subsidy_platform.private_files import remove_copies, write_private


def test_a_copy_is_owner_only_whatever_the_umask_and_leaves_no_temporary(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        path = write_private(tmp_path / "new" / "zengin.txt", b"1234")
    finally:
        os.umask(previous)
    assert path.read_bytes() == b"1234"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["zengin.txt"]


def test_a_world_readable_file_is_replaced_by_an_owner_only_one(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"
    path.write_bytes(b"old")
    path.chmod(0o644)
    write_private(path, b"new")
    assert path.read_bytes() == b"new" and stat.S_IMODE(path.stat().st_mode) == 0o600


def test_remove_copies_deletes_named_files_only_and_never_follows_a_link(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"keep")
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "a.pdf").write_bytes(b"a")
    (folder / "b.pdf").write_bytes(b"b")
    (folder / "link.pdf").symlink_to(outside)
    removed = remove_copies(folder, ["a.pdf", "link.pdf", "missing.pdf"])
    assert removed == [folder / "a.pdf"]
    assert (folder / "b.pdf").exists() and outside.exists()
    for name in ("../outside.txt", "", ".."):
        with pytest.raises(ValueError):
            remove_copies(folder, [name])
    assert outside.exists()
