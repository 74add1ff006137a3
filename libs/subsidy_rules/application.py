"""The application record, interchange format version 1 (schema/application.v1.json).

`parse_application` turns one decoded JSON object into an `Application` or raises
`FormatError` naming the first offending field with a JSON-path-like name
(`purchases[1].amount`) and a message. Parsing is strict: unknown keys, wrong types,
dates that are not `YYYY-MM-DD` and values outside the vocabularies are errors, so a
typo can never silently change an eligibility or an amount. Names, kana and phone
numbers are kept as written; normalisation is the normalisers' job.

Limits (hardening: every field a caller controls is bounded here, before any work):

- every text has a maximum length (`TEXT_LIMITS`, in characters) and holds no control
  character (C0, DEL, C1), no lone surrogate and no line or paragraph separator; the
  free texts that may span lines (the address, a purchase's description) may hold tabs
  and line breaks;
- numbers that identify (bank and branch codes, account number, postal code, phone,
  LoGo answer id, dates) are ASCII digits, or full-width digits which are folded to
  ASCII (bank and branch codes, account number, LoGo answer id); digits of other scripts
  (٣, ३, ...) are refused, so they cannot escape a duplicate key;
- an amount is at most `MAX_PURCHASE_YEN` per purchase, the purchases of one application
  at most `MAX_APPLICATION_YEN` together, and there are at most `MAX_PURCHASES` of them.

Messages are Japanese for staff (an English hint in parentheses after some): they name
the field and the limit, and name a wrong code-like value (the unknown item, the bad
postal code, a choice not offered, a date) only through `shown`: when it is short and
printable, quoted as 「value」, otherwise not at all. Names, addresses, phone and
account numbers and birth dates are never repeated; no message shows a regular
expression.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Any

from subsidy_rules.items import Item

FORMAT_VERSION = 1
CHANNELS = ("online", "paper")
PURCHASE_KINDS = ("purchase", "installation", "shipping")
"""購入, 設置 (installation) and 送料 (shipping); a program may exclude a kind from the cost."""
ACCOUNT_TYPES = ("ordinary", "current", "savings")
PLEDGE_KEYS = ("not_antisocial", "no_tax_arrears", "consent_to_checks")

MAX_PURCHASE_YEN = 10_000_000
"""The most one purchase (購入・設置の1件) may cost: above it, the amount is a typo or worse."""
MAX_APPLICATION_YEN = 100_000_000
"""The most the purchases of one application may cost together."""
MAX_PURCHASES = 20
"""The most purchases one application may list (LoGo's form has 10 groups)."""
MAX_ID = 64
"""Application ids and LoGo answer ids: at most 64 characters."""
TEXT_LIMITS: dict[str, int] = {
    "application_id": MAX_ID,
    "logo_answer_id": MAX_ID,
    "applicant.name": 100,
    "applicant.name_kana": 100,
    "applicant.phone": 24,
    "applicant.email": 254,
    "applicant.postal_code": 10,
    "applicant.address": 200,
    "household.head_name": 100,
    "household.relationship": 50,
    "purchases[].description": 200,
    "bank_account.holder_kana": 100,
}
"""The longest each text may be, in characters (Unicode code points)."""

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ITEMS = {item.value: item for item in Item}
# Never in a text: C0 and C1 controls, DEL, lone surrogates, line/paragraph separators.
_FORBIDDEN_IN_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
# Texts that may span lines (address, description) may hold tabs and line breaks.
_FORBIDDEN_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_FULLWIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")
_SHOWN_KEY = re.compile(r"[A-Za-z0-9_]{1,40}")
MAX_SHOWN = 24
"""A wrong value is repeated in a message only up to this many characters."""


_SHOWABLE = re.compile("[\x20-\x7e\u3000-\u30ff\u4e00-\u9fff\uff01-\uff5e]+")
"""What a repeated value may hold: ASCII, full-width forms, kana, kanji (no other script's
digits, no invisible or direction-changing characters)."""


def shown(value: Any) -> str:
    """「value」 for a message when it is a short text of ordinary characters, else ""
    (never a long or odd value; the rules library's counterpart of `limits.shown`)."""
    if isinstance(value, str) and len(value) <= MAX_SHOWN and _SHOWABLE.fullmatch(value):
        return f"「{value}」"
    return ""


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
                shown = key if isinstance(key, str) and _SHOWN_KEY.fullmatch(key) else "(key)"
                raise FormatError(self._join(path, shown), "未定義の項目です (unknown key)")
        self.obj = obj
        self.path = path
        self.limits_path = re.sub(r"\[\d+\]", "[]", path)

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
        self,
        key: str,
        *,
        required: bool = True,
        pattern: re.Pattern[str] | None = None,
        lines: bool = False,
        problem: str = "形式が正しくありません",  # "{value}": where 「value」 goes
        show: bool = False,
    ) -> Any:
        """A text within its limit (`TEXT_LIMITS`), without forbidden characters; `lines`:
        tabs and line breaks are allowed."""
        if not required and not self.has(key):
            return None
        value = self.raw(key)
        if not isinstance(value, str):
            raise FormatError(self.field(key), "文字列ではありません (must be a string)")
        limit = TEXT_LIMITS[self._join(self.limits_path, key)]
        if len(value) > limit:
            raise FormatError(
                self.field(key),
                f"{limit}文字以内で記入してください (at most {limit} characters)",
            )
        if (_FORBIDDEN_IN_TEXT if lines else _FORBIDDEN_IN_LINE).search(value):
            raise FormatError(
                self.field(key),
                "制御文字など使えない文字が含まれています (control characters are not allowed)",
            )
        if not value.strip():
            raise FormatError(self.field(key), "空欄です (must not be empty)")
        if pattern is not None and not pattern.fullmatch(value):
            quoted = shown(value) if show else ""
            raise FormatError(self.field(key), problem.replace("{value}", quoted))
        return value

    def digits(
        self, key: str, pattern: re.Pattern[str], label: str, form: str, *, show: bool = True
    ) -> str:
        """A code of ASCII digits (full-width digits folded to ASCII); other digits refused.
        `label` names the code, `form` the expected form (4桁の半角数字)."""
        value = self.raw(key)
        if not isinstance(value, str):
            raise FormatError(self.field(key), "文字列ではありません (must be a string)")
        folded = value.translate(_FULLWIDTH_DIGITS) if len(value) <= 16 else value
        if not pattern.fullmatch(folded):
            raise FormatError(
                self.field(key),
                f"{label}{shown(value) if show else ''}の形式が正しくありません"
                f"（{form}で記入してください）",
            )
        return folded

    def choice(self, key: str, choices: tuple[str, ...]) -> str:
        value = self.raw(key)
        if not isinstance(value, str) or value not in choices:
            raise FormatError(
                self.field(key),
                f"{shown(value) or '値'}は選べません（{'、'.join(choices)} のいずれか）",
            )
        return value

    def day(self, key: str, *, show: bool = True) -> date:
        """A `YYYY-MM-DD` calendar date; `show`: the wrong value may be repeated (not for
        a birth date)."""
        value = self.raw(key)
        quoted = shown(value) if show else ""
        if not isinstance(value, str) or not _DATE.fullmatch(value):
            raise FormatError(
                self.field(key),
                f"日付{quoted}は YYYY-MM-DD で記入してください (must be YYYY-MM-DD)",
            )
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise FormatError(
                self.field(key), f"{quoted or '日付'}は存在しない日付です (not a calendar date)"
            ) from None

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
        if value > MAX_PURCHASE_YEN:
            raise FormatError(
                self.field(key),
                f"金額が上限（{MAX_PURCHASE_YEN:,}円）を超えています "
                f"(at most {MAX_PURCHASE_YEN} yen)",
            )
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
# Digits (ASCII or full-width), plus signs, hyphen look-alikes, parentheses and spaces.
_PHONE = re.compile(r"[0-9０-９+＋()（）\-－‐‑–—―−ー 　]+")
_BANK_CODE = re.compile(r"[0-9]{4}")
_BRANCH_CODE = re.compile(r"[0-9]{3}")
_ACCOUNT_NUMBER = re.compile(r"[0-9]{1,7}")
_ANSWER_ID = re.compile(r"[0-9A-Za-z_\-]+")


