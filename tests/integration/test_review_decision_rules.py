"""The controls on a decision that no date, default or single person can weaken, on real
servers (intake, review, payments, notices, sign-in) with real PostgreSQL and OpenBao:

- one grant rule (subsidy_rules.grant_rule, the function payments applies too): a direct
  decision or a reduced grant that breaks it (not in whole thousands of yen for
  shinjuku-2025, above the rules' amount, 0 yen) is INVALID_ARGUMENT naming `amount`, and
  nothing is written;
- a decision file whose row breaks the rule, or carries a decision date in the future or
  before the application's review, is refused whole with the problem at its row and
  column; the corrected file is applied and its grant followed into payments through
  review's real outbox;
- `ExpireCorrections` (and `subsidy-ward expire --as-of`) refuses a future day, so a
  correction whose deadline has not come never expires;
- a reduced grant is approved or sent back only by naming the verdict, also from
  `subsidy-ward approve-reduction` / `reject-reduction`.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import timedelta
from typing import Any

import grpc
import pytest
from intake_support import PROGRAM, Client, count
from review_support import case, checked_applications, deliver, person, submit, ward_command
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from subsidy.events.v1 import events_pb2
from subsidy.review.v1 import review_pb2
from subsidy_review.handover import seal, unseal

from subsidy_platform.errors import field_violations
from subsidy_platform.excel_csv import read_excel_csv, write_excel_csv
from subsidy_platform.process import ServiceProcess
from subsidy_platform.users import create_user
from subsidy_platform.ward_clock import ward_today

PASSWORD = "ward-officer passphrase 2"
RULES_AMOUNT = 16_000


def checked(intake: Client, review: ServiceProcess, stub: Any, admin: Engine, n: int) -> list[str]:
    return checked_applications(intake, review, stub, admin, n, RULES_AMOUNT)


def _rid() -> str:
    return uuid.uuid4().hex


def written(admin: Engine, number: str) -> tuple[int, int]:
    """Decisions of `number`, and review's outbox rows about it."""
    return (
        count(
            admin, "SELECT count(*) FROM review.decisions WHERE application_number = :n", n=number
        ),
        count(admin, "SELECT count(*) FROM review.outbox WHERE key LIKE :k", k=f"%{number}%"),
    )


def filled(export: review_pb2.WardExport, rows: dict[str, dict[str, str]]) -> bytes:
    """The ward's decision file: the given cells of the given rows filled in, others undecided."""
    files = unseal(export.sealed_file, export.password)
    _, table = read_excel_csv(files["applications.csv"])
    header, body = table[0], table[1:]
    for row in body:
        for column, value in rows.get(row[0], {}).items():
            row[header.index(column)] = value
    return seal({"applications.csv": write_excel_csv(header, body)}, export.password)


def test_a_direct_decision_that_breaks_the_grant_rule_is_refused_and_writes_nothing(
    intake: Client, review: ServiceProcess, review_stub: Any, admin_engine: Engine
) -> None:
    [number] = checked(intake, review, review_stub, admin_engine, 1)
    before = written(admin_engine, number)
    ward = intake.staff("ward_officer", "ward-rule")
    for amount, reduction in [(16_500, ""), (15_500, "一部対象外"), (17_000, ""), (0, "")]:
        with pytest.raises(grpc.RpcError) as refused:
            review_stub.DecideApplication(
                review_pb2.DecideRequest(
                    request_id=_rid(),
                    application_number=number,
                    verdict=review_pb2.DECISION_VERDICT_GRANT,
                    amount=amount,
                    reduction_reason=reduction,
                ),
                metadata=ward,
            )
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, amount
        assert [v.field for v in field_violations(refused.value)] == ["amount"]
    assert case(review_stub, intake, number).state == review_pb2.CHECKED
    assert written(admin_engine, number) == before


