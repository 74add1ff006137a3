"""Who may call each intake RPC: the one table the interceptor enforces (DESIGN.md Roles).

operator: contractor data entry (submit, import, paper keying, corrections, attachments);
checker: contractor review (look-up, unmask with purpose, corrections, attachments);
call_center: look-up (masked), inquiries; ward_officer: look-up, unmask with purpose;
payments_officer: timeline only; auditor and approver: nothing here (the audit log is
read through `subsidy-admin audit`); service:<name>: the other services' identities
(review reads applications for its checks: contact details, never bank details;
payments alone reads a granted application's bank account, as ciphertext only intake
cannot decrypt, and the current version of applications' accounts).
Staff sign in at the platform's sign-in service (subsidy_platform.auth_main), not here.
"""

from __future__ import annotations

from subsidy_platform.access import rpc_roles

INTAKE = "subsidy.intake.v1.IntakeService"

LOOKUP = {"operator", "checker", "call_center", "ward_officer", "admin"}
REVIEW = "service:review"
NOTICES = "service:notices"  # reads the addressee of a notice (contact details, bank masked)

INTAKE_ROLES = rpc_roles(
    INTAKE,
    {
        "SubmitApplication": {"operator", "service:logo-gateway"},
        "ImportLogoCsv": {"operator"},
        "KeyPaperForm": {"operator", "checker"},
        "SearchApplications": LOOKUP,
        "GetApplication": LOOKUP | {REVIEW, NOTICES},
        "GetTimeline": LOOKUP | {"payments_officer", REVIEW},
        "RecordInquiry": {"call_center"},
        "ListInquiries": {"call_center", "checker", "ward_officer"},
        "ReportStatusTransition": {"service:review", "service:payments", "service:notices"},
        "GetAttachmentChecklist": LOOKUP | {REVIEW},
        "RecordAttachments": {"operator", "checker"},
        "SubmitCorrection": {"operator", "checker"},
        "GetPaymentAccount": {"service:payments"},
        "GetPaymentAccountVersions": {"service:payments"},
        "RecordBankAccountChange": {"operator", "checker"},
    },
)

TABLE = INTAKE_ROLES
