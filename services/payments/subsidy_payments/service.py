"""What every payments use case shares: dependencies, intake's account read, status
reports, and the program's limits.

A use case is `(payments, caller, command) -> result`. The bank account of a granted
application is read from intake (`GetPaymentAccount`, under payments' service identity):
bank-class ciphertext of the program's key, stored as it comes, never retyped and never
decrypted except to write a transfer file. Intake's answers map to payments' statuses:
intake down or failing is UNAVAILABLE (the outbox retries the event); intake not yet
knowing the grant (its timeline has not seen the decision) is UNAVAILABLE too, so that
the event is retried until intake has it; intake refusing for good is FAILED_PRECONDITION.
The current version of many applications' accounts (`GetPaymentAccountVersions`, no
account data) is asked before a build and a release; intake not answering is UNAVAILABLE.
Statuses reach intake's timeline through the outbox (`payments.status`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

import grpc
from subsidy.common.v1 import common_pb2
from subsidy.intake.v1 import intake_pb2, intake_pb2_grpc

from subsidy_payments.repository import LatestAccount, PaymentsRepository
from subsidy_payments.settings import PaymentSettings
from subsidy_platform.clients import ServiceClients
from subsidy_platform.crypto import DataClass
from subsidy_platform.errors import Conflict, DependencyUnavailable, FieldViolation, InvalidArgument
from subsidy_platform.unit_of_work import UnitOfWork, Work
from subsidy_rules.program import Program

STATUS_TOPIC = "payments.status"
VERSIONS_PAGE = 1000  # intake's limit per GetPaymentAccountVersions
MAX_AMOUNT = 100_000_000  # the largest grant review accepts, the cap of a program without one
INTAKE_RETRY = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.FAILED_PRECONDITION,  # intake has not seen the grant yet
    }
)


class Cipher(Protocol):
    def encrypt(self, data_class: DataClass, values: Sequence[str | None]) -> list[str | None]: ...
    def decrypt(self, data_class: DataClass, values: Sequence[str | None]) -> list[str | None]: ...


@dataclass(frozen=True, slots=True)
class Account:
    bank_code: str
    branch_code: str
    account_type: str
    number_ct: str
    holder_ct: str
    version: int
    index: str = ""  # intake's keyed HMAC of bank, branch and number (never plaintext)

    def latest(self) -> LatestAccount:
        return LatestAccount(
            self.bank_code,
            self.branch_code,
            self.account_type,
            self.number_ct,
            self.holder_ct,
            self.version,
            self.index or None,
        )


@dataclass
class Payments:
    """The payments use cases' dependencies (built once per process by main.py)."""

    uow: UnitOfWork[PaymentsRepository]
    cipher_for: Callable[[str], Cipher]
    programs: Mapping[str, Program]
    clients: ServiceClients
    settings: PaymentSettings

    def program(self, program_id: str, field: str = "program_id") -> Program:
        program = self.programs.get(program_id) if len(program_id) <= 64 else None
        if program is None:
            raise InvalidArgument([FieldViolation(field, "制度IDが登録されていません")])
        return program

    def limits(self, program: Program, on: date) -> tuple[int, int]:
        """(cap, rounding unit) of the program's parameters in force on `on`."""
        try:
            parameters = program.parameters_on(on)
        except (LookupError, ValueError):
            raise Conflict("決定日に有効な制度のパラメータがありません") from None
        cap = parameters.cap if parameters.cap is not None else MAX_AMOUNT
        return cap, parameters.rounding_unit

    def account_versions(self, program_id: str, numbers: Sequence[str]) -> dict[str, int]:
        """The current account version intake holds for each application (no account
        data), read in pages of VERSIONS_PAGE; intake down is UNAVAILABLE."""
        stub = self.clients.stub("intake", intake_pb2_grpc.IntakeServiceStub)
        found: dict[str, int] = {}
        for start in range(0, len(numbers), VERSIONS_PAGE):
            try:
                page: intake_pb2.PaymentAccountVersions = self.clients.call(
                    stub.GetPaymentAccountVersions,
                    intake_pb2.GetPaymentAccountVersionsRequest(
                        program_id=program_id,
                        application_numbers=list(numbers[start : start + VERSIONS_PAGE]),
                    ),
                    idempotent=True,
                )
            except grpc.RpcError as error:
                raise DependencyUnavailable(
                    "受付サービスで口座の版を確認できません。後で再試行してください"
                ) from error
            found.update((v.application_number, int(v.account_version)) for v in page.versions)
        return found

    def account(self, number: str, purpose: str) -> Account:
        """The application's account from intake (ciphertext), or why not (module doc)."""
        stub = self.clients.stub("intake", intake_pb2_grpc.IntakeServiceStub)
        try:
            found: intake_pb2.PaymentAccount = self.clients.call(
                stub.GetPaymentAccount,
                intake_pb2.GetPaymentAccountRequest(application_number=number, purpose=purpose),
                idempotent=True,
            )
        except grpc.RpcError as error:
            code = error.code() if isinstance(error, grpc.Call) else grpc.StatusCode.UNKNOWN
            if code in INTAKE_RETRY:
                raise DependencyUnavailable(
                    "受付サービスから口座を読み出せません。後で再試行されます"
                ) from error
            raise Conflict(f"受付サービスが口座の読み出しを拒否しました（{code.name}）") from error
        return Account(
            found.bank_code,
            found.branch_code,
            found.type,
            found.number_ciphertext,
            found.holder_kana_ciphertext,
            int(found.account_version),
            found.account_index,
        )


def report_status(
    work: Work[PaymentsRepository], program_id: str, number: str, status: str, note: str = ""
) -> None:
    """Publish a timeline status of the application to intake (through the outbox)."""
    key = f"payments-{number}-{status.lower()}-{uuid.uuid4().hex[:12]}"
    work.publish(
        STATUS_TOPIC,
        key,
        intake_pb2.ReportStatusTransitionRequest(
            request_id=key,
            application_number=number,
            status=common_pb2.ApplicationStatus.Value(status),
            note=note[:200],
        ),
        program_id=program_id,
    )
