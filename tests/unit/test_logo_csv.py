"""LoGoフォーム CSV import: encodings, line-numbered Japanese errors, dates, amounts, round trip."""

from __future__ import annotations

import copy
import csv
import hashlib
import io
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from subsidy_intake.logo_csv import (
    ColumnMapping,
    LineError,
    MappingError,
    ParsedFile,
    UnknownProgramError,
    load_mapping,
    mapping_for,
    parse_logo_csv,
    to_logo_csv,
)

from subsidy_rules.application import parse_application
from subsidy_rules.items import LABELS, Item

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "logo"
MAPPING = mapping_for("shinjuku-2025")
PLEDGES = ("not_antisocial", "no_tax_arrears", "consent_to_checks")


def online(record: dict[str, Any], answer_id: str = "1000000001") -> dict[str, Any]:
    """The record as an online LoGo answer with the shipped mapping's application id."""
    out = copy.deepcopy(record)
    out["version"] = 1
    out["channel"] = "online"
    out["logo_answer_id"] = answer_id
    out["application_id"] = MAPPING.application_id(answer_id)
    return out


def export(rows: list[dict[str, str]], headers: tuple[str, ...] | None = None) -> bytes:
    """A UTF-8 (BOM) LoGo export from cell dicts keyed by header; missing cells are blank."""
    headers = headers or MAPPING.headers
    lines = [",".join(f'"{h}"' for h in headers)]
    lines += [
        ",".join('"' + row.get(h, "").replace('"', '""') + '"' for h in headers) for row in rows
    ]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8-sig")


def cells(record: dict[str, Any], **changes: str) -> dict[str, str]:
    """The cells to_logo_csv writes for one record, with some replaced."""
    text = to_logo_csv([record], MAPPING).decode("utf-8-sig")
    header, row = list(csv.reader(io.StringIO(text)))
    out = dict(zip(header, row, strict=True))
    out.update(changes)
    return out


def parse_cells(record: dict[str, Any], **changes: str) -> ParsedFile:
    return parse_logo_csv(export([cells(record, **changes)]), MAPPING)


def only_record(parsed: ParsedFile) -> dict[str, Any]:
    assert parsed.errors == ()
    assert len(parsed.records) == 1
    _line, record = parsed.records[0]
    return record


# ----------------------------------------------------------------- the mapping


def test_the_shipped_shinjuku_mapping_names_the_program_and_the_number_prefix() -> None:
    assert MAPPING.program_id == "shinjuku-2025"
    assert MAPPING.application_id("12345") == "SJ2025-L12345"
    assert MAPPING.header_for("applicant.birth_date") == "生年月日"
    assert MAPPING.header_for("purchases[2].amount") == "金額3"
    assert MAPPING.purchase_groups == 3


def test_an_unknown_program_has_no_mapping() -> None:
    with pytest.raises(UnknownProgramError):
        mapping_for("nowhere-2025")
    with pytest.raises(UnknownProgramError):
        mapping_for("../shinjuku-2025")


def write_mapping(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "m.yaml"
    path.write_text(body, encoding="utf-8")
    return path


def test_a_mapping_with_an_unknown_target_field_is_refused_naming_the_header(
    tmp_path: Path,
) -> None:
    path = write_mapping(
        tmp_path,
        "program_id: x\napplication_prefix: X\ncolumns:\n  回答ID: logo_answer_id\n"
        "  回答日時: received_on\n  年齢: applicant.age\n",
    )
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    assert caught.value.key == "年齢"


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ("program_id: x\napplication_prefix: X\ncolumns: {回答ID: logo_answer_id}\n", "columns"),
        ("program_id: x\napplication_prefix: X\nextra: 1\ncolumns: {}\n", "extra"),
        (
            "program_id: x\ncolumns: {回答ID: logo_answer_id, 日時: received_on}\n",
            "application_prefix",
        ),
        (
            "program_id: x\napplication_prefix: X\ncolumns: {回答ID: logo_answer_id, "
            '日時: received_on, 品目: "purchases[1].item"}\n',
            "columns",
        ),
        (
            "program_id: x\napplication_prefix: X\ncolumns: {回答ID: logo_answer_id, "
            "日時: received_on}\nitem_labels: {防犯ブザー: buzzer}\n",
            "item_labels.防犯ブザー",
        ),
        (
            "program_id: x\napplication_prefix: X\ncolumns: {回答ID: logo_answer_id, "
            "日時: received_on, 受付日: received_on}\n",
            "受付日",
        ),
    ],
)
def test_a_malformed_mapping_is_refused_naming_the_key(tmp_path: Path, body: str, key: str) -> None:
    with pytest.raises(MappingError) as caught:
        load_mapping(write_mapping(tmp_path, body))
    assert caught.value.key == key


