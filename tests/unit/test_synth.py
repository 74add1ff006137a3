"""The synthetic application generator: determinism, validity, planted shares, truth."""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter, defaultdict
from datetime import date
from itertools import islice

import pytest
import zengin_code

from subsidy_rules.application import FormatError, parse_application
from subsidy_rules.items import Item
from subsidy_rules.normalize.kana import zengin_kana
from subsidy_rules.synth import (
    DEFECTS,
    DUPLICATE_KINDS,
    MALFORMED,
    PURCHASES_FROM,
    SHINJUKU_ITEMS,
    SyntheticApplication,
    generate,
    truth_pairs,
)
from subsidy_rules.synth.pools import _pools

N = 5_000
SEED = 20250501
START, END = date(2025, 5, 1), date(2026, 1, 31)
_DASHES = str.maketrans({c: "-" for c in "‐ー−－―"})


@pytest.fixture(scope="module")
def apps() -> list[SyntheticApplication]:
    return list(generate(N, SEED))


def _kind(app: SyntheticApplication) -> str:
    return app.defects[0] if app.defects else (app.duplicate_kind or "clean")


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).translate(_DASHES)


def _digits(text: str) -> str:
    return re.sub(r"\D", "", _norm(text))


def _account(app: SyntheticApplication) -> tuple[str, str, str] | None:
    bank = app.record.get("bank_account")
    if not bank:
        return None
    return bank["bank_code"], bank["branch_code"], bank["number"].lstrip("0")


def test_same_seed_same_records_other_seed_other_records() -> None:
    assert list(generate(300, 7)) == list(generate(300, 7))
    assert [a.record for a in generate(50, 7)] != [a.record for a in generate(50, 8)]


def test_prefix_is_stable_whatever_the_count() -> None:
    assert list(generate(10, 3)) == list(islice(generate(100, 3), 10))
    assert list(generate(100, 3)) == list(islice(generate(1_000, 3), 100))


def test_count_zero_and_negative() -> None:
    assert list(generate(0, 1)) == []
    with pytest.raises(ValueError):
        list(generate(-1, 1))


def test_records_are_json_ready_with_unique_ids(apps: list[SyntheticApplication]) -> None:
    ids = [a.record["application_id"] for a in apps]
    assert len(set(ids)) == N
    for app in apps[:500]:
        assert json.loads(json.dumps(app.record, ensure_ascii=False)) == app.record


def test_only_malformed_records_fail_to_parse(apps: list[SyntheticApplication]) -> None:
    for app in apps:
        if set(app.defects) & set(MALFORMED):
            with pytest.raises(FormatError):
                parse_application(app.record)
        else:
            parsed = parse_application(app.record)
            assert parsed.application_id == app.record["application_id"]


def test_planted_shares_are_within_bounds(apps: list[SyntheticApplication]) -> None:
    kinds = Counter(_kind(a) for a in apps)
    duplicates = sum(kinds[k] for k in DUPLICATE_KINDS)
    malformed = sum(kinds[k] for k in MALFORMED)
    defects = sum(kinds[k] for k in DEFECTS) - malformed
    assert 0.03 * N <= duplicates <= 0.055 * N
    assert 0.035 * N <= defects <= 0.075 * N
    assert 0.001 * N <= malformed <= 0.01 * N
    assert all(kinds[k] > 0 for k in (*DEFECTS, *DUPLICATE_KINDS)), kinds
    online = sum(a.record["channel"] == "online" for a in apps)
    assert 0.62 * N <= online <= 0.78 * N


def test_clean_originals_are_eligible_looking(apps: list[SyntheticApplication]) -> None:
    banks = zengin_code.Bank.all
    for app in apps:
        if app.defects:
            continue
        record = parse_application(app.record)
        assert START <= record.received_on <= END
        assert record.resident_registered
        assert (
            "新宿区" in app.record["applicant"]["address"]
            or "東京都" not in (app.record["applicant"]["address"])
        )
        assert any(p.item in SHINJUKU_ITEMS for p in record.purchases)
        assert all(PURCHASES_FROM <= p.purchased_on <= record.received_on for p in record.purchases)
        assert sum(p.amount - p.points_used for p in record.purchases) >= 2_000
        assert all(1_000 <= p.amount <= 80_000 and p.amount % 10 == 0 for p in record.purchases)
        assert record.pledges.not_antisocial and record.pledges.no_tax_arrears
        assert record.pledges.consent_to_checks
        assert record.bank_account is not None
        assert record.bank_account.branch_code in banks[record.bank_account.bank_code].branches
        assert len(record.bank_account.number) in range(1, 8)
        assert (record.logo_answer_id is not None) == (record.channel == "online")
        if record.logo_answer_id is not None:
            assert re.fullmatch(r"\d{10}", record.logo_answer_id)
        if app.record.get("household"):
            assert record.household.relationship in {"本人", "妻", "夫", "子", "父", "母"}


