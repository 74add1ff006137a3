"""The operator's pure parts: the CRD (kept file, schema mirroring the rules library, sample
resources valid against it), the kustomized manifests against the Kubernetes schemas, the
phases from the spec's dates, the erasure's conditions, the certificate, the purge plan."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from subsidy_operator.lifecycle import (
    Phase,
    SpecError,
    erasure_due,
    erasure_refusal,
    parse_spec,
    phase_on,
)
from subsidy_operator.manifests import (
    DestroyedKey,
    ServicePurge,
    build_certificate,
    build_certificate_entry,
    build_program_entry,
    build_rollout,
    programs_digest,
    verify_certificate,
)
from subsidy_operator.resource import API_VERSION, KIND, PARAMETER_VALUES, build_crd, crd_yaml

from subsidy_platform.maintenance import ForeignKey, plan_purge
from subsidy_rules.parameters import PARAMETERS
from subsidy_rules.program import PROGRAMS_DIR, parse_program

ROOT = Path(__file__).resolve().parents[2]
OPERATOR_DIR = ROOT / "k8s" / "base" / "operator"


def definition(program: str = "shinjuku-2025") -> dict[str, Any]:
    """A shipped definition file as JSON would carry it (dates as strings)."""
    text = (PROGRAMS_DIR / f"{program}.yaml").read_text(encoding="utf-8")
    return yaml.load(text, Loader=_NoDates)


class _NoDates(yaml.SafeLoader):
    pass


_NoDates.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

LIFECYCLE: dict[str, Any] = {
    "processingEnd": "2026-02-27",
    "contractEnd": "2026-03-31",
    "erasureApprovers": [
        {"name": "危機管理 一郎", "title": "危機管理課長"},
        {"name": "委託 花子", "title": "受託者 責任者"},
    ],
    "handover": {"completed": True, "completedOn": "2026-03-10", "reference": "管理簿 No.42"},
}


def sample(program: str = "shinjuku-2025", **lifecycle: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": program, "namespace": "subsidy"},
        "spec": {"definition": definition(program), "lifecycle": {**LIFECYCLE, **lifecycle}},
    }


def strict(schema: Any) -> Any:
    """The CRD's schema as the API server applies it with strict field validation:
    unknown fields refused, `nullable` and int-or-string as JSON Schema says them."""
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict(v) for k, v in schema.items() if not k.startswith("x-kubernetes")}
    if schema.get("x-kubernetes-int-or-string"):
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if out.pop("nullable", False):
        out["type"] = [out["type"], "null"]
    if "properties" in out and not schema.get("x-kubernetes-preserve-unknown-fields"):
        out.setdefault("additionalProperties", False)
    return out


SCHEMA = strict(build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"])


def test_the_kept_crd_file_is_the_generated_one() -> None:
    assert (OPERATOR_DIR / "crd.yaml").read_text(encoding="utf-8") == crd_yaml()


def test_the_crd_knows_exactly_the_parameters_of_the_rules_library() -> None:
    assert set(PARAMETER_VALUES) == set(PARAMETERS)


@pytest.mark.parametrize(
    "program", sorted(p.stem for p in PROGRAMS_DIR.glob("*.yaml") if not p.stem.endswith(".logo"))
)
def test_every_shipped_program_is_a_valid_subsidy_program(program: str) -> None:
    jsonschema.validate(sample(program), SCHEMA)


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda d: d["items"].update({"other": {"source": "x"}}), "items"),
        (lambda d: d["parameters"].update({"rate_typo": {"value": 1}}), "parameters"),
        (lambda d: d["parameters"]["cap"].update({"value": "20000"}), "cap"),
        (lambda d: d.pop("rules"), "rules"),
        (lambda d: d["parameters"]["required_pledges"].update({"value": ["x"]}), "pledges"),
    ],
)
def test_a_bad_definition_is_refused_by_the_crd_schema(change: Any, where: str) -> None:
    resource = sample()
    change(resource["spec"]["definition"])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(resource, SCHEMA)


def spec(**lifecycle: Any) -> Any:
    return parse_spec("shinjuku-2025", sample(**lifecycle)["spec"])


@pytest.mark.parametrize(
    ("today", "phase"),
    [
        (date(2025, 4, 30), Phase.DRAFT),
        (date(2025, 5, 1), Phase.OPEN),
        (date(2026, 1, 31), Phase.OPEN),  # the deadline is inclusive
        (date(2026, 2, 1), Phase.CLOSED),
        (date(2026, 2, 27), Phase.CLOSED),
        (date(2026, 2, 28), Phase.RETENTION),
        (date(2026, 3, 31), Phase.RETENTION),
    ],
)
def test_the_phase_follows_the_spec_dates(today: date, phase: Phase) -> None:
    assert phase_on(spec(), today) is phase


def test_erasure_is_due_on_the_contract_end_and_not_before() -> None:
    assert not erasure_due(spec(), date(2026, 3, 30))
    assert erasure_due(spec(), date(2026, 3, 31))
    assert phase_on(spec(), date(2026, 4, 1), erased=True) is Phase.ERASED


def test_erasure_needs_two_different_approvers_and_a_completed_handover() -> None:
    assert erasure_refusal(spec().lifecycle) is None
    one = [{"name": "危機管理 一郎"}]
    same = [{"name": "危機管理 一郎"}, {"name": "危機管理　一郎 "}]  # full-width space
    assert "承認者2名" in (erasure_refusal(spec(erasureApprovers=one).lifecycle) or "")
    assert "承認者2名" in (erasure_refusal(spec(erasureApprovers=same).lifecycle) or "")
    pending = spec(handover={"completed": False}).lifecycle
    assert "handover.completed" in (erasure_refusal(pending) or "")


def test_a_bad_spec_names_the_key() -> None:
    bad = sample()["spec"]
    bad["definition"]["parameters"]["rate"]["value"] = "3/2"
    with pytest.raises(SpecError) as raised:
        parse_spec("shinjuku-2025", bad)
    assert raised.value.key == "spec.definition.parameters.rate.value"
    with pytest.raises(SpecError, match=r"spec\.definition\.id"):
        parse_spec("another-name", sample()["spec"])
    with pytest.raises(SpecError, match=r"spec\.lifecycle\.contractEnd"):
        spec(contractEnd="2026-02-01")


def test_the_program_entry_holds_the_definition_as_the_rules_library_reads_it() -> None:
    made = build_program_entry("subsidy", "shinjuku-2025", definition(), Phase.OPEN)
    file = made["data"]["shinjuku-2025.yaml"]
    assert parse_program(yaml.safe_load(file), "cm").id == "shinjuku-2025"
    assert made["data"]["shinjuku-2025.phase"] == "Open\n"
    assert made["metadata"]["name"] == "subsidy-programs"
    kubernetes_validate.validate(made, "1.37.0", strict=True)


def test_the_rollout_digest_changes_with_a_definition_and_not_with_a_phase() -> None:
    open_ = build_program_entry("subsidy", "shinjuku-2025", definition(), Phase.OPEN)["data"]
    closed = build_program_entry("subsidy", "shinjuku-2025", definition(), Phase.CLOSED)["data"]
    renamed = {**definition(), "name": "改定"}
    changed = build_program_entry("subsidy", "shinjuku-2025", renamed, Phase.OPEN)["data"]
    assert programs_digest(open_) == programs_digest(closed) != programs_digest(changed)
    patch = build_rollout(programs_digest(open_))
    annotations = patch["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {"subsidy-platform.jp/programs-sha256": programs_digest(open_)}


def certificate() -> dict[str, Any]:
    return build_certificate(
        program_id="shinjuku-2025",
        program_name="令和7年度 新宿区防犯機器等購入緊急補助事業",
        municipality="新宿区",
        erasure_id="erasure-shinjuku-2025-20260331T000000",
        keys=[DestroyedKey("subsidy-shinjuku-2025-contact", True, 2, (1, 2))],
        purges=[
            ServicePurge(
                "intake", (("intake.applications", 7),), (("intake.alembic_version", "why"),)
            )
        ],
        lifecycle=spec().lifecycle,
        performed_at=datetime(2026, 3, 31, tzinfo=UTC),
        performed_by="subsidy-operator (test)",
    )


def test_the_certificate_digest_covers_everything_in_it() -> None:
    made = certificate()
    assert verify_certificate(made)
    assert made["totalRecords"] == 7
    for field in ("totalRecords", "performedBy", "keys"):
        altered = copy.deepcopy(made)
        altered[field] = 0
        assert not verify_certificate(altered), field
    printed = build_certificate_entry("subsidy", made)
    assert printed["metadata"]["name"] == "subsidy-erasure-certificates"
    assert "消去証明書" in printed["data"]["shinjuku-2025.txt"]
    assert made["sha256"] in printed["data"]["shinjuku-2025.txt"]
    kubernetes_validate.validate(printed, "1.37.0", strict=True)


def test_the_certificate_names_the_kept_tables_with_why_and_the_audit_log() -> None:
    made = certificate()
    [intake] = made["services"]
    assert intake["keptTables"] == [{"table": "intake.alembic_version", "reason": "why"}]
    assert intake["answeredOnRetry"] is False
    assert [k["table"] for k in made["keptRecords"]] == ["audit.events"]
    assert all(k["reason"] for k in made["keptRecords"])
    text = build_certificate_entry("subsidy", made)["data"]["shinjuku-2025.txt"]
    assert "intake.alembic_version: why" in text and "audit.events" in text


def test_the_purge_plan_deletes_children_first_and_follows_references() -> None:
    plan = plan_purge(
        "svc",
        {"cases": True, "notes": False, "flags": True, "outbox": False, "links": False},
        [
            ForeignKey("flags", "cases", ("case_id",), ("id",)),
            ForeignKey("notes", "cases", ("case_id",), ("id",)),
            ForeignKey("links", "notes", ("note_id",), ("id",)),
        ],
    )
    assert plan.order.index("flags") < plan.order.index("cases")
    assert plan.order.index("links") < plan.order.index("notes") < plan.order.index("cases")
    assert plan.kept == ("outbox",)
    assert plan.predicates["cases"] == "program_id = :program"
    assert "svc.cases" in plan.predicates["notes"]
    ledger = plan_purge(
        "svc",
        {"ledger": True, "items": False},
        [ForeignKey("items", "ledger", ("ledger_id",), ("id",))],
        frozenset({"ledger"}),
    )
    assert ledger.order == ("items",)
    assert ledger.kept == ("ledger",)
    assert "append-only" in ledger.reason("ledger")
    assert plan.reason("outbox").startswith("no program_id column")
