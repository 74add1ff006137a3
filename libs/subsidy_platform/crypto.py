"""Field encryption and blind indexes with keys held in Vault (DESIGN.md principle 6).

`FieldCipher(client, program_id)` encrypts the personal data of one program, per data class
(`subsidy-<program>-contact`, `subsidy-<program>-bank`), with the calling service's Vault token,
so Vault's policy decides who may encrypt or read what. Every key of the platform's programs
carries the prefix `subsidy-` (`KEY_PREFIX`), so that keys of others sharing the transit mount
are never taken for a program's (issue "Hardening", finding 4). Two modes produce ciphertext that either mode
decrypts:

- "transit": Vault encrypts; batches of at most `TRANSIT_BATCH_SIZE` (499) items, the most a
  default Vault listener accepts. Ciphertext `vault:v<key version>:<base64>`.
- "envelope": one call per `encrypt` asks Vault for a fresh 256-bit data key (plaintext plus
  the copy wrapped by the program's key); values are encrypted locally with AES-256-GCM
  (random 96-bit nonce, program and data class as associated data) and the data key is
  forgotten. Ciphertext `env:v<key version>:<wrapped data key>:<base64(nonce || ciphertext)>`.
  Decrypting unwraps each distinct data key once (Vault decrypt, batched).

Envelope is the default: bench/crypto.py measured it faster (see docs/PERFORMANCE.md). Both
keep Vault in charge: without the policy's decrypt right no data key is unwrapped.

Blind indexes are Vault transit HMAC-SHA-256 with the program's `subsidy-<program>-index` key of the
NFKC-normalised, stripped value, prefixed by its kind (`kind \\x1f value`) so that equal values
of different kinds do not match; returned as hex. The index key is never rotated (digests must
stay comparable). `rotate` + `rewrap` move ciphertext to a new key version without exposing
plaintext; `destroy_program_keys` deletes all three keys (crypto-shredding).

A call that fails to connect (Vault restarted: the pooled connection is gone; or it moved:
`reconnect` points the client at its address again) is made once more before it counts as a
failure: every transit call the cipher repeats (encrypt, decrypt, data key, HMAC, rewrap)
changes nothing in Vault, so a second attempt is safe; rotation and deletion are not repeated.
Failures never fall back to plaintext: Vault down, unreachable, sealed, not yet active or
asking to be called later (5xx, 429, 412) raises `DependencyUnavailable`; a policy refusal `AccessDenied`; a missing (destroyed) key
`KeyUnavailable`; damaged or foreign ciphertext `CiphertextUnreadable`. No message carries a
value.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from enum import StrEnum
from typing import Any, Literal

import grpc
import hvac
import hvac.exceptions
import requests
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from subsidy_platform.errors import AccessDenied, DependencyUnavailable, PlatformError

TRANSIT_MOUNT = "transit"
TRANSIT_BATCH_SIZE = 499
Mode = Literal["transit", "envelope"]
DEFAULT_MODE: Mode = "envelope"
Reconnect = Callable[[hvac.Client], None]
"""Points a client at Vault's current address again (after a failed connection)."""

_TRANSIT = "vault:v"
_ENVELOPE = "env:v"
_NONCE_BYTES = 12


class DataClass(StrEnum):
    """Classes of personal data, each under its own key and policy."""

    CONTACT = "contact"
    BANK = "bank"


class KeyUnavailable(PlatformError):
    """The program's key does not exist: never provisioned, or destroyed (crypto-shredded)."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class CiphertextUnreadable(PlatformError):
    """The stored value is not ciphertext of this program and data class, or was altered."""

    code = grpc.StatusCode.INTERNAL


KEY_PREFIX = "subsidy-"


def key_name(program_id: str, purpose: DataClass | str) -> str:
    """Transit key of a program for a data class, or for blind indexes (`"index"`):
    `subsidy-<program>-<purpose>`."""
    return f"{KEY_PREFIX}{program_id}-{purpose}"


@contextlib.contextmanager
def vault_errors(operation: str) -> Iterator[None]:
    """Map Vault client failures to the platform's errors (names the operation, never data)."""
    try:
        yield
    except (hvac.exceptions.Forbidden, hvac.exceptions.Unauthorized) as error:
        raise AccessDenied(f"Vault のポリシーにより拒否されました: {operation}") from error
    except (
        hvac.exceptions.VaultDown,
        hvac.exceptions.VaultNotInitialized,
        hvac.exceptions.InternalServerError,
        hvac.exceptions.BadGateway,
        hvac.exceptions.RateLimitExceeded,
        hvac.exceptions.PreconditionFailed,
        hvac.exceptions.UnexpectedError,
        requests.exceptions.ConnectionError,
        requests.exceptions.ChunkedEncodingError,
        requests.exceptions.Timeout,
    ) as error:
        raise DependencyUnavailable(f"Vault に接続できません: {operation}") from error


