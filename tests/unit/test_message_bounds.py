"""The message bounds (subsidy_platform.message_bounds): every RPC of every service has
bounds, the declared overrides name real fields, and the walk and the wire scan name the
field beyond its limit without its value."""

from __future__ import annotations

import importlib

import pytest
from subsidy.common.v1 import common_pb2
from subsidy.intake.v1 import intake_pb2
from subsidy.maintenance.v1 import maintenance_pb2

from subsidy_platform import auth_main
from subsidy_platform.declaration import declarations
from subsidy_platform.maintenance import MAINTENANCE_BOUNDS, MAINTENANCE_TABLE
from subsidy_platform.message_bounds import (
    DEFAULT,
    GRPC_DEFAULT_RECEIVE,
    MIB,
    FieldBound,
    MessageBounds,
    bounds_of,
    check_table,
    largest_field,
    max_receive_bytes,
    request_type,
    violations,
)

GENERATED = (
    "subsidy.intake.v1.intake_pb2",
    "subsidy.review.v1.review_pb2",
    "subsidy.payments.v1.payments_pb2",
    "subsidy.notices.v1.notices_pb2",
    "subsidy.auth.v1.auth_pb2",
    "subsidy.auth.v1.admin_pb2",
    "subsidy.audit.v1.audit_pb2",
    "subsidy.maintenance.v1.maintenance_pb2",
)
for _module in GENERATED:
    importlib.import_module(_module)


def processes() -> dict[str, tuple[dict[str, frozenset[str]], dict[str, MessageBounds]]]:
    """Each process's (role table, bounds table), as the process skeleton builds them."""
    found = {
        name: (
            {**d.rpc_roles, **MAINTENANCE_TABLE},
            {**d.message_bounds, **MAINTENANCE_BOUNDS},
        )
        for name, d in declarations().items()
    }
    found["auth"] = (dict(auth_main.TABLE), dict(auth_main.BOUNDS))
    return found


def test_every_rpc_of_every_service_has_finite_bounds_within_its_process_receive_limit() -> None:
    for name, (roles, bounds) in processes().items():
        check_table(bounds)  # every override names a bounded field of its request
        receive = max_receive_bytes(bounds)
        for method in roles:
            assert request_type(method) is not None, method
            limits = bounds_of(bounds, method)
            assert 0 < limits.max_bytes <= receive, (name, method)
            assert max(limits.string, limits.binary, limits.items, limits.entries) < 1 << 30


def test_a_process_receives_no_more_than_its_largest_bound_needs() -> None:
    receive = {name: max_receive_bytes(bounds) for name, (_, bounds) in processes().items()}
    assert receive["auth"] == GRPC_DEFAULT_RECEIVE
    assert receive["notices"] == GRPC_DEFAULT_RECEIVE
    assert receive["intake"] < 5 * MIB
    assert receive["payments"] < 9 * MIB
    assert 64 * MIB < receive["review"] < 65 * MIB  # the ward's decision file, one message


def test_the_declared_file_bounds_admit_what_the_use_cases_admit() -> None:
    from subsidy_demo.__main__ import CHUNK as DEMO_CHUNK
    from subsidy_intake.cli import CHUNK as CLI_CHUNK
    from subsidy_intake.declaration import MAX_CHUNK
    from subsidy_payments.declaration import MAX_RETURN_FILE
    from subsidy_payments.servicer import MAX_RETURN_BYTES
    from subsidy_review.declaration import MAX_DECISION_FILE
    from subsidy_review.ward import MAX_FILE

    assert max(CLI_CHUNK, DEMO_CHUNK) <= MAX_CHUNK
    assert MAX_DECISION_FILE == MAX_FILE
    assert MAX_RETURN_FILE == MAX_RETURN_BYTES