# -------------------------------------------------------- the sample exports


def sample(name: str) -> bytes:
    return (FIXTURES / f"shinjuku-sample-{name}.csv").read_bytes()


def test_utf8_bom_and_cp932_exports_of_the_same_answers_parse_to_the_same_records() -> None:
    utf8 = parse_logo_csv(sample("utf8bom"), MAPPING)
    sjis = parse_logo_csv(sample("cp932"), MAPPING)
    assert (utf8.encoding, sjis.encoding) == ("utf-8-sig", "cp932")
    assert utf8.records == sjis.records
    assert utf8.errors == sjis.errors
    assert len(utf8.records) == 9


def test_a_bad_line_is_reported_with_line_column_and_problem_and_other_lines_still_parse() -> None:
    parsed = parse_logo_csv(sample("utf8bom"), MAPPING)
    assert parsed.errors == (LineError(9, "生年月日", "生年月日は昭和の期間外の日付です"),)
    assert not parsed.ok
    assert "SJ2025-L2000000007" not in {record["application_id"] for _, record in parsed.records}


def test_line_numbers_are_physical_lines_even_after_a_cell_holding_a_newline() -> None:
    parsed = parse_logo_csv(sample("cp932"), MAPPING)
    # Row 2 (line 3) has a two-line 品名1, so every later row starts one line further down.
    assert [line for line, _ in parsed.records] == [2, 3, 5, 6, 7, 8, 10, 11, 12]
    assert parsed.records[1][1]["purchases"][0]["description"] == "テレビドアホン\n（録画機能付き）"


def test_every_record_of_the_sample_passes_the_interchange_format() -> None:
    for _, record in parse_logo_csv(sample("utf8bom"), MAPPING).records:
        app = parse_application(record)
        assert app.channel == "online"
        assert app.application_id == f"SJ2025-L{app.logo_answer_id}"


def test_the_file_digest_is_the_sha256_of_the_uploaded_bytes() -> None:
    data = sample("cp932")
    assert parse_logo_csv(data, MAPPING).sha256 == hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------ cell forms


@pytest.mark.parametrize(
    ("written", "iso"),
    [
        ("1980/01/02", "1980-01-02"),
        ("1980-1-2", "1980-01-02"),
        ("1980年1月2日", "1980-01-02"),
        ("１９８０年１月２日", "1980-01-02"),
        ("昭和55年1月2日", "1980-01-02"),
        ("昭和５５年１月２日", "1980-01-02"),
        ("S55.1.2", "1980-01-02"),
        ("明治45年7月29日", "1912-07-29"),
        ("大正元年7月30日", "1912-07-30"),
        ("昭和元年12月25日", "1926-12-25"),
        ("昭和64年1月7日", "1989-01-07"),
        ("平成元年1月8日", "1989-01-08"),
        ("平成31年4月30日", "2019-04-30"),
        ("令和元年5月1日", "2019-05-01"),
        ("令和7年4月1日", "2025-04-01"),
    ],
)
def test_birth_dates_in_western_and_era_forms_are_read(
    record: dict[str, Any], written: str, iso: str
) -> None:
    parsed = parse_cells(online(record), 生年月日=written)
    assert only_record(parsed)["applicant"]["birth_date"] == iso


