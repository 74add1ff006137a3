"""Helpers for the intake integration tests: a real intake server over mutual TLS, staff
tokens per role, and valid application protos (synthetic people only)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import grpc
from sqlalchemy import Engine, text
from subsidy.intake.v1 import intake_pb2_grpc
from subsidy_intake.convert import record_to_proto
from subsidy_intake.main import IntakeProcess

from subsidy_platform.access import ROLES
from subsidy_platform.db import make_engine
from subsidy_platform.runtime import Environment
from subsidy_platform.staff_client import TestTokens
from subsidy_platform.tls import channel_credentials, client_identity
from subsidy_platform.tokens import TokenIssuer

PROGRAM = "shinjuku-2025"
Metadata = tuple[tuple[str, str | bytes], ...]

RECORD: dict[str, Any] = {
    "channel": "online",
    "received_on": "2025-06-10",
    "logo_answer_id": "1000000001",
    "applicant": {
        "name": "新宿 試験太郎",
        "name_kana": "シンジュク シケンタロウ",
        "birth_date": "1980-01-02",
        "phone": "03-1234-5678",
        "email": "shiken-taro@example.jp",
        "postal_code": "160-0023",
        "address": "東京都新宿区西新宿二丁目8番1号 テストハイツ101号室",
    },
    "household": {"head_name": "新宿 試験太郎", "relationship": "本人"},
    "resident_registered": True,
    "purchases": [
        {
            "item": "security_camera",
            "kind": "purchase",
            "amount": 32000,
            "purchased_on": "2025-05-01",
        }
    ],
    "bank_account": {
        "bank_code": "0001",
        "branch_code": "001",
        "type": "ordinary",
        "number": "7162534",
        "holder_kana": "シンジユク シケンタロウ",
    },
    "pledges": {"not_antisocial": True, "no_tax_arrears": True, "consent_to_checks": True},
}


def record(**changes: Any) -> dict[str, Any]:
    """A copy of RECORD with nested changes given as 'applicant.name'=... keywords."""
    out = copy.deepcopy(RECORD)
    for path, value in changes.items():
        target = out
        *parents, last = path.split(".")
        for part in parents:
            target = target[part]
        target[last] = value
    return out


def proto(**changes: Any) -> Any:
    return record_to_proto(record(**changes))


@dataclass
class Client:
    """A connected staff or service client of one intake server."""

    environment: Environment
    process: IntakeProcess
    tokens: TestTokens

    @property
    def issuer(self) -> TokenIssuer:
        return self.tokens.issuer

    def staff(self, role: str, login: str | None = None) -> Metadata:
        """A token of a staff account of `role` (the account is made when missing)."""
        assert role in ROLES
        return self.tokens.staff(role, login)

    @contextmanager
    def channel(self, identity: str = client_identity("console")) -> Iterator[grpc.Channel]:
        credentials = channel_credentials(self.environment.pki, identity)
        with grpc.secure_channel(f"localhost:{self.process.port}", credentials) as channel:
            yield channel

    @contextmanager
    def stub(
        self, identity: str = client_identity("console")
    ) -> Iterator[intake_pb2_grpc.IntakeServiceStub]:
        with self.channel(identity) as channel:
            yield intake_pb2_grpc.IntakeServiceStub(channel)


def make_client(environment: Environment, process: IntakeProcess) -> Client:
    accounts = make_engine(environment.infrastructure.database_url)
    return Client(environment, process, TestTokens.of(environment.settings.state_dir, accounts))


def count(engine: Engine, sql: str, **params: Any) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(sql), params).scalar_one())


# Everything an intake RPC called by staff (or by a test as review) could write.
# Refused calls are audited in batches a few seconds later (subsidy_platform.refusals).
NOT_REFUSALS = " AND action NOT IN ('call_refused', 'call_unauthenticated')"
WRITES = (
    "SELECT count(*) FROM intake.applications",
    "SELECT count(*) FROM intake.blind_indexes",
    "SELECT count(*) FROM intake.duplicate_flags",
    "SELECT count(*) FROM intake.inquiries",
    "SELECT count(*) FROM intake.paper_keyings",
    "SELECT count(*) FROM intake.corrections",
    "SELECT count(*) FROM intake.imports",
    "SELECT count(*) FROM intake.outbox",
    # other services' reports (review, notices, payments) may arrive at any time from their
    # outboxes: only what intake itself recorded (service 'intake') is counted
    "SELECT count(*) FROM intake.status_events WHERE service = 'intake' "
    "AND coalesce(request_id, '') NOT LIKE 'review-%'",
    # other services' reads through intake are audited under their service identity
    "SELECT count(*) FROM audit.events WHERE service = 'intake' AND role <> 'service' "
    "AND actor NOT LIKE 'service:%'"
    # refused calls are audited in batches, flushed every few seconds (refusals)
    f"{NOT_REFUSALS}",
)


def writes(engine: Engine) -> tuple[int, ...]:
    """Row counts of everything an intake RPC could write (equal before and after: nothing)."""
    with engine.connect() as connection:
        return tuple(int(connection.execute(text(sql)).scalar_one()) for sql in WRITES)
