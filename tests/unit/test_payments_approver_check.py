"""The approver's check as the command prints it (pure): beside count, total, largest
amount, amounts over the cap and the builder, every batch member whose account another
grant shares, with who recorded and who approved the clearance; instructions held back and
a cancelled batch's reason."""

from __future__ import annotations

from subsidy.payments.v1 import payments_pb2
from subsidy_payments.cli import show_batch


def _batch(**changes: object) -> payments_pb2.Batch:
    fields: dict[str, object] = {
        "batch_id": 7, "program_id": "shinjuku-2025", "transfer_date": "2026-12-08",
        "state": "BUILT", "count": 3, "total": 60000, "largest": 20000, "over_cap": 0,
        "file_sha256": "a" * 64, "built_by": "officer-a", **changes,
    }  # fmt: skip
    return payments_pb2.Batch(**fields)  # type: ignore[arg-type]


def test_the_check_lists_each_shared_account_pair_with_both_people() -> None:
    shown = show_batch(
        _batch(
            shared_accounts=[
                payments_pb2.SharedAccountPair(
                    application_number="S2025-000001",
                    other_application_number="S2025-000002",
                    other_state="PAID",
                    other_batch_id=3,
                    recorded_by="ward-a",
                    approved_by="approver-b",
                )
            ]
        )
    )
    assert "3件 合計 60,000円 最大 20,000円 上限超過 0件 作成 officer-a" in shown
    assert "共用口座 1組" in shown
    assert "S2025-000001 と S2025-000002（PAID バッチ 3） 確認 ward-a 承認 approver-b" in shown


def test_a_batch_without_shared_accounts_says_none_and_shows_what_was_held_back() -> None:
    shown = show_batch(_batch(held_back=2))
    assert "共用口座 0組" in shown
    assert "保留（共用口座の確認待ち） 2件" in shown
    assert "取消理由" not in shown


def test_a_cancelled_batch_shows_its_reason() -> None:
    shown = show_batch(_batch(state="CANCELLED", cancel_reason="振込日の誤り"))
    assert "取消理由 振込日の誤り" in shown
