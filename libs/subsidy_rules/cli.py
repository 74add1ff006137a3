"""The `subsidy-rules` command line: programs, evaluate, dedupe, synth.

A stable contract (docs/CLI.md):

- `subsidy-rules programs [--file PATH]` lists programs and their parameters (JSON).
- `subsidy-rules evaluate --program ID [FILE|-]` reads application records as JSON
  Lines and writes one JSON line per record: the decision, or for a malformed record
  `{"application_id" (when readable), "line": N, "error": {"field", "message"}}`; the
  others are still evaluated and the exit status is then 2.
- `subsidy-rules dedupe [FILE|-]` writes one JSON line per group of two or more
  applications that must not both be granted: `{"group", "reasons", "evidence"}`.
- `subsidy-rules synth --count N --seed S` writes realistic synthetic applications.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from typing import IO, Any

from subsidy_rules.application import Application, FormatError, parse_application
from subsidy_rules.dedupe import AddressNormaliser, DuplicateIndex, duplicate_keys
from subsidy_rules.engine import Decision, evaluate, ward_of
from subsidy_rules.household import apply_household_limit
from subsidy_rules.program import Program, ProgramError, get_program, load_program, load_programs

EXIT_BAD_INPUT = 2


def _dump(obj: Any, out: IO[str]) -> None:
    out.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")))
    out.write("\n")


def read_records(stream: IO[str]) -> Iterator[tuple[int, Application | dict[str, Any]]]:
    """(line number, Application) per record, or (line number, error object) when malformed."""
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as error:
            yield (
                number,
                {
                    "line": number,
                    "error": {"field": None, "message": f"JSON ではありません: {error.msg}"},
                },
            )
            continue
        try:
            yield number, parse_application(obj)
        except FormatError as error:
            failure: dict[str, Any] = {}
            if error.application_id is not None:
                failure["application_id"] = error.application_id
            failure["line"] = number
            failure["error"] = {"field": error.field, "message": error.message}
            yield number, failure


def _open(path: str) -> IO[str]:
    return sys.stdin if path == "-" else open(path, encoding="utf-8")


def _program(args: argparse.Namespace) -> Program | None:
    if getattr(args, "program_file", None):
        return load_program(args.program_file)
    if getattr(args, "program", None):
        return get_program(args.program)
    return None


def cmd_programs(args: argparse.Namespace, out: IO[str]) -> int:
    programs = [load_program(args.file)] if args.file else list(load_programs().values())
    for program in programs:
        _dump(program.describe(), out)
    return 0


def cmd_evaluate(args: argparse.Namespace, out: IO[str]) -> int:
    program = _program(args)
    assert program is not None
    status = 0
    with _open(args.file) as stream:
        if not args.household_limit:
            for _, record in read_records(stream):
                if isinstance(record, dict):
                    _dump(record, out)
                    status = EXIT_BAD_INPUT
                else:
                    _dump(evaluate(program, record).to_json(), out)
            return status
        rows: list[Decision | dict[str, Any]] = []
        applications: list[Application] = []
        for _, record in read_records(stream):
            if isinstance(record, dict):
                rows.append(record)
                status = EXIT_BAD_INPUT
            else:
                applications.append(record)
                rows.append(evaluate(program, record))
    decided = apply_household_limit(
        program, applications, [r for r in rows if isinstance(r, Decision)]
    )
    by_id = {d.application_id: d for d in decided}
    for row in rows:
        _dump(row if isinstance(row, dict) else by_id[row.application_id].to_json(), out)
    return status


def cmd_dedupe(args: argparse.Namespace, out: IO[str]) -> int:
    program = _program(args)
    index = DuplicateIndex()
    normalise: AddressNormaliser | None = None
    status = 0
    with _open(args.file) as stream:
        for _, record in read_records(stream):
            if isinstance(record, dict):
                _dump(record, sys.stderr)
                status = EXIT_BAD_INPUT
                continue
            if program is not None and normalise is None:
                params = program.parameters_on(record.received_on)
                index.reapply_after_years = params.household_limit.reapply_after_years
                normalise = ward_of(program, record).normalize
            index.add(duplicate_keys(record, normalise_address=normalise), check=False)
    for group in index.groups():
        _dump(group.to_json(), out)
    return status


def cmd_synth(args: argparse.Namespace, out: IO[str]) -> int:
    from subsidy_rules.synth import generate, truth_pairs

    kept = []
    for app in generate(args.count, args.seed):
        _dump(app.record, out)
        if args.truth is not None:
            kept.append(app)
    if args.truth is None:
        return 0
    with open(args.truth, "w", encoding="utf-8") as truth:
        for pair in sorted(sorted(p) for p in truth_pairs(kept)):
            _dump(pair, truth)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="subsidy-rules", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("programs", help="list programs and their parameters")
    p.add_argument("--file", help="validate and show one definition file instead")
    p.set_defaults(run=cmd_programs)

    p = sub.add_parser("evaluate", help="decide applications (JSON Lines in, JSON Lines out)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--program", help="program id (see `subsidy-rules programs`)")
    which.add_argument("--program-file", help="a definition file not shipped with the package")
    p.add_argument(
        "--household-limit",
        action="store_true",
        help="also refuse later applications of a household in the input (DUPLICATE_HOUSEHOLD)",
    )
    p.add_argument("file", nargs="?", default="-", help="JSON Lines file, or - for standard input")
    p.set_defaults(run=cmd_evaluate)

    p = sub.add_parser("dedupe", help="groups of applications that must not both be granted")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--program", help="use the program's ward (town names) and reapply window")
    which.add_argument("--program-file", help="a definition file not shipped with the package")
    p.add_argument("file", nargs="?", default="-", help="JSON Lines file, or - for standard input")
    p.set_defaults(run=cmd_dedupe)

    p = sub.add_parser("synth", help="realistic synthetic applications (JSON Lines)")
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--truth", help="also write the planted duplicate pairs (JSON Lines) here")
    p.set_defaults(run=cmd_synth)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args, sys.stdout))
    except (ProgramError, KeyError) as error:
        print(
            f"subsidy-rules: {error.args[0] if isinstance(error, KeyError) else error}",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        return 0
    except OSError as error:
        print(f"subsidy-rules: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
