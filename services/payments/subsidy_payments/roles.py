"""Who may call each payments RPC: the one table the interceptor enforces (DESIGN.md Roles).

payments_officer: builds batches, cancels them, records the bank's confirmation and its
returns, and the repayments of revoked grants (返還金); approver: the second person, who
sees a batch and releases (or cancels) it, and never the one who built it (checked in the
use case); auditor: reconciliation (also across services, where payments reads review's
granted decisions under its own identity), repayment claims and the files still held, read
only; service:review and service:intake: the events of their outboxes (decisions and
revocations; changed bank accounts); service:operator: the retention purge of transfer
files it runs on every live program (subsidy_operator.retention).
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
        "ReconcileAcross": READERS,
        "RevocationReceived": {"service:review"},
        "ListRepaymentClaims": READERS,
        "RecordRepayment": OFFICER,
    },
)
