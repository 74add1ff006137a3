"""The one error mapping every servicer method goes through (DESIGN.md principle 9).

`@rpc` turns the platform's domain errors into rich gRPC statuses (`INVALID_ARGUMENT`
with field violations, `NOT_FOUND`, `PERMISSION_DENIED`, `FAILED_PRECONDITION`,
`UNAVAILABLE`) and any other exception into `INTERNAL` with a fixed message: the
exception's own text, which may hold what the caller sent, never reaches the caller, and
the log names only the method, the exception type and where it was raised. A service with errors of its own
(pure modules that know nothing of the platform) passes `translate` to map them.
"""

from __future__ import annotations

import functools
import logging
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import grpc

from subsidy_platform.errors import PlatformError, to_grpc_status

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
Translate = Callable[[Exception], PlatformError | None]
MESSAGE_INTERNAL = "内部エラーが発生しました"


def rpc_errors(translate: Translate | None = None) -> Callable[[F], F]:
    """A decorator for servicer methods mapping errors to statuses (see module docstring)."""

    def decorate(method: F) -> F:
        @functools.wraps(method)
        def handler(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
            try:
                return method(self, request, context)
            except PlatformError as error:
                context.abort_with_status(to_grpc_status(error))
            except Exception as error:
                mapped = translate(error) if translate is not None else None
                if mapped is not None:
                    context.abort_with_status(to_grpc_status(mapped))
                log.error(
                    "unexpected %s in %s at %s",
                    type(error).__name__,
                    method.__name__,
                    _where(error),
                )
                context.abort(grpc.StatusCode.INTERNAL, MESSAGE_INTERNAL)

        return handler  # type: ignore[return-value]

    return decorate


def _where(error: BaseException) -> str:
    """file:line of the innermost frame: where it failed, without the message's values."""
    frames = traceback.extract_tb(error.__traceback__)
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"


rpc = rpc_errors()
