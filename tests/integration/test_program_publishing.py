"""A new program published in a real OpenBao with the operator's token (key administrator and
publisher): its keys made, the services' policies covering it (and nothing more), and
nothing else in reach: no policy of its own, no plaintext, never the checkpoint key."""

from __future__ import annotations

import base64
import uuid

import hvac
import hvac.exceptions
import pytest

from subsidy_platform.crypto import key_name
from subsidy_platform.errors import AccessDenied
from subsidy_platform.program_keys import publish_program, republish
from subsidy_platform.vault import CHECKPOINT_KEY, PUBLISHER, policy_name, programs_with_keys

OPERATOR = ("subsidy-key-admin", policy_name(PUBLISHER))


def token_of(admin: hvac.Client, *policies: str) -> hvac.Client:
    created = admin.auth.token.create(policies=list(policies), no_default_policy=True, ttl="1h")
    return hvac.Client(url=admin.url, token=created["auth"]["client_token"])


def encrypt(client: hvac.Client, key: str) -> str:
    plaintext = base64.b64encode("新宿 太郎".encode()).decode()
    answer = client.adapter.post(f"/v1/transit/encrypt/{key}", json={"plaintext": plaintext})
    return str(answer["data"]["ciphertext"])


def decrypt(client: hvac.Client, key: str, ciphertext: str) -> str:
    answer = client.adapter.post(f"/v1/transit/decrypt/{key}", json={"ciphertext": ciphertext})
    return base64.b64decode(answer["data"]["plaintext"]).decode()


@pytest.fixture
def program() -> str:
    return f"meguro-{uuid.uuid4().hex[:8]}"


def test_a_published_program_is_served_by_exactly_the_services_that_need_its_keys(
    vault_admin_client: hvac.Client, vault_tokens: dict[str, str], program: str
) -> None:
    publisher = token_of(vault_admin_client, *OPERATOR)
    intake = hvac.Client(url=vault_admin_client.url, token=vault_tokens["intake"])
    payments = hvac.Client(url=vault_admin_client.url, token=vault_tokens["payments"])
    review = hvac.Client(url=vault_admin_client.url, token=vault_tokens["review"])
    with pytest.raises(hvac.exceptions.Forbidden):
        encrypt(intake, key_name(program, "contact"))  # not yet published

    published = publish_program(publisher, program)
    assert set(published.keys_created) == {
        key_name(program, purpose) for purpose in ("contact", "bank", "index")
    }
    assert program in published.programs and "shinjuku-2025" in published.programs
    sealed = encrypt(intake, key_name(program, "bank"))
    assert decrypt(payments, key_name(program, "bank"), sealed) == "新宿 太郎"
    with pytest.raises(hvac.exceptions.Forbidden):
        decrypt(review, key_name(program, "bank"), sealed)  # review never reads bank data
    with pytest.raises(hvac.exceptions.Forbidden):
        decrypt(intake, key_name(program, "bank"), sealed)  # payments alone decrypts it
    again = publish_program(publisher, program)  # a retried reconcile: nothing new
    assert again.keys_created == ()


def test_the_operator_can_neither_grant_itself_nor_read_plaintext_nor_touch_the_checkpoint_key(
    vault_admin_client: hvac.Client, program: str
) -> None:
    operator = token_of(vault_admin_client, *OPERATOR)
    publish_program(operator, program)
    for policy in ("subsidy-key-admin", policy_name(PUBLISHER), "subsidy-audit-checkpoint"):
        with pytest.raises(hvac.exceptions.Forbidden):
            operator.sys.create_or_update_acl_policy(name=policy, policy='path "*" {}')
    key = key_name(program, "bank")
    with pytest.raises(hvac.exceptions.Forbidden):
        encrypt(operator, key)
    with pytest.raises(hvac.exceptions.Forbidden):
        operator.adapter.get(f"/v1/transit/export/encryption-key/{key}")
    with pytest.raises(hvac.exceptions.Forbidden):
        operator.adapter.post(f"/v1/transit/keys/{CHECKPOINT_KEY}/rotate")
    publisher_alone = token_of(vault_admin_client, policy_name(PUBLISHER))
    with pytest.raises(AccessDenied):
        publish_program(publisher_alone, f"{program}-x")  # keys are the key admin's to make


def test_the_key_administrator_shreds_any_program_but_never_the_checkpoint_key(
    vault_admin_client: hvac.Client, program: str
) -> None:
    publish_program(token_of(vault_admin_client, *OPERATOR), program)
    admin = token_of(vault_admin_client, "subsidy-key-admin")
    for purpose in ("contact", "bank", "index"):
        key = key_name(program, purpose)
        admin.adapter.post(f"/v1/transit/keys/{key}/config", json={"deletion_allowed": True})
        admin.adapter.delete(f"/v1/transit/keys/{key}")
    assert program not in programs_with_keys(vault_admin_client)
    assert program not in republish(token_of(vault_admin_client, policy_name(PUBLISHER)))
    intake_policy = vault_admin_client.sys.read_policy(name="subsidy-intake")["data"]["rules"]
    assert key_name(program, "contact") not in intake_policy
    with pytest.raises(hvac.exceptions.Forbidden):
        admin.adapter.post(
            f"/v1/transit/keys/{CHECKPOINT_KEY}/config", json={"deletion_allowed": True}
        )
    with pytest.raises(hvac.exceptions.Forbidden):
        admin.adapter.delete(f"/v1/transit/keys/{CHECKPOINT_KEY}")