def parse_application(obj: Any) -> Application:
    """Validate one decoded JSON record and build the `Application` it describes."""
    application_id = obj.get("application_id") if isinstance(obj, dict) else None
    readable_id = (
        application_id
        if isinstance(application_id, str)
        and len(application_id) <= MAX_ID
        and not _FORBIDDEN_IN_LINE.search(application_id)
        else None
    )
    try:
        return _parse(obj)
    except FormatError as error:
        error.application_id = readable_id
        raise


def _parse(obj: Any) -> Application:
    top = _Reader(obj, "", _TOP)
    if "version" in obj and (type(obj["version"]) is not int or obj["version"] != FORMAT_VERSION):
        raise FormatError("version", f"対応していない形式の版です (only version {FORMAT_VERSION})")
    a = _Reader(top.raw("applicant"), "applicant", _APPLICANT)
    applicant = Applicant(
        name=a.text("name"),
        name_kana=a.text("name_kana"),
        birth_date=a.day("birth_date", show=False),
        postal_code=a.text(
            "postal_code",
            pattern=_POSTAL,
            problem="郵便番号{value}の形式が正しくありません（7桁の数字、例: 160-0023）",
            show=True,
        ),
        address=a.text("address", lines=True),
        phone=a.text(
            "phone",
            required=False,
            pattern=_PHONE,
            problem="電話番号に使えない文字があります（数字・ハイフン・括弧・空白のみ）",
        ),
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
    if len(raw_purchases) > MAX_PURCHASES:
        raise FormatError(
            "purchases",
            f"購入は{MAX_PURCHASES}件までです (at most {MAX_PURCHASES} purchases)",
        )
    purchases = tuple(_purchase(p, f"purchases[{i}]") for i, p in enumerate(raw_purchases))
    if sum(p.amount for p in purchases) > MAX_APPLICATION_YEN:
        raise FormatError(
            "purchases",
            f"金額の合計が上限（{MAX_APPLICATION_YEN:,}円）を超えています "
            f"(at most {MAX_APPLICATION_YEN} yen in all)",
        )
    bank = None
    if top.has("bank_account"):
        b = _Reader(obj["bank_account"], "bank_account", _BANK)
        bank = BankAccount(
            bank_code=b.digits("bank_code", _BANK_CODE, "金融機関コード", "4桁の半角数字"),
            branch_code=b.digits("branch_code", _BRANCH_CODE, "支店コード", "3桁の半角数字"),
            type=b.choice("type", ACCOUNT_TYPES),
            number=b.digits("number", _ACCOUNT_NUMBER, "口座番号", "7桁以内の半角数字", show=False),
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
        logo_answer_id=_answer_id(top),
    )


def _answer_id(top: _Reader) -> str | None:
    """The LoGo answer id: ASCII letters, digits, _ and - (full-width forms folded)."""
    value = top.text("logo_answer_id", required=False)
    if value is None:
        return None
    folded = unicodedata.normalize("NFKC", value)
    if not _ANSWER_ID.fullmatch(folded):
        raise FormatError(
            "logo_answer_id",
            f"回答ID{shown(value)}に使えない文字があります（半角英数字・_・- で記入してください）",
        )
    return folded


def _purchase(obj: Any, path: str) -> Purchase:
    r = _Reader(obj, path, _PURCHASE)
    raw_item = r.raw("item")
    item = _ITEMS.get(raw_item) if isinstance(raw_item, str) else None
    if item is None:
        raise FormatError(
            r.field("item"),
            f"品目{shown(raw_item)}は品目コードの一覧にありません"
            "（security_camera、camera_intercom などで記入してください）",
        )
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
        description=r.text("description", required=False, lines=True),
        points_used=points,
    )
