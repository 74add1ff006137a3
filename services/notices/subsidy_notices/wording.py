"""The wording of every notice, in Jinja2 templates per program, never in code (issue 8).

A program's folder holds `office.yaml` (ward, issuer 区長名, office and its address, document
symbol for 第…号, program name, call center number and hours, transfer timing) and the
templates `grant.j2` (交付決定通知書), `refusal.j2` (不交付決定通知書), `correction.j2`
(補正依頼通知), `revocation.j2` (交付決定取消通知書) and `sender.j2` (the sender face of the postcard). A file missing from a
program's folder is taken from `default/`. Folders are looked up first under
`NOTICES_TEMPLATES` (a ward changes a sentence without a release), then in the templates
shipped with the package. Templates render a few line marks the layout understands (see
layout.py): `# ` title, `## ` heading, `> ` right-aligned, `===` next panel, a blank line
a gap; any other line is a paragraph. Undefined variables are errors, never blanks.

Two marks are settings rather than wording (issue 15). The 料金後納郵便 mark names the post
office the cards are mailed at (差出事業所名, which Japan Post requires inside the mark):
`NOTICES_POSTAGE_OFFICE` for the whole deployment (the contractor's mailing office), else
the program's `postage_office` in office.yaml; the shipped default has none, so a program
with neither is refused at printing (postcard.py reports it as a layout problem) rather
than mailed with an incomplete mark. 公印省略: notices mailed in bulk carry the issuer's name
without the official seal, so `seal_omitted` (office.yaml, true or false) is true by
default and the templates print （公印省略） under the issuer; a ward that seals its
notices sets it to false.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import yaml

from subsidy_notices.content import NoticeContent
from subsidy_notices.era import wareki

SHIPPED = Path(__file__).with_name("templates")
TEMPLATES = {
    "GRANT": "grant.j2",
    "REFUSAL": "refusal.j2",
    "CORRECTION": "correction.j2",
    "REVOCATION": "revocation.j2",
}
TITLES = {
    "GRANT": "交付決定通知書",
    "REFUSAL": "不交付決定通知書",
    "CORRECTION": "補正依頼通知",
    "REVOCATION": "交付決定取消通知書",
}
OFFICE_FIELDS = (
    "ward",
    "issuer",
    "head_title",
    "office",
    "office_postal_code",
    "office_address",
    "document_symbol",
    "program_name",
    "call_center_name",
    "call_center_phone",
    "call_center_hours",
    "transfer_timing",
    "postage_mark",
)
POSTAGE_OFFICE_VARIABLE = "NOTICES_POSTAGE_OFFICE"
MAX_POSTAGE_OFFICE = 20


class WordingError(ValueError):
    """A program's templates or office details are missing or wrong."""


def yen(amount: int) -> str:
    return f"{amount:,}円"


def folders(program_id: str, environ: Mapping[str, str] = os.environ) -> list[Path]:
    roots = [Path(environ["NOTICES_TEMPLATES"])] if environ.get("NOTICES_TEMPLATES") else []
    roots.append(SHIPPED)
    return [root / name for root in roots for name in (program_id, "default")]


@dataclass(frozen=True)
class Wording:
    """The templates and office details of one program."""

    program_id: str
    office: Mapping[str, str]
    environment: jinja2.Environment
    postage_office: str = ""  # 差出事業所名 of the 料金後納 mark; "" when none is configured
    seal_omitted: bool = True  # print （公印省略） under the issuer

    def notice(self, content: NoticeContent) -> str:
        return self._render(TEMPLATES[content.kind], content)

    def sender(self, content: NoticeContent) -> str:
        return self._render("sender.j2", content)

    def _render(self, name: str, content: NoticeContent) -> str:
        try:
            template = self.environment.get_template(name)
            return template.render(
                notice=content,
                office=self.office,
                title=TITLES[content.kind],
                seal_omitted=self.seal_omitted,
            )
        except jinja2.TemplateError as error:
            raise WordingError(f"{self.program_id}: template {name}: {error}") from error


def wording_for(program_id: str, templates_root: str | None = None) -> Wording:
    """The program's wording (cached per process and settings; `templates_root` overrides
    NOTICES_TEMPLATES)."""
    root = templates_root or os.environ.get("NOTICES_TEMPLATES") or None
    postage_office = os.environ.get(POSTAGE_OFFICE_VARIABLE, "").strip()
    return _wording(program_id, root, postage_office)


def _seal_omitted(value: Any, program_id: str) -> bool:
    if value is None:
        return True
    if not isinstance(value, bool):
        raise WordingError(f"{program_id}: office.yaml seal_omitted must be true or false")
    return value


def _postage_office(value: str, program_id: str) -> str:
    if len(value) > MAX_POSTAGE_OFFICE or any(c.isspace() and c != "　" for c in value):
        raise WordingError(
            f"{program_id}: the postage office (料金後納の差出事業所名) must be one line of "
            f"at most {MAX_POSTAGE_OFFICE} characters"
        )
    return value


@cache
def _wording(program_id: str, templates_root: str | None, postage_office: str) -> Wording:
    environ = {"NOTICES_TEMPLATES": templates_root} if templates_root else {}
    search = [folder for folder in folders(program_id, environ) if folder.is_dir()]
    office: dict[str, Any] = {}
    for folder in reversed(search):
        path = folder / "office.yaml"
        if path.is_file():
            loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            if not isinstance(loaded, dict):
                raise WordingError(f"{path}: not a mapping")
            office.update(loaded)
    missing = [key for key in OFFICE_FIELDS if not str(office.get(key) or "").strip()]
    if missing:
        raise WordingError(f"{program_id}: office.yaml lacks {', '.join(missing)}")
    seal_omitted = _seal_omitted(office.pop("seal_omitted", None), program_id)
    configured = postage_office or str(office.pop("postage_office", None) or "").strip()
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(f) for f in search]),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
    )
    environment.filters["wareki"] = wareki
    environment.filters["yen"] = yen
    return Wording(
        program_id,
        {k: str(v) for k, v in office.items()},
        environment,
        postage_office=_postage_office(configured, program_id),
        seal_omitted=seal_omitted,
    )
