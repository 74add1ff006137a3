"""`subsidy-admin users list|disable|enable|unlock|reset-password`, end to end: an administrator
signs in at the real sign-in service and changes real accounts; every change is one audit
event naming the account, never the password; the account's sign-in follows each change."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
from admin_support import PASSWORD, account, audit_text, events, last_seq, run, signs_in
from sqlalchemy import Engine, text

from subsidy_platform.admin_users import HEADER
from subsidy_platform.excel_csv import read_excel_csv
from subsidy_platform.passwords import MAX_FAILED_ATTEMPTS
from subsidy_platform.process import ServiceProcess
from subsidy_platform.runtime import Environment

NEW_PASSWORD = "a brand new passphrase 2"
Fixtures = tuple[pytest.CaptureFixture[str], pytest.MonkeyPatch, ServiceProcess, Environment]


@pytest.fixture
def cli(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    auth: ServiceProcess,
    environment: Environment,
) -> Fixtures:
    return capsys, monkeypatch, auth, environment


def test_disable_and_enable_stop_and_restore_sign_in_and_each_change_is_audited(
    cli: Fixtures, admin_engine: Engine
) -> None:
    admin = account(admin_engine, "admin", "adm")
    target = account(admin_engine, "checker", "chk")
    _, _, auth, environment = cli

    disabled = run(*cli, "users", "disable", target, login=admin, stdin=PASSWORD + "\n")
    assert disabled.code == 0, disabled.err
    assert "無効にしました" in disabled.out
    assert not signs_in(auth, environment, target, PASSWORD)
    [event] = events(admin_engine, "target = :t", t=target)
    assert (event["actor"], event["role"], event["action"]) == (admin, "admin", "account_disabled")
    assert event["rpc"] == "/subsidy.auth.v1.UserAdminService/DisableUser"
    assert event["fields"] == ["disabled", "tokens_valid_from"]

    again = run(*cli, "users", "disable", target, login=admin, stdin=PASSWORD + "\n")
    assert again.code == 0 and "変更はありません" in again.out
    assert len(events(admin_engine, "target = :t", t=target)) == 1

    enabled = run(*cli, "users", "enable", target, login=admin, stdin=PASSWORD + "\n")
    assert enabled.code == 0, enabled.err
    assert signs_in(auth, environment, target, PASSWORD)
    actions = [e["action"] for e in events(admin_engine, "target = :t", t=target)]
    assert actions == ["account_disabled", "account_enabled"]


def test_unlock_lifts_a_lock_out_that_the_list_shows(
    cli: Fixtures, admin_engine: Engine, tmp_path: Path
) -> None:
    admin = account(admin_engine, "admin", "adm")
    target = account(admin_engine, "operator", "opr")
    _, _, auth, environment = cli
    for _ in range(MAX_FAILED_ATTEMPTS):
        assert not signs_in(auth, environment, target, "not the password at all")
    assert not signs_in(auth, environment, target, PASSWORD)  # locked now

    listed = run(
        *cli, "users", "list", "--csv", str(tmp_path / "users.csv"), login=admin, stdin=PASSWORD
    )
    assert listed.code == 0, listed.err
    assert f"{target}\toperator\tロック中\t" in listed.out
    raw = (tmp_path / "users.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    _, rows = read_excel_csv(raw)
    assert rows[0] == list(HEADER)
    [row] = [r for r in rows if r[0] == target]
    assert row[1:3] == ["operator", "ロック中"] and row[3]
    with (tmp_path / "users.csv").open(encoding="utf-8-sig", newline="") as handle:
        read_back = list(csv.reader(handle))
    assert read_back == rows

    unlocked = run(*cli, "users", "unlock", target, login=admin, stdin=PASSWORD + "\n")
    assert unlocked.code == 0, unlocked.err
    assert signs_in(auth, environment, target, PASSWORD)
    [event] = events(admin_engine, "target = :t AND action = 'account_unlocked'", t=target)
    assert event["actor"] == admin


def test_reset_password_asks_twice_sets_the_new_one_and_never_audits_it(
    cli: Fixtures, admin_engine: Engine
) -> None:
    admin = account(admin_engine, "admin", "adm")
    target = account(admin_engine, "call_center", "cc")
    _, _, auth, environment = cli
    before = last_seq(admin_engine)

    differ = run(
        *cli,
        "users",
        "reset-password",
        target,
        login=admin,
        stdin=f"{PASSWORD}\n{NEW_PASSWORD}\n{NEW_PASSWORD}x\n",
    )
    assert differ.code == 2 and "一致しません" in differ.err
    assert signs_in(auth, environment, target, PASSWORD)

    weak = run(
        *cli, "users", "reset-password", target, login=admin, stdin=f"{PASSWORD}\nshort\nshort\n"
    )
    assert weak.code == 2 and "new_password" not in weak.err and "12文字以上" in weak.err
    assert signs_in(auth, environment, target, PASSWORD)

    reset = run(
        *cli,
        "users",
        "reset-password",
        target,
        login=admin,
        stdin=f"{PASSWORD}\n{NEW_PASSWORD}\n{NEW_PASSWORD}\n",
    )
    assert reset.code == 0, reset.err
    assert signs_in(auth, environment, target, NEW_PASSWORD)
    assert not signs_in(auth, environment, target, PASSWORD)
    [event] = events(admin_engine, "target = :t", t=target)
    assert event["action"] == "password_reset" and "password_hash" in event["fields"]
    audited = audit_text(admin_engine, before)
    assert NEW_PASSWORD not in audited and PASSWORD not in audited
    assert NEW_PASSWORD not in reset.out + reset.err


def test_an_admin_cannot_disable_their_own_account_and_others_may_not_use_the_commands(
    cli: Fixtures, admin_engine: Engine
) -> None:
    admin = account(admin_engine, "admin", "adm")
    auditor = account(admin_engine, "auditor", "aud")
    target = account(admin_engine, "checker", "chk")
    _, _, auth, environment = cli

    own = run(*cli, "users", "disable", admin, login=admin, stdin=PASSWORD + "\n")
    assert own.code == 1 and "自分のアカウント" in own.err
    assert signs_in(auth, environment, admin, PASSWORD)

    unknown = run(*cli, "users", "unlock", "nobody-at-all", login=admin, stdin=PASSWORD + "\n")
    assert unknown.code == 1 and "NOT_FOUND" in unknown.err

    refused = run(*cli, "users", "disable", target, login=auditor, stdin=PASSWORD + "\n")
    assert refused.code == 1 and "PERMISSION_DENIED" in refused.err
    assert signs_in(auth, environment, target, PASSWORD)
    with admin_engine.connect() as connection:
        disabled = connection.execute(
            text("SELECT disabled FROM auth.users WHERE login = :l"), {"l": target}
        ).scalar_one()
    assert disabled is False

    wrong = run(*cli, "users", "list", login=admin, stdin="not my password\n")
    assert wrong.code == 2 and "UNAUTHENTICATED" in wrong.err


def test_the_users_command_runs_as_its_own_process(
    auth: ServiceProcess, environment: Environment, admin_engine: Engine
) -> None:
    admin = account(admin_engine, "admin", "adm")
    target = account(admin_engine, "approver", "apr")
    command = [
        sys.executable,
        "-m",
        "subsidy_platform.admin",
        "users",
        "disable",
        target,
        "--auth-server",
        auth.address,
        "--login",
        admin,
        "--password-stdin",
        "--pki",
        str(environment.settings.state_dir / "pki"),
    ]
    done = subprocess.run(
        command, input=PASSWORD + "\n", capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert not signs_in(auth, environment, target, PASSWORD)
    help_text = subprocess.run(
        [sys.executable, "-m", "subsidy_platform.admin", "users", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert help_text.returncode == 0 and "reset-password" in help_text.stdout
