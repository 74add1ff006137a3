"""The intake service as the platform knows it: the one place intake is declared (issue 6).

Registered under the entry-point group `subsidy_platform.services` (pyproject.toml).
Intake stores applications: it encrypts contact and bank details but decrypts contact
details only (bank details are decrypted by payments alone; intake keeps the masked
account staff see, and the verification keying compares keyed HMACs), computes blind
indexes, and owns every status
timeline, to which review, payments and notices report through their outboxes.
"""

from __future__ import annotations

from subsidy_intake.records import CIPHERTEXT_COLUMNS
from subsidy_intake.roles import INTAKE, TABLE
from subsidy_platform.crypto import DataClass
from subsidy_platform.declaration import ServiceDeclaration
from subsidy_platform.message_bounds import KIB, MIB, FieldBound, MessageBounds, bounds_table

MAX_CHUNK = 4 * MIB
"""The largest piece of a LoGo CSV in one message of ImportLogoCsv (the command line and the
demo send 256 KiB; the file itself is at most 64 MiB in all, servicer.MAX_UPLOAD_BYTES)."""

DECLARATION = ServiceDeclaration(
    name="intake",
    port=50051,
    rpc_roles=TABLE,
    encrypts=(DataClass.CONTACT, DataClass.BANK),
    decrypts=(DataClass.CONTACT,),
    blind_index=True,
    ciphertext=CIPHERTEXT_COLUMNS,
    migrations="subsidy_intake.migrations",
    message_bounds=bounds_table(
        INTAKE,
        {
            "ImportLogoCsv": MessageBounds(
                max_bytes=MAX_CHUNK + 64 * KIB, fields={"chunk": FieldBound(length=MAX_CHUNK)}
            ),
        },
    ),
    subscriptions={
        "review.status": f"/{INTAKE}/ReportStatusTransition",
        "payments.status": f"/{INTAKE}/ReportStatusTransition",
        "notices.status": f"/{INTAKE}/ReportStatusTransition",
    },
)
