"""An application's received date (受付日) is never after the ward's today (Asia/Tokyo), on
the real intake server with real PostgreSQL and OpenBao.

Every path that takes a received date refuses a future one before any work, and nothing
is written: a submission, paper keying (first and second keying) and a correction (its
record and a paper correction's second keying) are INVALID_ARGUMENT naming the field
(`received_on`, `second_keying.received_on`) in Japanese, never repeating the date sent;
a LoGo import's row is an error at its line, naming the received-date column (回答日時),
and the whole file is refused until that row is fixed. Today itself is accepted.
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from typing import Any

import grpc
import pytest
from intake_support import NOT_REFUSALS, PROGRAM, WRITES, Client, count, proto
from sqlalchemy import Engine, text
from subsidy.intake.v1 import intake_pb2
from subsidy_intake.logo_csv import mapping_for, to_logo_csv
from subsidy_intake.synthetic import online_applications

from subsidy_platform.errors import field_violations
from subsidy_platform.ward_clock import ward_today

SEED = 5151  # online answers no other test imports


# What an intake RPC could write (intake_support.WRITES) less what other services cause at
# any time once a decision of another test reaches them: their status reports on the
# timeline and their audited reads (actor `notices`, role `service`).
OWN_WRITES = (
    *(sql for sql in WRITES if "status_events" not in sql and "audit.events" not in sql),
    "SELECT count(*) FROM audit.events WHERE service = 'intake' AND role <> 'service'"
    f"{NOT_REFUSALS}",
)


def writes(engine: Engine) -> tuple[int, ...]:
    """Row counts of everything these RPCs could write (equal before and after: nothing)."""
    with engine.connect() as connection:
        return tuple(int(connection.execute(text(sql)).scalar_one()) for sql in OWN_WRITES)


def tomorrow() -> date:
    return ward_today() + timedelta(days=1)


def person(tag: str, **changes: object) -> dict[str, object]:
    """Changes that make an application nobody else's (no duplicate with other tests)."""
    n = int(hashlib.sha256(tag.encode()).hexdigest()[:8], 16)
    return {
        "applicant.name_kana": f"ウケツケ {tag}",
        "applicant.address": f"新宿区戸山1丁目{n % 30 + 1}番{n % 9 + 1}号 受付荘{n % 900 + 100}",
        "bank_account.number": f"{n % 10_000_000:07d}",
        "logo_answer_id": f"66{n % 10**8:08d}",
        "applicant.phone": f"070-{n % 10000:04d}-{(n // 7) % 10000:04d}",
        **changes,
    }


def paper(tag: str, **changes: object) -> dict[str, object]:
    return person(tag, channel="paper", logo_answer_id=None, **changes)


def refused_field(raised: pytest.ExceptionInfo[grpc.RpcError], sent: date) -> str:
    """The one field a refusal names, after checking that it is about a future date, in
    Japanese, and does not repeat the date sent."""
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    [violation] = field_violations(raised.value)
    assert "未来の日付" in violation.description
    assert sent.isoformat() not in violation.description
    assert sent.isoformat() not in (raised.value.details() or "")
    return violation.field


def submit(client: Client, request_id: str, **changes: object) -> str:
    with client.stub() as stub:
        response = stub.SubmitApplication(
            intake_pb2.SubmitApplicationRequest(
                request_id=request_id, program_id=PROGRAM, application=proto(**changes)
            ),
            metadata=client.staff("operator"),
        )
    number: str = response.application_number
    return number


def key(client: Client, form_id: str, login: str, **changes: object) -> Any:
    with client.stub() as stub:
        return stub.KeyPaperForm(
            intake_pb2.KeyPaperFormRequest(
                form_id=form_id, program_id=PROGRAM, application=proto(**changes)
            ),
            metadata=client.staff("operator", login),
        )


def correct(
    client: Client,
    request_id: str,
    number: str,
    changes: dict[str, object],
    second: dict[str, object] | None = None,
) -> Any:
    with client.stub() as stub:
        return stub.SubmitCorrection(
            intake_pb2.SubmitCorrectionRequest(
                request_id=request_id,
                application_number=number,
                application=proto(**changes),
                second_keying=proto(**second) if second is not None else None,
                note="電話番号の訂正",
            ),
            metadata=client.staff("operator", "op-received"),
        )


def upload(client: Client, name: str, data: bytes) -> intake_pb2.ImportReport:
    def parts() -> Any:
        yield intake_pb2.ImportLogoCsvRequest(
            header=intake_pb2.ImportLogoCsvRequest.Header(program_id=PROGRAM, file_name=name)
        )
        yield intake_pb2.ImportLogoCsvRequest(chunk=data)

    with client.stub() as stub:
        report: intake_pb2.ImportReport = stub.ImportLogoCsv(
            parts(), metadata=client.staff("operator"), timeout=120
        )
        return report


