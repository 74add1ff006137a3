"""The `subsidy-rules` command line: programs, evaluate, dedupe, synth.

A stable contract (docs/CLI.md):

- `subsidy-rules programs [--file PATH]` lists the programs of the programs folder
  (`SUBSIDY_PROGRAMS_DIR`, by default the shipped ones) and their parameters (JSON), or
  validates one definition file with every check loading makes.
- `subsidy-rules evaluate --program ID [FILE|-]` reads application records as JSON
  Lines (UTF-8, a BOM allowed) and writes one JSON line per record: the decision, or for
  a malformed record `{"application_id" (when readable), "line": N, "error": {"field",
  "message"}}`; the others are still evaluated.
- `subsidy-rules dedupe [FILE|-]` writes one JSON line per group of two or more
  applications that must not both be granted: `{"group", "reasons", "evidence"}`.
- `evaluate` and `dedupe` also write a CSV for Excel (`--csv FILE`, `--csv-encoding`),
  print a summary on standard error (`--summary`), and show progress on standard error
  when it is a terminal (subsidy_rules.reports).
- `subsidy-rules synth --count N --seed S` writes realistic synthetic applications.

Exit status: 0 when every record was read, 1 when some records were malformed (every
other record was still decided and written), 2 on a failure (bad arguments, an unknown
program, a definition file that does not validate, a file that cannot be read or
written): then the output is not to be used. Errors are one line on standard error,
never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from typing import IO, Any, BinaryIO

from subsidy_rules.application import Application, FormatError, parse_application
from subsidy_rules.dedupe import AddressNormaliser, DuplicateIndex, duplicate_keys
from subsidy_rules.engine import Decision, evaluate, ward_of
from subsidy_rules.household import apply_household_limit
from subsidy_rules.program import Program, ProgramError, get_program, load_program, load_programs
from subsidy_rules.reports import (
    DECISION_HEADER,
    ENCODINGS,
    GROUP_HEADER,
    CsvTable,
    DecisionSummary,
    GroupSummary,
    decision_row,
    group_rows,
    open_csv,
)

EXIT_MALFORMED = 1
"""Some records were malformed: reported, the others decided."""
EXIT_FAILURE = 2
"""Nothing trustworthy was produced: bad arguments, program, or unreadable file."""
MAX_LINE_BYTES = 1 << 20
"""A record line is read up to 1 MiB; a longer one is a malformed record."""
PROGRESS_EVERY = 1000


class Failure(Exception):
    """A failure of the whole command: one line on standard error, exit status 2."""


def _dump(obj: Any, out: IO[str]) -> None:
    out.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")))
    out.write("\n")


def _malformed(number: int, field: str | None, message: str) -> dict[str, Any]:
    return {"line": number, "error": {"field": field, "message": message}}


def _lines(stream: BinaryIO) -> Iterator[tuple[int, bytes | None]]:
    """(line number, bytes) per physical line; None for a line over `MAX_LINE_BYTES`
    (the rest of it is skipped without being kept)."""
    number = 0
    while True:
        line = stream.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            while (rest := stream.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                pass
            yield number, None
            continue
        yield number, line


def read_records(stream: BinaryIO) -> Iterator[tuple[int, Application | dict[str, Any]]]:
    """(line number, Application) per record, or (line number, error object) when
    malformed. UTF-8 (a BOM at the start is allowed); blank lines are skipped."""
    for number, raw in _lines(stream):
        if raw is None:
            yield (
                number,
                _malformed(number, None, f"1行が長すぎます（{MAX_LINE_BYTES:,}バイトまで）"),
            )
            continue
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            yield (
                number,
                _malformed(
                    number, None, f"UTF-8 の文字として読めません（{error.start + 1}バイト目）"
                ),
            )
            continue
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as error:
            yield number, _malformed(number, None, f"JSON として読めません（{error.colno}文字目）")
            continue
        except (ValueError, RecursionError):  # a number too long, nesting too deep
            yield (
                number,
                _malformed(number, None, "JSON として読めません（数値または入れ子が大きすぎます）"),
            )
            continue
        try:
            yield number, parse_application(obj)
        except FormatError as error:
            failure: dict[str, Any] = {}
            if error.application_id is not None:
                failure["application_id"] = error.application_id
            failure.update(_malformed(number, error.field, error.message))
            yield number, failure
        except RecursionError:
            yield number, _malformed(number, None, "入れ子が深すぎます")


def _open(path: str) -> BinaryIO:
    if path == "-":
        return sys.stdin.buffer
    try:
        return open(path, "rb")
    except OSError as error:
        raise Failure(f"{path}: 読み込めません（{error.strerror or error}）") from None


def _program(args: argparse.Namespace) -> Program | None:
    if getattr(args, "program_file", None):
        return load_program(args.program_file)
    if getattr(args, "program", None):
        return get_program(args.program)
    return None


class _Progress:
    """`N 件` on standard error every `PROGRESS_EVERY` records, only on a terminal."""

    def __init__(self, err: IO[str]) -> None:
        self.err = err
        self.on = err.isatty()
        self.count = 0

    def tick(self) -> None:
        self.count += 1
        if self.on and self.count % PROGRESS_EVERY == 0:
            self.err.write(f"\r{self.count:,} 件処理しました")
            self.err.flush()

    def done(self) -> None:
        if self.on and self.count >= PROGRESS_EVERY:
            self.err.write(f"\r{self.count:,} 件処理しました\n")
            self.err.flush()


def _open_csv(path: str | None, encoding: str) -> IO[str] | None:
    """The CSV output opened before any work, so that an unwritable path fails first."""
    if path is None:
        return None
    try:
        return open_csv(path, encoding)
    except OSError as error:
        raise Failure(f"{path}: 書き込めません（{error.strerror or error}）") from None


def cmd_programs(args: argparse.Namespace, out: IO[str]) -> int:
    programs = [load_program(args.file)] if args.file else list(load_programs().values())
    for program in programs:
        _dump(program.describe(), out)
    return 0


def _decisions(args: argparse.Namespace, program: Program) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, output object) per record in input order, the household limit applied."""
    progress = _Progress(sys.stderr)
    stream = _open(args.file)
    try:
        if not args.household_limit:
            for number, record in read_records(stream):
                progress.tick()
                yield (
                    number,
                    record if isinstance(record, dict) else evaluate(program, record).to_json(),
                )
            return
        rows: list[tuple[int, Decision | dict[str, Any]]] = []
        applications: list[Application] = []
        for number, record in read_records(stream):
            progress.tick()
            if isinstance(record, dict):
                rows.append((number, record))
            else:
                applications.append(record)
                rows.append((number, evaluate(program, record)))
    finally:
        progress.done()
        if stream is not sys.stdin.buffer:
            stream.close()
    decided = apply_household_limit(
        program, applications, [r for _, r in rows if isinstance(r, Decision)]
    )
    by_id = {d.application_id: d for d in decided}
    for number, row in rows:
        yield number, row if isinstance(row, dict) else by_id[row.application_id].to_json()