@pytest.mark.parametrize(
    ("written", "problem"),
    [
        ("昭和64年1月8日", "生年月日は昭和の期間外の日付です"),
        ("平成31年5月1日", "生年月日は平成の期間外の日付です"),
        ("令和元年4月30日", "生年月日は令和の期間外の日付です"),
        ("大正0年1月1日", "生年月日の和暦の年が正しくありません"),
        ("1980/02/30", "生年月日は存在しない日付です"),
        ("昭和55年2月30日", "生年月日は存在しない日付です"),
        ("80/1/2", "生年月日の形式が正しくありません（例: 1980/01/02、昭和55年1月2日）"),
        ("不明", "生年月日の形式が正しくありません（例: 1980/01/02、昭和55年1月2日）"),
    ],
)
def test_impossible_or_unreadable_dates_are_reported_in_japanese(
    record: dict[str, Any], written: str, problem: str
) -> None:
    parsed = parse_cells(online(record), 生年月日=written)
    assert parsed.records == ()
    assert parsed.errors == (LineError(2, "生年月日", problem),)


@pytest.mark.parametrize("written", ["2025/06/10 14:03:22", "2025-06-10 14:03", "2025/6/10"])
def test_the_answer_time_keeps_only_its_date(record: dict[str, Any], written: str) -> None:
    parsed = parse_cells(online(record), 回答日時=written)
    assert only_record(parsed)["received_on"] == "2025-06-10"


@pytest.mark.parametrize(
    "written",
    ["32000", "32,000", "３２０００", "３２，０００", "32000円", "３２，０００円", "￥32,000"],
)
def test_amounts_are_read_in_full_width_with_commas_and_yen(
    record: dict[str, Any], written: str
) -> None:
    parsed = parse_cells(online(record), 金額1=written)
    assert only_record(parsed)["purchases"][0]["amount"] == 32000


@pytest.mark.parametrize("written", ["32000.5", "-3000", "三万二千", "32,000ドル"])
def test_an_unreadable_amount_is_reported_with_its_column(
    record: dict[str, Any], written: str
) -> None:
    parsed = parse_cells(online(record), 金額1=written)
    assert parsed.errors == (
        LineError(2, "金額1", "金額1の金額の形式が正しくありません（例: 32000、32,000円）"),
    )


def test_an_unknown_item_label_is_reported_with_its_column(record: dict[str, Any]) -> None:
    parsed = parse_cells(online(record), 購入品目1="防犯グッズ")
    assert parsed.errors == (
        LineError(2, "購入品目1", "購入品目1の品目「防犯グッズ」は対象の品目一覧にありません"),
    )


@pytest.mark.parametrize(
    ("label", "item"),
    [
        ("防犯カメラ", "security_camera"),
        ("カメラ付インターホン", "camera_intercom"),
        ("テレビドアホン", "camera_intercom"),
        ("ｾﾝｻｰﾗｲﾄ", "sensor_light"),
        ("防犯用カメラ", "security_camera"),  # the shipped mapping's own label
        ("補助 錠", "auxiliary_lock"),
    ],
)
def test_item_labels_and_their_common_synonyms_become_item_codes(
    record: dict[str, Any], label: str, item: str
) -> None:
    parsed = parse_cells(online(record), 購入品目1=label)
    assert only_record(parsed)["purchases"][0]["item"] == item


def test_every_vocabulary_label_reads_back_as_its_item() -> None:
    for item, label in LABELS.items():
        assert MAPPING.item_for(label) is item


@pytest.mark.parametrize(
    ("answer", "expected"),
    [("はい", True), ("同意する", True), ("チェック済", True), ("いいえ", False), ("", False)],
)
def test_pledge_checkboxes_are_true_when_ticked_and_false_when_blank_or_no(
    record: dict[str, Any], answer: str, expected: bool
) -> None:
    parsed = parse_cells(online(record), 調査への同意=answer)
    assert only_record(parsed)["pledges"]["consent_to_checks"] is expected


def test_an_unreadable_pledge_answer_is_reported(record: dict[str, Any]) -> None:
    parsed = parse_cells(online(record), 税の滞納がない="たぶん")
    assert parsed.errors[0].column == "税の滞納がない"


