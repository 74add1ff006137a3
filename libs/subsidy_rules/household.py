"""The household limit (1世帯につき1回限り) applied to a batch of decisions.

Among applications that duplicate detection links (same dwelling, same person, same
bank account or same LoGo answer), only the first `household_limit.count` eligible
ones, in order of received date then application id, keep their grant; every other
member of the group is refused with DUPLICATE_HOUSEHOLD. A member refused for other
reasons does not use up the household's grant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from subsidy_rules.application import Application
from subsidy_rules.dedupe import find_duplicates
from subsidy_rules.engine import Decision, ward_of
from subsidy_rules.program import Program
from subsidy_rules.reasons import Reason


def apply_household_limit(
    program: Program, applications: Sequence[Application], decisions: Sequence[Decision]
) -> list[Decision]:
    """The decisions again, with DUPLICATE_HOUSEHOLD where a household exceeds its limit."""
    if not applications:
        return list(decisions)
    first = applications[0]
    limit = program.parameters_on(first.received_on).household_limit
    normalise = ward_of(program, first).normalize if "ward" in program.rules else None
    groups = find_duplicates(
        applications, reapply_after_years=limit.reapply_after_years, normalise_address=normalise
    )
    by_id = {d.application_id: d for d in decisions}
    for group in groups:
        granted = 0
        for application_id in group.application_ids:
            decision = by_id[application_id]
            if decision.eligible and granted < limit.count:
                granted += 1
                continue
            by_id[application_id] = replace(
                decision,
                eligible=False,
                amount=0,
                reasons=(
                    *(r for r in decision.reasons if r is not Reason.CAPPED),
                    Reason.DUPLICATE_HOUSEHOLD,
                ),
            )
    return [by_id[d.application_id] for d in decisions]
