"""`subsidy-admin outbox` run in this process against the session's review service."""

from __future__ import annotations

import pytest
from admin_support import PASSWORD, Outcome, run

from subsidy_platform.process import ServiceProcess
from subsidy_platform.runtime import Environment


def outbox_command(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    auth: ServiceProcess,
    environment: Environment,
    review: ServiceProcess,
    login: str,
    *argv: str,
) -> Outcome:
    """`subsidy-admin outbox ARGV --service review --server <review>` signed in as `login`."""
    return run(
        capsys,
        monkeypatch,
        auth,
        environment,
        "outbox",
        *argv,
        "--service",
        "review",
        "--server",
        review.address,
        login=login,
        stdin=f"{PASSWORD}\n",
    )
