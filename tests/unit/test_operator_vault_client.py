"""The operator's Vault client checks Vault's certificate against the CA it is given."""

from __future__ import annotations

from pathlib import Path

from subsidy_operator.main import vault_client


def test_the_vault_client_verifies_against_vault_cacert_when_given(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.crt"
    bundle.write_text("not read until a request is made")
    client = vault_client(
        {
            "VAULT_ADDR": "https://vault.example:8200",
            "VAULT_TOKEN": "t",
            "VAULT_CACERT": str(bundle),
        }
    )
    assert client.adapter._kwargs["verify"] == str(bundle)


def test_the_vault_client_never_turns_verification_off() -> None:
    client = vault_client({"VAULT_ADDR": "https://vault.example:8200", "VAULT_TOKEN": "t"})
    assert client.adapter._kwargs["verify"] is True


def test_the_token_comes_from_the_agents_file_when_no_token_is_set(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("agent-token\n")
    client = vault_client({"VAULT_ADDR": "https://v:8200", "VAULT_TOKEN_FILE": str(token)})
    assert client.token == "agent-token"
