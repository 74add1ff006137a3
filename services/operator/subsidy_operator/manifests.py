"""Every object the operator makes, built by pure functions (dask-kubernetes' `build_*` shape).

- `build_program_entry`: a program's entry in the programs ConfigMap (`subsidy-programs`, one
  for every program, made empty by the base manifests): `<program_id>.yaml`, the definition
  exactly as the rules library reads it, and `<program_id>.phase`, the phase intake obeys
  (subsidy_platform.program_phase). Every service mounts that ConfigMap as the folder named
  by `SUBSIDY_PROGRAMS_DIR`; `programs_digest` over its definitions is written into each
  service Deployment's pod template (`build_rollout`), so a changed definition rolls the
  services out while a phase change alone is read in place.
- `build_certificate`: the erasure certificate (消去証明書): what was erased, how many records
  per service and table (every table each service purged, the outbox included), the tables
  each service kept and why, the records every erasure keeps (the audit log, `KEPT_RECORDS`),
  which Vault keys and versions were destroyed, when, by whom, who approved, the ward's
  handover, and a SHA-256 over all of that (canonical JSON). A service that answered a
  retried call with its recorded answer (its first reply was lost) is marked
  `answeredOnRetry`: its counts are those of the one purge it did.
- `build_certificate_entry`: the certificate as JSON and as a printable Japanese text, as
  `<program_id>.json` and `<program_id>.txt` in the certificates ConfigMap
  (`subsidy-erasure-certificates`, also made by the base). It has no owner: deleting the
  SubsidyProgram never deletes the proof of its erasure.

The operator only patches those two ConfigMaps and the services' Deployments, by name: its
RBAC grants nothing else (no ConfigMap it did not make, such as the Vault CA).
- `build_status`: the status the operator reports.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import yaml

from subsidy_operator.lifecycle import Lifecycle, Phase
from subsidy_operator.resource import GROUP

PROGRAMS_CONFIGMAP = "subsidy-programs"
CERTIFICATES_CONFIGMAP = "subsidy-erasure-certificates"
PROGRAMS_DIGEST = f"{GROUP}/programs-sha256"


def definition_file(definition: Mapping[str, Any]) -> str:
    """The definition as the YAML file the rules library loads."""
    return yaml.safe_dump(dict(definition), allow_unicode=True, sort_keys=False, width=100)


def build_program_entry(
    namespace: str, program_id: str, definition: Mapping[str, Any], phase: Phase
) -> dict[str, Any]:
    """A merge patch of the programs ConfigMap setting one program's definition and phase."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": PROGRAMS_CONFIGMAP, "namespace": namespace},
        "data": {
            f"{program_id}.yaml": definition_file(definition),
            f"{program_id}.phase": f"{phase}\n",
        },
    }


def programs_digest(data: Mapping[str, str]) -> str:
    """SHA-256 over the definitions of the programs ConfigMap (phases left out: read live)."""
    definitions = {k: v for k, v in data.items() if k.endswith(".yaml")}
    return hashlib.sha256(
        json.dumps(definitions, sort_keys=True, ensure_ascii=False).encode("utf-8")
    ).hexdigest()


def build_rollout(digest: str) -> dict[str, Any]:
    """A merge patch of a Deployment: its pods restart when the definitions change."""
    return {"spec": {"template": {"metadata": {"annotations": {PROGRAMS_DIGEST: digest}}}}}


@dataclass(frozen=True)
class DestroyedKey:
    """A Vault transit key as it was just before it was destroyed."""

    name: str
    existed: bool
    latest_version: int
    versions: tuple[int, ...]


KEPT_RECORDS: tuple[tuple[str, str], ...] = (
    (
        "audit.events",
        "監査ログ (append-only, hash-chained): 誰がいつ何にアクセスしたかの記録で、保存が必要。"
        "値は記録せず、申請番号・表名・件数のみ",
    ),
)
"""Records outside the services' schemas that every erasure keeps, with why."""


@dataclass(frozen=True)
class ServicePurge:
    """One service's answer to PurgeProgram."""

    service: str
    tables: tuple[tuple[str, int], ...]
    kept: tuple[tuple[str, str], ...]
    """(schema.table, why it is kept)"""
    repeated: bool = False
    purged_at: str = ""

    @property
    def total(self) -> int:
        return sum(rows for _, rows in self.tables)