def test_a_submission_received_tomorrow_is_refused_and_today_is_accepted(
    intake: Client, admin_engine: Engine
) -> None:
    before = writes(admin_engine)
    future = tomorrow()
    for day in (future, future + timedelta(days=365)):
        with pytest.raises(grpc.RpcError) as raised:
            submit(
                intake,
                f"received-future-{day}",
                received_on=day.isoformat(),
                **person(f"future-{day}"),
            )
        assert refused_field(raised, day) == "received_on"
    assert writes(admin_engine) == before
    today = ward_today()
    number = submit(
        intake, "received-today", received_on=today.isoformat(), **person("received-today")
    )
    received = count(
        admin_engine,
        "SELECT count(*) FROM intake.applications WHERE application_number = :n "
        "AND received_on = :d",
        n=number,
        d=today,
    )
    assert received == 1


def test_a_paper_form_keyed_with_a_future_date_is_refused_and_no_keying_is_stored(
    intake: Client, admin_engine: Engine
) -> None:
    future = tomorrow()
    keyed = "SELECT count(*) FROM intake.paper_keyings WHERE form_id = :f"
    before = writes(admin_engine)
    with pytest.raises(grpc.RpcError) as raised:
        key(intake, "P-RCV-1", "op-rcv-a", **paper("rcv-1", received_on=future.isoformat()))
    assert refused_field(raised, future) == "received_on"
    assert writes(admin_engine) == before
    assert count(admin_engine, keyed, f="P-RCV-1") == 0

    first = key(intake, "P-RCV-2", "op-rcv-a", **paper("rcv-2"))
    assert first.outcome == intake_pb2.FIRST_KEYING_STORED
    before = writes(admin_engine)
    with pytest.raises(grpc.RpcError) as raised:  # the second operator's keying, dated ahead
        key(intake, "P-RCV-2", "op-rcv-b", **paper("rcv-2", received_on=future.isoformat()))
    assert refused_field(raised, future) == "received_on"
    assert writes(admin_engine) == before
    assert count(admin_engine, keyed, f="P-RCV-2") == 1
    accepted = key(intake, "P-RCV-2", "op-rcv-b", **paper("rcv-2"))
    assert accepted.outcome == intake_pb2.ACCEPTED


def test_a_correction_carrying_a_future_date_is_refused_and_changes_nothing(
    intake: Client, admin_engine: Engine
) -> None:
    future = tomorrow()
    online = submit(intake, "received-corr-online", **person("corr-online"))
    on_paper = submit(intake, "received-corr-paper", **paper("corr-paper"))
    corrections = "SELECT count(*) FROM intake.corrections WHERE request_id LIKE 'rcv-corr-%'"
    before = writes(admin_engine)
    with pytest.raises(grpc.RpcError) as raised:
        correct(
            intake,
            "rcv-corr-1",
            online,
            person("corr-online", received_on=future.isoformat()),
        )
    assert refused_field(raised, future) == "received_on"
    agreed = paper("corr-paper", **{"applicant.phone": "03-9999-0000"})
    with pytest.raises(grpc.RpcError) as raised:
        correct(
            intake,
            "rcv-corr-2",
            on_paper,
            agreed,
            second={**agreed, "received_on": future.isoformat()},
        )
    assert refused_field(raised, future) == "second_keying.received_on"
    assert writes(admin_engine) == before
    assert count(admin_engine, corrections) == 0
    assert correct(intake, "rcv-corr-3", on_paper, agreed, second=agreed).applied


def test_a_logo_row_received_tomorrow_refuses_the_file_at_its_row_and_column(
    intake: Client, admin_engine: Engine
) -> None:
    mapping = mapping_for(PROGRAM)
    rows = online_applications(5, SEED, mapping)
    future = tomorrow()
    dated_ahead = [dict(r) for r in rows]
    dated_ahead[2]["received_on"] = future.isoformat()  # the third data row: line 4
    before = writes(admin_engine)
    report = upload(intake, "logo-future.csv", to_logo_csv(dated_ahead, mapping))
    assert not report.committed and report.imported == 0 and report.rows == 5
    [error] = report.errors
    assert (error.line, error.column) == (4, "回答日時")
    assert error.column == mapping.header_for("received_on")
    assert "未来の日付" in error.message
    assert future.isoformat() not in error.message
    assert future.strftime("%Y/%m/%d") not in error.message
    assert writes(admin_engine) == before

    fixed = upload(intake, "logo-future-fixed.csv", to_logo_csv(rows, mapping))
    assert fixed.committed and not fixed.errors
    assert (fixed.imported, fixed.already_present) == (5, 0)
