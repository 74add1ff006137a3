"""Platform settings read from the environment (DESIGN.md principle 12: config from the environment).

Only `main` and wiring code call `Settings.from_env()`; nothing here runs at import time.
An unset `DATABASE_URL` or `VAULT_ADDR` means "start the embedded one" (see
`subsidy_platform.embedded`), whose files live under `state_dir`. The default state folder is
per checkout, `/tmp/subsidy-platform/<sha1(repository or working directory)[:10]>`: outside the
home folder, because the embedded PostgreSQL runs as another system user when started by root
and must be able to read it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

STATE_ROOT = Path("/tmp/subsidy-platform")


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
            state_dir=Path(state_dir).resolve() if state_dir else default_state_dir(),
            database_url=environ.get("DATABASE_URL") or None,
            vault_addr=environ.get("VAULT_ADDR") or None,
            vault_token=environ.get("VAULT_TOKEN") or None,
            otel_endpoint=environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or None,
        )


def default_state_dir(start: Path | None = None) -> Path:
    """The state folder of the checkout containing `start` (default: the working directory)."""
    here = (start or Path.cwd()).resolve()
    anchor = next((p for p in (here, *here.parents) if (p / ".git").exists()), here)
    digest = hashlib.sha1(str(anchor).encode(), usedforsecurity=False).hexdigest()[:10]
    return STATE_ROOT / digest
