"""Signed checkpoints of the audit chain, so that its integrity does not rest on the database.

Issue "Hardening", finding 6. The hash chain (subsidy_platform.audit) shows any change that
leaves the chain inconsistent, but someone with database-administrator rights can keep it
consistent: append forged rows and advance `chain_head`, delete the newest rows and move the
head back, or empty the table and reset the head. A checkpoint records, outside the database,
that the chain once held `seq` rows ending in `hash`:

- it is signed in Vault with the ed25519 transit key `subsidy-audit-checkpoint` (the private
  key never leaves Vault; only the policy `subsidy-audit-checkpoint` of the platform's
  checkpoint writer may sign, and no service holds it), over the canonical JSON of
  `{"kind", "seq", "hash", "at"}`;
- it is written only over a chain that verifies from the previous checkpoint on;
- it is kept as one JSON file per checkpoint in `<state>/audit-checkpoints/` (mode 0700,
  files 0600, written once and never overwritten), a folder of the platform's operating-system
  user that the database administrator (the `embedded_postgres` user, or a DBA on the
  database server) cannot write; `keys.json` there pins the public keys the signatures are
  checked with (read from Vault by the writer when it first signs with a key version, so a
  recreated embedded OpenBao does not orphan older checkpoints).

`verify_with_checkpoints` checks every checkpoint's signature (a file that does not verify
fails the check: it was altered, or signed by someone else) and then the chain with every
checkpoint as an anchor (subsidy_platform.audit.verify): fewer rows than the newest
checkpoint means rows were deleted (the table emptied included); a row whose hash differs
from a checkpoint's means history was rewritten, forged rows in place of checkpointed ones
among them. What a checkpoint cannot tell is a forged row from a genuine one: rows appended
with correct hashes after the newest checkpoint pass until someone looks at them, and the next
checkpoint seals them like any other (docs/SECURITY.md says so plainly). Checkpoints are
written often to keep that window small: at every `runtime.prepare` (each process start and
`subsidy-admin up`), by `subsidy-admin audit checkpoint`, and every `DEFAULT_EVERY` events by
`start_checkpointing` in a long-running process.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import hvac
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Engine

from subsidy_platform import audit
from subsidy_platform.crypto import TRANSIT_MOUNT, vault_errors
from subsidy_platform.tls import write_atomically
from subsidy_platform.vault import CHECKPOINT_KEY

FOLDER = "audit-checkpoints"
KEYS_FILE = "keys.json"
KIND = "subsidy-audit-checkpoint/1"
DEFAULT_EVERY = 1000
DEFAULT_INTERVAL = 60.0

log = logging.getLogger(__name__)

_FILE = re.compile(r"^[0-9]{20}\.json$")
_SIGNATURE = re.compile(r"^vault:v([0-9]{1,9}):([A-Za-z0-9+/=]{1,200})$")
_HASH = re.compile(r"^[0-9a-f]{64}$")


class CheckpointError(Exception):
    """A checkpoint could not be written or read (the message says why, never a value)."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The chain held `seq` rows ending in `hash` at `at`, signed by key `key`."""

    seq: int
    hash: str
    at: str
    key: str
    signature: str

    @property
    def anchor(self) -> str:
        """`SEQ:HASH`, the form `subsidy-admin audit verify --anchor` takes."""
        return f"{self.seq}:{self.hash}"

    def message(self) -> bytes:
        """The signed bytes: canonical JSON of what the checkpoint states."""
        return signed_message(self.seq, self.hash, self.at)


def signed_message(seq: int, hash_: str, at: str) -> bytes:
    document = {"kind": KIND, "seq": seq, "hash": hash_, "at": at}
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode("ascii")


def key_fingerprint(public_key: str) -> str:
    """SHA-256 (hex) of a public key's raw bytes: which key signed, across Vault instances."""
    return hashlib.sha256(base64.b64decode(public_key, validate=True)).hexdigest()


@dataclass(frozen=True, slots=True)
class CheckpointCheck:
    """The chain verified against every signed checkpoint (`newest` is the latest valid one)."""

    result: audit.VerifyResult
    newest: Checkpoint | None
    checkpoints: int

    @property
    def ok(self) -> bool:
        return self.result.ok

    def as_json(self) -> dict[str, Any]:
        """What `subsidy-admin audit verify` prints."""
        return {
            **asdict(self.result),
            "head": self.result.anchor,
            "checkpoint": self.newest.anchor if self.newest else None,
            "checkpoints": self.checkpoints,
        }


class CheckpointStore:
    """The checkpoint files and pinned public keys in one folder."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @classmethod
    def of(cls, state_dir: Path) -> CheckpointStore:
        return cls(state_dir / FOLDER)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Serialise writers (several processes may checkpoint at once)."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        with (self.directory / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def checkpoints(self) -> list[Checkpoint]:
        """Every checkpoint file, oldest first (CheckpointError for one that is not one)."""
        if not self.directory.is_dir():
            return []
        found = []
        for path in sorted(self.directory.iterdir()):
            if _FILE.match(path.name):
                found.append(_parse(path))
        return found

    def add(self, checkpoint: Checkpoint) -> bool:
        """Write a new checkpoint file; False when one for that seq exists (never replaced)."""
        path = self.directory / f"{checkpoint.seq:020d}.json"
        document = json.dumps(asdict(checkpoint), sort_keys=True, indent=1) + "\n"
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return False
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(document)
        return True

    def public_keys(self) -> dict[str, str]:
        """Pinned public keys: fingerprint -> base64 raw Ed25519 public key."""
        path = self.directory / KEYS_FILE
        if not path.exists():
            return {}
        try:
            keys = json.loads(path.read_text(encoding="ascii"))
        except (ValueError, UnicodeDecodeError) as error:
            raise CheckpointError(f"{KEYS_FILE} を読めません") from error
        if not isinstance(keys, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in keys.items()
        ):
            raise CheckpointError(f"{KEYS_FILE} の形式が正しくありません")
        return keys

    def pin(self, public_key: str) -> str:
        """Pin a public key (its fingerprint returned); call with the writers' lock held."""
        fingerprint = key_fingerprint(public_key)
        keys = self.public_keys()
        if keys.get(fingerprint) != public_key:
            keys[fingerprint] = public_key
            document = json.dumps(keys, sort_keys=True, indent=1) + "\n"
            write_atomically(self.directory / KEYS_FILE, document.encode("ascii"), mode=0o600)
        return fingerprint

    def is_signed(self, checkpoint: Checkpoint) -> bool:
        """Whether the checkpoint's signature verifies under the pinned key it names."""
        public_key = self.public_keys().get(checkpoint.key)
        match = _SIGNATURE.match(checkpoint.signature)
        if public_key is None or match is None or key_fingerprint(public_key) != checkpoint.key:
            return False
        try:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key, validate=True))
            key.verify(base64.b64decode(match[2], validate=True), checkpoint.message())
        except (InvalidSignature, ValueError, binascii.Error):
            return False
        return True


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


def write_checkpoint(
    engine: Engine, signer: CheckpointSigner, store: CheckpointStore, *, every: int = 1
) -> Checkpoint | None:
    """Sign and keep the chain's head when it is at least `every` rows past the newest
    checkpoint and verifies from it; the newest checkpoint (or None) otherwise.

    Raises CheckpointError when the chain does not verify: a broken chain is never sealed.
    """
    if every < 1:
        raise ValueError("every must be at least 1")
    with store.locked():
        newest = _newest_signed(store)
        start = (newest.seq, newest.hash) if newest else None
        result = audit.verify(engine, start=start)
        if not result.ok:
            raise CheckpointError(
                f"監査ログの検証に失敗したためチェックポイントを書きません: seq "
                f"{result.first_broken_seq}: {result.problem}"
            )
        head_seq, head_hash = result.rows, result.head_hash or audit.GENESIS_HASH
        if head_seq == 0 or head_seq - (newest.seq if newest else 0) < every:
            return newest
        at = datetime.now(UTC).isoformat(timespec="seconds")
        signature, public_key = signer.sign(signed_message(head_seq, head_hash, at))
        fingerprint = store.pin(public_key)
        checkpoint = Checkpoint(head_seq, head_hash, at, fingerprint, signature)
        if not store.is_signed(checkpoint):
            raise CheckpointError("Vault の署名を公開鍵で確認できません")
        store.add(checkpoint)
        log.info("audit checkpoint written", extra={"seq": head_seq})
        return checkpoint


def verify_with_checkpoints(
    engine: Engine, store: CheckpointStore, anchors: dict[int, str] | None = None
) -> CheckpointCheck:
    """The whole chain verified with every signed checkpoint (and `anchors`) as anchors."""
    checkpoints = store.checkpoints()
    for checkpoint in checkpoints:
        if not store.is_signed(checkpoint):
            problem = (
                f"seq {checkpoint.seq} のチェックポイントの署名を確認できません"
                "（改ざんされたか、別の鍵で署名されています）"
            )
            return CheckpointCheck(
                audit.VerifyResult(False, 0, checkpoint.seq, problem), None, len(checkpoints)
            )
    merged = dict(anchors or {})
    for checkpoint in checkpoints:
        if merged.setdefault(checkpoint.seq, checkpoint.hash) != checkpoint.hash:
            problem = f"seq {checkpoint.seq} のアンカーとチェックポイントのハッシュが異なります"
            return CheckpointCheck(
                audit.VerifyResult(False, 0, checkpoint.seq, problem), None, len(checkpoints)
            )
    result = audit.verify(engine, anchors=merged)
    newest = max(checkpoints, key=lambda c: c.seq) if checkpoints else None
    return CheckpointCheck(result, newest, len(checkpoints))


class Checkpointing:
    """A thread that writes a checkpoint whenever `every` events were appended; `stop()`."""

    def __init__(
        self,
        engine: Engine,
        signer: CheckpointSigner,
        store: CheckpointStore,
        every: int,
        interval: float,
    ) -> None:
        self._arguments = (engine, signer, store)
        self._every = every
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
                written = write_checkpoint(*self._arguments, every=self._every)
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
    store: CheckpointStore,
    *,
    every: int = DEFAULT_EVERY,
    interval: float = DEFAULT_INTERVAL,
) -> Checkpointing:
    """Look every `interval` seconds and checkpoint once `every` events were appended."""
    if every < 1 or interval <= 0:
        raise ValueError("every must be at least 1 and the interval positive")
    return Checkpointing(engine, signer, store, every, interval).start()


def _newest_signed(store: CheckpointStore) -> Checkpoint | None:
    checkpoints = store.checkpoints()
    for checkpoint in checkpoints:
        if not store.is_signed(checkpoint):
            raise CheckpointError(f"seq {checkpoint.seq} のチェックポイントの署名を確認できません")
    return checkpoints[-1] if checkpoints else None


def _parse(path: Path) -> Checkpoint:
    try:
        document = json.loads(path.read_text(encoding="ascii"))
        checkpoint = Checkpoint(
            seq=int(document["seq"]),
            hash=str(document["hash"]),
            at=str(document["at"]),
            key=str(document["key"]),
            signature=str(document["signature"]),
        )
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"チェックポイント {path.name} を読めません") from error
    if (
        path.name != f"{checkpoint.seq:020d}.json"
        or checkpoint.seq < 1
        or not _HASH.match(checkpoint.hash)
        or set(document) != {"seq", "hash", "at", "key", "signature"}
    ):
        raise CheckpointError(f"チェックポイント {path.name} の形式が正しくありません")
    return checkpoint
