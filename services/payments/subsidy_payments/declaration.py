"""The payments service as the platform knows it: the one place payments is declared.

Registered under the entry-point group `subsidy_platform.services` (pyproject.toml).
Payments is the only service whose Vault policy may decrypt the bank data class: it keeps
the bank account intake hands it (as ciphertext, never retyped) on each payment
instruction, decrypts it only to write a transfer file, and keeps that file encrypted in
the same class. It subscribes to review's decisions and revocations and to intake's
changed bank accounts, calls intake directly (the account of a granted application, the
current versions of accounts before a build or release) and review (its granted
decisions, for the reconciliation across services), and reports
PAYMENT_SCHEDULED, PAID and TRANSFER_FAILED to intake's timeline.
"""

from __future__ import annotations

from subsidy_payments.erasure_check import erasure_blockers
from subsidy_payments.roles import PAYMENTS, TABLE
from subsidy_payments.settings import DEFAULTS, WARD_ACCOUNT
from subsidy_platform.crypto import DataClass
from subsidy_platform.declaration import ServiceDeclaration
from subsidy_platform.rotation import CiphertextColumns

DECLARATION = ServiceDeclaration(
    name="payments",
    port=50053,
    rpc_roles=TABLE,
    encrypts=(DataClass.BANK,),
    decrypts=(DataClass.BANK,),
    ciphertext=(
        CiphertextColumns(
            "payments.instructions",
            ("account_number_ct", "account_holder_ct"),
            DataClass.BANK,
        ),
        CiphertextColumns("payments.batches", ("file_ct",), DataClass.BANK),
        CiphertextColumns(
            "payments.latest_accounts", ("account_number_ct", "account_holder_ct"), DataClass.BANK
        ),
    ),
    migrations="subsidy_payments.migrations",
    reports=frozenset({"PAYMENT_SCHEDULED", "PAID", "TRANSFER_FAILED"}),
    subscriptions={
        "review.decision": f"/{PAYMENTS}/DecisionReceived",
        "review.revocation": f"/{PAYMENTS}/RevocationReceived",
        "intake.bank_account": f"/{PAYMENTS}/BankAccountChanged",
    },
    calls=frozenset({"intake", "review"}),
    local_defaults={name: DEFAULTS[name] for name in sorted(WARD_ACCOUNT)},
    erasure_blockers=erasure_blockers,
)