def build_certificate(
    *,
    program_id: str,
    program_name: str,
    municipality: str,
    erasure_id: str,
    keys: Sequence[DestroyedKey],
    purges: Sequence[ServicePurge],
    lifecycle: Lifecycle,
    performed_at: datetime,
    performed_by: str,
) -> dict[str, Any]:
    """The certificate, with `sha256` over the canonical JSON of everything else."""
    body: dict[str, Any] = {
        "kind": "ErasureCertificate",
        "erasureId": erasure_id,
        "program": {"id": program_id, "name": program_name, "municipality": municipality},
        "performedAt": performed_at.isoformat(),
        "performedBy": performed_by,
        "approvers": [{"name": a.name, "title": a.title} for a in lifecycle.approvers],
        "handover": {
            "completed": lifecycle.handover_completed,
            "completedOn": lifecycle.handover_completed_on.isoformat()
            if lifecycle.handover_completed_on
            else None,
            "reference": lifecycle.handover_reference,
            "recordedBy": lifecycle.handover_recorded_by,
        },
        "keys": [
            {
                "name": k.name,
                "existed": k.existed,
                "latestVersion": k.latest_version,
                "versions": list(k.versions),
            }
            for k in keys
        ],
        "services": [
            {
                "service": p.service,
                "records": p.total,
                "tables": [{"table": t, "rows": n} for t, n in p.tables],
                "keptTables": [{"table": t, "reason": r} for t, r in p.kept],
                "purgedAt": p.purged_at or None,
                "answeredOnRetry": p.repeated,
            }
            for p in purges
        ],
        "keptRecords": [{"table": t, "reason": r} for t, r in KEPT_RECORDS],
        "totalRecords": sum(p.total for p in purges),
    }
    # No nulls: a merge patch (how status is written) drops them, which would break the digest.
    body = _without_nulls(body)
    return {**body, "sha256": certificate_digest(body)}


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def certificate_digest(body: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON (sorted keys, no spaces, UTF-8) of `body`."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def verify_certificate(certificate: Mapping[str, Any]) -> bool:
    """Whether the certificate's `sha256` matches the rest of it."""
    body = {k: v for k, v in certificate.items() if k != "sha256"}
    return certificate.get("sha256") == certificate_digest(body)


def certificate_text(certificate: Mapping[str, Any]) -> str:
    """The certificate for printing (消去証明書), in Japanese."""
    program = certificate["program"]
    handover = certificate["handover"]
    lines = [
        "消去証明書",
        "",
        f"制度: {program['name']} ({program['id']})",
        f"自治体: {program['municipality']}",
        f"消去ID: {certificate['erasureId']}",
        f"実施日時: {certificate['performedAt']}",
        f"実施者: {certificate['performedBy']}",
        "承認者: "
        + "、".join(
            f"{a['name']}" + (f" ({a['title']})" if a.get("title") else "")
            for a in certificate["approvers"]
        ),
        "区へのデータ返還: "
        + " ".join(
            [
                "完了" if handover.get("completed") else "未完了",
                *(str(handover[k]) for k in ("completedOn", "reference") if handover.get(k)),
            ]
        ),
        "",
        "破棄した暗号鍵 (暗号化消去):",
    ]
    for key in certificate["keys"]:
        versions = ", ".join(str(v) for v in key["versions"]) or "なし"
        state = "破棄" if key["existed"] else "既に存在せず"
        lines.append(f"  {key['name']}: {state} (版: {versions})")
    lines.append("")
    lines.append("削除した記録 (サービス別):")
    for service in certificate["services"]:
        lines.append(f"  {service['service']}: {service['records']} 件")
        for table in service["tables"]:
            lines.append(f"    {table['table']}: {table['rows']} 件")
    lines.append("")
    lines.append("削除しなかった表 (理由):")
    for service in certificate["services"]:
        for kept in service.get("keptTables", []):
            lines.append(f"  {kept['table']}: {kept['reason']}")
    for kept in certificate.get("keptRecords", []):
        lines.append(f"  {kept['table']}: {kept['reason']}")
    lines += [
        "",
        f"合計: {certificate['totalRecords']} 件",
        "",
        f"SHA-256: {certificate['sha256']}",
        "",
    ]
    return "\n".join(lines)


def build_certificate_entry(namespace: str, certificate: Mapping[str, Any]) -> dict[str, Any]:
    """A merge patch of the certificates ConfigMap adding one program's certificate."""
    program_id = certificate["program"]["id"]
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": CERTIFICATES_CONFIGMAP, "namespace": namespace},
        "data": {
            f"{program_id}.json": json.dumps(certificate, ensure_ascii=False, indent=2) + "\n",
            f"{program_id}.txt": certificate_text(certificate),
        },
    }


def build_status(
    phase: Phase, message: str, *, program_id: str | None, configmap: str | None
) -> dict[str, Any]:
    return {
        "phase": str(phase),
        "message": message,
        "programId": program_id,
        "configMap": configmap,
    }
