"""Whether a program takes new applications: the phase published beside its definition.

In Kubernetes the operator owns a program's lifecycle (Draft -> Open -> Closed ->
Retention -> Erased) and publishes it in the programs ConfigMap next to the definition, as
`<program_id>.phase` (one word) in the programs folder (`SUBSIDY_PROGRAMS_DIR`). Intake
takes a new online application (submitted, or imported from LoGo) only while the phase is
`Open`. A paper form is also keyed while the program is `Closed`: forms posted before the
deadline keep arriving for days, and the rules' application-period check judges each by
the date it was received; in `Draft`, `Retention`, `Erased` (or a damaged file) nothing
is taken. With no phase file (a single machine without the operator) the program is open
and its own dates decide, as the rules' application-period check always does.

A ConfigMap volume is updated in place (within about a minute), so the phase is read
again when its file changes (by modification time, looked at no more than once a second
per program) rather than once at start: closing a program needs no restart.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from subsidy_rules.program import programs_dir

OPEN = "Open"
CLOSED = "Closed"
PHASES = frozenset({"Draft", OPEN, CLOSED, "Retention", "Erased", "Invalid"})
_PROGRAM_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
RECHECK_SECONDS = 1.0


def phase_file(folder: Path, program_id: str) -> Path:
    if not _PROGRAM_ID.match(program_id):
        raise ValueError("not a program id")
    return folder / f"{program_id}.phase"


def read_phase(folder: Path, program_id: str) -> str | None:
    """The published phase, None when none is published. A file that does not hold a known
    phase is read as `Invalid` (closed): a damaged file never opens a program."""
    try:
        text = phase_file(folder, program_id).read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        return "Invalid"
    return text if text in PHASES else "Invalid"


class PhaseReader:
    """The phase of each program, re-read when its file changes."""

    def __init__(
        self,
        folder: Path | None = None,
        *,
        environ: Mapping[str, str] = os.environ,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._folder = folder or programs_dir(environ)
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[float, float | None, str | None]] = {}

    def phase(self, program_id: str) -> str | None:
        now = self._clock()
        with self._lock:
            cached = self._seen.get(program_id)
            if cached is not None and now - cached[0] < RECHECK_SECONDS:
                return cached[2]
            path = phase_file(self._folder, program_id)
            try:
                modified: float | None = path.stat().st_mtime
            except FileNotFoundError:
                modified = None
            if cached is not None and cached[1] == modified:
                self._seen[program_id] = (now, modified, cached[2])
                return cached[2]
            found = read_phase(self._folder, program_id)
            self._seen[program_id] = (now, modified, found)
            return found

    def accepts_applications(self, program_id: str, *, paper: bool = False) -> bool:
        """Whether a new application (`paper`: a paper form being keyed) is taken now."""
        accepted = (None, OPEN, CLOSED) if paper else (None, OPEN)
        return self.phase(program_id) in accepted
