"""`subsidy-auth`: the platform's sign-in service, the one place staff clients sign in.

Signing in is nobody's business but the platform's (issue 6): this process serves
AuthService (ID and password in, a short-lived signed token out) and holds the token-signing
key; every other service only verifies tokens with the public key. It logs in to
PostgreSQL as `svc_auth`, which may read staff accounts and update only their lock-out
counters and password hash (migration auth_0003). It also writes the signed audit
checkpoints into OpenBao while it runs (every `AUDIT_CHECKPOINT_SECONDS`, default 5 s,
subsidy_platform.checkpoints), so that truncating, rewriting or forging the audit log beyond
the last `AUDIT_MAX_AGE_SECONDS` is found by `subsidy-admin audit verify`. It
listens on `AUTH_LISTEN` (default
127.0.0.1:50050); staff clients find it at `AUTH_ADDRESS`.

It also serves the administrator's account changes (UserAdminService, role `admin`,
subsidy_platform.user_admin) and the auditor's read access to the audit log (AuditService,
role `auditor`, subsidy_platform.audit_reader): this process already holds the database role
that may read accounts and audit events, so neither command needs a database URL.
"""

from __future__ import annotations

from collections.abc import Mapping

from subsidy.audit.v1 import audit_pb2_grpc
from subsidy.auth.v1 import admin_pb2_grpc, auth_pb2_grpc

from subsidy_platform.access import PUBLIC, rpc_roles
from subsidy_platform.audit_reader import SERVICE as AUDIT
from subsidy_platform.audit_reader import AuditServicer
from subsidy_platform.auth_service import AuthServicer
from subsidy_platform.checkpoints import (
    CheckpointSigner,
    VaultCheckpoints,
    chain_name,
    max_age_from,
    start_checkpointing,
)
from subsidy_platform.message_bounds import MessageBounds
from subsidy_platform.process import ServiceContext, ServiceProcess, run_service, start_process
from subsidy_platform.runtime import Environment
from subsidy_platform.server import Registration
from subsidy_platform.sign_in_throttle import SignInPolicy
from subsidy_platform.tokens import TokenIssuer, load_private_key
from subsidy_platform.user_admin import SERVICE as USER_ADMIN
from subsidy_platform.user_admin import UserAdminServicer
from subsidy_platform.vault import CHECKPOINT_WRITER
from subsidy_rules.program import Program

NAME = "auth"
AUTH = "subsidy.auth.v1.AuthService"
TABLE = {
    **rpc_roles(AUTH, {"SignIn": {PUBLIC}}),
    **rpc_roles(
        USER_ADMIN,
        {
            method: {"admin"}
            for method in ("ListUsers", "DisableUser", "EnableUser", "UnlockUser", "ResetPassword")
        },
    ),
    **rpc_roles(
        AUDIT,
        {method: {"auditor"} for method in ("ListEvents", "SummariseActivity", "VerifyChain")},
    ),
}


BOUNDS: dict[str, MessageBounds] = {}
"""Every request of the sign-in, user-admin and audit services fits the platform's default
bounds (subsidy_platform.message_bounds), so none is declared: they are listed here, beside
the role table, when one needs more."""


def servicers(context: ServiceContext) -> list[Registration]:
    issuer = TokenIssuer(load_private_key(context.settings.state_dir))
    writer = context.environment.vault_client(CHECKPOINT_WRITER)
    checkpoints = VaultCheckpoints(writer, chain_name(context.engine))
    context.background.append(
        start_checkpointing(context.engine, CheckpointSigner(writer), checkpoints)
    )
    return [
        (
            auth_pb2_grpc.add_AuthServiceServicer_to_server,
            AuthServicer(context.sessions, issuer, SignInPolicy.from_env()),
            AUTH,
        ),
        (
            admin_pb2_grpc.add_UserAdminServiceServicer_to_server,
            UserAdminServicer(context.sessions),
            USER_ADMIN,
        ),
        (
            audit_pb2_grpc.add_AuditServiceServicer_to_server,
            AuditServicer(context.engine, checkpoints, max_age_from()),
            AUDIT,
        ),
    ]


def build(
    environment: Environment,
    programs: Mapping[str, Program] | None = None,
    address: str = "127.0.0.1:0",
    *,
    tls: bool = True,
) -> ServiceProcess:
    """Start the sign-in service on `address` (port 0: any free port)."""
    return start_process(
        environment,
        NAME,
        TABLE,
        servicers,
        programs=programs or {},
        address=address,
        tls=tls,
        pool_size=4,
        bounds=BOUNDS,
    )


def main() -> None:
    run_service(NAME, build)


if __name__ == "__main__":
    main()
