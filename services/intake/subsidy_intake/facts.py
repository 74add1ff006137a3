"""The searchable facts of an application, as (kind, normalised value) pairs.

These are the inputs of the blind indexes (keyed HMACs in Vault): the duplicate keys
of the rules library (dwelling, person, bank account, LoGo answer id) plus the phone
number for call-center look-up. The normalisation is the rules library's, so that a
look-up by an agent and a submission by an applicant meet on the same digest however
either was spelled.
"""

from __future__ import annotations

from contextlib import suppress

from subsidy_rules.application import Application
from subsidy_rules.dedupe import key_values
from subsidy_rules.engine import ward_of
from subsidy_rules.normalize.kana import matching_kana
from subsidy_rules.normalize.phone import normalize_phone
from subsidy_rules.program import Program
from subsidy_rules.reasons import Reason

KIND_OF_EVIDENCE = {
    Reason.SAME_HOUSEHOLD: "dwelling",
    Reason.SAME_PERSON: "person",
    Reason.SAME_BANK_ACCOUNT: "bank",
    Reason.SAME_LOGO_ANSWER: "logo",
}
EVIDENCE_OF_KIND = {kind: reason for reason, kind in KIND_OF_EVIDENCE.items()}
DUPLICATE_KINDS = ("dwelling", "person", "bank")


def application_facts(program: Program, application: Application) -> list[tuple[str, str]]:
    """(kind, normalised value) for every blind index of one application."""
    normalise = ward_of(program, application).normalize if "ward" in program.rules else None
    values = key_values(application, normalise)
    facts = [(KIND_OF_EVIDENCE[reason], value) for reason, value in values.items()]
    if application.applicant.phone:
        # An unusual number is kept as written, just not searchable by phone.
        with suppress(ValueError):
            facts.append(("phone", normalize_phone(application.applicant.phone)))
    return facts


def person_fact(name_kana: str, birth_date: str) -> tuple[str, str]:
    """The look-up fact for a call-center search by name kana and birth date."""
    return "person", f"{matching_kana(name_kana)}|{birth_date}"


def phone_fact(phone: str) -> tuple[str, str]:
    return "phone", normalize_phone(phone)