def test_account_type_kind_and_residence_answers_become_codes(record: dict[str, Any]) -> None:
    rec = only_record(parse_cells(online(record), 預金種目="当座", 区分1="設置", 住民登録="いいえ"))
    assert rec["bank_account"]["type"] == "current"
    assert rec["purchases"][0]["kind"] == "installation"
    assert rec["resident_registered"] is False


def test_bank_and_branch_codes_get_back_the_leading_zeros_a_spreadsheet_dropped(
    record: dict[str, Any],
) -> None:
    rec = only_record(parse_cells(online(record), 金融機関コード="1", 支店コード="１"))
    assert (rec["bank_account"]["bank_code"], rec["bank_account"]["branch_code"]) == ("0001", "001")


def test_several_bad_cells_in_one_line_are_all_reported(record: dict[str, Any]) -> None:
    parsed = parse_cells(online(record), 生年月日="?", 金額1="?", 預金種目="外貨")
    assert [(e.line, e.column) for e in parsed.errors] == [
        (2, "生年月日"),
        (2, "金額1"),
        (2, "預金種目"),
    ]


def test_a_format_error_from_the_interchange_parser_names_the_japanese_column(
    record: dict[str, Any],
) -> None:
    parsed = parse_cells(online(record), 区分1="")
    assert parsed.errors == (LineError(2, "区分1", "区分1：必須項目です"),)
    parsed = parse_cells(online(record), 郵便番号="16O-0023")
    assert parsed.errors[0].column == "郵便番号"


def test_an_error_in_a_later_purchase_group_names_that_groups_column(
    record: dict[str, Any],
) -> None:
    # Group 2 left blank, group 3 filled: the record's purchases[1] is the form's group 3.
    parsed = parse_cells(
        online(record), 購入品目3="センサーライト", 区分3="購入", 購入日3="2025/05/02"
    )
    assert parsed.errors == (LineError(2, "金額3", "金額3：必須項目です"),)


# ----------------------------------------------------------- file-level checks


def test_a_missing_required_header_is_reported_at_line_1(record: dict[str, Any]) -> None:
    headers = tuple(h for h in MAPPING.headers if h not in ("生年月日", "口座番号"))
    parsed = parse_logo_csv(export([cells(online(record))], headers), MAPPING)
    assert parsed.records == ()
    assert parsed.errors == (
        LineError(1, "生年月日", "必須の列「生年月日」がありません"),
        LineError(1, "口座番号", "必須の列「口座番号」がありません"),
    )


def test_optional_columns_may_be_absent_and_unmapped_columns_are_ignored(
    record: dict[str, Any],
) -> None:
    rec = online(record)
    del rec["applicant"]["phone"]
    headers = (*(h for h in MAPPING.headers if h != "電話番号"), "ステータス")
    row = cells(rec, ステータス="受付済")
    assert only_record(parse_logo_csv(export([row], headers), MAPPING)) == rec


def test_headers_match_after_width_folding(record: dict[str, Any]) -> None:
    headers = tuple(h.replace("（カナ）", "(カナ)") for h in MAPPING.headers)
    row = {h.replace("（カナ）", "(カナ)"): v for h, v in cells(online(record)).items()}
    assert only_record(parse_logo_csv(export([row], headers), MAPPING)) == online(record)


def test_a_duplicate_answer_id_inside_the_file_is_reported_at_the_later_line(
    record: dict[str, Any],
) -> None:
    first = cells(online(record, "555"))
    parsed = parse_logo_csv(export([first, cells(online(record, "556")), first]), MAPPING)
    assert [line for line, _ in parsed.records] == [2, 3]
    assert parsed.errors == (LineError(4, "回答ID", "回答ID「555」が2行目と重複しています"),)


def test_reimporting_the_same_answers_gives_the_same_application_ids(
    record: dict[str, Any],
) -> None:
    data = export([cells(online(record, str(n))) for n in (7, 8)])
    ids = [[r["application_id"] for _, r in parse_logo_csv(data, MAPPING).records] for _ in "ab"]
    assert ids[0] == ids[1] == ["SJ2025-L7", "SJ2025-L8"]


