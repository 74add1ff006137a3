"""A correction request's free text never travels in plaintext (issue 19): a checker's
request through review's RPC reaches the notices service as contact-class ciphertext in the
event (review's outbox row holds no plaintext, and so neither do WAL nor backups), and the
notices service, which holds the contact key, stores the letter with the items as written."""

from __future__ import annotations

import uuid
from typing import Any

from intake_support import PROGRAM, Client
from review_support import deliver, person, submit
from sqlalchemy import Engine, text
from subsidy.events.v1 import events_pb2
from subsidy.review.v1 import review_pb2
from subsidy_notices.content import NoticeContent

from subsidy_platform.crypto import DataClass
from subsidy_platform.process import ServiceProcess


def test_a_correction_request_reaches_notices_sealed_and_is_printed_as_written(
    intake: Client,
    review: ServiceProcess,
    notices: ServiceProcess,
    review_stub: Any,
    admin_engine: Engine,
) -> None:
    number = submit(intake, **person("封緘"))
    deliver(intake, review, admin_engine)
    problem = f"領収書の宛名が申請者と異なります（{uuid.uuid4().hex[:8]}）"
    request_id = uuid.uuid4().hex
    review_stub.RequestCorrection(
        review_pb2.RequestCorrectionRequest(
            request_id=request_id,
            application_number=number,
            items=[events_pb2.CorrectionItem(field="receipt", problem=problem)],
        ),
        metadata=intake.staff("checker"),
    )
    with admin_engine.connect() as connection:
        payloads = [
            bytes(p)
            for p in connection.execute(
                text("SELECT payload FROM review.outbox WHERE key = :k"),
                {"k": f"correction-{request_id}"},
            ).scalars()
        ]
    assert payloads, "review published no correction event"
    for payload in payloads:
        assert problem.encode() not in payload and b"receipt" not in payload
        event = events_pb2.CorrectionRequestEvent.FromString(payload)
        assert not event.items and event.items_ciphertext
    deliver(intake, review, admin_engine)
    with admin_engine.connect() as connection:
        sealed = connection.execute(
            text(
                "SELECT content_ct FROM notices.notices "
                "WHERE application_number = :n AND kind = 'CORRECTION'"
            ),
            {"n": number},
        ).scalar_one()
    [plain] = notices.context.cipher(PROGRAM).decrypt(DataClass.CONTACT, [sealed])
    assert NoticeContent.from_json(plain or "").corrections == (("receipt", problem),)
