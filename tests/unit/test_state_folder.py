"""The state folder's default does not depend on the working directory (issue 10): root's
is /var/lib/subsidy-platform (reachable by the embedded_postgres user), another user's is
under the XDG state folder; SUBSIDY_STATE_DIR overrides both."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from subsidy_platform.config import SYSTEM_STATE_DIR, Settings, default_state_dir


def test_root_keeps_its_state_under_var_lib() -> None:
    assert default_state_dir({}, euid=0) == SYSTEM_STATE_DIR == Path("/var/lib/subsidy-platform")


def test_another_user_keeps_it_in_the_xdg_state_folder() -> None:
    assert default_state_dir({"XDG_STATE_HOME": "/srv/state"}, euid=1000) == Path(
        "/srv/state/subsidy-platform"
    )
    home = Path.home() / ".local" / "state" / "subsidy-platform"
    assert default_state_dir({}, euid=1000) == home
    assert default_state_dir({"XDG_STATE_HOME": "relative"}, euid=1000) == home


def test_the_default_is_the_same_from_any_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = Settings.from_env({}).state_dir
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    assert Settings.from_env({}).state_dir == here
    monkeypatch.chdir("/")
    assert Settings.from_env({}).state_dir == here


def test_subsidy_state_dir_overrides_the_default(tmp_path: Path) -> None:
    chosen = tmp_path / "state"
    assert Settings.from_env({"SUBSIDY_STATE_DIR": str(chosen)}).state_dir == chosen
    assert os.path.isabs(Settings.from_env({"SUBSIDY_STATE_DIR": "rel"}).state_dir)
