"""Who may call which RPC: roles, the principal, and the interceptor that enforces the table.

DESIGN.md ("Roles"): every RPC declares the roles that may call it in one table, and an
interceptor enforces it. The table maps full gRPC method names
(`/subsidy.intake.v1.IntakeService/SubmitApplication`) to a set of entries:

- a staff role from `ROLES`;
- `service:<name>`: another service, identified by the common name of its mTLS client
  certificate (no bearer token needed) or by a service token;
- `public`: no credentials at all (sign-in). gRPC health and reflection are always public.

A method missing from the table is refused with PERMISSION_DENIED whoever calls
(deny by default: it is a gap in the table, not a caller's mistake). Staff present
`authorization: Bearer <token>` metadata; the interceptor verifies it, checks the table
and makes the caller available to the servicer through `current_principal()`.

A token counts only over the connection it belongs to (issue "Hardening", finding 3): a
staff token bound to a client certificate (its `cnf` thumbprint, set at sign-in) is refused
over any other certificate, and a service token is refused over a certificate that is not
that service's own (a staff client's `client-*` certificate in particular). Whether the
account behind a staff token is still enabled, unlocked and of the token's role is the
verifier's part (subsidy_platform.accounts.AccountCheckingVerifier).
Every refusal is noted to a `RefusalSink` (subsidy_platform.refusals), which audits refused
calls in aggregated batches without anything the caller sent.
gRPC runs handlers on a thread pool, so the principal is set inside the wrapped handler,
in the thread that runs it, within a copy of that thread's context (so that tracing
context set by an outer interceptor is kept and nothing leaks into the next call).
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn, Protocol

import grpc

from subsidy_platform.errors import PermissionDenied, PlatformError, Unauthenticated, to_grpc_status
from subsidy_platform.method_handlers import rebuilt
from subsidy_platform.tls import CLIENT_PREFIX, peer_certificate_thumbprint, peer_identity

ROLES: tuple[str, ...] = (
    "operator",
    "checker",
    "call_center",
    "ward_officer",
    "payments_officer",
    "approver",
    "auditor",
    "admin",
)
PUBLIC = "public"
SERVICE_PREFIX = "service:"
SERVICE_ROLE = "service"
ALWAYS_PUBLIC_SERVICES: tuple[str, ...] = (
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
)

Kind = Literal["staff", "service"]

_METHOD = re.compile(r"/[A-Za-z_][A-Za-z0-9_.]*/[A-Za-z_][A-Za-z0-9_]*")
_SERVICE_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_BEARER = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9_\-.]+)")

MESSAGE_NO_CREDENTIALS = "認証が必要です。サインインしてください"
MESSAGE_NOT_ALLOWED = "この操作を行う権限がありません"
MESSAGE_UNDECLARED = "この操作は許可されていません"
MESSAGE_WRONG_CERTIFICATE = "この認証情報は、この接続の証明書では使えません"


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: a staff member (subject = login) or a service (its name)."""

    subject: str
    role: str
    kind: Kind
    certificate: str | None = field(default=None, compare=False)
    """Thumbprint of the client certificate a staff token is bound to (None: not bound)."""
    issued_at: int | None = field(default=None, compare=False)
    """When the caller's token was issued (unix seconds; None: not from a token). At sign-in,
    the earliest second a new token may carry (after a revocation, see accounts)."""

    @property
    def grant(self) -> str:
        """The entry of the access table that this caller matches."""
        if self.kind == "service":
            return f"{SERVICE_PREFIX}{self.subject}"
        return self.role


class Verifier(Protocol):
    """Anything that turns a bearer token into a principal (tokens.TokenVerifier)."""

    def verify(self, token: str) -> Principal: ...


_current: contextvars.ContextVar[Principal] = contextvars.ContextVar("subsidy_principal")


def current_principal() -> Principal:
    """The caller of the RPC being handled; Unauthenticated outside an authenticated call."""
    try:
        return _current.get()
    except LookupError:
        raise Unauthenticated(MESSAGE_NO_CREDENTIALS) from None


@contextmanager
def acting_as(principal: Principal) -> Iterator[Principal]:
    """Run service-layer code as `principal` outside gRPC (admin commands, tests)."""
    token = _current.set(principal)
    try:
        yield principal
    finally:
        _current.reset(token)


def service_principal(name: str) -> Principal:
    """The principal of another service of the platform."""
    if not _SERVICE_NAME.fullmatch(name):
        raise ValueError(f"not a valid service name: {name!r}")
    return Principal(subject=name, role=SERVICE_ROLE, kind="service")


def rpc_roles(service: str, methods: Mapping[str, Iterable[str]]) -> dict[str, frozenset[str]]:
    """Declare one service's table with short method names.

    `rpc_roles("subsidy.intake.v1.IntakeService", {"SubmitApplication": {"operator"}})`
    gives `{"/subsidy.intake.v1.IntakeService/SubmitApplication": frozenset({"operator"})}`.
    """
    return {f"/{service}/{method}": frozenset(entries) for method, entries in methods.items()}


class AccessPolicy:
    """The RPC x role table, checked strictly when built so a typo fails loudly."""

    def __init__(self, table: Mapping[str, frozenset[str]]) -> None:
        for method, entries in table.items():
            _check_entry(method, entries)
        self._table = {method: frozenset(entries) for method, entries in table.items()}

    @property
    def methods(self) -> frozenset[str]:
        """Every method the table declares."""
        return frozenset(self._table)

    def allowed(self, method: str) -> frozenset[str] | None:
        """The entries that may call `method`, or None when it is not declared."""
        return self._table.get(method)

    def is_public(self, method: str) -> bool:
        """Whether the method needs no credentials (health, reflection, declared public)."""
        service = method[1:].split("/", 1)[0] if method.startswith("/") else ""
        return service in ALWAYS_PUBLIC_SERVICES or self._table.get(method) == frozenset({PUBLIC})

    def permits(self, method: str, principal: Principal) -> bool:
        """Whether `principal` may call `method` (False for undeclared methods)."""
        if self.is_public(method):
            return True
        entries = self._table.get(method)
        return entries is not None and principal.grant in entries


class RefusalSink(Protocol):
    """Where the interceptor notes each refused call (refusals.RefusalAudit): the actor and
    role of a verified caller (None: not authenticated), the method when declared (None:
    undeclared, caller text) and `call_unauthenticated` or `call_refused`."""

    def note(self, actor: str | None, role: str | None, rpc: str | None, action: str) -> None: ...


class AuthInterceptor(grpc.ServerInterceptor):
    """Authenticate, authorise against the policy, and expose the principal to the handler."""

    def __init__(
        self, policy: AccessPolicy, verifier: Verifier, refusals: RefusalSink | None = None
    ) -> None:
        self._policy = policy
        self._verifier = verifier
        self._refusals = refusals

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        method = handler_call_details.method
        handler = continuation(handler_call_details)
        if self._policy.is_public(method):
            return handler
        if self._policy.allowed(method) is None:
            return _refusing(
                handler,
                PermissionDenied(MESSAGE_UNDECLARED),
                lambda: self._note(None, None, "call_refused"),
            )
        if handler is None:
            return None
        return _guarded(handler, lambda context: self._admit(method, context))

    def _admit(self, method: str, context: grpc.ServicerContext) -> Principal:
        try:
            principal = self._authenticate(context)
        except Unauthenticated:
            self._note(None, method, "call_unauthenticated")
            raise
        if not self._policy.permits(method, principal):
            self._note(principal, method, "call_refused")
            raise PermissionDenied(MESSAGE_NOT_ALLOWED)
        return principal

    def _note(self, principal: Principal | None, method: str | None, action: str) -> None:
        if self._refusals is not None:
            actor, role = (principal.subject, principal.role) if principal else (None, None)
            self._refusals.note(actor, role, method, action)

    def _authenticate(self, context: grpc.ServicerContext) -> Principal:
        authorization = [
            value for key, value in (context.invocation_metadata() or ()) if key == "authorization"
        ]
        if len(authorization) > 1:
            raise Unauthenticated("認証情報が複数あります")
        if authorization:
            value = authorization[0]
            text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
            match = _BEARER.fullmatch(text.strip())
            if match is None:
                raise Unauthenticated("認証情報の形式が正しくありません")
            principal = self._verifier.verify(match[1])
            _check_connection(principal, context)
            return principal
        identity = peer_identity(context)
        if (
            identity is not None
            and _SERVICE_NAME.fullmatch(identity)
            and not identity.startswith(CLIENT_PREFIX)
        ):
            return service_principal(identity)
        raise Unauthenticated(MESSAGE_NO_CREDENTIALS)


