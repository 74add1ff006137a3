"""How long the print path holds personal data (DOMAIN.md: the Iseto incident).

Print files and addressees are kept until the batch's mailing is confirmed plus the
retention period (`NOTICES_RETENTION_DAYS`), then deleted by `purge` (the print operator's
daily command, `subsidy-notices purge`); `held` lists what is still held, which the demo
shows empty at the end. `as_of` is at most today: data is never deleted ahead of its date
by a caller's say-so, only the retention setting decides it.

Every run is audited (action `retention_purge`, whoever runs it: the operator's hourly run or
the print operator), with its counts as fields `notices.print_files=N` and
`notices.addressees=N` (the access-audit dashboard sums them), and, when anything went, the
fields of personal data deleted.
"""

from __future__ import annotations

from dataclasses import dataclass

from subsidy_notices.repository import Batch
from subsidy_notices.service import Notices, parse_date, today
from subsidy_platform.access import Principal
from subsidy_platform.errors import FieldViolation, InvalidArgument
from subsidy_platform.maintenance import RETENTION_ACTION

ADDRESSEE_FIELDS = ("applicant.name", "applicant.postal_code", "applicant.address")


@dataclass(frozen=True)
class Held:
    batches: tuple[Batch, ...]
    addressees: int


def held(notices: Notices, program_id: str) -> Held:
    program = notices.program(program_id)
    with notices.uow() as work:
        return Held(
            tuple(work.repo.held_batches(program.id)), work.repo.addressees_held(program.id)
        )


def purge(notices: Notices, who: Principal, program_id: str, as_of: str) -> tuple[int, int]:
    program = notices.program(program_id)
    day = parse_date(as_of, "as_of", default=today())
    if day > today():
        raise InvalidArgument([FieldViolation("as_of", "基準日は今日以前で指定してください")])
    with notices.uow() as work:
        work.lock(f"notices:batch:{program.id}")
        files, addressees = notices.repo(work, program.id).purge(
            program.id, day, notices.retention_days
        )
        deleted = ("print_file", *ADDRESSEE_FIELDS) if files or addressees else ()
        work.audit(
            who,
            "PurgeExpiredPrintData",
            RETENTION_ACTION,
            application=None,
            fields=(
                *deleted,
                f"notices.print_files={files}",
                f"notices.addressees={addressees}",
            ),
            purpose=f"保存期間経過による印刷データの削除 ({files}件の印刷ファイル, {addressees}件の宛名)",
        )
        return files, addressees
