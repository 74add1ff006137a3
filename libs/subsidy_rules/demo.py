"""The rules part of `make demo`: a realistic synthetic Shinjuku program, decided.

Generates the applications (synth), evaluates every one under the program, applies the
household limit across the whole batch (duplicate detection), and prints what ward
staff would want to see first: how many are granted and for how much, why the others
are not, and which duplicates were found. Run: `python -m subsidy_rules.demo`.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Sequence

from subsidy_rules.application import Application, FormatError, parse_application
from subsidy_rules.dedupe import find_duplicates
from subsidy_rules.engine import Decision, evaluate, ward_of
from subsidy_rules.household import apply_household_limit
from subsidy_rules.program import Program, get_program
from subsidy_rules.reasons import Reason
from subsidy_rules.synth import generate


def decide_program(program: Program, records: Sequence[dict[str, object]]) -> dict[str, object]:
    """Parse, evaluate, de-duplicate; return the figures the summary prints."""
    started = time.perf_counter()
    applications: list[Application] = []
    malformed: list[FormatError] = []
    for record in records:
        try:
            applications.append(parse_application(record))
        except FormatError as error:
            malformed.append(error)
    decisions: list[Decision] = [evaluate(program, a) for a in applications]
    evaluated = time.perf_counter()
    groups = find_duplicates(
        applications,
        reapply_after_years=program.parameters_on(
            applications[0].received_on
        ).household_limit.reapply_after_years,
        normalise_address=ward_of(program, applications[0]).normalize,
    )
    final = apply_household_limit(program, applications, decisions)
    finished = time.perf_counter()
    return {
        "applications": len(records),
        "malformed": malformed,
        "decisions": final,
        "groups": groups,
        "evaluate_seconds": evaluated - started,
        "dedupe_seconds": finished - evaluated,
    }


def print_summary(program: Program, figures: dict[str, object]) -> None:
    decisions: list[Decision] = figures["decisions"]  # type: ignore[assignment]
    malformed: list[FormatError] = figures["malformed"]  # type: ignore[assignment]
    groups = figures["groups"]
    granted = [d for d in decisions if d.eligible]
    refused = Counter(
        r for d in decisions if not d.eligible for r in d.reasons if not r.informational
    )
    evidence = Counter(str(r) for g in groups for r in g.reasons)  # type: ignore[attr-defined]
    print(f"== {program.name} ({program.id}) ==")
    print(f"申請件数 applications            {figures['applications']:>10,}")
    print(f"形式不備 malformed (not decided) {len(malformed):>10,}")
    for error in malformed[:3]:
        print(f"    {error.application_id}: {error.field}: {error.message}")
    print(f"交付 granted                     {len(granted):>10,}")
    print(f"交付額合計 total grant (円)       {sum(d.amount for d in granted):>10,}")
    print(
        f"上限適用 capped                   {sum(Reason.CAPPED in d.reasons for d in granted):>10,}"
    )
    print(f"不交付 not granted               {len(decisions) - len(granted):>10,}")
    for reason, count in refused.most_common():
        print(f"    {reason:<28} {count:>6,}  {reason.message}")
    print(f"重複グループ duplicate groups      {len(groups):>10,}")  # type: ignore[arg-type]
    for code, count in evidence.most_common():
        print(f"    {code:<28} {count:>6,}")
    print(
        f"時間 timing: evaluate {figures['evaluate_seconds']:.2f} s, "
        f"dedupe + household limit {figures['dedupe_seconds']:.2f} s"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--program", default="shinjuku-2025")
    parser.add_argument("--count", type=int, default=7000)
    parser.add_argument("--seed", type=int, default=2025)
    args = parser.parse_args(argv)
    program = get_program(args.program)
    records = [s.record for s in generate(args.count, args.seed)]
    print_summary(program, decide_program(program, records))


if __name__ == "__main__":
    main()
