"""The interchange format v1: the parser and the JSON Schema agree, errors name the field."""

from __future__ import annotations

import json
from datetime import date
from importlib import resources
from typing import Any

import jsonschema
import pytest

from subsidy_rules.application import FormatError, parse_application
from subsidy_rules.items import Item

SCHEMA = json.loads(
    resources.files("subsidy_rules").joinpath("schema/application.v1.json").read_text()
)


def test_a_complete_record_parses_into_typed_fields(record: dict[str, Any]) -> None:
    app = parse_application(record)
    assert app.application_id == "S2025-000001"
    assert app.received_on == date(2025, 6, 10)
    assert app.applicant.birth_date == date(1980, 1, 2)
    assert app.purchases[0].item is Item.SECURITY_CAMERA
    assert app.purchases[0].amount == 32000
    assert app.bank_account is not None and app.bank_account.number == "1234567"
    assert app.pledges.consent_to_checks is True


def test_the_schema_accepts_what_the_parser_accepts(record: dict[str, Any]) -> None:
    jsonschema.validate(record, SCHEMA)


def test_optional_parts_may_be_left_out(record: dict[str, Any]) -> None:
    for key in ("logo_answer_id", "household", "bank_account"):
        del record[key]
    del record["applicant"]["email"]
    del record["pledges"]["no_tax_arrears"]
    app = parse_application(record)
    assert app.bank_account is None and app.logo_answer_id is None
    assert app.pledges.no_tax_arrears is None
    jsonschema.validate(record, SCHEMA)


def _break(record: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    target: Any = record
    parts = path.replace("[", ".").replace("]", "").split(".")
    for part in parts[:-1]:
        target = target[int(part)] if part.isdigit() else target[part]
    last = parts[-1]
    if value is _DELETE:
        del target[last]
    else:
        target[int(last) if last.isdigit() else last] = value
    return record


class _Delete:
    def __repr__(self) -> str:
        return "<deleted>"


_DELETE = _Delete()

MALFORMED = [
    ("received_on", "2025/06/10", "received_on"),
    ("received_on", "2025-02-30", "received_on"),
    ("received_on", 20250610, "received_on"),
    ("channel", "fax", "channel"),
    ("application_id", "", "application_id"),
    ("application_id", _DELETE, "application_id"),
    ("resident_registered", "yes", "resident_registered"),
    ("applicant.birth_date", "1980-13-01", "applicant.birth_date"),
    ("applicant.name", _DELETE, "applicant.name"),
    ("applicant.postal_code", "16-00023", "applicant.postal_code"),
    ("applicant.nickname", "タロ", "applicant.nickname"),
    ("purchases", {"item": "security_camera"}, "purchases"),
    ("purchases[0].amount", -1, "purchases[0].amount"),
    ("purchases[0].amount", 1200.5, "purchases[0].amount"),
    ("purchases[0].amount", True, "purchases[0].amount"),
    ("purchases[0].amount", "32000", "purchases[0].amount"),
    ("purchases[0].item", "laser_fence", "purchases[0].item"),
    ("purchases[0].kind", "rental", "purchases[0].kind"),
    ("purchases[0].purchased_on", _DELETE, "purchases[0].purchased_on"),
    ("bank_account.bank_code", "1", "bank_account.bank_code"),
    ("bank_account.number", "12345678", "bank_account.number"),
    ("bank_account.type", "普通", "bank_account.type"),
    ("pledges.not_antisocial", "true", "pledges.not_antisocial"),
    ("pledges", _DELETE, "pledges"),
    ("unexpected", 1, "unexpected"),
]


@pytest.mark.parametrize(
    ("path", "value", "field"), MALFORMED, ids=[f"{m[0]}={m[1]!r}" for m in MALFORMED]
)
def test_a_malformed_record_names_the_field(
    record: dict[str, Any], path: str, value: Any, field: str
) -> None:
    broken = _break(record, path, value)
    with pytest.raises(FormatError) as caught:
        parse_application(broken)
    assert caught.value.field == field
    assert caught.value.message
    assert caught.value.application_id == broken.get("application_id")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA, format_checker=jsonschema.FormatChecker())


def test_points_used_above_the_amount_is_refused(record: dict[str, Any]) -> None:
    record["purchases"][0]["points_used"] = 40000
    with pytest.raises(FormatError, match="points_used"):
        parse_application(record)


def test_a_record_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(FormatError):
        parse_application(["S2025-000001"])
