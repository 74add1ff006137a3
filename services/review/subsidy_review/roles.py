"""Who may call each review RPC: the one table the interceptor enforces (DESIGN.md Roles).

checker: the contractor's review (worklist, claims, checks, duplicates, correction
requests; a second checker or a ward officer confirms a clearing of strong duplicate
evidence); ward_officer: the ward's handover, decisions, revocations (交付決定の取消) and the
ledger (and what checkers see); call_center: one application's review state
(補正依頼日・補正の内容); auditor: the handover ledger and the revocation cases; admin:
read-only views; service:intake: the events of intake's outbox; service:payments and
auditor: the granted decisions for the reconciliation across services.
"""

from __future__ import annotations

from subsidy_platform.access import rpc_roles

REVIEW = "subsidy.review.v1.ReviewService"

CHECKERS = {"checker", "ward_officer"}
WARD = {"ward_officer"}

TABLE = rpc_roles(
    REVIEW,
    {
        "ApplicationChanged": {"service:intake"},
        "ListWorklist": CHECKERS | {"admin"},
        "ClaimApplication": {"checker"},
        "ReleaseClaim": {"checker"},
        "GetCheck": CHECKERS,
        "RecordCheck": {"checker"},
        "GetDuplicateGroup": CHECKERS,
        "ResolveDuplicates": {"checker"},
        "RequestCorrection": {"checker"},
        "ExtendCorrectionDeadline": CHECKERS,
        "ExpireCorrections": CHECKERS,
        "GetCase": CHECKERS | {"call_center", "admin"},
        "ExportForWard": WARD,
        "ImportWardDecisions": WARD,
        "DecideApplication": WARD,
        "ApproveReducedGrant": WARD,
        "ListHandovers": WARD | {"auditor"},
        "ExportHandoverLedger": WARD | {"auditor"},
        "ListGrantedDecisions": {"service:payments", "auditor"},
        "ListPendingClearings": CHECKERS,
        "ConfirmClearing": CHECKERS,
        "ListRevocationCases": WARD | {"auditor"},
        "RevokeGrant": WARD,
    },
)