def test_a_line_with_the_wrong_number_of_cells_is_reported(record: dict[str, Any]) -> None:
    good = export([cells(online(record))])
    data = good + b'"1","2"\r\n'
    parsed = parse_logo_csv(data, MAPPING)
    assert len(parsed.records) == 1
    assert parsed.errors[0].line == 3 and parsed.errors[0].column is None


def test_blank_lines_are_skipped_without_shifting_line_numbers(record: dict[str, Any]) -> None:
    data = export([cells(online(record, "1")), cells(online(record, "2"))])
    header, first, second = data.split(b"\r\n")[:3]
    parsed = parse_logo_csv(b"\r\n".join([header, first, b"", second, b""]), MAPPING)
    assert [line for line, _ in parsed.records] == [2, 4]


def test_a_file_in_neither_utf8_nor_cp932_is_refused_naming_the_line() -> None:
    data = MAPPING.headers[0].encode("utf-8") + b"\r\n\x81\x20\r\n"  # a lead byte without its trail
    parsed = parse_logo_csv(data, MAPPING)
    assert parsed.encoding == "unknown"
    assert parsed.records == ()
    assert parsed.errors[0].line == 2
    assert "文字コード" in parsed.errors[0].message


def test_an_empty_file_is_refused() -> None:
    assert parse_logo_csv(b"", MAPPING).errors[0].line == 1


# ------------------------------------------------------------------ round trip


def fixture_records(count: int, seed: int) -> Iterator[dict[str, Any]]:
    """Small synthetic online records exercising every mapped field (no real people)."""
    rng = random.Random(seed)
    items = [item.value for item in Item]
    surnames = ("新宿", "四谷", "高田", "落合", "戸山", "神楽", "市谷", "若葉")
    given = (("花子", "ハナコ"), ("一郎", "イチロウ"), ("美咲", "ミサキ"), ("大和", "ヤマト"))
    for index in range(count):
        surname, (name, kana) = rng.choice(surnames), rng.choice(given)
        record: dict[str, Any] = online(
            {
                "received_on": f"2025-{rng.randint(5, 12):02d}-{rng.randint(1, 28):02d}",
                "applicant": {
                    "name": f"{surname} {name}",
                    "name_kana": f"シンジュク {kana}",
                    "birth_date": f"{rng.randint(1920, 2005)}-{rng.randint(1, 12):02d}-"
                    f"{rng.randint(1, 28):02d}",
                    "postal_code": f"160-{rng.randint(0, 9999):04d}",
                    "address": f'東京都新宿区西新宿{rng.randint(1, 8)}丁目{index}番, 号室"A"',
                },
                "resident_registered": rng.random() < 0.9,
                "purchases": [
                    {
                        "item": rng.choice(items),
                        "kind": rng.choice(("purchase", "installation")),
                        "amount": rng.randint(0, 90000),
                        "purchased_on": f"2025-04-{rng.randint(1, 30):02d}",
                    }
                    for _ in range(rng.randint(1, 3))
                ],
                "pledges": {key: rng.random() < 0.9 for key in PLEDGES},
            },
            str(4_000_000_000 + index),
        )
        if rng.random() < 0.7:
            record["applicant"]["phone"] = f"090-5555-{index:04d}"
        if rng.random() < 0.5:
            record["applicant"]["email"] = f"user{index}@example.jp"
        if rng.random() < 0.8:
            record["household"] = {"head_name": f"{surname} {name}", "relationship": "本人"}
        if rng.random() < 0.9:
            record["bank_account"] = {
                "bank_code": f"{rng.randint(1, 9999):04d}",
                "branch_code": f"{rng.randint(0, 999):03d}",
                "type": rng.choice(("ordinary", "current", "savings")),
                "number": f"{rng.randint(0, 9_999_999):07d}",
                "holder_kana": f"シンジユク {kana}",
            }
        line = record["purchases"][0]
        if rng.random() < 0.4:
            line["description"] = "ワイヤレス防犯カメラ,\n2台"
        if rng.random() < 0.2:
            line["points_used"] = min(line["amount"], 500)
        yield record