def test_an_override_must_name_a_bounded_field_of_the_request() -> None:
    method = "/subsidy.intake.v1.IntakeService/ImportLogoCsv"
    check_table({method: MessageBounds(fields={"header.file_name": FieldBound(length=300)})})
    with pytest.raises(ValueError, match="no field"):
        check_table({method: MessageBounds(fields={"chunks": FieldBound(length=1)})})
    with pytest.raises(ValueError, match="not repeated"):
        check_table({method: MessageBounds(fields={"chunk": FieldBound(items=3)})})
    with pytest.raises(ValueError, match="no such RPC"):
        check_table({"/subsidy.intake.v1.IntakeService/Nothing": MessageBounds()})
    with pytest.raises(ValueError, match="longer than the message"):
        check_table(
            {method: MessageBounds(fields={"chunk": FieldBound(length=DEFAULT.max_bytes + 1)})}
        )


def _submit(**fields: object) -> intake_pb2.SubmitApplicationRequest:
    request = intake_pb2.SubmitApplicationRequest(request_id="r-1", program_id="shinjuku-2025")
    request.application.applicant.name = "新宿 太郎"
    for _ in range(3):
        request.application.purchases.add(description="防犯カメラ")
    for path, value in fields.items():
        target: object = request
        *parents, last = path.split(".")
        for part in parents:
            target = getattr(target, part)
        setattr(target, last, value)
    return request


def test_a_valid_request_has_no_violation() -> None:
    assert violations(_submit(), DEFAULT) == []


def test_a_long_string_deep_in_a_list_is_named_with_its_index_and_the_limit_only() -> None:
    request = _submit()
    request.application.purchases[2].description = "秘" * 9000
    found = violations(request, DEFAULT)
    assert [v.field for v in found] == ["application.purchases[2].description"]
    assert "8,192" in found[0].description
    assert "秘" not in found[0].description


def test_too_many_elements_are_refused_before_any_element_is_read() -> None:
    request = intake_pb2.GetPaymentAccountVersionsRequest(program_id="p")
    request.application_numbers.extend(["x" * 9000] * 1001)
    found = violations(request, DEFAULT)
    assert [v.field for v in found] == ["application_numbers"]
    assert "1,000" in found[0].description


def test_an_override_loosens_or_tightens_one_path() -> None:
    request = maintenance_pb2.RequeueParkedRequest(keys=["k"] * 101)
    tight = MessageBounds(fields={"keys": FieldBound(items=100, length=2)})
    assert [v.field for v in violations(request, tight)] == ["keys"]
    request = maintenance_pb2.RequeueParkedRequest(keys=["abc"])
    assert [v.field for v in violations(request, tight)] == ["keys[0]"]
    assert violations(request, DEFAULT) == []


def test_bytes_are_bounded_in_bytes() -> None:
    request = intake_pb2.ImportLogoCsvRequest(chunk=b"\x00" * (64 * 1024 + 1))
    assert [v.field for v in violations(request, DEFAULT)] == ["chunk"]
    assert violations(request, MessageBounds(fields={"chunk": FieldBound(length=MIB)})) == []


def test_the_wire_scan_names_the_field_that_makes_a_message_large() -> None:
    descriptor = intake_pb2.SubmitApplicationRequest.DESCRIPTOR
    request = _submit()
    request.application.purchases[1].description = "x" * MIB
    assert largest_field(request.SerializeToString(), descriptor) == (
        "application.purchases[1].description"
    )
    request = _submit(**{"application.applicant.address": "山" * MIB})
    assert largest_field(request.SerializeToString(), descriptor) == "application.applicant.address"
    listed = intake_pb2.GetPaymentAccountVersionsRequest(application_numbers=["S1"] * 100_000)
    assert (
        largest_field(listed.SerializeToString(), listed.DESCRIPTOR).split("[")[0]
        == "application_numbers"
    )


def test_the_wire_scan_is_bounded_and_survives_garbage() -> None:
    descriptor = common_pb2.ApplicationRecord.DESCRIPTOR
    assert largest_field(b"", descriptor) == ""
    assert largest_field(b"\xff" * 100, descriptor) in ("", "(unknown)")
    many = b"\x08\x01" * 1_000_000  # a million tiny varint fields: only the budget is read
    first = descriptor.fields_by_number[1]
    expected = f"{first.name}[999]" if first.is_repeated else first.name
    assert largest_field(many, descriptor, budget=1000) == expected
    unknown = b"\xfa\x3f\x05abcde"  # field 1023, length-delimited
    assert largest_field(unknown, descriptor) == "(unknown)"
