"""Reason codes for decisions and duplicate evidence, with the Japanese text for notices.

Every rule returns its reason as one of these codes (mirrored later by a proto enum).
The Japanese messages are the wording staff and applicants read on 不交付決定通知書 and
correction notices; they follow the terms of the Shinjuku FY2025 program documents.
"""

from enum import StrEnum


class Reason(StrEnum):
    """Why an application or a purchase was decided the way it was."""

    NOT_RESIDENT = "NOT_RESIDENT"
    OUTSIDE_WARD = "OUTSIDE_WARD"
    OUTSIDE_APPLICATION_PERIOD = "OUTSIDE_APPLICATION_PERIOD"
    PURCHASE_OUTSIDE_PERIOD = "PURCHASE_OUTSIDE_PERIOD"
    ITEM_NOT_ELIGIBLE = "ITEM_NOT_ELIGIBLE"
    NO_ELIGIBLE_PURCHASE = "NO_ELIGIBLE_PURCHASE"
    BELOW_MINIMUM_COST = "BELOW_MINIMUM_COST"
    PLEDGE_MISSING = "PLEDGE_MISSING"
    TAX_ARREARS = "TAX_ARREARS"
    APPLICANT_AGE = "APPLICANT_AGE"
    CAPPED = "CAPPED"
    DUPLICATE_HOUSEHOLD = "DUPLICATE_HOUSEHOLD"
    SAME_HOUSEHOLD = "SAME_HOUSEHOLD"
    SAME_PERSON = "SAME_PERSON"
    SAME_BANK_ACCOUNT = "SAME_BANK_ACCOUNT"
    SAME_LOGO_ANSWER = "SAME_LOGO_ANSWER"
    DOCUMENTS_DEFICIENT = "DOCUMENTS_DEFICIENT"
    CORRECTION_NOT_SUBMITTED = "CORRECTION_NOT_SUBMITTED"
    WARD_DECISION = "WARD_DECISION"
    COST_NOT_ELIGIBLE = "COST_NOT_ELIGIBLE"
    AMOUNT_ROUNDED_TO_ZERO = "AMOUNT_ROUNDED_TO_ZERO"

    @property
    def message(self) -> str:
        """The Japanese sentence for a notice or a staff screen."""
        return MESSAGES[self]

    @property
    def informational(self) -> bool:
        """True when the reason explains the amount but does not refuse the grant."""
        return self in INFORMATIONAL


INFORMATIONAL = frozenset({Reason.CAPPED})

EVIDENCE = frozenset(
    {Reason.SAME_HOUSEHOLD, Reason.SAME_PERSON, Reason.SAME_BANK_ACCOUNT, Reason.SAME_LOGO_ANSWER}
)

MESSAGES: dict[Reason, str] = {
    Reason.NOT_RESIDENT: "申請者が区内に住民登録されていないため、補助の対象となりません。",
    Reason.OUTSIDE_WARD: "防犯機器等を設置した住宅が区内にないため、補助の対象となりません。",
    Reason.OUTSIDE_APPLICATION_PERIOD: "申請の受付期間外に受け付けた申請のため、補助の対象となりません。",
    Reason.PURCHASE_OUTSIDE_PERIOD: "補助対象期間外に購入又は設置された防犯機器等は、補助の対象となりません。",
    Reason.ITEM_NOT_ELIGIBLE: "補助対象外の機器等の費用は、補助の対象となりません。",
    Reason.NO_ELIGIBLE_PURCHASE: "補助の対象となる防犯機器等の購入又は設置がありません。",
    Reason.BELOW_MINIMUM_COST: "補助対象経費が下限額に満たないため、補助の対象となりません。",
    Reason.PLEDGE_MISSING: "必要な誓約・同意が確認できないため、補助の対象となりません。",
    Reason.TAX_ARREARS: "住民税の滞納があるため、補助の対象となりません。",
    Reason.APPLICANT_AGE: "申請者が対象年齢に該当しないため、補助の対象となりません。",
    Reason.CAPPED: "補助金額は上限額までとなります。",
    Reason.DUPLICATE_HOUSEHOLD: "同一世帯から既に申請があるため、補助の対象となりません（1世帯につき1回限り）。",
    Reason.SAME_HOUSEHOLD: "同一の住居（世帯）からの申請です。",
    Reason.SAME_PERSON: "同一人物（氏名フリガナ・生年月日が一致）からの申請です。",
    Reason.SAME_BANK_ACCOUNT: "同一の振込先口座が指定された申請です。",
    Reason.SAME_LOGO_ANSWER: "同一のLoGoフォーム回答IDによる申請です。",
    Reason.DOCUMENTS_DEFICIENT: "添付書類により補助の対象となる購入・設置の事実が確認できないため、補助の対象となりません。",
    Reason.CORRECTION_NOT_SUBMITTED: "期限までに補正（書類の訂正・追加提出）がなかったため、補助の対象となりません。",
    Reason.WARD_DECISION: "区の審査により、補助の要件を満たさないと判断しました。",
    Reason.COST_NOT_ELIGIBLE: "送料など補助の対象とならない経費は、補助対象経費に含めません。",
    Reason.AMOUNT_ROUNDED_TO_ZERO: "補助金額が端数処理により0円となるため、補助の対象となりません。",
}
