"""Staff-facing clients: sign in at the platform's sign-in service, then call any service.

Every staff tool (the command lines, the demo, the tests) connects the same way: mutual TLS
with a staff client certificate of the private CA (`client-console`), a sign-in at
AuthService (`AUTH_ADDRESS`, default 127.0.0.1:50050) that returns a short-lived token, and
`authorization: Bearer <token>` metadata on every call to a service.

`StaffSession` keeps one channel per address. `TestTokens` issues tokens directly with the
platform's signing key, for tests that need a caller of every role without accounts.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import grpc
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from subsidy.auth.v1 import auth_pb2, auth_pb2_grpc

from subsidy_platform.access import ROLES
from subsidy_platform.tls import Pki, channel_credentials, client_identity
from subsidy_platform.tokens import TokenIssuer, load_private_key
from subsidy_platform.users import create_user

S = TypeVar("S")
Metadata = tuple[tuple[str, str], ...]
CONSOLE = client_identity("console")


def bearer(token: str) -> Metadata:
    return (("authorization", f"Bearer {token}"),)


@dataclass
class StaffSession:
    """Channels to services under a staff client certificate, and the staff token."""

    pki: Pki
    identity: str = CONSOLE
    metadata: Metadata = ()
    role: str = ""
    _channels: dict[str, grpc.Channel] = field(default_factory=dict)

    def channel(self, address: str) -> grpc.Channel:
        channel = self._channels.get(address)
        if channel is None:
            credentials = channel_credentials(self.pki, self.identity)
            channel = self._channels[address] = grpc.secure_channel(address, credentials)
        return channel

    def stub(self, address: str, stub_type: Callable[[grpc.Channel], S]) -> S:
        return stub_type(self.channel(address))

    def sign_in(self, auth_address: str, login: str, password: str) -> auth_pb2.SignInResponse:
        """Sign in; the token is sent with every later call of this session."""
        response: auth_pb2.SignInResponse = auth_pb2_grpc.AuthServiceStub(
            self.channel(auth_address)
        ).SignIn(auth_pb2.SignInRequest(login=login, password=password), timeout=30)
        self.metadata = bearer(response.token)
        self.role = response.role
        return response

    def close(self) -> None:
        for channel in self._channels.values():
            channel.close()
        self._channels.clear()


@dataclass
class TestTokens:
    """Tokens for any role signed with the platform's key (tests and simulations only).

    Services refuse a staff token whose account does not exist, is disabled or locked, or
    has another role (subsidy_platform.accounts). With `accounts` (an administrator's
    engine), each login a token names is made an account of that role first (with a random
    password nobody knows), so that the token is the one a real sign-in would give.
    """

    issuer: TokenIssuer
    accounts: Engine | None = None
    _made: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def of(cls, state_dir: Path, accounts: Engine | None = None) -> TestTokens:
        return cls(TokenIssuer(load_private_key(state_dir)), accounts)

    def staff(self, role: str, login: str | None = None) -> Metadata:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        name = login or f"test-{role}"
        if self.accounts is not None:
            self._ensure_account(name, role)
        return bearer(self.issuer.issue(name, role))

    def _ensure_account(self, login: str, role: str) -> None:
        with self._lock:
            if self._made.get(login) == role:
                return
            assert self.accounts is not None
            with Session(self.accounts) as session:
                current = session.execute(
                    text("SELECT role FROM auth.users WHERE login = :l"), {"l": login}
                ).scalar_one_or_none()
                if current is None:
                    create_user(session, login, role, secrets.token_urlsafe(24))
                elif current != role:
                    session.execute(
                        text("UPDATE auth.users SET role = :r WHERE login = :l"),
                        {"r": role, "l": login},
                    )
                session.commit()
            self._made[login] = role


@contextmanager
def staff_channel(pki: Pki, address: str, identity: str = CONSOLE) -> Iterator[grpc.Channel]:
    """One mutual-TLS channel under a staff (or any) client certificate."""
    with grpc.secure_channel(address, channel_credentials(pki, identity)) as channel:
        yield channel
