"""Shared fixtures: a valid synthetic application record in format v1."""

from __future__ import annotations

import copy
from typing import Any

import pytest

BASE_RECORD: dict[str, Any] = {
    "application_id": "S2025-000001",
    "channel": "online",
    "received_on": "2025-06-10",
    "logo_answer_id": "1000000001",
    "applicant": {
        "name": "新宿 太郎",
        "name_kana": "シンジュク タロウ",
        "birth_date": "1980-01-02",
        "phone": "03-1234-5678",
        "email": "taro@example.jp",
        "postal_code": "160-0023",
        "address": "東京都新宿区西新宿二丁目8番1号 テストハイツ101号室",
    },
    "household": {"head_name": "新宿 太郎", "relationship": "本人"},
    "resident_registered": True,
    "purchases": [
        {
            "item": "security_camera",
            "kind": "purchase",
            "amount": 32000,
            "purchased_on": "2025-05-01",
        }
    ],
    "bank_account": {
        "bank_code": "0001",
        "branch_code": "001",
        "type": "ordinary",
        "number": "1234567",
        "holder_kana": "シンジユク タロウ",
    },
    "pledges": {"not_antisocial": True, "no_tax_arrears": True, "consent_to_checks": True},
}


@pytest.fixture
def record() -> dict[str, Any]:
    """A fresh copy of an eligible Shinjuku application (synthetic person)."""
    return copy.deepcopy(BASE_RECORD)
