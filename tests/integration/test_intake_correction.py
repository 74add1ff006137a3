"""Corrections (補正) keyed in by an operator, on the real intake server, PostgreSQL and
OpenBao: applied once and announced to review, replayed by request id, refused when the
request id is reused for other content, paper corrections keyed twice, bad input."""

from __future__ import annotations

import hashlib
from typing import Any

import grpc
import pytest
from intake_support import PROGRAM, Client, count, proto
from review_support import arrive, settle
from sqlalchemy import Engine, text
from subsidy.common.v1 import common_pb2
from subsidy.events.v1 import events_pb2
from subsidy.intake.v1 import intake_pb2

from subsidy_platform.declaration import subscribers
from subsidy_platform.errors import field_violations
from subsidy_platform.process import ServiceProcess

NEW_ADDRESS = "東京都新宿区高田馬場一丁目2番3号 補正コーポ202号室"


def person(tag: str, **changes: object) -> dict[str, object]:
    """Changes that make an application nobody else's (no duplicate with other tests)."""
    n = int(hashlib.sha256(tag.encode()).hexdigest()[:8], 16)
    return {
        "applicant.name_kana": f"ホセイ {tag}",
        "applicant.address": f"新宿区中井2丁目{n % 30 + 1}番{n % 9 + 1}号 ホセイ荘{n % 900 + 100}",
        "bank_account.number": f"{n % 10_000_000:07d}",
        "logo_answer_id": f"88{n % 10**8:08d}",
        "applicant.phone": f"080-{n % 10000:04d}-{(n // 7) % 10000:04d}",
        **changes,
    }


def submit(client: Client, tag: str, **changes: object) -> str:
    with client.stub() as stub:
        response = stub.SubmitApplication(
            intake_pb2.SubmitApplicationRequest(
                request_id=f"submit-{tag}", program_id=PROGRAM, application=proto(**changes)
            ),
            metadata=client.staff("operator"),
        )
    number: str = response.application_number
    return number


def correct(
    client: Client,
    request_id: str,
    number: str,
    changes: dict[str, object],
    second: dict[str, object] | None = None,
    note: str = "住所の誤記を訂正",
    login: str = "op-correction",
) -> intake_pb2.SubmitCorrectionResponse:
    with client.stub() as stub:
        response: intake_pb2.SubmitCorrectionResponse = stub.SubmitCorrection(
            intake_pb2.SubmitCorrectionRequest(
                request_id=request_id,
                application_number=number,
                application=proto(**changes),
                second_keying=proto(**second) if second is not None else None,
                note=note,
            ),
            metadata=client.staff("operator", login),
        )
        return response


def unmasked(client: Client, number: str) -> intake_pb2.ApplicationView:
    with client.stub() as stub:
        view: intake_pb2.ApplicationView = stub.GetApplication(
            intake_pb2.GetApplicationRequest(
                application_number=number, unmask=True, purpose="補正内容の確認"
            ),
            metadata=client.staff("checker"),
        )
        return view


def stored(engine: Engine, number: str) -> dict[str, Any]:
    """Everything a correction could change of one application, and what it records."""
    with engine.connect() as connection:
        row = connection.execute(
            text(
                "SELECT a.*, "
                "(SELECT array_agg(b.digest ORDER BY b.kind) FROM intake.blind_indexes b "
                " WHERE b.application_id = a.id) AS digests, "
                "(SELECT count(*) FROM intake.corrections c WHERE c.application_id = a.id) AS c, "
                # intake's own steps (review's reports arrive from its outbox at any time)
                "(SELECT count(*) FROM intake.status_events s WHERE s.application_id = a.id "
                " AND s.service = 'intake') AS s, "
                "(SELECT count(*) FROM intake.duplicate_flags f WHERE f.application_id = a.id) AS f "
                "FROM intake.applications a WHERE a.application_number = :n"
            ),
            {"n": number},
        ).one()
    # status follows review's reports, which arrive from its outbox at any time
    return {k: v for k, v in row._mapping.items() if k != "status"}


def outbox_key(number: str, request_id: str) -> str:
    return f"corrected-{number}-{hashlib.sha256(request_id.encode()).hexdigest()[:16]}"


def corrected_events(engine: Engine, number: str, request_id: str) -> list[Any]:
    with engine.connect() as connection:
        payloads = connection.execute(
            text("SELECT payload FROM intake.outbox WHERE key = :k ORDER BY id"),
            {"k": outbox_key(number, request_id)},
        ).scalars()
        return [events_pb2.ApplicationEvent.FromString(bytes(p)) for p in payloads]