def test_each_defect_is_what_it_says(apps: list[SyntheticApplication]) -> None:
    shinjuku_codes = {_digits(a.record["applicant"]["postal_code"]) for a in apps if not a.defects}
    banks = zengin_code.Bank.all
    for app in apps:
        if not app.defects or app.defects[0] in MALFORMED:
            continue
        (defect,) = app.defects
        record = parse_application(app.record)
        purchases = record.purchases
        if defect == "not_resident":
            assert not record.resident_registered
        elif defect == "outside_ward":
            assert _digits(record.applicant.postal_code) not in shinjuku_codes
            assert "新宿区" not in record.applicant.address
            assert "渋谷区" in record.applicant.address or "中野区" in record.applicant.address
        elif defect == "late_application":
            assert record.received_on > END
        elif defect == "purchase_before_period":
            assert all(p.purchased_on < PURCHASES_FROM for p in purchases)
        elif defect == "below_minimum":
            assert sum(p.amount for p in purchases) < 2_000
        elif defect == "ineligible_item_only":
            assert not any(p.item in SHINJUKU_ITEMS for p in purchases)
        elif defect == "missing_pledge":
            assert len(app.record["pledges"]) == 2
        elif defect == "tax_arrears":
            assert record.pledges.no_tax_arrears is False
        elif defect == "bad_bank_code":
            account = record.bank_account
            assert account is not None
            bank = banks.get(account.bank_code)
            assert bank is None or account.branch_code not in bank.branches
        else:  # pragma: no cover
            pytest.fail(f"unexpected defect {defect}")


def test_truth_pairs_include_every_planted_duplicate(apps: list[SyntheticApplication]) -> None:
    pairs = truth_pairs(apps)
    by_id = {a.record["application_id"]: a for a in apps}
    planted = [a for a in apps if a.planted_duplicate_of is not None]
    assert planted
    for dup in planted:
        original_id = dup.planted_duplicate_of
        assert original_id is not None
        assert frozenset((dup.record["application_id"], original_id)) in pairs
        original = by_id[original_id]
        assert original_id < dup.record["application_id"]
        assert original.record["received_on"] <= dup.record["received_on"]
        if dup.duplicate_kind in ("same_person", "logo_resubmit"):
            assert dup.person_id == original.person_id
        if dup.duplicate_kind == "household_member":
            assert dup.household_id == original.household_id
            assert dup.person_id != original.person_id
            assert (
                dup.record["applicant"]["birth_date"] != original.record["applicant"]["birth_date"]
            )
        if dup.duplicate_kind == "shared_account":
            assert dup.household_id != original.household_id
        if dup.duplicate_kind == "logo_resubmit":
            assert dup.record["logo_answer_id"] == original.record["logo_answer_id"]
        # Spelled differently from the original.
        spelled = (dup.record["applicant"]["name"], dup.record["applicant"]["address"])
        assert spelled != (
            original.record["applicant"]["name"],
            original.record["applicant"]["address"],
        )


def test_truth_pairs_are_explained_by_shared_truth(apps: list[SyntheticApplication]) -> None:
    by_id = {a.record["application_id"]: a for a in apps}
    pairs = truth_pairs(apps)
    for pair in pairs:
        a, b = (by_id[i] for i in pair)
        same_account = _account(a) is not None and _account(a) == _account(b)
        assert (
            a.household_id == b.household_id
            or a.person_id == b.person_id
            or same_account
            or a.record.get("logo_answer_id") == b.record.get("logo_answer_id")
        )
    # Unplanted originals never pair up by accident (ids, accounts and dwellings are unique).
    planted = {a.record["application_id"] for a in apps if a.planted_duplicate_of}
    planted |= {a.planted_duplicate_of for a in apps if a.planted_duplicate_of}
    assert all(pair & planted for pair in pairs)


