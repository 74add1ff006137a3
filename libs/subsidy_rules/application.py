"""The application record, interchange format version 1 (schema/application.v1.json).

`parse_application` turns one decoded JSON object into an `Application` or raises
`FormatError` naming the first offending field with a JSON-path-like name
(`purchases[1].amount`) and a message. Parsing is strict: unknown keys, wrong types,
dates that are not `YYYY-MM-DD` and values outside the vocabularies are errors, so a
typo can never silently change an eligibility or an amount. Names, kana and phone
numbers are kept as written; normalisation is the normalisers' job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from subsidy_rules.items import Item

FORMAT_VERSION = 1
CHANNELS = ("online", "paper")
PURCHASE_KINDS = ("purchase", "installation")
ACCOUNT_TYPES = ("ordinary", "current", "savings")
PLEDGE_KEYS = ("not_antisocial", "no_tax_arrears", "consent_to_checks")

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
_ITEMS = {item.value: item for item in Item}


class FormatError(ValueError):
    """A record does not follow the interchange format; names the field and the problem."""

    def __init__(self, field: str, message: str, application_id: str | None = None) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.application_id = application_id


@dataclass(frozen=True, slots=True)
class Applicant:
    name: str
    name_kana: str
    birth_date: date
    postal_code: str
    address: str
    phone: str | None = None
    email: str | None = None


@dataclass(frozen=True, slots=True)
class Household:
    head_name: str | None = None
    relationship: str | None = None


@dataclass(frozen=True, slots=True)
class Purchase:
    item: Item
    kind: str
    amount: int
    purchased_on: date
    description: str | None = None
    points_used: int = 0


@dataclass(frozen=True, slots=True)
class BankAccount:
    bank_code: str
    branch_code: str
    type: str
    number: str
    holder_kana: str


@dataclass(frozen=True, slots=True)
class Pledges:
    not_antisocial: bool | None = None
    no_tax_arrears: bool | None = None
    consent_to_checks: bool | None = None


@dataclass(frozen=True, slots=True)
class Application:
    application_id: str
    channel: str
    received_on: date
    applicant: Applicant
    resident_registered: bool
    purchases: tuple[Purchase, ...]
    pledges: Pledges
    household: Household = Household()
    bank_account: BankAccount | None = None
    logo_answer_id: str | None = None


class _Reader:
    """Reads one JSON object under a path prefix, checking keys and types."""

    def __init__(self, obj: Any, path: str, allowed: tuple[str, ...]) -> None:
        if not isinstance(obj, dict):
            raise FormatError(path or "(record)", "オブジェクトではありません (must be an object)")
        for key in obj:
            if key not in allowed:
                raise FormatError(self._join(path, str(key)), "未定義の項目です (unknown key)")
        self.obj = obj
        self.path = path

    @staticmethod
    def _join(path: str, key: str) -> str:
        return f"{path}.{key}" if path else key

    def field(self, key: str) -> str:
        return self._join(self.path, key)

    def has(self, key: str) -> bool:
        return self.obj.get(key) is not None

    def raw(self, key: str) -> Any:
        if key not in self.obj or self.obj[key] is None:
            raise FormatError(self.field(key), "必須項目です (required)")
        return self.obj[key]

    def text(
        self, key: str, *, required: bool = True, pattern: re.Pattern[str] | None = None
    ) -> Any:
        if not required and not self.has(key):
            return None
        value = self.raw(key)
        if not isinstance(value, str):
            raise FormatError(self.field(key), "文字列ではありません (must be a string)")
        if not value.strip():
            raise FormatError(self.field(key), "空欄です (must not be empty)")
        if pattern is not None and not pattern.fullmatch(value):
            raise FormatError(
                self.field(key), f"形式が正しくありません (must match {pattern.pattern})"
            )
        return value

    def choice(self, key: str, choices: tuple[str, ...]) -> str:
        value = self.raw(key)
        if value not in choices:
            raise FormatError(
                self.field(key), f"値が正しくありません (must be one of {', '.join(choices)})"
            )
        return str(value)

    def day(self, key: str) -> date:
        value = self.raw(key)
        if not isinstance(value, str) or not _DATE.match(value):
            raise FormatError(
                self.field(key), "日付は YYYY-MM-DD で記入してください (must be YYYY-MM-DD)"
            )
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise FormatError(self.field(key), "存在しない日付です (not a calendar date)") from None

    def boolean(self, key: str, *, required: bool = True) -> Any:
        if not required and not self.has(key):
            return None
        value = self.raw(key)
        if not isinstance(value, bool):
            raise FormatError(
                self.field(key), "true または false で記入してください (must be a boolean)"
            )
        return value

    def yen(self, key: str, *, required: bool = True) -> int:
        if not required and not self.has(key):
            return 0
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise FormatError(
                self.field(key), "金額は整数（円）で記入してください (must be integer yen)"
            )
        if value < 0:
            raise FormatError(self.field(key), "金額が負の値です (must not be negative)")
        return value


_TOP = (
    "application_id",
    "channel",
    "received_on",
    "logo_answer_id",
    "applicant",
    "household",
    "resident_registered",
    "purchases",
    "bank_account",
    "pledges",
    "version",
)
_APPLICANT = ("name", "name_kana", "birth_date", "phone", "email", "postal_code", "address")
_PURCHASE = ("item", "kind", "amount", "purchased_on", "description", "points_used")
_BANK = ("bank_code", "branch_code", "type", "number", "holder_kana")
_POSTAL = re.compile(r"[0-9０-９]{3}[-－‐ー−]?[0-9０-９]{4}")
_BANK_CODE = re.compile(r"\d{4}")
_BRANCH_CODE = re.compile(r"\d{3}")
_ACCOUNT_NUMBER = re.compile(r"\d{1,7}")


def parse_application(obj: Any) -> Application:
    """Validate one decoded JSON record and build the `Application` it describes."""
    application_id = obj.get("application_id") if isinstance(obj, dict) else None
    readable_id = application_id if isinstance(application_id, str) else None
    try:
        return _parse(obj)
    except FormatError as error:
        error.application_id = readable_id
        raise


def _parse(obj: Any) -> Application:
    top = _Reader(obj, "", _TOP)
    if "version" in obj and obj["version"] != FORMAT_VERSION:
        raise FormatError("version", f"対応していない形式の版です (only version {FORMAT_VERSION})")
    a = _Reader(top.raw("applicant"), "applicant", _APPLICANT)
    applicant = Applicant(
        name=a.text("name"),
        name_kana=a.text("name_kana"),
        birth_date=a.day("birth_date"),
        postal_code=a.text("postal_code", pattern=_POSTAL),
        address=a.text("address"),
        phone=a.text("phone", required=False),
        email=a.text("email", required=False),
    )
    household = Household()
    if top.has("household"):
        h = _Reader(obj["household"], "household", ("head_name", "relationship"))
        household = Household(
            h.text("head_name", required=False), h.text("relationship", required=False)
        )
    raw_purchases = top.raw("purchases")
    if not isinstance(raw_purchases, list):
        raise FormatError("purchases", "配列ではありません (must be an array)")
    purchases = tuple(_purchase(p, f"purchases[{i}]") for i, p in enumerate(raw_purchases))
    bank = None
    if top.has("bank_account"):
        b = _Reader(obj["bank_account"], "bank_account", _BANK)
        bank = BankAccount(
            bank_code=b.text("bank_code", pattern=_BANK_CODE),
            branch_code=b.text("branch_code", pattern=_BRANCH_CODE),
            type=b.choice("type", ACCOUNT_TYPES),
            number=b.text("number", pattern=_ACCOUNT_NUMBER),
            holder_kana=b.text("holder_kana"),
        )
    p = _Reader(top.raw("pledges"), "pledges", PLEDGE_KEYS)
    pledges = Pledges(*(p.boolean(key, required=False) for key in PLEDGE_KEYS))
    return Application(
        application_id=top.text("application_id"),
        channel=top.choice("channel", CHANNELS),
        received_on=top.day("received_on"),
        applicant=applicant,
        resident_registered=top.boolean("resident_registered"),
        purchases=purchases,
        pledges=pledges,
        household=household,
        bank_account=bank,
        logo_answer_id=top.text("logo_answer_id", required=False),
    )


def _purchase(obj: Any, path: str) -> Purchase:
    r = _Reader(obj, path, _PURCHASE)
    item = _ITEMS.get(r.raw("item"))
    if item is None:
        raise FormatError(r.field("item"), "品目が語彙にありません (not in the item vocabulary)")
    amount = r.yen("amount")
    points = r.yen("points_used", required=False)
    if points > amount:
        raise FormatError(
            r.field("points_used"), "ポイント等の利用額が金額を超えています (exceeds amount)"
        )
    return Purchase(
        item=item,
        kind=r.choice("kind", PURCHASE_KINDS),
        amount=amount,
        purchased_on=r.day("purchased_on"),
        description=r.text("description", required=False),
        points_used=points,
    )