def settled(intake: Client, review: ServiceProcess, admin: Engine, number: str) -> None:
    """Review has learnt of the application and reported back (its status is review's now):
    what follows in the test is the correction's doing alone."""
    arrive(intake, admin, [number])
    relay = review.context.relay
    assert relay is not None
    settle(relay, admin, "review", "intake")


def test_an_online_correction_replaces_the_record_and_is_announced(
    intake: Client, review: ServiceProcess, admin_engine: Engine
) -> None:
    number = submit(intake, "corr-online", **person("corr-online"))
    settled(intake, review, admin_engine, number)
    before = stored(admin_engine, number)
    changes = person(
        "corr-online",
        **{
            "applicant.address": NEW_ADDRESS,
            # a correction never changes these: the stored application's are kept
            "channel": "paper",
            "received_on": "2025-09-30",
            "logo_answer_id": "9999999999",
            "application_id": "S2025-000001",
        },
    )
    response = correct(intake, "corr-online-1", number, changes)
    assert (response.application_number, response.applied, response.replayed) == (
        number,
        True,
        False,
    )
    assert not response.differing_fields

    view = unmasked(intake, number)
    assert view.application.applicant.address == NEW_ADDRESS
    assert view.application.channel == common_pb2.ONLINE
    assert view.application.received_on == "2025-06-10"
    assert view.application.logo_answer_id == person("corr-online")["logo_answer_id"]
    assert view.application.application_id == number

    after = stored(admin_engine, number)
    assert after["address_ct"] != before["address_ct"]
    assert NEW_ADDRESS not in str(after)  # ciphertext only
    assert after["digests"] != before["digests"]  # the dwelling index follows the address
    assert (after["c"], after["s"]) == (1, 2)
    for unchanged in ("received_on", "channel", "request_id"):
        assert after[unchanged] == before[unchanged]

    with admin_engine.connect() as connection:
        correction = connection.execute(
            text(
                "SELECT c.note_ct, c.keyed_by, c.request_digest FROM intake.corrections c "
                "WHERE c.request_id = 'corr-online-1'"
            )
        ).one()
        timeline_note = connection.execute(
            text(
                "SELECT s.note FROM intake.status_events s JOIN intake.applications a "
                "ON a.id = s.application_id WHERE a.application_number = :n ORDER BY s.id DESC"
            ),
            {"n": number},
        ).first()
    assert correction.note_ct.startswith(("vault:v", "env:v")) and "住所" not in correction.note_ct
    assert correction.keyed_by == "op-correction" and len(correction.request_digest) == 64
    assert timeline_note is not None and timeline_note.note == "補正入力"
    audited = count(
        admin_engine,
        "SELECT count(*) FROM audit.events WHERE actor = 'op-correction' AND action = 'update' "
        "AND rpc = 'SubmitCorrection' AND application_id = :n",
        n=number,
    )
    assert audited == 1

    events = corrected_events(admin_engine, number, "corr-online-1")
    assert len(events) == len(subscribers("intake.application"))
    for event in events:
        assert event.kind == events_pb2.ApplicationEvent.CORRECTED
        assert (event.application_number, event.channel) == (number, common_pb2.ONLINE)
        assert event.received_on == "2025-06-10"


def test_the_same_request_id_replays_and_other_content_is_refused(
    intake: Client, admin_engine: Engine
) -> None:
    number = submit(intake, "corr-replay", **person("corr-replay"))
    other_number = submit(intake, "corr-replay-other", **person("corr-replay-other"))
    changes = person("corr-replay", **{"applicant.address": NEW_ADDRESS + "A"})
    first = correct(intake, "corr-replay-1", number, changes)
    assert first.applied and not first.replayed
    after_first = stored(admin_engine, number)
    outbox = count(admin_engine, "SELECT count(*) FROM intake.outbox")

    again = correct(intake, "corr-replay-1", number, changes)
    assert (again.application_number, again.applied, again.replayed) == (number, True, True)
    assert stored(admin_engine, number) == after_first
    assert count(admin_engine, "SELECT count(*) FROM intake.outbox") == outbox

    for other in (
        {**changes, "applicant.phone": "03-9999-0000"},  # another record
        {**changes, "applicant.address": changes["applicant.address"].replace("2", "２")},
    ):
        with pytest.raises(grpc.RpcError) as raised:
            correct(intake, "corr-replay-1", number, other)
        assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.RpcError) as raised:
        correct(intake, "corr-replay-1", number, changes, note="別の補正")
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.RpcError) as raised:
        correct(intake, "corr-replay-1", other_number, person("corr-replay-other"))
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert stored(admin_engine, number) == after_first
    assert count(admin_engine, "SELECT count(*) FROM intake.outbox") == outbox


