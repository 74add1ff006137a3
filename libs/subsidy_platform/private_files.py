"""Files that hold personal or bank data on a staff machine: owner-only, and gone with the purge.

A command that saves what a service hands out (a notice print file, a released 全銀 file,
a sealed handover file, an audit extract, an import report) writes it with `write_private`:
in one step (no reader sees half a file), mode 0600 whatever the umask, in a folder it
creates owner-only (0700; an existing folder's mode is left as its owner set it). Nobody
else on the machine can read it.

A purge command that claims to delete what has passed its retention also deletes the local
copies it saved there: `remove_copies` unlinks the named files of a folder (never following
a link out of it) and says which went, so that its report counts them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

FILE_MODE = 0o600
FOLDER_MODE = 0o700


def private_folder(folder: Path) -> Path:
    """`folder`, created owner-only with its missing parents if it does not exist."""
    if not folder.is_dir():
        folder.mkdir(parents=True, mode=FOLDER_MODE, exist_ok=True)
        os.chmod(folder, FOLDER_MODE)
    return folder


def write_private(path: Path, data: bytes) -> Path:
    """Write `data` to `path` owner-only (0600), atomically; the folder is made if missing."""
    private_folder(path.parent)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def remove_copies(folder: Path, names: Iterable[str]) -> list[Path]:
    """Delete the files `names` directly inside `folder`; the paths that were deleted."""
    removed: list[Path] = []
    for name in sorted(set(names)):
        if not name or "/" in name or name in (".", ".."):
            raise ValueError("a copy is named by a plain file name")
        path = folder / name
        if path.is_file() and not path.is_symlink():
            path.unlink()
            removed.append(path)
    return removed
