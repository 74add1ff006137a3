"""The phase the operator publishes beside a program decides whether intake takes it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from subsidy_platform.program_phase import PhaseReader, read_phase


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def publish(folder: Path, program_id: str, phase: str, mtime: float) -> None:
    path = folder / f"{program_id}.phase"
    path.write_text(phase + "\n", encoding="ascii")
    os.utime(path, (mtime, mtime))


def test_a_program_without_a_published_phase_is_open(tmp_path: Path) -> None:
    reader = PhaseReader(tmp_path)
    assert reader.phase("shinjuku-2025") is None
    assert reader.accepts_applications("shinjuku-2025")


@pytest.mark.parametrize(
    ("phase", "online", "paper"),
    [
        ("Draft", False, False),
        ("Open", True, True),
        ("Closed", False, True),
        ("Retention", False, False),
        ("Erased", False, False),
    ],
)
def test_online_applications_only_while_open_and_paper_forms_until_processing_ends(
    tmp_path: Path, phase: str, online: bool, paper: bool
) -> None:
    publish(tmp_path, "shinjuku-2025", phase, 1.0)
    reader = PhaseReader(tmp_path)
    assert reader.accepts_applications("shinjuku-2025") is online
    assert reader.accepts_applications("shinjuku-2025", paper=True) is paper


def test_a_damaged_phase_file_closes_the_program(tmp_path: Path) -> None:
    (tmp_path / "shinjuku-2025.phase").write_bytes(b"Op\xffen")
    assert read_phase(tmp_path, "shinjuku-2025") == "Invalid"
    publish(tmp_path, "shinjuku-2025", "open", 1.0)  # case matters: not a phase
    assert not PhaseReader(tmp_path).accepts_applications("shinjuku-2025", paper=True)


def test_a_changed_phase_is_seen_without_a_restart(tmp_path: Path) -> None:
    clock = Clock()
    publish(tmp_path, "shinjuku-2025", "Open", 1.0)
    reader = PhaseReader(tmp_path, clock=clock)
    assert reader.accepts_applications("shinjuku-2025")
    publish(tmp_path, "shinjuku-2025", "Closed", 2.0)
    assert reader.accepts_applications("shinjuku-2025")  # looked at once a second at most
    clock.now = 1.5
    assert not reader.accepts_applications("shinjuku-2025")


def test_a_program_id_that_is_not_one_never_names_a_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        read_phase(tmp_path, "../etc/passwd")
