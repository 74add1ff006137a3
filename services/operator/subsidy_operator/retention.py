"""The retention purges, run by the operator on every live program (no person has to).

Print data (notices: the merged PDFs and the addressees, kept `NOTICES_RETENTION_DAYS`
after mailing) and transfer files (payments: the encrypted 全銀 files, kept
`PAYMENTS_FILE_RETENTION_DAYS` after the bank's confirmation) must go once their retention
has passed. `RetentionPurger.purge(program_id)` asks both services over mutual TLS under the
operator's certificate (`service:operator`, admitted by those two RPCs' role tables), and each
service deletes only what is due and audits the call as it audits a person's. A service down
is `DependencyUnavailable` (the timer tries again at its next run).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from subsidy.notices.v1 import notices_pb2, notices_pb2_grpc
from subsidy.payments.v1 import payments_pb2, payments_pb2_grpc

from subsidy_platform.errors import DependencyUnavailable
from subsidy_platform.maintenance import OPERATOR_IDENTITY
from subsidy_platform.tls import Pki, channel_credentials

DEADLINE = 120.0


@dataclass(frozen=True)
class RetentionResult:
    print_files_deleted: int
    addressees_deleted: int
    transfer_files_deleted: int

    @property
    def anything(self) -> bool:
        return bool(
            self.print_files_deleted + self.addressees_deleted + self.transfer_files_deleted
        )

    def as_status(self) -> dict[str, int]:
        return {
            "printFilesDeleted": self.print_files_deleted,
            "addresseesDeleted": self.addressees_deleted,
            "transferFilesDeleted": self.transfer_files_deleted,
        }


class RetentionPurger:
    """The two retention purges of one program, as the operator."""

    def __init__(self, pki: Pki, addresses: Mapping[str, str]) -> None:
        self._pki = pki
        self._addresses = dict(addresses)

    def purge(self, program_id: str) -> RetentionResult:
        printed = self._call(
            "notices",
            lambda channel: notices_pb2_grpc.NoticesServiceStub(channel).PurgeExpiredPrintData(
                notices_pb2.PurgeExpiredPrintDataRequest(program_id=program_id),
                timeout=DEADLINE,
                wait_for_ready=True,
            ),
        )
        transferred = self._call(
            "payments",
            lambda channel: payments_pb2_grpc.PaymentsServiceStub(channel).PurgeFiles(
                payments_pb2.PurgeFilesRequest(program_id=program_id),
                timeout=DEADLINE,
                wait_for_ready=True,
            ),
        )
        return RetentionResult(
            int(printed.print_files_deleted),
            int(printed.addressees_deleted),
            int(transferred.deleted),
        )

    def _call(self, service: str, call: Callable[[grpc.Channel], Any]) -> Any:
        credentials = channel_credentials(self._pki, OPERATOR_IDENTITY)
        with grpc.secure_channel(self._addresses[service], credentials) as channel:
            try:
                return call(channel)
            except grpc.RpcError as error:
                code = error.code() if isinstance(error, grpc.Call) else None
                if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    raise DependencyUnavailable(f"{service} に接続できません") from error
                raise
