"""`subsidy-payments-admin` against real servers (sign-in, intake, payments) over mutual TLS:
the officer builds, the approver shows and releases into a folder (owner-only), the auditor
reconciles and lists the files held; and files past their retention are deleted, with the
copies saved on the machine."""

from __future__ import annotations

import stat
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from intake_support import PROGRAM, Client
from payments_support import backdate, granted_applications, next_business_day, staff_stub
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from subsidy.payments.v1 import payments_pb2
from zengin_reader import read_zengin

from subsidy_platform.process import ServiceProcess
from subsidy_platform.users import create_user

PASSWORD = "payments passphrase 1"

# review runs too: the applications submitted here reach it at once (no backlog in
# intake's outbox for later tests of this session)
pytestmark = pytest.mark.usefixtures("review")


def admin_cli(
    environment: Any, auth: ServiceProcess, payments: ServiceProcess, login: str, *args: str
) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable, "-m", "subsidy_payments.cli", "--server", payments.address,
        "--auth-server", auth.address, "--login", login, "--password-stdin",
        "--pki", str(environment.settings.state_dir / "pki"), *args,
    ]  # fmt: skip
    return subprocess.run(
        command, input=PASSWORD + "\n", capture_output=True, text=True, timeout=180
    )


def test_officer_approver_and_auditor_from_the_command_line(
    intake: Client,
    review: ServiceProcess,
    payments: ServiceProcess,
    auth: ServiceProcess,
    admin_engine: Engine,
    environment: Any,
    tmp_path: Path,
) -> None:
    tag = uuid.uuid4().hex[:6]
    logins = {role: f"cli-{role}-{tag}" for role in ("payments_officer", "approver", "auditor")}
    with Session(admin_engine) as session:
        for role, login in logins.items():
            create_user(session, login, role, PASSWORD)
        session.commit()
    granted_applications(intake, payments, 2, review=review, admin=admin_engine)

    def run(role: str, *args: str) -> subprocess.CompletedProcess[str]:
        return admin_cli(environment, auth, payments, logins[role], *args)

    built = run("payments_officer", "build", "--program", PROGRAM, "--date", next_business_day())
    assert built.returncode == 0, built.stderr
    batch_id = int(built.stdout.split("振込バッチ ")[1].split(" ")[0])
    sha256 = built.stdout.split("SHA-256 ")[1].split()[0]
    refused = run(
        "approver", "release", str(batch_id), "--sha256", "0" * 64, "--out", str(tmp_path)
    )
    assert refused.returncode == 2 and "FAILED_PRECONDITION" in refused.stderr
    released = run("approver", "release", str(batch_id), "--sha256", sha256, "--out", str(tmp_path))
    assert released.returncode == 0, released.stderr
    [written] = list(tmp_path.glob("zengin-*.txt"))
    assert read_zengin(written.read_bytes()).count >= 2
    assert stat.S_IMODE(written.stat().st_mode) == 0o600  # bank data: owner-only
    # purge-files deletes the saved copies of batches the service no longer holds (a held
    # batch's copy and another program's stay)
    gone = tmp_path / f"zengin-{PROGRAM}-{batch_id + 10**6:06d}-20250401.txt"
    other = tmp_path / f"zengin-minato-standing-{batch_id:06d}-20250401.txt"
    for path in (gone, other):
        path.write_bytes(b"x")
    purged = run("payments_officer", "purge-files", "--program", PROGRAM, "--out", str(tmp_path))
    assert purged.returncode == 0 and "写し 1 ファイル" in purged.stdout, purged.stdout
    assert written.exists() and other.exists() and not gone.exists()
    reconciled = run("auditor", "reconcile", "--program", PROGRAM)
    assert reconciled.returncode == 0 and "一致" in reconciled.stdout, reconciled.stdout
    held = run("auditor", "held-files", "--program", PROGRAM)
    assert held.returncode == 0 and f"{batch_id}\tRELEASED" in held.stdout
    denied = run("auditor", "build", "--program", PROGRAM, "--date", next_business_day())
    assert denied.returncode == 2 and "PERMISSION_DENIED" in denied.stderr


def test_a_confirmed_file_is_deleted_after_its_retention_and_no_longer_held(
    intake: Client, payments: ServiceProcess, admin_engine: Engine
) -> None:
    granted_applications(intake, payments, 1)
    officer = intake.staff("payments_officer", "officer-retention")
    approver = intake.staff("approver", "approver-retention")
    with staff_stub(intake, payments) as stub:
        batch = stub.BuildBatch(
            payments_pb2.BuildBatchRequest(
                request_id=uuid.uuid4().hex, program_id=PROGRAM, transfer_date=next_business_day()
            ),
            metadata=officer,
        )
        release = payments_pb2.ReleaseBatchRequest(
            request_id=uuid.uuid4().hex, batch_id=batch.batch_id, file_sha256=batch.file_sha256
        )
        stub.ReleaseBatch(release, metadata=approver)
        stub.ConfirmBatch(  # the transfer date passed (confirmed from then on)
            payments_pb2.ConfirmBatchRequest(
                batch_id=batch.batch_id, confirmed_on=backdate(admin_engine, batch.batch_id)
            ),
            metadata=officer,
        )
        held = stub.ListHeldFiles(
            payments_pb2.ListHeldFilesRequest(program_id=PROGRAM), metadata=officer
        )
        mine = [f for f in held.files if f.batch_id == batch.batch_id]
        assert mine and mine[0].delete_after > mine[0].confirmed_on
        stub.PurgeFiles(payments_pb2.PurgeFilesRequest(program_id=PROGRAM), metadata=officer)
        still = stub.ListHeldFiles(
            payments_pb2.ListHeldFilesRequest(program_id=PROGRAM), metadata=officer
        )
        assert batch.batch_id in {f.batch_id for f in still.files}  # within its retention
        with admin_engine.begin() as connection:  # the retention has passed
            connection.execute(
                text(
                    "UPDATE payments.batches SET confirmed_on = confirmed_on - 60, "
                    "transfer_date = transfer_date - 60 WHERE id = :b"
                ),
                {"b": batch.batch_id},
            )
        purged = stub.PurgeFiles(
            payments_pb2.PurgeFilesRequest(program_id=PROGRAM), metadata=officer
        )
        assert purged.deleted >= 1
        after = stub.ListHeldFiles(
            payments_pb2.ListHeldFilesRequest(program_id=PROGRAM), metadata=officer
        )
        assert batch.batch_id not in {f.batch_id for f in after.files}
    with admin_engine.connect() as connection:
        file_ct = connection.execute(
            text("SELECT file_ct FROM payments.batches WHERE id = :b"), {"b": batch.batch_id}
        ).scalar_one()
    assert file_ct is None