def test_a_decision_file_row_breaking_a_rule_is_refused_at_its_row_then_the_fixed_file_pays(
    intake: Client, review: ServiceProcess, review_stub: Any, admin_engine: Engine
) -> None:
    full, reduced, future, early = checked(intake, review, review_stub, admin_engine, 4)
    ward = intake.staff("ward_officer", "ward-file")
    export = review_stub.ExportForWard(
        review_pb2.ExportForWardRequest(request_id=_rid(), program_id=PROGRAM), metadata=ward
    )
    today = ward_today()
    grant = {"決定": "交付", "交付決定額": str(RULES_AMOUNT)}
    bad = filled(
        export,
        {
            # below the rules' amount but not whole thousands (千円未満切り捨て)
            full: {**grant, "交付決定額": "15500", "減額理由": "一部対象外"},
            reduced: {**grant, "交付決定額": "12000", "減額理由": "一部対象外"},
            future: {**grant, "決定日": (today + timedelta(days=1)).isoformat()},
            # received and reviewed today: yesterday is before both
            early: {**grant, "決定日": (today - timedelta(days=1)).isoformat()},
        },
    )
    report = review_stub.ImportWardDecisions(
        review_pb2.ImportWardDecisionsRequest(
            request_id=_rid(),
            program_id=PROGRAM,
            file_name="decisions.zip",
            sealed_file=bad,
            password=export.password,
        ),
        metadata=ward,
    )
    assert not report.committed
    by_line = {e.line: e for e in report.errors}
    assert len(by_line) == len(report.errors) == 3
    columns = sorted(e.column for e in report.errors)
    assert columns == ["交付決定額", "決定日", "決定日"]
    for error in report.errors:
        assert error.message.startswith(f"{error.line}行目「{error.column}」")
    assert any("1,000円単位" in e.message for e in report.errors)
    assert any("未来の日付" in e.message for e in report.errors)
    assert any("より前です" in e.message for e in report.errors)  # receipt or review day
    for number in (full, reduced, future, early):  # all or nothing
        assert case(review_stub, intake, number).state == review_pb2.HANDED_OVER
        assert written(admin_engine, number)[0] == 0

    good = filled(
        export,
        {
            full: grant,
            reduced: {**grant, "交付決定額": "12000", "減額理由": "一部対象外"},
            future: {**grant, "決定日": today.isoformat()},
            early: {"決定": "不交付", "不交付理由コード": "WARD_DECISION"},
        },
    )
    applied = review_stub.ImportWardDecisions(
        review_pb2.ImportWardDecisionsRequest(
            request_id=_rid(),
            program_id=PROGRAM,
            file_name="decisions-fixed.zip",
            sealed_file=good,
            password=export.password,
        ),
        metadata=ward,
    )
    assert applied.committed, list(applied.errors)
    assert (applied.granted, applied.not_granted, applied.pending_approval) == (2, 1, 1)
    deliver(intake, review, admin_engine)  # review's outbox: the decision events to payments
    with admin_engine.connect() as connection:
        grants = dict(
            connection.execute(
                text(
                    "SELECT application_number, amount FROM payments.grants "
                    "WHERE application_number = ANY(:ns)"
                ),
                {"ns": [full, reduced, future, early]},
            ).all()
        )
        decided_on = connection.execute(
            text("SELECT decided_on FROM payments.grants WHERE application_number = :n"),
            {"n": future},
        ).scalar_one()
    assert grants == {full: RULES_AMOUNT, future: RULES_AMOUNT}  # the reduction awaits approval
    assert decided_on == today


def test_expiry_refuses_a_future_day_so_a_deadline_not_yet_due_never_expires(
    intake: Client,
    review: ServiceProcess,
    review_stub: Any,
    admin_engine: Engine,
    auth: ServiceProcess,
    environment: Any,
) -> None:
    today = ward_today()
    number = submit(intake, **person("未来"))
    deliver(intake, review, admin_engine)
    review_stub.RequestCorrection(
        review_pb2.RequestCorrectionRequest(
            request_id=_rid(),
            application_number=number,
            items=[events_pb2.CorrectionItem(field="receipt", problem="領収書がありません")],
            deadline=(today + timedelta(days=1)).isoformat(),
        ),
        metadata=intake.staff("checker"),
    )
    ward = intake.staff("ward_officer", "ward-future")
    for as_of in (today + timedelta(days=2), today + timedelta(days=365)):
        with pytest.raises(grpc.RpcError) as refused:
            review_stub.ExpireCorrections(
                review_pb2.ExpireCorrectionsRequest(program_id=PROGRAM, as_of=as_of.isoformat()),
                metadata=ward,
            )
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        [violation] = field_violations(refused.value)
        assert violation.field == "as_of" and "未来の日付" in violation.description
    login = f"cli-ward-{uuid.uuid4().hex[:8]}"
    with Session(admin_engine) as session:
        create_user(session, login, "ward_officer", PASSWORD)
        session.commit()
    command = ward_command(environment, auth, review, login, PASSWORD)
    run = command(
        "expire", "--program", PROGRAM, "--as-of", (today + timedelta(days=2)).isoformat()
    )
    assert run.returncode == 2 and "INVALID_ARGUMENT" in run.stderr
    assert case(review_stub, intake, number).state == review_pb2.AWAITING_CORRECTION
    assert not case(review_stub, intake, number).corrections[0].expired


def test_the_ward_command_approves_or_sends_back_a_reduced_grant_only_when_told_which(
    intake: Client,
    review: ServiceProcess,
    review_stub: Any,
    admin_engine: Engine,
    auth: ServiceProcess,
    environment: Any,
) -> None:
    approved, rejected = checked(intake, review, review_stub, admin_engine, 2)
    for number in (approved, rejected):
        pending = review_stub.DecideApplication(
            review_pb2.DecideRequest(
                request_id=_rid(),
                application_number=number,
                verdict=review_pb2.DECISION_VERDICT_GRANT,
                amount=11_000,
                reduction_reason="一部対象外",
            ),
            metadata=intake.staff("ward_officer", "ward-cli-reducer"),
        )
        assert pending.state == review_pb2.PENDING_APPROVAL
    login = f"cli-approver-{uuid.uuid4().hex[:8]}"
    with Session(admin_engine) as session:
        create_user(session, login, "ward_officer", PASSWORD)
        session.commit()
    command = ward_command(environment, auth, review, login, PASSWORD)
    no_verdict = subprocess.run(
        [sys.executable, "-m", "subsidy_review.cli", "approve-reduction"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert no_verdict.returncode == 2  # argparse: the application number is required
    done = command("approve-reduction", approved)
    assert done.returncode == 0, done.stderr
    assert "交付決定" in done.stdout and "11,000円" in done.stdout
    sent_back = command("reject-reduction", rejected)
    assert sent_back.returncode == 0, sent_back.stderr
    assert case(review_stub, intake, approved).granted_amount == 11_000
    assert case(review_stub, intake, rejected).state == review_pb2.HANDED_OVER
    for name in ("approve-reduction", "reject-reduction"):
        helped = subprocess.run(
            [sys.executable, "-m", "subsidy_review.cli", name, "--help"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert helped.returncode == 0 and "usage" in helped.stdout
