"""The reconciliation across services as the auditor reads it (`subsidy-payments-admin
reconcile --across`): a table for staff (Japanese, yen with thousands separators) or JSON
for tools (the demo's `out/summary.json`). Pure: a `CrossReconciliation` message in, text
or a dict out.

JSON: {"program_id", "balanced", "parked", "granted": {"count", "yen"} (review, in force),
"revoked", "grants", "instructions": {"pending", "batched", "sent", "paid",
"returned_awaiting", "retransferred"}, "files": {"released", "returned", "unverified"},
"lines": [{"line", "left", "right", "difference"}], "differences": [{"application_number",
"kind", "label", "batch_id", "expected", "found"}], "differences_total"}.
"""

from __future__ import annotations

from typing import Any

from subsidy.payments.v1 import payments_pb2

from subsidy_payments.cross_check import LABELS, Kind

ROWS = (
    ("review_granted", "交付決定（審査）"),
    ("review_revoked", "交付決定の取消（審査）"),
    ("revoked_in_payments", "うち振込側に交付決定あり"),
    ("grants", "交付決定（振込）"),
    ("pending", "振込待ち"),
    ("batched", "バッチ作成済（未承認）"),
    ("sent", "送信済（着金未確認）"),
    ("paid", "振込済"),
    ("returned_awaiting", "振込不能（口座訂正待ち）"),
    ("stopped", "取消により振込停止"),
    ("retransferred", "うち再振込"),
    ("released_files", "送信済振込ファイル"),
    ("returned", "返却"),
)
INSTRUCTIONS = (
    "pending",
    "batched",
    "sent",
    "paid",
    "returned_awaiting",
    "stopped",
    "retransferred",
)


def _amount(value: payments_pb2.Amount) -> dict[str, int]:
    return {"count": int(value.count), "yen": int(value.yen)}


def kind_name(value: int) -> str:
    return payments_pb2.DifferenceKind.Name(value)  # type: ignore[arg-type]


def label(value: int) -> str:
    name = kind_name(value)
    return LABELS[Kind(name)] if name in Kind.__members__ else name


def lines(message: payments_pb2.CrossReconciliation) -> list[tuple[str, int, int]]:
    """The three equations (subsidy_payments.cross_check.lines) from the message."""
    m = message
    instructions = sum(
        a.yen for a in (m.pending, m.batched, m.sent, m.paid, m.returned_awaiting, m.stopped)
    )
    return [
        (
            "交付決定（審査、振込側にある取消を含む）= 交付決定（振込）",
            m.review_granted.yen + m.revoked_in_payments.yen,
            m.grants.yen,
        ),
        ("交付決定（振込）= 振込指図の内訳", m.grants.yen, instructions),
        (
            "送信済ファイル合計 − 返却 = 送信済 + 振込済",
            m.released_files.yen - m.returned.yen,
            m.sent.yen + m.paid.yen,
        ),
    ]


def as_json(message: payments_pb2.CrossReconciliation) -> dict[str, Any]:
    m = message
    return {
        "program_id": m.program_id,
        "balanced": bool(m.balanced),
        "parked": int(m.parked_events),
        "granted": _amount(m.review_granted),
        "revoked": _amount(m.review_revoked),
        "grants": _amount(m.grants),
        "instructions": {name: _amount(getattr(m, name)) for name in INSTRUCTIONS},
        "files": {
            "released": _amount(m.released_files),
            "returned": _amount(m.returned),
            "unverified": int(m.files_unverified),
        },
        "lines": [
            {"line": text, "left": left, "right": right, "difference": left - right}
            for text, left, right in lines(m)
        ],
        "differences": [
            {
                "application_number": d.application_number,
                "kind": kind_name(d.kind),
                "label": label(d.kind),
                "batch_id": int(d.batch_id),
                "expected": int(d.expected),
                "found": int(d.found),
            }
            for d in m.differences
        ],
        "differences_total": int(m.differences_total),
    }


def render(message: payments_pb2.CrossReconciliation) -> str:
    """The balance, the equations and every difference, as tables with a header."""
    m = message
    verdict = "一致" if m.balanced else "不一致（要確認）"
    out = [f"照合（審査・振込・全銀ファイル） {m.program_id}: {verdict}", "", "項目 | 件数 | 金額"]
    for name, text in ROWS:
        value = getattr(m, name)
        out.append(f"{text} | {value.count:,} | {value.yen:,}")
    if m.files_unverified:
        out.append(f"保存期間後に削除済みで再検算できないファイル | {m.files_unverified:,} | -")
    out += ["", "照合式 | 左辺 | 右辺 | 差額"]
    for text, left, right in lines(m):
        out.append(f"{text} | {left:,} | {right:,} | {left - right:,}")
    out += ["", f"連携停止（保留）中のイベント: {m.parked_events:,}件"]
    out.append(f"差異: {m.differences_total:,}件")
    if m.differences:
        out.append("申請番号 | 種別 | バッチ | 期待額 | 実際額")
        for d in m.differences:
            out.append(
                f"{d.application_number or '-'} | {label(d.kind)} ({kind_name(d.kind)}) | "
                f"{d.batch_id or '-'} | {d.expected:,} | {d.found:,}"
            )
        if m.differences_total > len(m.differences):
            out.append(f"（ほか {m.differences_total - len(m.differences):,}件）")
    return "\n".join(out)
