"""Domain errors: an unknown id is named in a message only when short and well formed."""

from __future__ import annotations

import pytest

from subsidy_platform.errors import NotFound, safe_identifier, to_grpc_status


def test_a_short_well_formed_id_is_named() -> None:
    error = NotFound("申請", "S2025-000001")
    assert str(error) == "申請 が見つかりません: S2025-000001"
    assert error.identifier == "S2025-000001"


@pytest.mark.parametrize(
    "identifier",
    ["S" * 33, "S" * (1024 * 1024), "S2025\x00", "新宿 太郎", "S2025-٠٠٠٠٠١", "a b", ""],
)
def test_a_long_or_odd_id_is_never_carried_into_the_message(identifier: str) -> None:
    error = NotFound("申請", identifier)
    assert str(error) == "申請 が見つかりません"
    assert error.identifier == ""
    assert to_grpc_status(error).details == "申請 が見つかりません"
    assert safe_identifier(identifier) == ""