PAPER = {"channel": "paper", "logo_answer_id": None}


def test_a_paper_correction_keyed_twice_applies_only_when_the_keyings_agree(
    intake: Client, review: ServiceProcess, admin_engine: Engine
) -> None:
    original = {**person("corr-paper"), **PAPER}
    number = submit(intake, "corr-paper", **original)
    settled(intake, review, admin_engine, number)
    before = stored(admin_engine, number)
    first = {**original, "applicant.address": NEW_ADDRESS, "bank_account.number": "1231231"}
    typo = {**first, "applicant.address": NEW_ADDRESS.replace("202", "203")}
    typo["bank_account.number"] = "1231232"

    with pytest.raises(grpc.RpcError) as raised:
        correct(intake, "corr-paper-0", number, first)  # no second keying
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in field_violations(raised.value)] == ["second_keying"]

    differ = correct(intake, "corr-paper-1", number, first, second=typo)
    assert not differ.applied and not differ.replayed
    assert list(differ.differing_fields) == ["applicant.address", "bank_account.number"]
    assert stored(admin_engine, number) == before
    assert (
        count(
            admin_engine,
            "SELECT count(*) FROM intake.corrections WHERE request_id LIKE 'corr-paper-%'",
        )
        == 0
    )

    # the second operator types full-width digits and a double space: the same correction
    same = {**first, "applicant.address": NEW_ADDRESS.replace("202", "２０２").replace(" ", "  ")}
    agreed = correct(intake, "corr-paper-2", number, first, second=same)
    assert agreed.applied and not agreed.differing_fields
    view = unmasked(intake, number)
    assert view.application.applicant.address == NEW_ADDRESS
    # the corrected account, as intake shows it (masked even unmasked: payments alone decrypts it)
    assert view.application.bank_account.number == "****231"
    assert view.application.channel == common_pb2.PAPER
    events = corrected_events(admin_engine, number, "corr-paper-2")
    assert len(events) == len(subscribers("intake.application"))
    assert all(e.channel == common_pb2.PAPER for e in events)


def test_a_corrected_address_shared_with_another_household_is_flagged(
    intake: Client, admin_engine: Engine
) -> None:
    neighbour = submit(intake, "corr-dup-a", **person("corr-dup-a"))
    number = submit(intake, "corr-dup-b", **person("corr-dup-b"))
    moved = person("corr-dup-b", **{"applicant.address": person("corr-dup-a")["applicant.address"]})
    assert correct(intake, "corr-dup-1", number, moved).applied
    assert [
        (d.other_application_number, d.evidence) for d in unmasked(intake, number).duplicates
    ] == [(neighbour, common_pb2.SAME_HOUSEHOLD)]
    for event in corrected_events(admin_engine, number, "corr-dup-1"):
        assert [(d.other_application_number, d.evidence) for d in event.duplicates] == [
            (neighbour, common_pb2.SAME_HOUSEHOLD)
        ]
    # correcting again at the same address adds no second flag
    assert correct(intake, "corr-dup-2", number, moved, note="電話番号の訂正").applied
    assert stored(admin_engine, number)["f"] == 1


def test_a_bad_record_names_the_field_and_changes_nothing(
    intake: Client, admin_engine: Engine
) -> None:
    number = submit(intake, "corr-bad", **person("corr-bad"))
    before = stored(admin_engine, number)
    with pytest.raises(grpc.RpcError) as raised:
        correct(
            intake,
            "corr-bad-1",
            number,
            person("corr-bad", **{"applicant.birth_date": "1980/01/02"}),
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    [violation] = field_violations(raised.value)
    assert violation.field == "applicant.birth_date"
    with pytest.raises(grpc.RpcError) as raised:
        correct(intake, "corr-bad-2", number, person("corr-bad"), note="長い" * 101)
    assert [v.field for v in field_violations(raised.value)] == ["note"]
    assert stored(admin_engine, number) == before
    assert (
        count(
            admin_engine,
            "SELECT count(*) FROM intake.corrections WHERE request_id LIKE 'corr-bad-%'",
        )
        == 0
    )


def test_an_unknown_application_number_is_not_found_and_echoed_short(intake: Client) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        correct(intake, "corr-unknown", "S2025-999998", person("corr-unknown"))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    details = raised.value.details() or ""
    assert "S2025-999998" in details and len(details) < 100


@pytest.mark.parametrize("number", ["S" * 33, "S" * 5000, "S2025-\x00001", "S2025 000001"])
def test_an_application_number_beyond_its_limit_is_invalid_and_never_echoed(
    intake: Client, number: str
) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        correct(intake, "corr-unknown", number, person("corr-unknown"))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in field_violations(raised.value)] == ["application_number"]
    assert "SSS" not in (raised.value.details() or "") + str(field_violations(raised.value))


