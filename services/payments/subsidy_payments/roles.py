"""Who may call each payments RPC: the one table the interceptor enforces (DESIGN.md Roles).

payments_officer: builds batches, cancels them, records the bank's confirmation and its
returns, and the repayments of revoked grants (返還金); approver: the second person, who
sees a batch and releases (or cancels) it, and never the one who built it (checked in the
use case); auditor: reconciliation (also across services, where payments reads review's
granted decisions under its own identity), repayment claims and the files still held, read
only; service:review and service:intake: the events of their outboxes (decisions and
revocations; changed bank accounts); service:operator: the retention purge of transfer
files it runs on every live program (subsidy_operator.retention). Two grants sharing one account
(shared_accounts.py): a ward_officer (who settles the household question) or a
payments_officer records the clearance, an approver who is not the recorder approves it;
the held instructions are read by those and the auditor.
"""

from __future__ import annotations

from subsidy_platform.access import rpc_roles

PAYMENTS = "subsidy.payments.v1.PaymentsService"

OFFICER = {"payments_officer"}
READERS = {"payments_officer", "approver", "auditor"}

TABLE = rpc_roles(
    PAYMENTS,
    {
        "DecisionReceived": {"service:review"},
        "BankAccountChanged": {"service:intake"},
        "ListInstructions": READERS,
        "BuildBatch": OFFICER,
        "GetBatch": READERS,
        "ReleaseBatch": {"approver"},
        "CancelBatch": {"payments_officer", "approver"},
        "ConfirmBatch": OFFICER,
        "ImportReturns": OFFICER,
        "Reconcile": READERS,
        "ListHeldFiles": {"payments_officer", "auditor"},
        "PurgeFiles": OFFICER | {"service:operator"},  # the operator's retention purge
        "ListHeldInstructions": {*READERS, "ward_officer"},
        "ClearSharedAccount": {"ward_officer", "payments_officer"},
        "ApproveSharedAccountClearance": {"approver"},
        "ReconcileAcross": READERS,
        "RevocationReceived": {"service:review"},
        "ListRepaymentClaims": READERS,
        "RecordRepayment": OFFICER,
    },
)
