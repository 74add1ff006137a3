"""Staff sign-in over gRPC: ID and password in, a short-lived signed token out.

Every service verifies the token (access.AuthInterceptor); the sign-in itself is public.
Failed attempts count toward the lock-out, per client (its certificate and host) and per
account, and are audited (users.sign_in, sign_in_throttle); the same
message answers an unknown ID, a wrong password and a locked or disabled account, so the
RPC does not reveal which IDs exist. The token is bound to the client certificate the
sign-in came over (its `cnf` thumbprint): replayed over another certificate it is refused.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import grpc
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker
from subsidy.auth.v1 import auth_pb2, auth_pb2_grpc

from subsidy_platform.errors import DependencyUnavailable, PlatformError, to_grpc_status
from subsidy_platform.sign_in_throttle import DEFAULT_POLICY, SignInPolicy, client_key
from subsidy_platform.tls import peer_certificate_thumbprint
from subsidy_platform.tokens import DEFAULT_LIFETIME, TokenIssuer
from subsidy_platform.users import sign_in

log = logging.getLogger(__name__)


class AuthServicer(auth_pb2_grpc.AuthServiceServicer):
    def __init__(
        self,
        sessions: sessionmaker[Session],
        issuer: TokenIssuer,
        policy: SignInPolicy = DEFAULT_POLICY,
    ) -> None:
        self.sessions = sessions
        self.issuer = issuer
        self.policy = policy

    def SignIn(
        self, request: auth_pb2.SignInRequest, context: grpc.ServicerContext
    ) -> auth_pb2.SignInResponse:
        now = datetime.now(UTC)
        try:
            try:
                with self.sessions() as session:  # sign_in owns the transaction
                    principal = sign_in(
                        session,
                        request.login,
                        request.password,
                        now,
                        client=client_key(peer_certificate_thumbprint(context), context.peer()),
                        policy=self.policy,
                    )
            except (sa_exc.OperationalError, sa_exc.InterfaceError) as error:
                raise DependencyUnavailable("データベースに接続できません") from error
        except PlatformError as error:
            context.abort_with_status(to_grpc_status(error))
        except Exception:
            log.exception("sign-in failed")
            context.abort(grpc.StatusCode.INTERNAL, "内部エラーが発生しました")
        token = self.issuer.issue(
            principal.subject,
            principal.role,
            certificate=peer_certificate_thumbprint(context),
            not_before=principal.issued_at,
        )
        return auth_pb2.SignInResponse(
            token=token, role=principal.role, expires_at=(now + DEFAULT_LIFETIME).isoformat()
        )