def cmd_evaluate(args: argparse.Namespace, out: IO[str]) -> int:
    program = _program(args)
    assert program is not None
    status = 0
    summary = DecisionSummary()
    stream = _open_csv(args.csv, args.csv_encoding)
    try:
        table = None if stream is None else CsvTable(stream, DECISION_HEADER)
        for number, result in _decisions(args, program):
            _dump(result, out)
            summary.add(result)
            if "error" in result:
                status = EXIT_MALFORMED
            if table is not None:
                table.add(decision_row(number, result))
    finally:
        if stream is not None:
            stream.close()
    if args.summary:
        sys.stderr.write(summary.text())
    return status


def cmd_dedupe(args: argparse.Namespace, out: IO[str]) -> int:
    program = _program(args)
    csv_out = _open_csv(args.csv, args.csv_encoding)
    try:
        index, summary = _index(args, program)
        table = None if csv_out is None else CsvTable(csv_out, GROUP_HEADER)
        for number, group in enumerate((g.to_json() for g in index.groups()), start=1):
            _dump(group, out)
            summary.add_group(group)
            if table is not None:
                for row in group_rows(number, group):
                    table.add(row)
    finally:
        if csv_out is not None:
            csv_out.close()
    if args.summary:
        sys.stderr.write(summary.text())
    return EXIT_MALFORMED if summary.malformed else 0


def _index(
    args: argparse.Namespace, program: Program | None
) -> tuple[DuplicateIndex, GroupSummary]:
    """The duplicate index of the input; malformed records reported on standard error."""
    index = DuplicateIndex()
    normalise: AddressNormaliser | None = None
    summary = GroupSummary()
    progress = _Progress(sys.stderr)
    stream = _open(args.file)
    try:
        for _, record in read_records(stream):
            progress.tick()
            summary.records += 1
            if isinstance(record, dict):
                _dump(record, sys.stderr)
                summary.malformed += 1
                continue
            if program is not None and normalise is None:
                params = program.parameters_on(record.received_on)
                index.reapply_after_years = params.household_limit.reapply_after_years
                normalise = ward_of(program, record).normalize
            index.add(duplicate_keys(record, normalise_address=normalise), check=False)
    finally:
        progress.done()
        if stream is not sys.stdin.buffer:
            stream.close()
    return index, summary


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


def _output_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--csv", metavar="FILE", help="also write the results as CSV for Excel")
    p.add_argument(
        "--csv-encoding",
        choices=ENCODINGS,
        default="utf-8-sig",
        help="utf-8-sig (UTF-8 with BOM, the default) or cp932 (Shift_JIS)",
    )
    p.add_argument(
        "--summary", action="store_true", help="print counts, yen totals and reasons (stderr)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="subsidy-rules", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("programs", help="list programs and their parameters")
    p.add_argument("--file", help="validate and show one definition file instead")
    p.set_defaults(run=cmd_programs)

    p = sub.add_parser("evaluate", help="decide applications (JSON Lines in, JSON Lines out)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--program", help="program id (see `subsidy-rules programs`)")
    which.add_argument("--program-file", help="a definition file outside the programs folder")
    p.add_argument(
        "--household-limit",
        action="store_true",
        help="also refuse later applications of a household in the input (DUPLICATE_HOUSEHOLD)",
    )
    p.add_argument("file", nargs="?", default="-", help="JSON Lines file, or - for standard input")
    _output_options(p)
    p.set_defaults(run=cmd_evaluate)

    p = sub.add_parser("dedupe", help="groups of applications that must not both be granted")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--program", help="use the program's ward (town names) and reapply window")
    which.add_argument("--program-file", help="a definition file outside the programs folder")
    p.add_argument("file", nargs="?", default="-", help="JSON Lines file, or - for standard input")
    _output_options(p)
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
    except (ProgramError, KeyError, Failure) as error:
        print(
            f"subsidy-rules: {error.args[0] if isinstance(error, KeyError) else error}",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    except BrokenPipeError:
        return 0
    except OSError as error:
        print(f"subsidy-rules: {error.strerror or error}", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
