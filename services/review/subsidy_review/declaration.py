"""The review service as the platform knows it: the one place review is declared (issue 6).

Registered under the entry-point group `subsidy_platform.services` (pyproject.toml).
Review stores only what it owns (cases, checks, duplicate resolutions, correction requests,
handovers, decisions) and reads applications through intake's RPCs: its Vault policy allows
encrypting and decrypting contact details at most (the handover file for the ward carries names and
addresses), never bank details, and it computes no blind indexes. It reports review states
to intake's timeline and publishes decisions, revocations (交付決定の取消) and correction
requests through its outbox.
"""

from __future__ import annotations

from subsidy_platform.crypto import DataClass
from subsidy_platform.declaration import ServiceDeclaration
from subsidy_platform.rotation import CiphertextColumns
from subsidy_review.erasure_check import erasure_blockers
from subsidy_review.roles import REVIEW, TABLE

DECLARATION = ServiceDeclaration(
    name="review",
    port=50052,
    rpc_roles=TABLE,
    encrypts=(DataClass.CONTACT,),
    decrypts=(DataClass.CONTACT,),
    ciphertext=(
        CiphertextColumns("review.cases", ("pending_reduction_ct",), DataClass.CONTACT),
        CiphertextColumns("review.duplicate_flags", ("resolution_reason_ct",), DataClass.CONTACT),
        CiphertextColumns("review.corrections", ("items_ct",), DataClass.CONTACT),
        CiphertextColumns(
            "review.decisions", ("reduction_reason_ct", "note_ct"), DataClass.CONTACT
        ),
        CiphertextColumns("review.clearings", ("reason_ct", "note_ct"), DataClass.CONTACT),
        CiphertextColumns("review.revocations", ("reason_ct",), DataClass.CONTACT),
    ),
    migrations="subsidy_review.migrations",
    reports=frozenset(
        {
            "DUPLICATE_SUSPECTED",
            "UNDER_REVIEW",
            "CORRECTION_REQUESTED",
            "GRANTED",
            "NOT_GRANTED",
            "WITHDRAWN",
            "GRANT_REVOKED",
        }
    ),
    subscriptions={"intake.application": f"/{REVIEW}/ApplicationChanged"},
    calls=frozenset({"intake"}),
    erasure_blockers=erasure_blockers,
)
