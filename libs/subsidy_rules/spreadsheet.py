"""Cells that a spreadsheet will not run: formula injection (OWASP "CSV injection").

A text cell beginning with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read
by Excel, LibreOffice and Google Sheets as a formula (``=HYPERLINK(...)``,
``=cmd|'/c calc'!A1``), so ``neutralise`` puts an apostrophe ``'`` before it. A cell that
already begins with apostrophes followed by one of those characters gets one more, so that
``strip_neutralisation`` (remove one apostrophe when what follows needs it) gives back the
original text of every cell: a round trip of our own file is exact.

Pure (the standard library only): every CSV written for people to open goes through this,
the platform's ``subsidy_platform.excel_csv`` (UTF-8 with BOM, CRLF) and any CSV the rules
library writes alike.
"""

from __future__ import annotations

TRIGGERS = frozenset("=+-@\t\r")
"""The first characters that make a spreadsheet read a cell as a formula."""


def _needs_apostrophe(cell: str) -> bool:
    rest = cell.lstrip("'")
    return bool(rest) and rest[0] in TRIGGERS


def neutralise(cell: str) -> str:
    """The cell with a leading ``'`` if a spreadsheet would read it as a formula.

    >>> neutralise("=HYPERLINK(1)"), neutralise("-1"), neutralise("山田")
    ("'=HYPERLINK(1)", "'-1", '山田')
    """
    return "'" + cell if _needs_apostrophe(cell) else cell


def strip_neutralisation(cell: str) -> str:
    """Undo ``neutralise``: drop one leading ``'`` when what follows needs it."""
    if cell.startswith("'") and _needs_apostrophe(cell[1:]):
        return cell[1:]
    return cell
