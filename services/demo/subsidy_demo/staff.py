"""How the demo's staff sign in: the platform's sign-in service, a bearer token per login."""

from __future__ import annotations

import grpc
from subsidy.auth.v1 import auth_pb2, auth_pb2_grpc

Metadata = tuple[tuple[str, str], ...]


def signed_in(channel: grpc.Channel, login: str, password: str) -> auth_pb2.SignInResponse:
    response: auth_pb2.SignInResponse = auth_pb2_grpc.AuthServiceStub(channel).SignIn(
        auth_pb2.SignInRequest(login=login, password=password)
    )
    return response


def bearer(channel: grpc.Channel, login: str, password: str) -> Metadata:
    """The call metadata of `login`, signed in now (tokens live 15 minutes)."""
    return (("authorization", f"Bearer {signed_in(channel, login, password).token}"),)