def _check_connection(principal: Principal, context: grpc.ServicerContext) -> None:
    """Refuse a token presented over a certificate it does not belong to."""
    if principal.kind == "service":
        identity = peer_identity(context)
        if identity is not None and identity != principal.subject:
            raise Unauthenticated(MESSAGE_WRONG_CERTIFICATE)
        return
    if (
        principal.certificate is not None
        and peer_certificate_thumbprint(context) != principal.certificate
    ):
        raise Unauthenticated(MESSAGE_WRONG_CERTIFICATE)


def _check_entry(method: str, entries: frozenset[str]) -> None:
    if not _METHOD.fullmatch(method):
        raise ValueError(f"not a full gRPC method name: {method!r}")
    if not entries:
        raise ValueError(f"{method}: no role may call it; leave it out of the table instead")
    if PUBLIC in entries and len(entries) > 1:
        raise ValueError(f"{method}: a public method lists no roles")
    for entry in entries:
        if entry == PUBLIC or entry in ROLES:
            continue
        if entry.startswith(SERVICE_PREFIX) and _SERVICE_NAME.fullmatch(
            entry.removeprefix(SERVICE_PREFIX)
        ):
            continue
        raise ValueError(f"{method}: unknown role {entry!r}")


def _abort(context: grpc.ServicerContext, error: PlatformError) -> NoReturn:
    context.abort_with_status(to_grpc_status(error))


def _refusing(
    handler: grpc.RpcMethodHandler[Any, Any] | None,
    error: PlatformError,
    noted: Callable[[], None] = lambda: None,
) -> grpc.RpcMethodHandler[Any, Any]:
    """A handler of the same shape as `handler` that refuses every call."""

    def refuse(_request: Any, context: grpc.ServicerContext) -> NoReturn:
        noted()
        _abort(context, error)

    if handler is None:
        return grpc.unary_unary_rpc_method_handler(refuse)
    return rebuilt(handler, refuse)


def _guarded(
    handler: grpc.RpcMethodHandler[Any, Any],
    admit: Callable[[grpc.ServicerContext], Principal],
) -> grpc.RpcMethodHandler[Any, Any]:
    """Wrap the handler so it runs only when admitted, with the principal in its context."""
    behavior = _behavior(handler)

    def enter(context: grpc.ServicerContext) -> contextvars.Context:
        try:
            principal = admit(context)
        except PlatformError as error:
            _abort(context, error)
        scope = contextvars.copy_context()
        scope.run(_current.set, principal)
        return scope

    if handler.response_streaming:

        def streaming(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            scope = enter(context)
            responses = scope.run(behavior, request, context)
            while True:
                try:
                    yield scope.run(next, responses)
                except StopIteration:
                    return

        return rebuilt(handler, streaming)

    def single(request: Any, context: grpc.ServicerContext) -> Any:
        scope = enter(context)
        return scope.run(behavior, request, context)

    return rebuilt(handler, single)


def _behavior(handler: grpc.RpcMethodHandler[Any, Any]) -> Callable[..., Any]:
    behavior = (
        handler.unary_unary or handler.unary_stream or handler.stream_unary or handler.stream_stream
    )
    if behavior is None:
        raise ValueError("gRPC method handler without behaviour")
    return behavior
