"""The LoGo CSV vocabulary: what kind of answer each v1 field holds, and answer words.

Field paths are those of the interchange format v1 (libs/subsidy_rules/application.py);
the kind picks the cell reader (cells) and writer (writer). The answer words are what
LoGoフォーム exports and people type for items (besides the labels of
subsidy_rules.items), purchase kinds, account types, yes/no and checkboxes.
"""

from __future__ import annotations

import re

from subsidy_rules.items import Item

# What kind of answer each v1 field holds; the kind picks the reader and the writer.
_FIELD_KINDS: dict[str, str] = {
    "logo_answer_id": "answer_id",
    "received_on": "datetime",
    "applicant.name": "text",
    "applicant.name_kana": "text",
    "applicant.birth_date": "date",
    "applicant.phone": "text",
    "applicant.email": "text",
    "applicant.postal_code": "text",
    "applicant.address": "text",
    "household.head_name": "text",
    "household.relationship": "text",
    "resident_registered": "yes_no",
    "bank_account.bank_code": "code4",
    "bank_account.branch_code": "code3",
    "bank_account.type": "account_type",
    "bank_account.number": "text",
    "bank_account.holder_kana": "text",
    "pledges.not_antisocial": "checkbox",
    "pledges.no_tax_arrears": "checkbox",
    "pledges.consent_to_checks": "checkbox",
}
_PURCHASE_FIELD_KINDS: dict[str, str] = {
    "item": "item",
    "kind": "kind",
    "amount": "yen",
    "purchased_on": "date",
    "description": "text",
    "points_used": "yen",
}
_PURCHASE_TARGET = re.compile(r"purchases\[(\d+)\]\.([a-z_]+)")
_REQUIRED_FIELDS = ("logo_answer_id", "received_on")

_ITEM_SYNONYMS: dict[str, Item] = {
    "監視カメラ": Item.SECURITY_CAMERA,
    "防犯ビデオカメラ": Item.SECURITY_CAMERA,
    "カメラ付インターホン": Item.CAMERA_INTERCOM,
    "カメラ付きインターフォン": Item.CAMERA_INTERCOM,
    "カメラ付インターフォン": Item.CAMERA_INTERCOM,
    "テレビドアホン": Item.CAMERA_INTERCOM,
    "テレビインターホン": Item.CAMERA_INTERCOM,
    "モニター付きインターホン": Item.CAMERA_INTERCOM,
    "モニター付インターホン": Item.CAMERA_INTERCOM,
    "録画機能付きインターホン": Item.CAMERA_INTERCOM,
    "人感センサーライト": Item.SENSOR_LIGHT,
    "防犯ライト": Item.SENSOR_LIGHT,
    "防犯用フィルム": Item.SECURITY_FILM,
    "ガラス用防犯フィルム": Item.SECURITY_FILM,
    "補助鍵": Item.AUXILIARY_LOCK,
    "補助ロック": Item.AUXILIARY_LOCK,
    "窓用補助鍵": Item.WINDOW_LOCK,
    "玄関鍵": Item.DOOR_LOCK,
    "玄関ドア錠": Item.DOOR_LOCK,
    "防犯アラーム": Item.SENSOR_ALARM,
    "窓格子": Item.WINDOW_GRILLE,
    "自動通話録音装置": Item.CALL_BLOCKING_PHONE,
    "迷惑電話防止機能付き電話": Item.CALL_BLOCKING_PHONE,
    "自動通話録音機・迷惑電話防止機能付き電話": Item.CALL_BLOCKING_PHONE,
}
_KINDS = {"購入": "purchase", "設置": "installation", "取付": "installation",
          "取付け": "installation", "取り付け": "installation", "設置工事": "installation",
          "取付工事": "installation", "送料": "shipping", "配送料": "shipping"}  # fmt: skip
_KIND_LABELS = {"purchase": "購入", "installation": "設置", "shipping": "送料"}
_ACCOUNT_TYPES = {"普通": "ordinary", "普通預金": "ordinary", "総合": "ordinary",
                  "当座": "current", "当座預金": "current", "貯蓄": "savings",
                  "貯蓄預金": "savings"}  # fmt: skip
_ACCOUNT_TYPE_LABELS = {"ordinary": "普通", "current": "当座", "savings": "貯蓄"}
_YES = frozenset({"はい", "有", "あり"})
_NO = frozenset({"いいえ", "無", "なし"})
_CHECKED = frozenset({"はい", "同意する", "同意します", "誓約する", "誓約します", "チェック済",
                      "チェック済み", "✓", "✔", "○", "〇"})  # fmt: skip
_UNCHECKED = frozenset({"いいえ", "同意しない", "同意しません"})
