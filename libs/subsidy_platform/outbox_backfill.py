"""Giving the outbox rows written before `outbox.program_id` existed their program (issue 20).

The rule: an outbox row belongs to the program its event names. Each service's migration that
adds the column (subsidy_platform.outbox.outbox_program_ddl) calls `backfill_outbox_programs`,
which reads every row still without a program, decodes its stored request message (the type
is the input of the row's RPC method, found in the generated protobuf descriptors), and sets

- the message's own `program_id` when it has one (application, decision, correction,
  revocation and bank-account events), else
- the program of the application the message names (`application_number`, a timeline status
  report), looked up in `numbers`: the service's own table of applications (for example
  `review.cases`), which has `application_number` and `program_id` columns.

A row whose message cannot be decoded, or whose application is not found (already purged),
keeps NULL: it names no program whose erasure could miss it. Nothing is logged about the
payloads; the count of rows set is returned.
"""

from __future__ import annotations

import importlib
import re

from google.protobuf import descriptor_pool, message_factory
from google.protobuf.message import DecodeError, Message
from sqlalchemy import Connection, text

from subsidy_platform.outbox import PROGRAM_FIELD

_RELATION = re.compile(r"^[a-z][a-z0-9_]{0,62}\.[a-z][a-z0-9_]{0,62}$")
_PROTO_MODULES = (
    "subsidy.intake.v1.intake_pb2",
    "subsidy.review.v1.review_pb2",
    "subsidy.payments.v1.payments_pb2",
    "subsidy.notices.v1.notices_pb2",
)
NUMBER_FIELD = "application_number"


def request_type(method: str) -> type[Message] | None:
    """The request message class of a gRPC method path (`/package.Service/Method`)."""
    for module in _PROTO_MODULES:
        importlib.import_module(module)  # registers the services in the default pool
    service, _, name = method.lstrip("/").rpartition("/")
    try:
        found = descriptor_pool.Default().FindServiceByName(service).FindMethodByName(name)
    except KeyError:
        return None
    if found is None:
        return None
    return message_factory.GetMessageClass(found.input_type)


def event_reference(method: str, payload: bytes) -> tuple[str | None, str | None]:
    """(program, application number) named by a stored event; None where it names neither."""
    cls = request_type(method)
    if cls is None:
        return None, None
    message = cls()
    try:
        message.ParseFromString(payload)
    except DecodeError:
        return None, None
    fields = message.DESCRIPTOR.fields_by_name
    program = str(getattr(message, PROGRAM_FIELD)) if PROGRAM_FIELD in fields else ""
    number = str(getattr(message, NUMBER_FIELD)) if NUMBER_FIELD in fields else ""
    return program or None, number or None


def backfill_outbox_programs(connection: Connection, schema: str, numbers: str) -> int:
    """Set `program_id` on `schema`'s outbox rows that have none (module docstring)."""
    relation = f"{schema}.outbox"
    if not _RELATION.match(relation) or not _RELATION.match(numbers):
        raise ValueError("schema and numbers must be plain schema.table names")
    rows = connection.execute(
        text(f"SELECT id, method, payload FROM {relation} WHERE program_id IS NULL ORDER BY id")
    ).all()
    updated = 0
    for row_id, method, payload in rows:
        program, number = event_reference(str(method), bytes(payload))
        if program is None and number is not None:
            program = connection.execute(
                text(f"SELECT program_id FROM {numbers} WHERE application_number = :n LIMIT 1"),
                {"n": number},
            ).scalar_one_or_none()
        if program is None:
            continue
        connection.execute(
            text(f"UPDATE {relation} SET program_id = :p WHERE id = :id"),
            {"p": str(program), "id": row_id},
        )
        updated += 1
    return updated
