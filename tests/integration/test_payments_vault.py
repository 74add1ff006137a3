"""Bank details are decrypted by payments alone: over the generated Vault policies, and on a
real OpenBao with each service's own token (intake encrypts bank details but is refused
their decryption, as are review and notices; payments decrypts them)."""

from __future__ import annotations

from pathlib import Path

import hvac
import pytest
from intake_support import PROGRAM

from subsidy_platform.crypto import DataClass, FieldCipher
from subsidy_platform.declaration import declarations
from subsidy_platform.errors import AccessDenied
from subsidy_platform.vault import policy_documents

POLICIES = Path(__file__).resolve().parents[2] / "k8s" / "vault" / "policies"
PROGRAMS = ("annaka-seniors", "chuo-2025", "minato-standing", "setagaya-2025", "shinjuku-2025")


def test_only_the_payments_policy_may_decrypt_the_bank_class() -> None:
    for path in sorted(POLICIES.glob("*.hcl")):
        if path.stem == "key-admin":
            continue  # rotation and rewrap: plaintext never leaves Vault
        text = path.read_text()
        for program in PROGRAMS:
            grant = f'path "transit/decrypt/subsidy-{program}-bank"'
            assert (grant in text) == (path.stem == "payments"), (path.name, program)
    assert (
        "transit/datakey/plaintext/subsidy-shinjuku-2025-bank"
        in (POLICIES / "intake.hcl").read_text()
    )  # intake still encrypts bank details
    documents = policy_documents(PROGRAMS)
    bank_readers = [
        name
        for name, document in documents.items()
        if 'transit/decrypt/subsidy-shinjuku-2025-bank"' in document and "key-admin" not in name
    ]
    assert bank_readers == ["subsidy-payments"]
    assert [d.name for d in declarations().values() if DataClass.BANK in d.decrypts] == ["payments"]


def test_on_openbao_intake_and_other_services_are_refused_a_bank_decrypt(
    vault_admin_client: hvac.Client, vault_tokens: dict[str, str]
) -> None:
    def cipher(service: str) -> FieldCipher:
        return FieldCipher(
            hvac.Client(url=vault_admin_client.url, token=vault_tokens[service]), PROGRAM
        )

    [sealed] = cipher("intake").encrypt(DataClass.BANK, ["1234567"])
    assert sealed is not None and "1234567" not in sealed
    for service in ("intake", "review", "notices"):
        if service not in vault_tokens:
            continue  # notices: once installed, its token is checked the same way
        with pytest.raises(AccessDenied):
            cipher(service).decrypt(DataClass.BANK, [sealed])
    assert cipher("payments").decrypt(DataClass.BANK, [sealed]) == ["1234567"]
    # and payments may not read contact details it never needs
    [contact] = cipher("intake").encrypt(DataClass.CONTACT, ["新宿 試験太郎"])
    with pytest.raises(AccessDenied):
        cipher("payments").decrypt(DataClass.CONTACT, [contact])
