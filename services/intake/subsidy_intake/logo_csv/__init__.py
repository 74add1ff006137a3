"""LoGoフォーム CSV exports -> interchange-format v1 application records.

LoGoフォーム (the e-form service of the Shinjuku FY2025 program, DOMAIN.md flow step ②')
exports one row per answer with Japanese column headers and a 回答ID column. A
per-program column mapping file (``<program_id>.logo.yaml`` in the programs folder; the
shipped one's comments document the shape) says which header fills which v1 field (libs/subsidy_rules/application.py).

``parse_application`` is the judge: every record produced here has passed it, and a
``FormatError`` becomes a ``LineError`` naming the physical CSV line (header = line 1),
the Japanese column and the problem in Japanese. Bad lines never stop the other lines
from being read, so one import reports every problem at once (issue 3: the service then
imports all or nothing). Online application numbers are ``<prefix>-L<回答ID>``: stable, so
importing the same answers again yields the same ids.

Encoding (LoGo offers both): a UTF-8 BOM means ``utf-8-sig``; otherwise strict UTF-8;
otherwise CP932 (Shift_JIS with the Windows extensions). A file that mixes them (UTF-8
with one line saved as Shift_JIS, or the reverse) is reported at the first line of the
minority encoding; a NUL byte at its line.

Limits: every cell's text is bounded by the interchange format (``TEXT_LIMITS``, amounts
at most 10,000,000 yen per purchase); cells are read only up to a bounded length (dates
40 characters, amounts 12 digits, answer ids 64), and a message quotes an answer only
when it is short and printable (``cells.quoted``), never a long or odd value.

Pure: no I/O besides reading the mapping files of the programs folder.

Layout of this package (one purpose per module): `vocabulary` (field kinds and the
answer words LoGo writes), `mapping` (loading and validating the column mapping),
`cells` (reading one answer: dates incl. Japanese eras, yen, yes/no, items, codes),
`parser` (decoding, rows, records and line errors) and `writer` (``to_logo_csv``).
"""

from subsidy_intake.logo_csv.cells import parse_date, parse_yen
from subsidy_intake.logo_csv.mapping import MAX_PURCHASE_GROUPS as MAX_PURCHASE_GROUPS
from subsidy_intake.logo_csv.mapping import (
    ColumnMapping,
    MappingColumn,
    MappingError,
    UnknownProgramError,
    check_mappings,
    load_mapping,
    mapping_for,
)
from subsidy_intake.logo_csv.mapping import mapping_from_dict as mapping_from_dict
from subsidy_intake.logo_csv.parser import LineError, ParsedFile, parse_logo_csv
from subsidy_intake.logo_csv.writer import to_logo_csv

__all__ = [
    "ColumnMapping",
    "LineError",
    "MappingColumn",
    "MappingError",
    "ParsedFile",
    "UnknownProgramError",
    "check_mappings",
    "load_mapping",
    "mapping_for",
    "parse_date",
    "parse_logo_csv",
    "parse_yen",
    "to_logo_csv",
]