class FieldCipher:
    """Encrypts, decrypts and indexes one program's fields with the caller's Vault token."""

    def __init__(
        self,
        client: hvac.Client,
        program_id: str,
        *,
        mode: Mode = DEFAULT_MODE,
        mount: str = TRANSIT_MOUNT,
        batch_size: int = TRANSIT_BATCH_SIZE,
        reconnect: Reconnect | None = None,
    ) -> None:
        if mode not in ("transit", "envelope"):
            raise ValueError(f"unknown encryption mode: {mode}")
        self.client = client
        self.reconnect = reconnect
        self.program_id = program_id
        self.mode: Mode = mode
        self.mount = mount
        self.batch_size = batch_size

    def encrypt(self, data_class: DataClass, values: Sequence[str | None]) -> list[str | None]:
        """Ciphertext for each value (None stays None), in order."""
        present = [(i, v) for i, v in enumerate(values) if v is not None]
        out: list[str | None] = [None] * len(values)
        if not present:
            return out
        key = key_name(self.program_id, data_class)
        plain = [v for _, v in present]
        if self.mode == "transit":
            sealed = self._transit_encrypt(key, plain)
        else:
            sealed = self._envelope_encrypt(key, data_class, plain)
        for (position, _), ciphertext in zip(present, sealed, strict=True):
            out[position] = ciphertext
        return out

    def decrypt(self, data_class: DataClass, values: Sequence[str | None]) -> list[str | None]:
        """Plaintext of each ciphertext (None stays None), whichever mode produced it."""
        key = key_name(self.program_id, data_class)
        out: list[str | None] = [None] * len(values)
        transit = [(i, v) for i, v in enumerate(values) if v is not None and v.startswith(_TRANSIT)]
        envelope = [
            (i, v) for i, v in enumerate(values) if v is not None and v.startswith(_ENVELOPE)
        ]
        if len(transit) + len(envelope) != sum(v is not None for v in values):
            raise CiphertextUnreadable("暗号文の形式ではない値があります")
        if transit:
            results = self._batches("decrypt", key, [{"ciphertext": v} for _, v in transit])
            for (position, _), item in zip(transit, results, strict=True):
                out[position] = _from_b64(item["plaintext"]).decode()
        if envelope:
            aad = self._associated_data(data_class)
            parts = [_split_envelope(v) for _, v in envelope]
            data_keys = self._unwrap(key, {wrapped for wrapped, _ in parts})
            for (position, _), (wrapped, sealed) in zip(envelope, parts, strict=True):
                nonce, body = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
                try:
                    out[position] = AESGCM(data_keys[wrapped]).decrypt(nonce, body, aad).decode()
                except InvalidTag as error:
                    raise CiphertextUnreadable(
                        "暗号文が改ざんされているか、別の鍵のものです"
                    ) from error
        return out

    def blind_index(self, kind: str, values: Sequence[str]) -> list[str]:
        """Keyed HMAC-SHA-256 (hex) of each normalised value, separated by `kind`."""
        if not kind or "\x1f" in kind:
            raise ValueError("blind index kind must be a non-empty label")
        key = key_name(self.program_id, "index")
        items = [
            {"input": _to_b64(f"{kind}\x1f{unicodedata.normalize('NFKC', v).strip()}".encode())}
            for v in values
        ]
        results = self._batches("hmac", key, items, algorithm="sha2-256")
        return [_from_b64(item["hmac"].split(":", 2)[2]).hex() for item in results]

    def rotate(self, data_class: DataClass) -> int:
        """Rotate the data class's key; new ciphertext uses the returned version."""
        key = key_name(self.program_id, data_class)
        with self._errors("rotate", key):
            self.client.adapter.post(f"/v1/{self.mount}/keys/{key}/rotate")
            described = self.client.adapter.get(f"/v1/{self.mount}/keys/{key}")
        return int(described["data"]["latest_version"])

    def rewrap(self, data_class: DataClass, values: Sequence[str]) -> list[str]:
        """The same values re-encrypted under the key's latest version (plaintext never leaves Vault)."""
        key = key_name(self.program_id, data_class)
        wrapped: dict[str, str] = {}
        for value in values:
            if value.startswith(_ENVELOPE):
                wrapped[value] = _split_envelope(value)[0]
            elif value.startswith(_TRANSIT):
                wrapped[value] = value
            else:
                raise CiphertextUnreadable("暗号文の形式ではない値があります")
        unique = sorted(set(wrapped.values()))
        results = self._batches("rewrap", key, [{"ciphertext": c} for c in unique])
        renewed = {old: item["ciphertext"] for old, item in zip(unique, results, strict=True)}
        out: list[str] = []
        for value in values:
            if value.startswith(_TRANSIT):
                out.append(renewed[value])
            else:
                _, sealed = _split_envelope(value)
                out.append(_join_envelope(renewed[wrapped[value]], sealed))
        return out

    def destroy_program_keys(self) -> None:
        """Delete the program's keys: its ciphertext and blind indexes become meaningless."""
        for purpose in (*DataClass, "index"):
            key = key_name(self.program_id, purpose)
            with self._errors("destroy", key):
                try:
                    self.client.adapter.post(
                        f"/v1/{self.mount}/keys/{key}/config", json={"deletion_allowed": True}
                    )
                except (hvac.exceptions.InvalidPath, hvac.exceptions.InvalidRequest):
                    continue
                self.client.adapter.delete(f"/v1/{self.mount}/keys/{key}")

    def _transit_encrypt(self, key: str, values: Sequence[str]) -> list[str]:
        results = self._batches(
            "encrypt", key, [{"plaintext": _to_b64(v.encode())} for v in values]
        )
        return [str(item["ciphertext"]) for item in results]

    def _envelope_encrypt(
        self, key: str, data_class: DataClass, values: Sequence[str]
    ) -> list[str]:
        with self._errors("datakey", key):
            issued = self._post(f"/v1/{self.mount}/datakey/plaintext/{key}", {})
        aead = AESGCM(_from_b64(issued["data"]["plaintext"]))
        wrapped = str(issued["data"]["ciphertext"])
        aad = self._associated_data(data_class)
        out = []
        for value in values:
            nonce = os.urandom(_NONCE_BYTES)
            out.append(_join_envelope(wrapped, nonce + aead.encrypt(nonce, value.encode(), aad)))
        return out

    def _unwrap(self, key: str, wrapped: set[str]) -> dict[str, bytes]:
        ordered = sorted(wrapped)
        results = self._batches("decrypt", key, [{"ciphertext": c} for c in ordered])
        return {c: _from_b64(item["plaintext"]) for c, item in zip(ordered, results, strict=True)}

    def _batches(
        self, operation: str, key: str, items: Sequence[dict[str, str]], **options: str
    ) -> list[dict[str, Any]]:
        """Run a transit batch operation in chunks; any failed item fails the whole call."""
        results: list[dict[str, Any]] = []
        for start in range(0, len(items), self.batch_size):
            chunk = list(items[start : start + self.batch_size])
            with self._errors(operation, key):
                response = self._post(
                    f"/v1/{self.mount}/{operation}/{key}", {"batch_input": chunk, **options}
                )
            batch: list[dict[str, Any]] = response["data"]["batch_results"]
            if len(batch) != len(chunk) or any(item.get("error") for item in batch):
                raise CiphertextUnreadable(
                    f"Vault が一部の値を処理できませんでした: {operation} {key}"
                )
            results.extend(batch)
        return results

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        """POST a transit call that changes nothing in Vault; once more after a failed
        connection (pointed at Vault's current address first, when `reconnect` is given)."""
        try:
            return self.client.adapter.post(path, json=body)
        except requests.exceptions.ConnectionError:
            if self.reconnect is not None:
                self.reconnect(self.client)
            return self.client.adapter.post(path, json=body)

    @contextlib.contextmanager
    def _errors(self, operation: str, key: str) -> Iterator[None]:
        with vault_errors(f"{operation} {key}"):
            try:
                yield
            except (hvac.exceptions.InvalidRequest, hvac.exceptions.InvalidPath) as error:
                if "not found" in str(error) or isinstance(error, hvac.exceptions.InvalidPath):
                    raise KeyUnavailable(f"暗号鍵がありません (破棄済みか未設定): {key}") from error
                raise CiphertextUnreadable(
                    f"Vault が値を処理できませんでした: {operation} {key}"
                ) from error

    def _associated_data(self, data_class: DataClass) -> bytes:
        return f"{self.program_id}/{data_class.value}".encode()


def _split_envelope(value: str) -> tuple[str, bytes]:
    """`env:vN:<wrapped>:<sealed>` -> (`vault:vN:<wrapped>`, sealed bytes)."""
    try:
        _, version, wrapped, sealed = value.split(":")
        return f"vault:{version}:{wrapped}", _from_b64(sealed)
    except (ValueError, binascii.Error) as error:
        raise CiphertextUnreadable("暗号文の形式が正しくありません") from error


def _join_envelope(wrapped: str, sealed: bytes) -> str:
    _, version, body = wrapped.split(":", 2)
    return f"env:{version}:{body}:{_to_b64(sealed)}"


def _to_b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _from_b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)
