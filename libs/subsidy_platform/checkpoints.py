"""Signed checkpoints of the audit chain, kept in OpenBao, so that its integrity rests neither
on the database nor on the local disk.

Issue 19, part 1 (after issue "Hardening", finding 6). The hash chain (subsidy_platform.audit)
shows any change that leaves the chain inconsistent, but someone with database-administrator
rights can keep it consistent: append forged rows and advance `chain_head`, delete the newest
rows and move the head back, or empty the table and reset the head. A checkpoint records,
outside the database, that the chain `chain` held `seq` rows ending in `hash`:

- it is signed in Vault with the ed25519 transit key `subsidy-audit-checkpoint` (the private
  key never leaves Vault; only the policy `subsidy-audit-checkpoint` of the platform's
  checkpoint writer may sign, and no service holds it), over the canonical JSON of
  `{"kind", "chain", "seq", "hash", "at"}`;
- it is written only over a chain that verifies from the newest checkpoint on (its writer
  binding included: subsidy_platform.audit), so a broken or forged-by-hand chain is never
  sealed;
- it is kept in OpenBao's KV version 2 mount `subsidy-audit` (provisioned by
  subsidy_platform.vault, `cas_required`), in numbered secrets per chain
  (`checkpoints/<chain>/000000000001`, ...; a new one after `SECRET_VERSIONS` versions, so
  no secret's history grows without bound and no clock names them), each checkpoint a new
  version written with check-and-set on the version its writer verified from: history is never overwritten, two
  writers never both extend the same checkpoint, and the writer's policy grants no delete,
  destroy or metadata change. OpenBao's files and tokens belong to the platform's user
  (mode 0700), which the database's operating-system user cannot read or write; the time a
  checkpoint was recorded is OpenBao's (the version's `created_time`), not the writer's.

The chain's name is its database's (`chain_name`): a database renamed or swapped has no
checkpoints, and verification fails closed.

`verify_with_checkpoints` reads the newest checkpoint from OpenBao, checks its signature with
the public key read from OpenBao's transit engine (never from a local file), then the chain
with it (and the auditor's `anchors`) as anchors: fewer rows than the checkpoint means rows
were deleted (the table emptied included); a row whose hash differs means history was
rewritten. It passes only when that checkpoint is at most `max_age` seconds old: without a
fresh checkpoint, nothing says the rows after the newest one are the ones the services wrote
(forged rows appended after it, with correct hashes, pass every other check), so the check
refuses to vouch for them. With a writer every `DEFAULT_INTERVAL` seconds
(`AUDIT_CHECKPOINT_SECONDS`, `start_checkpointing` in the sign-in service, and at every
`runtime.prepare` and `subsidy-admin audit checkpoint`) and `max_age`
(`AUDIT_MAX_AGE_SECONDS`, `subsidy-admin audit verify --max-age`), every event appended
more than `max_age` seconds ago is sealed by a checkpoint the database cannot change: its
deletion or forgery is found. What remains (docs/SECURITY.md): rows forged within the last
`max_age` seconds with a service's login (a database superuser may take any login) are sealed
like genuine ones, and whoever holds OpenBao's root token can rewrite the checkpoints.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import hvac
import hvac.exceptions
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Engine

from subsidy_platform import audit
from subsidy_platform.crypto import TRANSIT_MOUNT, vault_errors
from subsidy_platform.vault import CHECKPOINT_KEY, CHECKPOINT_MOUNT, CHECKPOINT_PATH

KIND = "subsidy-audit-checkpoint/2"
DEFAULT_INTERVAL = 5.0
"""Seconds between checkpoints of a long-running writer (`AUDIT_CHECKPOINT_SECONDS`)."""
DEFAULT_MAX_AGE = 60.0
"""The oldest newest-checkpoint `verify` accepts, in seconds (`AUDIT_MAX_AGE_SECONDS`)."""
INTERVAL_VARIABLE = "AUDIT_CHECKPOINT_SECONDS"
MAX_AGE_VARIABLE = "AUDIT_MAX_AGE_SECONDS"
WRITE_ATTEMPTS = 3
SECRET_VERSIONS = 1000
"""Versions (checkpoints) per secret before the writer opens the next numbered one."""

log = logging.getLogger(__name__)

_SIGNATURE = re.compile(r"^vault:v([0-9]{1,9}):([A-Za-z0-9+/=]{1,200})$")
_HASH = re.compile(r"^[0-9a-f]{64}$")
_CHAIN = re.compile(r"^[A-Za-z0-9_.-]{1,63}$")
_BUCKET = re.compile(r"^[0-9]{12}$")
_VAULT_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?Z$")


class CheckpointError(Exception):
    """A checkpoint could not be written or read (the message says why, never a value)."""


def interval_from(environ: Mapping[str, str] = os.environ) -> float:
    """`AUDIT_CHECKPOINT_SECONDS` (default `DEFAULT_INTERVAL`), at least 0.01."""
    return _seconds(environ, INTERVAL_VARIABLE, DEFAULT_INTERVAL)


def max_age_from(environ: Mapping[str, str] = os.environ) -> float:
    """`AUDIT_MAX_AGE_SECONDS` (default `DEFAULT_MAX_AGE`)."""
    return _seconds(environ, MAX_AGE_VARIABLE, DEFAULT_MAX_AGE)


def _seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    value = environ.get(name) or ""
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"{name} は秒数で指定してください") from None
    if not 0.01 <= seconds <= 86_400:
        raise ValueError(f"{name} は 0.01 から 86400 秒までです")
    return seconds


def chain_name(engine: Engine) -> str:
    """The chain's name: its database's (the same for the administrator and every login)."""
    name = engine.url.database or "postgres"
    if not _CHAIN.match(name):
        raise CheckpointError("データベース名をチェックポイントの名前に使えません")
    return name


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The chain `chain` held `seq` rows ending in `hash` at `at`, signed by key `key`
    (the fingerprint of its public key); `recorded` is when OpenBao stored it (None before)."""

    chain: str
    seq: int
    hash: str
    at: str
    key: str
    signature: str
    recorded: datetime | None = None
    version: int = 0
    bucket: int = 0
    """The numbered secret it is a version of (0 before it is stored)."""

    @property
    def anchor(self) -> str:
        """`SEQ:HASH`, the form `subsidy-admin audit verify --anchor` takes."""
        return f"{self.seq}:{self.hash}"

    def message(self) -> bytes:
        """The signed bytes: canonical JSON of what the checkpoint states."""
        return signed_message(self.chain, self.seq, self.hash, self.at)

    def document(self) -> dict[str, Any]:
        """What is stored in OpenBao."""
        return {
            "chain": self.chain,
            "seq": self.seq,
            "hash": self.hash,
            "at": self.at,
            "key": self.key,
            "signature": self.signature,
        }


def signed_message(chain: str, seq: int, hash_: str, at: str) -> bytes:
    document = {"kind": KIND, "chain": chain, "seq": seq, "hash": hash_, "at": at}
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode("ascii")


def key_fingerprint(public_key: str) -> str:
    """SHA-256 (hex) of a public key's raw bytes: which key signed, across Vault instances."""
    return hashlib.sha256(base64.b64decode(public_key, validate=True)).hexdigest()


@dataclass(frozen=True, slots=True)
class CheckpointCheck:
    """The chain verified against the newest signed checkpoint, and that checkpoint's age."""

    result: audit.VerifyResult
    newest: Checkpoint | None
    checkpoints: int
    age_seconds: float | None = None
    max_age_seconds: float = DEFAULT_MAX_AGE

    @property
    def ok(self) -> bool:
        return self.result.ok

    @property
    def unsealed(self) -> int:
        """Rows after the newest checkpoint (not yet vouched for by one)."""
        return max(0, self.result.rows - (self.newest.seq if self.newest else 0))

    def as_json(self) -> dict[str, Any]:
        """What `subsidy-admin audit verify` prints."""
        return {
            "ok": self.result.ok,
            "rows": self.result.rows,
            "first_broken_seq": self.result.first_broken_seq,
            "problem": self.result.problem,
            "head_hash": self.result.head_hash,
            "head": self.result.anchor,
            "checkpoint": self.newest.anchor if self.newest else None,
            "checkpoints": self.checkpoints,
            "checkpoint_age_seconds": None if self.age_seconds is None else int(self.age_seconds),
            "max_age_seconds": self.max_age_seconds,
            "unsealed_rows": self.unsealed,
        }


class CheckpointSigner:
    """Signs checkpoint messages in Vault under the checkpoint writer's token."""

    def __init__(self, client: hvac.Client, *, mount: str = TRANSIT_MOUNT) -> None:
        self.client = client
        self.mount = mount

    def sign(self, message: bytes) -> tuple[str, str]:
        """(signature `vault:vN:...`, the public key of version N as base64)."""
        with vault_errors("sign audit checkpoint"):
            signed = self.client.adapter.post(
                f"/v1/{self.mount}/sign/{CHECKPOINT_KEY}",
                json={"input": base64.b64encode(message).decode("ascii")},
            )
            described = self.client.adapter.get(f"/v1/{self.mount}/keys/{CHECKPOINT_KEY}")
        signature = str(signed["data"]["signature"])
        match = _SIGNATURE.match(signature)
        if match is None:
            raise CheckpointError("Vault の署名の形式が想定と異なります")
        public_key = str(described["data"]["keys"][match[1]]["public_key"])
        return signature, public_key


class VaultCheckpoints:
    """One chain's checkpoints in OpenBao's KV v2 mount, and the signing key's public keys
    read from OpenBao's transit engine; every call under the given client's token."""

    def __init__(
        self,
        client: hvac.Client,
        chain: str,
        *,
        mount: str = CHECKPOINT_MOUNT,
        transit_mount: str = TRANSIT_MOUNT,
    ) -> None:
        if not _CHAIN.match(chain):
            raise ValueError("the chain's name must be 1-63 of [A-Za-z0-9_.-]")
        self.client = client
        self.chain = chain
        self.mount = mount
        self.transit_mount = transit_mount

    def path(self, bucket: int) -> str:
        """The numbered secret `bucket` of this chain, under the mount."""
        return f"{CHECKPOINT_PATH}/{self.chain}/{bucket:012d}"

    def newest(self) -> Checkpoint | None:
        """The newest checkpoint (the latest version of the last secret), None when the chain
        has none; CheckpointError when it cannot be read as one (deleted, altered)."""
        with vault_errors("read audit checkpoints"):
            try:
                listed = self.client.adapter.list(
                    f"/v1/{self.mount}/metadata/{CHECKPOINT_PATH}/{self.chain}/"
                )
            except hvac.exceptions.InvalidPath:
                return None
            buckets = sorted(
                name
                for name in (listed or {}).get("data", {}).get("keys", [])
                if _BUCKET.match(name)
            )
            if not buckets:
                return None
            bucket = int(buckets[-1])
            try:
                read = self.client.adapter.get(f"/v1/{self.mount}/data/{self.path(bucket)}")
            except hvac.exceptions.InvalidPath:
                raise CheckpointError(
                    "最新のチェックポイントが削除されています (the newest checkpoint was deleted)"
                ) from None
        return self._parse(read, bucket)

    def add(self, checkpoint: Checkpoint, *, bucket: int, cas: int) -> Checkpoint:
        """Store a checkpoint as the next version of secret `bucket`, only if that secret's
        current version is `cas` (0: it does not exist yet); _Conflict otherwise."""
        path = self.path(bucket)
        with vault_errors("write audit checkpoint"):
            try:
                written = self.client.adapter.post(
                    f"/v1/{self.mount}/data/{path}",
                    json={"options": {"cas": cas}, "data": checkpoint.document()},
                )
            except hvac.exceptions.InvalidRequest as error:
                if "check-and-set" in str(error):
                    raise _Conflict from None
                raise
        return _with_record(checkpoint, written["data"], bucket)

    def public_keys(self) -> dict[str, str]:
        """The signing key's public keys by version, read from OpenBao's transit engine."""
        with vault_errors("read the audit checkpoint key"):
            described = self.client.adapter.get(f"/v1/{self.transit_mount}/keys/{CHECKPOINT_KEY}")
        keys = described["data"]["keys"]
        return {str(version): str(key["public_key"]) for version, key in keys.items()}

    def is_signed(self, checkpoint: Checkpoint) -> bool:
        """Whether the checkpoint's signature verifies under the key version it names, whose
        public key OpenBao answers, and that key is the one the checkpoint names."""
        match = _SIGNATURE.match(checkpoint.signature)
        if match is None:
            return False
        public_key = self.public_keys().get(match[1])
        if public_key is None or key_fingerprint(public_key) != checkpoint.key:
            return False
        try:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key, validate=True))
            key.verify(base64.b64decode(match[2], validate=True), checkpoint.message())
        except (InvalidSignature, ValueError, binascii.Error):
            return False
        return True

    def _parse(self, read: Mapping[str, Any], bucket: int) -> Checkpoint:
        try:
            document = read["data"]["data"]
            checkpoint = Checkpoint(
                chain=str(document["chain"]),
                seq=int(document["seq"]),
                hash=str(document["hash"]),
                at=str(document["at"]),
                key=str(document["key"]),
                signature=str(document["signature"]),
            )
            _parse_time(checkpoint.at)
            checkpoint = _with_record(checkpoint, read["data"]["metadata"], bucket)
        except (ValueError, KeyError, TypeError) as error:
            raise CheckpointError("チェックポイントを読めません (unreadable checkpoint)") from error
        if (
            checkpoint.chain != self.chain
            or checkpoint.seq < 0
            or not _HASH.match(checkpoint.hash)
            or set(document) != set(checkpoint.document())
        ):
            raise CheckpointError("チェックポイントの形式が正しくありません (malformed checkpoint)")
        return checkpoint


class _Conflict(Exception):
    """Another writer stored a checkpoint since this one read the newest."""


def write_checkpoint(
    engine: Engine, signer: CheckpointSigner, store: VaultCheckpoints
) -> Checkpoint:
    """Sign and store the chain's head (its freshness: written even when the head did not
    move) when the chain verifies from the newest checkpoint; the checkpoint written.

    Raises CheckpointError when the chain does not verify: a broken chain is never sealed.
    """
    for _attempt in range(WRITE_ATTEMPTS):
        newest = store.newest()
        if newest is not None and not store.is_signed(newest):
            raise CheckpointError(
                f"seq {newest.seq} のチェックポイントの署名を確認できません"
                " (the newest checkpoint's signature does not verify)"
            )
        start = (newest.seq, newest.hash) if newest is not None and newest.seq > 0 else None
        result = audit.verify(engine, start=start)
        if not result.ok:
            raise CheckpointError(
                f"監査ログの検証に失敗したためチェックポイントを書きません: seq "
                f"{result.first_broken_seq}: {result.problem}"
            )
        now = datetime.now(UTC)
        at = now.isoformat(timespec="microseconds")
        head_seq, head_hash = result.rows, result.head_hash or audit.GENESIS_HASH
        signature, public_key = signer.sign(signed_message(store.chain, head_seq, head_hash, at))
        checkpoint = Checkpoint(
            store.chain, head_seq, head_hash, at, key_fingerprint(public_key), signature
        )
        if not store.is_signed(checkpoint):
            raise CheckpointError("Vault の署名を公開鍵で確認できません")
        if newest is None:
            bucket, cas = 1, 0
        elif newest.version >= SECRET_VERSIONS:
            bucket, cas = newest.bucket + 1, 0
        else:
            bucket, cas = newest.bucket, newest.version
        try:
            stored = store.add(checkpoint, bucket=bucket, cas=cas)
        except _Conflict:
            continue
        moved = newest is None or newest.seq != head_seq
        log.log(
            logging.INFO if moved else logging.DEBUG,
            "audit checkpoint written",
            extra={"seq": head_seq},
        )
        return stored
    raise CheckpointError(
        "ほかの書き手と競合したためチェックポイントを書けませんでした (conflicting writers)"
    )


def verify_with_checkpoints(
    engine: Engine,
    store: VaultCheckpoints,
    anchors: dict[int, str] | None = None,
    *,
    max_age: float = DEFAULT_MAX_AGE,
    now: datetime | None = None,
) -> CheckpointCheck:
    """The whole chain verified with the newest checkpoint in OpenBao (and `anchors`) as
    anchors; ok only when that checkpoint is at most `max_age` seconds old at `now`."""
    newest = store.newest()
    if newest is not None and not store.is_signed(newest):
        problem = (
            f"seq {newest.seq} のチェックポイントの署名を確認できません"
            "（改ざんされたか、別の鍵で署名されています / the signature does not verify）"
        )
        return CheckpointCheck(
            audit.VerifyResult(False, 0, newest.seq, problem), None, 1, None, max_age
        )
    merged = dict(anchors or {})
    anchored = merged.setdefault(newest.seq, newest.hash) if newest and newest.seq > 0 else None
    if newest is not None and anchored not in (None, newest.hash):
        problem = f"seq {newest.seq} のアンカーとチェックポイントのハッシュが異なります"
        result = audit.VerifyResult(False, 0, newest.seq, problem)
        return CheckpointCheck(result, newest, 1, None, max_age)
    result = audit.verify(engine, anchors=merged)
    counted = 0 if newest is None else 1
    if newest is None:
        if result.ok:
            problem = (
                "Vault に監査ログのチェックポイントがありません。ログのどの行も保証できません"
                " (no checkpoint in Vault: the log cannot be vouched for)"
            )
            result = audit.VerifyResult(False, result.rows, 1, problem, result.head_hash)
        return CheckpointCheck(result, None, counted, None, max_age)
    recorded = newest.recorded or _parse_time(newest.at)
    age = ((now or datetime.now(UTC)) - recorded).total_seconds()
    if result.ok and age > max_age:
        unsealed = max(0, result.rows - newest.seq)
        problem = (
            f"最新のチェックポイント (seq {newest.seq}) は {age:.0f} 秒前のもので、上限の "
            f"{max_age:g} 秒より古いため、seq {newest.seq + 1} 以降の {unsealed} 行を保証できません"
            f"（チェックポイントの書き手が止まっているか、書き込みを拒んでいます） / no checkpoint "
            f"newer than {max_age:g} s: the {unsealed} rows after seq {newest.seq} are not vouched for"
        )
        result = audit.VerifyResult(False, result.rows, newest.seq + 1, problem, result.head_hash)
    return CheckpointCheck(result, newest, counted, age, max_age)


class Checkpointing:
    """A thread that writes a checkpoint every `interval` seconds; `stop()`."""

    def __init__(
        self, engine: Engine, signer: CheckpointSigner, store: VaultCheckpoints, interval: float
    ) -> None:
        self._arguments = (engine, signer, store)
        self._interval = interval
        self._stopped = threading.Event()
        self._written = threading.Condition()
        self.newest: Checkpoint | None = None
        self.failures = 0
        self._thread = threading.Thread(target=self._run, name="audit-checkpoints", daemon=True)

    def start(self) -> Checkpointing:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def wait_for_checkpoint(self, seq: int, timeout: float | None = None) -> bool:
        """Whether a checkpoint at or past `seq` was written (waiting up to `timeout`)."""
        with self._written:
            return self._written.wait_for(
                lambda: self.newest is not None and self.newest.seq >= seq, timeout
            )

    def _run(self) -> None:
        while True:
            try:
                written = write_checkpoint(*self._arguments)
            except Exception:
                self.failures += 1
                log.exception("audit checkpoint failed")
            else:
                with self._written:
                    self.newest = written
                    self._written.notify_all()
            if self._stopped.wait(self._interval):
                return


def start_checkpointing(
    engine: Engine,
    signer: CheckpointSigner,
    store: VaultCheckpoints,
    *,
    interval: float | None = None,
) -> Checkpointing:
    """Checkpoint every `interval` seconds (default: `AUDIT_CHECKPOINT_SECONDS`, 5)."""
    seconds = interval_from() if interval is None else interval
    if seconds <= 0:
        raise ValueError("the interval must be positive")
    return Checkpointing(engine, signer, store, seconds).start()


def _with_record(checkpoint: Checkpoint, metadata: Mapping[str, Any], bucket: int) -> Checkpoint:
    return Checkpoint(
        checkpoint.chain,
        checkpoint.seq,
        checkpoint.hash,
        checkpoint.at,
        checkpoint.key,
        checkpoint.signature,
        _vault_time(str(metadata["created_time"])),
        int(metadata["version"]),
        bucket,
    )


def _vault_time(value: str) -> datetime:
    """OpenBao's RFC 3339 time (nanoseconds, `Z`) as an aware datetime."""
    match = _VAULT_TIME.match(value)
    if match is None:
        raise ValueError("unexpected time from Vault")
    fraction = (match[2] or ".0")[:7].ljust(7, "0")
    return datetime.fromisoformat(f"{match[1]}{fraction}+00:00")


def _parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    if parsed.utcoffset() is None:
        raise ValueError("a checkpoint's time carries its offset")
    return parsed
