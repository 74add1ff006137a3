"""Who may call each notices RPC: the one table the interceptor enforces (DESIGN.md Roles).

operator: the contractor's print operator (batches, downloads, printing and mailing
confirmations, reprints, returned mail, deletion of print data when due); ward_officer and
auditor: read the batches, a notice's state and the print data still held; call_center: a
notice's state (no personal data); service:review: review's decisions, revocations and
correction requests through its outbox; service:operator: the retention purge it runs on
every live program (subsidy_operator.retention).
"""

from __future__ import annotations

from subsidy_platform.access import rpc_roles

NOTICES = "subsidy.notices.v1.NoticesService"

PRINT = {"operator"}
READERS = {"operator", "ward_officer", "auditor"}

TABLE = rpc_roles(
    NOTICES,
    {
        "DecisionMade": {"service:review"},
        "CorrectionRequested": {"service:review"},
        "CreatePrintBatch": PRINT,
        "DownloadPrintFile": PRINT,
        "ConfirmPrinted": PRINT,
        "ConfirmMailed": PRINT,
        "ListPrintBatches": READERS,
        "ReprintNotice": PRINT,
        "RecordReturnedMail": PRINT,
        "RecordManualMailing": PRINT,
        "GetNotices": READERS | {"call_center"},
        "ListHeldPrintData": READERS,
        "PurgeExpiredPrintData": PRINT | {"service:operator"},
        "RevocationMade": {"service:review"},
    },
)
