"""The notices service as the platform knows it: the one place notices is declared (issue 8).

Registered under the entry-point group `subsidy_platform.services` (pyproject.toml).
Notices keeps only what a notice shows (addressee, what was applied for, the masked
account, reasons or correction items) and the print files, all encrypted with the
program's contact key; its Vault policy allows contact details only, never bank details
(intake sends the account masked). It reads applications through intake's GetApplication
under its own identity, receives review's decisions, revocations (交付決定の取消) and
correction requests through review's outbox, and reports NOTICE_SENT and NOTICE_RETURNED to intake's timeline.
"""

from __future__ import annotations

from subsidy_notices.erasure_check import erasure_blockers
from subsidy_notices.roles import NOTICES, TABLE
from subsidy_platform.crypto import DataClass
from subsidy_platform.declaration import ServiceDeclaration
from subsidy_platform.rotation import CiphertextColumns

DECLARATION = ServiceDeclaration(
    name="notices",
    port=50054,
    rpc_roles=TABLE,
    encrypts=(DataClass.CONTACT,),
    decrypts=(DataClass.CONTACT,),
    ciphertext=(
        CiphertextColumns("notices.notices", ("content_ct",), DataClass.CONTACT),
        CiphertextColumns("notices.batches", ("pdf_ct",), DataClass.CONTACT),
        CiphertextColumns("notices.reprints", ("reason_ct",), DataClass.CONTACT),
        CiphertextColumns("notices.manual_mailings", ("reason_ct",), DataClass.CONTACT),
    ),
    migrations="subsidy_notices.migrations",
    reports=frozenset({"NOTICE_SENT", "NOTICE_RETURNED"}),
    subscriptions={
        "review.decision": f"/{NOTICES}/DecisionMade",
        "review.correction": f"/{NOTICES}/CorrectionRequested",
        "review.revocation": f"/{NOTICES}/RevocationMade",
    },
    calls=frozenset({"intake"}),
    erasure_blockers=erasure_blockers,
)
