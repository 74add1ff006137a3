"""After a notice is printed: reprints (with a reason, counted) and returned mail (宛所不明).

A reprint reads the application from intake again (the address may have been corrected
since, the usual cause of a returned notice), keeps the reason encrypted, counts it, and
puts the notice into the next batch; allowed once the notice was printed, or while it
waits with a layout problem. Returned mail is recorded for a mailed notice and reported
NOTICE_RETURNED to intake's timeline, where the call center sees it (a returned correction
letter is recorded here only: the application still awaits its correction). A notice left
out of the batches (a character the font lacks, an address too long) is printed and mailed
by hand, with a reason, and recorded as mailed: NOTICE_SENT, its addressee then deleted
after the retention period like any other.
"""

from __future__ import annotations

from dataclasses import replace

from subsidy_notices.content import addressee, masked_account
from subsidy_notices.events import PURPOSE
from subsidy_notices.repository import MAX_NUMBER, StoredNotice
from subsidy_notices.service import Notices, parse_date, report_status, today
from subsidy_platform.access import Principal
from subsidy_platform.errors import Conflict, FieldViolation, InvalidArgument
from subsidy_platform.limits import bounded_text, identifier

KINDS = ("GRANT", "REFUSAL", "CORRECTION", "REVOCATION")
REPRINTABLE = frozenset({"PRINTED", "MAILED", "RETURNED"})


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise InvalidArgument([FieldViolation("kind", "通知の種類を指定してください")])
    return kind


def reprint(
    notices: Notices, who: Principal, request_id: str, number: str, kind: str, reason: str
) -> StoredNotice:
    request_id = identifier("request_id", request_id)
    number = identifier("application_number", number, limit=MAX_NUMBER)
    kind = _kind(kind)
    reason = bounded_text("reason", reason, 200, required=True)
    with notices.uow() as work:
        notice = work.repo.notice(number, kind)
        if work.repo.reprint_seen(request_id):
            return notice
    if notice.state not in REPRINTABLE and not (notice.state == "WAITING" and notice.problem):
        raise Conflict("まだ印刷されていない通知は再印刷できません")
    program_id, record = notices.read_application(number, f"{PURPOSE} 再印刷")
    try:
        name, postal_code, address = addressee(record)
    except (KeyError, ValueError):
        raise Conflict("申請の宛名を読み取れません") from None
    with notices.uow() as work:
        repo = notices.repo(work, program_id)
        notice = repo.notice(number, kind, for_update=True)
        if repo.reprint_seen(request_id):
            return notice
        updated = replace(
            repo.content(notice.id),
            name=name,
            postal_code=postal_code,
            address=address,
            account=masked_account(record) if kind == "GRANT" else None,
        )
        repo.ask_reprint(notice, updated, request_id, reason, who.subject)
        work.audit(
            who,
            "ReprintNotice",
            "update",
            application=number,
            fields=("applicant.name", "applicant.postal_code", "applicant.address"),
            purpose=f"通知書の再印刷: {reason}",
        )
        return repo.notice(number, kind)


def record_returned(
    notices: Notices, who: Principal, request_id: str, number: str, kind: str, returned_on: str
) -> StoredNotice:
    request_id = identifier("request_id", request_id)
    number = identifier("application_number", number, limit=MAX_NUMBER)
    kind = _kind(kind)
    day = parse_date(returned_on, "returned_on", default=today())
    with notices.uow() as work:
        notice = work.repo.notice(number, kind, for_update=True)
        if notice.state not in ("MAILED", "RETURNED"):
            raise Conflict("発送済みでない通知は返戻として記録できません")
        if notice.mailed_on is not None and not notice.mailed_on <= day <= today():
            raise InvalidArgument([FieldViolation("returned_on", "返戻日は発送日から今日までです")])
        if work.repo.record_return(notice, request_id, day, who.subject) and kind != "CORRECTION":
            report_status(
                work, notice.program_id, number, "NOTICE_RETURNED", "通知書返戻（宛所不明）"
            )
        return work.repo.notice(number, kind)


def notices_of(notices: Notices, number: str) -> list[StoredNotice]:
    number = identifier("application_number", number, limit=MAX_NUMBER)
    with notices.uow() as work:
        return work.repo.notices_of(number)


def record_manual_mailing(
    notices: Notices,
    who: Principal,
    request_id: str,
    number: str,
    kind: str,
    mailed_on: str,
    reason: str,
) -> StoredNotice:
    """A notice left out of the batches, printed and mailed by hand (module docstring)."""
    request_id = identifier("request_id", request_id)
    number = identifier("application_number", number, limit=MAX_NUMBER)
    kind = _kind(kind)
    day = parse_date(mailed_on, "mailed_on", default=today())
    reason = bounded_text("reason", reason, 200, required=True)
    if day > today():
        raise InvalidArgument([FieldViolation("mailed_on", "発送日は今日以前で指定してください")])
    with notices.uow() as work:
        notice = work.repo.notice(number, kind, for_update=True)
        if work.repo.manual_mailing_seen(request_id):
            return notice
        if not (notice.state == "WAITING" and notice.problem):
            raise Conflict("印刷から除外された通知だけを手作業の発送として記録できます")
        repo = notices.repo(work, notice.program_id)
        repo.record_manual_mailing(notice, request_id, day, reason, who.subject)
        if kind != "CORRECTION":
            report_status(work, notice.program_id, number, "NOTICE_SENT", "通知書発送（手作業）")
        work.audit(
            who,
            "RecordManualMailing",
            "update",
            application=number,
            fields=("notice",),
            purpose=f"手作業で印刷・発送: {reason}",
        )
        return repo.notice(number, kind)
