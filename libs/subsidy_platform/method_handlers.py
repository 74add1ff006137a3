"""A gRPC method handler rebuilt around a new behaviour, for the server interceptors.

An interceptor that wraps a call (access control, message bounds, call limits) replaces the
handler's behaviour and keeps everything else: the same kind (unary or streaming, each way)
and the same response serializer; the request deserializer too, unless it gives its own
(message_bounds checks the raw bytes before parsing them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

_FACTORIES = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}


def rebuilt(
    handler: grpc.RpcMethodHandler[Any, Any],
    behavior: Callable[..., Any],
    deserialize: Callable[[bytes], Any] | None = None,
) -> grpc.RpcMethodHandler[Any, Any]:
    """`handler` of the same kind with `behavior` (and `deserialize`, when given)."""
    factory = _FACTORIES[(handler.request_streaming, handler.response_streaming)]
    return factory(
        behavior,
        request_deserializer=deserialize or handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )
