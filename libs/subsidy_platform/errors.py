"""Domain errors and their gRPC status (DESIGN.md principle 9, google.rpc error model).

Bad input is `InvalidArgument` with one `FieldViolation` per field (sent as a
`google.rpc.BadRequest` detail, descriptions in Japanese for staff); an unknown id is
`NotFound`; a missing permission `PermissionDenied`; no or bad credentials
`Unauthenticated`; too many calls in flight `ResourceExhausted`; a request stream that went
quiet `StreamIdle` (DEADLINE_EXCEEDED); PostgreSQL or Vault down `DependencyUnavailable`
(UNAVAILABLE, which clients may retry); a Vault policy refusal `AccessDenied`
(PERMISSION_DENIED: a service asked for a key its policy does not grant). Messages never
carry personal data.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2


class PlatformError(Exception):
    """Base of the errors a servicer turns into a gRPC status."""

    code = grpc.StatusCode.INTERNAL


class DependencyUnavailable(PlatformError):
    """PostgreSQL or Vault is down, unreachable or sealed; nothing was written."""

    code = grpc.StatusCode.UNAVAILABLE


class AccessDenied(PlatformError):
    """Vault refused the operation under this service's policy."""

    code = grpc.StatusCode.PERMISSION_DENIED


class PermissionDenied(PlatformError):
    """The caller's role may not call this RPC or see this data."""

    code = grpc.StatusCode.PERMISSION_DENIED


class Unauthenticated(PlatformError):
    """No credentials, or credentials that are malformed, forged or expired."""

    code = grpc.StatusCode.UNAUTHENTICATED


MAX_SHOWN_ID = 32
_SAFE_ID = re.compile(rf"[A-Za-z0-9_.:\-]{{1,{MAX_SHOWN_ID}}}")


def safe_identifier(value: str) -> str:
    """The identifier as a message may repeat it: itself when it is a well-formed id of at
    most 32 characters (`[A-Za-z0-9_.:-]`), empty otherwise (never a caller's long or odd
    value: it may be personal data, or a megabyte)."""
    return value if _SAFE_ID.fullmatch(value) else ""


class NotFound(PlatformError):
    """An id that does not exist (or that the caller may not know exists).

    The message names the id only when it is short and well formed (`safe_identifier`):
    an unknown value a caller sent travels no further than that.
    """

    code = grpc.StatusCode.NOT_FOUND

    def __init__(self, what: str, identifier: str) -> None:
        shown = safe_identifier(identifier)
        super().__init__(
            f"{what} が見つかりません: {shown}" if shown else f"{what} が見つかりません"
        )
        self.what = what
        self.identifier = shown


class ResourceExhausted(PlatformError):
    """The caller (or the process) has as many calls in flight as it may; retry later."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class StreamIdle(PlatformError):
    """A request stream sent no message for longer than the server waits; it was closed."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


class Conflict(PlatformError):
    """The request contradicts the current state (e.g. a request id reused for other data)."""

    code = grpc.StatusCode.FAILED_PRECONDITION


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One bad field: its path (`applicant.birth_date`, `line 12: 生年月日`) and the problem."""

    field: str
    description: str


class InvalidArgument(PlatformError):
    """Bad input; carries every field violation found."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(
        self, violations: Sequence[FieldViolation], message: str = "入力内容に誤りがあります"
    ) -> None:
        super().__init__(message)
        self.violations = tuple(violations)


_CODES = {
    grpc.StatusCode.INVALID_ARGUMENT: code_pb2.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND: code_pb2.NOT_FOUND,
    grpc.StatusCode.PERMISSION_DENIED: code_pb2.PERMISSION_DENIED,
    grpc.StatusCode.UNAUTHENTICATED: code_pb2.UNAUTHENTICATED,
    grpc.StatusCode.UNAVAILABLE: code_pb2.UNAVAILABLE,
    grpc.StatusCode.FAILED_PRECONDITION: code_pb2.FAILED_PRECONDITION,
    grpc.StatusCode.RESOURCE_EXHAUSTED: code_pb2.RESOURCE_EXHAUSTED,
    grpc.StatusCode.DEADLINE_EXCEEDED: code_pb2.DEADLINE_EXCEEDED,
    grpc.StatusCode.INTERNAL: code_pb2.INTERNAL,
}


@dataclass(frozen=True)
class _Status(grpc.Status):
    code: grpc.StatusCode
    details: str
    trailing_metadata: tuple[tuple[str, bytes], ...]


def to_grpc_status(error: PlatformError) -> grpc.Status:
    """The rich gRPC status for an error (BadRequest details for invalid arguments)."""
    message = str(error) or error.__class__.__name__
    status = status_pb2.Status(code=_CODES[error.code], message=message)
    if isinstance(error, InvalidArgument):
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=v.field, description=v.description
                )
                for v in error.violations
            ]
        )
        detail = any_pb2.Any()
        detail.Pack(bad_request)
        status.details.append(detail)
    return _Status(error.code, message, (("grpc-status-details-bin", status.SerializeToString()),))


def field_violations(error: grpc.RpcError) -> list[FieldViolation]:
    """Client side: the field violations carried by a failed call (empty when none)."""
    trailing: tuple[tuple[str, str | bytes], ...] = (
        tuple(error.trailing_metadata() or ()) if isinstance(error, grpc.Call) else ()
    )
    raw: str | bytes | None = None
    for item in trailing:
        if item[0] == "grpc-status-details-bin":
            raw = item[1]
    if isinstance(raw, str):
        raw = raw.encode("latin-1")
    if not raw:
        return []
    status = status_pb2.Status.FromString(raw)
    out: list[FieldViolation] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            out.extend(FieldViolation(v.field, v.description) for v in bad.field_violations)
    return out
