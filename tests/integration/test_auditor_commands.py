"""`subsidy-admin audit list|search|summary|verify` as the auditor, end to end: the auditor
signs in at the real sign-in service and reads the audit log through AuditService (no
database URL); tables on standard output, CSV for Excel read back with the csv module."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from admin_support import PASSWORD, account, run
from sqlalchemy import Engine

from subsidy_platform import audit
from subsidy_platform.admin import main as admin_main
from subsidy_platform.admin_audit import EVENT_HEADER, SUMMARY_HEADER
from subsidy_platform.audit_query import UNUSUAL_MINIMUM
from subsidy_platform.db import database_url_for, make_engine
from subsidy_platform.process import ServiceProcess
from subsidy_platform.runtime import Environment

Fixtures = tuple[pytest.CaptureFixture[str], pytest.MonkeyPatch, ServiceProcess, Environment]


@pytest.fixture
def cli(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    auth: ServiceProcess,
    environment: Environment,
) -> Fixtures:
    return capsys, monkeypatch, auth, environment


def _record(admin_engine: Engine, *batch: audit.AuditEvent) -> None:
    """Append intake's events with intake's own login (the only one that may)."""
    url = admin_engine.url.render_as_string(hide_password=False)
    engine = make_engine(database_url_for(url, "svc_intake"))
    try:
        with engine.begin() as connection:
            audit.record_many(connection, list(batch))
    finally:
        engine.dispose()


def _csv(path: Path) -> list[list[str]]:
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


def _event(actor: str, at: datetime, **extra: str) -> audit.AuditEvent:
    return audit.AuditEvent(
        actor=actor,
        role="checker",
        service="intake",
        rpc="/subsidy.intake.v1.IntakeService/GetApplication",
        action=extra.pop("action", "read"),
        application_id=extra.pop("application_id", None),
        fields=("name",),
        at=at,
        **extra,  # type: ignore[arg-type]
    )


def test_the_auditor_searches_events_by_actor_and_period_as_a_table_and_as_csv(
    cli: Fixtures, admin_engine: Engine, tmp_path: Path
) -> None:
    auditor = account(admin_engine, "auditor", "aud")
    actor = account(admin_engine, "checker", "seen")
    day = datetime(2025, 7, 1, 1, 0, tzinfo=UTC)  # 10:00 in Japan
    _record(
        admin_engine,
        _event(actor, day, application_id="S2025-000101"),
        _event(
            actor,
            day + timedelta(hours=1),
            action="unmask",
            application_id="S2025-000102",
            purpose='=HYPERLINK("http://example.invalid")',
        ),
        _event(actor, day + timedelta(days=3), application_id="S2025-000103"),
    )
    out = tmp_path / "events.csv"
    listed = run(
        *cli,
        "audit",
        "list",
        "--actor",
        actor,
        "--since",
        "2025-07-01",
        "--until",
        "2025-07-01",
        "--csv",
        str(out),
        login=auditor,
        stdin=PASSWORD + "\n",
    )
    assert listed.code == 0, listed.err
    lines = listed.out.splitlines()
    assert lines[0].split("\t") == list(EVENT_HEADER)
    assert [line.split("\t")[7] for line in lines[1:]] == ["S2025-000102", "S2025-000101"]
    rows = _csv(out)
    assert rows[0] == list(EVENT_HEADER)
    assert [row[7] for row in rows[1:]] == ["S2025-000102", "S2025-000101"]
    assert rows[1][9] == '\'=HYPERLINK("http://example.invalid")'  # formula neutralised
    assert rows[1][6] == "unmask" and rows[1][2] == actor

    searched = run(
        *cli,
        "audit",
        "search",
        "--application",
        "S2025-000103",
        "--actor",
        actor,
        login=auditor,
        stdin=PASSWORD + "\n",
    )
    assert searched.code == 0, searched.err
    assert len(searched.out.splitlines()) == 2 and "S2025-000103" in searched.out


def test_the_list_pages_through_more_events_than_one_page(
    cli: Fixtures, admin_engine: Engine
) -> None:
    auditor = account(admin_engine, "auditor", "aud")
    actor = account(admin_engine, "checker", "many")
    start = datetime(2025, 8, 1, 1, 0, tzinfo=UTC)
    _record(admin_engine, *(_event(actor, start + timedelta(seconds=i)) for i in range(1205)))
    listed = run(
        *cli, "audit", "list", "--actor", actor, "--limit", "5000", login=auditor, stdin=PASSWORD
    )
    assert listed.code == 0, listed.err
    seqs = [int(line.split("\t")[0]) for line in listed.out.splitlines()[1:]]
    assert len(seqs) == 1205 == len(set(seqs)) and seqs == sorted(seqs, reverse=True)
    capped = run(
        *cli, "audit", "list", "--actor", actor, "--limit", "7", login=auditor, stdin=PASSWORD
    )
    assert len(capped.out.splitlines()) == 8 and "続きあり" in capped.err


def test_the_summary_counts_per_actor_and_action_and_flags_night_work_and_volume(
    cli: Fixtures, admin_engine: Engine, tmp_path: Path
) -> None:
    auditor = account(admin_engine, "auditor", "aud")
    quiet = [account(admin_engine, "checker", "quiet") for _ in range(3)]
    busy = account(admin_engine, "checker", "busy")
    day = datetime(2031, 3, 3, tzinfo=UTC)  # a period nobody else writes into
    working = day + timedelta(hours=2)  # 11:00 in Japan
    night = day + timedelta(hours=14)  # 23:00 in Japan
    batch = [_event(login, working) for login in quiet]
    batch += [_event(quiet[0], night)]
    batch += [_event(busy, working + timedelta(seconds=i)) for i in range(UNUSUAL_MINIMUM * 2)]
    _record(admin_engine, *batch)
    out = tmp_path / "summary.csv"
    summary = run(
        *cli,
        "audit",
        "summary",
        "--since",
        "2031-03-03",
        "--until",
        "2031-03-03",
        "--csv",
        str(out),
        login=auditor,
        stdin=PASSWORD + "\n",
    )
    assert summary.code == 0, summary.err
    rows = _csv(out)
    assert rows[0] == list(SUMMARY_HEADER)
    per_actor = {row[1]: row for row in rows if row[0] == "実行者別"}
    assert set(per_actor) == {*quiet, busy}
    assert per_actor[busy][5:] == [str(UNUSUAL_MINIMUM * 2), "0", "要確認"]
    assert per_actor[quiet[0]][5:] == ["2", "1", ""]
    assert per_actor[quiet[1]][5:] == ["1", "0", ""]
    per_action = [row for row in rows if row[0] == "操作別"]
    assert per_action == [["操作別", "", "", "read", "", str(len(batch)), "", ""]]
    assert f"{len(batch)} 件" in summary.err
    assert summary.out.splitlines()[0].split("\t") == list(SUMMARY_HEADER)


def test_verify_through_the_service_prints_the_head_that_anchor_takes(
    cli: Fixtures, admin_engine: Engine
) -> None:
    auditor = account(admin_engine, "auditor", "aud")
    verified = run(*cli, "audit", "verify", login=auditor, stdin=PASSWORD + "\n")
    assert verified.code == 0, verified.err
    result = json.loads(verified.out)
    assert result["ok"] is True
    seq, _, digest = result["head"].partition(":")
    assert int(seq) == result["rows"] > 0 and len(digest) == 64
    # sealed by a checkpoint in OpenBao that the sign-in service wrote seconds ago
    assert result["checkpoint"] is not None and result["checkpoints"] == 1
    assert 0 <= result["checkpoint_age_seconds"] <= result["max_age_seconds"] == 60

    anchored = run(
        *cli, "audit", "verify", "--anchor", result["head"], login=auditor, stdin=PASSWORD
    )
    assert anchored.code == 0, anchored.out
    forged = f"{seq}:{'0' * 64 if digest != '0' * 64 else '1' * 64}"
    broken = run(*cli, "audit", "verify", "--anchor", forged, login=auditor, stdin=PASSWORD)
    assert broken.code == 1
    assert json.loads(broken.out)["ok"] is False
    bad = run(*cli, "audit", "verify", "--anchor", "not-an-anchor", login=auditor, stdin=PASSWORD)
    assert bad.code == 2 and "anchors[0]" in bad.err and "not-an-anchor" not in bad.err


def test_only_the_auditor_may_read_the_audit_log(cli: Fixtures, admin_engine: Engine) -> None:
    admin = account(admin_engine, "admin", "adm")
    listed = run(*cli, "audit", "list", login=admin, stdin=PASSWORD + "\n")
    assert listed.code == 2 and "PERMISSION_DENIED" in listed.err
    assert listed.out == ""


@pytest.mark.parametrize(
    "argv",
    [["audit", "--help"], ["audit", "summary", "--help"], ["audit", "verify", "--help"]],
)
def test_the_audit_commands_answer_help_without_signing_in(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        admin_main(argv)
    assert done.value.code == 0
    assert "--" in capsys.readouterr().out
