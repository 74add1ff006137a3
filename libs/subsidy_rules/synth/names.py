"""Names for synthetic applicants: every spelling a form or a bank uses for one name.

The pools themselves are `surnames` (rank-ordered, weighted as in Japan) and
`given_names` (by sex and birth era). Each name here carries the spellings applicants
and banks use for it: kanji and, for surnames, the 異体字 variant some people write
(髙橋, 齋藤 ...), katakana, hiragana, half-width katakana, Zengin transfer kana (small
kana written large, as 全銀協 holder names are) and romaji for e-mail addresses.
Names are random combinations of a surname and a given name, never real people.
"""

from __future__ import annotations

from dataclasses import dataclass

import jaconv

_ZENGIN_LARGE = str.maketrans("ァィゥェォャュョッヮヵヶ", "アイウエオヤユヨツワカケ")


@dataclass(frozen=True, slots=True)
class _Name:
    kanji: str
    variant: str  # 異体字 spelling, or the same as kanji
    kata: str
    hira: str
    half: str
    zengin: str
    roma: str


def _name(kanji: str, kana: str, variant: str | None = None) -> _Name:
    hira = jaconv.kata2hira(kana)
    roma = "".join(ch for ch in jaconv.kana2alphabet(hira) if "a" <= ch <= "z")
    return _Name(
        kanji=kanji,
        variant=variant or kanji,
        kata=kana,
        hira=hira,
        half=jaconv.z2h(kana, kana=True, ascii=False, digit=False),
        zengin=kana.translate(_ZENGIN_LARGE),
        roma=roma,
    )
