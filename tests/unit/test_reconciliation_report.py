"""What the auditor reads of the reconciliation across services (subsidy_payments.
cross_report): a table with a header, Japanese kinds, and the JSON the demo's summary takes;
and review's side of it (subsidy_review.granted_decisions): decision states and the parked
events of one program."""

from __future__ import annotations

import json

from subsidy.events.v1 import events_pb2
from subsidy.payments.v1 import payments_pb2
from subsidy_payments import cross_report
from subsidy_review.granted_decisions import decision_state, parked_of_program


def message(**changes: object) -> payments_pb2.CrossReconciliation:
    amount = payments_pb2.Amount
    fields: dict[str, object] = {
        "program_id": "shinjuku-2025",
        "balanced": True,
        "review_granted": amount(count=2, yen=40_000),
        "grants": amount(count=2, yen=40_000),
        "pending": amount(count=1, yen=20_000),
        "paid": amount(count=1, yen=20_000),
        "released_files": amount(count=1, yen=20_000),
    }
    fields.update(changes)
    return payments_pb2.CrossReconciliation(**fields)  # type: ignore[arg-type]


def test_a_balanced_reconciliation_prints_its_balance_and_equations_under_headers() -> None:
    text = cross_report.render(message())
    lines = text.splitlines()
    assert lines[0] == "照合（審査・振込・全銀ファイル） shinjuku-2025: 一致"
    assert "項目 | 件数 | 金額" in lines and "交付決定（審査） | 2 | 40,000" in lines
    assert "照合式 | 左辺 | 右辺 | 差額" in lines
    assert "交付決定（振込）= 振込指図の内訳 | 40,000 | 40,000 | 0" in lines
    assert "差異: 0件" in lines and "申請番号 | 種別 | バッチ | 期待額 | 実際額" not in lines


def test_differences_are_listed_in_japanese_with_their_kind_and_the_json_carries_them() -> None:
    unbalanced = message(
        balanced=False,
        parked_events=1,
        grants=payments_pb2.Amount(count=1, yen=20_000),
        differences=[
            payments_pb2.Difference(
                application_number="S2025-000002",
                kind=payments_pb2.DECISION_PARKED,
                expected=20_000,
            ),
            payments_pb2.Difference(kind=payments_pb2.FILE_ALTERED, batch_id=7),
        ],
        differences_total=3,
    )
    text = cross_report.render(unbalanced)
    assert text.startswith("照合（審査・振込・全銀ファイル） shinjuku-2025: 不一致（要確認）")
    assert "S2025-000002 | 交付決定の連携停止（保留） (DECISION_PARKED) | - | 20,000 | 0" in text
    assert "- | 振込ファイルの改変 (FILE_ALTERED) | 7 | 0 | 0" in text
    assert "連携停止（保留）中のイベント: 1件" in text and "（ほか 1件）" in text
    summary = json.loads(json.dumps(cross_report.as_json(unbalanced)))
    assert summary["balanced"] is False and summary["parked"] == 1
    assert summary["granted"] == {"count": 2, "yen": 40_000}
    assert summary["differences"][0] == {
        "application_number": "S2025-000002",
        "kind": "DECISION_PARKED",
        "label": "交付決定の連携停止（保留）",
        "batch_id": 0,
        "expected": 20_000,
        "found": 0,
    }
    assert summary["differences_total"] == 3
    assert summary["lines"][0]["difference"] == 20_000


def test_review_reports_a_decision_as_granted_revoked_or_neither() -> None:
    assert decision_state("GRANTED") == "GRANTED"
    assert decision_state("REVOKED") == "REVOKED"
    assert decision_state("WITHDRAWN") == ""


def test_parked_events_count_for_their_own_program_and_unreadable_ones_always() -> None:
    def parked(program: str) -> tuple[str, bytes]:
        event = events_pb2.DecisionEvent(program_id=program, application_number="S2025-1")
        return "review.decision", event.SerializeToString()

    rows = [parked("shinjuku-2025"), parked("setagaya-2025"), ("review.decision", b"\xff\xff")]
    rows.append(("review.other", b""))
    assert parked_of_program(rows, "shinjuku-2025") == 3
    assert parked_of_program(rows, "setagaya-2025") == 3
    assert parked_of_program(rows[:2], "chuo-2025") == 0
