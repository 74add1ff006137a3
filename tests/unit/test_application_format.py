"""The interchange format v1: the parser and the JSON Schema agree, errors name the field."""

from __future__ import annotations

import json
from datetime import date
from importlib import resources
from typing import Any

import jsonschema
import pytest

from subsidy_rules.application import (
    MAX_APPLICATION_YEN,
    MAX_PURCHASE_YEN,
    MAX_PURCHASES,
    FormatError,
    parse_application,
)
from subsidy_rules.dedupe import duplicate_keys
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
    # hardening: limits, control characters, digits of other scripts, amounts
    ("application_id", "S" * 65, "application_id"),
    ("logo_answer_id", "1" * 65, "logo_answer_id"),
    ("logo_answer_id", "١٠٠٠٠٠٠٠٠١", "logo_answer_id"),
    ("applicant.name", "新" * 101, "applicant.name"),
    ("applicant.name", "新宿\x00太郎", "applicant.name"),
    ("applicant.name", "新宿\n太郎", "applicant.name"),
    ("applicant.name_kana", "シ" * 101, "applicant.name_kana"),
    ("applicant.address", "西" * 201, "applicant.address"),
    ("applicant.address", "西新宿\x00二丁目", "applicant.address"),
    ("applicant.email", "a" * 244 + "@example.jp", "applicant.email"),
    ("applicant.phone", "٠٣-١٢٣٤-٥٦٧٨", "applicant.phone"),
    ("applicant.phone", "0" * 25, "applicant.phone"),
    ("applicant.postal_code", "١٦٠-٠٠٢٣", "applicant.postal_code"),
    ("applicant.birth_date", "١٩٨٠-٠١-٠٢", "applicant.birth_date"),
    ("received_on", "२०२५-०६-१०", "received_on"),
    ("household.head_name", "新" * 101, "household.head_name"),
    ("household.relationship", "本" * 51, "household.relationship"),
    ("purchases[0].description", "製" * 201, "purchases[0].description"),
    ("purchases[0].amount", 10_000_001, "purchases[0].amount"),
    ("purchases[0].amount", 10**21, "purchases[0].amount"),
    ("purchases[0].points_used", 10**21, "purchases[0].points_used"),
    ("bank_account.number", "١٢٣٤٥٦٧", "bank_account.number"),
    ("bank_account.number", "१२३४५६७", "bank_account.number"),
    ("bank_account.bank_code", "٠٠٠١", "bank_account.bank_code"),
    ("bank_account.branch_code", "३३३", "bank_account.branch_code"),
    ("bank_account.holder_kana", "シ" * 101, "bank_account.holder_kana"),
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
    readable = broken.get("application_id")
    if isinstance(readable, str) and len(readable) > 64:
        readable = None  # too long to carry into an error
    assert caught.value.application_id == readable
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA, format_checker=jsonschema.FormatChecker())


def test_points_used_above_the_amount_is_refused(record: dict[str, Any]) -> None:
    record["purchases"][0]["points_used"] = 40000
    with pytest.raises(FormatError, match="points_used"):
        parse_application(record)


def test_a_record_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(FormatError):
        parse_application(["S2025-000001"])


# hardening: limits before any work, never echoing the value -----------------------------


def test_a_megabyte_name_is_refused_naming_the_field_not_the_value(
    record: dict[str, Any],
) -> None:
    record["applicant"]["name"] = "山" * (1024 * 1024)
    with pytest.raises(FormatError) as caught:
        parse_application(record)
    assert caught.value.field == "applicant.name"
    assert "100" in caught.value.message and "山山" not in str(caught.value)


def test_more_than_twenty_purchases_are_refused(record: dict[str, Any]) -> None:
    record["purchases"] = record["purchases"] * (MAX_PURCHASES + 1)
    with pytest.raises(FormatError) as caught:
        parse_application(record)
    assert caught.value.field == "purchases"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(record, SCHEMA)


def test_purchases_above_the_application_maximum_together_are_refused(
    record: dict[str, Any],
) -> None:
    line = {**record["purchases"][0], "amount": MAX_PURCHASE_YEN}
    record["purchases"] = [dict(line) for _ in range(MAX_APPLICATION_YEN // MAX_PURCHASE_YEN)]
    assert parse_application(record).purchases[0].amount == MAX_PURCHASE_YEN  # at the maximum
    record["purchases"].append({**line, "amount": 1})
    with pytest.raises(FormatError) as caught:
        parse_application(record)
    assert caught.value.field == "purchases" and "100,000,000" in caught.value.message


def test_full_width_digits_of_codes_are_folded_to_ascii(record: dict[str, Any]) -> None:
    ascii_keys = duplicate_keys(parse_application(record)).keys
    record["bank_account"].update(
        bank_code="０００１", branch_code="００１", number="１２３４５６７"
    )
    record["logo_answer_id"] = "１０００００００01"
    app = parse_application(record)
    assert app.bank_account is not None
    assert (app.bank_account.bank_code, app.bank_account.branch_code) == ("0001", "001")
    assert (app.bank_account.number, app.logo_answer_id) == ("1234567", "1000000001")
    assert duplicate_keys(app).keys == ascii_keys  # the same account, the same answer
    jsonschema.validate(record, SCHEMA)


def test_an_unknown_long_key_is_not_repeated(record: dict[str, Any]) -> None:
    record["applicant"]["x" * 5000] = 1
    with pytest.raises(FormatError) as caught:
        parse_application(record)
    assert caught.value.field == "applicant.(key)"


def test_a_long_application_id_is_not_carried_into_the_error(record: dict[str, Any]) -> None:
    record["application_id"] = "S" * 5000
    with pytest.raises(FormatError) as caught:
        parse_application(record)
    assert caught.value.application_id is None


def test_a_version_of_true_is_not_version_one(record: dict[str, Any]) -> None:
    record["version"] = True
    with pytest.raises(FormatError, match="version"):
        parse_application(record)


def test_tabs_and_line_breaks_are_allowed_only_where_text_spans_lines(
    record: dict[str, Any],
) -> None:
    record["applicant"]["address"] = "東京都新宿区\n西新宿二丁目8番1号"
    record["purchases"][0]["description"] = "防犯カメラ\t2台\r\n取付工事込み"
    app = parse_application(record)
    assert app.purchases[0].description is not None
    jsonschema.validate(record, SCHEMA)