def test_two_hundred_records_survive_to_logo_csv_and_back_unchanged() -> None:
    records = list(fixture_records(200, seed=3))
    for encoding in ("utf-8-sig", "cp932"):
        parsed = parse_logo_csv(to_logo_csv(records, MAPPING, encoding=encoding), MAPPING)
        assert parsed.errors == ()
        assert [record for _, record in parsed.records] == records


def synthetic_online(count: int, seed: int) -> list[dict[str, Any]]:
    """subsidy_rules.synth records made into distinct online answers that fit the form.

    Blank pledge boxes read back as false, so a missing pledge is written as false.
    """
    synth = pytest.importorskip("subsidy_rules.synth")
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, app in enumerate(synth.generate(count * 2, seed)):
        rec = app.record
        if set(app.defects) & set(synth.MALFORMED) or len(rec["purchases"]) > 3:
            continue
        answer = rec.get("logo_answer_id") or str(5_000_000_000 + index)
        if answer in seen:
            continue
        seen.add(answer)
        rec = online(rec, answer)
        for key in PLEDGES:
            rec["pledges"].setdefault(key, False)
        out.append(rec)
        if len(out) == count:
            break
    return out


def test_two_hundred_synthetic_applications_survive_the_round_trip_unchanged() -> None:
    records = synthetic_online(200, seed=11)
    assert len(records) == 200
    parsed = parse_logo_csv(to_logo_csv(records, MAPPING), MAPPING)
    assert parsed.errors == ()
    assert [record for _, record in parsed.records] == records


def test_to_logo_csv_refuses_more_purchases_than_the_form_has(record: dict[str, Any]) -> None:
    rec = online(record)
    rec["purchases"] *= 4
    with pytest.raises(ValueError, match="3 groups"):
        to_logo_csv([rec], MAPPING)


def test_a_whole_program_of_seven_thousand_rows_parses_without_errors() -> None:
    records = list(fixture_records(7000, seed=5))
    parsed = parse_logo_csv(to_logo_csv(records, MAPPING), MAPPING)
    assert parsed.errors == ()
    assert [record for _, record in parsed.records] == records


def test_the_mapping_is_a_hashable_value(tmp_path: Path) -> None:
    copy_path = tmp_path / "shinjuku-2025.logo.yaml"
    source = (
        Path(__file__).resolve().parents[2] / "libs/subsidy_rules/programs/shinjuku-2025.logo.yaml"
    )
    copy_path.write_bytes(source.read_bytes())
    again: ColumnMapping = load_mapping(copy_path)
    assert again == MAPPING and hash(again) == hash(MAPPING)


# ------------------------------------------------------------------ hardening


def _export_lines(record: dict[str, Any], count: int) -> list[bytes]:
    """A UTF-8 export (no BOM) of `count` answers, split into its physical lines."""
    rows = [cells(online(record, str(1000000001 + n))) for n in range(count)]
    return export(rows).removeprefix(b"\xef\xbb\xbf").split(b"\r\n")


def test_a_utf8_export_with_one_line_saved_as_shift_jis_is_reported_at_that_line(
    record: dict[str, Any],
) -> None:
    lines = _export_lines(record, 5)
    lines[3] = lines[3].decode("utf-8").encode("cp932")  # the third answer, line 4
    parsed = parse_logo_csv(b"\r\n".join(lines), MAPPING)
    assert parsed.records == ()
    assert [(e.line, e.column) for e in parsed.errors] == [(4, None)]
    assert "4行目の文字コード" in parsed.errors[0].message


def test_a_shift_jis_export_with_one_utf8_line_is_reported_at_that_line(
    record: dict[str, Any],
) -> None:
    lines = [line.decode("utf-8").encode("cp932") for line in _export_lines(record, 5)]
    lines[5] = lines[5].decode("cp932").encode("utf-8")  # the fifth answer, line 6
    parsed = parse_logo_csv(b"\r\n".join(lines), MAPPING)
    assert parsed.records == ()
    assert [(e.line, e.column) for e in parsed.errors] == [(6, None)]


