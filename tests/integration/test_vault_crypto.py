"""Field encryption against a real OpenBao: policies, modes, blind indexes, rotation, shredding."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path
from typing import Any

import hvac
import pytest

from subsidy_platform.crypto import (
    TRANSIT_BATCH_SIZE,
    CiphertextUnreadable,
    DataClass,
    FieldCipher,
    KeyUnavailable,
)
from subsidy_platform.declaration import declarations
from subsidy_platform.embedded import ensure_openbao, stop_openbao
from subsidy_platform.errors import AccessDenied, DependencyUnavailable
from subsidy_platform.vault import (
    CHECKPOINT_WRITER,
    TOKEN_TTL,
    policy_documents,
    policy_name,
    provision_vault,
    start_token_renewal,
)

PROGRAM = "shinjuku-2025"
MODES = ("transit", "envelope")
REPOSITORY = Path(__file__).resolve().parents[2]


def cipher(
    vault_admin_client: hvac.Client, token: str, program: str = PROGRAM, **options: str
) -> FieldCipher:
    client = hvac.Client(url=vault_admin_client.url, token=token)
    return FieldCipher(client, program, **options)  # type: ignore[arg-type]


def fresh_program(vault_admin_client: hvac.Client) -> tuple[str, dict[str, str]]:
    """A program of its own (rotation and shredding must not touch the shared one)."""
    program = f"test-{uuid.uuid4().hex[:10]}"
    return program, provision_vault(vault_admin_client, [program])


@pytest.mark.parametrize("mode", MODES)
def test_1200_values_survive_encryption_in_several_batches_and_come_back_in_order(
    vault_admin_client: hvac.Client, vault_tokens: dict[str, str], mode: str
) -> None:
    assert 2 * TRANSIT_BATCH_SIZE < 1200
    values: list[str | None] = [f"新宿 花子 {n:04d}" if n % 7 else None for n in range(1200)]
    values[1] = ""
    intake = cipher(vault_admin_client, vault_tokens["intake"], mode=mode)
    sealed = intake.encrypt(DataClass.CONTACT, values)
    assert [s is None for s in sealed] == [v is None for v in values]
    prefix = "vault:v1:" if mode == "transit" else "env:v1:"
    assert all(s.startswith(prefix) for s in sealed if s is not None)
    assert not any("花子" in s for s in sealed if s is not None)
    assert len({s for s in sealed if s is not None}) == sum(v is not None for v in values)
    assert intake.decrypt(DataClass.CONTACT, sealed) == values


@pytest.mark.parametrize("mode", MODES)
def test_only_the_payments_token_decrypts_bank_details_that_intake_encrypted(
    vault_admin_client: hvac.Client, vault_tokens: dict[str, str], mode: str
) -> None:
    intake = cipher(vault_admin_client, vault_tokens["intake"], mode=mode)
    [account] = intake.encrypt(DataClass.BANK, ["0001-001-1234567"])
    for service in ("review", "intake"):
        with pytest.raises(AccessDenied):
            cipher(vault_admin_client, vault_tokens[service]).decrypt(DataClass.BANK, [account])
    payments = cipher(vault_admin_client, vault_tokens["payments"])
    assert payments.decrypt(DataClass.BANK, [account]) == ["0001-001-1234567"]


@pytest.mark.parametrize("mode", MODES)
def test_review_may_read_and_write_contact_details_but_never_bank_details(
    vault_admin_client: hvac.Client, vault_tokens: dict[str, str], mode: str
) -> None:
    review = cipher(vault_admin_client, vault_tokens["review"], mode=mode)
    with pytest.raises(AccessDenied):
        review.encrypt(DataClass.BANK, ["0001-001-7654321"])
    [phone] = cipher(vault_admin_client, vault_tokens["intake"], mode=mode).encrypt(
        DataClass.CONTACT, ["03-1234-5678"]
    )
    assert review.decrypt(DataClass.CONTACT, [phone]) == ["03-1234-5678"]
    [note] = review.encrypt(DataClass.CONTACT, ["住所の番地が読めません"])
    assert review.decrypt(DataClass.CONTACT, [note]) == ["住所の番地が読めません"]


def test_a_blind_index_is_deterministic_per_program_and_differs_between_programs_and_kinds(
    vault_admin_client: hvac.Client, vault_tokens: dict[str, str]
) -> None:
    other_program, other_tokens = fresh_program(vault_admin_client)
    here = cipher(vault_admin_client, vault_tokens["intake"])
    there = cipher(vault_admin_client, other_tokens["intake"], other_program)
    phone = "03-1234-5678"
    first, again = here.blind_index("phone", [phone, phone])
    assert first == again == here.blind_index("phone", [phone])[0]
    assert len(first) == 64 and int(first, 16) >= 0
    assert here.blind_index("phone", ["０３-１２３４-５６７８ "]) == [first]
    assert there.blind_index("phone", [phone]) != [first]
    assert here.blind_index("logo_answer", [phone]) != [first]
    with pytest.raises(AccessDenied):  # only a service that declares blind indexes
        cipher(vault_admin_client, vault_tokens["review"]).blind_index("phone", [phone])


def test_rotation_and_rewrap_give_ciphertext_of_the_new_version_that_still_decrypts(
    vault_admin_client: hvac.Client,
) -> None:
    program, tokens = fresh_program(vault_admin_client)
    intake = cipher(vault_admin_client, tokens["intake"], program, mode="transit")
    keys = FieldCipher(vault_admin_client, program)
    values: list[str | None] = ["東京都新宿区西新宿二丁目8番1号", "新宿 太郎"]
    old = [v for v in intake.encrypt(DataClass.CONTACT, values) if v is not None]
    old += [v for v in keys.encrypt(DataClass.CONTACT, values) if v is not None]
    assert keys.rotate(DataClass.CONTACT) == 2
    renewed = keys.rewrap(DataClass.CONTACT, old)
    assert [r.split(":")[:2] for r in renewed] == [["vault", "v2"]] * 2 + [["env", "v2"]] * 2
    assert intake.decrypt(DataClass.CONTACT, list(renewed)) == values * 2
    assert intake.encrypt(DataClass.CONTACT, ["x"])[0].startswith("vault:v2:")  # type: ignore[union-attr]


def test_destroying_a_programs_keys_makes_its_ciphertext_unreadable(
    vault_admin_client: hvac.Client,
) -> None:
    program, tokens = fresh_program(vault_admin_client)
    intake = cipher(vault_admin_client, tokens["intake"], program)
    sealed = intake.encrypt(DataClass.CONTACT, ["新宿 太郎"])
    sealed += cipher(vault_admin_client, tokens["intake"], program, mode="transit").encrypt(
        DataClass.CONTACT, ["新宿 太郎"]
    )
    FieldCipher(vault_admin_client, program).destroy_program_keys()
    for value in sealed:
        with pytest.raises(KeyUnavailable):
            intake.decrypt(DataClass.CONTACT, [value])
    with pytest.raises(KeyUnavailable):
        intake.blind_index("phone", ["03-1234-5678"])
    FieldCipher(vault_admin_client, program).destroy_program_keys()


def test_altered_or_foreign_ciphertext_is_refused(
    vault_admin_client: hvac.Client, vault_tokens: dict[str, str]
) -> None:
    intake = cipher(vault_admin_client, vault_tokens["intake"])
    [envelope] = intake.encrypt(DataClass.CONTACT, ["新宿 太郎"])
    assert envelope is not None
    head, sealed = envelope.rsplit(":", 1)
    flipped = bytearray(base64.b64decode(sealed))
    flipped[-1] ^= 1
    for bad in (
        f"{head}:{base64.b64encode(bytes(flipped)).decode()}",
        "新宿 太郎",
        "vault:v1:AAAA",
    ):
        with pytest.raises(CiphertextUnreadable):
            intake.decrypt(DataClass.CONTACT, [bad])


def test_a_stopped_vault_makes_encryption_unavailable_and_never_returns_plaintext(
    tmp_path: Path,
) -> None:
    server = ensure_openbao(tmp_path)
    try:
        admin = hvac.Client(url=server.addr, token=server.root_token)
        tokens = provision_vault(admin, [PROGRAM])
        intake = {m: cipher(admin, tokens["intake"], mode=m) for m in MODES}
        sealed = intake["envelope"].encrypt(DataClass.CONTACT, ["新宿 太郎"])
    finally:
        stop_openbao(tmp_path)
    for mode in MODES:
        with pytest.raises(DependencyUnavailable):
            intake[mode].encrypt(DataClass.CONTACT, ["新宿 太郎"])
        with pytest.raises(DependencyUnavailable):
            intake[mode].decrypt(DataClass.CONTACT, sealed)
    with pytest.raises(DependencyUnavailable):
        intake["transit"].blind_index("phone", ["03-1234-5678"])


def test_provisioning_again_keeps_keys_and_reuses_the_stored_tokens(
    vault_admin_client: hvac.Client, vault_tokens: dict[str, str], tmp_path: Path
) -> None:
    token_dir = tmp_path / "tokens"
    first = provision_vault(vault_admin_client, [PROGRAM], token_dir=token_dir)
    [sealed] = cipher(vault_admin_client, first["intake"]).encrypt(DataClass.CONTACT, ["新宿 太郎"])
    second = provision_vault(vault_admin_client, [PROGRAM], token_dir=token_dir)
    assert second == first
    assert {p.name: p.stat().st_mode & 0o777 for p in token_dir.iterdir()} == dict.fromkeys(
        first, 0o600
    )
    assert cipher(vault_admin_client, vault_tokens["review"]).decrypt(
        DataClass.CONTACT, [sealed]
    ) == ["新宿 太郎"]


def test_the_kubernetes_policy_files_are_the_rendered_policies() -> None:
    folder = REPOSITORY / "k8s" / "vault" / "policies"
    files = sorted(folder.glob("*.hcl"))
    assert {f.stem for f in files} == {
        *declarations(),
        "key-admin",
        "audit-checkpoint",
        "program-publisher",
    }
    for path in files:
        document = path.read_text()
        programs = document.splitlines()[1].removeprefix("# programs: ").split(", ")
        assert PROGRAM in programs
        assert document == policy_documents(programs)[f"subsidy-{path.stem}"]


def _policies(vault_admin_client: hvac.Client) -> dict[str, str]:
    names: list[str] = vault_admin_client.adapter.list("/v1/sys/policies/acl")["data"]["keys"]
    return {
        name: str(vault_admin_client.adapter.get(f"/v1/sys/policies/acl/{name}")["data"]["policy"])
        for name in names
        if name.startswith("subsidy-")
    }


def test_a_foreign_key_in_the_transit_mount_is_never_granted_to_a_service(
    vault_admin_client: hvac.Client, vault_tokens: dict[str, str]
) -> None:
    team = f"other-team-{uuid.uuid4().hex[:6]}"
    half = f"half-{uuid.uuid4().hex[:6]}"
    for name in (f"{team}-contact", f"{team}-bank", f"{team}-index", f"subsidy-{half}-contact"):
        vault_admin_client.adapter.post(f"/v1/transit/keys/{name}", json={"type": "aes256-gcm96"})

    provision_vault(vault_admin_client, [PROGRAM])

    policies = _policies(vault_admin_client)
    assert policies and not [name for name, rules in policies.items() if team in rules]
    assert not [name for name, rules in policies.items() if half in rules]
    assert "transit/decrypt/subsidy-shinjuku-2025-contact" in policies["subsidy-intake"]
    foreign = hvac.Client(url=vault_admin_client.url, token=vault_tokens["intake"])
    with pytest.raises(hvac.exceptions.Forbidden):
        foreign.adapter.post(f"/v1/transit/encrypt/{team}-contact", json={"plaintext": "eA=="})


def test_a_programs_keys_carry_the_platforms_prefix(vault_admin_client: hvac.Client) -> None:
    program, _ = fresh_program(vault_admin_client)
    keys = vault_admin_client.adapter.list("/v1/transit/keys")["data"]["keys"]
    assert {f"subsidy-{program}-{suffix}" for suffix in ("contact", "bank", "index")} <= set(keys)
    assert not {f"{program}-{suffix}" for suffix in ("contact", "bank", "index")} & set(keys)


def _looked_up(vault_admin_client: hvac.Client, token: str) -> dict[str, Any]:
    found: dict[str, Any] = vault_admin_client.auth.token.lookup(token)["data"]
    return found


def test_a_service_token_has_exactly_its_policy_and_cannot_look_up_other_tokens(
    vault_admin_client: hvac.Client, vault_tokens: dict[str, str]
) -> None:
    assert set(vault_tokens) == {*declarations(), CHECKPOINT_WRITER}
    day = 24 * 3600
    assert TOKEN_TTL == "24h"
    for holder, token in vault_tokens.items():
        details = _looked_up(vault_admin_client, token)
        assert details["policies"] == [policy_name(holder)], holder
        assert details["renewable"] and 0 < int(details["ttl"]) <= day
        own = hvac.Client(url=vault_admin_client.url, token=token)
        assert own.auth.token.lookup_self()["data"]["id"] == token
        others = [other for name, other in vault_tokens.items() if name != holder]
        with pytest.raises(hvac.exceptions.Forbidden):
            own.auth.token.lookup(others[0])
        with pytest.raises(hvac.exceptions.Forbidden):  # the default policy's cubbyhole
            own.adapter.post("/v1/cubbyhole/note", json={"kept": "x"})


def test_a_stored_token_with_the_default_policy_is_replaced_at_provisioning(
    vault_admin_client: hvac.Client, tmp_path: Path
) -> None:
    old = vault_admin_client.auth.token.create(
        policies=[policy_name("intake")], ttl="768h", renewable=True, no_parent=True
    )["auth"]["client_token"]
    token_dir = tmp_path / "tokens"
    token_dir.mkdir(mode=0o700)
    (token_dir / "intake").write_text(old + "\n")
    (token_dir / "intake").chmod(0o600)

    renewed = provision_vault(vault_admin_client, [PROGRAM], token_dir=token_dir)

    assert renewed["intake"] != old
    assert _looked_up(vault_admin_client, renewed["intake"])["policies"] == [policy_name("intake")]


def test_a_renewal_thread_keeps_a_service_token_alive_until_stopped(
    vault_admin_client: hvac.Client,
) -> None:
    token = vault_admin_client.auth.token.create(
        policies=[policy_name("review")],
        ttl="1h",
        renewable=True,
        no_parent=True,
        no_default_policy=True,
    )["auth"]["client_token"]
    client = hvac.Client(url=vault_admin_client.url, token=token)

    renewal = start_token_renewal(client, 0.05, increment="24h")
    try:
        assert renewal.wait_for_renewal(2, timeout=30)
    finally:
        renewal.stop()

    assert renewal.failures == 0
    assert int(_looked_up(vault_admin_client, token)["ttl"]) > 3600
    with pytest.raises(ValueError):
        start_token_renewal(client, 0)
