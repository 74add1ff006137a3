"""Every console script answers `--help` without starting anything (issue 10, section 2).

The scripts are read from the installed distribution's entry points, so a new service or
command is covered as soon as it is declared in pyproject.toml. Each runs in a subprocess
with an empty state folder of its own and no external servers configured: it must exit 0,
print its usage (naming the command), leave the state folder empty (no embedded PostgreSQL or OpenBao, no
certificates, no pid files) and leave no process of its own behind.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from importlib.metadata import distribution
from pathlib import Path

import pytest

from subsidy_platform.config import STATE_ROOT

SCRIPTS = sorted(
    entry.name
    for entry in distribution("subsidy-platform").entry_points
    if entry.group == "console_scripts"
)
BIN = Path(sys.executable).parent


@pytest.fixture
def empty_state() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="subsidy-help-", dir=STATE_ROOT.parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_the_installed_scripts_include_every_service() -> None:
    assert {"subsidy-admin", "subsidy-auth", "subsidy-intake", "subsidy-review"} <= set(SCRIPTS)


@pytest.mark.parametrize(
    "command",
    [[name, "--help"] for name in SCRIPTS]
    + [["subsidy-admin", "up", "--help"], ["subsidy-admin", "down", "--help"]],
    ids=lambda command: " ".join(command),
)
def test_help_exits_0_and_starts_nothing(command: list[str], empty_state: Path) -> None:
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "VAULT_ADDR", "VAULT_TOKEN")
    }
    environment["SUBSIDY_STATE_DIR"] = str(empty_state)
    process = subprocess.Popen(
        [str(BIN / command[0]), *command[1:]],
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, 9)
            process.wait()
    assert process.returncode == 0, err
    assert command[0] in out + err  # its usage, naming the command
    assert list(empty_state.iterdir()) == []
    assert not _members_of_session(process.pid)


def _members_of_session(session: int) -> list[int]:
    """Processes still alive in the command's session (its children, detached or not)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session and fields[0] not in ("Z", "X"):
            found.append(int(entry.name))
    return found
