"""The `subsidy-rules` command line contract (docs/CLI.md), run as a real process."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "subsidy_rules.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def jsonl(*records: dict[str, Any]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def test_programs_lists_every_shipped_program_with_sourced_parameters() -> None:
    result = run("programs")
    assert result.returncode == 0, result.stderr
    programs = {p["id"]: p for p in lines(result.stdout)}
    assert set(programs) >= {
        "shinjuku-2025",
        "setagaya-2025",
        "chuo-2025",
        "minato-standing",
        "annaka-seniors",
    }
    shinjuku = programs["shinjuku-2025"]
    assert shinjuku["parameters"]["rate"][0]["value"] == "1/2"
    assert shinjuku["parameters"]["cap"][0]["value"] == 20000
    assert all(v[0]["source"] for v in shinjuku["parameters"].values())
    assert shinjuku["items"]["security_film"]["unconfirmed"] is True


def test_evaluate_writes_one_decision_per_record(record: dict[str, Any]) -> None:
    capped = copy.deepcopy(record)
    capped["application_id"] = "S2025-000002"
    capped["purchases"][0]["amount"] = 45000
    result = run("evaluate", "--program", "shinjuku-2025", stdin=jsonl(record, capped))
    assert result.returncode == 0, result.stderr
    first, second = lines(result.stdout)
    assert set(first) == {
        "application_id",
        "eligible",
        "amount",
        "eligible_cost",
        "reasons",
        "purchases",
    }
    assert first["application_id"] == "S2025-000001"
    assert (first["eligible"], first["amount"], first["eligible_cost"]) == (True, 16000, 32000)
    assert first["reasons"] == []
    assert first["purchases"][0]["counted"] is True
    # 45,000 x 1/2 = 22,500 -> capped at 20,000
    assert (second["amount"], second["reasons"]) == (20000, ["CAPPED"])


def test_a_malformed_record_gives_an_error_line_and_exit_status_1(record: dict[str, Any]) -> None:
    bad = copy.deepcopy(record)
    bad["application_id"] = "S2025-000002"
    bad["applicant"]["birth_date"] = "1980/01/02"
    last = copy.deepcopy(record)
    last["application_id"] = "S2025-000003"
    text = jsonl(record, bad) + "{not json\n" + jsonl(last)
    result = run("evaluate", "--program", "shinjuku-2025", stdin=text)
    assert result.returncode == 1
    out = lines(result.stdout)
    assert [o.get("application_id") for o in out] == [
        "S2025-000001",
        "S2025-000002",
        None,
        "S2025-000003",
    ]
    assert out[1]["line"] == 2
    assert out[1]["error"]["field"] == "applicant.birth_date"
    assert out[1]["error"]["message"]
    assert "eligible" not in out[1]
    assert out[2]["line"] == 3 and "application_id" not in out[2]
    assert out[3]["eligible"] is True


def test_evaluate_reads_a_file_argument(tmp_path: Path, record: dict[str, Any]) -> None:
    path = tmp_path / "applications.jsonl"
    path.write_text(jsonl(record), encoding="utf-8")
    result = run("evaluate", "--program", "shinjuku-2025", str(path))
    assert result.returncode == 0
    assert lines(result.stdout)[0]["amount"] == 16000


def test_an_unknown_program_is_refused_naming_the_known_ones() -> None:
    result = run("evaluate", "--program", "nerima-2025", stdin="")
    assert result.returncode == 2
    assert "nerima-2025" in result.stderr and "shinjuku-2025" in result.stderr


def test_household_limit_refuses_the_later_application_of_a_household(
    record: dict[str, Any],
) -> None:
    spouse = copy.deepcopy(record)
    spouse.update(
        application_id="S2025-000002", received_on="2025-06-20", logo_answer_id="1000000002"
    )
    spouse["applicant"].update(
        name="新宿 花子", name_kana="シンジュク ハナコ", birth_date="1982-02-03"
    )
    spouse["bank_account"]["number"] = "7654321"
    result = run(
        "evaluate", "--program", "shinjuku-2025", "--household-limit", stdin=jsonl(record, spouse)
    )
    first, second = lines(result.stdout)
    assert first["eligible"] is True
    assert (second["eligible"], second["amount"], second["reasons"]) == (
        False,
        0,
        ["DUPLICATE_HOUSEHOLD"],
    )


def test_dedupe_writes_one_line_per_group(record: dict[str, Any]) -> None:
    again = copy.deepcopy(record)
    again.update(application_id="S2025-000002", channel="paper")
    again["applicant"]["address"] = "西新宿2-8-1-101"
    stranger = copy.deepcopy(record)
    stranger.update(application_id="S2025-000003", logo_answer_id="1000000003")
    stranger["applicant"].update(
        name_kana="トヤマ ハナコ", birth_date="1975-03-04", address="戸山3-5-2"
    )
    stranger["bank_account"]["number"] = "7654321"
    result = run("dedupe", stdin=jsonl(record, again, stranger))
    assert result.returncode == 0, result.stderr
    [group] = lines(result.stdout)
    assert group["group"] == ["S2025-000001", "S2025-000002"]
    assert group["reasons"] == [
        "SAME_BANK_ACCOUNT",
        "SAME_HOUSEHOLD",
        "SAME_LOGO_ANSWER",
        "SAME_PERSON",
    ]
    assert {e["code"] for e in group["evidence"]} == set(group["reasons"])


def test_synth_is_deterministic_and_parses() -> None:
    first = run("synth", "--count", "300", "--seed", "5")
    second = run("synth", "--count", "300", "--seed", "5")
    assert first.returncode == 0 and first.stdout == second.stdout
    records = lines(first.stdout)
    assert len(records) == 300
    evaluated = run("evaluate", "--program", "shinjuku-2025", stdin=first.stdout)
    decisions = lines(evaluated.stdout)
    assert len(decisions) == 300
    assert sum(1 for d in decisions if d.get("eligible")) > 200


@pytest.mark.parametrize("command", [["evaluate"], ["synth", "--count", "x"]])
def test_usage_errors_exit_with_status_2(command: list[str]) -> None:
    assert run(*command).returncode == 2
