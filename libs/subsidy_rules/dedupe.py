"""Duplicate detection: applications that must not both be granted (1世帯につき1回限り).

Each application yields a few matching keys computed from normalised values:

- SAME_HOUSEHOLD:    the dwelling (town, 丁目, 番地, 号 and room; see normalize.address),
                     so a second member of the household is caught;
- SAME_PERSON:       name kana + birth date, which survives a move inside the ward;
- SAME_BANK_ACCOUNT: bank, branch and account number;
- SAME_LOGO_ANSWER:  the LoGoフォーム answer id (回答ID), re-submitted.

Two applications sharing any key are linked, except that the person key alone is not
enough: two people of one name kana and birth date exist (about 230 such pairs per million
applicants), so applications in one person-key bucket are linked only when a second fact
agrees too (namesake rule): the dwelling, the bank account, the LoGo answer id, the
normalised phone, e-mail or postal code, or a purchase (item, amount and date) declared
again. Groups are the transitive closure of the links
(union-find), so the work grows linearly with the number of applications: the keys are
the blocking keys, and no pair is ever compared outside its bucket. Output is
deterministic: members ordered by received date then id, groups by their first member.

The keys are plain normalised strings here; a `hasher` (a keyed HMAC in the platform)
turns them into blind indexes so that they can be stored and matched without
plaintext. `DuplicateIndex` also works incrementally: one new application is checked
against the keys of those already stored, as the intake service does per submission.
"""

from __future__ import annotations

import gc
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from subsidy_rules.application import Application
from subsidy_rules.normalize.address import normalize_address
from subsidy_rules.normalize.kana import matching_kana
from subsidy_rules.reasons import Reason

Hasher = Callable[[str], str]
AddressNormaliser = Callable[[str], Any]

_PREFIX = {
    Reason.SAME_HOUSEHOLD: "H:",
    Reason.SAME_PERSON: "P:",
    Reason.SAME_BANK_ACCOUNT: "B:",
    Reason.SAME_LOGO_ANSWER: "L:",
}
_CODE_OF_PREFIX = {prefix: code for code, prefix in _PREFIX.items()}
_PERSON = _PREFIX[Reason.SAME_PERSON]
_NON_DIGIT = re.compile(r"[^0-9]")


@dataclass(frozen=True, slots=True)
class DuplicateKeys:
    """The matching keys of one application (plain or hashed), with what orders it."""

    application_id: str
    received_on: date
    keys: tuple[str, ...]
    facts: tuple[str, ...] = ()  # phone, e-mail, postal code: what corroborates a person key

    def codes(self) -> Iterator[tuple[Reason, str]]:
        for key in self.keys:
            yield _CODE_OF_PREFIX[key[:2]], key

    def corroborates(self, other: DuplicateKeys) -> bool:
        """True when a fact besides the person key agrees (the namesake rule)."""
        mine = {k for k in self.keys if not k.startswith(_PERSON)}
        mine.update(self.facts)
        return not mine.isdisjoint(other.keys) or not mine.isdisjoint(other.facts)


def key_values(
    application: Application, normalise_address: AddressNormaliser | None = None
) -> dict[Reason, str]:
    """The normalised values behind each key (the input of a blind index)."""
    applicant = application.applicant
    address = (normalise_address or normalize_address)(applicant.address)
    values = {
        Reason.SAME_HOUSEHOLD: address.dwelling_key(),
        Reason.SAME_PERSON: f"{matching_kana(applicant.name_kana)}|{applicant.birth_date.isoformat()}",
    }
    account = application.bank_account
    if account is not None:
        values[Reason.SAME_BANK_ACCOUNT] = (
            f"{account.bank_code}|{account.branch_code}|{account.number.zfill(7)}"
        )
    if application.logo_answer_id:
        values[Reason.SAME_LOGO_ANSWER] = "".join(_nfkc(application.logo_answer_id).split())
    return values


def corroborating_values(application: Application) -> list[tuple[str, str]]:
    """The facts that corroborate a person key besides the other keys, as (kind, value):
    the phone and postal code as their digits (+81 read as 0), the e-mail in lower case,
    and each purchase as item, amount and date (a receipt declared again)."""
    applicant = application.applicant
    values: list[tuple[str, str]] = []
    if applicant.phone:
        digits = _NON_DIGIT.sub("", _nfkc(applicant.phone))
        if digits.startswith("81") and len(digits) >= 11:
            digits = "0" + digits[2:]
        if digits:
            values.append(("T:", digits))
    if applicant.email:
        values.append(("E:", _nfkc(applicant.email).strip().lower()))
    postal = _NON_DIGIT.sub("", _nfkc(applicant.postal_code))
    if postal:
        values.append(("Z:", postal))
    for purchase in application.purchases:
        values.append(("U:", f"{purchase.item}|{purchase.amount}|{purchase.purchased_on}"))
    return values


