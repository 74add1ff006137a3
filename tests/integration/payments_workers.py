"""Builders and approvers run in other processes by the never-twice tests (spawned by
multiprocessing, so only plain arguments cross: addresses, the PKI folder, tokens)."""

from __future__ import annotations

import uuid
from pathlib import Path

import grpc
from subsidy.payments.v1 import payments_pb2, payments_pb2_grpc

from subsidy_platform.staff_client import CONSOLE
from subsidy_platform.tls import Pki, channel_credentials

Metadata = tuple[tuple[str, str], ...]


def build_until_empty(
    address: str, pki: str, token: Metadata, program: str, day: str, size: int
) -> list[int]:
    """Build batches of `size` until the pool is empty; the batch ids built."""
    built: list[int] = []
    credentials = channel_credentials(Pki(Path(pki)), CONSOLE)
    with grpc.secure_channel(address, credentials) as channel:
        stub = payments_pb2_grpc.PaymentsServiceStub(channel)
        for _ in range(200):
            try:
                batch = stub.BuildBatch(
                    payments_pb2.BuildBatchRequest(
                        request_id=uuid.uuid4().hex,
                        program_id=program,
                        transfer_date=day,
                        max_instructions=size,
                    ),
                    metadata=token,
                    timeout=120,
                )
            except grpc.RpcError as error:
                if error.code() == grpc.StatusCode.FAILED_PRECONDITION:
                    return built  # nothing left in the pool
                raise
            built.append(int(batch.batch_id))
    return built


def release_all(
    address: str, pki: str, token: Metadata, batches: list[tuple[int, str]], request_ids: list[str]
) -> list[tuple[int, bytes]]:
    """Release each batch under each of `request_ids` (retries); the files that came back."""
    out: list[tuple[int, bytes]] = []
    credentials = channel_credentials(Pki(Path(pki)), CONSOLE)
    with grpc.secure_channel(address, credentials) as channel:
        stub = payments_pb2_grpc.PaymentsServiceStub(channel)
        for batch_id, sha256 in batches:
            for request_id in request_ids:
                try:
                    released = stub.ReleaseBatch(
                        payments_pb2.ReleaseBatchRequest(
                            request_id=request_id, batch_id=batch_id, file_sha256=sha256
                        ),
                        metadata=token,
                        timeout=120,
                    )
                except grpc.RpcError as error:
                    if error.code() != grpc.StatusCode.FAILED_PRECONDITION:
                        raise
                    continue
                out.append((batch_id, released.content if not released.replayed else b""))
    return out