def test_a_utf8_bom_export_with_one_shift_jis_line_is_reported_at_that_line(
    record: dict[str, Any],
) -> None:
    lines = _export_lines(record, 3)
    lines[2] = lines[2].decode("utf-8").encode("cp932")
    parsed = parse_logo_csv(b"\xef\xbb\xbf" + b"\r\n".join(lines), MAPPING)
    assert [e.line for e in parsed.errors] == [3]


def test_a_nul_byte_is_refused_at_its_line(record: dict[str, Any]) -> None:
    lines = _export_lines(record, 3)
    lines[2] = lines[2].replace("新宿".encode(), b"\x00", 1)
    parsed = parse_logo_csv(b"\r\n".join(lines), MAPPING)
    assert [e.line for e in parsed.errors] == [3]
    assert "NUL" in parsed.errors[0].message


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("1" + "0" * 21, "金額1の金額が大きすぎます"),
        ("1" * 5000, "金額1の金額の形式が正しくありません（例: 32000、32,000円）"),
        ("10,000,001", "金額1：金額が上限（10,000,000円）を超えています"),
    ],
)
def test_an_amount_beyond_the_maximum_is_reported_with_its_column(
    record: dict[str, Any], written: str, message: str
) -> None:
    parsed = parse_cells(online(record), 金額1=written)
    assert parsed.records == ()
    assert parsed.errors == (LineError(2, "金額1", message),)


@pytest.mark.parametrize(
    ("header", "written"),
    [
        ("口座番号", "١٢٣٤٥٦٧"),
        ("口座番号", "१२३४५६७"),
        ("金融機関コード", "٠٠٠١"),
        ("支店コード", "३३३"),
        ("生年月日", "١٩٨٠/٠١/٠٢"),
        ("電話番号", "٠٣-١٢٣٤-٥٦٧٨"),
        ("郵便番号", "١٦٠-٠٠٢٣"),
        ("回答ID", "١٠٠٠٠٠٠٠٠١"),
    ],
)
def test_digits_of_other_scripts_are_refused_in_every_identifying_column(
    record: dict[str, Any], header: str, written: str
) -> None:
    parsed = parse_cells(online(record), **{header: written})
    assert parsed.records == ()
    assert [e.column for e in parsed.errors] == [header]


def test_full_width_account_digits_are_read_as_ascii(record: dict[str, Any]) -> None:
    parsed = parse_cells(online(record), 口座番号="１２３４５６７")
    assert only_record(parsed)["bank_account"]["number"] == "１２３４５６７"  # as written
    account = parse_application(only_record(parsed)).bank_account
    assert account is not None and account.number == "1234567"


@pytest.mark.parametrize(
    ("header", "limit"), [("氏名", 100), ("住所", 200), ("品名1", 200), ("口座名義（カナ）", 100)]
)
def test_a_text_beyond_its_limit_is_reported_without_repeating_it(
    record: dict[str, Any], header: str, limit: int
) -> None:
    parsed = parse_cells(online(record), **{header: "長" * (limit + 1)})
    [error] = parsed.errors
    assert (error.line, error.column) == (2, header)
    assert f"{limit}文字以内" in error.message and "長長" not in error.message


def test_a_long_unknown_item_label_is_not_repeated(record: dict[str, Any]) -> None:
    parsed = parse_cells(online(record), 購入品目1="防" * 5000)
    assert parsed.errors == (
        LineError(2, "購入品目1", "購入品目1の品目は対象の品目一覧にありません"),
    )


def test_an_overlong_answer_id_is_refused_naming_its_column(record: dict[str, Any]) -> None:
    parsed = parse_cells(online(record), 回答ID="1" * 65)
    assert [(e.column, e.message) for e in parsed.errors] == [("回答ID", "回答IDは64文字以内です")]
