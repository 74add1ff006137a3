"""Program definitions load strictly: every error names the file and the key, and dated
parameters give the value in force on the received date (subsidy_rules.program)."""

from __future__ import annotations

import copy
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from subsidy_rules.application import parse_application
from subsidy_rules.engine import evaluate
from subsidy_rules.program import ProgramError, load_program, load_programs

MINIMAL: dict[str, Any] = {
    "id": "test-program",
    "name": "試験用補助事業",
    "municipality": "新宿区",
    "fiscal_year": "2025",
    "items": {"security_camera": {"source": "test"}},
    "rules": ["eligible_items", "purchase_period", "application_period"],
    "parameters": {
        "rate": {"value": "1/2", "source": "test"},
        "cap": {"value": 20000, "source": "test"},
        "rounding_unit": {"value": 1000, "source": "test"},
        "application_period": {
            "value": {"start": "2025-05-01", "end": "2026-01-31"},
            "source": "test",
        },
        "residence": {"value": {"prefecture": "東京都", "city": "新宿区"}, "source": "test"},
    },
}


def write(folder: Path, definition: dict[str, Any], name: str = "test-program") -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(definition, allow_unicode=True), encoding="utf-8")
    return path


def changed(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """MINIMAL with the value at `path` replaced (or removed when `value` is ...)."""
    definition = copy.deepcopy(MINIMAL)
    node = definition
    for key in path[:-1]:
        node = node[key]
    if value is ...:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return definition


def test_the_minimal_definition_loads(tmp_path: Path) -> None:
    program = load_program(write(tmp_path, MINIMAL))
    assert program.id == "test-program"
    assert program.parameters_on(date(2025, 6, 1)).cap == 20000


def test_every_shipped_program_loads_with_a_source_for_every_value() -> None:
    programs = load_programs()
    assert {
        "shinjuku-2025",
        "setagaya-2025",
        "chuo-2025",
        "minato-standing",
        "annaka-seniors",
    } <= set(programs)
    for program in programs.values():
        for history in program.parameters.values():
            assert all(dated.source.strip() for dated in history)
        assert all(rule.source.strip() for rule in program.items.values())


BAD_DEFINITIONS = [
    pytest.param(changed(("colour",), "blue"), "colour", id="unknown-top-level-key"),
    pytest.param(
        changed(("parameters", "capp"), {"value": 1, "source": "x"}),
        "parameters.capp",
        id="unknown-parameter-key",
    ),
    pytest.param(
        changed(("parameters", "cap", "sauce"), "x"), "parameters.cap.sauce", id="unknown-spec-key"
    ),
    pytest.param(
        changed(("parameters", "rate", "source"), ...),
        "parameters.rate.source",
        id="missing-source",
    ),
    pytest.param(
        changed(("parameters", "cap", "source"), "  "), "parameters.cap.source", id="blank-source"
    ),
    pytest.param(
        changed(("parameters", "rate", "value"), "0/2"), "parameters.rate.value", id="rate-zero"
    ),
    pytest.param(
        changed(("parameters", "rate", "value"), "3/2"), "parameters.rate.value", id="rate-above-1"
    ),
    pytest.param(
        changed(("parameters", "rate", "value"), 0.5), "parameters.rate.value", id="rate-float"
    ),
    pytest.param(
        changed(("parameters", "rate", "value"), "1/0"), "parameters.rate.value", id="rate-div-zero"
    ),
    pytest.param(
        changed(("parameters", "cap", "value"), "20000"), "parameters.cap.value", id="cap-string"
    ),
    pytest.param(
        changed(("parameters", "cap", "value"), 20000.0), "parameters.cap.value", id="cap-float"
    ),
    pytest.param(
        changed(("parameters", "rounding_unit", "value"), 0),
        "parameters.rounding_unit.value",
        id="rounding-unit-zero",
    ),
    pytest.param(
        changed(("parameters", "rounding_unit"), ...),
        "parameters.rounding_unit",
        id="missing-required-parameter",
    ),
    pytest.param(
        changed(("parameters", "application_period", "value", "start"), "2025-13-01"),
        "parameters.application_period.value.start",
        id="bad-date",
    ),
    pytest.param(
        changed(("parameters", "application_period", "value", "end"), "2025-04-30"),
        "parameters.application_period.value",
        id="end-before-start",
    ),
    pytest.param(
        changed(("items", "laser_fence"), {"source": "x"}), "items.laser_fence", id="unknown-item"
    ),
    pytest.param(changed(("items", "other"), {"source": "x"}), "items.other", id="item-other"),
    pytest.param(
        changed(("items", "security_camera"), {}),
        "items.security_camera.source",
        id="item-without-source",
    ),
    pytest.param(
        changed(("rules",), ["eligible_items", "purchase_period", "moon_phase"]),
        "rules[2]",
        id="unknown-rule",
    ),
    pytest.param(
        changed(
            ("parameters", "cap"),
            {
                "history": [
                    {"since": "2025-10-01", "value": 30000, "source": "x"},
                    {"since": "2025-04-01", "value": 20000, "source": "x"},
                ]
            },
        ),
        "parameters.cap.history",
        id="history-out-of-order",
    ),
    pytest.param(
        changed(("parameters", "cap"), {"value": 1, "history": [], "source": "x"}),
        "parameters.cap",
        id="value-and-history",
    ),
    pytest.param(
        changed(("parameters", "required_pledges"), {"value": ["be_nice"], "source": "x"}),
        "parameters.required_pledges.value",
        id="unknown-pledge",
    ),
    pytest.param(changed(("id",), "Test_Program"), "id", id="id-not-lower-case"),
]


@pytest.mark.parametrize(("definition", "key"), BAD_DEFINITIONS)
def test_an_invalid_definition_fails_naming_the_file_and_the_key(
    tmp_path: Path, definition: dict[str, Any], key: str
) -> None:
    path = write(tmp_path, definition)
    with pytest.raises(ProgramError) as raised:
        load_program(path)
    assert raised.value.file == str(path)
    assert raised.value.key == key
    assert str(path) in str(raised.value) and key in str(raised.value)


def test_an_impossible_bare_yaml_date_fails_naming_the_file(tmp_path: Path) -> None:
    text = yaml.safe_dump(MINIMAL, allow_unicode=True).replace("'2025-05-01'", "2025-13-01")
    path = tmp_path / "test-program.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProgramError) as raised:
        load_program(path)
    assert raised.value.file == str(path)


def test_a_file_name_other_than_the_id_fails_naming_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL, name="another-name")
    with pytest.raises(ProgramError) as raised:
        load_programs(str(tmp_path))
    assert raised.value.file == str(path)
    assert raised.value.key == "id"


