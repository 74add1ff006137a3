"""Notices' Vault policy, generated from its declaration and enforced by a real OpenBao:
contact details only (what a notice prints), never bank details."""

from __future__ import annotations

import hvac
import pytest

from subsidy_platform.crypto import DataClass, FieldCipher
from subsidy_platform.errors import AccessDenied
from subsidy_platform.vault import policy_documents

PROGRAM = "shinjuku-2025"


def _cipher(admin: hvac.Client, token: str) -> FieldCipher:
    return FieldCipher(hvac.Client(url=admin.url, token=token), PROGRAM)


def test_the_generated_notices_policy_names_contact_keys_only() -> None:
    policy = policy_documents([PROGRAM])["subsidy-notices"]
    assert f"transit/decrypt/subsidy-{PROGRAM}-contact" in policy
    assert "-bank" not in policy and "-index" not in policy and "hmac" not in policy


def test_the_notices_token_reads_contact_details_and_is_refused_bank_details(
    vault_admin_client: hvac.Client, vault_tokens: dict[str, str]
) -> None:
    intake = _cipher(vault_admin_client, vault_tokens["intake"])
    notices = _cipher(vault_admin_client, vault_tokens["notices"])
    [address, account] = [
        intake.encrypt(DataClass.CONTACT, ["東京都新宿区西新宿二丁目8番1号"])[0],
        intake.encrypt(DataClass.BANK, ["0001-001-1234567"])[0],
    ]
    assert notices.decrypt(DataClass.CONTACT, [address]) == ["東京都新宿区西新宿二丁目8番1号"]
    with pytest.raises(AccessDenied):
        notices.decrypt(DataClass.BANK, [account])
    with pytest.raises(AccessDenied):
        notices.encrypt(DataClass.BANK, ["0001-001-7654321"])
    with pytest.raises(AccessDenied):
        notices.blind_index("person", ["シンジュク ハナコ"])
