"""Households as review sees them: applications linked by duplicate flags not cleared.

One household, one live grant (1世帯につき1回限り). Two applications belong to one household
when a chain of duplicate flags links them, open or resolved by keeping one member, but not
flags cleared as "not one household" (a weak match by one checker, strong evidence by two
people). Granting an application (`refuse_second_grant`, called by `service.move` on every
transition into 交付決定: direct decision, decision file, approved reduction) is refused,
FAILED_PRECONDITION with the reason in Japanese, when its group kept another member, or when
another member of its household is granted already; the check runs under the program's
`household-grants` lock, so two grants of one household cannot pass it at once. Grants that
were both made before the flags linked them (a late application, groups that merged) are
the ward's revocation cases (revocations.py).
"""

from __future__ import annotations

from collections.abc import Iterable

from subsidy_platform.errors import Conflict
from subsidy_platform.unit_of_work import Work
from subsidy_review.repository import Case, Flag, ReviewRepository

MESSAGE_KEPT_ANOTHER = (
    "同一世帯の重複申請として別の申請（{kept}）が採用されているため、交付決定できません"
)
MESSAGE_GRANTED_ALREADY = (
    "同一世帯の別の申請（{other}）が既に交付決定されているため、交付決定できません"
)


def grant_lock(program_id: str) -> str:
    """The advisory lock every grant and revocation of a program takes."""
    return f"household-grants:{program_id}"


def households(flags: Iterable[Flag]) -> list[set[str]]:
    """The households that flags (not cleared) link: connected components, union-find."""
    parent: dict[str, str] = {}

    def root(n: str) -> str:
        parent.setdefault(n, n)
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for flag in flags:
        if flag.resolution == "cleared" and not flag.open:
            continue
        a, b = root(flag.first), root(flag.second)
        if a != b:
            parent[max(a, b)] = min(a, b)
    groups: dict[str, set[str]] = {}
    for n in list(parent):
        groups.setdefault(root(n), set()).add(n)
    return sorted(groups.values(), key=min)


def household_of(repo: ReviewRepository, number: str, limit: int = 200) -> set[str]:
    """Every application linked to `number` by flags not cleared (itself included)."""
    seen, frontier = {number}, [number]
    while frontier and len(seen) <= limit:
        found = repo.flags_touching(frontier)
        frontier = []
        for flag in found:
            if flag.resolution == "cleared" and not flag.open:
                continue
            for n in (flag.first, flag.second):
                if n not in seen:
                    seen.add(n)
                    frontier.append(n)
    return seen


def refuse_second_grant(work: Work[ReviewRepository], case: Case) -> None:
    """Raise Conflict when granting `case` would give its household a second live grant."""
    work.lock(grant_lock(case.program_id))
    kept, other = work.repo.second_grant(case.application_number)
    if kept is not None:
        raise Conflict(MESSAGE_KEPT_ANOTHER.format(kept=kept))
    if other is not None:
        raise Conflict(MESSAGE_GRANTED_ALREADY.format(other=other))