def test_two_files_with_one_id_fail(tmp_path: Path) -> None:
    write(tmp_path, MINIMAL)
    write(tmp_path, MINIMAL, name="zz-test-program")
    with pytest.raises(ProgramError, match="must match the file name"):
        load_programs(str(tmp_path))


CAP_HISTORY = {
    "history": [
        {"since": "2025-05-01", "value": 20000, "source": "first notice"},
        {"since": "2025-10-01", "value": 30000, "source": "revised notice"},
    ]
}


def record(received_on: str) -> dict[str, Any]:
    return {
        "application_id": "T-00001",
        "channel": "online",
        "received_on": received_on,
        "applicant": {
            "name": "試験 花子",
            "name_kana": "シケン ハナコ",
            "birth_date": "1980-01-15",
            "postal_code": "160-0022",
            "address": "東京都新宿区新宿1-2-3",
        },
        "resident_registered": True,
        "purchases": [
            {
                "item": "security_camera",
                "kind": "purchase",
                "amount": 100000,
                "purchased_on": "2025-05-10",
            }
        ],
        "pledges": {},
    }


def test_a_dated_parameter_gives_the_value_in_force_on_each_side_of_its_date(
    tmp_path: Path,
) -> None:
    program = load_program(write(tmp_path, changed(("parameters", "cap"), CAP_HISTORY)))
    assert program.parameters_on(date(2025, 9, 30)).cap == 20000
    assert program.parameters_on(date(2025, 10, 1)).cap == 30000
    assert program.parameters_on(date(2026, 1, 31)).cap == 30000


def test_the_amount_follows_the_cap_in_force_on_the_received_date(tmp_path: Path) -> None:
    # 100,000 x 1/2 = 50,000 -> capped at 20,000 before 2025-10-01 and 30,000 from it
    program = load_program(write(tmp_path, changed(("parameters", "cap"), CAP_HISTORY)))
    before = evaluate(program, parse_application(record("2025-09-30")))
    after = evaluate(program, parse_application(record("2025-10-01")))
    assert (before.amount, after.amount) == (20000, 30000)
    assert before.eligible and after.eligible


def test_a_history_entry_without_its_own_source_takes_the_parameters_source(
    tmp_path: Path,
) -> None:
    spec = {
        "source": "告示",
        "history": [{"since": "2025-05-01", "value": 20000}, {"since": "2025-10-01", "value": 1}],
    }
    program = load_program(write(tmp_path, changed(("parameters", "cap"), spec)))
    assert [dated.source for dated in program.parameters["cap"]] == ["告示", "告示"]


def test_a_definition_that_is_not_yaml_fails_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("id: [unclosed\n", encoding="utf-8")
    with pytest.raises(ProgramError) as raised:
        load_program(path)
    assert raised.value.file == str(path)
