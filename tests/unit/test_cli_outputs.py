"""What `subsidy-rules evaluate` and `dedupe` give people (docs/CLI.md): CSV that Excel
opens in Japanese (read back with the csv module as documented), summaries, progress on a
terminal only, BOM input, exit statuses 0 / 1 (some records malformed) / 2 (failure),
and never a traceback, whatever the files."""

from __future__ import annotations

import copy
import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from subsidy_rules import cli
from subsidy_rules.reasons import Reason
from subsidy_rules.reports import DECISION_HEADER, GROUP_HEADER


def run(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "subsidy_rules.cli", *args],
        input=stdin,
        capture_output=True,
        timeout=120,
    )


def jsonl(*records: dict[str, Any]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()


def variants(record: dict[str, Any]) -> list[dict[str, Any]]:
    """Granted, capped, refused, a formula-like id, and the household member of the first."""
    capped = copy.deepcopy(record)
    capped.update(application_id="S2025-000002", logo_answer_id="1000000002")
    capped["applicant"].update(name="高田 次郎", name_kana="タカダ ジロウ", birth_date="1970-03-04",
                               address="東京都新宿区高田馬場一丁目1番1号")  # fmt: skip
    capped["bank_account"]["number"] = "7654321"
    capped["purchases"][0]["amount"] = 45000
    refused = copy.deepcopy(capped)
    refused.update(application_id="=HYPERLINK(1)", logo_answer_id="1000000003")
    refused["applicant"].update(name="戸山 三郎", name_kana="トヤマ サブロウ", birth_date="1960-05-06",
                                address="東京都新宿区戸山二丁目2番2号")  # fmt: skip
    refused["bank_account"]["number"] = "1111111"
    refused["resident_registered"] = False
    spouse = copy.deepcopy(record)
    spouse.update(application_id="S2025-000004", logo_answer_id="1000000004")
    spouse["applicant"].update(
        name="新宿 花子", name_kana="シンジュク ハナコ", birth_date="1982-02-03"
    )
    return [record, capped, refused, spouse]


def read_csv(path: Path, encoding: str) -> list[list[str]]:
    with path.open(encoding=encoding, newline="") as handle:
        return list(csv.reader(handle))


@pytest.mark.parametrize("encoding", ["utf-8-sig", "cp932"])
def test_evaluate_writes_a_csv_excel_reads_with_the_reason_messages(
    tmp_path: Path, record: dict[str, Any], encoding: str
) -> None:
    out = tmp_path / "decisions.csv"
    data = jsonl(*variants(record)) + b"{broken\n"
    result = run("evaluate", "--program", "shinjuku-2025", "--csv", str(out),
                 "--csv-encoding", encoding, stdin=data)  # fmt: skip
    assert result.returncode == 1, result.stderr
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") == (encoding == "utf-8-sig")
    assert b"\r\n" in raw
    rows = read_csv(out, encoding)
    assert tuple(rows[0]) == DECISION_HEADER
    by_line = {row[0]: row for row in rows[1:]}
    assert by_line["1"][1:5] == ["S2025-000001", "交付", "16000", "32000"]
    assert by_line["2"][2:6] == ["交付", "20000", "45000", "CAPPED"]
    assert by_line["2"][6] == Reason.CAPPED.message
    assert by_line["3"][1] == "'=HYPERLINK(1)"  # neutralised: a spreadsheet will not run it
    assert by_line["3"][2] == "不交付" and by_line["3"][6] == Reason.NOT_RESIDENT.message
    assert by_line["5"][2] == "形式エラー" and "JSON" in by_line["5"][8]


def test_the_csv_carries_every_character_in_utf8_and_says_cp932_loses_some(
    tmp_path: Path, record: dict[str, Any]
) -> None:
    odd = copy.deepcopy(record)
    odd["application_id"] = "𠮷野-1"
    for encoding, expected in (("utf-8-sig", "𠮷野-1"), ("cp932", "?野-1")):
        out = tmp_path / f"{encoding}.csv"
        result = run("evaluate", "--program", "shinjuku-2025", "--csv", str(out),
                     "--csv-encoding", encoding, stdin=jsonl(odd))  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert read_csv(out, encoding)[1][1] == expected


def test_dedupe_writes_one_csv_row_per_member_of_each_group(
    tmp_path: Path, record: dict[str, Any]
) -> None:
    out = tmp_path / "groups.csv"
    result = run("dedupe", "--program", "shinjuku-2025", "--csv", str(out),
                 stdin=jsonl(*variants(record)))  # fmt: skip
    assert result.returncode == 0, result.stderr
    groups = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert [g["group"] for g in groups] == [["S2025-000001", "S2025-000004"]]
    rows = read_csv(out, "utf-8-sig")
    assert tuple(rows[0]) == GROUP_HEADER
    assert [row[:3] for row in rows[1:]] == [
        ["1", "S2025-000001", "S2025-000004"],
        ["1", "S2025-000004", "S2025-000001"],
    ]
    assert "SAME_HOUSEHOLD" in rows[1][3] and Reason.SAME_HOUSEHOLD.message in rows[1][4]


def test_the_summary_gives_counts_yen_totals_and_reasons(record: dict[str, Any]) -> None:
    result = run("evaluate", "--program", "shinjuku-2025", "--household-limit", "--summary",
                 stdin=jsonl(*variants(record)) + b"[]\n")  # fmt: skip
    assert result.returncode == 1
    summary = result.stderr.decode()
    assert "件数 5（交付 2 / 不交付 2 / 形式エラー 1）" in summary
    assert "交付額合計 36,000円" in summary  # 16,000 + 20,000 (the spouse is refused)
    assert "DUPLICATE_HOUSEHOLD" in summary and Reason.DUPLICATE_HOUSEHOLD.message in summary
    assert "NOT_RESIDENT" in summary
    dedupe = run("dedupe", "--summary", stdin=jsonl(*variants(record))).stderr.decode()
    assert "件数 4（形式エラー 0）" in dedupe and "重複の疑いのグループ 1（申請 2 件）" in dedupe
    quiet = run("evaluate", "--program", "shinjuku-2025", stdin=jsonl(record))
    assert quiet.stderr == b""


def test_json_lines_with_a_utf8_bom_are_read(tmp_path: Path, record: dict[str, Any]) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + jsonl(record))
    result = run("evaluate", "--program", "shinjuku-2025", str(path))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["amount"] == 16000
    piped = run("evaluate", "--program", "shinjuku-2025", stdin=b"\xef\xbb\xbf" + jsonl(record))
    assert piped.returncode == 0 and json.loads(piped.stdout)["eligible"] is True


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_shown_on_a_terminal_only(
    tmp_path: Path, record: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    many = []
    for n in range(cli.PROGRESS_EVERY + 5):
        one = copy.deepcopy(record)
        one["application_id"] = f"S2025-{n:06d}"
        many.append(one)
    path = tmp_path / "many.jsonl"
    path.write_bytes(jsonl(*many))
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert cli.main(["evaluate", "--program", "shinjuku-2025", str(path)]) == 0
    assert f"{cli.PROGRESS_EVERY:,} 件処理しました" in terminal.getvalue()
    piped = run("evaluate", "--program", "shinjuku-2025", str(path))
    assert piped.returncode == 0 and piped.stderr == b""


def test_exit_status_separates_malformed_records_from_failures(
    tmp_path: Path, record: dict[str, Any]
) -> None:
    assert run("evaluate", "--program", "shinjuku-2025", stdin=jsonl(record)).returncode == 0
    assert run("evaluate", "--program", "shinjuku-2025", stdin=b"{x\n").returncode == 1
    assert run("evaluate", "--program", "nerima-2025", stdin=b"").returncode == 2
    assert run("evaluate", "--program", "shinjuku-2025", str(tmp_path / "none")).returncode == 2
    assert run("evaluate", "--program", "shinjuku-2025", "--csv", str(tmp_path / "no" / "x.csv"),
               stdin=jsonl(record)).returncode == 2  # fmt: skip
    assert run("evaluate").returncode == 2  # argparse: --program missing


BROKEN_INPUT = [
    pytest.param(b"\xff\xfe{\x00}\n", id="utf16-or-binary"),
    pytest.param("新宿".encode("cp932") + b"\n", id="shift-jis"),
    pytest.param(b"1" * 5000 + b"\n", id="integer-too-long"),
    pytest.param(b"[" * 100000 + b"\n", id="nesting-too-deep"),
    pytest.param(b'{"a":' * 50000 + b"\n", id="object-nesting-too-deep"),
    pytest.param(b"x" * (cli.MAX_LINE_BYTES + 10) + b"\n{}\n", id="line-too-long"),
    pytest.param(b'"just a string"\n', id="not-an-object"),
    pytest.param(b"null\n[]\n42\n", id="null-list-number"),
    pytest.param(b'{"application_id": {"x": 1}}\n', id="id-not-text"),
    pytest.param(b'{"purchases": "many"}\n', id="purchases-not-a-list"),
    pytest.param(b"\x00\x00\x00\n", id="nul-bytes"),
]


@pytest.mark.parametrize("data", BROKEN_INPUT)
@pytest.mark.parametrize("command", ["evaluate", "dedupe"])
def test_broken_input_gives_error_lines_never_a_traceback(data: bytes, command: str) -> None:
    result = run(command, "--program", "shinjuku-2025", "--summary", stdin=data)
    assert result.returncode == 1, result.stderr
    assert b"Traceback" not in result.stderr
    errors = result.stdout if command == "evaluate" else result.stderr.split(b"\xe4\xbb\xb6")[0]
    for line in errors.decode().splitlines():
        if line.startswith("{"):
            assert json.loads(line)["error"]["message"]


BROKEN_PROGRAMS = [
    pytest.param(b"", id="empty"),
    pytest.param(b"\x89PNG\r\n\x1a\n", id="binary"),
    pytest.param(b"id: [unclosed\n", id="yaml-syntax"),
    pytest.param(b"a: &a [*a]\n", id="recursive-alias"),
    pytest.param(b"- 1\n- 2\n", id="a-list"),
    pytest.param(b"id: broken\nname: x\n", id="missing-keys"),
    pytest.param(b"!!python/object:os.system ls\n", id="unsafe-tag"),
    pytest.param(b"id: broken\n" + b"x: 1\n" * 10, id="unknown-keys"),
    pytest.param(b"x" * (2 << 20), id="too-large"),
]


@pytest.mark.parametrize("text", BROKEN_PROGRAMS)
def test_broken_definition_files_fail_in_one_line_never_a_traceback(
    tmp_path: Path, text: bytes, record: dict[str, Any]
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_bytes(text)
    for args in (["programs", "--file", str(path)], ["evaluate", "--program-file", str(path)]):
        result = run(*args, stdin=jsonl(record))
        assert result.returncode == 2, (args, result.stderr)
        assert b"Traceback" not in result.stderr
        message = result.stderr.decode()
        assert message.startswith(f"subsidy-rules: {path}") and message.count("\n") == 1