def _nfkc(text: str) -> str:
    """NFKC, skipped for ASCII text (which it never changes)."""
    return text if text.isascii() else unicodedata.normalize("NFKC", text)


def corroborating_facts(application: Application, hasher: Hasher | None = None) -> tuple[str, ...]:
    """The corroborating values of one application, prefixed by their kind (hashed if asked)."""
    facts = corroborating_values(application)
    if hasher is None:
        return tuple([kind + value for kind, value in facts])
    return tuple([kind + hasher(value) for kind, value in facts])


def duplicate_keys(
    application: Application,
    *,
    hasher: Hasher | None = None,
    normalise_address: AddressNormaliser | None = None,
    corroboration: bool = True,
) -> DuplicateKeys:
    """The keys of one application, each prefixed by its evidence code (hashed if asked),
    and (unless `corroboration` is off) the facts that corroborate its person key."""
    values = key_values(application, normalise_address)
    if hasher is None:
        keys = tuple([_PREFIX[code] + value for code, value in values.items()])
    else:
        keys = tuple([_PREFIX[code] + hasher(value) for code, value in values.items()])
    facts = corroborating_facts(application, hasher) if corroboration else ()
    return DuplicateKeys(application.application_id, application.received_on, keys, facts)


@dataclass(frozen=True, slots=True)
class Match:
    """One stored application a new one shares a key with, and the evidence code."""

    code: Reason
    application_id: str