@pytest.mark.parametrize(
    "request_id", ["", "x" * (1024 * 1024), "x" * 65, "corr\x00nul", "corr\nline"]
)
def test_a_bad_request_id_is_an_invalid_argument(intake: Client, request_id: str) -> None:
    number = submit(intake, "corr-request-id", **person("corr-request-id"))
    with pytest.raises(grpc.RpcError) as raised:
        correct(intake, request_id, number, person("corr-request-id"))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in field_violations(raised.value)] == ["request_id"]
    assert len(raised.value.details() or "") < 200


def report(client: Client, number: str, status: str, request_id: str) -> None:
    """Review reports a status onto intake's timeline (its certificate, no token)."""
    with client.stub("review") as as_review:
        as_review.ReportStatusTransition(
            intake_pb2.ReportStatusTransitionRequest(
                request_id=request_id,
                application_number=number,
                status=common_pb2.ApplicationStatus.Value(status),
            )
        )


@pytest.mark.parametrize("status", ["GRANTED", "NOT_GRANTED", "WITHDRAWN"])
def test_a_decided_or_withdrawn_application_is_not_corrected(
    intake: Client, admin_engine: Engine, status: str
) -> None:
    tag = f"corr-decided-{status.lower()}"
    number = submit(intake, tag, **person(tag))
    earlier = person(tag, **{"applicant.phone": "03-5555-0101"})
    assert correct(intake, f"{tag}-1", number, earlier).applied  # before the decision
    report(intake, number, status, f"review-{tag}")
    before = stored(admin_engine, number)
    outbox = count(admin_engine, "SELECT count(*) FROM intake.outbox")

    with pytest.raises(grpc.RpcError) as raised:
        correct(intake, f"{tag}-2", number, person(tag, **{"applicant.address": NEW_ADDRESS}))
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "補正できません" in (raised.value.details() or "")
    assert stored(admin_engine, number) == before
    assert count(admin_engine, "SELECT count(*) FROM intake.outbox") == outbox
    assert corrected_events(admin_engine, number, f"{tag}-2") == []
    assert (
        count(
            admin_engine,
            "SELECT count(*) FROM intake.corrections WHERE request_id = :r",
            r=f"{tag}-2",
        )
        == 0
    )
    # the correction applied before the decision is still replayed to a retrying client
    again = correct(intake, f"{tag}-1", number, earlier)
    assert (again.applied, again.replayed) == (True, True)
    assert stored(admin_engine, number) == before


@pytest.mark.parametrize("status", ["NOTICE_SENT", "PAYMENT_SCHEDULED", "PAID", "TRANSFER_FAILED"])
def test_an_application_past_its_decision_is_not_corrected_even_on_paper(
    intake: Client, review: ServiceProcess, admin_engine: Engine, status: str
) -> None:
    tag = f"corr-after-{status.lower()}"
    original = {**person(tag), **PAPER}
    number = submit(intake, tag, **original)
    settled(intake, review, admin_engine, number)
    # notices and payments report these; they are not installed here, so set it directly
    with admin_engine.begin() as connection:
        connection.execute(
            text("UPDATE intake.applications SET status = :s WHERE application_number = :n"),
            {"s": status, "n": number},
        )
    before = stored(admin_engine, number)
    first = {**original, "applicant.address": NEW_ADDRESS}
    for second in (first, {**first, "applicant.address": NEW_ADDRESS.replace("202", "203")}):
        with pytest.raises(grpc.RpcError) as raised:
            correct(intake, f"{tag}-1", number, first, second=second)
        assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert stored(admin_engine, number) == before