def test_hard_negatives_exist(apps: list[SyntheticApplication]) -> None:
    clean = [a for a in apps if not a.defects and a.planted_duplicate_of is None]
    # Same building, different rooms, different households.
    rooms: dict[tuple[str, ...], set[tuple[str, int]]] = defaultdict(set)
    houses: dict[tuple[str, ...], set[tuple[int, int]]] = defaultdict(set)
    for app in clean:
        address = _norm(app.record["applicant"]["address"])
        postal = _digits(app.record["applicant"]["postal_code"])
        if match := re.search(r"(\D+?)\s*(\d{3,4})号室$", address):
            head = address[: match.start()]
            key = (postal, *re.findall(r"\d+", head), match.group(1).strip())
            rooms[key].add((match.group(2), app.household_id))
        elif re.search(r"[ぁ-んァ-ン]", address) is None and address[-1].isdigit():
            numbers = re.findall(r"\d+", address)
            if len(numbers) >= 2:
                houses[(postal, *numbers[:-1])].add((int(numbers[-1]), app.household_id))
    shared = [v for v in rooms.values() if len({room for room, _ in v}) > 1]
    assert any(len({household for _, household in v}) > 1 for v in shared)
    # Detached houses next door: same block, neighbouring numbers, different households.
    assert any(
        abs(x[0] - y[0]) == 1 and x[1] != y[1] for v in houses.values() for x in v for y in v
    )
    # Namesakes: same surname and given name, different birth dates, different people.
    births: dict[str, set[tuple[str, int]]] = defaultdict(set)
    for app in clean:
        name = re.sub(r"\s", "", _norm(app.record["applicant"]["name"]))
        births[name].add((app.record["applicant"]["birth_date"], app.person_id))
    assert sum(1 for v in births.values() if len({b for b, _ in v}) > 1) >= 20


def test_spelling_variations_are_present(apps: list[SyntheticApplication]) -> None:
    valid = [a for a in apps if not set(a.defects) & set(MALFORMED)]
    addresses = [a.record["applicant"]["address"] for a in valid]
    names = [a.record["applicant"]["name"] for a in valid]
    kana = [a.record["applicant"]["name_kana"] for a in valid]
    assert any(not a.startswith(("東京都", "新宿区")) for a in addresses)
    assert any("丁目" in a and "番" in a for a in addresses)
    assert any(re.search(r"[一二三四五六七八]丁目", a) for a in addresses)
    assert any(re.search(r"[０-９]", a) for a in addresses)
    assert any(re.search(r"\d[‐ー−―]\d", a) for a in addresses)
    assert any("号室" in a for a in addresses) and any("#" in a for a in addresses)
    assert any("　" in n for n in names) and any(" " in n for n in names)
    assert any(re.fullmatch(r"\S+", n) for n in names)
    assert any(re.search(r"[ｦ-ﾟ]", k) for k in kana)
    assert any(re.search(r"[ぁ-ゖ]", k) for k in kana)
    holders = [a.record["bank_account"]["holder_kana"] for a in valid]
    assert any(re.search(r"[ｦ-ﾟ]", h) for h in holders)
    assert not any(re.search(r"[ｧ-ｯ]", h) for h in holders)  # 全銀: small kana written large
    items = Counter(p["item"] for a in valid for p in a.record["purchases"])
    assert items[Item.SECURITY_CAMERA.value] > items[Item.SECURITY_FILM.value] > 0


def test_name_pools_are_large_weighted_as_in_japan_and_spellable() -> None:
    pools = _pools()
    assert len({name.kanji for name in pools.surnames}) >= 1_000
    assert min(len(pools.given[0]), len(pools.given[1])) >= 2_000
    # The published share of the most common surname (明治安田生命 2018: 佐藤 1.53 %).
    assert pools.surnames[0].kanji == "佐藤"
    assert pools.surname_cum[0] == pytest.approx(0.0153)
    for name in (*pools.surnames, *pools.given[0], *pools.given[1]):
        assert re.fullmatch(r"[ァ-ヶ]+", name.kata), name
        assert not re.search(r"[ァィゥェォッャュョヮヵヶ]", name.zengin), name
        assert zengin_kana(name.zengin) == zengin_kana(name.kata), name

    def share(sex: int, decade: int, ending: str) -> float:
        cum = (0.0, *pools.given_cum[sex][decade])
        names = pools.given[sex]
        return sum(cum[i + 1] - cum[i] for i, n in enumerate(names) if n.kanji.endswith(ending))

    # Girls' names in 子: most of those born in the 1940s, hardly any since the 1990s.
    assert share(1, 2, "子") > 0.6 and share(1, 8, "子") < 0.1
    assert share(0, 1, "夫") > share(0, 5, "夫") and share(0, 8, "翔") > share(0, 1, "翔")
