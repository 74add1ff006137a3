"""Who may call each intake RPC: the one table the interceptor enforces (DESIGN.md Roles).

operator: contractor data entry (submit, import, paper keying, attachments);
checker: contractor review (look-up, unmask with purpose, attachments);
call_center: look-up (masked), inquiries; ward_officer: look-up, unmask with purpose;
payments_officer: timeline only; auditor and approver: nothing here (the audit log is
read through `subsidy-admin audit`); service:<name>: the other services' identities.
"""

from __future__ import annotations

from subsidy_platform.access import PUBLIC, rpc_roles

INTAKE = "subsidy.intake.v1.IntakeService"
AUTH = "subsidy.auth.v1.AuthService"

LOOKUP = {"operator", "checker", "call_center", "ward_officer", "admin"}

INTAKE_ROLES = rpc_roles(
    INTAKE,
    {
        "SubmitApplication": {"operator", "service:logo-gateway"},
        "ImportLogoCsv": {"operator"},
        "KeyPaperForm": {"operator", "checker"},
        "SearchApplications": LOOKUP,
        "GetApplication": LOOKUP,
        "GetTimeline": LOOKUP | {"payments_officer"},
        "RecordInquiry": {"call_center"},
        "ListInquiries": {"call_center", "checker", "ward_officer"},
        "ReportStatusTransition": {"service:review", "service:payments", "service:notices"},
        "GetAttachmentChecklist": LOOKUP,
        "RecordAttachments": {"operator", "checker"},
    },
)

AUTH_ROLES = rpc_roles(AUTH, {"SignIn": {PUBLIC}})

TABLE = {**INTAKE_ROLES, **AUTH_ROLES}