@dataclass
class DuplicateIndex:
    """Keys of the applications seen so far, for batch grouping or one-at-a-time checks.

    With `reapply_after_years` (Minato: 7), applications further apart than that in
    received date are not linked by a shared key.
    """

    reapply_after_years: int | None = None
    _first: dict[str, int] = field(default_factory=dict)
    _more: dict[str, list[int]] = field(default_factory=dict)
    _entries: list[DuplicateKeys] = field(default_factory=list)
    _ids: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self._entries)

    def find(self, keys: DuplicateKeys) -> list[Match]:
        """The stored applications that share a key with `keys` (not storing it)."""
        matches: list[Match] = []
        for code, key in keys.codes():
            for index in self._bucket(key):
                other = self._entries[index]
                if (
                    other.application_id != keys.application_id
                    and self._in_window(other, keys)
                    and (code is not Reason.SAME_PERSON or keys.corroborates(other))
                ):
                    matches.append(Match(code, other.application_id))
        return matches

    def add(self, keys: DuplicateKeys, *, check: bool = True) -> list[Match]:
        """Store one application and return its matches (none when `check` is off).

        Re-adding an id already stored stores nothing again.
        """
        matches = self.find(keys) if check else []
        if keys.application_id in self._ids:
            return matches
        index = len(self._entries)
        self._entries.append(keys)
        self._ids[keys.application_id] = index
        for key in keys.keys:
            first = self._first.setdefault(key, index)
            if first != index:
                self._more.setdefault(key, [first]).append(index)
        return matches

    def _bucket(self, key: str) -> list[int]:
        more = self._more.get(key)
        if more is not None:
            return more
        first = self._first.get(key)
        return [] if first is None else [first]

    def _in_window(self, a: DuplicateKeys, b: DuplicateKeys) -> bool:
        years = self.reapply_after_years
        if years is None:
            return True
        early, late = sorted((a.received_on, b.received_on))
        try:
            limit = early.replace(year=early.year + years)
        except ValueError:  # 29 February
            limit = early.replace(year=early.year + years, day=28)
        return late < limit

    def groups(
        self, facts_of: Callable[[int], tuple[str, ...]] | None = None
    ) -> list[DuplicateGroup]:
        """Every group of two or more linked applications (transitive, deterministic).

        `facts_of` gives the corroborating facts of the n-th stored application where
        they were not stored with its keys (a batch computes them only where needed)."""
        parent = list(range(len(self._entries)))

        def root(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        links: list[tuple[Reason, list[int]]] = []
        for key, members in self._more.items():
            buckets = (
                self._corroborated(members, facts_of) if key.startswith(_PERSON) else [members]
            )
            for run in (run for bucket in buckets for run in self._linked_runs(bucket)):
                for other in run[1:]:
                    ra, rb = root(run[0]), root(other)
                    if ra != rb:
                        parent[max(ra, rb)] = min(ra, rb)
                links.append((_CODE_OF_PREFIX[key[:2]], run))
        members_of: dict[int, set[int]] = {}
        evidence_of: dict[int, list[tuple[Reason, list[int]]]] = {}
        for code, run in links:
            r = root(run[0])
            members_of.setdefault(r, set()).update(run)
            evidence_of.setdefault(r, []).append((code, run))
        groups = [self._group(sorted(members_of[r]), evidence_of[r]) for r in members_of]
        groups.sort(key=lambda g: g.sort_key)
        return groups

    def _corroborated(
        self, members: list[int], facts_of: Callable[[int], tuple[str, ...]] | None
    ) -> list[list[int]]:
        """The members of a person-key bucket split by the namesake rule: two are linked
        when another key or fact of theirs agrees (transitively, within the bucket)."""
        parent = {index: index for index in members}

        def root(i: int) -> int:
            while parent[i] != i:
                i = parent[i] = parent[parent[i]]
            return i

        first_with: dict[str, int] = {}
        for index in members:
            entry = self._entries[index]
            facts = entry.facts if entry.facts or facts_of is None else facts_of(index)
            for fact in (*entry.keys, *facts):
                if fact.startswith(_PERSON):
                    continue
                other = first_with.setdefault(fact, index)
                ra, rb = root(other), root(index)
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)
        parts: dict[int, list[int]] = {}
        for index in members:
            parts.setdefault(root(index), []).append(index)
        return [part for part in parts.values() if len(part) > 1]

    def _linked_runs(self, members: list[int]) -> list[list[int]]:
        if self.reapply_after_years is None:
            return [members]
        ordered = sorted(members, key=lambda i: self._entries[i].received_on)
        runs: list[list[int]] = [[ordered[0]]]
        for index in ordered[1:]:
            if self._in_window(self._entries[runs[-1][-1]], self._entries[index]):
                runs[-1].append(index)
            else:
                runs.append([index])
        return [run for run in runs if len(run) > 1]

    def _group(
        self, members: list[int], evidence: list[tuple[Reason, list[int]]]
    ) -> DuplicateGroup:
        def order(i: int) -> tuple[date, str]:
            return self._entries[i].received_on, self._entries[i].application_id

        ids = tuple(self._entries[i].application_id for i in sorted(members, key=order))
        links = sorted(
            (code, tuple(self._entries[i].application_id for i in sorted(run, key=order)))
            for code, run in evidence
        )
        reasons = tuple(sorted({code for code, _ in links}))
        first = min(members, key=order)
        return DuplicateGroup(ids, reasons, tuple(links), order(first))


@dataclass(frozen=True, slots=True)
class DuplicateGroup:
    """Applications that must not all be granted, the evidence codes and who shares what."""

    application_ids: tuple[str, ...]
    reasons: tuple[Reason, ...]
    links: tuple[tuple[Reason, tuple[str, ...]], ...]
    sort_key: tuple[date, str]

    def to_json(self) -> dict[str, Any]:
        return {
            "group": list(self.application_ids),
            "reasons": [str(r) for r in self.reasons],
            "evidence": [
                {"code": str(code), "applications": list(ids)} for code, ids in self.links
            ],
        }


def find_duplicates(
    applications: Iterable[Application],
    *,
    reapply_after_years: int | None = None,
    hasher: Hasher | None = None,
    normalise_address: AddressNormaliser | None = None,
) -> list[DuplicateGroup]:
    """Group a batch of applications (linear in their number).

    The facts that corroborate a person key are computed only for the applications
    that share one. The cyclic garbage collector is paused during the call: nothing
    here makes a reference cycle, and the million small objects the index holds would
    otherwise be traversed again and again (a fifth of the time at 1M applications).
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        index = DuplicateIndex(reapply_after_years)
        sources: list[Application] = []
        for application in applications:
            keys = duplicate_keys(
                application,
                hasher=hasher,
                normalise_address=normalise_address,
                corroboration=False,
            )
            stored = len(index)
            index.add(keys, check=False)
            if len(index) > stored:
                sources.append(application)
        return index.groups(facts_of=lambda i: corroborating_facts(sources[i], hasher))
    finally:
        if collecting:
            gc.enable()
